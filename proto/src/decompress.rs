//! Files decompressed while they stream in: a [`Sink`] that takes a file's bytes in order, in any
//! chunking, recognises gzip and xz by their magic numbers and writes the decompressed bytes to
//! an output slice (anything else is copied unchanged), as GRUB's gzio/xzio file filters do for
//! `multiboot`, `module` and `linux` files.
//!
//! - **gzip** (RFC 1952): the header (FEXTRA, FNAME, FCOMMENT, FHCRC) and the trailer (CRC-32,
//!   ISIZE) are parsed here; the deflate data in between is inflated by `miniz_oxide`'s
//!   allocation-free core straight into the output slice. Several members in a row decompress
//!   to their concatenation, as gzip(1) does; bytes after the last member that do not start a
//!   member are ignored and counted ([`Summary::trailing_bytes`]), as gzip(1) ignores them with a
//!   warning.
//! - **xz**: `xz4rust`, with a dictionary the caller lends ([`Scratch::with_xz_dictionary`]):
//!   an xz file needs as much as its encoder used (`xz -6`, the default: 8 MiB; `xz -9`:
//!   64 MiB), so the runtime takes it from the load planner above 1 MiB. Checks: none, CRC-32,
//!   CRC-64 (SHA-256 is refused as unsupported). Filters: LZMA2 with BCJ (x86 and others) and
//!   delta. Streams in a row, with zero padding (a multiple of 4 bytes) between them, as xz(1)
//!   takes them.
//!
//! The decoders' state (about 11 KB for inflate, 32 KB for xz) lives in a [`Scratch`] the caller
//! owns, so that nothing large moves on the stack per file. When the transfer has ended, the
//! caller asks [`DecompressSink::finish`] whether the stream was whole. A refusal during the
//! transfer is a [`SinkError::Refused`] carrying the error's code; the typed error is kept
//! ([`DecompressSink::error`]) for the one-line report.

mod error;
mod gzip;
mod xz;

#[cfg(test)]
mod tests;

use miniz_oxide::inflate::core::DecompressorOxide;
use xz4rust::XzDecoder;

pub use error::DecompressError;
pub use xz::{XzDictionary, xz_dictionary_size};

use crate::tftp::{Sink, SinkError};

/// What a file turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Neither gzip nor xz: copied unchanged.
    Plain,
    Gzip,
    Xz,
}

impl Format {
    /// What a file whose first bytes are `prefix` is: gzip (`1F 8B`), xz (`FD 37 7A 58 5A 00`)
    /// or anything else (plain); None while `prefix` could still become a magic number (fewer
    /// than 6 bytes that begin one, or none at all).
    pub fn detect(prefix: &[u8]) -> Option<Format> {
        if prefix.starts_with(&GZIP_MAGIC) {
            Some(Format::Gzip)
        } else if prefix.starts_with(&XZ_MAGIC) {
            Some(Format::Xz)
        } else if GZIP_MAGIC.starts_with(prefix) || XZ_MAGIC.starts_with(prefix) {
            None
        } else {
            Some(Format::Plain)
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Plain => "uncompressed",
            Format::Gzip => "gzip",
            Format::Xz => "xz",
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];

/// The decoders' working memory, owned by the caller and reused from file to file.
pub struct Scratch<'d> {
    inflate: DecompressorOxide,
    /// None: no dictionary was lent, xz files are refused.
    xz: Option<XzDecoder<'d>>,
    xz_dictionary_len: usize,
}

impl Default for Scratch<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'d> Scratch<'d> {
    /// For gzip only: an xz file is refused ([`DecompressError::DictionaryTooSmall`]).
    pub fn new() -> Self {
        Scratch {
            inflate: DecompressorOxide::new(),
            xz: None,
            xz_dictionary_len: 0,
        }
    }

    /// For gzip and for xz files whose dictionary fits in `dictionary`.
    pub fn with_xz_dictionary(dictionary: &'d mut [u8]) -> Self {
        let xz_dictionary_len = dictionary.len();
        Scratch {
            inflate: DecompressorOxide::new(),
            xz: Some(XzDecoder::with_fixed_size_dict(dictionary)),
            xz_dictionary_len,
        }
    }

