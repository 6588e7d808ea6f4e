//! The section header table: what Multiboot 2's ELF sections tag hands the kernel (GRUB and
//! Limine copy the table, load the sections no segment loads, and point their `sh_addr` at
//! the copies; kernels read their symbols or their own layout from it).

use core::fmt;
use core::ops::Range;

use super::{Class, ElfFile, Reader};

/// Not loaded by any segment: no `SHF_ALLOC`.
pub const SHF_ALLOC: u64 = 2;
/// Occupies no file bytes (`.bss`).
pub const SHT_NOBITS: u32 = 8;
pub const SHT_NULL: u32 = 0;

/// One section header, widened to 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionHeader {
    /// Offset of its name in the section-name string table.
    pub name: u32,
    pub kind: u32,
    pub flags: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub addralign: u64,
}

impl SectionHeader {
    /// A section the loader copies into memory for the kernel: it has bytes in the file, no
    /// segment loads it and it has no address of its own (GRUB's rule: `sh_addr == 0`).
    pub fn needs_loading(&self) -> bool {
        self.flags & SHF_ALLOC == 0
            && self.addr == 0
            && self.size > 0
            && self.kind != SHT_NOBITS
            && self.kind != SHT_NULL
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionError {
    /// `e_shentsize` is smaller than a section header of this class.
    BadEntrySize { entry_size: u16, needed: u16 },
    /// The table does not fit in the file.
    TableOutsideFile {
        offset: u64,
        count: u16,
        entry_size: u16,
        file_len: usize,
    },
    /// `e_shstrndx` names no section.
    BadNameTable { index: u16, count: u16 },
    /// A section to load has bytes outside the file.
    SectionOutsideFile {
        index: u16,
        offset: u64,
        size: u64,
        file_len: usize,
    },
}

impl fmt::Display for SectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SectionError::BadEntrySize { entry_size, needed } => write!(
                f,
                "section header size {entry_size} is smaller than {needed} bytes"
            ),
            SectionError::TableOutsideFile {
                offset,
                count,
                entry_size,
                file_len,
            } => write!(
                f,
                "section header table points outside the file (offset {offset:#x}, {count} \
                 entries of {entry_size} bytes, file {file_len:#x} bytes)"
            ),
            SectionError::BadNameTable { index, count } => write!(
                f,
                "the section-name table index {index} is not below the section count {count}"
            ),
            SectionError::SectionOutsideFile {
                index,
                offset,
                size,
                file_len,
            } => write!(
                f,
                "section {index} points outside the file (offset {offset:#x}, size {size:#x}, \
                 file {file_len:#x} bytes)"
            ),
        }
    }
}

/// A checked section header table: in the file, entries large enough, the name table index
/// valid, and every section to load inside the file.
#[derive(Clone, Copy, Debug)]
pub struct SectionTable<'a> {
    data: &'a [u8],
    class: Class,
    offset: usize,
    entry_size: usize,
    count: u16,
    names: u16,
}

impl Class {
    fn section_header_size(self) -> usize {
        match self {
            Class::Elf32 => 40,
            Class::Elf64 => 64,
        }
    }
}

impl<'a> ElfFile<'a> {
    /// The section header table, `None` when the file has none (`e_shoff` or `e_shnum` 0;
    /// the extended numbering for 65280 sections and more is not read).
    pub fn sections(&self) -> Result<Option<SectionTable<'a>>, SectionError> {
        let r = Reader(self.data);
        let (offset, entry_size, count, names) = match self.class {
            Class::Elf32 => (r.u32(32) as u64, r.u16(46), r.u16(48), r.u16(50)),
            Class::Elf64 => (r.u64(40), r.u16(58), r.u16(60), r.u16(62)),
        };
        if offset == 0 || count == 0 || count >= 0xff00 {
            return Ok(None);
        }
        let needed = self.class.section_header_size() as u16;
        if entry_size < needed {
            return Err(SectionError::BadEntrySize { entry_size, needed });
        }
        let table_len = count as u64 * entry_size as u64;
        if offset
            .checked_add(table_len)
            .is_none_or(|end| end > self.data.len() as u64)
        {
            return Err(SectionError::TableOutsideFile {
                offset,
                count,
                entry_size,
                file_len: self.data.len(),
            });
        }
        if names >= count {
            return Err(SectionError::BadNameTable {
                index: names,
                count,
            });
        }
        let table = SectionTable {
            data: self.data,
            class: self.class,
            offset: offset as usize, // <= data.len(), checked above
            entry_size: entry_size as usize,
            count,
            names,
        };
        for index in 0..count {
            let h = table.header(index);
            if h.needs_loading()
                && h.offset
                    .checked_add(h.size)
                    .is_none_or(|end| end > self.data.len() as u64)
            {
                return Err(SectionError::SectionOutsideFile {
                    index,
                    offset: h.offset,
                    size: h.size,
                    file_len: self.data.len(),
                });
            }
        }
        Ok(Some(table))
    }
}

