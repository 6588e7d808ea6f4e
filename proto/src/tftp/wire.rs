//! TFTP packets on the wire: a parser that validates once and typed builders.
//!
//! Layouts (RFC 1350, options from RFC 2347), all integers big-endian:
//!
//! ```text
//! RRQ/WRQ  | 01/02 | filename | 0 | mode | 0 | opt1 | 0 | value1 | 0 | ...
//! DATA     | 03    | block    | data (0..=blksize bytes)
//! ACK      | 04    | block
//! ERROR    | 05    | code     | message | 0
//! OACK     | 06    | opt1 | 0 | value1 | 0 | ...
//! ```
//!
//! [`Packet::parse`] never panics: every malformed input is a [`ParseError`].

use core::fmt;

/// Opcodes (RFC 1350 section 5, OACK from RFC 2347).
pub mod opcode {
    pub const RRQ: u16 = 1;
    pub const WRQ: u16 = 2;
    pub const DATA: u16 = 3;
    pub const ACK: u16 = 4;
    pub const ERROR: u16 = 5;
    pub const OACK: u16 = 6;
}

/// Error codes of ERROR packets (RFC 1350 appendix, 8 from RFC 2347).
pub mod error_code {
    pub const NOT_DEFINED: u16 = 0;
    pub const FILE_NOT_FOUND: u16 = 1;
    pub const ACCESS_VIOLATION: u16 = 2;
    pub const DISK_FULL: u16 = 3;
    pub const ILLEGAL_OPERATION: u16 = 4;
    pub const UNKNOWN_TRANSFER_ID: u16 = 5;
    pub const FILE_EXISTS: u16 = 6;
    pub const NO_SUCH_USER: u16 = 7;
    pub const OPTION_NEGOTIATION: u16 = 8;

    /// The RFC's short description of a code, for messages.
    pub fn describe(code: u16) -> &'static str {
        match code {
            NOT_DEFINED => "not defined",
            FILE_NOT_FOUND => "file not found",
            ACCESS_VIOLATION => "access violation",
            DISK_FULL => "disk full or allocation exceeded",
            ILLEGAL_OPERATION => "illegal TFTP operation",
            UNKNOWN_TRANSFER_ID => "unknown transfer ID",
            FILE_EXISTS => "file already exists",
            NO_SUCH_USER => "no such user",
            OPTION_NEGOTIATION => "option negotiation refused",
            _ => "unknown error code",
        }
    }
}

/// Option names this client knows (matched case-insensitively, RFC 2347).
pub mod option_name {
    pub const BLKSIZE: &[u8] = b"blksize";
    pub const TSIZE: &[u8] = b"tsize";
    pub const WINDOWSIZE: &[u8] = b"windowsize";
}

/// Size of the opcode + block number header of DATA and ACK.
pub const HEADER_LEN: usize = 4;
/// Block size of RFC 1350, used when no blksize was negotiated.
pub const DEFAULT_BLKSIZE: u16 = 512;
/// Valid blksize range (RFC 2348).
pub const MIN_BLKSIZE: u16 = 8;
pub const MAX_BLKSIZE: u16 = 65464;

/// Why bytes are not a valid TFTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the fixed part of its opcode.
    Truncated,
    /// Opcode outside 1..=6.
    UnknownOpcode(u16),
    /// A string field is not terminated by a NUL byte.
    Unterminated,
    /// An option name without a value in an RRQ/WRQ/OACK.
    OptionWithoutValue,
    /// The filename or an option name is empty.
    EmptyField,
    /// Bytes after the final NUL of an ERROR packet.
    TrailingBytes,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Truncated => f.write_str("packet too short"),
            ParseError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            ParseError::Unterminated => f.write_str("string field without NUL terminator"),
            ParseError::OptionWithoutValue => f.write_str("option without a value"),
            ParseError::EmptyField => f.write_str("empty filename or option name"),
            ParseError::TrailingBytes => f.write_str("bytes after the end of the packet"),
        }
    }
}

