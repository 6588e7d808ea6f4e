//! Why a transfer failed, each reportable as one line.

use core::fmt;

use super::wire::{ParseError, error_code};

/// Longest server error message kept; longer ones are cut.
pub const ERROR_TEXT_CAPACITY: usize = 96;

/// A server's error message, copied into a fixed buffer (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ErrorText {
    bytes: [u8; ERROR_TEXT_CAPACITY],
    len: usize,
}

impl ErrorText {
    /// Copies `message`, cut to [`ERROR_TEXT_CAPACITY`] bytes.
    pub fn new(message: &[u8]) -> Self {
        let len = message.len().min(ERROR_TEXT_CAPACITY);
        let mut bytes = [0u8; ERROR_TEXT_CAPACITY];
        bytes[..len].copy_from_slice(&message[..len]);
        ErrorText { bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Display for ErrorText {
    /// Printable ASCII as is, anything else as `?`, so one line stays one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for &b in self.as_bytes() {
            let c = if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            };
            f.write_char(c)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// What the caller's [`Sink`](super::Sink) reports when it cannot take the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkError {
    /// The file needs `needed` bytes but the destination holds only `capacity`.
    TooLarge { needed: u64, capacity: u64 },
    /// Any other refusal, with a short reason.
    Refused(&'static str),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::TooLarge { needed, capacity } => {
                write!(
                    f,
                    "file needs {needed} bytes but the destination holds {capacity}"
                )
            }
            SinkError::Refused(reason) => f.write_str(reason),
        }
    }
}

/// Which negotiated option an [`TftpError::OptionRejected`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    Blksize,
    Windowsize,
    Tsize,
}

impl OptionKind {
    pub fn name(self) -> &'static str {
        match self {
            OptionKind::Blksize => "blksize",
            OptionKind::Windowsize => "windowsize",
            OptionKind::Tsize => "tsize",
        }
    }
}

/// The server broke the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// A packet from the server could not be parsed (only fatal in the OACK).
    Malformed(ParseError),
    /// The server sent an opcode a reading client never expects (RRQ, WRQ, ACK).
    UnexpectedOpcode(u16),
    /// An OACK although the request carried no options.
    UnrequestedOack,
    /// A DATA packet longer than the negotiated block size.
    DataTooLong {
        block: u64,
        len: usize,
        blksize: u16,
    },
    /// An OACK option value that is not a decimal number.
    BadOptionValue(OptionKind),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Malformed(e) => write!(f, "malformed packet from the server: {e}"),
            ProtocolError::UnexpectedOpcode(op) => {
                write!(f, "unexpected packet with opcode {op} from the server")
            }
            ProtocolError::UnrequestedOack => {
                f.write_str("server sent an OACK without options requested")
            }
            ProtocolError::DataTooLong {
                block,
                len,
                blksize,
            } => {
                write!(
                    f,
                    "DATA block {block} has {len} bytes, more than the block size {blksize}"
                )
            }
            ProtocolError::BadOptionValue(option) => {
                write!(f, "OACK value of {} is not a number", option.name())
            }
        }
    }
}

/// Why a transfer ended without the whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TftpError {
    /// The server sent an ERROR packet.
    Server { code: u16, message: ErrorText },
    /// The read request was never answered.
    NoResponse { attempts: u32 },
    /// The server stopped sending; `block` is the (64-bit, 1-based) block awaited.
    Timeout { block: u64, attempts: u32 },
    /// The server broke the protocol.
    Protocol(ProtocolError),
    /// The OACK granted an option value the client did not ask for (e.g. larger than
    /// requested); the client answered with ERROR 8.
    OptionRejected {
        option: OptionKind,
        requested: u64,
        offered: u64,
    },
    /// The caller's sink refused the data (file too large for its destination, ...).
    Sink(SinkError),
    /// The received length differs from the size the server announced (tsize).
    SizeMismatch { announced: u64, received: u64 },
    /// The filename is empty, contains NUL, or does not fit in a request.
    InvalidFilename,
    /// The caller's output buffer is shorter than [`super::TX_BUFFER_LEN`].
    BufferTooSmall,
    /// The caller cancelled the transfer.
    Cancelled,
}

