//! Finding and reading the Multiboot 1 header in a kernel file.

use core::fmt;

use super::{HEADER_MAGIC, SEARCH_LIMIT, header_flags};

/// The header's address fields (present when flag bit 16 is set): where the file goes in
/// physical memory, for images that are not ELF (the "a.out kludge").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressFields {
    /// Physical address the header's magic is meant to be loaded at.
    pub header_addr: u32,
    /// Physical address of the first byte loaded.
    pub load_addr: u32,
    /// One past the last byte loaded from the file; 0 = up to the end of the file.
    pub load_end_addr: u32,
    /// End of the zeroed region after the loaded bytes; 0 = no bss.
    pub bss_end_addr: u32,
    pub entry_addr: u32,
}

impl AddressFields {
    pub fn all_zero(&self) -> bool {
        self.header_addr == 0
            && self.load_addr == 0
            && self.load_end_addr == 0
            && self.bss_end_addr == 0
            && self.entry_addr == 0
    }
}

/// The kernel's preferred video mode (present when flag bit 2 is set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoMode {
    /// 0 = linear graphics, 1 = EGA text.
    pub mode_type: u32,
    /// 0 = no preference (also for `height` and `depth`).
    pub width: u32,
    pub height: u32,
    pub depth: u32,
}

/// A Multiboot 1 header found in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Offset of the magic in the file (a multiple of 4, below 8192).
    pub offset: usize,
    pub flags: u32,
    /// Present when flag bit 16 is set.
    pub address: Option<AddressFields>,
    /// Present when flag bit 2 is set.
    pub video: Option<VideoMode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    NotFound,
    /// A magic number was found at `offset` but its checksum is wrong (and no valid header
    /// was found anywhere in the search range).
    BadChecksum {
        offset: usize,
    },
    /// The header at `offset` has flags that need `needed` bytes, but only `available` bytes
    /// remain in the file (or before 8192).
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// Required flag bits (0-15) this loader does not implement.
    UnsupportedFlags(u32),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HeaderError::NotFound => write!(f, "no Multiboot header in the first 8192 bytes"),
            HeaderError::BadChecksum { offset } => write!(
                f,
                "Multiboot header at offset {offset:#x} has a bad checksum \
                 (magic + flags + checksum must be 0)"
            ),
            HeaderError::Truncated {
                offset,
                needed,
                available,
            } => write!(
                f,
                "Multiboot header at offset {offset:#x} is truncated: its flags need {needed} \
                 bytes, {available} remain within the file's first 8192 bytes"
            ),
            HeaderError::UnsupportedFlags(bits) => write!(
                f,
                "Multiboot header requires features this loader lacks (flags {bits:#06x})"
            ),
        }
    }
}

const BASE_LEN: usize = 12;
const ADDRESS_LEN: usize = 32;
const VIDEO_LEN: usize = 48;

impl Header {
    /// Searches the first 8192 bytes of `image` at 4-byte alignment for the magic with a valid
    /// checksum; the first valid one wins. Does not judge the flags: see
    /// [`Header::check_supported`].
    pub fn find(image: &[u8]) -> Result<Header, HeaderError> {
        let window = image.get(..SEARCH_LIMIT).unwrap_or(image);
        let mut bad_checksum = None;
        for (index, chunk) in window.chunks_exact(4).enumerate() {
            if word(chunk, 0) != HEADER_MAGIC {
                continue;
            }
            let offset = index * 4;
            let Some(fixed) = window.get(offset..offset + BASE_LEN) else {
                break; // the magic's flags/checksum fall beyond the window
            };
            let flags = word(fixed, 4);
            let checksum = word(fixed, 8);
            if HEADER_MAGIC.wrapping_add(flags).wrapping_add(checksum) != 0 {
                bad_checksum.get_or_insert(offset);
                continue;
            }
            return Self::read(window, offset, flags);
        }
        Err(match bad_checksum {
            Some(offset) => HeaderError::BadChecksum { offset },
            None => HeaderError::NotFound,
        })
    }

