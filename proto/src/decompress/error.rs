//! Why a compressed file was refused, each reportable as one line: `code()`, then what failed
//! (`Display`), then what to check (`advice()`).

use core::fmt;

use super::Format;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecompressError {
    /// The stream breaks its format (a bad header, invalid deflate or LZMA2 data, a length in
    /// the trailer that differs from the data). `offset` is the file offset where it was found
    /// (for inflate and xz data: the end of the chunk being decoded).
    Corrupt {
        format: Format,
        offset: u64,
        what: &'static str,
    },
    /// The data decompressed, but its check value (gzip CRC-32; xz CRC-32 or CRC-64) differs.
    Checksum {
        format: Format,
        expected: u64,
        actual: u64,
    },
    /// The file ended inside the stream, after `input_len` bytes.
    Truncated { format: Format, input_len: u64 },
    /// The decompressed data does not fit in its place: `capacity` bytes. `needed` is the size
    /// it needs where known (a plain file), else the data goes on past `capacity`.
    OutputTooLarge {
        format: Format,
        capacity: u64,
        needed: Option<u64>,
    },
    /// xz: the stream needs a dictionary of `needed` bytes (None: not known yet, no dictionary
    /// was lent at all) and `have` were lent.
    DictionaryTooSmall { needed: Option<u64>, have: u64 },
    /// xz: a check type, filter or option this decoder does not have.
    Unsupported { what: &'static str, value: u32 },
}

impl DecompressError {
    /// A stable code for the one-line report.
    pub fn code(&self) -> &'static str {
        match self {
            DecompressError::Corrupt {
                format: Format::Xz, ..
            } => "E-XZ-CORRUPT",
            DecompressError::Corrupt { .. } => "E-GZIP-CORRUPT",
            DecompressError::Checksum {
                format: Format::Xz, ..
            } => "E-XZ-CRC",
            DecompressError::Checksum { .. } => "E-GZIP-CRC",
            DecompressError::Truncated {
                format: Format::Xz, ..
            } => "E-XZ-TRUNCATED",
            DecompressError::Truncated { .. } => "E-GZIP-TRUNCATED",
            DecompressError::OutputTooLarge { .. } => "E-UNZIP-TOOBIG",
            DecompressError::DictionaryTooSmall { .. } => "E-XZ-DICT",
            DecompressError::Unsupported { .. } => "E-XZ-UNSUPPORTED",
        }
    }

    /// What to check, for the end of the line.
    pub fn advice(&self) -> &'static str {
        match self {
            DecompressError::Corrupt { .. }
            | DecompressError::Checksum { .. }
            | DecompressError::Truncated { .. } => {
                "check the file on the server (`gzip -t` / `xz -t` it), or serve it uncompressed"
            }
            DecompressError::OutputTooLarge { .. } => {
                "the file inflates to more than the memory left for it: more memory, or a smaller file"
            }
            DecompressError::DictionaryTooSmall { .. } => {
                "recompress with a smaller dictionary (`xz -6` or lower needs 8 MiB), or give the machine more memory"
            }
            DecompressError::Unsupported { .. } => {
                "recompress with xz's defaults (`xz --check=crc64`), or serve it uncompressed"
            }
        }
    }
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecompressError::Corrupt {
                format,
                offset,
                what,
            } => write!(
                f,
                "not a valid {} file: {what} (at byte {offset})",
                format.name()
            ),
            DecompressError::Checksum {
                format,
                expected,
                actual,
            } => write!(
                f,
                "{} data decompressed but its check value is {actual:#x}, the file says {expected:#x}",
                format.name()
            ),
            DecompressError::Truncated { format, input_len } => write!(
                f,
                "the {} stream is cut short: the file ends after {input_len} bytes",
                format.name()
            ),
            DecompressError::OutputTooLarge {
                format,
                capacity,
                needed: Some(needed),
            } => write!(
                f,
                "the {} data needs {needed} bytes but its place holds {capacity}",
                format.name()
            ),
            DecompressError::OutputTooLarge {
                format,
                capacity,
                needed: None,
            } => write!(
                f,
                "the {} data decompresses to more than the {capacity} bytes of its place",
                format.name()
            ),
            DecompressError::DictionaryTooSmall {
                needed: Some(needed),
                have,
            } => write!(
                f,
                "the xz stream needs a {needed}-byte dictionary, netloader has {have} bytes for it"
            ),
            DecompressError::DictionaryTooSmall { needed: None, have } => write!(
                f,
                "an xz file, but netloader has no dictionary memory for xz ({have} bytes)"
            ),
            DecompressError::Unsupported { what, value } => {
                write!(
                    f,
                    "the xz stream uses {what} {value}, which netloader lacks"
                )
            }
        }
    }
}