impl TftpError {
    /// A stable short code for the one-line report (e.g. `E-TFTP-NOTFOUND`).
    pub fn code(&self) -> &'static str {
        match self {
            TftpError::Server {
                code: error_code::FILE_NOT_FOUND,
                ..
            } => "E-TFTP-NOTFOUND",
            TftpError::Server {
                code: error_code::ACCESS_VIOLATION,
                ..
            } => "E-TFTP-ACCESS",
            TftpError::Server { .. } => "E-TFTP-SERVER",
            TftpError::NoResponse { .. } => "E-TFTP-NORESPONSE",
            TftpError::Timeout { .. } => "E-TFTP-TIMEOUT",
            TftpError::Protocol(_) => "E-TFTP-PROTOCOL",
            TftpError::OptionRejected { .. } => "E-TFTP-OPTION",
            TftpError::Sink(SinkError::TooLarge { .. }) => "E-TFTP-TOOBIG",
            TftpError::Sink(_) => "E-TFTP-SINK",
            TftpError::SizeMismatch { .. } => "E-TFTP-SIZE",
            TftpError::InvalidFilename => "E-TFTP-FILENAME",
            TftpError::BufferTooSmall => "E-TFTP-BUFFER",
            TftpError::Cancelled => "E-TFTP-CANCELLED",
        }
    }
}

impl fmt::Display for TftpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TftpError::Server { code, message } => write!(
                f,
                "server error {code} ({}): {message}",
                error_code::describe(*code)
            ),
            TftpError::NoResponse { attempts } => {
                write!(f, "no answer to the read request after {attempts} attempts")
            }
            TftpError::Timeout { block, attempts } => write!(
                f,
                "timed out waiting for DATA block {block} after {attempts} retransmissions"
            ),
            TftpError::Protocol(e) => write!(f, "protocol error: {e}"),
            TftpError::OptionRejected {
                option,
                requested,
                offered,
            } => write!(
                f,
                "server offered {}={offered}, outside what was requested ({requested})",
                option.name()
            ),
            TftpError::Sink(e) => write!(f, "destination refused the file: {e}"),
            TftpError::SizeMismatch {
                announced,
                received,
            } => write!(
                f,
                "received {received} bytes but the server announced tsize {announced}"
            ),
            TftpError::InvalidFilename => {
                f.write_str("invalid filename (empty, contains NUL, or too long)")
            }
            TftpError::BufferTooSmall => f.write_str("transmit buffer too small"),
            TftpError::Cancelled => f.write_str("transfer cancelled"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn error_text_is_cut_and_sanitised() {
        let long = [b'x'; 200];
        assert_eq!(ErrorText::new(&long).as_bytes().len(), ERROR_TEXT_CAPACITY);
        assert_eq!(ErrorText::new(b"a\nb\xff").to_string(), "a?b?");
    }

    #[test]
    fn errors_print_one_line() {
        let e = TftpError::Server {
            code: 1,
            message: ErrorText::new(b"File not found"),
        };
        assert_eq!(
            e.to_string(),
            "server error 1 (file not found): File not found"
        );
        assert_eq!(e.code(), "E-TFTP-NOTFOUND");
        let e = TftpError::Timeout {
            block: 70000,
            attempts: 8,
        };
        assert_eq!(
            e.to_string(),
            "timed out waiting for DATA block 70000 after 8 retransmissions"
        );
        let e = TftpError::Sink(SinkError::TooLarge {
            needed: 10,
            capacity: 5,
        });
        assert_eq!(
            e.to_string(),
            "destination refused the file: file needs 10 bytes but the destination holds 5"
        );
        let e = TftpError::OptionRejected {
            option: OptionKind::Blksize,
            requested: 1468,
            offered: 9000,
        };
        assert_eq!(
            e.to_string(),
            "server offered blksize=9000, outside what was requested (1468)"
        );
    }
}
