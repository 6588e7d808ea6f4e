//! Words as written in the config, and their value after GRUB's quoting rules.
//!
//! Nothing is copied: a [`Text`] borrows the word with its quotes, and [`Unquoted`] yields its
//! characters on demand. Rules (as GRUB and the POSIX shell):
//! - outside quotes, `\x` is `x`, and backslash-newline joins lines;
//! - in single quotes everything is literal;
//! - in double quotes `\` escapes only `"`, `\`, `$` and newline; before any other character
//!   it stays a backslash.

use core::fmt;
use core::str::Chars;

/// One word of the config exactly as written (quotes and escapes included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text<'a> {
    raw: &'a str,
}

impl<'a> Text<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        Text { raw }
    }

    /// The word as written in the file.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The word's value, character by character.
    pub fn unquoted(&self) -> Unquoted<'a> {
        Unquoted::new(self.raw)
    }

    /// The value as one borrowed slice when the word is plain or one quoted piece without
    /// escapes (`/k`, `"/my kernel"`, `'a\b'`); `None` for mixes such as `/a"b"` or `\x`.
    pub fn as_plain(&self) -> Option<&'a str> {
        let raw = self.raw;
        if !raw.contains(['\\', '\'', '"']) {
            return Some(raw);
        }
        let quote = raw.chars().next()?;
        if (quote != '\'' && quote != '"') || raw.len() < 2 || !raw.ends_with(quote) {
            return None;
        }
        let inner = raw.get(1..raw.len() - 1)?;
        let escapes_matter = quote == '"' && inner.contains('\\');
        if inner.contains(quote) || escapes_matter {
            return None;
        }
        Some(inner)
    }

    /// True when the value equals `expected`.
    pub fn unquoted_eq(&self, expected: &str) -> bool {
        self.unquoted().eq(expected.chars())
    }

    /// The value's remainder after `prefix`, or `None` when it does not start with it.
    pub fn strip_unquoted_prefix(&self, prefix: &str) -> Option<Unquoted<'a>> {
        let mut value = self.unquoted();
        for expected in prefix.chars() {
            if value.next() != Some(expected) {
                return None;
            }
        }
        Some(value)
    }
}

/// Writes the value (quotes removed).
impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.unquoted() {
            f.write_char(c)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Plain,
    Single,
    Double,
}

/// The characters of a word's value; see the module docs for the rules.
#[derive(Clone, Debug)]
pub struct Unquoted<'a> {
    chars: Chars<'a>,
    mode: Mode,
}

impl<'a> Unquoted<'a> {
    fn new(raw: &'a str) -> Self {
        Unquoted {
            chars: raw.chars(),
            mode: Mode::Plain,
        }
    }
}

impl Iterator for Unquoted<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        loop {
            let c = self.chars.next()?;
            match self.mode {
                Mode::Plain => match c {
                    '\\' => match self.chars.next() {
                        None => return Some('\\'),
                        Some('\n') => continue,
                        Some(escaped) => return Some(escaped),
                    },
                    '\'' => self.mode = Mode::Single,
                    '"' => self.mode = Mode::Double,
                    _ => return Some(c),
                },
                Mode::Single => match c {
                    '\'' => self.mode = Mode::Plain,
                    _ => return Some(c),
                },
                Mode::Double => match c {
                    '"' => self.mode = Mode::Plain,
                    '\\' => {
                        let mut ahead = self.chars.clone();
                        match ahead.next() {
                            Some(escaped @ ('"' | '\\' | '$')) => {
                                self.chars = ahead;
                                return Some(escaped);
                            }
                            Some('\n') => self.chars = ahead,
                            _ => return Some('\\'),
                        }
                    }
                    _ => return Some(c),
                },
            }
        }
    }
}

/// Longest piece of user text kept in an error message.
pub const EXCERPT_CAPACITY: usize = 40;

/// A short copy of user text for an error message (errors own no borrowed data, so a
/// caller can keep them after the config buffer is gone). Longer text is cut and shown
/// with `...`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Excerpt {
    bytes: [u8; EXCERPT_CAPACITY],
    len: usize,
    truncated: bool,
}

impl Excerpt {
    pub(crate) fn from_chars(chars: impl Iterator<Item = char>) -> Self {
        let mut excerpt = Excerpt {
            bytes: [0; EXCERPT_CAPACITY],
            len: 0,
            truncated: false,
        };
        for c in chars {
            let mut utf8 = [0u8; 4];
            let encoded = c.encode_utf8(&mut utf8).as_bytes();
            let end = excerpt.len + encoded.len();
            match excerpt.bytes.get_mut(excerpt.len..end) {
                Some(slot) => {
                    slot.copy_from_slice(encoded);
                    excerpt.len = end;
                }
                None => {
                    excerpt.truncated = true;
                    break;
                }
            }
        }
        excerpt
    }

    pub(crate) fn of(text: Text<'_>) -> Self {
        Self::from_chars(text.unquoted())
    }

    /// The kept text (without the `...` mark).
    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in, so this cannot fail; stay panic-free.
        self.bytes
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

/// Control characters are shown as `?` so that a message stays on one line.
impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.as_str().chars() {
            f.write_char(if c.is_control() { '?' } else { c })?;
        }
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}
