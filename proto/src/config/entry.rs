//! The parsed view of menu entries: each one is read from the text again on demand, so
//! there is no limit on entries, modules or arguments beyond the size of the text.

use core::fmt;

use super::lexer::{Lexer, Token};
use super::parser::{EntryHead, Event, Parser};
use super::source::FileSource;
use super::text::Text;

/// One `multiboot` or `module` line.
#[derive(Clone, Copy, Debug)]
pub struct FileLine<'a> {
    /// Where to fetch the file.
    pub source: FileSource<'a>,
    /// The `--sha256=` digest to check before boot, taken out of the arguments.
    pub sha256: Option<[u8; 32]>,
    /// The line of the command, for messages about this file.
    pub line: u32,
    /// The path word as written (for messages, or for a `path args` command line).
    pub path: Text<'a>,
    /// Positioned just after the path word.
    args: Lexer<'a>,
}

impl<'a> FileLine<'a> {
    pub(crate) fn new(
        source: FileSource<'a>,
        sha256: Option<[u8; 32]>,
        line: u32,
        path: Text<'a>,
        args: Lexer<'a>,
    ) -> Self {
        FileLine {
            source,
            sha256,
            line,
            path,
            args,
        }
    }

    /// The words after the path, quotes still on (`Text` displays them unquoted), without
    /// the `--sha256=` option.
    pub fn args(&self) -> Args<'a> {
        Args {
            lexer: self.args,
            done: false,
        }
    }

    /// The command line as GRUB 2 gives it to a Multiboot kernel or module: the arguments
    /// without the file name, unquoted, joined by one space (`multiboot /k a "b c"` gives
    /// `a b c`). GRUB 2's `multiboot` and `module` commands both drop the file name
    /// (`init_mbi(argc - 1, argv + 1)`); GRUB Legacy and iPXE put it first instead. A caller
    /// that wants that form writes [`FileLine::path`], a space, then this.
    pub fn cmdline(&self) -> Cmdline<'a> {
        Cmdline { args: self.args() }
    }

    /// Length in bytes of [`FileLine::cmdline`] (without a terminating NUL).
    pub fn cmdline_len(&self) -> usize {
        let mut counter = Counter(0);
        let _ = fmt::write(&mut counter, format_args!("{}", self.cmdline()));
        counter.0
    }

    /// Writes [`FileLine::cmdline`] into `out` and returns its length. No NUL is added:
    /// Multiboot wants one, so keep a byte for it. The text holds no NUL (the parser refuses
    /// them), so the result is a valid C string once terminated.
    pub fn write_cmdline(&self, out: &mut [u8]) -> Result<usize, CmdlineTooLong> {
        let mut writer = SliceWriter { out, len: 0 };
        match fmt::write(&mut writer, format_args!("{}", self.cmdline())) {
            Ok(()) => Ok(writer.len),
            Err(_) => Err(CmdlineTooLong {
                needed: self.cmdline_len(),
            }),
        }
    }
}

/// The buffer given to [`FileLine::write_cmdline`] is too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdlineTooLong {
    /// Bytes the command line needs (without a NUL).
    pub needed: usize,
}

impl fmt::Display for CmdlineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "command line too long ({} bytes)", self.needed)
    }
}

struct Counter(usize);

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = self.0.saturating_add(s.len());
        Ok(())
    }
}

struct SliceWriter<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let slot = self.out.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The arguments of a [`FileLine`], see [`FileLine::args`].
#[derive(Clone, Debug)]
pub struct Args<'a> {
    lexer: Lexer<'a>,
    done: bool,
}

impl<'a> Iterator for Args<'a> {
    type Item = Text<'a>;

    fn next(&mut self) -> Option<Text<'a>> {
        while !self.done {
            match self.lexer.next_token() {
                Ok(Token::Word(word)) => {
                    if word.text.strip_unquoted_prefix("--sha256=").is_none() {
                        return Some(word.text);
                    }
                }
                _ => self.done = true,
            }
        }
        None
    }
}

/// A command line, written unquoted by `Display`; see [`FileLine::cmdline`].
#[derive(Clone, Debug)]
pub struct Cmdline<'a> {
    args: Args<'a>,
}

impl fmt::Display for Cmdline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.clone().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            fmt::Display::fmt(&arg, f)?;
        }
        Ok(())
    }
}

/// One `menuentry`.
#[derive(Clone, Copy, Debug)]
pub struct MenuEntry<'a> {
    /// Position in the menu, from 0 (what `set default=N` counts).
    pub index: usize,
    /// The title as written; `Display` writes it unquoted.
    pub title: Text<'a>,
    /// The `--id` option, if any (`set default` may name it).
    pub id: Option<Text<'a>>,
    /// The line of `menuentry`.
    pub line: u32,
    /// The `multiboot` line (there is exactly one).
    pub kernel: FileLine<'a>,
    head: EntryHead<'a>,
}

impl<'a> MenuEntry<'a> {
    /// The `module` lines, in order.
    pub fn modules(&self) -> Modules<'a> {
        Modules {
            parser: Parser::inside_entry(&self.head),
            done: false,
        }
    }

    pub fn module_count(&self) -> usize {
        self.modules().count()
    }
}

/// The modules of an entry, see [`MenuEntry::modules`].
pub struct Modules<'a> {
    parser: Parser<'a>,
    done: bool,
}

impl<'a> Iterator for Modules<'a> {
    type Item = FileLine<'a>;

    fn next(&mut self) -> Option<FileLine<'a>> {
        while !self.done {
            match self.parser.next_event() {
                Ok(Some(Event::Module(module))) => return Some(module),
                Ok(Some(Event::Kernel(_))) => {}
                // The entry's `}` (or, never after a successful parse, an error).
                _ => self.done = true,
            }
        }
        None
    }
}

/// The entries of a config, see [`Config::entries`](super::Config::entries).
pub struct Entries<'a> {
    parser: Parser<'a>,
    next_index: usize,
    done: bool,
}

impl<'a> Entries<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Entries {
            parser: Parser::new(text),
            next_index: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = MenuEntry<'a>;

    fn next(&mut self) -> Option<MenuEntry<'a>> {
        let mut head = None;
        let mut kernel = None;
        while !self.done {
            match self.parser.next_event() {
                Ok(Some(Event::EntryStart(start))) => head = Some(start),
                Ok(Some(Event::Kernel(line))) => kernel = Some(line),
                Ok(Some(Event::EntryEnd)) => {
                    let (Some(head), Some(kernel)) = (head, kernel) else {
                        break;
                    };
                    let entry = MenuEntry {
                        index: self.next_index,
                        title: head.title,
                        id: head.id,
                        line: head.at.line,
                        kernel,
                        head,
                    };
                    self.next_index += 1;
                    return Some(entry);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        self.done = true;
        None
    }
}
