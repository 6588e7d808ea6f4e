//! xz streams as they stream in, through `xz4rust` (a port of xz-embedded, which Linux's own
//! decompressor uses): it keeps partial headers and LZMA2 chunks in its own buffers, so any
//! chunking works; this module adds stream padding, streams in a row, and typed errors.

use xz4rust::{XzDecoder, XzError, XzNextBlockResult};

use super::{DecompressError, Format, Output, XZ_MAGIC};

/// What the start of an xz file says about the dictionary its decoder needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XzDictionary {
    /// The first block's header has not all arrived yet.
    NeedMore,
    /// The first block's LZMA2 dictionary size in bytes (0: the stream has no block).
    Size(u64),
    /// Not readable here: not an xz file, or a header this reader does not follow (the
    /// decoder will say what is wrong with it).
    Unknown,
}

/// Reads the dictionary size an xz file needs from its first bytes: the stream header (12
/// bytes), then the first block header, whose last filter is LZMA2 with its one property byte
/// (xz's file format, 3.1 and 5.3.1). A loader lends a dictionary that large before the data
/// arrives; later streams of the same file may ask for more (the decoder then refuses them).
pub fn xz_dictionary_size(prefix: &[u8]) -> XzDictionary {
    const STREAM_HEADER: usize = 12;
    const LZMA2: u64 = 0x21;
    if !prefix.starts_with(&XZ_MAGIC[..prefix.len().min(XZ_MAGIC.len())]) {
        return XzDictionary::Unknown;
    }
    let Some(&size_byte) = prefix.get(STREAM_HEADER) else {
        return XzDictionary::NeedMore;
    };
    if size_byte == 0 {
        // The index follows at once: a stream without blocks decodes to nothing.
        return XzDictionary::Size(0);
    }
    let header_len = (usize::from(size_byte) + 1) * 4;
    let Some(header) = prefix.get(STREAM_HEADER..STREAM_HEADER + header_len) else {
        return XzDictionary::NeedMore;
    };
    let unknown = XzDictionary::Unknown;
    let flags = header[1];
    let mut at = 2;
    // A variable-length integer: 7 bits a byte, at most 9 bytes.
    let varint = |at: &mut usize| -> Option<u64> {
        let mut value = 0u64;
        for i in 0..9 {
            let byte = *header.get(*at)?;
            *at += 1;
            value |= u64::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    };
    // Compressed and uncompressed sizes, when present.
    for present in [flags & 0x40 != 0, flags & 0x80 != 0] {
        if present && varint(&mut at).is_none() {
            return unknown;
        }
    }
    let filters = usize::from(flags & 0x03) + 1;
    let mut last = None;
    for _ in 0..filters {
        let (Some(id), Some(props_len)) = (varint(&mut at), varint(&mut at)) else {
            return unknown;
        };
        let Some(props) = header.get(at..at.saturating_add(props_len as usize)) else {
            return unknown;
        };
        at += props.len();
        last = Some((id, props));
    }
    match last {
        Some((LZMA2, &[props])) if props <= 40 => XzDictionary::Size(if props == 40 {
            u64::from(u32::MAX)
        } else {
            (2 | u64::from(props & 1)) << (props / 2 + 11)
        }),
        _ => unknown,
    }
}

#[derive(Debug)]
enum State {
    /// Inside a stream (from its header to its footer); the first `magic_left` bytes still to
    /// come must be the end of the magic number (checked here, so that bytes after a stream
    /// that are not one are named as such rather than as a stream cut short).
    Stream { magic_left: usize },
    /// After a stream: zero bytes (stream padding) so far; a non-zero byte starts a stream.
    Padding { zeros: u64 },
}

#[derive(Debug)]
pub(super) struct XzStream {
    state: State,
    /// Streams whose footer checked out.
    streams: u32,
}

impl XzStream {
    pub(super) fn new() -> Self {
        XzStream {
            // The first stream's magic number is what chose this decoder.
            state: State::Stream { magic_left: 0 },
            streams: 0,
        }
    }

    /// Takes bytes from `input` (which starts at file offset `at`); returns how many, or why
    /// the stream is refused. Each call takes a byte or ends a stream, so a caller's loop ends.
    pub(super) fn feed(
        &mut self,
        input: &[u8],
        at: u64,
        output: &mut Output<'_>,
        decoder: &mut XzDecoder<'_>,
        dictionary_len: usize,
    ) -> Result<usize, DecompressError> {
        let chunk_end = at + input.len() as u64;
        match self.state {
            State::Padding { zeros } => {
                let padding = input.iter().take_while(|&&b| b == 0).count();
                self.state = State::Padding {
                    zeros: zeros + padding as u64,
                };
                if padding < input.len() {
                    // xz(1): stream padding comes in multiples of 4 bytes.
                    if !(zeros + padding as u64).is_multiple_of(4) {
                        return Err(DecompressError::Corrupt {
                            format: Format::Xz,
                            offset: at + padding as u64,
                            what: "stream padding is not a multiple of 4 bytes",
                        });
                    }
                    decoder.reset();
                    self.state = State::Stream {
                        magic_left: XZ_MAGIC.len(),
                    };
                }
                Ok(padding)
            }
            State::Stream { magic_left } => {
                let checked = magic_left.min(input.len());
                let expected = &XZ_MAGIC[XZ_MAGIC.len() - magic_left..][..checked];
                if input[..checked] != *expected {
                    return Err(DecompressError::Corrupt {
                        format: Format::Xz,
                        offset: at,
                        what: "data after the last stream is not an xz stream",
                    });
                }
                self.state = State::Stream {
                    magic_left: magic_left - checked,
                };
                let spare = &mut output.buf[output.len..];
                let spare_len = spare.len();
                let result = decoder.decode(input, spare);
                let (used, produced) = match &result {
                    Ok(r) => (r.input_consumed(), r.output_produced()),
                    Err(_) => (0, 0),
                };
                output.len += produced;
                match result {
                    Ok(XzNextBlockResult::EndOfStream(..)) => {
                        self.streams += 1;
                        self.state = State::Padding { zeros: 0 };
                        Ok(used)
                    }
                    Ok(XzNextBlockResult::NeedMoreData(..)) if used > 0 || produced > 0 => Ok(used),
                    // No progress: with input left, only a full output stops the decoder.
                    Ok(XzNextBlockResult::NeedMoreData(..))
                    | Err(XzError::NeedsLargerInputBuffer)
                        if spare_len == produced =>
                    {
                        Err(DecompressError::OutputTooLarge {
                            format: Format::Xz,
                            capacity: output.capacity() as u64,
                            needed: None,
                        })
                    }
                    Ok(XzNextBlockResult::NeedMoreData(..)) => Err(DecompressError::Corrupt {
                        format: Format::Xz,
                        offset: chunk_end,
                        what: "the decoder took no input (internal)",
                    }),
                    Err(error) => Err(typed(error, chunk_end, dictionary_len)),
                }
            }
        }
    }

    /// At the end of the file (after `input_len` bytes): whole streams only.
    pub(super) fn finish(&self, input_len: u64) -> Result<u32, DecompressError> {
        match self.state {
            State::Padding { zeros } if zeros.is_multiple_of(4) => Ok(self.streams),
            State::Padding { .. } => Err(DecompressError::Corrupt {
                format: Format::Xz,
                offset: input_len,
                what: "stream padding is not a multiple of 4 bytes",
            }),
            State::Stream { .. } => Err(DecompressError::Truncated {
                format: Format::Xz,
                input_len,
            }),
        }
    }
}

/// xz4rust's error as one of ours.
fn typed(error: XzError, offset: u64, dictionary_len: usize) -> DecompressError {
    let corrupt = |what| DecompressError::Corrupt {
        format: Format::Xz,
        offset,
        what,
    };
    let checksum = |expected: u64, actual: u64| DecompressError::Checksum {
        format: Format::Xz,
        expected,
        actual,
    };
    let unsupported = |what, value| DecompressError::Unsupported { what, value };
    match error {
        XzError::DictionaryTooLarge(needed) => DecompressError::DictionaryTooSmall {
            needed: Some(needed),
            have: dictionary_len as u64,
        },
        XzError::ContentCrc32Mismatch(actual, expected) => checksum(expected.into(), actual.into()),
        XzError::ContentCrc64Mismatch(actual, expected) => checksum(expected, actual),
        XzError::UnsupportedCheckType(kind) => unsupported("check type", kind),
        XzError::Sha256NotSupported => unsupported("check type", 10),
        XzError::UnsupportedBcjFilter(filter) => unsupported("BCJ filter", filter),
        XzError::UnsupportedLzmaProperties(properties) => {
            unsupported("LZMA properties", properties)
        }
        XzError::UnsupportedStreamHeaderOption => unsupported("stream flags", 0),
        XzError::UnsupportedBlockHeaderOption => unsupported("block header options", 0),
        XzError::StreamHeaderMagicNumberMismatch => {
            corrupt("no xz stream header where one must be")
        }
        XzError::StreamHeaderCrc32Mismatch(..) => corrupt("the stream header's CRC-32 is wrong"),
        XzError::BlockHeaderCrc32Mismatch(..) => corrupt("a block header's CRC-32 is wrong"),
        XzError::IndexCrc32Mismatch(..) | XzError::CorruptedDataInBlockIndex => {
            corrupt("the index is wrong")
        }
        XzError::FooterMagicNumberMismatch
        | XzError::FooterCheckTypeMismatch(..)
        | XzError::FooterCrc32Mismatch(..)
        | XzError::FooterDecoderIndexMismatch(..) => corrupt("the stream footer is wrong"),
        XzError::MoreDataInBlockBodyThanHeaderIndicated
        | XzError::LessDataInBlockBodyThanHeaderIndicated => {
            corrupt("a block's size differs from its header")
        }
        _ => corrupt("invalid LZMA2 data"),
    }
}