/// A parsed packet, borrowing from the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    Rrq(Request<'a>),
    Wrq(Request<'a>),
    Data { block: u16, data: &'a [u8] },
    Ack { block: u16 },
    Error { code: u16, message: &'a [u8] },
    Oack(OptionList<'a>),
}

/// The body of an RRQ or WRQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub filename: &'a [u8],
    pub mode: &'a [u8],
    pub options: OptionList<'a>,
}

/// A validated sequence of NUL-terminated `name`, `value` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionList<'a> {
    bytes: &'a [u8],
}

impl<'a> OptionList<'a> {
    /// Checks that `bytes` is a whole number of NUL-terminated name/value pairs.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (name, after_name) = split_cstr(rest)?;
            if name.is_empty() {
                return Err(ParseError::EmptyField);
            }
            if after_name.is_empty() {
                return Err(ParseError::OptionWithoutValue);
            }
            let (_value, after_value) = split_cstr(after_name)?;
            rest = after_value;
        }
        Ok(OptionList { bytes })
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The `(name, value)` pairs in order, without their NUL terminators.
    pub fn iter(&self) -> OptionIter<'a> {
        OptionIter { rest: self.bytes }
    }

    /// The value of the first option called `name` (case-insensitive).
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Iterator over a validated [`OptionList`].
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // The list was validated, but stay total: a failure simply ends the iteration.
        let (name, rest) = split_cstr(self.rest).ok()?;
        let (value, rest) = split_cstr(rest).ok()?;
        self.rest = rest;
        Some((name, value))
    }
}

impl<'a> Packet<'a> {
    /// Parses and validates one UDP payload.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let (op, body) = split_u16(bytes)?;
        match op {
            opcode::RRQ => Ok(Packet::Rrq(parse_request(body)?)),
            opcode::WRQ => Ok(Packet::Wrq(parse_request(body)?)),
            opcode::DATA => {
                let (block, data) = split_u16(body)?;
                Ok(Packet::Data { block, data })
            }
            opcode::ACK => {
                // Trailing bytes after an ACK are tolerated: some stacks pad short frames.
                let (block, _) = split_u16(body)?;
                Ok(Packet::Ack { block })
            }
            opcode::ERROR => {
                let (code, rest) = split_u16(body)?;
                // Some servers omit the final NUL; accept a message that runs to the end.
                let message = match split_cstr(rest) {
                    Ok((message, tail)) if tail.iter().all(|&b| b == 0) => message,
                    Ok(_) => return Err(ParseError::TrailingBytes),
                    Err(_) => rest,
                };
                Ok(Packet::Error { code, message })
            }
            opcode::OACK => Ok(Packet::Oack(OptionList::new_checked(body)?)),
            other => Err(ParseError::UnknownOpcode(other)),
        }
    }
}

fn parse_request(body: &[u8]) -> Result<Request<'_>, ParseError> {
    let (filename, rest) = split_cstr(body)?;
    if filename.is_empty() {
        return Err(ParseError::EmptyField);
    }
    let (mode, rest) = split_cstr(rest)?;
    let options = OptionList::new_checked(rest)?;
    Ok(Request {
        filename,
        mode,
        options,
    })
}

fn split_u16(bytes: &[u8]) -> Result<(u16, &[u8]), ParseError> {
    match bytes {
        [hi, lo, rest @ ..] => Ok((u16::from_be_bytes([*hi, *lo]), rest)),
        _ => Err(ParseError::Truncated),
    }
}

/// Splits off a NUL-terminated string; returns it without the NUL, and what follows.
fn split_cstr(bytes: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    let nul = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(ParseError::Unterminated)?;
    let (s, rest) = bytes.split_at(nul);
    Ok((s, rest.get(1..).unwrap_or(&[])))
}

/// Parses an option value: ASCII decimal digits only, no sign, no overflow.
pub fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 20 {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Why a packet could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// The output buffer is too small for the packet.
    BufferTooSmall,
    /// A string field contains a NUL byte (or the filename is empty).
    InvalidString,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BufferTooSmall => f.write_str("output buffer too small for the packet"),
            BuildError::InvalidString => f.write_str("empty string or string containing NUL"),
        }
    }
}