    fn read(window: &[u8], offset: usize, flags: u32) -> Result<Header, HeaderError> {
        let needed = if flags & header_flags::VIDEO_MODE != 0 {
            VIDEO_LEN
        } else if flags & header_flags::ADDRESS_FIELDS != 0 {
            ADDRESS_LEN
        } else {
            BASE_LEN
        };
        let available = window.len() - offset; // offset + 12 <= window.len()
        let Some(h) = window.get(offset..offset + needed) else {
            return Err(HeaderError::Truncated {
                offset,
                needed,
                available,
            });
        };
        let address = (flags & header_flags::ADDRESS_FIELDS != 0).then(|| AddressFields {
            header_addr: word(h, 12),
            load_addr: word(h, 16),
            load_end_addr: word(h, 20),
            bss_end_addr: word(h, 24),
            entry_addr: word(h, 28),
        });
        let video = (flags & header_flags::VIDEO_MODE != 0).then(|| VideoMode {
            mode_type: word(h, 32),
            width: word(h, 36),
            height: word(h, 40),
            depth: word(h, 44),
        });
        Ok(Header {
            offset,
            flags,
            address,
            video,
        })
    }

    /// Required bits (0-15) that this loader does not meet; 0 when it can boot the kernel.
    pub fn unsupported_required_bits(&self) -> u32 {
        self.flags & header_flags::REQUIRED_MASK & !header_flags::SUPPORTED_REQUIRED
    }

    /// `Err(UnsupportedFlags)` when the kernel requires something this loader cannot give:
    /// the spec says to refuse then.
    pub fn check_supported(&self) -> Result<(), HeaderError> {
        match self.unsupported_required_bits() {
            0 => Ok(()),
            bits => Err(HeaderError::UnsupportedFlags(bits)),
        }
    }

    /// Flag bit 0: modules must start at 4 KiB boundaries.
    pub fn page_align_modules(&self) -> bool {
        self.flags & header_flags::PAGE_ALIGN_MODULES != 0
    }

    /// Flag bit 1: the kernel needs mem_lower/mem_upper (and the memory map).
    pub fn wants_memory_info(&self) -> bool {
        self.flags & header_flags::MEMORY_INFO != 0
    }

    /// Flag bit 2: the kernel asks for video information (a VBE mode, or EGA text).
    pub fn wants_video_info(&self) -> bool {
        self.flags & header_flags::VIDEO_MODE != 0
    }
}