impl<'a> SectionTable<'a> {
    pub fn count(&self) -> u16 {
        self.count
    }

    /// `e_shentsize`.
    pub fn entry_size(&self) -> usize {
        self.entry_size
    }

    /// `e_shstrndx`: the section holding the section names.
    pub fn name_table(&self) -> u16 {
        self.names
    }

    /// The table as it lies in the file.
    pub fn bytes(&self) -> &'a [u8] {
        &self.data[self.offset..self.offset + self.count as usize * self.entry_size]
    }

    /// Section `index` (`index < count()`; a zeroed header past the end).
    pub fn header(&self, index: u16) -> SectionHeader {
        let start = self.offset + index as usize * self.entry_size;
        let bytes = self.data.get(start..start + self.entry_size).unwrap_or(&[]);
        let r = Reader(bytes);
        match self.class {
            Class::Elf32 => SectionHeader {
                name: r.u32(0),
                kind: r.u32(4),
                flags: r.u32(8) as u64,
                addr: r.u32(12) as u64,
                offset: r.u32(16) as u64,
                size: r.u32(20) as u64,
                addralign: r.u32(32) as u64,
            },
            Class::Elf64 => SectionHeader {
                name: r.u32(0),
                kind: r.u32(4),
                flags: r.u64(8),
                addr: r.u64(16),
                offset: r.u64(24),
                size: r.u64(32),
                addralign: r.u64(48),
            },
        }
    }

    /// The file bytes of a section that [`SectionHeader::needs_loading`] (checked to lie in
    /// the file); empty for any other.
    pub fn contents(&self, index: u16) -> &'a [u8] {
        let h = self.header(index);
        if !h.needs_loading() {
            return &[];
        }
        self.data
            .get(h.offset as usize..(h.offset + h.size) as usize)
            .unwrap_or(&[])
    }

    /// Where section `index`'s `sh_addr` lies in [`SectionTable::bytes`] (4 bytes in ELF32, 8
    /// in ELF64), for writing the address of a loaded copy.
    pub fn addr_field(&self, index: u16) -> Range<usize> {
        let start = index as usize * self.entry_size;
        match self.class {
            Class::Elf32 => start + 12..start + 16,
            Class::Elf64 => start + 16..start + 24,
        }
    }
}

/// Where the sections to load go: one block holding the header table (with their `sh_addr`
/// written) and then each section's bytes, each start aligned to its `sh_addralign` (at least
/// 16, at most 4096).
#[derive(Clone, Copy, Debug)]
pub struct SectionLayout<'a> {
    table: SectionTable<'a>,
}

impl<'a> SectionLayout<'a> {
    pub fn new(table: SectionTable<'a>) -> Self {
        SectionLayout { table }
    }

    pub fn table(&self) -> SectionTable<'a> {
        self.table
    }

    /// Bytes the block needs.
    pub fn size(&self) -> u64 {
        self.places()
            .last()
            .map_or(self.table_len(), |(_, r)| r.end)
    }

    fn table_len(&self) -> u64 {
        self.table.bytes().len() as u64
    }

    /// `(section index, offset range in the block)` of every section to load, in order.
    pub fn places(&self) -> impl Iterator<Item = (u16, Range<u64>)> + '_ {
        let mut at = self.table_len();
        (0..self.table.count).filter_map(move |index| {
            let h = self.table.header(index);
            if !h.needs_loading() {
                return None;
            }
            let align = h.addralign.clamp(16, 4096).next_power_of_two();
            let start = at.div_ceil(align) * align;
            at = start + h.size;
            Some((index, start..at))
        })
    }

    /// Writes the block for physical address `base` into `out` (at least [`size`] bytes):
    /// the header table with each loaded section's `sh_addr` set, then the sections.
    ///
    /// [`size`]: SectionLayout::size
    pub fn write(&self, base: u64, out: &mut [u8]) -> Option<()> {
        let table = self.table.bytes();
        out.get_mut(..usize::try_from(self.size()).ok()?)?.fill(0);
        out.get_mut(..table.len())?.copy_from_slice(table);
        for (index, place) in self.places() {
            let address = base + place.start;
            let field = self.table.addr_field(index);
            let width = field.len();
            out.get_mut(field)?
                .copy_from_slice(address.to_le_bytes().get(..width)?);
            let contents = self.table.contents(index);
            out.get_mut(place.start as usize..place.end as usize)?
                .copy_from_slice(contents);
        }
        Some(())
    }
}