/// Appends fields to a caller-supplied buffer, checking room for each.
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    fn bytes(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(BuildError::BufferTooSmall)?;
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(BuildError::BufferTooSmall)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    fn u16(&mut self, value: u16) -> Result<(), BuildError> {
        self.bytes(&value.to_be_bytes())
    }

    fn cstr(&mut self, s: &[u8]) -> Result<(), BuildError> {
        if s.contains(&0) {
            return Err(BuildError::InvalidString);
        }
        self.bytes(s)?;
        self.bytes(&[0])
    }

    fn decimal(&mut self, mut value: u64) -> Result<(), BuildError> {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.bytes(&digits[start..])?;
        self.bytes(&[0])
    }

    fn options(&mut self, options: &[(&[u8], u64)]) -> Result<(), BuildError> {
        for (name, value) in options {
            if name.is_empty() {
                return Err(BuildError::InvalidString);
            }
            self.cstr(name)?;
            self.decimal(*value)?;
        }
        Ok(())
    }
}

/// Writes an RRQ in `octet` mode with numeric options; returns its length.
pub fn build_rrq(
    out: &mut [u8],
    filename: &[u8],
    options: &[(&[u8], u64)],
) -> Result<usize, BuildError> {
    if filename.is_empty() {
        return Err(BuildError::InvalidString);
    }
    let mut w = Writer::new(out);
    w.u16(opcode::RRQ)?;
    w.cstr(filename)?;
    w.cstr(b"octet")?;
    w.options(options)?;
    Ok(w.len)
}

/// Writes a DATA packet; returns its length.
pub fn build_data(out: &mut [u8], block: u16, data: &[u8]) -> Result<usize, BuildError> {
    let mut w = Writer::new(out);
    w.u16(opcode::DATA)?;
    w.u16(block)?;
    w.bytes(data)?;
    Ok(w.len)
}

/// Writes an ACK; returns its length (always 4).
pub fn build_ack(out: &mut [u8], block: u16) -> Result<usize, BuildError> {
    let mut w = Writer::new(out);
    w.u16(opcode::ACK)?;
    w.u16(block)?;
    Ok(w.len)
}

/// Writes an ERROR packet; returns its length.
pub fn build_error(out: &mut [u8], code: u16, message: &[u8]) -> Result<usize, BuildError> {
    let mut w = Writer::new(out);
    w.u16(opcode::ERROR)?;
    w.u16(code)?;
    w.cstr(message)?;
    Ok(w.len)
}

