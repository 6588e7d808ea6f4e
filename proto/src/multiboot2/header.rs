//! Finding and reading the Multiboot 2 header (spec 2.0, section 3.1) in a kernel file: one
//! checked pass over its tags into a typed [`Header`]; then [`Header::check_supported`] says
//! whether netloader can meet what the kernel requires.

use core::fmt;

use super::{ARCH_I386, HEADER_MAGIC, SEARCH_LIMIT, tag};

/// The address tag (2): where a file that is not ELF goes in physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressTag {
    pub header_addr: u32,
    /// `0xFFFFFFFF`: the file is loaded from its first byte.
    pub load_addr: u32,
    /// 0: up to the end of the file.
    pub load_end_addr: u32,
    /// 0: no bss.
    pub bss_end_addr: u32,
}

/// The console flags tag (4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleTag {
    /// Bit 0: a console must be described in the boot information; bit 1: the kernel can use
    /// EGA text.
    pub flags: u32,
    pub optional: bool,
}

impl ConsoleTag {
    pub const REQUIRED: u32 = 1 << 0;
    pub const EGA_TEXT: u32 = 1 << 1;
}

/// The framebuffer tag (5): the mode the kernel would like (0 = no preference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramebufferTag {
    pub width: u32,
    pub height: u32,
    pub depth: u32,
    pub optional: bool,
}

/// Where a relocatable image (tag 10) prefers to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preference {
    None,
    Low,
    High,
}

/// The relocatable tag (10): load anywhere in `[min_addr, max_addr]` at a multiple of `align`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelocatableTag {
    pub min_addr: u32,
    /// No byte of the image lies above this.
    pub max_addr: u32,
    pub align: u32,
    pub preference: Preference,
    pub optional: bool,
}

/// Which boot information tags the kernel asked for (tag 1), types below 64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    pub required: u64,
    pub optional: u64,
    /// The first type a required request names that netloader does not understand.
    pub unknown_required: Option<u32>,
}

impl Requests {
    /// True when `tag_type` was asked for, required or not.
    pub fn asks_for(&self, tag_type: u32) -> bool {
        tag_type < 64 && (self.required | self.optional) >> tag_type & 1 == 1
    }
}

/// The firmware a kernel is started from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    /// A 64-bit UEFI (x86_64; netloader.efi).
    Uefi64,
}

/// A header tag of the EFI family (7, 8 or 9), which has no meaning on a BIOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EfiTag {
    pub tag_type: u16,
    pub optional: bool,
}

/// A checked Multiboot 2 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Offset of the magic in the file (a multiple of 8, below 32 KiB).
    pub offset: usize,
    /// `header_length`: the magic up to the end of the end tag.
    pub length: u32,
    pub requests: Requests,
    pub address: Option<AddressTag>,
    /// The entry address tag (3).
    pub entry: Option<u32>,
    pub console: Option<ConsoleTag>,
    pub framebuffer: Option<FramebufferTag>,
    /// The module alignment tag (6): modules page-aligned (netloader always does).
    pub module_align: bool,
    pub relocatable: Option<RelocatableTag>,
    /// The first EFI tag (7, 8, 9) that is required, else the first optional one.
    pub efi: Option<EfiTag>,
    /// Tag 7 (optional or not): on UEFI the kernel is started with boot services running
    /// (GRUB's `keep_bs`), and gets tag 18.
    pub efi_boot_services: bool,
    /// Tag 8: the entry point for a 32-bit UEFI with boot services kept.
    pub efi_i386_entry: Option<u32>,
    /// Tag 9: the entry point for a 64-bit UEFI with boot services kept.
    pub efi_amd64_entry: Option<u32>,
    /// Tag 8 without its optional flag.
    pub efi_i386_required: bool,
    /// The first header tag of an unknown type without the optional flag.
    pub unknown_required_tag: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    NotFound,
    /// A magic at `offset` whose checksum is wrong (and no valid header anywhere).
    BadChecksum {
        offset: usize,
    },
    /// Not for i386 (architecture 4 is MIPS).
    Architecture {
        offset: usize,
        architecture: u32,
    },
    /// `header_length` too small for the fixed part and an end tag, or running past the first
    /// 32 KiB or the end of the file.
    BadLength {
        offset: usize,
        length: u32,
    },
    /// A tag at `at` (file offset) whose size is too small for its type, or that runs past the
    /// header's end.
    BadTag {
        at: usize,
        tag_type: u16,
        size: u32,
    },
    /// The tags run to the end of the header without an end tag (type 0, size 8).
    NoEndTag {
        offset: usize,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HeaderError::NotFound => {
                write!(f, "no Multiboot 2 header in the first {SEARCH_LIMIT} bytes")
            }
            HeaderError::BadChecksum { offset } => write!(
                f,
                "Multiboot 2 header at offset {offset:#x} has a bad checksum \
                 (magic + architecture + header_length + checksum must be 0)"
            ),
            HeaderError::Architecture {
                offset,
                architecture,
            } => write!(
                f,
                "Multiboot 2 header at offset {offset:#x} is for architecture {architecture}, \
                 not i386 (0)"
            ),
            HeaderError::BadLength { offset, length } => write!(
                f,
                "Multiboot 2 header at offset {offset:#x} has header_length {length}, which \
                 does not fit in the file's first {SEARCH_LIMIT} bytes with an end tag"
            ),
            HeaderError::BadTag { at, tag_type, size } => write!(
                f,
                "Multiboot 2 header tag of type {tag_type} at offset {at:#x} has a bad size \
                 ({size} bytes)"
            ),
            HeaderError::NoEndTag { offset } => {
                write!(f, "Multiboot 2 header at offset {offset:#x} has no end tag")
            }
        }
    }
}

