//! A defensive view of the Multiboot 2 boot information: the tag list is walked through
//! `phys` with every size checked, so nothing here can fault or loop forever.

use crate::phys::{self, Range};

/// A total size above this is taken for garbage.
pub const MAX_TOTAL: u32 = 1 << 20;

pub const END: u32 = 0;
pub const CMDLINE: u32 = 1;
pub const LOADER_NAME: u32 = 2;
pub const MODULE: u32 = 3;
pub const BASIC_MEMINFO: u32 = 4;
pub const MMAP: u32 = 6;
pub const VBE: u32 = 7;
pub const FRAMEBUFFER: u32 = 8;
pub const ELF_SECTIONS: u32 = 9;
pub const APM: u32 = 10;
pub const ACPI_OLD: u32 = 14;
pub const ACPI_NEW: u32 = 15;
pub const NETWORK: u32 = 16;
pub const EFI64: u32 = 12;
pub const EFI_MMAP: u32 = 17;
pub const EFI_BS: u32 = 18;
pub const EFI64_IH: u32 = 20;
pub const LOAD_BASE_ADDR: u32 = 21;

pub const RAM: u32 = 1;

/// The information structure at `addr`: its header checked.
#[derive(Clone, Copy)]
pub struct Mbi2 {
    pub addr: u64,
    pub total: u32,
    pub reserved: u32,
}

/// One tag: where it starts, its type and its size (header included, padding excluded).
#[derive(Clone, Copy)]
pub struct Tag {
    pub at: u64,
    pub kind: u32,
    pub size: u32,
}

/// Why the walk stopped early.
#[derive(Clone, Copy, Debug)]
pub enum Malformed {
    /// A tag header that does not fit before the end of the structure.
    Truncated { at: u64 },
    /// A size below 8, or one that runs past the end.
    BadSize { at: u64, size: u32 },
    /// No end tag before `total_size`.
    NoEnd,
    /// An end tag whose size is not 8, or that does not end the structure.
    BadEnd { at: u64, size: u32 },
}

impl Mbi2 {
    /// None when `addr` is not 8-byte aligned or the header is unreadable or absurd.
    pub fn at(addr: u32) -> Option<Mbi2> {
        let addr = addr as u64;
        if addr == 0 || !addr.is_multiple_of(8) {
            return None;
        }
        let total = phys::read_u32(addr)?;
        let reserved = phys::read_u32(addr + 4)?;
        (16..=MAX_TOTAL).contains(&total).then_some(Mbi2 {
            addr,
            total,
            reserved,
        })
    }

    pub fn range(&self) -> Range {
        Range::with_len(self.addr, self.total as u64)
    }

    /// The tags in order, then the end tag; an `Err` (once) if the list is malformed.
    pub fn tags(&self) -> Tags {
        Tags {
            at: self.addr + 8,
            end: self.addr + self.total as u64,
            done: false,
        }
    }

    /// The first tag of `kind` (well-formed part of the list only).
    pub fn find(&self, kind: u32) -> Option<Tag> {
        self.tags().filter_map(Result::ok).find(|t| t.kind == kind)
    }
}

pub struct Tags {
    at: u64,
    end: u64,
    done: bool,
}

impl Iterator for Tags {
    type Item = Result<Tag, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.at;
        if at + 8 > self.end {
            self.done = true;
            return Some(Err(if at == self.end {
                Malformed::NoEnd
            } else {
                Malformed::Truncated { at }
            }));
        }
        let (Some(kind), Some(size)) = (phys::read_u32(at), phys::read_u32(at + 4)) else {
            self.done = true;
            return Some(Err(Malformed::Truncated { at }));
        };
        if size < 8 || at + size as u64 > self.end {
            self.done = true;
            return Some(Err(Malformed::BadSize { at, size }));
        }
        if kind == END {
            self.done = true;
            if size != 8 || at + 8 != self.end {
                return Some(Err(Malformed::BadEnd { at, size }));
            }
            return Some(Ok(Tag { at, kind, size }));
        }
        self.at = at + (size as u64).div_ceil(8) * 8;
        Some(Ok(Tag { at, kind, size }))
    }
}

