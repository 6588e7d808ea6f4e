use std::vec;
use std::vec::Vec;

use super::memory_type::*;
use super::*;
use crate::memmap::MemoryMap;
use crate::test_rng::Rng;

/// Descriptors as a firmware writes them, `size` bytes each (OVMF: 48).
fn map_bytes(descriptors: &[(u32, u64, u64, u64)], size: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for &(kind, start, pages, attribute) in descriptors {
        let mut d = vec![0u8; size];
        d[0..4].copy_from_slice(&kind.to_le_bytes());
        d[8..16].copy_from_slice(&start.to_le_bytes());
        d[16..24].copy_from_slice(&0xdead_0000u64.to_le_bytes()); // virtual start: ignored
        d[24..32].copy_from_slice(&pages.to_le_bytes());
        d[32..40].copy_from_slice(&attribute.to_le_bytes());
        bytes.extend_from_slice(&d);
    }
    bytes
}

const WB: u64 = 0xf; // UC | WC | WT | WB
const RT: u64 = ATTRIBUTE_RUNTIME;

/// The shape of OVMF's map for 256 MiB on q35 (from its debug log), abridged.
fn ovmf_like() -> Vec<(u32, u64, u64, u64)> {
    vec![
        (BOOT_SERVICES_CODE, 0x0, 1, WB),
        (CONVENTIONAL, 0x1000, 0x9f, WB),
        (CONVENTIONAL, 0x100000, 0x700, WB),
        (ACPI_NVS, 0x800000, 8, WB),
        (CONVENTIONAL, 0x808000, 8, WB),
        (ACPI_NVS, 0x810000, 0xf0, WB),
        (LOADER_CODE, 0x900000, 0x30, WB),
        (CONVENTIONAL, 0x930000, 0xe000, WB),
        (BOOT_SERVICES_DATA, 0xe930000, 0x20, WB),
        (BOOT_SERVICES_DATA, 0xe950000, 0x10, WB),
        (CONVENTIONAL, 0xe960000, 0x1000, WB),
        (RUNTIME_SERVICES_DATA, 0xf960000, 0x40, WB | RT),
        (ACPI_RECLAIM, 0xf9a0000, 4, WB),
        (BOOT_SERVICES_CODE, 0xf9a4000, 0x600, WB),
        (RESERVED, 0xffc00000, 0x400, RT),
        (MMIO, 0xb0000000, 0x10000, RT),
    ]
}

#[test]
fn kernel_map_after_exit_boot_services() {
    let bytes = map_bytes(&ovmf_like(), 48);
    let map = EfiMemoryMap::new_checked(&bytes, 48).unwrap();
    assert_eq!(map.len(), 16);
    let mut out = [E820Entry::default(); 32];
    let n = map.to_e820(&mut out).unwrap();
    let got: Vec<(u64, u64, u32)> = out[..n].iter().map(|e| (e.base, e.end(), e.kind)).collect();
    assert_eq!(
        got,
        [
            (0, 0xa0000, E820_RAM),
            (0x100000, 0x800000, E820_RAM),
            (0x800000, 0x808000, E820_ACPI_NVS),
            (0x808000, 0x810000, E820_RAM),
            (0x810000, 0x900000, E820_ACPI_NVS),
            // loader code, conventional, boot services data: all RAM, one entry.
            (0x900000, 0xf960000, E820_RAM),
            (0xf960000, 0xf9a0000, E820_RESERVED),
            (0xf9a0000, 0xf9a4000, E820_ACPI_RECLAIMABLE),
            (0xf9a4000, 0xffa4000, E820_RAM),
            (0xb0000000, 0xc0000000, E820_RESERVED),
            (0xffc00000, 0x1_0000_0000, E820_RESERVED),
        ]
    );
    // The planner's view of it: the E820 view answers as for a BIOS map.
    let kernel = MemoryMap::new(&out[..n]);
    assert_eq!(kernel.lower_kib(), 640);
    assert_eq!(kernel.upper_kib(), 7 * 1024);
    assert!(kernel.is_ram(0x900000, 0xf960000));
}

#[test]
fn what_is_busy_until_exit_and_what_is_free() {
    let bytes = map_bytes(&ovmf_like(), 48);
    let map = EfiMemoryMap::new_checked(&bytes, 48).unwrap();
    let mut out = [E820Entry::default(); 16];
    let n = map.busy_until_exit(&mut out).unwrap();
    let busy: Vec<_> = out[..n].iter().map(|e| e.base..e.end()).collect();
    assert_eq!(
        busy,
        [
            0..0x1000,
            0x900000..0x930000,
            0xe930000..0xe960000,
            0xf9a4000..0xffa4000
        ]
    );
    let n = map.free_below(0xe000000, &mut out).unwrap();
    let free: Vec<_> = out[..n].iter().map(|e| e.base..e.end()).collect();
    assert_eq!(
        free,
        [
            0x1000..0xa0000,
            0x100000..0x800000,
            0x808000..0x810000,
            0x930000..0xe000000
        ]
    );
}

