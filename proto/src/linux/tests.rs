//! The bzImage view on built headers (and their damaged forms), the zero page byte by byte,
//! and the placement policy run on the load planner over random memory maps.

use std::vec;
use std::vec::Vec;

use super::header::offset;
use super::placement::{
    InitrdLayout, KERNEL, KernelPlan, initrd_ceiling, initrd_request, mem_limit, zero_page_request,
};
use super::*;
use crate::memmap::{E820_RAM, E820_RESERVED, E820Entry, MemoryMap};
use crate::planner::{Planner, Prefer, Request, Use};
use crate::test_rng::Rng;
use crate::video::{ColorModel, EGA_TEXT, Framebuffer};

const MIB: u64 = 1 << 20;

/// The header fields a test image sets.
#[derive(Clone, Copy)]
struct Spec {
    version: u16,
    setup_sects: u8,
    loadflags: u8,
    code32_start: u32,
    initrd_addr_max: u32,
    kernel_alignment: u32,
    relocatable: bool,
    min_alignment: u8,
    xloadflags: u16,
    cmdline_size: u32,
    pref_address: u64,
    init_size: u32,
    protected_len: usize,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            version: 0x020F,
            setup_sects: 3,
            loadflags: 1,
            code32_start: 0x10_0000,
            initrd_addr_max: 0x7FFF_FFFF,
            kernel_alignment: 0x20_0000,
            relocatable: true,
            min_alignment: 13,
            xloadflags: 1,
            cmdline_size: 2048,
            pref_address: 0x100_0000,
            init_size: 0x30_0000,
            protected_len: 10_000,
        }
    }
}

/// A bzImage with the header `spec` describes, a protected-mode part of recognisable bytes.
fn bzimage(spec: Spec) -> Vec<u8> {
    let setup = if spec.setup_sects == 0 {
        4
    } else {
        spec.setup_sects as usize
    };
    let mut file = vec![0u8; (setup + 1) * 512];
    file.extend((0..spec.protected_len).map(|i| (i * 7) as u8));
    let header_end: usize = if spec.version >= 0x020A { 0x26C } else { 0x23C };
    let put = |file: &mut Vec<u8>, at: usize, bytes: &[u8]| {
        file[at..at + bytes.len()].copy_from_slice(bytes)
    };
    file[0x1F1] = spec.setup_sects;
    put(
        &mut file,
        0x1F4,
        &(spec.protected_len.div_ceil(16) as u32).to_le_bytes(),
    );
    put(&mut file, 0x1FE, &[0x55, 0xAA]);
    put(&mut file, 0x200, &[0xEB, (header_end - 0x202) as u8]);
    put(&mut file, 0x202, b"HdrS");
    put(&mut file, 0x206, &spec.version.to_le_bytes());
    file[0x211] = spec.loadflags;
    put(&mut file, 0x214, &spec.code32_start.to_le_bytes());
    put(&mut file, 0x22C, &spec.initrd_addr_max.to_le_bytes());
    put(&mut file, 0x230, &spec.kernel_alignment.to_le_bytes());
    file[0x234] = spec.relocatable as u8;
    file[0x235] = spec.min_alignment;
    put(&mut file, 0x236, &spec.xloadflags.to_le_bytes());
    put(&mut file, 0x238, &spec.cmdline_size.to_le_bytes());
    if spec.version >= 0x020A {
        put(&mut file, 0x258, &spec.pref_address.to_le_bytes());
        put(&mut file, 0x260, &spec.init_size.to_le_bytes());
    }
    // Bytes after the header inside the setup sectors: must not reach the zero page.
    file[header_end..header_end + 8].fill(0xEE);
    file
}

