//! gzip (RFC 1952) members as they stream in: the header parsed byte by byte (it may arrive
//! split anywhere), the deflate data inflated into the output, the trailer checked.
//!
//! By hand rather than a crate: the gzip crates that parse headers (flate2, libflate) need std
//! or alloc; miniz_oxide's core inflates raw deflate only.

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};

use super::{DecompressError, Format, GZIP_MAGIC, Output};
use crate::crc32::Crc32;

/// Header flag bits (FLG).
const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
/// Bits 5-7 are reserved: gzip(1) refuses a member that sets them.
const FRESERVED: u8 = 0xE0;
/// CM: the only method defined.
const CM_DEFLATE: u8 = 8;
/// ID1 ID2 CM FLG MTIME(4) XFL OS.
const FIXED_HEADER_LEN: usize = 10;
const TRAILER_LEN: usize = 8;

#[derive(Clone, Copy, Debug)]
enum HeaderPart {
    Fixed,
    ExtraLen,
    Extra { left: u16 },
    Name,
    Comment,
    HeaderCrc,
}

#[derive(Clone, Copy, Debug)]
struct Header {
    part: HeaderPart,
    /// Bytes of the current part collected so far (fixed header, XLEN, CRC16).
    bytes: [u8; FIXED_HEADER_LEN],
    len: usize,
    flags: u8,
    /// CRC-32 of the header so far (FHCRC holds its low 16 bits).
    crc: Crc32,
    /// Bytes of the header taken (to tell trailing bytes from a next member).
    taken: u64,
}

impl Header {
    fn new() -> Self {
        Header {
            part: HeaderPart::Fixed,
            bytes: [0; FIXED_HEADER_LEN],
            len: 0,
            flags: 0,
            crc: Crc32::new(),
            taken: 0,
        }
    }

    /// Takes one byte; Ok(true) once the header is complete.
    fn push(&mut self, byte: u8, at: u64) -> Result<bool, HeaderError> {
        self.taken += 1;
        let corrupt = |what| HeaderError::Corrupt { offset: at, what };
        match self.part {
            HeaderPart::Fixed => {
                self.crc.update(&[byte]);
                self.bytes[self.len] = byte;
                self.len += 1;
                if self.len <= GZIP_MAGIC.len() && byte != GZIP_MAGIC[self.len - 1] {
                    return Err(HeaderError::NotGzip);
                }
                if self.len < FIXED_HEADER_LEN {
                    return Ok(false);
                }
                if self.bytes[2] != CM_DEFLATE {
                    return Err(HeaderError::Corrupt {
                        offset: at + 3 - FIXED_HEADER_LEN as u64,
                        what: "compression method is not deflate",
                    });
                }
                self.flags = self.bytes[3];
                if self.flags & FRESERVED != 0 {
                    return Err(HeaderError::Corrupt {
                        offset: at + 4 - FIXED_HEADER_LEN as u64,
                        what: "reserved header flags are set",
                    });
                }
                self.len = 0;
                self.next_after(0)
            }
            HeaderPart::ExtraLen => {
                self.crc.update(&[byte]);
                self.bytes[self.len] = byte;
                self.len += 1;
                if self.len < 2 {
                    return Ok(false);
                }
                let left = u16::from_le_bytes([self.bytes[0], self.bytes[1]]);
                self.len = 0;
                if left == 0 {
                    return self.next_after(FEXTRA);
                }
                self.part = HeaderPart::Extra { left };
                Ok(false)
            }
            HeaderPart::Extra { left } => {
                self.crc.update(&[byte]);
                if left > 1 {
                    self.part = HeaderPart::Extra { left: left - 1 };
                    return Ok(false);
                }
                self.next_after(FEXTRA)
            }
            HeaderPart::Name | HeaderPart::Comment => {
                self.crc.update(&[byte]);
                if byte != 0 {
                    return Ok(false);
                }
                let done = match self.part {
                    HeaderPart::Name => FNAME,
                    _ => FCOMMENT,
                };
                self.next_after(done)
            }
            HeaderPart::HeaderCrc => {
                self.bytes[self.len] = byte;
                self.len += 1;
                if self.len < 2 {
                    return Ok(false);
                }
                let stored = u16::from_le_bytes([self.bytes[0], self.bytes[1]]);
                if stored != self.crc.value() as u16 {
                    return Err(corrupt("the header's CRC-16 (FHCRC) is wrong"));
                }
                Ok(true)
            }
        }
    }