#[test]
fn special_conventional_memory_and_odd_types() {
    let bytes = map_bytes(
        &[
            (
                CONVENTIONAL,
                0x100000,
                0x100,
                WB | ATTRIBUTE_SPECIFIC_PURPOSE,
            ),
            (CONVENTIONAL, 0x200000, 0x100, WB | RT),
            (PERSISTENT, 0x300000, 0x100, WB),
            (UNUSABLE, 0x400000, 0x100, WB),
            (UNACCEPTED, 0x500000, 0x100, WB),
            (99, 0x600000, 0x100, WB),
            (CONVENTIONAL, 0x700000, 0, WB), // empty: left out
        ],
        40,
    );
    let map = EfiMemoryMap::new_checked(&bytes, 40).unwrap();
    let mut out = [E820Entry::default(); 8];
    let n = map.to_e820(&mut out).unwrap();
    let kinds: Vec<u32> = out[..n].iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [E820_RESERVED, E820_PERSISTENT, E820_BAD, E820_RESERVED],
        "sp + runtime merge into one reserved range; unaccepted and unknown likewise"
    );
    assert_eq!(map.free_below(u64::MAX, &mut out), Ok(0));
    assert_eq!(map.busy_until_exit(&mut out), Ok(0));
}

#[test]
fn bad_descriptor_sizes_and_lengths_are_errors() {
    let bytes = map_bytes(&ovmf_like(), 48);
    assert_eq!(
        EfiMemoryMap::new_checked(&bytes, 32).err(),
        Some(EfiMapError::DescriptorSize(32))
    );
    assert_eq!(
        EfiMemoryMap::new_checked(&bytes, 44).err(),
        Some(EfiMapError::DescriptorSize(44))
    );
    assert_eq!(
        EfiMemoryMap::new_checked(&bytes[..100], 48).err(),
        Some(EfiMapError::Length {
            len: 100,
            descriptor_size: 48
        })
    );
    let map = EfiMemoryMap::new_checked(&bytes, 48).unwrap();
    let mut small = [E820Entry::default(); 3];
    assert_eq!(
        map.to_e820(&mut small),
        Err(EfiMapError::TooManyEntries { capacity: 3 })
    );
    assert!(EfiMemoryMap::new_checked(&[], 48).unwrap().is_empty());
}

/// Seeded: random firmware maps (disjoint ranges, shuffled, random types, some touching)
/// give a sorted E820 map with no two touching entries of one type, and every page keeps
/// the type its descriptor says; hostile descriptors (huge page counts) never panic.
#[test]
fn random_maps_keep_every_page_type() {
    let kinds = [
        CONVENTIONAL,
        BOOT_SERVICES_DATA,
        LOADER_CODE,
        ACPI_NVS,
        ACPI_RECLAIM,
        RUNTIME_SERVICES_CODE,
        RESERVED,
        MMIO,
    ];
    for seed in 0..300 {
        let mut rng = Rng::new(seed);
        let mut descriptors = Vec::new();
        let mut at = rng.below(16) * PAGE;
        for _ in 0..1 + rng.below(40) {
            let pages = 1 + rng.below(64);
            descriptors.push((kinds[rng.index(kinds.len())], at, pages, WB));
            at += (pages + if rng.below(3) == 0 { rng.below(8) } else { 0 }) * PAGE;
        }
        for i in (1..descriptors.len()).rev() {
            descriptors.swap(i, rng.index(i + 1));
        }
        let bytes = map_bytes(&descriptors, 48);
        let map = EfiMemoryMap::new_checked(&bytes, 48).unwrap();
        let mut out = [E820Entry::default(); 64];
        let n = map.to_e820(&mut out).unwrap();
        let out = &out[..n];
        for pair in out.windows(2) {
            assert!(
                pair[0].end() <= pair[1].base,
                "seed {seed}: sorted, disjoint"
            );
            assert!(
                !(pair[0].end() == pair[1].base && pair[0].kind == pair[1].kind),
                "seed {seed}: touching entries of one type are merged"
            );
        }
        for d in map.descriptors() {
            for page in 0..d.pages {
                let address = d.physical_start + page * PAGE;
                let entry = out
                    .iter()
                    .find(|e| e.base <= address && address < e.end())
                    .unwrap();
                assert_eq!(entry.kind, d.e820_kind(), "seed {seed} at {address:#x}");
            }
        }
        let total: u64 = out.iter().map(|e| e.length).sum();
        let pages: u64 = descriptors.iter().map(|d| d.2).sum();
        assert_eq!(total, pages * PAGE, "seed {seed}");
    }
    let hostile = map_bytes(&[(CONVENTIONAL, u64::MAX - 5, u64::MAX, 0); 3], 48);
    let map = EfiMemoryMap::new_checked(&hostile, 48).unwrap();
    let mut out = [E820Entry::default(); 4];
    let _ = map.to_e820(&mut out);
    let _ = map.free_below(u64::MAX, &mut out);
}
