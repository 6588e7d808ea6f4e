//! What to do with a downloaded Multiboot 2 kernel file: which bytes go where, what to zero,
//! where to jump, and what may move.
//!
//! - The address tag (2) wins over the file's ELF headers, as in GRUB: the file is loaded
//!   from `header offset - (header_addr - load_addr)` (from its first byte when `load_addr` is
//!   `0xFFFFFFFF`), as Multiboot 1's address fields (see [`crate::kernel`]). It needs the entry
//!   address tag (3).
//! - Otherwise the file must be ELF32 or ELF64: `PT_LOAD` segments at their physical
//!   addresses, the entry translated to physical, or the entry address tag if there is one
//!   (it must lie inside the image).
//! - The relocatable tag (10) lets the loader move the whole image: [`Image::relocation`]
//!   gives the window; the caller adds the same delta to every segment and to the entry.
//! - The ELF section header table, when there is one, goes to the kernel in the boot
//!   information ([`Image::sections`]).

use core::fmt;
use core::ops::Range;

use super::{Firmware, Header, HeaderError, RelocatableTag, Unsupported};
use crate::elf::{Class, ElfError, ElfFile, SectionError, SectionTable};
use crate::kernel::address_fields::{self, AddressFieldsError};
use crate::kernel::{Format, Placement, Placements};
use crate::multiboot::AddressFields;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    Header(HeaderError),
    Unsupported(Unsupported),
    Elf(ElfError),
    Sections(SectionError),
    AddressFields(AddressFieldsError),
    /// No address tag and the file is not ELF.
    NotElfAndNoAddressTag,
    /// `load_addr` is `0xFFFFFFFF` (load from the file's start) but `header_addr` is smaller
    /// than the header's offset in the file.
    HeaderAddrBelowOffset {
        header_addr: u32,
        offset: usize,
    },
    /// The entry address tag points outside the image.
    EntryOutsideImage {
        entry: u32,
        start: u64,
        end: u64,
    },
    /// The relocatable tag's alignment is not a power of two.
    BadAlignment {
        align: u32,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ImageError::Header(e) => e.fmt(f),
            ImageError::Unsupported(e) => e.fmt(f),
            ImageError::Elf(e) => e.fmt(f),
            ImageError::Sections(e) => e.fmt(f),
            ImageError::AddressFields(e) => write!(f, "Multiboot 2 address tag: {e}"),
            ImageError::NotElfAndNoAddressTag => write!(
                f,
                "kernel is not ELF and its Multiboot 2 header has no address tag: netloader \
                 loads ELF32, ELF64 or address-tag images"
            ),
            ImageError::HeaderAddrBelowOffset {
                header_addr,
                offset,
            } => write!(
                f,
                "Multiboot 2 address tag loads the file from its start, but header_addr \
                 {header_addr:#x} is below the header's offset {offset:#x}"
            ),
            ImageError::EntryOutsideImage { entry, start, end } => write!(
                f,
                "Multiboot 2 entry address {entry:#x} lies outside the image {start:#x}-{end:#x}"
            ),
            ImageError::BadAlignment { align } => write!(
                f,
                "Multiboot 2 relocatable tag asks for an alignment of {align:#x}, not a power of two"
            ),
        }
    }
}

impl From<HeaderError> for ImageError {
    fn from(e: HeaderError) -> Self {
        ImageError::Header(e)
    }
}

impl From<ElfError> for ImageError {
    fn from(e: ElfError) -> Self {
        ImageError::Elf(e)
    }
}

#[derive(Clone, Debug)]
enum Layout<'a> {
    Elf(ElfFile<'a>),
    Single(Placement),
}

/// A Multiboot 2 kernel file checked and ready to place. Borrows the file.
#[derive(Clone, Debug)]
pub struct Image<'a> {
    header: Header,
    format: Format,
    entry: u32,
    extent: (u64, u64),
    layout: Layout<'a>,
    sections: Option<SectionTable<'a>>,
}

