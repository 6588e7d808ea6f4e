use std::vec;
use std::vec::Vec;

use super::*;
use crate::kernel::test_images::*;
use crate::multiboot::HeaderError;

const ADDRESS_FLAG: u32 = 1 << 16;

/// An ELF32 kernel at 1 MiB: text (0x1000 file bytes), data + bss, Multiboot header at the
/// start of the text (file offset 0x1000).
fn elf32_kernel(flags: u32, address: Option<[u32; 5]>) -> Vec<u8> {
    let mut f = ElfImage::elf32(0x100020)
        .with(load(0x1000, 0x100000, 0x100000, 0x1000, 0x1000))
        .with(load(0x2000, 0x101000, 0x101000, 0x800, 0x3000))
        .build();
    put(&mut f, 0x1000, &mb_header(flags, address, None));
    f
}

/// A flat binary with the header at `offset`.
fn flat(len: usize, offset: usize, fields: [u32; 5]) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
    put(&mut f, 0, &[0; 16]); // no ELF magic by chance
    put(
        &mut f,
        offset,
        &mb_header(ADDRESS_FLAG | 0x3, Some(fields), None),
    );
    f
}

fn placements(k: &KernelImage<'_>) -> Vec<Placement> {
    k.placements().collect()
}

#[test]
fn elf32_kernel_places_segments_at_physical_addresses() {
    let f = elf32_kernel(0x3, None);
    let k = KernelImage::parse(&f).unwrap();
    assert_eq!(k.format(), Format::Elf32);
    assert_eq!(k.entry(), 0x100020);
    assert_eq!(k.header().offset, 0x1000);
    assert!(k.page_align_modules() && k.wants_memory_info());
    assert_eq!(
        placements(&k),
        [
            Placement {
                file_range: 0x1000..0x2000,
                dest: 0x100000,
                mem_size: 0x1000
            },
            Placement {
                file_range: 0x2000..0x2800,
                dest: 0x101000,
                mem_size: 0x3000
            },
        ]
    );
    assert_eq!(k.extent(), 0x100000..0x104000);
}

#[test]
fn elf64_higher_half_kernel() {
    let high = 0xffff_ffff_8000_0000u64;
    let mut f = ElfImage::elf64(high + 0x200010)
        .with(load(0x1000, 0x100000, 0x100000, 0x100, 0x100))
        .with(load(0x2000, high + 0x200000, 0x200000, 0x800, 0x2000))
        .with(load(0x0, 0x300000, 0x300000, 0, 0)) // empty: no placement
        .build();
    put(&mut f, 0x1000, &mb_header(0, None, None));
    let k = KernelImage::parse(&f).unwrap();
    assert_eq!(k.format(), Format::Elf64);
    assert_eq!(k.entry(), 0x200010);
    assert_eq!(placements(&k).len(), 2);
    assert_eq!(k.extent(), 0x100000..0x202000);
    assert!(!k.page_align_modules() && !k.wants_memory_info());
}

#[test]
fn address_fields_whole_file_with_bss() {
    // load_end 0: the file from the load start to its end; bss up to 0x105000.
    let f = flat(0x3000, 0x40, [0x100040, 0x100000, 0, 0x105000, 0x100080]);
    let k = KernelImage::parse(&f).unwrap();
    assert_eq!(k.format(), Format::AddressFields);
    assert_eq!(k.entry(), 0x100080);
    assert_eq!(
        placements(&k),
        [Placement {
            file_range: 0..0x3000,
            dest: 0x100000,
            mem_size: 0x5000
        }]
    );
    assert_eq!(k.extent(), 0x100000..0x105000);
}

#[test]
fn address_fields_partial_load_no_bss() {
    // The header sits 0x40 into the loaded bytes, which start at file offset 0x1000.
    let f = flat(0x4000, 0x1040, [0x200040, 0x200000, 0x201800, 0, 0x200100]);
    let k = KernelImage::parse(&f).unwrap();
    assert_eq!(
        placements(&k),
        [Placement {
            file_range: 0x1000..0x2800,
            dest: 0x200000,
            mem_size: 0x1800
        }]
    );
}

#[test]
fn elf_with_flag_16_uses_the_address_fields() {
    // Fields describing a different layout than the ELF headers: they win (as in GRUB 2).
    let f = elf32_kernel(
        ADDRESS_FLAG,
        Some([0x400000, 0x400000, 0x401000, 0x402000, 0x400010]),
    );
    let k = KernelImage::parse(&f).unwrap();
    assert_eq!(k.format(), Format::AddressFields);
    assert_eq!(k.entry(), 0x400010);
    assert_eq!(
        placements(&k),
        [Placement {
            file_range: 0x1000..0x2000,
            dest: 0x400000,
            mem_size: 0x2000
        }]
    );
}

#[test]
fn elf_with_flag_16_and_zero_fields_uses_elf() {
    let f = elf32_kernel(ADDRESS_FLAG, Some([0; 5]));
    let k = KernelImage::parse(&f).unwrap();
    assert_eq!(k.format(), Format::Elf32);
    assert_eq!(k.entry(), 0x100020);
    // The same fields in a file that is not ELF describe nothing.
    let f = flat(0x1000, 0, [0; 5]);
    assert_eq!(
        KernelImage::parse(&f).unwrap_err(),
        KernelError::AddressFields(AddressFieldsError::AllZero)
    );
}