#[test]
fn a_modern_bzimage_reads_as_its_header_says() {
    let file = bzimage(Spec::default());
    let image = BzImage::new_checked(&file).unwrap();
    let header = image.header();
    assert_eq!(header.version, 0x020F);
    assert_eq!(header.setup_sects, 3);
    assert_eq!(header.syssize, 625);
    assert_eq!(header.code32_start, 0x10_0000);
    assert_eq!(header.initrd_addr_max, 0x7FFF_FFFF);
    assert_eq!(header.kernel_alignment, 0x20_0000);
    assert!(header.relocatable);
    assert_eq!(header.min_alignment_log2, 13);
    assert_eq!(header.xloadflags, 1);
    assert_eq!(header.cmdline_size, 2048);
    assert_eq!(header.pref_address, Some(0x100_0000));
    assert_eq!(header.init_size, Some(0x30_0000));
    assert_eq!(header.protected_len, 10_000);
    assert_eq!(header.header_end, 0x26C);
    assert_eq!(image.protected_mode_range(), 2048..file.len());
    assert_eq!(image.protected_mode()[..3], [0, 7, 14]);
    assert_eq!(image.setup_header_bytes(), &file[0x1F1..0x26C]);

    // setup_sects 0 means 4; protocol 2.06 has no pref_address, init_size, xloadflags.
    let old = bzimage(Spec {
        version: 0x0206,
        setup_sects: 0,
        ..Spec::default()
    });
    let image = BzImage::new_checked(&old).unwrap();
    let header = image.header();
    assert_eq!(header.setup_sects, 4);
    assert_eq!(image.protected_mode_range().start, 5 * 512);
    assert_eq!(
        (header.pref_address, header.init_size, header.xloadflags),
        (None, None, 0)
    );
    assert_eq!(header.min_alignment_log2, 21, "no stepping before 2.10");
    assert_eq!(header.header_end, 0x23C);

    // An alignment that is not a power of two makes the kernel fixed, as in GRUB.
    let odd = bzimage(Spec {
        kernel_alignment: 0x30_0000,
        ..Spec::default()
    });
    assert!(!BzImage::new_checked(&odd).unwrap().header().relocatable);
}

#[test]
fn files_that_are_not_usable_bzimages_are_named() {
    let good = bzimage(Spec::default());
    let check = |file: &[u8]| BzImage::new_checked(file).map(|_| ()).unwrap_err();

    assert_eq!(
        check(&good[..0x100]),
        LinuxError::TooShort {
            len: 0x100,
            needed: 0x208
        }
    );
    let mut no_flag = good.clone();
    no_flag[0x1FE] = 0;
    assert_eq!(check(&no_flag), LinuxError::NoBootFlag);
    let mut no_header = good.clone();
    no_header[0x205] = b's';
    assert_eq!(check(&no_header), LinuxError::NoHeader);
    let old = bzimage(Spec {
        version: 0x0205,
        ..Spec::default()
    });
    assert_eq!(check(&old), LinuxError::TooOld { version: 0x0205 });
    assert_eq!(check(&old).code(), "E-KERNEL-LINUX-OLD");
    let zimage = bzimage(Spec {
        loadflags: 0,
        ..Spec::default()
    });
    assert_eq!(check(&zimage), LinuxError::NotLoadedHigh);
    let no_entry = bzimage(Spec {
        code32_start: 0,
        ..Spec::default()
    });
    assert_eq!(check(&no_entry), LinuxError::No32BitEntry);
    assert_eq!(check(&no_entry).code(), "E-KERNEL-LINUX-16BIT");

    // A header shorter than its version needs, or one that runs into the zero page.
    let mut short_header = good.clone();
    short_header[0x201] = 0x30;
    assert_eq!(check(&short_header).code(), "E-KERNEL-LINUX-FORMAT");
    let mut long_header = good.clone();
    long_header[0x201] = 0x90;
    assert!(matches!(check(&long_header), LinuxError::BadHeader { .. }));

    // Cut anywhere: refused (the setup is gone, or syssize says the file is shorter).
    for len in [0x26B, 2048, 2049, good.len() - 16] {
        assert_eq!(
            check(&good[..len]).code(),
            "E-KERNEL-LINUX-FORMAT",
            "cut at {len}"
        );
    }
    // Cut within syssize's 16-byte padding: accepted.
    let padded = bzimage(Spec {
        protected_len: 10_001,
        ..Spec::default()
    });
    BzImage::new_checked(&padded).unwrap();
}

