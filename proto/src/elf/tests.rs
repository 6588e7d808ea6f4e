use std::string::ToString;
use std::vec::Vec;

use super::*;
use crate::kernel::test_images::{ElfImage, Phdr, load, put16, put64};

fn check(image: &ElfImage) -> Result<(u32, Vec<Segment>), ElfError> {
    let bytes = image.build();
    let elf = ElfFile::new_checked(&bytes)?;
    Ok((elf.entry_paddr(), elf.load_segments().collect()))
}

#[test]
fn elf32_identity_mapped() {
    let image = ElfImage::elf32(0x100010)
        .with(load(0x1000, 0x100000, 0x100000, 0x200, 0x800))
        .with(Phdr {
            p_type: 4,
            offset: 0xdead_0000,
            ..load(0, 0, 0, 0x10, 0x10)
        }) // PT_NOTE
        .with(load(0x2000, 0x101000, 0x101000, 0x100, 0x100));
    let bytes = image.build();
    let elf = ElfFile::new_checked(&bytes).unwrap();
    assert_eq!(elf.class(), Class::Elf32);
    assert_eq!(elf.machine(), EM_386);
    assert_eq!(elf.entry(), 0x100010);
    assert_eq!(elf.entry_paddr(), 0x100010);
    let segments: Vec<Segment> = elf.load_segments().collect();
    assert_eq!(
        segments,
        [
            Segment {
                index: 0,
                file_offset: 0x1000,
                file_size: 0x200,
                mem_size: 0x800,
                paddr: 0x100000,
                vaddr: 0x100000,
            },
            Segment {
                index: 2,
                file_offset: 0x2000,
                file_size: 0x100,
                mem_size: 0x100,
                paddr: 0x101000,
                vaddr: 0x101000,
            },
        ]
    );
}

#[test]
fn elf64_higher_half_entry_is_translated() {
    let high = 0xffff_ffff_8000_0000u64;
    let image = ElfImage::elf64(high + 0x200020)
        .with(load(0x1000, 0x100000, 0x100000, 0x100, 0x100)) // low boot stub
        .with(load(0x2000, high + 0x200000, 0x200000, 0x800, 0x4000));
    let (entry, segments) = check(&image).unwrap();
    assert_eq!(entry, 0x200020);
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[1].vaddr, high + 0x200000);
    // ELF64 with a 32-bit entry in an identity-mapped segment (the usual hobby OS layout).
    let image = ElfImage::elf64(0x100004).with(load(0x1000, 0x100000, 0x100000, 0x100, 0x100));
    assert_eq!(check(&image).unwrap().0, 0x100004);
}

#[test]
fn elf32_entry_translated_through_its_segment() {
    let image =
        ElfImage::elf32(0xc010_0010).with(load(0x1000, 0xc010_0000, 0x0010_0000, 0x100, 0x100));
    assert_eq!(check(&image).unwrap().0, 0x0010_0010);
}

#[test]
fn truncated_files() {
    let bytes = ElfImage::elf32(0).with(load(0x1000, 0, 0, 1, 1)).build();
    for len in [0, 4, 15] {
        assert_eq!(
            ElfFile::new_checked(&bytes[..len]).unwrap_err(),
            ElfError::TooShort { len, needed: 16 }
        );
    }
    assert_eq!(
        ElfFile::new_checked(&bytes[..51]).unwrap_err(),
        ElfError::TooShort {
            len: 51,
            needed: 52
        }
    );
    let bytes = ElfImage::elf64(0).build();
    assert_eq!(
        ElfFile::new_checked(&bytes[..60]).unwrap_err(),
        ElfError::TooShort {
            len: 60,
            needed: 64
        }
    );
    // The program header table cut off.
    let bytes = ElfImage::elf32(0x100000)
        .with(load(0x1000, 0x100000, 0x100000, 1, 1))
        .build();
    assert!(matches!(
        ElfFile::new_checked(&bytes[..70]).unwrap_err(),
        ElfError::ProgramHeadersOutsideFile {
            offset: 52,
            count: 1,
            entry_size: 32,
            file_len: 70
        }
    ));
}

#[test]
fn identification_errors() {
    let good = ElfImage::elf32(0x100000)
        .with(load(0x1000, 0x100000, 0x100000, 1, 1))
        .build();
    let with = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        ElfFile::new_checked(&b).unwrap_err()
    };
    assert_eq!(with(0, 0x7e), ElfError::NotElf);
    assert_eq!(with(4, 3), ElfError::UnsupportedClass(3));
    assert_eq!(with(5, 2), ElfError::NotLittleEndian(2));
    assert_eq!(with(6, 0), ElfError::UnsupportedVersion(0));
    let mut image = ElfImage::elf32(0x100000).with(load(0x1000, 0x100000, 0x100000, 1, 1));
    image.e_type = 3; // ET_DYN
    assert_eq!(check(&image).unwrap_err(), ElfError::NotExecutable(3));
    image.e_type = 2;
    image.machine = 40; // ARM
    assert_eq!(check(&image).unwrap_err(), ElfError::UnsupportedMachine(40));
    image.machine = EM_X86_64; // accepted in either class
    assert!(check(&image).is_ok());
    image.phentsize = 31;
    assert_eq!(
        check(&image).unwrap_err(),
        ElfError::BadProgramHeaderSize {
            entry_size: 31,
            needed: 32
        }
    );
}

