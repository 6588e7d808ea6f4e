//! The BIOS memory map (INT 15h E820) as the runtime sees it: typed entries and the questions
//! the loader asks of them (is this range RAM, how much RAM is there below the first hole).

use core::fmt;

/// One entry exactly as the BIOS writes it (24 bytes, ACPI 3.0 layout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct E820Entry {
    pub base: u64,
    pub length: u64,
    pub kind: u32,
    pub acpi_attributes: u32,
}

pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;
pub const E820_ACPI_RECLAIMABLE: u32 = 3;
pub const E820_ACPI_NVS: u32 = 4;
pub const E820_BAD: u32 = 5;

impl E820Entry {
    /// An empty entry, for tables filled later.
    pub const ZERO: E820Entry = E820Entry {
        base: 0,
        length: 0,
        kind: 0,
        acpi_attributes: 0,
    };

    /// One past the last byte, saturating (a BIOS may report a length that overflows).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.length)
    }

    pub fn is_ram(&self) -> bool {
        // ACPI 3.0: bit 0 of the attributes clear means "ignore this entry".
        self.kind == E820_RAM && self.acpi_attributes & 1 == 1
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            E820_RAM => "usable",
            E820_RESERVED => "reserved",
            E820_ACPI_RECLAIMABLE => "ACPI reclaimable",
            E820_ACPI_NVS => "ACPI NVS",
            E820_BAD => "bad memory",
            _ => "reserved (other)",
        }
    }
}

impl fmt::Display for E820Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#012x}-{:#012x} {:>9} KiB {}",
            self.base,
            self.end().saturating_sub(1),
            self.length / 1024,
            self.kind_name()
        )
    }
}

/// A view over the entries the BIOS gave, in its order.
#[derive(Clone, Copy)]
pub struct MemoryMap<'a> {
    entries: &'a [E820Entry],
}

impl<'a> MemoryMap<'a> {
    pub fn new(entries: &'a [E820Entry]) -> Self {
        MemoryMap { entries }
    }

    pub fn entries(&self) -> &'a [E820Entry] {
        self.entries
    }

    /// True when every byte of `[start, end)` lies in usable RAM and in no entry that is not
    /// RAM (BIOSes do report overlapping entries; the stricter one wins).
    pub fn is_ram(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        if self
            .entries
            .iter()
            .any(|e| !e.is_ram() && e.base < end && start < e.end())
        {
            return false;
        }
        // Walk forward through RAM entries until the range is covered.
        let mut covered = start;
        loop {
            let next = self
                .entries
                .iter()
                .filter(|e| e.is_ram() && e.base <= covered && covered < e.end())
                .map(|e| e.end())
                .max();
            match next {
                Some(end_of_entry) if end_of_entry >= end => return true,
                Some(end_of_entry) => covered = end_of_entry,
                None => return false,
            }
        }
    }

    /// Multiboot's mem_lower: KiB of RAM from address 0, at most 640.
    pub fn lower_kib(&self) -> u32 {
        (self.contiguous_ram_from(0).min(640 * 1024) / 1024) as u32
    }

    /// Multiboot's mem_upper: KiB of RAM from 1 MiB up to the first hole.
    pub fn upper_kib(&self) -> u32 {
        let bytes = self.contiguous_ram_from(0x10_0000);
        (bytes / 1024).min(u32::MAX as u64) as u32
    }

    /// The total of all usable RAM, in bytes.
    pub fn total_ram(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.is_ram())
            .map(|e| e.length)
            .fold(0, u64::saturating_add)
    }

    fn contiguous_ram_from(&self, start: u64) -> u64 {
        let mut end = start;
        loop {
            let next = self
                .entries
                .iter()
                .filter(|e| e.is_ram() && e.base <= end && end < e.end())
                .map(|e| e.end())
                .max();
            match next {
                Some(e) => end = e,
                None => break,
            }
        }
        // Clip at the first non-RAM entry that starts inside the run.
        let hole = self
            .entries
            .iter()
            .filter(|e| !e.is_ram() && e.end() > start && e.base < end)
            .map(|e| e.base.max(start))
            .min()
            .unwrap_or(end);
        hole.min(end) - start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(base: u64, length: u64) -> E820Entry {
        E820Entry {
            base,
            length,
            kind: E820_RAM,
            acpi_attributes: 1,
        }
    }
    fn reserved(base: u64, length: u64) -> E820Entry {
        E820Entry {
            base,
            length,
            kind: E820_RESERVED,
            acpi_attributes: 1,
        }
    }

    /// What SeaBIOS reports for -m 128.
    fn qemu_128m() -> [E820Entry; 5] {
        [
            ram(0, 0x9fc00),
            reserved(0x9fc00, 0x400),
            reserved(0xf0000, 0x10000),
            ram(0x100000, 0x7ee0000),
            reserved(0xfffc0000, 0x40000),
        ]
    }

    #[test]
    fn lower_and_upper_memory() {
        let map = qemu_128m();
        let map = MemoryMap::new(&map);
        assert_eq!(map.lower_kib(), 639);
        assert_eq!(map.upper_kib(), 0x7ee0000 / 1024);
    }

    #[test]
    fn ranges_inside_and_outside_ram() {
        let map = qemu_128m();
        let map = MemoryMap::new(&map);
        assert!(map.is_ram(0x100000, 0x200000));
        assert!(!map.is_ram(0x9f000, 0xa0000), "crosses into the EBDA");
        assert!(!map.is_ram(0x7f00000, 0x8000000), "past the end of RAM");
        assert!(!map.is_ram(0xa0000, 0x100000), "the hole below 1 MiB");
    }

    #[test]
    fn adjacent_entries_join_and_overlaps_are_strict() {
        let entries = [
            ram(0x100000, 0x100000),
            ram(0x200000, 0x100000),
            reserved(0x280000, 0x1000),
        ];
        let map = MemoryMap::new(&entries);
        assert!(map.is_ram(0x100000, 0x280000));
        assert!(!map.is_ram(0x27f000, 0x281000));
        assert_eq!(map.upper_kib(), 0x180000 / 1024);
    }

    #[test]
    fn disabled_entries_are_not_ram() {
        let entries = [E820Entry {
            base: 0,
            length: 0x1000,
            kind: E820_RAM,
            acpi_attributes: 0,
        }];
        assert!(!MemoryMap::new(&entries).is_ram(0, 0x1000));
    }

    #[test]
    fn overflowing_lengths_do_not_panic() {
        let entries = [ram(u64::MAX - 10, u64::MAX), reserved(u64::MAX, 5)];
        let map = MemoryMap::new(&entries);
        assert!(!map.is_ram(0, 1));
        let _ = (map.lower_kib(), map.upper_kib(), map.total_ram());
    }
}