#[test]
fn random_and_mutated_headers_never_panic() {
    let mut rng = Rng::new(0xB21);
    let seeds = [
        bzimage(Spec::default()),
        bzimage(Spec {
            version: 0x0206,
            setup_sects: 0,
            ..Spec::default()
        }),
    ];
    for _ in 0..4000 {
        let mut file = seeds[rng.index(seeds.len())].clone();
        match rng.below(3) {
            0 => {
                for _ in 0..1 + rng.below(6) {
                    // Mostly inside the header, where the decisions are.
                    let at = if rng.below(4) == 0 {
                        rng.index(file.len())
                    } else {
                        0x1F1 + rng.index(0x80)
                    };
                    file[at] = rng.next_u64() as u8;
                }
            }
            1 => file.truncate(rng.index(file.len() + 1)),
            _ => file = (0..rng.below(3000)).map(|_| rng.next_u64() as u8).collect(),
        }
        let Ok(image) = BzImage::new_checked(&file) else {
            continue;
        };
        let header = image.header();
        assert!(header.version >= 0x0206);
        assert!(header.header_end <= 0x290 && header.header_end <= file.len());
        assert!(!image.protected_mode().is_empty());
        assert!(header.kernel_alignment.is_power_of_two());
        let plan = KernelPlan::new(&image);
        for attempt in plan.attempts() {
            assert!(attempt.align.is_power_of_two());
        }
        let mut page = [0u8; ZERO_PAGE_LEN];
        let zero_page = ZeroPage::new(&mut page, &image, TYPE_OF_LOADER_UNDEFINED);
        assert_eq!(zero_page.bytes()[0x1EF], 0, "the sentinel stays clear");
    }
}

fn e820(base: u64, length: u64, kind: u32) -> E820Entry {
    E820Entry {
        base,
        length,
        kind,
        acpi_attributes: 1,
    }
}

fn u16_at(page: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(page[at..at + 2].try_into().unwrap())
}

fn u32_at(page: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(page[at..at + 4].try_into().unwrap())
}

fn u64_at(page: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(page[at..at + 8].try_into().unwrap())
}