#[test]
fn program_header_table_outside_the_file() {
    let mut image = ElfImage::elf64(0x100000).with(load(0x1000, 0x100000, 0x100000, 1, 1));
    image.len = 0x3000;
    let mut bytes = image.build();
    put64(&mut bytes, 32, 0x3000 - 50); // e_phoff: table runs past the end
    assert!(matches!(
        ElfFile::new_checked(&bytes).unwrap_err(),
        ElfError::ProgramHeadersOutsideFile {
            offset: 0x2fce,
            count: 1,
            ..
        }
    ));
    put64(&mut bytes, 32, u64::MAX - 8); // phoff + table length overflows
    assert!(matches!(
        ElfFile::new_checked(&bytes).unwrap_err(),
        ElfError::ProgramHeadersOutsideFile { .. }
    ));
    // phnum * phentsize far past the file (0xffff * 0xffff).
    put64(&mut bytes, 32, 64);
    put16(&mut bytes, 54, 0xffff);
    put16(&mut bytes, 56, 0xffff);
    assert!(matches!(
        ElfFile::new_checked(&bytes).unwrap_err(),
        ElfError::ProgramHeadersOutsideFile {
            count: 0xffff,
            entry_size: 0xffff,
            ..
        }
    ));
}

#[test]
fn segment_outside_the_file() {
    let image = ElfImage::elf32(0x100000)
        .with(load(0x1000, 0x100000, 0x100000, 0x10, 0x10))
        .with(load(0x2000, 0x200000, 0x200000, 0x10, 0x10))
        .with(load(0x3000, 0x300000, 0x300000, 0x10, 0x10))
        .with(load(0x2f00, 0x400000, 0x400000, 0x200, 0x200));
    let err = check(&image).unwrap_err();
    assert_eq!(
        err,
        ElfError::SegmentOutsideFile {
            index: 2,
            offset: 0x3000,
            size: 0x10,
            file_len: 0x3000
        }
    );
    assert_eq!(
        err.to_string(),
        "program header 2 points outside the file (offset 0x3000, size 0x10, file 0x3000 bytes)"
    );
    // Offset + size overflowing 64 bits.
    let image = ElfImage::elf64(0x100000).with(load(u64::MAX - 4, 0x100000, 0x100000, 0x10, 0x10));
    assert!(matches!(
        check(&image).unwrap_err(),
        ElfError::SegmentOutsideFile { index: 0, .. }
    ));
    // A bss-only segment may say any offset: nothing is read from the file.
    let image = ElfImage::elf32(0x100000)
        .with(load(0x1000, 0x100000, 0x100000, 0x10, 0x10))
        .with(load(0xffff_0000, 0x200000, 0x200000, 0, 0x1000));
    let (_, segments) = check(&image).unwrap();
    assert_eq!((segments[1].file_offset, segments[1].file_size), (0, 0));
}

#[test]
fn memory_smaller_than_file() {
    let image = ElfImage::elf32(0x100000).with(load(0x1000, 0x100000, 0x100000, 0x20, 0x10));
    assert_eq!(
        check(&image).unwrap_err(),
        ElfError::SegmentMemorySmallerThanFile {
            index: 0,
            file_size: 0x20,
            mem_size: 0x10
        }
    );
}

#[test]
fn physical_addresses_must_stay_below_4gib() {
    let image = ElfImage::elf64(0x100000)
        .with(load(0x1000, 0x100000, 0x100000, 0x10, 0x10))
        .with(load(0x1000, 0x1_0000_0000, 0x1_0000_0000, 0x10, 0x10));
    assert_eq!(
        check(&image).unwrap_err(),
        ElfError::SegmentAbove4GiB {
            index: 1,
            paddr: 0x1_0000_0000,
            mem_size: 0x10
        }
    );
    // Crossing 4 GiB (ELF32 fields cannot say it, the sum can).
    let image =
        ElfImage::elf32(0xffff_f000).with(load(0x1000, 0xffff_f000, 0xffff_f000, 0, 0x2000));
    assert!(matches!(
        check(&image).unwrap_err(),
        ElfError::SegmentAbove4GiB { index: 0, .. }
    ));
    // Ending exactly at 4 GiB is fine.
    let image =
        ElfImage::elf32(0xffff_f000).with(load(0x1000, 0xffff_f000, 0xffff_f000, 0, 0x1000));
    assert_eq!(check(&image).unwrap().0, 0xffff_f000);
    // paddr + memsz overflowing 64 bits.
    let image = ElfImage::elf64(0x100000).with(load(0x1000, 0x100000, u64::MAX - 1, 0, 0x10));
    assert!(matches!(
        check(&image).unwrap_err(),
        ElfError::SegmentAbove4GiB { .. }
    ));
}

#[test]
fn virtual_range_overflow() {
    let image = ElfImage::elf64(0x100000).with(load(0x1000, u64::MAX - 0x10, 0x100000, 0, 0x100));
    assert!(matches!(
        check(&image).unwrap_err(),
        ElfError::SegmentVirtualOverflow { index: 0, .. }
    ));
}