#[test]
fn not_elf_without_flag_16() {
    let f = file_with_header(0x1000, 0x10, &mb_header(0, None, None));
    assert_eq!(
        KernelImage::parse(&f).unwrap_err(),
        KernelError::NotElfAndNoAddressFields
    );
}

#[test]
fn elf_errors_come_through() {
    let mut f = elf32_kernel(0, None);
    put(&mut f, 16, &[3, 0]); // ET_DYN
    assert_eq!(
        KernelImage::parse(&f).unwrap_err(),
        KernelError::Elf(ElfError::NotExecutable(3))
    );
}

#[test]
fn header_errors_come_through() {
    let f = ElfImage::elf32(0x100000)
        .with(load(0x1000, 0x100000, 0x100000, 1, 1))
        .build();
    assert_eq!(
        KernelImage::parse(&f).unwrap_err(),
        KernelError::Header(HeaderError::NotFound)
    );
    let f = elf32_kernel(0x8 | 0x3, None);
    assert_eq!(
        KernelImage::parse(&f).unwrap_err(),
        KernelError::Header(HeaderError::UnsupportedFlags(0x8))
    );
    // Video (bit 2) is accepted: the MBI then says "no video information".
    let mut f = elf32_kernel(0, None);
    put(&mut f, 0x1000, &mb_header(0x4, None, Some([1, 80, 25, 0])));
    assert!(KernelImage::parse(&f).unwrap().header().wants_video_info());
}

#[test]
fn address_field_errors() {
    use AddressFieldsError::*;
    let err = |len, offset, fields| match KernelImage::parse(&flat(len, offset, fields)) {
        Err(KernelError::AddressFields(e)) => e,
        other => panic!("expected an address field error, got {other:?}"),
    };
    assert_eq!(
        err(0x1000, 0x40, [0x100040, 0x100080, 0, 0, 0x100080]),
        LoadAfterHeader {
            load_addr: 0x100080,
            header_addr: 0x100040
        }
    );
    assert_eq!(
        err(0x1000, 0x40, [0x100040, 0x100000 - 0x10, 0, 0, 0x100000]),
        StartBeforeFile {
            header_offset: 0x40,
            header_addr: 0x100040,
            load_addr: 0xffff0
        }
    );
    assert_eq!(
        err(0x1000, 0x40, [0x100040, 0x100000, 0xff000, 0, 0x100000]),
        LoadEndBeforeLoad {
            load_addr: 0x100000,
            load_end_addr: 0xff000
        }
    );
    assert_eq!(
        err(0x1000, 0x40, [0x100040, 0x100000, 0x101001, 0, 0x100000]),
        LoadBeyondFile {
            start_offset: 0,
            size: 0x1001,
            file_len: 0x1000
        }
    );
    assert_eq!(
        err(0x2000, 0x40, [0xffff_f040, 0xffff_f000, 0, 0, 0xffff_f000]),
        Above4GiB {
            load_addr: 0xffff_f000,
            size: 0x2000
        }
    );
    assert_eq!(
        err(0x1000, 0x40, [0x100040, 0x100000, 0, 0x100fff, 0x100000]),
        BssBeforeLoadEnd {
            load_end: 0x101000,
            bss_end_addr: 0x100fff
        }
    );
    for entry in [0xfffff, 0x101000, 0x102000] {
        assert_eq!(
            err(0x1000, 0x40, [0x100040, 0x100000, 0, 0x103000, entry]),
            EntryOutsideImage {
                entry,
                start: 0x100000,
                end: 0x101000
            }
        );
    }
    // Ending exactly at 4 GiB is fine.
    let f = flat(0x1000, 0x40, [0xffff_f040, 0xffff_f000, 0, 0, 0xffff_f000]);
    assert_eq!(
        KernelImage::parse(&f).unwrap().extent(),
        0xffff_f000..0x1_0000_0000
    );
}

#[test]
fn messages_name_the_problem() {
    use std::string::ToString;
    let e = KernelError::AddressFields(AddressFieldsError::LoadAfterHeader {
        load_addr: 0x2000,
        header_addr: 0x1000,
    });
    assert_eq!(
        e.to_string(),
        "Multiboot address fields (flag 16): load_addr 0x2000 is above header_addr 0x1000"
    );
    assert_eq!(
        KernelError::Header(HeaderError::NotFound).to_string(),
        "no Multiboot header in the first 8192 bytes"
    );
}

/// Checks what a successful parse promises: placements inside the file, below 4 GiB, zero
/// fill not negative, entry inside the extent.
fn assert_sound(file: &[u8], k: &KernelImage<'_>) {
    let extent = k.extent();
    assert!(extent.end <= 1 << 32);
    assert!(extent.contains(&(k.entry() as u64)));
    for p in k.placements() {
        assert!(p.file_range.start <= p.file_range.end && p.file_range.end <= file.len());
        assert!(p.mem_size >= p.file_range.len() as u64 && p.mem_size > 0);
        assert!(p.dest + p.mem_size <= 1 << 32);
        assert!(extent.start <= p.dest && p.dest + p.mem_size <= extent.end);
    }
}