/// Writes an OACK with numeric option values; returns its length.
pub fn build_oack(out: &mut [u8], options: &[(&[u8], u64)]) -> Result<usize, BuildError> {
    let mut w = Writer::new(out);
    w.u16(opcode::OACK)?;
    w.options(options)?;
    Ok(w.len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrq_round_trip_with_options() {
        let mut buf = [0u8; 128];
        let opts: [(&[u8], u64); 3] = [(b"blksize", 1468), (b"windowsize", 16), (b"tsize", 0)];
        let len = build_rrq(&mut buf, b"boot/kernel.elf", &opts).unwrap();
        assert_eq!(
            &buf[..len],
            b"\x00\x01boot/kernel.elf\0octet\0blksize\x001468\0windowsize\x0016\0tsize\x000\0"
        );
        let Ok(Packet::Rrq(req)) = Packet::parse(&buf[..len]) else {
            panic!()
        };
        assert_eq!(req.filename, b"boot/kernel.elf");
        assert_eq!(req.mode, b"octet");
        assert_eq!(req.options.get(b"BLKSIZE"), Some(&b"1468"[..]));
        assert_eq!(req.options.get(b"windowsize"), Some(&b"16"[..]));
        assert_eq!(req.options.iter().count(), 3);
    }

    #[test]
    fn data_ack_error_oack() {
        assert_eq!(
            Packet::parse(b"\x00\x03\x12\x34abc"),
            Ok(Packet::Data {
                block: 0x1234,
                data: b"abc"
            })
        );
        assert_eq!(
            Packet::parse(b"\x00\x03\x00\x01"),
            Ok(Packet::Data {
                block: 1,
                data: b""
            })
        );
        assert_eq!(
            Packet::parse(b"\x00\x04\xff\xff"),
            Ok(Packet::Ack { block: 0xffff })
        );
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x01File not found\0"),
            Ok(Packet::Error {
                code: 1,
                message: b"File not found"
            })
        );
        // Missing terminator and NUL padding are both tolerated.
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x02nope"),
            Ok(Packet::Error {
                code: 2,
                message: b"nope"
            })
        );
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x02nope\0\0"),
            Ok(Packet::Error {
                code: 2,
                message: b"nope"
            })
        );
        let Ok(Packet::Oack(opts)) = Packet::parse(b"\x00\x06blksize\x001428\0tsize\x0099\0")
        else {
            panic!()
        };
        assert_eq!(opts.get(b"blksize").and_then(parse_decimal), Some(1428));
        assert_eq!(opts.get(b"tsize").and_then(parse_decimal), Some(99));
        assert_eq!(opts.get(b"windowsize"), None);
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(Packet::parse(b""), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00"), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00\x03\x00"), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00\x04"), Err(ParseError::Truncated));
        assert_eq!(
            Packet::parse(b"\x00\x07\x00\x00"),
            Err(ParseError::UnknownOpcode(7))
        );
        assert_eq!(
            Packet::parse(b"\x00\x00"),
            Err(ParseError::UnknownOpcode(0))
        );
        assert_eq!(
            Packet::parse(b"\x00\x01file"),
            Err(ParseError::Unterminated)
        );
        assert_eq!(
            Packet::parse(b"\x00\x01\0octet\0"),
            Err(ParseError::EmptyField)
        );
        assert_eq!(
            Packet::parse(b"\x00\x06blksize\0"),
            Err(ParseError::OptionWithoutValue)
        );
        assert_eq!(
            Packet::parse(b"\x00\x06blksize\x00512"),
            Err(ParseError::Unterminated)
        );
        assert_eq!(
            Packet::parse(b"\x00\x06\x00512\0"),
            Err(ParseError::EmptyField)
        );
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x01a\0b"),
            Err(ParseError::TrailingBytes)
        );
    }

    #[test]
    fn decimal_values() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"-1"), None);
        assert_eq!(parse_decimal(b"12a"), None);
        assert_eq!(parse_decimal(b" 12"), None);
    }

    #[test]
    fn builders_check_room_and_strings() {
        let mut small = [0u8; 3];
        assert_eq!(build_ack(&mut small, 1), Err(BuildError::BufferTooSmall));
        let mut buf = [0u8; 64];
        assert_eq!(
            build_rrq(&mut buf, b"a\0b", &[]),
            Err(BuildError::InvalidString)
        );
        assert_eq!(
            build_rrq(&mut buf, b"", &[]),
            Err(BuildError::InvalidString)
        );
        assert_eq!(
            build_error(&mut buf, 1, b"x\0"),
            Err(BuildError::InvalidString)
        );
        let len = build_oack(&mut buf, &[(b"blksize", 8)]).unwrap();
        assert_eq!(&buf[..len], b"\x00\x06blksize\x008\0");
        let len = build_data(&mut buf, 7, b"hi").unwrap();
        assert_eq!(&buf[..len], b"\x00\x03\x00\x07hi");
    }

    /// Tiny xorshift PRNG so the property test is deterministic and needs no crate.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn parse_never_panics_on_random_or_mutated_bytes() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let seeds: [&[u8]; 5] = [
            b"\x00\x01file\0octet\0blksize\x001468\0",
            b"\x00\x03\x00\x01data",
            b"\x00\x05\x00\x01msg\0",
            b"\x00\x06tsize\x0012\0windowsize\x004\0",
            b"\x00\x04\x00\x09",
        ];
        let mut buf = [0u8; 64];
        for i in 0..200_000 {
            let len;
            if i % 2 == 0 {
                len = (next(&mut rng) % 40) as usize;
                for b in &mut buf[..len] {
                    // Bias towards small values so NULs and valid opcodes are frequent.
                    let r = next(&mut rng);
                    *b = if r.is_multiple_of(3) {
                        (r >> 8) as u8 % 8
                    } else {
                        (r >> 8) as u8
                    };
                }
            } else {
                let seed = seeds[(next(&mut rng) % seeds.len() as u64) as usize];
                len = seed.len();
                buf[..len].copy_from_slice(seed);
                for _ in 0..1 + next(&mut rng) % 3 {
                    let pos = (next(&mut rng) % len as u64) as usize;
                    buf[pos] = next(&mut rng) as u8;
                }
            }
            if let Ok(Packet::Oack(opts) | Packet::Rrq(Request { options: opts, .. })) =
                Packet::parse(&buf[..len])
            {
                for (_, value) in opts.iter() {
                    let _ = parse_decimal(value);
                }
            }
        }
    }
}
