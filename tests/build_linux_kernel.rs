//! The Linux boot protocol test kernel (linux-kernel/, its own cargo workspace) as a bzImage:
//! a boot sector and setup sectors holding a setup header of protocol 2.15 and the 16-bit
//! entry, then the protected-mode part (the linked image). Written to OUT_DIR/lxtest.bzImage;
//! its path reaches the crate as NETLOADER_LINUX_TEST_KERNEL. The i586 build (for CPUs without
//! long mode) the same way, as lxtest-i586.bzImage (NETLOADER_LINUX_TEST_KERNEL_I586).
//!
//! The header says what a modern x86-64 kernel says (values chosen to exercise a loader's
//! placement, see tests/src/linux.rs): LOADED_HIGH, relocatable with a 2 MiB kernel_alignment
//! and a 4 KiB min_alignment (the kernel maps itself with 4 KiB pages, so any page will do),
//! pref_address 16 MiB, init_size the image with its .bss, cmdline_size 2048,
//! initrd_addr_max 0x7FFFFFFF, no 64-bit entry (xloadflags 0).

use std::path::Path;

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};

pub const VERSION: u16 = 0x020F;
pub const KERNEL_ALIGNMENT: u32 = 0x20_0000;
pub const MIN_ALIGNMENT_LOG2: u8 = 12;
pub const PREF_ADDRESS: u64 = 0x100_0000;
pub const CMDLINE_SIZE: u32 = 2048;
pub const INITRD_ADDR_MAX: u32 = 0x7FFF_FFFF;
/// The setup header ends (and the 16-bit code begins) here for protocol 2.15.
const HEADER_END: usize = 0x26C;
/// The part of the file the kernel keeps a copy of, to compare with the zero page.
const HEADER_COPY: std::ops::Range<usize> = 0x1F1..0x290;

pub fn watched() -> [&'static str; 10] {
    [
        "linux-kernel/src",
        "linux-kernel/Cargo.toml",
        "linux-kernel/Cargo.lock",
        "linux-kernel/build.rs",
        "linux-kernel/lxtest.ld",
        "linux-kernel/lxtest32.ld",
        "linux-kernel/lxtest-layout.ld",
        "kernel/src/serial.rs",
        "kernel/src/sha256.rs",
        "kernel/src/phys.rs",
    ]
}

/// Wraps the linked kernel at `linked` into a bzImage `out_dir/name`; returns its path.
pub fn emit(linked: &Path, out_dir: &Path, name: &str) -> std::path::PathBuf {
    let elf_bytes =
        std::fs::read(linked).unwrap_or_else(|e| panic!("read {}: {e}", linked.display()));
    let elf = object::File::parse(&*elf_bytes).expect("parse the Linux test kernel ELF");
    let symbol = |name: &str| {
        elf.symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("the Linux test kernel lacks the symbol {name}"))
            .address()
    };
    let image = elf
        .segments()
        .find(|s| s.address() == symbol("__image_start"))
        .expect("the image segment");
    let mut protected = image.data().expect("image bytes").to_vec();
    let memory_size = image.size();
    let at = |address: u64| (address - image.address()) as usize;
    assert_eq!(
        protected.len(),
        at(symbol("__file_end")),
        "file bytes end at __file_end"
    );

    let setup = elf
        .section_by_name(".lxsetup")
        .expect("the .lxsetup section")
        .data()
        .expect("setup bytes")
        .to_vec();
    assert_eq!(
        symbol("lx_setup16"),
        HEADER_END as u64,
        "the 16-bit entry follows the header"
    );
    let setup_sects = (HEADER_END + setup.len()).div_ceil(512) - 1;

    let mut file = vec![0u8; (setup_sects + 1) * 512];
    let mut put = |at: usize, bytes: &[u8]| file[at..at + bytes.len()].copy_from_slice(bytes);
    put(0x1F1, &[setup_sects as u8]);
    put(0x1F4, &(protected.len().div_ceil(16) as u32).to_le_bytes()); // syssize
    put(0x1FE, &0xAA55u16.to_le_bytes());
    put(0x200, &[0xEB, (HEADER_END - 0x202) as u8]); // jmp over the header
    put(0x202, b"HdrS");
    put(0x206, &VERSION.to_le_bytes());
    put(0x211, &[0x01]); // loadflags: LOADED_HIGH
    put(0x214, &0x10_0000u32.to_le_bytes()); // code32_start
    put(0x22C, &INITRD_ADDR_MAX.to_le_bytes());
    put(0x230, &KERNEL_ALIGNMENT.to_le_bytes());
    put(0x234, &[1, MIN_ALIGNMENT_LOG2]); // relocatable_kernel, min_alignment
    put(0x238, &CMDLINE_SIZE.to_le_bytes());
    put(0x258, &PREF_ADDRESS.to_le_bytes());
    put(0x260, &(memory_size as u32).to_le_bytes()); // init_size
    put(HEADER_END, &setup);

    // The kernel's copies: its own header bytes, and the hash of what it must find loaded.
    let copy = at(symbol("lx_setup_header"));
    protected[copy..copy + HEADER_COPY.len()].copy_from_slice(&file[HEADER_COPY]);
    let digest = crate::sha256::sha256(&protected[..at(symbol("__hashed_end"))]);
    let hash = at(symbol("lx_image_sha256"));
    protected[hash..hash + 32].copy_from_slice(&digest);

    file.extend_from_slice(&protected);
    let path = out_dir.join(name);
    std::fs::write(&path, &file).unwrap();
    path
}
