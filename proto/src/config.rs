//! The boot config: a `grub.cfg` in GRUB 2's menu syntax, so that users of the
//! "gPXE + GRUB2" way can keep theirs.
//!
//! ```text
//! set timeout=3
//! set default=0
//! menuentry "My OS" --class os {
//!   multiboot /kernel arg1 "arg two" --sha256=<64 hex digits>
//!   module    (pxe)/shell shell-args
//!   module    tftp://10.0.0.9/boot/test
//! }
//! ```
//!
//! [`Config::parse`] checks the whole text once and keeps only the timeout, the default entry,
//! the entry count and the top-level `set gfxpayload`; [`Config::entries`],
//! [`MenuEntry::modules`] and [`MenuEntry::initrds`] read the text again, so nothing is
//! allocated and no count is limited. Every error carries a line and a column.
//!
//! Understood: `menuentry TITLE [--class X|--users X|--hotkey X|--id X|--unrestricted] {`;
//! in an entry one kernel line, which gives the entry its [`Kind`]: `multiboot [--quirk-*]
//! PATH ARGS` with `module [--nounzip] PATH ARGS` lines, `multiboot2 PATH ARGS` with `module2
//! [--nounzip] PATH ARGS` lines, or `linux PATH ARGS` with one `initrd PATH...` line (several
//! files, each optionally followed by its `--sha256=HEX`); `--sha256=HEX` anywhere among a
//! kernel's or module's arguments; `set timeout|default|root|gfxpayload=...` (or without
//! `set`; `gfxpayload` also inside an entry), GRUB quoting, comments, `;` between commands.
//! Accepted and ignored: `boot`, `insmod`, `echo`, `terminal_output`, `terminal_input`,
//! `terminal`, `serial`, `set pager|gfxmode|timeout_style|lang|locale_dir|*color*=...`.
//! Refused with a clear message: anything else, variables, submenus and scripting.

mod entry;
mod error;
mod gfxpayload;
mod lexer;
mod parser;
mod per_host;
mod source;
mod text;

#[cfg(test)]
mod robustness_tests;
#[cfg(test)]
mod tests;

pub use entry::{
    Args, Cmdline, CmdlineTooLong, Entries, FileLine, InitrdFiles, Kind, MenuEntry, Modules,
};
pub use error::{ConfigError, ConfigErrorKind};
pub use gfxpayload::{Gfxpayload, MAX_MODES, ModeList, ModeSpec};
pub use parser::Timeout;
pub use per_host::{PER_HOST_DIR, PerHostName, per_host_names};
pub use source::{FileSource, HTTP_PORT, Host, TFTP_PORT};
pub use text::{EXCERPT_CAPACITY, Excerpt, Text, Unquoted};

use error::Pos;
use parser::{Event, Parser, parse_index};

/// A checked config. Cheap to copy; it borrows the text.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    text: &'a str,
    timeout: Option<Timeout>,
    default_entry: usize,
    entry_count: usize,
    /// The last `set gfxpayload` at the top level (GRUB runs the whole top level before the
    /// menu, so the last one wins wherever it stands).
    gfxpayload: Option<Gfxpayload>,
}