#[test]
fn the_zero_page_holds_exactly_what_was_set() {
    let file = bzimage(Spec::default());
    let image = BzImage::new_checked(&file).unwrap();
    let mut page = [0xA5u8; ZERO_PAGE_LEN];
    let mut zero_page = ZeroPage::new(&mut page, &image, TYPE_OF_LOADER_UNDEFINED);

    let plan = KernelPlan::new(&image);
    let load = plan.loaded_at(0x200_0000).unwrap();
    zero_page.set_kernel(&load);
    zero_page.set_cmdline(0x9_1000, 2048).unwrap();
    assert_eq!(
        zero_page.set_cmdline(0x9_1000, 2049),
        Err(LinuxError::CmdlineTooLong {
            len: 2049,
            max: 2048
        })
    );
    zero_page.set_initrd(0x7F0_0000, 123_457).unwrap();
    assert_eq!(
        zero_page.set_initrd(1 << 32, 1),
        Err(LinuxError::Above4GiB { what: "the initrd" })
    );
    let map = [
        e820(0, 0x9_FC00, E820_RAM),
        e820(0x9_FC00, 0x400, E820_RESERVED),
        e820(0xF_0000, 0x1_0000, E820_RESERVED),
        e820(0x10_0000, 0x100_0000, E820_RAM),
        e820(0x110_0000, 0x6EE_0000, E820_RAM),
        // Empty, and marked "ignore" by the BIOS: left out.
        e820(0x800_0000, 0, E820_RAM),
        E820Entry {
            acpi_attributes: 0,
            ..e820(0x900_0000, 0x1000, E820_RESERVED)
        },
        e820(0xFFFC_0000, 0x4_0000, E820_RESERVED),
    ];
    assert_eq!(zero_page.set_e820(&map, 130_944), Ok(5));
    zero_page.set_screen(&EGA_TEXT, TextCursor { x: 0, y: 17 });
    zero_page.set_acpi_rsdp(0xF_5A40);
    let page = *zero_page.bytes();

    // The header, copied exactly, with the fields a loader writes.
    let mut header = file[0x1F1..0x26C].to_vec();
    header[0x210 - 0x1F1] = 0xFF;
    header[0x214 - 0x1F1..0x218 - 0x1F1].copy_from_slice(&0x200_0000u32.to_le_bytes());
    header[0x218 - 0x1F1..0x21C - 0x1F1].copy_from_slice(&0x7F0_0000u32.to_le_bytes());
    header[0x21C - 0x1F1..0x220 - 0x1F1].copy_from_slice(&123_457u32.to_le_bytes());
    header[0x228 - 0x1F1..0x22C - 0x1F1].copy_from_slice(&0x9_1000u32.to_le_bytes());
    assert_eq!(&page[0x1F1..0x26C], &header[..]);
    assert_eq!(u32_at(&page, 0x230), 0x20_0000, "kernel_alignment as given");
    assert_eq!(page[0x211] & 0x80, 0, "no heap for the 32-bit entry");

    // The E820 table: the two RAM entries above 1 MiB merged.
    assert_eq!(page[0x1E8], 5);
    let table: Vec<(u64, u64, u32)> = (0..5)
        .map(|i| {
            let at = 0x2D0 + 20 * i;
            (
                u64_at(&page, at),
                u64_at(&page, at + 8),
                u32_at(&page, at + 16),
            )
        })
        .collect();
    assert_eq!(
        table,
        [
            (0, 0x9_FC00, 1),
            (0x9_FC00, 0x400, 2),
            (0xF_0000, 0x1_0000, 2),
            (0x10_0000, 0x7EE_0000, 1),
            (0xFFFC_0000, 0x4_0000, 2),
        ]
    );
    assert_eq!(u16_at(&page, 0x02), 0xFFFF, "ext_mem_k saturates");
    assert_eq!(u32_at(&page, 0x1E0), 130_944);

    // screen_info: VGA text mode 3, 80x25, 16-line font, the cursor.
    assert_eq!(
        &page[0..0x12],
        &[
            0, 17, 0xFF, 0xFF, 0, 0, 3, 80, 0, 0, 0, 0, 0, 0, 25, 1, 16, 0
        ]
    );
    assert_eq!(u64_at(&page, 0x70), 0xF_5A40);

    // Everything else is zero, the sentinel included.
    let written: &[std::ops::Range<usize>] = &[
        0..0x12,
        0x70..0x78,
        0x1E0..0x1E4,
        0x1E8..0x1E9,
        0x1F1..0x26C,
        0x2D0..0x2D0 + 5 * 20,
    ];
    for (i, &b) in page.iter().enumerate() {
        if !written.iter().any(|r| r.contains(&i)) {
            assert_eq!(b, 0, "byte {i:#x}");
        }
    }
}