impl<'a> Image<'a> {
    /// Finds the header, refuses what netloader cannot meet on a BIOS, and checks the load
    /// description.
    pub fn parse(file: &'a [u8]) -> Result<Image<'a>, ImageError> {
        Self::parse_for(file, Firmware::Bios)
    }

    /// As [`Image::parse`], for a boot from `firmware`.
    pub fn parse_for(file: &'a [u8], firmware: Firmware) -> Result<Image<'a>, ImageError> {
        let header = Header::find(file)?;
        header
            .check_supported_on(firmware)
            .map_err(ImageError::Unsupported)?;
        if let Some(tag) = header.relocatable
            && tag.align != 0
            && !tag.align.is_power_of_two()
        {
            return Err(ImageError::BadAlignment { align: tag.align });
        }
        let (format, entry, layout, sections) = match (header.address, header.entry) {
            (Some(address), Some(entry)) => {
                let load_addr = if address.load_addr == u32::MAX {
                    u32::try_from(header.offset)
                        .ok()
                        .and_then(|offset| address.header_addr.checked_sub(offset))
                        .ok_or(ImageError::HeaderAddrBelowOffset {
                            header_addr: address.header_addr,
                            offset: header.offset,
                        })?
                } else {
                    address.load_addr
                };
                let fields = AddressFields {
                    header_addr: address.header_addr,
                    load_addr,
                    load_end_addr: address.load_end_addr,
                    bss_end_addr: address.bss_end_addr,
                    entry_addr: entry,
                };
                let (placement, entry) = address_fields::place(&fields, header.offset, file)
                    .map_err(ImageError::AddressFields)?;
                (
                    Format::AddressFields,
                    entry,
                    Layout::Single(placement),
                    None,
                )
            }
            _ if ElfFile::has_magic(file) => {
                let elf = ElfFile::new_checked(file)?;
                let format = match elf.class() {
                    Class::Elf32 => Format::Elf32,
                    Class::Elf64 => Format::Elf64,
                };
                let sections = elf.sections().map_err(ImageError::Sections)?;
                let entry = header.entry.unwrap_or(elf.entry_paddr());
                (format, entry, Layout::Elf(elf), sections)
            }
            _ => return Err(ImageError::NotElfAndNoAddressTag),
        };
        let mut image = Image {
            header,
            format,
            entry,
            extent: (0, 0),
            layout,
            sections,
        };
        let mut placements = image.placements().map(|p| p.memory());
        let first = placements.next().unwrap_or(0..0);
        let extent = placements.fold(first, |a, r| a.start.min(r.start)..a.end.max(r.end));
        if !(extent.start..extent.end).contains(&(entry as u64)) {
            return Err(ImageError::EntryOutsideImage {
                entry,
                start: extent.start,
                end: extent.end,
            });
        }
        image.extent = (extent.start, extent.end);
        Ok(image)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The physical address to jump to, before any relocation.
    pub fn entry(&self) -> u32 {
        self.entry
    }

    /// What to copy where (at the linked addresses), in file order; empty segments left out.
    pub fn placements(&self) -> Placements<'a> {
        match &self.layout {
            Layout::Elf(elf) => Placements::Elf(elf.load_segments()),
            Layout::Single(p) => Placements::Single(Some(p.clone())),
        }
    }

    /// The physical range the image occupies at its linked addresses, bss included.
    pub fn extent(&self) -> Range<u64> {
        self.extent.0..self.extent.1
    }

    /// The relocatable tag, if the image may move.
    pub fn relocation(&self) -> Option<RelocatableTag> {
        self.header.relocatable
    }

    /// The ELF section header table (none for an address-tag image or an ELF without one).
    pub fn sections(&self) -> Option<SectionTable<'a>> {
        self.sections
    }
}

#[cfg(test)]
mod tests;
