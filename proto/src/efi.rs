//! The UEFI memory map (`GetMemoryMap`'s descriptors, UEFI spec 2.10 section 7.2) as netloader
//! uses it: a checked view over the firmware's bytes, the E820-style map a kernel gets (what
//! is RAM once ExitBootServices has run), and what the firmware and the loader occupy until
//! then (which the load planner must not hand out, but may plan fixed kernel segments onto:
//! the hand-off copies those after ExitBootServices, as on a BIOS over netloader's own memory).
//!
//! Which types are RAM after ExitBootServices follows the spec's table 7.10 ("Memory type
//! usage after ExitBootServices()"), as Linux's `efi_memmap` -> E820 conversion and GRUB's
//! `grub_efi_mmap_iterate` do: loader and boot-services code and data, and conventional
//! memory, are free; runtime-services memory, MMIO and the reserved types stay reserved;
//! ACPI tables are ACPI-reclaimable, ACPI NVS stays NVS; persistent memory is E820 type 7.
//! Conventional memory marked "specific purpose" (EFI_MEMORY_SP) or "runtime" is not general
//! RAM, and unaccepted memory (type 15) cannot be used without accepting it: both reserved.

use core::fmt;
use core::ops::Range;

use crate::memmap::{
    E820_ACPI_NVS, E820_ACPI_RECLAIMABLE, E820_BAD, E820_RAM, E820_RESERVED, E820Entry,
};

/// `EFI_MEMORY_TYPE` values.
pub mod memory_type {
    pub const RESERVED: u32 = 0;
    pub const LOADER_CODE: u32 = 1;
    pub const LOADER_DATA: u32 = 2;
    pub const BOOT_SERVICES_CODE: u32 = 3;
    pub const BOOT_SERVICES_DATA: u32 = 4;
    pub const RUNTIME_SERVICES_CODE: u32 = 5;
    pub const RUNTIME_SERVICES_DATA: u32 = 6;
    pub const CONVENTIONAL: u32 = 7;
    pub const UNUSABLE: u32 = 8;
    pub const ACPI_RECLAIM: u32 = 9;
    pub const ACPI_NVS: u32 = 10;
    pub const MMIO: u32 = 11;
    pub const MMIO_PORT_SPACE: u32 = 12;
    pub const PAL_CODE: u32 = 13;
    pub const PERSISTENT: u32 = 14;
    pub const UNACCEPTED: u32 = 15;
}

/// `EFI_MEMORY_RUNTIME`: the range must keep its mapping for runtime services.
pub const ATTRIBUTE_RUNTIME: u64 = 1 << 63;
/// `EFI_MEMORY_SP`: "specific purpose" memory, not for general allocations.
pub const ATTRIBUTE_SPECIFIC_PURPOSE: u64 = 1 << 18;
/// E820 type 7: persistent memory (ACPI 6 "AddressRangePersistentMemory").
pub const E820_PERSISTENT: u32 = 7;
/// The size of a UEFI page.
pub const PAGE: u64 = 4096;
/// The descriptor's fields up to the attribute: what a firmware's `DescriptorSize` must cover.
pub const DESCRIPTOR_MIN_SIZE: usize = 40;
/// `EFI_MEMORY_DESCRIPTOR_VERSION`.
pub const DESCRIPTOR_VERSION: u32 = 1;

/// One `EFI_MEMORY_DESCRIPTOR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub kind: u32,
    pub physical_start: u64,
    pub pages: u64,
    pub attribute: u64,
}

impl Descriptor {
    /// One past the last byte, saturating (a broken firmware's page count must not wrap).
    pub fn end(&self) -> u64 {
        self.physical_start
            .saturating_add(self.pages.saturating_mul(PAGE))
    }

    pub fn range(&self) -> Range<u64> {
        self.physical_start..self.end()
    }

    /// The E820 type this range has for a kernel started after ExitBootServices.
    pub fn e820_kind(&self) -> u32 {
        use memory_type::*;
        match self.kind {
            LOADER_CODE | LOADER_DATA | BOOT_SERVICES_CODE | BOOT_SERVICES_DATA | CONVENTIONAL
                if self.attribute & (ATTRIBUTE_RUNTIME | ATTRIBUTE_SPECIFIC_PURPOSE) == 0 =>
            {
                E820_RAM
            }
            ACPI_RECLAIM => E820_ACPI_RECLAIMABLE,
            ACPI_NVS => E820_ACPI_NVS,
            UNUSABLE => E820_BAD,
            PERSISTENT => E820_PERSISTENT,
            _ => E820_RESERVED,
        }
    }

    /// RAM after ExitBootServices that someone (the firmware, or a loader, netloader
    /// included) holds until then.
    pub fn busy_until_exit(&self) -> bool {
        self.e820_kind() == E820_RAM && self.kind != memory_type::CONVENTIONAL
    }
}

/// Why the firmware's bytes are no memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EfiMapError {
    /// `DescriptorSize` is smaller than a descriptor, or not a multiple of 8.
    DescriptorSize(usize),
    /// The map's length is not a whole number of descriptors.
    Length { len: usize, descriptor_size: usize },
    /// The E820 table has room for `capacity` entries and the map needs more.
    TooManyEntries { capacity: usize },
}

