//! The statement reader: turns tokens into the few events the loader cares about, checking
//! every rule on the way. The validating parse and the iterators that re-scan the text all
//! run this same code, so they cannot disagree. It is a flat state machine (top level, or
//! inside one entry): no recursion, one pass, constant memory.

use super::entry::{FileLine, InitrdLine, Kind};
use super::error::{ConfigError, ConfigErrorKind, Pos};
use super::gfxpayload::Gfxpayload;
use super::lexer::{Lexer, Token, Word};
use super::source::{FileSource, parse_sha256};
use super::text::{Excerpt, Text, Unquoted};

/// Entry delay before the default entry boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    Seconds(u32),
    /// `set timeout=-1` (any negative number, as in GRUB): wait for a key.
    Forever,
}

pub(crate) enum Event<'a> {
    Timeout(Timeout),
    Default {
        value: Unquoted<'a>,
        at: Pos,
    },
    /// `set gfxpayload=...`, at the top level or inside an entry.
    Gfxpayload {
        value: Gfxpayload,
        in_entry: bool,
    },
    EntryStart(EntryHead<'a>),
    Kernel {
        line: FileLine<'a>,
        kind: Kind,
    },
    Module(FileLine<'a>),
    Initrd(InitrdLine<'a>),
    EntryEnd,
}

/// What `menuentry ... {` says, and where its body starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryHead<'a> {
    pub title: Text<'a>,
    pub id: Option<Text<'a>>,
    pub at: Pos,
    /// Positioned just after the `{`.
    pub body: Lexer<'a>,
}

#[derive(Clone, Copy)]
struct OpenEntry<'a> {
    at: Pos,
    title: Text<'a>,
    /// The kernel line's number and its kind, once seen.
    kernel: Option<(u32, Kind)>,
    /// The `initrd` line's number, once seen.
    initrd_line: Option<u32>,
}

/// The commands that name files.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileCommand {
    /// `multiboot`, `multiboot2` or `linux`: the entry's kernel.
    Kernel(Kind),
    /// `module` (with `multiboot`) or `module2` (with `multiboot2`).
    Module(Kind),
    /// `initrd FILE...` (with `linux`).
    Initrd,
}

impl FileCommand {
    fn name(self) -> &'static str {
        match self {
            FileCommand::Kernel(kind) => kind.command(),
            FileCommand::Module(kind) => kind.module_command(),
            FileCommand::Initrd => "initrd",
        }
    }
}

enum Command {
    Menuentry,
    File(FileCommand),
    Set,
    /// `name=value` without `set`, which GRUB also accepts.
    Assignment,
    /// Accepted and ignored: `boot`, `insmod`, `echo`, terminal and serial setup.
    Ignored,
    Submenu,
    Scripting(&'static str),
    Unknown,
}

/// Longest command or variable name worth comparing; longer ones are unknown anyway.
const NAME_CAPACITY: usize = 32;

/// Copies the start of a word's value into `buf` up to `stop` (or the end). Returns the
/// name, or `None` when it does not fit or is not an identifier-like word.
fn short_name(
    chars: &mut Unquoted<'_>,
    stop: Option<char>,
    buf: &mut [u8; NAME_CAPACITY],
) -> Option<usize> {
    let mut len = 0;
    for c in chars.by_ref() {
        if Some(c) == stop {
            return Some(len);
        }
        if !(c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        *buf.get_mut(len)? = c as u8;
        len += 1;
    }
    stop.is_none().then_some(len)
}

fn classify(word: &Word<'_>) -> Command {
    let mut buf = [0u8; NAME_CAPACITY];
    let mut chars = word.text.unquoted();
    let Some(len) = short_name(&mut chars, None, &mut buf) else {
        let mut chars = word.text.unquoted();
        return match short_name(&mut chars, Some('='), &mut buf) {
            Some(len) if len > 0 => Command::Assignment,
            _ => Command::Unknown,
        };
    };
    match buf.get(..len).unwrap_or(&[]) {
        b"menuentry" => Command::Menuentry,
        b"multiboot" => Command::File(FileCommand::Kernel(Kind::Multiboot)),
        b"multiboot2" => Command::File(FileCommand::Kernel(Kind::Multiboot2)),
        b"linux" => Command::File(FileCommand::Kernel(Kind::Linux)),
        b"module" => Command::File(FileCommand::Module(Kind::Multiboot)),
        b"module2" => Command::File(FileCommand::Module(Kind::Multiboot2)),
        b"initrd" => Command::File(FileCommand::Initrd),
        b"set" => Command::Set,
        b"boot" | b"insmod" | b"echo" | b"terminal_output" | b"terminal_input" | b"serial"
        | b"terminal" => Command::Ignored,
        b"submenu" => Command::Submenu,
        b"if" => Command::Scripting("if"),
        b"for" => Command::Scripting("for"),
        b"while" => Command::Scripting("while"),
        b"until" => Command::Scripting("until"),
        b"function" => Command::Scripting("function"),
        b"source" => Command::Scripting("source"),
        b"configfile" => Command::Scripting("configfile"),
        _ => Command::Unknown,
    }
}

pub(crate) struct Parser<'a> {
    lexer: Lexer<'a>,
    /// A brace that ended a command, to be read again as a token of its own.
    pushed_back: Option<Token<'a>>,
    entry: Option<OpenEntry<'a>>,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Self {
        Parser {
            lexer: Lexer::new(text),
            pushed_back: None,
            entry: None,
        }
    }