/// A little-endian u32 at `at`; 0 past the end (callers check lengths first).
fn word(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::test_images::*;

    fn valid(flags: u32) -> std::vec::Vec<u8> {
        mb_header(flags, None, None)
    }

    #[test]
    fn found_at_various_aligned_offsets() {
        for offset in [0, 4, 0x40, 0x1000, 8192 - 12] {
            let f = file_with_header(0x4000, offset, &valid(0x3));
            let h = Header::find(&f).unwrap();
            assert_eq!(h.offset, offset);
            assert_eq!(h.flags, 0x3);
            assert_eq!(h.address, None);
            assert_eq!(h.video, None);
            assert!(h.page_align_modules() && h.wants_memory_info() && !h.wants_video_info());
        }
    }

    #[test]
    fn file_that_ends_right_after_the_header() {
        let h = valid(0);
        assert_eq!(Header::find(&h).unwrap().offset, 0);
        assert_eq!(Header::find(&h[..11]), Err(HeaderError::NotFound));
        assert_eq!(Header::find(&[]), Err(HeaderError::NotFound));
    }

    #[test]
    fn unaligned_header_is_not_found() {
        let f = file_with_header(0x1000, 2, &valid(0));
        assert_eq!(Header::find(&f), Err(HeaderError::NotFound));
    }

    #[test]
    fn not_found_beyond_8192() {
        let f = file_with_header(0x4000, 8192, &valid(0));
        assert_eq!(Header::find(&f), Err(HeaderError::NotFound));
        // Starting inside but ending outside the window.
        let f = file_with_header(0x4000, 8192 - 8, &valid(0));
        assert_eq!(Header::find(&f), Err(HeaderError::NotFound));
    }

    #[test]
    fn bad_checksum_reported_only_without_a_valid_header() {
        let bad = mb_header_raw(0, 0x1234, None, None);
        let f = file_with_header(0x2000, 0x20, &bad);
        assert_eq!(
            Header::find(&f),
            Err(HeaderError::BadChecksum { offset: 0x20 })
        );
        // A valid header further on wins.
        let mut f = f;
        put(&mut f, 0x100, &valid(0x2));
        assert_eq!(Header::find(&f).unwrap().offset, 0x100);
    }

    #[test]
    fn address_and_video_fields() {
        let addr = [0x100000, 0x100000, 0x104000, 0x108000, 0x10000c];
        let video = [1, 80, 25, 0];
        let f = file_with_header(0x2000, 8, &mb_header(0x1_0004, Some(addr), Some(video)));
        let h = Header::find(&f).unwrap();
        assert_eq!(
            h.address,
            Some(AddressFields {
                header_addr: 0x100000,
                load_addr: 0x100000,
                load_end_addr: 0x104000,
                bss_end_addr: 0x108000,
                entry_addr: 0x10000c,
            })
        );
        assert_eq!(
            h.video,
            Some(VideoMode {
                mode_type: 1,
                width: 80,
                height: 25,
                depth: 0
            })
        );
        assert!(h.wants_video_info());
        assert_eq!(h.check_supported(), Ok(()));
    }

    #[test]
    fn truncated_by_end_of_file_or_of_window() {
        let h = mb_header(0x1_0000, Some([1, 2, 3, 4, 5]), None);
        let f = file_with_header(0x100, 0x80, &h);
        let f = &f[..0x80 + 20];
        assert_eq!(
            Header::find(f),
            Err(HeaderError::Truncated {
                offset: 0x80,
                needed: 32,
                available: 20
            })
        );
        let h = mb_header(0x4, None, Some([0, 0, 0, 0]));
        let f = file_with_header(0x4000, 8192 - 40, &h);
        assert_eq!(
            Header::find(&f),
            Err(HeaderError::Truncated {
                offset: 8192 - 40,
                needed: 48,
                available: 40
            })
        );
    }

    #[test]
    fn unsupported_required_bits() {
        // Bits 0-2 are met; optional bits (16-31) never count.
        let f = file_with_header(0x100, 0, &valid(0x0007 | 0x1_0000 | 0x8000_0000));
        let h = Header::find(&f).unwrap();
        assert_eq!(h.unsupported_required_bits(), 0);
        let f = file_with_header(0x100, 0, &valid(0x0008 | 0x0100 | 0x3));
        let h = Header::find(&f).unwrap();
        assert_eq!(h.unsupported_required_bits(), 0x0108);
        assert_eq!(
            h.check_supported(),
            Err(HeaderError::UnsupportedFlags(0x0108))
        );
    }

    /// Random files with a magic (and often a right checksum) at random offsets: `find` gives
    /// a header inside the search range and the file, or an error; never a panic.
    #[test]
    fn random_files_never_panic() {
        let mut rng = Rng::new(0x4d42_5eed);
        for _ in 0..5_000 {
            let len = rng.below(9000) as usize;
            let mut f: std::vec::Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            for _ in 0..rng.below(3) {
                if len < 4 {
                    break;
                }
                let at = (rng.below(len as u64 - 3) & !3) as usize;
                let flags = rng.next_u64() as u32 & [0xffff_ffff, 0x1_0007][rng.below(2) as usize];
                let checksum = match rng.below(4) {
                    0 => rng.next_u64() as u32,
                    _ => 0x1BAD_B002u32.wrapping_neg().wrapping_sub(flags),
                };
                let fields = [rng.next_u64() as u32; 5];
                let header = mb_header_raw(flags, checksum, Some(fields), Some([7; 4]));
                let n = header.len().min(len - at);
                f[at..at + n].copy_from_slice(&header[..n]);
            }
            if let Ok(h) = Header::find(&f) {
                assert!(h.offset % 4 == 0 && h.offset < 8192 && h.offset + 12 <= f.len());
                let _ = (h.check_supported(), h.unsupported_required_bits());
            }
        }
    }

    #[test]
    fn messages() {
        use std::string::ToString;
        assert_eq!(
            HeaderError::NotFound.to_string(),
            "no Multiboot header in the first 8192 bytes"
        );
        assert!(
            HeaderError::UnsupportedFlags(8)
                .to_string()
                .contains("0x0008")
        );
    }
}