    /// The size of the lent xz dictionary (0: none).
    pub fn xz_dictionary_len(&self) -> usize {
        self.xz_dictionary_len
    }
}

/// What [`DecompressSink::finish`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub format: Format,
    /// Compressed bytes taken in (the file's size).
    pub input_len: u64,
    /// Bytes written to the output slice, from its start.
    pub output_len: usize,
    /// gzip members or xz streams (0 for a plain file).
    pub members: u32,
    /// gzip only: bytes after the last member that were ignored (gzip(1) warns about them).
    pub trailing_bytes: u64,
}

/// The output slice and how much of it holds decompressed bytes.
struct Output<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Output<'_> {
    fn capacity(&self) -> usize {
        self.buf.len()
    }

    fn copy(&mut self, data: &[u8], format: Format) -> Result<(), DecompressError> {
        let end = self.len.saturating_add(data.len());
        let Some(to) = self.buf.get_mut(self.len..end) else {
            return Err(DecompressError::OutputTooLarge {
                format,
                capacity: self.capacity() as u64,
                needed: Some(end as u64),
            });
        };
        to.copy_from_slice(data);
        self.len = end;
        Ok(())
    }
}

enum Stage {
    /// Collecting the first bytes until the magic number decides (at most 6).
    Detect {
        prefix: [u8; 6],
        len: usize,
    },
    Plain,
    Gzip(gzip::GzipStream),
    Xz(xz::XzStream),
}

/// A [`Sink`] that decompresses gzip and xz files into `output` and copies anything else.
pub struct DecompressSink<'a, 'd> {
    output: Output<'a>,
    scratch: &'a mut Scratch<'d>,
    stage: Stage,
    /// Compressed bytes taken in so far.
    input_len: u64,
    /// The file's size, if the server announced it (TFTP tsize).
    announced: Option<u64>,
    error: Option<DecompressError>,
}

impl<'a, 'd> DecompressSink<'a, 'd> {
    pub fn new(output: &'a mut [u8], scratch: &'a mut Scratch<'d>) -> Self {
        DecompressSink {
            output: Output {
                buf: output,
                len: 0,
            },
            scratch,
            stage: Stage::Detect {
                prefix: [0; 6],
                len: 0,
            },
            input_len: 0,
            announced: None,
            error: None,
        }
    }

    /// Bytes written to the output so far.
    pub fn output_len(&self) -> usize {
        self.output.len
    }

    /// The decompressed bytes so far.
    pub fn output(&self) -> &[u8] {
        &self.output.buf[..self.output.len]
    }

    /// The format, once the first bytes have decided it.
    pub fn format(&self) -> Option<Format> {
        match self.stage {
            Stage::Detect { .. } => None,
            Stage::Plain => Some(Format::Plain),
            Stage::Gzip(_) => Some(Format::Gzip),
            Stage::Xz(_) => Some(Format::Xz),
        }
    }

    /// Why the data was refused, if it was.
    pub fn error(&self) -> Option<DecompressError> {
        self.error
    }

