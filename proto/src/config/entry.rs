//! The parsed view of menu entries: each one is read from the text again on demand, so
//! there is no limit on entries, modules or arguments beyond the size of the text.

use core::fmt;

use super::gfxpayload::Gfxpayload;
use super::lexer::{Lexer, Token};
use super::parser::{EntryHead, Event, Parser};
use super::source::{FileSource, parse_sha256};
use super::text::Text;

/// How an entry's kernel is booted: the command that names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `multiboot` (Multiboot 1), with `module` lines.
    Multiboot,
    /// `multiboot2`, with `module2` lines.
    Multiboot2,
    /// `linux` (the Linux boot protocol), with one `initrd` line.
    Linux,
}

impl Kind {
    /// The command that loads such a kernel.
    pub fn command(self) -> &'static str {
        match self {
            Kind::Multiboot => "multiboot",
            Kind::Multiboot2 => "multiboot2",
            Kind::Linux => "linux",
        }
    }

    /// The command that adds files to such a kernel.
    pub fn module_command(self) -> &'static str {
        match self {
            Kind::Multiboot => "module",
            Kind::Multiboot2 => "module2",
            Kind::Linux => "initrd",
        }
    }
}

/// One file of an entry: the kernel, a module, or one file of the `initrd` line.
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
    /// The file is used as it is, never decompressed: `module --nounzip`, and every `initrd`
    /// file (GRUB's rules).
    pub nounzip: bool,
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
            nounzip: false,
            args,
        }
    }

    pub(crate) fn nounzip(mut self, nounzip: bool) -> Self {
        self.nounzip = nounzip;
        self
    }

    /// The words after the path, quotes still on (`Text` displays them unquoted), without
    /// the `--sha256=` option.
    pub fn args(&self) -> Args<'a> {
        Args {
            lexer: self.args,
            done: false,
        }
    }

    /// The arguments alone, unquoted, joined by one space (`multiboot /k a "b c"` gives
    /// `a b c`): the command line as GRUB 2 gives it (`init_mbi(argc - 1, argv + 1)`), and as
    /// Linux wants it.
    pub fn cmdline(&self) -> Cmdline<'a> {
        Cmdline {
            path: None,
            args: self.args(),
        }
    }

    /// The path as written (unquoted), then the arguments (`multiboot /k a "b c"` gives
    /// `/k a b c`): the command line as GRUB Legacy, iPXE, PXELINUX and QEMU give a Multiboot
    /// kernel or module, and as netloader does (Xen drops the first word of its command line
    /// and its dom0's unless the loader calls itself GRUB 2).
    pub fn path_cmdline(&self) -> Cmdline<'a> {
        Cmdline {
            path: Some(self.path),
            args: self.args(),
        }
    }

    /// Length in bytes of [`FileLine::cmdline`] (without a terminating NUL).
    pub fn cmdline_len(&self) -> usize {
        self.cmdline().len()
    }

    /// Writes [`FileLine::cmdline`] into `out` and returns its length. No NUL is added:
    /// Multiboot wants one, so keep a byte for it. The text holds no NUL (the parser refuses
    /// them), so the result is a valid C string once terminated.
    pub fn write_cmdline(&self, out: &mut [u8]) -> Result<usize, CmdlineTooLong> {
        self.cmdline().write_into(out)
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

/// A command line, written unquoted by `Display`; see [`FileLine::cmdline`] and
/// [`FileLine::path_cmdline`].
#[derive(Clone, Debug)]
pub struct Cmdline<'a> {
    path: Option<Text<'a>>,
    args: Args<'a>,
}

impl Cmdline<'_> {
    /// Its length in bytes (without a terminating NUL).
    pub fn len(&self) -> usize {
        let mut counter = Counter(0);
        let _ = fmt::write(&mut counter, format_args!("{self}"));
        counter.0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes it into `out` and returns its length (no NUL added; see
    /// [`FileLine::write_cmdline`]).
    pub fn write_into(&self, out: &mut [u8]) -> Result<usize, CmdlineTooLong> {
        let mut writer = SliceWriter { out, len: 0 };
        match fmt::write(&mut writer, format_args!("{self}")) {
            Ok(()) => Ok(writer.len),
            Err(_) => Err(CmdlineTooLong { needed: self.len() }),
        }
    }
}

impl fmt::Display for Cmdline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = self.path.into_iter().chain(self.args.clone());
        for (i, word) in words.enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            fmt::Display::fmt(&word, f)?;
        }
        Ok(())
    }
}

/// One `menuentry` (or an entry made for a kernel without a config, [`MenuEntry::direct`]).
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
    /// How the kernel is booted: which command named it.
    pub kind: Kind,
    /// The kernel line (`multiboot`, `multiboot2` or `linux`; there is exactly one).
    pub kernel: FileLine<'a>,
    /// The video mode asked for: the entry's own `set gfxpayload`, else the config's.
    pub gfxpayload: Option<Gfxpayload>,
    /// `None` for a direct entry, which has no body to read again.
    head: Option<EntryHead<'a>>,
}

