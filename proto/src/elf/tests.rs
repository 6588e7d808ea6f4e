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