/// What the kernel requires that netloader cannot give (see [`Header::check_supported`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// A required information request for a tag type netloader does not understand (13,
    /// SMBIOS, as in GRUB; or a type the spec does not define).
    Request { tag_type: u32 },
    /// A required EFI tag (7 boot services, 8/9 EFI entry points): there is no EFI here.
    Efi { tag_type: u16 },
    /// A required header tag of a type netloader does not know.
    Tag { tag_type: u16 },
    /// The address tag without an entry address tag: nowhere to jump (GRUB refuses it too).
    AddressWithoutEntry,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Unsupported::Request { tag_type } => write!(
                f,
                "the Multiboot 2 header requires boot information of type {tag_type}{}, which \
                 netloader does not provide",
                if tag_type == tag::SMBIOS {
                    " (SMBIOS)"
                } else {
                    ""
                }
            ),
            Unsupported::Efi { tag_type } => write!(
                f,
                "the Multiboot 2 header requires EFI (tag {tag_type}: {}), and this is {}",
                match tag_type {
                    7 => "EFI boot services",
                    8 => "an EFI i386 entry point",
                    _ => "an EFI amd64 entry point",
                },
                if tag_type == 8 {
                    "a BIOS boot or a 64-bit UEFI"
                } else {
                    "a BIOS boot"
                }
            ),
            Unsupported::Tag { tag_type } => write!(
                f,
                "the Multiboot 2 header has a required tag of unknown type {tag_type}"
            ),
            Unsupported::AddressWithoutEntry => write!(
                f,
                "the Multiboot 2 header has an address tag but no entry address tag"
            ),
        }
    }
}

const FIXED_LEN: usize = 16;
const END_TAG_LEN: u32 = 8;

impl Header {
    /// Searches the first 32 KiB of `image` at 8-byte alignment for the magic with a valid
    /// checksum (the first valid one wins), then reads every tag. Does not judge what the tags
    /// ask for: see [`Header::check_supported`].
    pub fn find(image: &[u8]) -> Result<Header, HeaderError> {
        let window = image.get(..SEARCH_LIMIT).unwrap_or(image);
        let mut bad_checksum = None;
        for (index, chunk) in window.chunks_exact(8).enumerate() {
            if word(chunk, 0) != HEADER_MAGIC {
                continue;
            }
            let offset = index * 8;
            let Some(fixed) = window.get(offset..offset + FIXED_LEN) else {
                break;
            };
            let (architecture, length, checksum) =
                (word(fixed, 4), word(fixed, 8), word(fixed, 12));
            let sum = HEADER_MAGIC
                .wrapping_add(architecture)
                .wrapping_add(length)
                .wrapping_add(checksum);
            if sum != 0 {
                bad_checksum.get_or_insert(offset);
                continue;
            }
            if architecture != ARCH_I386 {
                return Err(HeaderError::Architecture {
                    offset,
                    architecture,
                });
            }
            return Self::read(window, offset, length);
        }
        Err(match bad_checksum {
            Some(offset) => HeaderError::BadChecksum { offset },
            None => HeaderError::NotFound,
        })
    }