impl Tag {
    pub fn u8(&self, offset: u64) -> Option<u8> {
        (offset < self.size as u64)
            .then(|| phys::read_u8(self.at + offset))
            .flatten()
    }

    pub fn u16(&self, offset: u64) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8(offset)?, self.u8(offset + 1)?]))
    }

    pub fn u32(&self, offset: u64) -> Option<u32> {
        (offset + 4 <= self.size as u64)
            .then(|| phys::read_u32(self.at + offset))
            .flatten()
    }

    pub fn u64(&self, offset: u64) -> Option<u64> {
        (offset + 8 <= self.size as u64)
            .then(|| phys::read_u64(self.at + offset))
            .flatten()
    }

    /// The bytes from `offset` to the tag's end.
    pub fn rest(&self, offset: u64) -> &'static [u8] {
        if offset >= self.size as u64 {
            return &[];
        }
        phys::slice(Range::new(self.at + offset, self.at + self.size as u64)).unwrap_or(&[])
    }

    /// A NUL-terminated string from `offset` that ends inside the tag.
    pub fn string(&self, offset: u64) -> Option<&'static [u8]> {
        let rest = self.rest(offset);
        let nul = rest.iter().position(|&b| b == 0)?;
        Some(&rest[..nul])
    }
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Malformed::Truncated { at } => write!(f, "truncated_tag_at_{at:#x}"),
            Malformed::BadSize { at, size } => write!(f, "bad_size_{size}_at_{at:#x}"),
            Malformed::NoEnd => f.write_str("no_end_tag"),
            Malformed::BadEnd { at, size } => write!(f, "bad_end_tag_size_{size}_at_{at:#x}"),
        }
    }
}

/// One memory map entry.
#[derive(Clone, Copy)]
pub struct MmapEntry {
    pub base: u64,
    pub len: u64,
    pub kind: u32,
}

/// The memory map tag's entries (`entry_size` at offset 8, entries from 16); none when the
/// entry size is below 24.
pub fn mmap_entries(tag: &Tag) -> impl Iterator<Item = MmapEntry> + '_ {
    let entry_size = tag.u32(8).unwrap_or(0) as u64;
    let count = if entry_size >= 24 {
        (tag.size as u64).saturating_sub(16) / entry_size
    } else {
        0
    };
    (0..count).filter_map(move |i| {
        let at = 16 + i * entry_size;
        Some(MmapEntry {
            base: tag.u64(at)?,
            len: tag.u64(at + 8)?,
            kind: tag.u32(at + 16)?,
        })
    })
}

/// Whether every byte of `range` is RAM by the memory map (adjacent RAM entries joined).
pub fn is_ram(mmap: Option<&Tag>, range: Range) -> bool {
    let Some(tag) = mmap else {
        return false;
    };
    if range.is_empty() {
        return true;
    }
    let mut pos = range.start;
    for _ in 0..256 {
        if pos >= range.end {
            return true;
        }
        let next = mmap_entries(tag)
            .filter(|e| e.kind == RAM && e.base <= pos && pos < e.base.saturating_add(e.len))
            .map(|e| e.base.saturating_add(e.len))
            .max();
        match next {
            Some(end) if end > pos => pos = end,
            _ => return false,
        }
    }
    false
}

/// How many bytes of contiguous RAM the map shows from `start` on.
pub fn ram_run_from(tag: &Tag, start: u64) -> u64 {
    let mut pos = start;
    for _ in 0..256 {
        let next = mmap_entries(tag)
            .filter(|e| e.kind == RAM && e.base <= pos && pos < e.base.saturating_add(e.len))
            .map(|e| e.base.saturating_add(e.len))
            .max();
        match next {
            Some(end) if end > pos => pos = end,
            _ => break,
        }
    }
    pos - start
}