#[test]
fn framebuffer_and_heap_fields() {
    let file = bzimage(Spec::default());
    let image = BzImage::new_checked(&file).unwrap();
    let mut page = [0u8; ZERO_PAGE_LEN];
    let mut zero_page = ZeroPage::new(&mut page, &image, 0x72);
    zero_page.set_screen(
        &Framebuffer {
            address: 0x1_FD00_0000,
            pitch: 4096,
            width: 1024,
            height: 768,
            bpp: 32,
            model: ColorModel::Rgb {
                red: (16, 8),
                green: (8, 8),
                blue: (0, 8),
            },
        },
        TextCursor { x: 5, y: 6 },
    );
    zero_page.set_heap_end(0x9E00);
    let page = zero_page.bytes();
    assert_eq!(page[0x0F], 0x23, "VIDEO_TYPE_VLFB");
    assert_eq!(
        (u16_at(page, 0x12), u16_at(page, 0x14), u16_at(page, 0x16)),
        (1024, 768, 32)
    );
    assert_eq!(u32_at(page, 0x18), 0xFD00_0000);
    assert_eq!(u32_at(page, 0x1C), 48, "4096 x 768 bytes in 64 KiB units");
    assert_eq!(u16_at(page, 0x24), 4096);
    assert_eq!(&page[0x26..0x2E], &[8, 16, 8, 8, 8, 0, 8, 24]);
    assert_eq!(u32_at(page, 0x36), 2, "VIDEO_CAPABILITY_64BIT_BASE");
    assert_eq!(u32_at(page, 0x3A), 1);
    assert_eq!(page[0x210], 0x72);
    assert_eq!(u16_at(page, 0x224), 0x9E00);
    assert_eq!(page[0x211], 0x81);
    assert_eq!(&page[0..2], &[0, 0], "no text cursor on a framebuffer");

    // 16 bits, 5:6:5: no reserved bits; a base below 4 GiB needs no capability bit.
    let mut page = [0u8; ZERO_PAGE_LEN];
    let mut zero_page = ZeroPage::new(&mut page, &image, 0xFF);
    zero_page.set_screen(
        &Framebuffer {
            address: 0xE000_0000,
            pitch: 1600,
            width: 800,
            height: 600,
            bpp: 16,
            model: ColorModel::Rgb {
                red: (11, 5),
                green: (5, 6),
                blue: (0, 5),
            },
        },
        TextCursor::default(),
    );
    let page = zero_page.bytes();
    assert_eq!(&page[0x26..0x2E], &[5, 11, 6, 5, 5, 0, 0, 0]);
    assert_eq!((u32_at(page, 0x36), u32_at(page, 0x3A)), (0, 0));
}

#[test]
fn more_than_128_memory_map_entries_are_refused() {
    let file = bzimage(Spec::default());
    let image = BzImage::new_checked(&file).unwrap();
    let mut page = [0u8; ZERO_PAGE_LEN];
    let mut zero_page = ZeroPage::new(&mut page, &image, 0xFF);
    // Alternating types do not merge.
    let map: Vec<E820Entry> = (0..129u64)
        .map(|i| e820(i * 0x1000, 0x1000, if i % 2 == 0 { 1 } else { 2 }))
        .collect();
    assert_eq!(
        zero_page.set_e820(&map, 0),
        Err(LinuxError::TooManyE820 { entries: 129 })
    );
    assert_eq!(zero_page.set_e820(&map[..128], 0), Ok(128));
}

#[test]
fn efi_info_for_a_64_bit_uefi() {
    let file = bzimage(Spec::default());
    let image = BzImage::new_checked(&file).unwrap();
    let mut page = [0u8; ZERO_PAGE_LEN];
    let mut zero_page = ZeroPage::new(&mut page, &image, 0xFF);
    let before = *zero_page.bytes();
    zero_page.set_efi64(&EfiInfo {
        system_table: 0x1_7f9e_e018,
        memory_map: 0x2_0000_9000,
        memory_map_size: 48 * 70,
        descriptor_size: 48,
        descriptor_version: 1,
    });
    let page = zero_page.bytes();
    assert_eq!(&page[0x1c0..0x1c4], b"EL64");
    assert_eq!(u32_at(page, 0x1c4), 0x7f9e_e018);
    assert_eq!(u32_at(page, 0x1c8), 48);
    assert_eq!(u32_at(page, 0x1cc), 1);
    assert_eq!(u32_at(page, 0x1d0), 0x9000);
    assert_eq!(u32_at(page, 0x1d4), 48 * 70);
    assert_eq!(u32_at(page, 0x1d8), 1, "systab_hi");
    assert_eq!(u32_at(page, 0x1dc), 2, "memmap_hi");
    let changed: Vec<usize> = (0..ZERO_PAGE_LEN)
        .filter(|&i| page[i] != before[i])
        .collect();
    assert!(
        changed.iter().all(|&i| (0x1c0..0x1e0).contains(&i)),
        "{changed:x?}"
    );
}

