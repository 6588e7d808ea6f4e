//! The chunked transfer coding (RFC 9112 section 7.1), decoded as bytes arrive: in any
//! pieces, with chunk extensions and trailers skipped. Bare LF line ends are accepted (as
//! most clients do); anything else out of place is an error.
//!
//! Written by hand: `httparse::parse_chunk_size` wants the whole size line in one buffer,
//! and a line can be split across TCP segments here.

/// Longest chunk-size in hex digits (a u64).
const MAX_SIZE_DIGITS: u8 = 16;
/// Bytes of trailer fields tolerated after the last chunk.
const MAX_TRAILER: u32 = 8 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// A chunk-size line without hex digits, or with a stray byte.
    BadSize,
    /// A chunk-size larger than 64 bits.
    SizeOverflow,
    /// Chunk data not followed by CRLF.
    MissingCrlf,
    TrailerTooLong,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits; `digits` so far.
    Size {
        digits: u8,
    },
    /// After the digits: whitespace, `;ext`, up to the line end.
    Extension,
    /// CR seen at the end of the size line.
    SizeLf,
    Data,
    /// After the data: CR LF expected.
    DataCr,
    DataLf,
    /// After the last chunk: trailer lines until an empty one.
    TrailerLineStart,
    TrailerLine,
    TrailerEndLf,
    Done,
}

#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// The size being read, then the data bytes left in the chunk.
    remaining: u64,
    trailer: u32,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            remaining: 0,
            trailer: 0,
        }
    }

    /// The last chunk and the trailer have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads framing from `input` until body data or the end: returns how many bytes were
    /// consumed and the body bytes among them (a sub-slice of `input`, the last bytes
    /// consumed). Call again with the rest until all is consumed or [`Self::is_done`].
    pub fn decode<'i>(&mut self, input: &'i [u8]) -> Result<(usize, &'i [u8]), ChunkError> {
        let mut at = 0;
        while let Some(&byte) = input.get(at) {
            if self.state == State::Data {
                let take =
                    (input.len() - at).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                let data = input.get(at..at + take).unwrap_or(&[]);
                return Ok((at + take, data));
            }
            if self.state == State::Done {
                break;
            }
            at += 1;
            self.state = match (self.state, byte) {
                (State::Size { digits }, b) if b.is_ascii_hexdigit() => {
                    if digits >= MAX_SIZE_DIGITS {
                        return Err(ChunkError::SizeOverflow);
                    }
                    let value = (b as char).to_digit(16).unwrap_or(0);
                    self.remaining = self.remaining << 4 | u64::from(value);
                    State::Size { digits: digits + 1 }
                }
                (State::Size { digits: 0 }, _) => return Err(ChunkError::BadSize),
                (State::Size { .. }, b';' | b' ' | b'\t') => State::Extension,
                (State::Size { .. } | State::Extension, b'\r') => State::SizeLf,
                (State::Size { .. } | State::Extension | State::SizeLf, b'\n') => {
                    self.after_size_line()
                }
                (State::Size { .. } | State::SizeLf, _) => return Err(ChunkError::BadSize),
                (State::Extension, _) => State::Extension,
                (State::DataCr, b'\r') => State::DataLf,
                (State::DataCr | State::DataLf, b'\n') => State::Size { digits: 0 },
                (State::DataCr | State::DataLf, _) => return Err(ChunkError::MissingCrlf),
                (State::TrailerLineStart, b'\r') => State::TrailerEndLf,
                (State::TrailerLineStart | State::TrailerEndLf, b'\n') => State::Done,
                (State::TrailerEndLf, _) => return Err(ChunkError::MissingCrlf),
                (State::TrailerLineStart | State::TrailerLine, b) => {
                    self.trailer += 1;
                    if self.trailer > MAX_TRAILER {
                        return Err(ChunkError::TrailerTooLong);
                    }
                    if b == b'\n' {
                        State::TrailerLineStart
                    } else {
                        State::TrailerLine
                    }
                }
                (State::Data | State::Done, _) => self.state,
            };
        }
        Ok((at, &[]))
    }

    fn after_size_line(&mut self) -> State {
        if self.remaining == 0 {
            State::TrailerLineStart
        } else {
            State::Data
        }
    }
}
