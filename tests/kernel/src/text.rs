//! Formatting for the report (quoted strings, hex digests) and the kernel's own options on
//! its command line.

use core::fmt;

/// Bytes as a double-quoted string: printable ASCII as is, `"` and `\` escaped, anything else
/// as `\xNN`. tests/src/kernels.rs undoes this.
pub struct Quoted<'a>(pub &'a [u8]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &byte in self.0 {
            match byte {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => fmt::Write::write_char(f, byte as char)?,
                _ => write!(f, "\\x{byte:02x}")?,
            }
        }
        f.write_str("\"")
    }
}

/// Bytes as lower-case hex.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// Hex, or `unreadable`.
pub struct MaybeHex<'a>(pub Option<&'a [u8]>);

impl fmt::Display for MaybeHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(bytes) => Hex(bytes).fmt(f),
            None => f.write_str("unreadable"),
        }
    }
}

fn words(cmdline: &[u8]) -> impl Iterator<Item = &[u8]> {
    cmdline
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
}

/// Whether the word `flag` appears on the command line.
pub fn has_flag(cmdline: &[u8], flag: &[u8]) -> bool {
    words(cmdline).any(|word| word == flag)
}

/// The decimal value of `key=N` on the command line (`key` given with its `=`).
pub fn number_option(cmdline: &[u8], key: &[u8]) -> Option<u64> {
    let value = words(cmdline).find_map(|word| word.strip_prefix(key))?;
    if value.is_empty() || value.len() > 18 {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + (b - b'0') as u64)
    })
}