#[test]
fn kernel_attempts_follow_the_protocol() {
    // Relocatable 2.10+: exactly pref_address, then from pref_address up at 2 MiB, 1 MiB, ...,
    // 8 KiB (min_alignment 13), lowest first.
    let file = bzimage(Spec::default());
    let image = BzImage::new_checked(&file).unwrap();
    let plan = KernelPlan::new(&image);
    assert_eq!(plan.size, 0x30_0000);
    let attempts: Vec<Request> = plan.attempts().collect();
    assert_eq!(attempts.len(), 1 + (21 - 13 + 1));
    assert_eq!(
        attempts[0],
        Request {
            what: KERNEL,
            size: 0x30_0000,
            align: 1,
            min: 0x100_0000,
            max: 0x130_0000,
            prefer: Prefer::Low
        }
    );
    for (i, attempt) in attempts[1..].iter().enumerate() {
        assert_eq!(attempt.align, 0x20_0000 >> i);
        assert_eq!((attempt.min, attempt.max), (0x100_0000, 1 << 32));
        assert_eq!(attempt.prefer, Prefer::Low);
    }
    // Placed at 36 MiB + 8 KiB: the zero page says 8 KiB, and the entry moves along.
    let load = plan.loaded_at(0x240_2000).unwrap();
    assert_eq!(load.alignment, 0x2000);
    assert_eq!(load.entry, 0x240_2000);
    assert_eq!(load.reserved_end, 0x270_2000);
    // At pref_address it keeps its 2 MiB.
    assert_eq!(plan.loaded_at(0x100_0000).unwrap().alignment, 0x20_0000);
    assert!(matches!(
        plan.loaded_at(0xFFF0_0000),
        Err(LinuxError::Above4GiB { .. })
    ));

    // Not relocatable: the file at 1 MiB, one piece up to pref_address + init_size, where the
    // kernel moves itself to run.
    let fixed = bzimage(Spec {
        relocatable: false,
        ..Spec::default()
    });
    let image = BzImage::new_checked(&fixed).unwrap();
    let plan = KernelPlan::new(&image);
    let attempts: Vec<Request> = plan.attempts().collect();
    assert_eq!(
        attempts,
        [Request {
            what: KERNEL,
            size: 0x130_0000 - 0x10_0000,
            align: 1,
            min: 0x10_0000,
            max: 0x130_0000,
            prefer: Prefer::Low
        }]
    );
    assert_eq!(plan.loaded_at(0x10_0000).unwrap().entry, 0x10_0000);

    // Before 2.10: three times the protected-mode part, and relocation from GRUB's 16 MiB up,
    // at kernel_alignment only.
    let old = bzimage(Spec {
        version: 0x0209,
        protected_len: 5000,
        ..Spec::default()
    });
    let image = BzImage::new_checked(&old).unwrap();
    let plan = KernelPlan::new(&image);
    assert_eq!(plan.size, 3 * 0x2000);
    let attempts: Vec<Request> = plan.attempts().collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!((attempts[1].min, attempts[1].align), (16 * MIB, 0x20_0000));
}

