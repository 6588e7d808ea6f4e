//! A defensive view of the Multiboot 1 information structure: every field is read through
//! `phys`, every count and length is capped, and nothing here can fault or loop forever.

use crate::phys::{self, Range};

pub const FLAG_MEM: u32 = 1 << 0;
pub const FLAG_CMDLINE: u32 = 1 << 2;
pub const FLAG_MODS: u32 = 1 << 3;
pub const FLAG_MMAP: u32 = 1 << 6;
pub const FLAG_DRIVES: u32 = 1 << 7;
pub const FLAG_LOADER_NAME: u32 = 1 << 9;
pub const FLAG_VBE: u32 = 1 << 11;
pub const FLAG_FRAMEBUFFER: u32 = 1 << 12;

/// A module count above this is taken for garbage: no module is looked at then.
pub const MAX_MODULES: u32 = 1024;
/// mmap_length beyond this is treated as garbage.
pub const MAX_MMAP_BYTES: u32 = 64 * 1024;
/// Strings longer than this count as unterminated.
pub const MAX_STRING: u64 = 4096;

pub const RAM: u32 = 1;
const MODULE_ENTRY_BYTES: u64 = 16;

#[derive(Clone, Copy)]
pub struct Mbi {
    pub addr: u64,
    pub flags: u32,
}

#[derive(Clone, Copy)]
pub struct Module {
    pub start: u64,
    pub end: u64,
    pub string: u64,
}

/// The framebuffer fields of flag 12.
#[derive(Clone, Copy)]
pub struct Framebuffer {
    pub address: u64,
    pub pitch: u32,
    pub width: u32,
    pub height: u32,
    pub bpp: u8,
    /// 0 indexed, 1 RGB, 2 EGA text.
    pub kind: u8,
    /// Red position and size, green's, blue's (RGB only).
    pub colours: [u8; 6],
}

#[derive(Clone, Copy)]
pub struct MmapEntry {
    pub base: u64,
    pub len: u64,
    pub kind: u32,
}