    fn read(window: &[u8], offset: usize, length: u32) -> Result<Header, HeaderError> {
        let bad_length = HeaderError::BadLength { offset, length };
        if (length as usize) < FIXED_LEN + END_TAG_LEN as usize {
            return Err(bad_length);
        }
        let end = offset.checked_add(length as usize).ok_or(bad_length)?;
        let bytes = window.get(..end).ok_or(bad_length)?;
        let mut header = Header {
            offset,
            length,
            requests: Requests::default(),
            address: None,
            entry: None,
            console: None,
            framebuffer: None,
            module_align: false,
            relocatable: None,
            efi: None,
            efi_boot_services: false,
            efi_i386_entry: None,
            efi_amd64_entry: None,
            efi_i386_required: false,
            unknown_required_tag: None,
        };
        let mut at = offset + FIXED_LEN;
        while at + 8 <= end {
            let tag_type = half(bytes, at);
            let optional = half(bytes, at + 2) & 1 == 1;
            let size = word(bytes, at + 4);
            let bad_tag = HeaderError::BadTag { at, tag_type, size };
            let tag_end = at.checked_add(size as usize).filter(|&e| e <= end);
            let (Some(tag_end), true) = (tag_end, size >= 8) else {
                return Err(bad_tag);
            };
            let body = &bytes[at + 8..tag_end];
            let exact = |len: usize| {
                if body.len() == len {
                    Ok(())
                } else {
                    Err(bad_tag)
                }
            };
            match tag_type {
                0 if size == END_TAG_LEN => return Ok(header),
                0 => return Err(bad_tag),
                1 => {
                    if body.len() % 4 != 0 {
                        return Err(bad_tag);
                    }
                    for chunk in body.chunks_exact(4) {
                        header.requests.add(word(chunk, 0), optional);
                    }
                }
                2 => {
                    exact(16)?;
                    header.address = Some(AddressTag {
                        header_addr: word(body, 0),
                        load_addr: word(body, 4),
                        load_end_addr: word(body, 8),
                        bss_end_addr: word(body, 12),
                    });
                }
                3 => {
                    exact(4)?;
                    header.entry = Some(word(body, 0));
                }
                4 => {
                    exact(4)?;
                    header.console = Some(ConsoleTag {
                        flags: word(body, 0),
                        optional,
                    });
                }
                5 => {
                    exact(12)?;
                    header.framebuffer = Some(FramebufferTag {
                        width: word(body, 0),
                        height: word(body, 4),
                        depth: word(body, 8),
                        optional,
                    });
                }
                6 => {
                    exact(0)?;
                    header.module_align = true;
                }
                7..=9 => {
                    exact(if tag_type == 7 { 0 } else { 4 })?;
                    let replace = header.efi.is_none_or(|e| e.optional && !optional);
                    if replace {
                        header.efi = Some(EfiTag { tag_type, optional });
                    }
                    match tag_type {
                        7 => header.efi_boot_services = true,
                        8 => {
                            header.efi_i386_entry = Some(word(body, 0));
                            header.efi_i386_required |= !optional;
                        }
                        _ => header.efi_amd64_entry = Some(word(body, 0)),
                    }
                }
                10 => {
                    exact(16)?;
                    header.relocatable = Some(RelocatableTag {
                        min_addr: word(body, 0),
                        max_addr: word(body, 4),
                        align: word(body, 8),
                        preference: match word(body, 12) {
                            1 => Preference::Low,
                            2 => Preference::High,
                            _ => Preference::None,
                        },
                        optional,
                    });
                }
                _ if !optional => {
                    header.unknown_required_tag.get_or_insert(tag_type);
                }
                _ => {}
            }
            // Tags start at 8-byte boundaries.
            at = tag_end.div_ceil(8) * 8;
        }
        Err(HeaderError::NoEndTag { offset })
    }

    /// What the kernel requires that netloader cannot give on a BIOS, if anything: the spec
    /// says to refuse then. Optional tags never count.
    pub fn check_supported(&self) -> Result<(), Unsupported> {
        self.check_supported_on(Firmware::Bios)
    }

    /// As [`Header::check_supported`], on `firmware`: a 64-bit UEFI meets tags 7 and 9, not
    /// a required tag 8 (an entry point for a 32-bit UEFI).
    pub fn check_supported_on(&self, firmware: Firmware) -> Result<(), Unsupported> {
        if let Some(tag_type) = self.unknown_required_tag {
            return Err(Unsupported::Tag { tag_type });
        }
        if let Some(EfiTag {
            tag_type,
            optional: false,
        }) = self.efi
            && firmware == Firmware::Bios
        {
            return Err(Unsupported::Efi { tag_type });
        }
        if firmware == Firmware::Uefi64 && self.efi_i386_required {
            return Err(Unsupported::Efi { tag_type: 8 });
        }
        if let Some(tag_type) = self.requests.unknown_required {
            return Err(Unsupported::Request { tag_type });
        }
        if self.address.is_some() && self.entry.is_none() {
            return Err(Unsupported::AddressWithoutEntry);
        }
        Ok(())
    }
}

impl Requests {
    fn add(&mut self, tag_type: u32, optional: bool) {
        if optional {
            if tag_type < 64 {
                self.optional |= 1 << tag_type;
            }
            return;
        }
        if !tag::understood(tag_type) {
            self.unknown_required.get_or_insert(tag_type);
        } else if tag_type < 64 {
            self.required |= 1 << tag_type;
        }
    }
}

/// A little-endian u32 at `at`; 0 past the end (callers check lengths first).
fn word(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

fn half(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at + 2) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]),
        _ => 0,
    }
}

#[cfg(test)]
pub(crate) mod tests;