#[test]
fn entry_must_lie_in_a_load_segment() {
    let segment = load(0x1000, 0x100000, 0x100000, 0x100, 0x200);
    for entry in [0xfffff, 0x100200, 0] {
        let image = ElfImage::elf32(entry).with(segment);
        assert_eq!(
            check(&image).unwrap_err(),
            ElfError::EntryOutsideSegments { entry }
        );
    }
    // In the bss part: inside the memory range, accepted (GRUB does too).
    assert_eq!(
        check(&ElfImage::elf32(0x1001ff).with(segment)).unwrap().0,
        0x1001ff
    );
    // A PT_NOTE covering the entry does not count.
    let image = ElfImage::elf32(0x300000).with(segment).with(Phdr {
        p_type: 4,
        ..load(0x1000, 0x300000, 0x300000, 0x10, 0x10)
    });
    assert!(matches!(
        check(&image).unwrap_err(),
        ElfError::EntryOutsideSegments { .. }
    ));
}

#[test]
fn no_load_segments() {
    let image = ElfImage::elf32(0).with(Phdr {
        p_type: 4,
        ..load(0x1000, 0, 0, 0x10, 0x10)
    });
    assert_eq!(check(&image).unwrap_err(), ElfError::NoLoadSegments);
    assert_eq!(
        check(&ElfImage::elf64(0)).unwrap_err(),
        ElfError::NoLoadSegments
    );
}

/// Checks what a successful parse promises the loader: each segment's file bytes lie in the
/// file, memory is at least the file part, and the physical range stays below 4 GiB.
fn assert_sound(bytes: &[u8]) {
    let Ok(elf) = ElfFile::new_checked(bytes) else {
        return;
    };
    let _ = (elf.class(), elf.machine(), elf.entry(), elf.entry_paddr());
    for s in elf.load_segments() {
        if s.file_size > 0 {
            let end = s
                .file_offset
                .checked_add(s.file_size)
                .expect("file range overflows");
            assert!(end <= bytes.len(), "segment {} runs past the file", s.index);
        }
        assert!(s.mem_size >= s.file_size as u64);
        assert!(
            s.paddr
                .checked_add(s.mem_size)
                .is_some_and(|end| end <= 1 << 32)
        );
    }
}

/// Random and mutated ELF32/ELF64 images straight into `ElfFile` (no Multiboot header in
/// front): errors, never a panic or a segment outside the file.
#[test]
fn random_and_mutated_elf_never_panics() {
    let mut rng = crate::kernel::test_images::Rng::new(0xe1f_5eed);
    let high = 0xffff_ffff_8000_0000u64;
    let seeds: Vec<Vec<u8>> = std::vec![
        ElfImage::elf32(0x100010)
            .with(load(0x1000, 0x100000, 0x100000, 0x200, 0x1000))
            .with(load(0x1200, 0x102000, 0x102000, 0x100, 0x100))
            .build(),
        ElfImage::elf64(high + 0x200010)
            .with(load(0x1000, high + 0x200000, 0x200000, 0x400, 0x2000))
            .build(),
    ];
    for seed in &seeds {
        ElfFile::new_checked(seed).expect("seed images are valid");
    }
    let mut accepted = 0;
    for round in 0..30_000 {
        let mut f = seeds[round % seeds.len()].clone();
        match rng.below(4) {
            // A few bytes anywhere in the headers (ELF header + program headers).
            0 | 1 => {
                for _ in 0..=rng.below(4) {
                    let at = rng.below(0x100.min(f.len() as u64)) as usize;
                    f[at] = rng.next_u64() as u8;
                }
            }
            // An edge value into one header word: offsets, sizes, counts, addresses.
            2 => {
                let edges = [
                    0u64,
                    1,
                    0xffff,
                    0xffff_ffff,
                    0x8000_0000,
                    0xa0000,
                    u64::MAX,
                    rng.next_u64(),
                ];
                let v = edges[rng.below(edges.len() as u64) as usize];
                let at = 4 * rng.below(0x100 / 4) as usize;
                if rng.below(2) == 0 {
                    let at = at.min(f.len() - 8);
                    put64(&mut f, at, v);
                } else {
                    put16(&mut f, at, v as u16);
                }
            }
            _ => f.truncate(rng.below(f.len() as u64 + 1) as usize),
        }
        assert_sound(&f);
        accepted += usize::from(ElfFile::new_checked(&f).is_ok());
    }
    assert!(accepted > 1_000, "only {accepted} mutants parsed");
    for _ in 0..5_000 {
        let len = rng.below(600) as usize;
        let mut f: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 20 {
            f[..4].copy_from_slice(b"\x7fELF");
            f[4] = 1 + rng.below(2) as u8; // class
            f[5] = 1; // little-endian
            f[6] = 1;
            put16(&mut f, 16, 2); // ET_EXEC
            let machine = if f[4] == 1 { 3 } else { 62 };
            put16(&mut f, 18, machine);
        }
        assert_sound(&f);
    }
}