fn parse_and_check(file: &[u8]) {
    let _ = Header::find(file);
    if let Ok(k) = KernelImage::parse(file) {
        assert_sound(file, &k);
    }
}

#[test]
fn random_and_mutated_images_never_panic() {
    let mut rng = Rng::new(0x6b65726e656c);
    let high = 0xffff_ffff_8000_0000u64;
    let mut seeds: Vec<Vec<u8>> = vec![
        elf32_kernel(0x3, None),
        elf32_kernel(
            ADDRESS_FLAG,
            Some([0x400000, 0x400000, 0x401000, 0x402000, 0x400010]),
        ),
        flat(0x3000, 0x40, [0x100040, 0x100000, 0, 0x105000, 0x100080]),
        flat(0x1100, 0x1040, [0x200040, 0x200000, 0x200080, 0, 0x200010]),
    ];
    let mut elf64 = ElfImage::elf64(high + 0x200010)
        .with(load(0x1000, 0x100000, 0x100000, 0x100, 0x100))
        .with(load(0x1800, high + 0x200000, 0x200000, 0x800, 0x2000));
    elf64.len = 0x2000;
    let mut f = elf64.build();
    put(&mut f, 0x1000, &mb_header(0x2, None, Some([0; 4])));
    seeds.push(f);
    for seed in &seeds {
        KernelImage::parse(seed).expect("seed images are valid");
    }
    for round in 0..20_000 {
        let mut f = seeds[round % seeds.len()].clone();
        match rng.below(4) {
            // Flip a few bytes, favouring the headers.
            0 | 1 => {
                for _ in 0..=rng.below(6) {
                    let span = if rng.below(2) == 0 {
                        0x100
                    } else {
                        f.len() as u64
                    };
                    let at = rng.below(span.min(f.len() as u64)) as usize;
                    f[at] = rng.next_u64() as u8;
                }
            }
            // Overwrite one 32-bit field of the Multiboot header or the ELF header with an
            // edge value, fixing the checksum now and then.
            2 => {
                let header_at = Header::find(&f).map(|h| h.offset).unwrap_or(0);
                let at = if rng.below(2) == 0 {
                    header_at + 4 * rng.below(12) as usize
                } else {
                    4 * rng.below(24) as usize
                };
                let edge = [
                    0,
                    1,
                    0xffff_ffff,
                    0x8000_0000,
                    0xffff_f000,
                    0x1000,
                    rng.next_u64() as u32,
                ];
                let v = edge[rng.below(edge.len() as u64) as usize];
                if at + 4 <= f.len() {
                    put(&mut f, at, &v.to_le_bytes());
                }
                if rng.below(2) == 0 && header_at + 12 <= f.len() {
                    let flags = get32(&f, header_at + 4);
                    let sum = 0u32.wrapping_sub(0x1BAD_B002).wrapping_sub(flags);
                    put(&mut f, header_at + 8, &sum.to_le_bytes());
                }
            }
            // Truncate.
            _ => f.truncate(rng.below(f.len() as u64 + 1) as usize),
        }
        parse_and_check(&f);
    }
    for _ in 0..2000 {
        let len = rng.below(9000) as usize;
        let mut f: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if rng.below(2) == 0 && len >= 64 {
            f[..4].copy_from_slice(b"\x7fELF");
        }
        if len >= 48 && rng.below(2) == 0 {
            let at = (rng.below((len.min(8192) as u64 - 44) / 4) * 4) as usize;
            let flags = rng.next_u64() as u32 & 0x1_0007;
            put(
                &mut f,
                at,
                &mb_header(flags, Some([rng.next_u64() as u32; 5]), None),
            );
        }
        parse_and_check(&f);
    }
}

/// Flag 2 (video mode) is a request the loader may leave unanswered: never a reason to refuse.
#[test]
fn video_mode_request_is_accepted() {
    let mut f = ElfImage::elf32(0x100020)
        .with(load(0x1000, 0x100000, 0x100000, 0x1000, 0x1000))
        .build();
    put(&mut f, 0x1000, &mb_header(0x7, None, Some([1, 80, 25, 0])));
    let k = KernelImage::parse(&f).unwrap();
    assert!(k.header().wants_video_info());
    assert!(k.header().check_supported().is_ok());
}

/// Any other required bit (3-15) is refused, naming the bits.
#[test]
fn unknown_required_bits_are_refused() {
    let f = elf32_kernel(0x3 | 1 << 5 | 1 << 15, None);
    match KernelImage::parse(&f) {
        Err(KernelError::Header(HeaderError::UnsupportedFlags(bits))) => {
            assert_eq!(bits, 1 << 5 | 1 << 15)
        }
        other => panic!("expected UnsupportedFlags, got {other:?}"),
    }
}