impl Mbi {
    pub fn at(addr: u32) -> Option<Mbi> {
        let addr = addr as u64;
        Some(Mbi {
            addr,
            flags: phys::read_u32(addr)?,
        })
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    fn field(&self, offset: u64) -> Option<u32> {
        phys::read_u32(self.addr + offset)
    }

    /// The bytes of the structure the flags say are in use (up to the last present field).
    pub fn range(&self) -> Range {
        const LAST_FIELD_END: [(u32, u64); 13] = [
            (0, 12),
            (1, 16),
            (2, 20),
            (3, 28),
            (4, 44),
            (5, 44),
            (6, 52),
            (7, 60),
            (8, 64),
            (9, 68),
            (10, 72),
            (11, 88),
            (12, 116),
        ];
        let mut end = 4;
        for (bit, field_end) in LAST_FIELD_END {
            if self.flags & 1 << bit != 0 {
                end = end.max(field_end);
            }
        }
        Range::with_len(self.addr, end)
    }

    /// (mem_lower, mem_upper) in KiB.
    pub fn mem(&self) -> Option<(u32, u32)> {
        if !self.has(FLAG_MEM) {
            return None;
        }
        Some((self.field(4)?, self.field(8)?))
    }

    pub fn cmdline(&self) -> Option<u64> {
        self.has(FLAG_CMDLINE)
            .then(|| self.field(16))
            .flatten()
            .map(u64::from)
    }

    pub fn loader_name(&self) -> Option<u64> {
        self.has(FLAG_LOADER_NAME)
            .then(|| self.field(64))
            .flatten()
            .map(u64::from)
    }

    /// (count as given, the module array's range for the capped count).
    pub fn modules(&self) -> Option<(u32, Range)> {
        if !self.has(FLAG_MODS) {
            return None;
        }
        let count = self.field(20)?;
        let addr = self.field(24)? as u64;
        Some((
            count,
            Range::with_len(addr, count.min(MAX_MODULES) as u64 * MODULE_ENTRY_BYTES),
        ))
    }

    pub fn module(&self, index: u32) -> Option<Module> {
        let (count, array) = self.modules()?;
        if index >= count.min(MAX_MODULES) {
            return None;
        }
        let entry = array.start + index as u64 * MODULE_ENTRY_BYTES;
        Some(Module {
            start: phys::read_u32(entry)? as u64,
            end: phys::read_u32(entry + 4)? as u64,
            string: phys::read_u32(entry + 8)? as u64,
        })
    }

    /// The memory map's range (length capped).
    pub fn mmap(&self) -> Option<Range> {
        if !self.has(FLAG_MMAP) {
            return None;
        }
        let length = self.field(44)?.min(MAX_MMAP_BYTES);
        Some(Range::with_len(self.field(48)? as u64, length as u64))
    }

    /// The VBE fields (flag 11): the controller and mode information copies, the mode.
    pub fn vbe(&self) -> Option<(Range, Range, u16)> {
        if !self.has(FLAG_VBE) {
            return None;
        }
        let mode = self.field(80)? as u16;
        Some((
            Range::with_len(self.field(72)? as u64, 512),
            Range::with_len(self.field(76)? as u64, 256),
            mode,
        ))
    }

    /// The framebuffer fields (flag 12).
    pub fn framebuffer(&self) -> Option<Framebuffer> {
        if !self.has(FLAG_FRAMEBUFFER) {
            return None;
        }
        let mut colours = [0u8; 6];
        for (i, c) in colours.iter_mut().enumerate() {
            *c = phys::read_u8(self.addr + 110 + i as u64)?;
        }
        Some(Framebuffer {
            address: phys::read_u64(self.addr + 88)?,
            pitch: self.field(96)?,
            width: self.field(100)?,
            height: self.field(104)?,
            bpp: phys::read_u8(self.addr + 108)?,
            kind: phys::read_u8(self.addr + 109)?,
            colours,
        })
    }

    pub fn drives(&self) -> Option<Range> {
        if !self.has(FLAG_DRIVES) {
            return None;
        }
        Some(Range::with_len(
            self.field(56)? as u64,
            self.field(52)? as u64,
        ))
    }

    pub fn mmap_entries(&self) -> MmapEntries {
        match self.mmap() {
            Some(range) => MmapEntries {
                at: range.start,
                end: range.end,
            },
            None => MmapEntries { at: 0, end: 0 },
        }
    }
}

/// Entries `{u32 size, u64 base, u64 len, u32 type}` where `size` excludes itself. Yields
/// `Err` once (then stops) if an entry is too short or runs past mmap_length.
pub struct MmapEntries {
    at: u64,
    end: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct Malformed {
    pub at: u64,
}

impl Iterator for MmapEntries {
    type Item = Result<MmapEntry, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        let at = self.at;
        let entry = phys::read_u32(at)
            .filter(|&size| size >= 20 && at + 4 + size as u64 <= self.end)
            .and_then(|size| {
                Some((
                    size,
                    MmapEntry {
                        base: phys::read_u64(at + 4)?,
                        len: phys::read_u64(at + 12)?,
                        kind: phys::read_u32(at + 20)?,
                    },
                ))
            });
        match entry {
            Some((size, entry)) => {
                self.at = at + 4 + size as u64;
                Some(Ok(entry))
            }
            None => {
                self.at = self.end;
                Some(Err(Malformed { at }))
            }
        }
    }
}

impl Mbi {
    /// Whether every byte of `range` is RAM: per the memory map if there is one, else per
    /// mem_lower/mem_upper. Adjacent or overlapping RAM entries count as one.
    pub fn is_ram(&self, range: Range) -> bool {
        if range.is_empty() {
            return range.start <= phys::SPACE_END;
        }
        let mut pos = range.start;
        // Each step moves past one RAM entry, so more steps than entries cannot help.
        for _ in 0..MAX_MMAP_BYTES / 24 + 2 {
            if pos >= range.end {
                return true;
            }
            match self.ram_end_from(pos) {
                Some(end) if end > pos => pos = end,
                _ => return false,
            }
        }
        false
    }

    /// The end of a RAM region containing `pos`.
    fn ram_end_from(&self, pos: u64) -> Option<u64> {
        if self.has(FLAG_MMAP) {
            return self
                .mmap_entries()
                .filter_map(Result::ok)
                .filter(|e| e.kind == RAM && e.base <= pos && pos < e.base.saturating_add(e.len))
                .map(|e| e.base.saturating_add(e.len))
                .max();
        }
        let (lower, upper) = self.mem()?;
        let regions = [
            Range::with_len(0, lower as u64 * 1024),
            Range::with_len(0x100000, upper as u64 * 1024),
        ];
        regions
            .iter()
            .find(|r| r.start <= pos && pos < r.end)
            .map(|r| r.end)
    }

    /// How many bytes of contiguous RAM the memory map shows from `start` on.
    pub fn ram_run_from(&self, start: u64) -> u64 {
        let mut pos = start;
        for _ in 0..MAX_MMAP_BYTES / 24 + 2 {
            match self.ram_end_from(pos) {
                Some(end) if end > pos => pos = end,
                _ => break,
            }
        }
        pos - start
    }
}