    /// Moves to the first optional part after the flag bit `done` (0: the fixed part) that the
    /// header has, in the RFC's order; Ok(true) when none is left.
    fn next_after(&mut self, done: u8) -> Result<bool, HeaderError> {
        let parts = [
            (FEXTRA, HeaderPart::ExtraLen),
            (FNAME, HeaderPart::Name),
            (FCOMMENT, HeaderPart::Comment),
            (FHCRC, HeaderPart::HeaderCrc),
        ];
        // The parts come in the order of their flag bits except FHCRC (bit 1), which is last.
        let order = |flag: u8| if flag == FHCRC { 0x100 } else { flag as u16 };
        let next = parts
            .iter()
            .find(|(flag, _)| self.flags & flag != 0 && order(*flag) > order(done));
        match next {
            Some((_, part)) => {
                self.part = *part;
                self.len = 0;
                Ok(false)
            }
            None => Ok(true),
        }
    }
}

enum HeaderError {
    /// The first two bytes are not the gzip magic (after a member: trailing bytes).
    NotGzip,
    Corrupt {
        offset: u64,
        what: &'static str,
    },
}

#[derive(Debug)]
enum State {
    Header(Header),
    Deflate,
    Trailer {
        bytes: [u8; TRAILER_LEN],
        len: usize,
    },
    /// After a member whose next bytes turned out not to be a member: ignored to the end.
    Trailing,
}

/// A gzip file: one or more members, then perhaps ignored trailing bytes.
#[derive(Debug)]
pub(super) struct GzipStream {
    state: State,
    /// CRC-32 of the current member's output.
    crc: Crc32,
    /// Output offset where the current member's data starts.
    member_start: usize,
    /// Members whose trailer checked out.
    members: u32,
    trailing_bytes: u64,
}

pub(super) struct Ended {
    pub members: u32,
    pub trailing_bytes: u64,
}

impl GzipStream {
    pub(super) fn new() -> Self {
        GzipStream {
            state: State::Header(Header::new()),
            crc: Crc32::new(),
            member_start: 0,
            members: 0,
            trailing_bytes: 0,
        }
    }