    /// A parser that reads one entry's body again, up to its `}`.
    pub fn inside_entry(head: &EntryHead<'a>) -> Self {
        Parser {
            lexer: head.body,
            pushed_back: None,
            entry: Some(OpenEntry {
                at: head.at,
                title: head.title,
                kernel: None,
                initrd_line: None,
            }),
        }
    }

    pub fn pos(&self) -> Pos {
        self.lexer.pos()
    }

    fn next_token(&mut self) -> Result<Token<'a>, ConfigError> {
        match self.pushed_back.take() {
            Some(token) => Ok(token),
            None => self.lexer.next_token(),
        }
    }

    /// The next event, `Ok(None)` at the end of the file.
    pub fn next_event(&mut self) -> Result<Option<Event<'a>>, ConfigError> {
        loop {
            match self.next_token()? {
                Token::EndOfFile(_) => {
                    return match self.entry {
                        Some(open) => Err(ConfigError::at(
                            open.at,
                            ConfigErrorKind::MissingCloseBrace {
                                title: Excerpt::of(open.title),
                            },
                        )),
                        None => Ok(None),
                    };
                }
                Token::EndOfCommand => {}
                Token::OpenBrace(at) => {
                    return Err(ConfigError::at(at, ConfigErrorKind::UnexpectedOpenBrace));
                }
                Token::CloseBrace(at) => {
                    let Some(open) = self.entry.take() else {
                        return Err(ConfigError::at(at, ConfigErrorKind::CloseBraceWithoutEntry));
                    };
                    if open.kernel.is_none() {
                        let title = Excerpt::of(open.title);
                        return Err(ConfigError::at(
                            open.at,
                            ConfigErrorKind::MissingKernel { title },
                        ));
                    }
                    return Ok(Some(Event::EntryEnd));
                }
                Token::Word(word) => {
                    if let Some(event) = self.command(word)? {
                        return Ok(Some(event));
                    }
                }
            }
        }
    }

    fn command(&mut self, word: Word<'a>) -> Result<Option<Event<'a>>, ConfigError> {
        let fail = |kind| Err(ConfigError::at(word.at, kind));
        let in_entry = self.entry.is_some();
        match classify(&word) {
            Command::Menuentry if in_entry => fail(ConfigErrorKind::NestedMenuentry),
            Command::Menuentry => self.menuentry(word.at).map(Some),
            Command::File(command) => self.file_command(command, word.at).map(Some),
            Command::Set => {
                let assignment = match self.next_token()? {
                    Token::Word(assignment) => assignment,
                    _ => return fail(ConfigErrorKind::MissingAssignment),
                };
                let event = self.assignment(assignment)?;
                self.end_of_command(Some(ConfigErrorKind::ExtraArgument))?;
                Ok(event)
            }
            Command::Assignment => {
                let event = self.assignment(word)?;
                self.end_of_command(Some(ConfigErrorKind::ExtraArgument))?;
                Ok(event)
            }
            Command::Ignored => {
                self.end_of_command(None)?;
                Ok(None)
            }
            Command::Submenu => fail(ConfigErrorKind::SubmenuNotSupported),
            Command::Scripting(keyword) => fail(ConfigErrorKind::ScriptingNotSupported { keyword }),
            Command::Unknown if word.has_variable => fail(ConfigErrorKind::VariablesNotSupported),
            Command::Unknown => fail(ConfigErrorKind::UnknownCommand {
                name: Excerpt::of(word.text),
                in_entry,
            }),
        }
    }

    /// Reads to the end of the command. With `extra` set, any further word is that error;
    /// otherwise words are skipped. A brace is kept for the caller.
    fn end_of_command(&mut self, extra: Option<ConfigErrorKind>) -> Result<(), ConfigError> {
        loop {
            let token = self.next_token()?;
            match token {
                Token::Word(word) => {
                    if let Some(kind) = extra {
                        return Err(ConfigError::at(word.at, kind));
                    }
                }
                Token::EndOfCommand | Token::EndOfFile(_) => return Ok(()),
                Token::OpenBrace(_) | Token::CloseBrace(_) => {
                    self.pushed_back = Some(token);
                    return Ok(());
                }
            }
        }
    }

    fn menuentry(&mut self, at: Pos) -> Result<Event<'a>, ConfigError> {
        let mut title = None;
        let mut id = None;
        loop {
            match self.next_token()? {
                Token::Word(word) => {
                    if word.has_variable {
                        return Err(ConfigError::at(
                            word.at,
                            ConfigErrorKind::VariablesNotSupported,
                        ));
                    }
                    if let Some(option) = word.text.raw().strip_prefix("--") {
                        if let Some(("id", value)) = self.menuentry_option(option, word)? {
                            id = Some(value);
                        }
                    } else if title.is_none() {
                        title = Some(word.text);
                    } else {
                        let word_text = Excerpt::of(word.text);
                        return Err(ConfigError::at(
                            word.at,
                            ConfigErrorKind::ExtraTitle { word: word_text },
                        ));
                    }
                }
                // GRUB allows the brace on a later line (its grammar has delimiters there).
                Token::EndOfCommand => {}
                Token::OpenBrace(_) => break,
                Token::CloseBrace(pos) | Token::EndOfFile(pos) => {
                    return Err(ConfigError::at(pos, ConfigErrorKind::MissingOpenBrace));
                }
            }
        }
        let Some(title) = title else {
            return Err(ConfigError::at(at, ConfigErrorKind::MissingTitle));
        };
        self.entry = Some(OpenEntry {
            at,
            title,
            kernel: None,
            initrd_line: None,
        });
        Ok(Event::EntryStart(EntryHead {
            title,
            id,
            at,
            body: self.lexer,
        }))
    }

    /// Handles `--name` or `--name=value` (`option` is after the `--`). Returns the name and
    /// value of options that take one.
    fn menuentry_option(
        &mut self,
        option: &'a str,
        word: Word<'a>,
    ) -> Result<Option<(&'a str, Text<'a>)>, ConfigError> {
        let (name, inline_value) = match option.split_once('=') {
            Some((name, value)) => (name, Some(Text::new(value))),
            None => (option, None),
        };
        let takes_value: Option<&'static str> = match name {
            "class" => Some("--class"),
            "users" => Some("--users"),
            "hotkey" => Some("--hotkey"),
            "id" => Some("--id"),
            "unrestricted" if inline_value.is_none() => None,
            _ => {
                let option = Excerpt::of(word.text);
                return Err(ConfigError::at(
                    word.at,
                    ConfigErrorKind::UnknownMenuentryOption { option },
                ));
            }
        };
        let Some(option_name) = takes_value else {
            return Ok(None);
        };
        if let Some(value) = inline_value {
            return Ok(Some((name, value)));
        }
        match self.next_token()? {
            Token::Word(value) if value.has_variable => Err(ConfigError::at(
                value.at,
                ConfigErrorKind::VariablesNotSupported,
            )),
            Token::Word(value) => Ok(Some((name, value.text))),
            _ => Err(ConfigError::at(
                word.at,
                ConfigErrorKind::MissingOptionValue {
                    option: option_name,
                },
            )),
        }
    }

    fn file_command(&mut self, command: FileCommand, at: Pos) -> Result<Event<'a>, ConfigError> {
        let fail = |kind| Err(ConfigError::at(at, kind));
        let Some(entry) = self.entry.as_mut() else {
            return fail(ConfigErrorKind::OutsideEntry {
                command: command.name(),
            });
        };
        match (command, entry.kernel) {
            (FileCommand::Kernel(_), Some((first_line, _))) => {
                return fail(ConfigErrorKind::DuplicateKernel { first_line });
            }
            (FileCommand::Kernel(kind), None) => entry.kernel = Some((at.line, kind)),
            (_, None) => {
                return fail(ConfigErrorKind::ModuleBeforeKernel {
                    command: command.name(),
                });
            }
            (FileCommand::Module(wanted), Some((_, kind))) if wanted != kind => {
                return fail(wrong_kind(command, kind));
            }
            (FileCommand::Initrd, Some((_, kind))) if kind != Kind::Linux => {
                return fail(wrong_kind(command, kind));
            }
            (FileCommand::Initrd, Some(_)) => {
                if let Some(first_line) = entry.initrd_line {
                    return fail(ConfigErrorKind::DuplicateInitrd { first_line });
                }
                entry.initrd_line = Some(at.line);
                return self.initrd_line(at);
            }
            (FileCommand::Module(_), Some(_)) => {}
        }
        let line = self.file_line(command, at)?;
        Ok(match command {
            FileCommand::Kernel(kind) => Event::Kernel { line, kind },
            _ => Event::Module(line),
        })
    }

    /// `KERNEL|MODULE [OPTIONS] PATH [ARGS]`, where `--sha256=HEX` may stand anywhere.
    fn file_line(&mut self, command: FileCommand, at: Pos) -> Result<FileLine<'a>, ConfigError> {
        let mut sha256 = None;
        let mut nounzip = false;
        let mut path: Option<(Text<'a>, FileSource<'a>, Lexer<'a>)> = None;
        while let Some(word) = self.next_word()? {
            if let Some(hex) = word.text.strip_unquoted_prefix("--sha256=") {
                if sha256.is_some() {
                    return Err(ConfigError::at(word.at, ConfigErrorKind::DuplicateSha256));
                }
                let digest = parse_sha256(hex)
                    .ok_or(ConfigError::at(word.at, ConfigErrorKind::BadSha256))?;
                sha256 = Some(digest);
                continue;
            }
            if word.has_variable {
                return Err(ConfigError::at(
                    word.at,
                    ConfigErrorKind::VariablesNotSupported,
                ));
            }
            if path.is_some() {
                continue;
            }
            // GRUB's own flags before the file.
            match command {
                FileCommand::Module(_) if word.text.unquoted_eq("--nounzip") => {
                    nounzip = true;
                    continue;
                }
                // Accepted, and meaningless here.
                FileCommand::Kernel(Kind::Multiboot)
                    if word.text.unquoted_eq("--quirk-bad-kludge")
                        || word.text.unquoted_eq("--quirk-modules-after-kernel") =>
                {
                    continue;
                }
                _ => {}
            }
            let source = FileSource::parse(word.text, word.at)?;
            path = Some((word.text, source, self.lexer));
        }
        let Some((path, source, args)) = path else {
            return Err(ConfigError::at(
                at,
                ConfigErrorKind::MissingPath {
                    command: command.name(),
                },
            ));
        };
        Ok(FileLine::new(source, sha256, at.line, path, args).nounzip(nounzip))
    }

    /// `initrd FILE [--sha256=HEX] [FILE [--sha256=HEX]]...`: every file checked now,
    /// read again by [`InitrdLine::files`].
    fn initrd_line(&mut self, at: Pos) -> Result<Event<'a>, ConfigError> {
        let words = self.lexer;
        let mut files = 0usize;
        let mut last_has_sha256 = false;
        while let Some(word) = self.next_word()? {
            if let Some(hex) = word.text.strip_unquoted_prefix("--sha256=") {
                if files == 0 {
                    return Err(ConfigError::at(word.at, ConfigErrorKind::Sha256BeforeFile));
                }
                if last_has_sha256 {
                    return Err(ConfigError::at(word.at, ConfigErrorKind::DuplicateSha256));
                }
                parse_sha256(hex).ok_or(ConfigError::at(word.at, ConfigErrorKind::BadSha256))?;
                last_has_sha256 = true;
                continue;
            }
            if word.has_variable {
                return Err(ConfigError::at(
                    word.at,
                    ConfigErrorKind::VariablesNotSupported,
                ));
            }
            FileSource::parse(word.text, word.at)?;
            files += 1;
            last_has_sha256 = false;
        }
        if files == 0 {
            return Err(ConfigError::at(
                at,
                ConfigErrorKind::MissingPath { command: "initrd" },
            ));
        }
        Ok(Event::Initrd(InitrdLine::new(at.line, words)))
    }

    /// The next word of the current command; `None` at its end (a `}` is kept for later).
    fn next_word(&mut self) -> Result<Option<Word<'a>>, ConfigError> {
        let token = self.next_token()?;
        match token {
            Token::Word(word) => Ok(Some(word)),
            Token::EndOfCommand | Token::EndOfFile(_) => Ok(None),
            Token::CloseBrace(_) => {
                self.pushed_back = Some(token);
                Ok(None)
            }
            Token::OpenBrace(brace) => {
                Err(ConfigError::at(brace, ConfigErrorKind::UnexpectedOpenBrace))
            }
        }
    }

    /// `NAME=VALUE`, from `set NAME=VALUE` or alone.
    fn assignment(&mut self, word: Word<'a>) -> Result<Option<Event<'a>>, ConfigError> {
        let fail = |kind| Err(ConfigError::at(word.at, kind));
        if word.has_variable {
            return fail(ConfigErrorKind::VariablesNotSupported);
        }
        let mut buf = [0u8; NAME_CAPACITY];
        let mut value = word.text.unquoted();
        let name_len = short_name(&mut value, Some('='), &mut buf);
        let Some(name_len) = name_len.filter(|&len| len > 0) else {
            if word.text.unquoted().any(|c| c == '=') {
                let name = Excerpt::from_chars(word.text.unquoted().take_while(|&c| c != '='));
                return fail(ConfigErrorKind::UnknownVariable { name });
            }
            return fail(ConfigErrorKind::MissingAssignment);
        };
        let name = buf.get(..name_len).unwrap_or(&[]);
        let in_entry = self.entry.is_some();
        match name {
            b"timeout" if in_entry => fail(ConfigErrorKind::SetInsideEntry { name: "timeout" }),
            b"default" if in_entry => fail(ConfigErrorKind::SetInsideEntry { name: "default" }),
            b"timeout" => match parse_timeout(value) {
                Some(timeout) => Ok(Some(Event::Timeout(timeout))),
                None => fail(ConfigErrorKind::BadTimeout),
            },
            b"default" => match value.clone().next() {
                Some(_) => Ok(Some(Event::Default { value, at: word.at })),
                None => fail(ConfigErrorKind::BadDefault),
            },
            b"root" => {
                let network = ["pxe", "(pxe)", "tftp", "(tftp)"];
                if network.iter().any(|root| value.clone().eq(root.chars())) {
                    Ok(None)
                } else {
                    fail(ConfigErrorKind::UnsupportedRoot {
                        root: Excerpt::from_chars(value),
                    })
                }
            }
            b"gfxpayload" => match Gfxpayload::parse(value) {
                Some(value) => Ok(Some(Event::Gfxpayload { value, in_entry })),
                None => fail(ConfigErrorKind::BadGfxpayload),
            },
            b"pager"
            | b"gfxmode"
            | b"timeout_style"
            | b"color_normal"
            | b"color_highlight"
            | b"menu_color_normal"
            | b"menu_color_highlight"
            | b"lang"
            | b"locale_dir" => Ok(None),
            _ => fail(ConfigErrorKind::UnknownVariable {
                name: Excerpt::from_chars(name.iter().map(|&b| b as char)),
            }),
        }
    }
}