impl fmt::Display for EfiMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EfiMapError::DescriptorSize(size) => write!(
                f,
                "the firmware's memory descriptors are {size} bytes (at least {DESCRIPTOR_MIN_SIZE}, a multiple of 8)"
            ),
            EfiMapError::Length {
                len,
                descriptor_size,
            } => write!(
                f,
                "the firmware's memory map ({len} bytes) is not a whole number of {descriptor_size}-byte descriptors"
            ),
            EfiMapError::TooManyEntries { capacity } => write!(
                f,
                "the firmware's memory map has more than {capacity} separate ranges"
            ),
        }
    }
}

/// The firmware's memory map: `GetMemoryMap`'s buffer and its `DescriptorSize` (which may be
/// larger than the descriptor this module reads: newer firmware appends fields).
#[derive(Clone, Copy, Debug)]
pub struct EfiMemoryMap<'a> {
    bytes: &'a [u8],
    descriptor_size: usize,
}

impl<'a> EfiMemoryMap<'a> {
    pub fn new_checked(bytes: &'a [u8], descriptor_size: usize) -> Result<Self, EfiMapError> {
        if descriptor_size < DESCRIPTOR_MIN_SIZE || !descriptor_size.is_multiple_of(8) {
            return Err(EfiMapError::DescriptorSize(descriptor_size));
        }
        if !bytes.len().is_multiple_of(descriptor_size) {
            return Err(EfiMapError::Length {
                len: bytes.len(),
                descriptor_size,
            });
        }
        Ok(EfiMemoryMap {
            bytes,
            descriptor_size,
        })
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn descriptor_size(&self) -> usize {
        self.descriptor_size
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / self.descriptor_size
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn descriptors(&self) -> impl Iterator<Item = Descriptor> + 'a {
        let word = |d: &[u8], at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&d[at..at + 8]);
            u64::from_le_bytes(b)
        };
        self.bytes
            .chunks_exact(self.descriptor_size)
            .map(move |d| Descriptor {
                kind: word(d, 0) as u32,
                physical_start: word(d, 8),
                pages: word(d, 24),
                attribute: word(d, 32),
            })
    }

    /// The E820-style map a kernel gets after ExitBootServices: every descriptor as its E820
    /// type, sorted by address, neighbours of the same type merged, empty ones left out.
    /// Returns the entries written to `out`.
    pub fn to_e820(&self, out: &mut [E820Entry]) -> Result<usize, EfiMapError> {
        let entries = self
            .descriptors()
            .filter(|d| d.pages != 0)
            .map(|d| E820Entry {
                base: d.physical_start,
                length: d.end() - d.physical_start,
                kind: d.e820_kind(),
                acpi_attributes: 1,
            });
        sorted_merged(entries, out)
    }

    /// The ranges that are RAM after ExitBootServices but held until then (boot-services and
    /// loader code and data), sorted and merged (as E820 RAM entries): the planner reserves
    /// them as the loader's own, so nothing is placed there before the hand-off. Returns the
    /// entries written to `out`.
    pub fn busy_until_exit(&self, out: &mut [E820Entry]) -> Result<usize, EfiMapError> {
        let busy = self
            .descriptors()
            .filter(|d| d.pages != 0 && d.busy_until_exit());
        sorted_merged(busy.map(|d| ram(d.physical_start, d.end())), out)
    }

    /// Free conventional memory below `limit` (as E820 RAM entries, sorted and merged): what
    /// a loader may claim (AllocatePages at these addresses) for the files it places.
    /// Returns the entries written to `out`.
    pub fn free_below(&self, limit: u64, out: &mut [E820Entry]) -> Result<usize, EfiMapError> {
        let free = self.descriptors().filter(|d| {
            d.pages != 0
                && d.kind == memory_type::CONVENTIONAL
                && d.e820_kind() == E820_RAM
                && d.physical_start < limit
        });
        sorted_merged(free.map(|d| ram(d.physical_start, d.end().min(limit))), out)
    }
}

fn ram(start: u64, end: u64) -> E820Entry {
    E820Entry {
        base: start,
        length: end - start,
        kind: E820_RAM,
        acpi_attributes: 1,
    }
}

/// Insertion into `out` sorted by base, merging an entry with the one before or after it
/// when they touch and have the same type. Firmware maps are short (tens of entries) and
/// mostly sorted already.
fn sorted_merged(
    entries: impl Iterator<Item = E820Entry>,
    out: &mut [E820Entry],
) -> Result<usize, EfiMapError> {
    let mut len = 0usize;
    for entry in entries {
        let at = out[..len].partition_point(|e| e.base <= entry.base);
        // Joins the previous entry?
        if at > 0 && out[at - 1].kind == entry.kind && out[at - 1].end() == entry.base {
            out[at - 1].length = out[at - 1].length.saturating_add(entry.length);
            if at < len && out[at].kind == entry.kind && out[at - 1].end() == out[at].base {
                out[at - 1].length = out[at - 1].length.saturating_add(out[at].length);
                out.copy_within(at + 1..len, at);
                len -= 1;
            }
            continue;
        }
        // Joins the next one?
        if at < len && out[at].kind == entry.kind && entry.end() == out[at].base {
            out[at].base = entry.base;
            out[at].length = out[at].length.saturating_add(entry.length);
            continue;
        }
        if len == out.len() {
            return Err(EfiMapError::TooManyEntries {
                capacity: out.len(),
            });
        }
        out.copy_within(at..len, at + 1);
        out[at] = entry;
        len += 1;
    }
    Ok(len)
}

#[cfg(test)]
mod tests;