#[test]
fn initrd_layout_request_and_mem_limit() {
    // Each file at a 4-byte boundary; the size ends at the last file's end (as GRUB).
    assert_eq!(InitrdLayout::new([3, 5, 4]).unwrap().size, 4 + 8 + 4);
    assert_eq!(InitrdLayout::new([]).unwrap().size, 0);
    assert_eq!(InitrdLayout::next_offset(5), Some(8));
    assert_eq!(InitrdLayout::new([8, 1]).unwrap().size, 9);
    assert!(InitrdLayout::new([u64::MAX, 1]).is_err());

    let file = bzimage(Spec {
        initrd_addr_max: 0x37FF_FFFF,
        ..Spec::default()
    });
    let image = BzImage::new_checked(&file).unwrap();
    let load = KernelPlan::new(&image).loaded_at(0x100_0000).unwrap();
    let layout = InitrdLayout::new([100_000, 5]).unwrap();
    let request = initrd_request(image.header(), &load, &layout, None).unwrap();
    assert_eq!(
        request,
        Request {
            what: Use::Initrd,
            size: 0x1_9000,
            align: 0x1000,
            min: 0x130_0000,
            max: 0x3800_0000,
            prefer: Prefer::High
        }
    );
    // mem= lowers the ceiling; a ceiling below the kernel leaves no room.
    let capped = initrd_request(image.header(), &load, &layout, Some(64 * MIB)).unwrap();
    assert_eq!(capped.max, 64 * MIB);
    assert_eq!(initrd_ceiling(image.header(), Some(64 * MIB + 5)), 64 * MIB);
    assert_eq!(
        initrd_request(image.header(), &load, &layout, Some(0x130_0000)),
        Err(LinuxError::InitrdTooLarge {
            size: 100_005,
            room: 0
        })
    );
    // A modern kernel's initrd_addr_max above 4 GiB is capped at 4 GiB.
    let high = bzimage(Spec {
        initrd_addr_max: u32::MAX,
        ..Spec::default()
    });
    let image = BzImage::new_checked(&high).unwrap();
    assert_eq!(
        initrd_request(image.header(), &load, &layout, None)
            .unwrap()
            .max,
        1 << 32
    );

    assert_eq!(mem_limit(b"console=ttyS0 mem=512M quiet"), Some(512 * MIB));
    assert_eq!(mem_limit(b"mem=1G mem=0x2000000"), Some(0x200_0000));
    assert_eq!(mem_limit(b"mem=768k"), Some(768 << 10));
    assert_eq!(mem_limit(b"mem=nopentium memmap=1G"), None);
    assert_eq!(mem_limit(b"mem=99999999999999999999G"), None);
    assert_eq!(mem_limit(b""), None);

    let zero_page = zero_page_request(100);
    assert_eq!(
        zero_page,
        Request {
            what: Use::BootInfo,
            size: 4096 + 101,
            align: 4096,
            min: 0x1_0000,
            max: 0xA_0000,
            prefer: Prefer::High
        }
    );
}

/// The load planner over exactly the `free` ranges (RAM, nothing reserved).
fn planner_over(free: &[(u64, u64)]) -> Planner<8> {
    let entries: Vec<E820Entry> = free
        .iter()
        .map(|&(start, end)| e820(start, end - start, E820_RAM))
        .collect();
    Planner::new(&MemoryMap::new(&entries))
}