/// The error for a `module`, `module2` or `initrd` line under a kernel of another kind.
fn wrong_kind(command: FileCommand, kernel: Kind) -> ConfigErrorKind {
    ConfigErrorKind::WrongKernelKind {
        command: command.name(),
        kernel: kernel.command(),
        expected: kernel.module_command(),
    }
}

/// Seconds, or `Forever` for a negative number (GRUB waits for a key then).
fn parse_timeout(mut value: Unquoted<'_>) -> Option<Timeout> {
    let mut first = value.next()?;
    let negative = first == '-';
    if negative {
        first = value.next()?;
    }
    let mut seconds = u64::from(first.to_digit(10)?);
    for c in value {
        seconds = seconds
            .checked_mul(10)?
            .checked_add(u64::from(c.to_digit(10)?))?;
    }
    if negative {
        return Some(Timeout::Forever);
    }
    u32::try_from(seconds).ok().map(Timeout::Seconds)
}

/// Parses an index for `set default=N`; `None` when the value is not all digits.
pub(crate) fn parse_index(value: Unquoted<'_>) -> Option<Result<usize, ()>> {
    let mut index: usize = 0;
    let mut overflow = false;
    for c in value {
        let digit = c.to_digit(10)?;
        match index
            .checked_mul(10)
            .and_then(|i| i.checked_add(digit as usize))
        {
            Some(next) => index = next,
            None => overflow = true,
        }
    }
    Some(if overflow { Err(()) } else { Ok(index) })
}
