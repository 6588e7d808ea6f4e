//! Config errors: where (line and column, both from 1) and what, printed as one line.

use core::fmt;

use super::text::Excerpt;

/// A position in the config text. Columns count characters, a tab as one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// Why a config was refused, and where. `Display` gives
/// `line 7, column 3: unknown command "linux16" (expected ...)`; the caller adds the file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub line: u32,
    pub column: u32,
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    pub(crate) fn at(pos: Pos, kind: ConfigErrorKind) -> Self {
        ConfigError {
            line: pos.line,
            column: pos.column,
            kind,
        }
    }
}

/// What went wrong. Text copied from the config is kept in an [`Excerpt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The bytes are not UTF-8 (the position is that of the first bad byte).
    InvalidUtf8,
    /// A NUL byte: it would cut a command line short, so it is refused anywhere.
    NulByte,
    /// A quote (`'` or `"`) that is never closed; the position is the opening quote.
    UnterminatedQuote {
        quote: char,
    },
    /// `${` without `}`.
    UnterminatedVariable,
    /// `|`, `&`, `<` or `>` outside quotes: GRUB scripting this loader does not run.
    UnsupportedOperator {
        operator: char,
    },
    /// `$name` or `${name}` in a word that matters (variables are not expanded here).
    VariablesNotSupported,
    /// A command this loader does not know.
    UnknownCommand {
        name: Excerpt,
        in_entry: bool,
    },
    /// `if`, `for`, `while`, `function`...: GRUB scripting.
    ScriptingNotSupported {
        keyword: &'static str,
    },
    SubmenuNotSupported,
    /// A kernel or module command outside a `menuentry`.
    OutsideEntry {
        command: &'static str,
    },
    /// `menuentry` inside a `menuentry`.
    NestedMenuentry,
    /// `{` anywhere but after `menuentry TITLE`.
    UnexpectedOpenBrace,
    /// `}` with no open `menuentry`.
    CloseBraceWithoutEntry,
    /// The file ends inside an entry; the position is its `menuentry`.
    MissingCloseBrace {
        title: Excerpt,
    },
    /// `menuentry TITLE` not followed by `{`.
    MissingOpenBrace,
    /// `menuentry {` without a title.
    MissingTitle,
    /// A second title word after `menuentry TITLE`.
    ExtraTitle {
        word: Excerpt,
    },
    UnknownMenuentryOption {
        option: Excerpt,
    },
    /// `--class`, `--users`, `--hotkey` or `--id` as the last word before `{`.
    MissingOptionValue {
        option: &'static str,
    },
    /// An entry without a kernel line (`multiboot`, `multiboot2` or `linux`); the position is
    /// its `menuentry`.
    MissingKernel {
        title: Excerpt,
    },
    /// A second kernel line in one entry.
    DuplicateKernel {
        first_line: u32,
    },
    /// `module`, `module2` or `initrd` before the entry's kernel line (GRUB refuses it too).
    ModuleBeforeKernel {
        command: &'static str,
    },
    /// `module2` under `multiboot`, `initrd` under `multiboot2`...: each kernel command has
    /// its own (`expected`), as in GRUB.
    WrongKernelKind {
        command: &'static str,
        kernel: &'static str,
        expected: &'static str,
    },
    /// A second `initrd` line in one entry (list every file on one line).
    DuplicateInitrd {
        first_line: u32,
    },
    /// `initrd --sha256=...` before any file: the digest belongs to the file before it.
    Sha256BeforeFile,
    /// A kernel or module command without a file.
    MissingPath {
        command: &'static str,
    },
    /// A path with escapes or several quoted pieces; write it plainly or in one pair of quotes.
    PathNotPlain,
    /// A path that does not start with `/`, `(pxe)/` or `tftp://`.
    RelativePath,
    /// A GRUB device other than the network one, such as `(hd0,1)`.
    UnsupportedDevice {
        device: Excerpt,
    },
    /// `(pxe)kernel`: GRUB too wants a `/` after the device.
    MissingSlashAfterDevice,
    /// A path that names a directory (`/`, `(pxe)/`, `tftp://10.0.0.1/`).
    EmptyFileName,
    /// A URL scheme other than `tftp://` and `http://`.
    UnsupportedScheme {
        scheme: Excerpt,
    },
    /// A server that is neither a name nor a valid IPv4 address.
    BadAddress,
    BadPort,
    /// `--sha256=` not followed by exactly 64 hex digits.
    BadSha256,
    DuplicateSha256,
    /// `set` without `NAME=VALUE`.
    MissingAssignment,
    /// More words after `set NAME=VALUE`.
    ExtraArgument,
    UnknownVariable {
        name: Excerpt,
    },
    /// `set timeout` or `set default` inside an entry, where it would take effect too late.
    SetInsideEntry {
        name: &'static str,
    },
    /// `set gfxpayload=` with something other than text, keep or a list of modes.
    BadGfxpayload,
    /// A timeout that is not a whole number of seconds (or -1).
    BadTimeout,
    /// `set default=` with nothing after it.
    BadDefault,
    DefaultOutOfRange {
        index: usize,
        count: usize,
    },
    /// `set default="Title"` with no entry of that title or `--id`.
    DefaultNotFound {
        title: Excerpt,
    },
    /// `set root=` anything but the network.
    UnsupportedRoot {
        root: Excerpt,
    },
    /// No `menuentry` at all.
    NoEntries,
}