impl<'a> Config<'a> {
    /// Checks the file: UTF-8 (a leading byte-order mark is skipped), then everything else.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ConfigError> {
        match core::str::from_utf8(bytes) {
            Ok(text) => Self::parse_str(text),
            Err(error) => {
                let valid = bytes.get(..error.valid_up_to()).unwrap_or(&[]);
                let valid = core::str::from_utf8(valid).unwrap_or("");
                let valid = valid.strip_prefix('\u{feff}').unwrap_or(valid);
                Err(ConfigError::at(end_of(valid), ConfigErrorKind::InvalidUtf8))
            }
        }
    }

    pub fn parse_str(text: &'a str) -> Result<Self, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if let Some(nul) = text.find('\0') {
            let before = text.get(..nul).unwrap_or("");
            return Err(ConfigError::at(end_of(before), ConfigErrorKind::NulByte));
        }
        let mut parser = Parser::new(text);
        let mut timeout = None;
        let mut default = None;
        let mut entry_count = 0usize;
        let mut gfxpayload = None;
        while let Some(event) = parser.next_event()? {
            match event {
                Event::Timeout(value) => timeout = Some(value),
                Event::Default { value, at } => default = Some((value, at)),
                Event::Gfxpayload {
                    value,
                    in_entry: false,
                } => gfxpayload = Some(value),
                Event::EntryEnd => entry_count += 1,
                Event::Gfxpayload { .. }
                | Event::EntryStart(_)
                | Event::Kernel { .. }
                | Event::Module(_)
                | Event::Initrd(_) => {}
            }
        }
        if entry_count == 0 {
            return Err(ConfigError::at(parser.pos(), ConfigErrorKind::NoEntries));
        }
        let mut config = Config {
            text,
            timeout,
            default_entry: 0,
            entry_count,
            gfxpayload,
        };
        if let Some((value, at)) = default {
            config.default_entry = config.resolve_default(value, at)?;
        }
        Ok(config)
    }

    /// `set default=N` counts entries from 0; any other value names a title or an `--id`,
    /// as in GRUB. The last `set default` wins wherever it stands, since GRUB reads the
    /// variable only when it shows the menu.
    fn resolve_default(&self, value: Unquoted<'a>, at: Pos) -> Result<usize, ConfigError> {
        let count = self.entry_count;
        match parse_index(value.clone()) {
            Some(Ok(index)) if index < count => return Ok(index),
            Some(Ok(index)) => {
                let kind = ConfigErrorKind::DefaultOutOfRange { index, count };
                return Err(ConfigError::at(at, kind));
            }
            Some(Err(())) => {
                let kind = ConfigErrorKind::DefaultOutOfRange {
                    index: usize::MAX,
                    count,
                };
                return Err(ConfigError::at(at, kind));
            }
            None => {}
        }
        let named = |text: Option<Text<'_>>| text.is_some_and(|t| t.unquoted().eq(value.clone()));
        self.entries()
            .find(|entry| named(entry.id) || named(Some(entry.title)))
            .map(|entry| entry.index)
            .ok_or_else(|| {
                let title = Excerpt::from_chars(value.clone());
                ConfigError::at(at, ConfigErrorKind::DefaultNotFound { title })
            })
    }

    /// `set timeout`, or `None` when the file has none (GRUB then waits for a key; a caller
    /// may prefer to boot a single entry at once).
    pub fn timeout(&self) -> Option<Timeout> {
        self.timeout
    }

    /// The entry to boot when the timeout expires (0 when the file does not say).
    pub fn default_entry(&self) -> usize {
        self.default_entry
    }

    /// How many entries [`Config::entries`] yields (at least one).
    pub fn entry_count(&self) -> usize {
        self.entry_count
    }

    /// The entries in file order.
    pub fn entries(&self) -> Entries<'a> {
        Entries::new(self.text, self.gfxpayload)
    }

    /// One entry by index. It reads the text up to that entry: to visit them all, use
    /// [`Config::entries`].
    pub fn entry(&self, index: usize) -> Option<MenuEntry<'a>> {
        self.entries().nth(index)
    }

    /// The text the config was parsed from (without a byte-order mark).
    pub fn text(&self) -> &'a str {
        self.text
    }
}

/// The position just after `text`.
fn end_of(text: &str) -> Pos {
    let line_start = text.rfind('\n').map_or(0, |newline| newline + 1);
    let newlines = text.bytes().filter(|&b| b == b'\n').count();
    let column = text.get(line_start..).unwrap_or("").chars().count();
    Pos {
        line: u32::try_from(newlines).map_or(u32::MAX, |n| n.saturating_add(1)),
        column: u32::try_from(column).map_or(u32::MAX, |c| c.saturating_add(1)),
    }
}