    /// Takes bytes from `input` (which starts at file offset `at`); returns how many, or why the
    /// stream is refused. Each call takes a byte or moves to the next state (inflate may end a
    /// member on bits it already holds), so a caller's loop always ends.
    pub(super) fn feed(
        &mut self,
        input: &[u8],
        at: u64,
        output: &mut Output<'_>,
        inflate: &mut DecompressorOxide,
    ) -> Result<usize, DecompressError> {
        let corrupt = |offset, what| DecompressError::Corrupt {
            format: Format::Gzip,
            offset,
            what,
        };
        match &mut self.state {
            State::Header(header) => {
                let mut used = 0;
                for &byte in input {
                    used += 1;
                    match header.push(byte, at + used as u64 - 1) {
                        Ok(false) => {}
                        Ok(true) => {
                            inflate.init();
                            self.crc = Crc32::new();
                            self.member_start = output.len;
                            self.state = State::Deflate;
                            break;
                        }
                        // The first member's magic was checked before this stream began, so
                        // only bytes after a member can fail to be one: gzip(1) ignores them.
                        Err(HeaderError::NotGzip) => {
                            self.trailing_bytes = header.taken;
                            self.state = State::Trailing;
                            break;
                        }
                        Err(HeaderError::Corrupt { offset, what }) => {
                            return Err(corrupt(offset, what));
                        }
                    }
                }
                Ok(used)
            }
            State::Deflate if output.len == output.capacity() => {
                // The place is full: only the end of the deflate data may follow. Inflate cannot
                // say so before it decodes the next symbol, and it needs room to decode into, so
                // a one-byte buffer stands in (wrapping: a match writes into it and is caught
                // as output, rather than failing as a distance too far back).
                let mut probe = [0u8; 1];
                let (status, used, produced) =
                    decompress(inflate, input, &mut probe, 0, TINFL_FLAG_HAS_MORE_INPUT);
                let too_large = DecompressError::OutputTooLarge {
                    format: Format::Gzip,
                    capacity: output.capacity() as u64,
                    needed: None,
                };
                match status {
                    _ if produced > 0 => Err(too_large),
                    TINFLStatus::HasMoreOutput => Err(too_large),
                    TINFLStatus::Done => {
                        self.state = State::Trailer {
                            bytes: [0; TRAILER_LEN],
                            len: 0,
                        };
                        Ok(used)
                    }
                    TINFLStatus::NeedsMoreInput if used > 0 => Ok(used),
                    _ => Err(corrupt(at + input.len() as u64, "invalid deflate data")),
                }
            }
            State::Deflate => {
                let before = output.len;
                // The member's own output only: a distance reaching back into an earlier
                // member is corrupt data, as gzip(1) sees it.
                let member = &mut output.buf[self.member_start..];
                let (status, used, produced) = decompress(
                    inflate,
                    input,
                    member,
                    before - self.member_start,
                    TINFL_FLAG_HAS_MORE_INPUT | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
                );
                output.len += produced;
                self.crc.update(&output.buf[before..output.len]);
                let chunk_end = at + input.len() as u64;
                match status {
                    TINFLStatus::Done => {
                        self.state = State::Trailer {
                            bytes: [0; TRAILER_LEN],
                            len: 0,
                        };
                        Ok(used)
                    }
                    // All of the input went into the bit buffer (inflate returns this status only
                    // when its input has run out).
                    TINFLStatus::NeedsMoreInput if used > 0 => Ok(used),
                    // The place filled up: the next call decides whether the data ends there
                    // (the arm above).
                    TINFLStatus::HasMoreOutput if output.len == output.capacity() => Ok(used),
                    TINFLStatus::HasMoreOutput => Err(DecompressError::OutputTooLarge {
                        format: Format::Gzip,
                        capacity: output.capacity() as u64,
                        needed: None,
                    }),
                    _ => Err(corrupt(chunk_end, "invalid deflate data")),
                }
            }
            State::Trailer { bytes, len } => {
                let take = (TRAILER_LEN - *len).min(input.len());
                bytes[*len..*len + take].copy_from_slice(&input[..take]);
                *len += take;
                if *len < TRAILER_LEN {
                    return Ok(take);
                }
                let stored_crc = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                let stored_size = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                if stored_crc != self.crc.value() {
                    return Err(DecompressError::Checksum {
                        format: Format::Gzip,
                        expected: stored_crc.into(),
                        actual: self.crc.value().into(),
                    });
                }
                // ISIZE is the member's length modulo 2^32.
                if stored_size != (output.len - self.member_start) as u32 {
                    return Err(corrupt(
                        at + take as u64 - 4,
                        "the length in the trailer differs from the inflated data",
                    ));
                }
                self.members += 1;
                self.state = State::Header(Header::new());
                Ok(take)
            }
            State::Trailing => {
                self.trailing_bytes += input.len() as u64;
                Ok(input.len())
            }
        }
    }

    /// At the end of the file (after `input_len` bytes): whole members only.
    pub(super) fn finish(&self, input_len: u64) -> Result<Ended, DecompressError> {
        let ended = Ended {
            members: self.members,
            trailing_bytes: self.trailing_bytes,
        };
        match &self.state {
            State::Trailing => Ok(ended),
            // After a member, a lone byte that might have begun another is trailing too.
            State::Header(header) if self.members > 0 && header.taken < 2 => Ok(Ended {
                trailing_bytes: header.taken,
                ..ended
            }),
            _ => Err(DecompressError::Truncated {
                format: Format::Gzip,
                input_len,
            }),
        }
    }
}