const TOP_LEVEL_COMMANDS: &str =
    "menuentry, set, insmod, echo, terminal_output, terminal_input or serial";
const ENTRY_COMMANDS: &str =
    "multiboot, multiboot2, linux, module, module2, initrd, boot, echo, insmod, set or }";
const PATH_FORMS: &str = "/path, (pxe)/path, tftp://SERVER/path or http://SERVER/path";

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConfigErrorKind::*;
        match self {
            InvalidUtf8 => f.write_str("the file is not valid UTF-8"),
            NulByte => f.write_str("NUL byte in the file"),
            UnterminatedQuote { quote } => write!(f, "unterminated quote: {quote} is never closed"),
            UnterminatedVariable => f.write_str("unterminated ${...}"),
            UnsupportedOperator { operator } => write!(
                f,
                "\"{operator}\" is not supported (no pipes, redirections or background jobs; quote it to use it literally)"
            ),
            VariablesNotSupported => f.write_str(
                "variables ($name) are not supported here; write the value, or escape the $ as \\$",
            ),
            UnknownCommand { name, in_entry } => write!(
                f,
                "unknown command \"{name}\" (expected {})",
                if *in_entry {
                    ENTRY_COMMANDS
                } else {
                    TOP_LEVEL_COMMANDS
                }
            ),
            ScriptingNotSupported { keyword } => {
                write!(
                    f,
                    "\"{keyword}\": GRUB scripting is not supported, only menu entries"
                )
            }
            SubmenuNotSupported => {
                f.write_str("submenu is not supported; list the entries at the top level")
            }
            OutsideEntry { command } => write!(
                f,
                "{command} outside a menuentry (expected inside menuentry \"Title\" {{ ... }})"
            ),
            NestedMenuentry => {
                f.write_str("menuentry inside a menuentry (expected } to close the first one)")
            }
            UnexpectedOpenBrace => {
                f.write_str("unexpected { (a block opens only after menuentry \"Title\")")
            }
            CloseBraceWithoutEntry => f.write_str("} without an open menuentry"),
            MissingCloseBrace { title } => {
                write!(f, "menuentry \"{title}\" is never closed (expected }})")
            }
            MissingOpenBrace => f.write_str("expected { after menuentry \"Title\""),
            MissingTitle => {
                f.write_str("menuentry without a title (expected menuentry \"Title\" {)")
            }
            ExtraTitle { word } => write!(
                f,
                "unexpected \"{word}\" after the menuentry title (quote a title that has spaces)"
            ),
            UnknownMenuentryOption { option } => write!(
                f,
                "unknown menuentry option \"{option}\" (expected --class, --users, --hotkey, --id or --unrestricted)"
            ),
            MissingOptionValue { option } => write!(f, "menuentry option {option} needs a value"),
            MissingKernel { title } => write!(
                f,
                "menuentry \"{title}\" has no kernel (expected multiboot, multiboot2 or linux)"
            ),
            DuplicateKernel { first_line } => {
                write!(
                    f,
                    "second kernel in one entry (the first is on line {first_line})"
                )
            }
            ModuleBeforeKernel { command } => write!(
                f,
                "{command} before the kernel (load the kernel first, as GRUB requires)"
            ),
            WrongKernelKind {
                command,
                kernel,
                expected,
            } => write!(
                f,
                "{command} does not go with {kernel} (a {kernel} kernel takes {expected})"
            ),
            DuplicateInitrd { first_line } => write!(
                f,
                "second initrd line in one entry (the first is on line {first_line}): list every initrd file on one line"
            ),
            Sha256BeforeFile => {
                f.write_str("--sha256 before any file (it checks the file written before it)")
            }
            MissingPath { command } => write!(f, "{command} needs a file (expected {PATH_FORMS})"),
            PathNotPlain => f.write_str(
                "this path mixes quotes or escapes; write it plainly or inside one pair of quotes",
            ),
            RelativePath => write!(f, "expected a path such as {PATH_FORMS}"),
            UnsupportedDevice { device } => write!(
                f,
                "device ({device}) is not available: this loader reads only from the network (expected (pxe) or (tftp,IP))"
            ),
            MissingSlashAfterDevice => f.write_str("expected / after the device, as in (pxe)/path"),
            EmptyFileName => f.write_str("the path names no file"),
            UnsupportedScheme { scheme } => {
                if scheme.as_str().eq_ignore_ascii_case("https") {
                    write!(f, "{scheme}:// is not supported (no TLS), use http://")
                } else {
                    write!(
                        f,
                        "unsupported URL scheme \"{scheme}\" (expected tftp:// or http://)"
                    )
                }
            }
            BadAddress => {
                f.write_str("bad server (expected an IPv4 address such as 10.0.0.9 or a DNS name)")
            }
            BadPort => f.write_str("bad port (expected a number from 1 to 65535)"),
            BadSha256 => f.write_str("bad --sha256 value (expected 64 hex digits)"),
            DuplicateSha256 => f.write_str("--sha256 given twice"),
            MissingAssignment => f.write_str("expected set NAME=VALUE"),
            ExtraArgument => {
                f.write_str("unexpected word after set NAME=VALUE (quote a value that has spaces)")
            }
            UnknownVariable { name } => write!(
                f,
                "unknown variable \"{name}\" (expected timeout, default, root, pager, gfxpayload, gfxmode, timeout_style or a color)"
            ),
            SetInsideEntry { name } => write!(
                f,
                "set {name} inside a menuentry (move it to the top of the file)"
            ),
            BadGfxpayload => f.write_str(
                "bad gfxpayload (expected text, keep, or modes such as 1024x768x32,800x600,auto)",
            ),
            BadTimeout => {
                f.write_str("bad timeout (expected a number of seconds, or -1 to wait forever)")
            }
            BadDefault => {
                f.write_str("bad default (expected an entry number from 0, or an entry title)")
            }
            DefaultOutOfRange { index, count } => write!(
                f,
                "default entry {index} does not exist (there {} {count} entr{}, numbered from 0)",
                if *count == 1 { "is" } else { "are" },
                if *count == 1 { "y" } else { "ies" }
            ),
            DefaultNotFound { title } => {
                write!(f, "no menuentry titled \"{title}\" for set default")
            }
            UnsupportedRoot { root } => write!(
                f,
                "root \"{root}\" is not available: this loader reads only from the network (expected (pxe))"
            ),
            NoEntries => f.write_str(
                "no menuentry in the file (expected menuentry \"Title\" { multiboot /kernel })",
            ),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.kind
        )
    }
}