    /// Takes the next bytes of the file (what [`Sink::write_at`] does, without the offset).
    pub fn push(&mut self, data: &[u8]) -> Result<(), DecompressError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let result = self.feed(data);
        self.input_len += data.len() as u64;
        if let Err(error) = result {
            self.error = Some(error);
        }
        result
    }

    /// After the last byte: checks that the stream ended where the file ended.
    pub fn finish(&mut self) -> Result<Summary, DecompressError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let result = self.end_of_input();
        if let Err(error) = result {
            self.error = Some(error);
        }
        result
    }

    fn end_of_input(&mut self) -> Result<Summary, DecompressError> {
        if let Stage::Detect { prefix, len } = self.stage {
            // Shorter than a magic number: a (tiny) plain file.
            self.stage = Stage::Plain;
            self.output.copy(&prefix[..len], Format::Plain)?;
        }
        let mut summary = Summary {
            format: Format::Plain,
            input_len: self.input_len,
            output_len: self.output.len,
            members: 0,
            trailing_bytes: 0,
        };
        match &self.stage {
            Stage::Detect { .. } | Stage::Plain => {}
            Stage::Gzip(gzip) => {
                let ended = gzip.finish(self.input_len)?;
                summary.format = Format::Gzip;
                summary.members = ended.members;
                summary.trailing_bytes = ended.trailing_bytes;
            }
            Stage::Xz(xz) => {
                summary.format = Format::Xz;
                summary.members = xz.finish(self.input_len)?;
            }
        }
        Ok(summary)
    }

    fn feed(&mut self, mut input: &[u8]) -> Result<(), DecompressError> {
        let mut at = self.input_len;
        while !input.is_empty() {
            let used = match &mut self.stage {
                Stage::Detect { prefix, len } => {
                    prefix[*len] = input[0];
                    *len += 1;
                    if let Some(format) = Format::detect(&prefix[..*len]) {
                        let (prefix, len) = (*prefix, *len);
                        self.start(format)?;
                        // The bytes that decided go through the chosen stage (at their own
                        // offset, for error messages).
                        self.feed_decided(&prefix[..len], at + 1 - len as u64)?;
                    }
                    1
                }
                _ => self.feed_decided(input, at)?,
            };
            input = &input[used..];
            at += used as u64;
        }
        Ok(())
    }

    fn start(&mut self, format: Format) -> Result<(), DecompressError> {
        self.stage = match format {
            // A plain file is as large as announced: refuse it now rather than after the
            // transfer of what cannot fit.
            Format::Plain => match self.announced {
                Some(size) if size > self.output.capacity() as u64 => {
                    return Err(DecompressError::OutputTooLarge {
                        format,
                        capacity: self.output.capacity() as u64,
                        needed: Some(size),
                    });
                }
                _ => Stage::Plain,
            },
            Format::Gzip => Stage::Gzip(gzip::GzipStream::new()),
            Format::Xz => {
                let Some(decoder) = self.scratch.xz.as_mut() else {
                    return Err(DecompressError::DictionaryTooSmall {
                        needed: None,
                        have: 0,
                    });
                };
                decoder.reset();
                Stage::Xz(xz::XzStream::new())
            }
        };
        Ok(())
    }

    /// Feeds `input` (which starts at file offset `at`) to the decided stage; returns how much
    /// it took (all of it, once a format is decided).
    fn feed_decided(&mut self, mut input: &[u8], mut at: u64) -> Result<usize, DecompressError> {
        let total = input.len();
        while !input.is_empty() {
            let used = match &mut self.stage {
                Stage::Detect { .. } => return Ok(total - input.len()),
                Stage::Plain => {
                    self.output.copy(input, Format::Plain)?;
                    input.len()
                }
                Stage::Gzip(gzip) => {
                    gzip.feed(input, at, &mut self.output, &mut self.scratch.inflate)?
                }
                Stage::Xz(xz) => {
                    let Some(decoder) = self.scratch.xz.as_mut() else {
                        // `start` refused xz without a decoder already.
                        return Err(DecompressError::DictionaryTooSmall {
                            needed: None,
                            have: 0,
                        });
                    };
                    xz.feed(
                        input,
                        at,
                        &mut self.output,
                        decoder,
                        self.scratch.xz_dictionary_len,
                    )?
                }
            };
            input = &input[used..];
            at += used as u64;
        }
        Ok(total)
    }
}

impl Sink for DecompressSink<'_, '_> {
    /// Kept until the first bytes tell the format: a plain file larger than its place is then
    /// refused at once (a compressed one's size says nothing of its output).
    fn size_hint(&mut self, size: u64) -> Result<(), SinkError> {
        self.announced = Some(size);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError> {
        if offset != self.input_len {
            return Err(SinkError::Refused(
                "the decompressing sink takes bytes in order only",
            ));
        }
        self.push(data).map_err(|e| SinkError::Refused(e.code()))
    }
}
