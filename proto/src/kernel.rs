//! What to do with a downloaded Multiboot 1 kernel file: which bytes go where, what to zero,
//! where to jump.
//!
//! # ELF or address fields
//!
//! The Multiboot header's flag bit 16 ("a.out kludge") says "use my address fields instead
//! of the executable's headers". Loaders disagree when a file is ELF *and* sets bit 16: GRUB 2,
//! Limine and QEMU use the address fields, iPXE and mboot.c32 use ELF. netloader follows
//! GRUB (the loader most kernels are tested with):
//!
//! 1. bit 16 set: use the address fields, whatever the file format; **except** when the file
//!    starts with the ELF magic and all five address fields are zero. Such fields cannot
//!    describe a real load (the kernel would load at physical 0 and jump to 0); it is a kernel
//!    that set the bit by mistake, so its ELF headers are used.
//! 2. bit 16 clear: the file must be an ELF32 or ELF64 executable.
//!
//! # Address fields (spec 3.1.3)
//!
//! The file is loaded from offset `header_offset - (header_addr - load_addr)` to `load_addr`,
//! `load_end_addr - load_addr` bytes (`load_end_addr == 0`: up to the end of the file), then
//! zeroed up to `bss_end_addr` (0: no bss). Checked: `load_addr <= header_addr` (the spec's
//! one explicit rule), the start offset and length inside the file, `load_end_addr >=
//! load_addr`, `bss_end_addr >= load end`, no wrap past 4 GiB, and the entry inside the
//! loaded bytes (the spec does not say so; jumping elsewhere could only crash).
//!
//! # ELF
//!
//! See [`crate::elf`]: `PT_LOAD` segments at their physical addresses, entry translated from
//! virtual to physical through its segment.

pub(crate) mod address_fields;

use core::fmt;
use core::ops::Range;

pub use address_fields::AddressFieldsError;

use crate::elf::{Class, ElfError, ElfFile, LoadSegments};
use crate::multiboot::{Header, HeaderError};

/// Which description of the image was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Elf32,
    Elf64,
    /// The Multiboot header's address fields (flag bit 16).
    AddressFields,
}

/// Copy `file[file_range]` to physical `dest`, then zero up to `dest + mem_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub file_range: Range<usize>,
    pub dest: u64,
    /// >= `file_range.len()`; `dest + mem_size <= 4 GiB`.
    pub mem_size: u64,
}

impl Placement {
    /// The physical bytes it occupies, `dest..dest + mem_size`.
    pub fn memory(&self) -> Range<u64> {
        self.dest..self.dest + self.mem_size
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelError {
    Header(HeaderError),
    Elf(ElfError),
    AddressFields(AddressFieldsError),
    /// Flag bit 16 is clear and the file is not ELF.
    NotElfAndNoAddressFields,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Header(e) => e.fmt(f),
            KernelError::Elf(e) => e.fmt(f),
            KernelError::AddressFields(e) => e.fmt(f),
            KernelError::NotElfAndNoAddressFields => write!(
                f,
                "kernel is not ELF and its Multiboot header has no address fields (flag 16): \
                 netloader loads ELF32, ELF64 or flag-16 images"
            ),
        }
    }
}

impl From<HeaderError> for KernelError {
    fn from(e: HeaderError) -> Self {
        KernelError::Header(e)
    }
}

impl From<ElfError> for KernelError {
    fn from(e: ElfError) -> Self {
        KernelError::Elf(e)
    }
}

impl From<AddressFieldsError> for KernelError {
    fn from(e: AddressFieldsError) -> Self {
        KernelError::AddressFields(e)
    }
}

#[derive(Clone, Debug)]
enum Layout<'a> {
    Elf(ElfFile<'a>),
    Single(Placement),
}

/// A kernel file checked and ready to place. Borrows the file: placements refer to its bytes.
#[derive(Clone, Debug)]
pub struct KernelImage<'a> {
    header: Header,
    format: Format,
    entry: u32,
    extent: Range<u64>,
    layout: Layout<'a>,
}

impl<'a> KernelImage<'a> {
    /// Finds the Multiboot header, refuses required flags netloader cannot meet, and checks
    /// the load description chosen by the rule in the module docs.
    pub fn parse(file: &'a [u8]) -> Result<KernelImage<'a>, KernelError> {
        let header = Header::find(file)?;
        header.check_supported()?;
        let address = header
            .address
            .filter(|a| !(a.all_zero() && ElfFile::has_magic(file)));
        let (format, entry, layout) = match address {
            Some(fields) => {
                let (placement, entry) = address_fields::place(&fields, header.offset, file)?;
                (Format::AddressFields, entry, Layout::Single(placement))
            }
            None if ElfFile::has_magic(file) => {
                let elf = ElfFile::new_checked(file)?;
                let format = match elf.class() {
                    Class::Elf32 => Format::Elf32,
                    Class::Elf64 => Format::Elf64,
                };
                (format, elf.entry_paddr(), Layout::Elf(elf))
            }
            None => return Err(KernelError::NotElfAndNoAddressFields),
        };
        let mut image = KernelImage {
            header,
            format,
            entry,
            extent: 0..0,
            layout,
        };
        image.extent = image.compute_extent();
        Ok(image)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Physical address to jump to (in 32-bit protected mode).
    pub fn entry(&self) -> u32 {
        self.entry
    }

    /// What to copy where, in file order. Empty segments (`mem_size == 0`) are left out.
    pub fn placements(&self) -> Placements<'a> {
        match &self.layout {
            Layout::Elf(elf) => Placements::Elf(elf.load_segments()),
            Layout::Single(p) => Placements::Single(Some(p.clone())),
        }
    }

    /// The physical range the kernel occupies, bss included: from its lowest byte to one past
    /// its highest (`start..end`, end exclusive, at most 4 GiB). Modules go above `end`.
    pub fn extent(&self) -> Range<u64> {
        self.extent.clone()
    }

    /// Flag bit 0: load modules at 4 KiB boundaries (netloader may do so always).
    pub fn page_align_modules(&self) -> bool {
        self.header.page_align_modules()
    }

    /// Flag bit 1: the kernel needs mem_lower/mem_upper and the memory map in the MBI.
    pub fn wants_memory_info(&self) -> bool {
        self.header.wants_memory_info()
    }

    fn compute_extent(&self) -> Range<u64> {
        let mut placements = self.placements().map(|p| p.memory());
        let first = placements.next().unwrap_or(0..0);
        placements.fold(first, |acc, r| acc.start.min(r.start)..acc.end.max(r.end))
    }
}

/// Iterator over a kernel's [`Placement`]s.
pub enum Placements<'a> {
    Elf(LoadSegments<'a>),
    Single(Option<Placement>),
}

impl Iterator for Placements<'_> {
    type Item = Placement;

    fn next(&mut self) -> Option<Placement> {
        match self {
            Placements::Single(p) => p.take(),
            Placements::Elf(segments) => {
                segments
                    .by_ref()
                    .find(|s| s.mem_size > 0)
                    .map(|s| Placement {
                        file_range: s.file_offset..s.file_offset + s.file_size,
                        dest: s.paddr,
                        mem_size: s.mem_size,
                    })
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod test_images;
#[cfg(test)]
mod tests;