impl<'a> MenuEntry<'a> {
    /// An entry for a kernel that came without a config (a DHCP boot file that is itself a
    /// kernel): `path` as the server named it, no arguments, no modules.
    pub fn direct(kind: Kind, path: &'a str) -> MenuEntry<'a> {
        let text = Text::new(path);
        let kernel = FileLine::new(FileSource::Server { path }, None, 0, text, Lexer::new(""));
        MenuEntry {
            index: 0,
            title: text,
            id: None,
            line: 0,
            kind,
            kernel,
            gfxpayload: None,
            head: None,
        }
    }

    /// The `module` or `module2` lines, in order (none for a `linux` entry).
    pub fn modules(&self) -> Modules<'a> {
        Modules {
            parser: self.head.as_ref().map(Parser::inside_entry),
        }
    }

    pub fn module_count(&self) -> usize {
        self.modules().count()
    }

    /// The files of the `initrd` line, in order (none without one).
    pub fn initrds(&self) -> InitrdFiles<'a> {
        let mut parser = self.head.as_ref().map(Parser::inside_entry);
        let line = parser.as_mut().and_then(|parser| {
            loop {
                match parser.next_event() {
                    Ok(Some(Event::Initrd(line))) => break Some(line),
                    Ok(Some(Event::EntryEnd) | None) | Err(_) => break None,
                    Ok(Some(_)) => {}
                }
            }
        });
        match line {
            Some(line) => line.files(),
            None => InitrdFiles {
                lexer: Lexer::new(""),
                line: 0,
            },
        }
    }
}

/// The modules of an entry, see [`MenuEntry::modules`].
pub struct Modules<'a> {
    /// `None` once done (or for a direct entry).
    parser: Option<Parser<'a>>,
}

impl<'a> Iterator for Modules<'a> {
    type Item = FileLine<'a>;

    fn next(&mut self) -> Option<FileLine<'a>> {
        while let Some(parser) = self.parser.as_mut() {
            match parser.next_event() {
                Ok(Some(Event::Module(module))) => return Some(module),
                Ok(Some(Event::EntryEnd) | None) | Err(_) => self.parser = None,
                // The kernel, the initrd, set commands.
                Ok(Some(_)) => {}
            }
        }
        None
    }
}

/// An entry's `initrd` line, checked by the parser; [`InitrdLine::files`] reads its files.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InitrdLine<'a> {
    line: u32,
    /// Positioned just after the word `initrd`.
    words: Lexer<'a>,
}

impl<'a> InitrdLine<'a> {
    pub(crate) fn new(line: u32, words: Lexer<'a>) -> Self {
        InitrdLine { line, words }
    }

    fn files(self) -> InitrdFiles<'a> {
        InitrdFiles {
            lexer: self.words,
            line: self.line,
        }
    }
}

/// The files of an `initrd` line, see [`MenuEntry::initrds`]: no arguments, never
/// decompressed, each with the `--sha256=` that follows it.
pub struct InitrdFiles<'a> {
    lexer: Lexer<'a>,
    line: u32,
}

impl<'a> Iterator for InitrdFiles<'a> {
    type Item = FileLine<'a>;

    fn next(&mut self) -> Option<FileLine<'a>> {
        let word = match self.lexer.next_token() {
            Ok(Token::Word(word)) => word,
            _ => return None,
        };
        // Checked by the parser: a path first, each optionally followed by its digest.
        let source = FileSource::parse(word.text, word.at).ok()?;
        let mut sha256 = None;
        let mut after = self.lexer;
        if let Ok(Token::Word(next)) = after.next_token()
            && let Some(hex) = next.text.strip_unquoted_prefix("--sha256=")
        {
            sha256 = parse_sha256(hex);
            self.lexer = after;
        }
        let file = FileLine::new(source, sha256, self.line, word.text, Lexer::new(""));
        Some(file.nounzip(true))
    }
}

/// The entries of a config, see [`Config::entries`](super::Config::entries).
pub struct Entries<'a> {
    parser: Parser<'a>,
    next_index: usize,
    /// The config's own `set gfxpayload` (the last at the top level).
    gfxpayload: Option<Gfxpayload>,
    done: bool,
}

impl<'a> Entries<'a> {
    pub(crate) fn new(text: &'a str, gfxpayload: Option<Gfxpayload>) -> Self {
        Entries {
            parser: Parser::new(text),
            next_index: 0,
            gfxpayload,
            done: false,
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = MenuEntry<'a>;

    fn next(&mut self) -> Option<MenuEntry<'a>> {
        let mut head = None;
        let mut kernel = None;
        let mut gfxpayload = None;
        while !self.done {
            match self.parser.next_event() {
                Ok(Some(Event::EntryStart(start))) => head = Some(start),
                Ok(Some(Event::Kernel { line, kind })) => kernel = Some((line, kind)),
                Ok(Some(Event::Gfxpayload {
                    value,
                    in_entry: true,
                })) => gfxpayload = Some(value),
                Ok(Some(Event::EntryEnd)) => {
                    let (Some(head), Some((kernel, kind))) = (head, kernel) else {
                        break;
                    };
                    let entry = MenuEntry {
                        index: self.next_index,
                        title: head.title,
                        id: head.id,
                        line: head.at.line,
                        kind,
                        kernel,
                        gfxpayload: gfxpayload.or(self.gfxpayload),
                        head: Some(head),
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