#[test]
fn placements_in_random_memory_keep_every_rule() {
    let mut rng = Rng::new(0x9_1ACE);
    let mut placed_both = 0;
    for _ in 0..3000 {
        // Free memory: a few ranges between 1 MiB and 4.5 GiB.
        let mut free = Vec::new();
        let mut at = MIB;
        for _ in 0..1 + rng.below(5) {
            // At least a page between ranges, so that the planner sees them apart.
            at += rng.below(64) * MIB + (1 + rng.below(256)) * 0x1000;
            let len = rng.below(256) * MIB + rng.below(512) * 0x1000;
            free.push((at, at + len));
            at += len;
        }
        let spec = Spec {
            version: [0x0206, 0x020A, 0x020F][rng.index(3)],
            relocatable: rng.below(4) != 0,
            kernel_alignment: 1 << (12 + rng.below(11)),
            min_alignment: 12 + rng.below(11) as u8,
            pref_address: [0x10_0000, 0x100_0000, 0x40_0000, 0x123_4000][rng.index(4)],
            init_size: (rng.below(64) as u32 + 1) * 0x1_0000,
            initrd_addr_max: [0x37FF_FFFF, 0x7FFF_FFFF, u32::MAX][rng.index(3)],
            protected_len: 1 + rng.index(300_000),
            ..Spec::default()
        };
        let file = bzimage(spec);
        let image = BzImage::new_checked(&file).unwrap();
        let header = *image.header();
        let plan = KernelPlan::new(&image);
        let mut planner = planner_over(&free);
        let Some((attempt, address)) = plan
            .attempts()
            .find_map(|r| planner.place(r).ok().map(|place| (r, place.start)))
        else {
            continue;
        };
        assert!(attempt.admits(address));
        let load = plan.loaded_at(address).unwrap();
        // Within free memory, whole.
        assert!(
            free.iter()
                .any(|&(s, e)| s <= address && load.reserved_end <= e)
        );
        // The file fits in what is reserved; the kernel runs in place (relocatable) or the
        // piece reaches where it will run (fixed).
        assert!(load.reserved_end - address >= header.protected_len);
        if header.relocatable {
            assert!(address >= plan.floor || address == plan.preferred);
            assert!(address.is_multiple_of(u64::from(load.alignment)));
            assert!(load.alignment >= 1 << header.min_alignment_log2);
            assert!(load.alignment <= header.kernel_alignment);
            if let (Some(pref), Some(init)) = (header.pref_address, header.init_size) {
                assert!(address >= pref || address == plan.preferred);
                assert!(load.reserved_end >= address + u64::from(init));
            }
        } else {
            assert_eq!(address, 0x10_0000);
        }
        assert_eq!(
            u64::from(load.entry),
            u64::from(header.code32_start) + address - 0x10_0000
        );

        // The initrd: above the kernel's memory, below its ceiling, as high as free memory
        // allows, 4 KiB aligned.
        let sizes: Vec<u64> = (0..1 + rng.below(3)).map(|_| rng.below(40 * MIB)).collect();
        let layout = InitrdLayout::new(sizes.iter().copied()).unwrap();
        let limit = (rng.below(3) == 0).then(|| rng.below(4096) * MIB);
        let Ok(request) = initrd_request(&header, &load, &layout, limit) else {
            continue;
        };
        let Ok(initrd) = planner.place(request).map(|place| place.start) else {
            continue;
        };
        placed_both += 1;
        let end = initrd + layout.size;
        assert!(initrd.is_multiple_of(4096));
        assert!(initrd >= load.reserved_end, "clear of the kernel");
        assert!(end <= u64::from(header.initrd_addr_max) + 1);
        assert!(end <= 1 << 32);
        assert!(end <= limit.unwrap_or(u64::MAX));
        assert!(free.iter().any(|&(s, e)| s <= initrd && end <= e));
        // No higher 4 KiB-aligned place was free (of the kernel, too).
        let higher = initrd + 4096;
        let kernel = address..load.reserved_end;
        assert!(
            !request.admits(higher)
                || !free.iter().any(|&(s, e)| {
                    s <= higher
                        && higher + request.size <= e
                        && (higher + request.size <= kernel.start || higher >= kernel.end)
                })
        );
    }
    assert!(placed_both > 500, "the test placed too few: {placed_both}");
}

#[test]
fn every_error_is_one_line_with_a_code() {
    let errors = [
        LinuxError::TooShort { len: 1, needed: 2 },
        LinuxError::NoBootFlag,
        LinuxError::NoHeader,
        LinuxError::TooOld { version: 0x0204 },
        LinuxError::NotLoadedHigh,
        LinuxError::No32BitEntry,
        LinuxError::BadHeader { what: "x" },
        LinuxError::CmdlineTooLong { len: 3, max: 2 },
        LinuxError::TooManyE820 { entries: 200 },
        LinuxError::InitrdTooLarge { size: 9, room: 1 },
        LinuxError::Above4GiB { what: "the initrd" },
    ];
    for error in errors {
        let line = std::format!("{}: /vmlinuz: {error}: {}", error.code(), error.advice());
        assert!(
            !line.contains('\n') && error.code().starts_with("E-"),
            "{line}"
        );
    }
    assert_eq!(
        std::format!("{}", LinuxError::TooOld { version: 0x0204 }),
        "Linux boot protocol 2.04 is older than 2.06"
    );
    let _ = offset::HEADER;
}
