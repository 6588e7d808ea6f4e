//! Build the Multiboot test kernel (its own cargo workspace in kernel/) and derive its variants;
//! build the Linux test kernel (linux-kernel/) and wrap it as a bzImage (build_linux_kernel.rs).
//!
//! One kernel crate, two links: `mbtest` at 1 MiB and `mbtest-low` at 0x8000. Out of them, into
//! OUT_DIR:
//! - `mbtest-elf64.elf`: the linked ELF64 (32-bit entry), header flag 16 clear: pure ELF.
//! - `mbtest-elf64kludge.elf`: the same ELF64 with flag 16 set (address fields in force).
//! - `mbtest-elf32.elf`: the same program as an ELF32 (EM_386) file, flag 16 clear.
//! - `mbtest-aout.bin`: the flat image (no ELF), flag 16 set: the "a.out kludge".
//! - `mbtest-low.elf`: `mbtest-low` as ELF32, flag 16 clear, loaded 0x8000..0x90000.
//!
//! Every variant gets its name and the SHA-256 of its header+code+rodata+data (as patched)
//! stored in the kernel's `.mbtest` section, so the kernel can report which variant it is and
//! whether the loader put its bytes in place intact. Paths reach the crate as
//! `NETLOADER_TEST_KERNEL_<VARIANT>` environment variables; the layouts as a generated table.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSegment, ObjectSymbol};

#[allow(dead_code)]
#[path = "kernel/src/sha256.rs"]
mod sha256;

#[path = "build_linux_kernel.rs"]
mod linux_kernel;

const MB_HEADER_MAGIC: u32 = 0x1bad_b002;
const FLAG_ADDRESS_FIELDS: u32 = 1 << 16;
/// The Multiboot header must lie within a file's first 8 KiB.
const HEADER_SEARCH_END: u64 = 8192;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for watched in [
        "kernel/src",
        "kernel/Cargo.toml",
        "kernel/Cargo.lock",
        "kernel/build.rs",
        "kernel/kernel.ld",
        "kernel/link-high.ld",
        "kernel/link-low.ld",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            manifest_dir.join(watched).display()
        );
    }

    for watched in linux_kernel::watched() {
        println!(
            "cargo:rerun-if-changed={}",
            manifest_dir.join(watched).display()
        );
    }
    println!("cargo:rerun-if-changed=build_linux_kernel.rs");

    let release = build_kernel(&root, &manifest_dir.join("kernel/Cargo.toml"));
    let high = Linked::read(&release.join("mbtest"));
    let low = Linked::read(&release.join("mbtest-low"));

    let mut table = String::new();
    let mut emit = |variant: &str, file_name: &str, linked: &Linked, bytes: Vec<u8>| {
        let path = out_dir.join(file_name);
        std::fs::write(&path, bytes).unwrap();
        println!(
            "cargo:rustc-env=NETLOADER_TEST_KERNEL_{}={}",
            variant.to_uppercase(),
            path.display()
        );
        writeln!(
            table,
            "    (\"{variant}\", Layout {{ load_start: {:#x}, load_end: {:#x}, bss_end: {:#x}, entry: {:#x} }}),",
            linked.symbol("__kernel_start"),
            linked.symbol("__load_end"),
            linked.symbol("__bss_end"),
            linked.entry
        )
        .unwrap();
    };
    emit(
        "elf64",
        "mbtest-elf64.elf",
        &high,
        high.patched("elf64", false),
    );
    emit(
        "elf64kludge",
        "mbtest-elf64kludge.elf",
        &high,
        high.patched("elf64kludge", true),
    );
    emit(
        "elf32",
        "mbtest-elf32.elf",
        &high,
        high.elf32(&high.patched("elf32", false)),
    );
    emit(
        "aout",
        "mbtest-aout.bin",
        &high,
        high.flat(&high.patched("aout", true)),
    );
    emit(
        "low",
        "mbtest-low.elf",
        &low,
        low.elf32(&low.patched("low", false)),
    );
    // The Linux test kernel: its own workspace, built into the same target directory.
    let linux_release = build_kernel(&root, &manifest_dir.join("linux-kernel/Cargo.toml"));
    let bzimage = linux_kernel::emit(&linux_release.join("lxtest"), &out_dir);
    println!(
        "cargo:rustc-env=NETLOADER_LINUX_TEST_KERNEL={}",
        bzimage.display()
    );
    std::fs::write(
        out_dir.join("test_kernel_layouts.rs"),
        format!("/// (variant name, layout), written by build.rs.\nconst LAYOUTS: &[(&str, Layout)] = &[\n{table}];\n"),
    )
    .unwrap();
}

/// `cargo build --release` in kernel/, with a target directory of its own beside ours.
/// Returns the directory holding the two linked bins.
fn build_kernel(root: &Path, manifest: &Path) -> PathBuf {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("test-kernel");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings are for host code; none of them may reach the kernel.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME"
            || key == "RUSTFLAGS"
            || key == "RUSTC_WRAPPER"
            || key == "RUSTC_WORKSPACE_WRAPPER"
        {
            command.env_remove(&*key);
        }
    }
    let status = command.status().expect("run cargo for the test kernel");
    assert!(
        status.success(),
        "building the test kernel failed (see the errors above)"
    );
    target_dir.join("release")
}

/// A linked kernel: its file, its single PT_LOAD segment and the symbols the variants need.
struct Linked {
    file: Vec<u8>,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    entry: u64,
    symbols: HashMap<String, u64>,
}

impl Linked {
    fn read(path: &Path) -> Linked {
        let file = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let elf = object::File::parse(&*file).expect("parse the test kernel ELF");
        let segments: Vec<_> = elf.segments().collect();
        assert_eq!(segments.len(), 1, "kernel.ld makes exactly one PT_LOAD");
        let (offset, filesz) = segments[0].file_range();
        let symbols = elf
            .symbols()
            .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
            .collect();
        let linked = Linked {
            offset,
            vaddr: segments[0].address(),
            filesz,
            memsz: segments[0].size(),
            entry: elf.entry(),
            symbols,
            file: file.clone(),
        };
        assert_eq!(
            linked.symbol("mbtest_header"),
            linked.vaddr,
            "the header opens the segment"
        );
        assert!(
            linked.offset + 48 <= HEADER_SEARCH_END,
            "the header must be in the first 8 KiB"
        );
        assert_eq!(
            linked.symbol("__load_end"),
            linked.vaddr + linked.filesz,
            "load_end is the file data's end"
        );
        assert_eq!(
            linked.symbol("__bss_end"),
            linked.vaddr + linked.memsz,
            "bss_end is the segment's end"
        );
        assert!(linked.vaddr + linked.memsz <= u32::MAX as u64 && linked.entry <= u32::MAX as u64);
        linked
    }

    fn symbol(&self, name: &str) -> u64 {
        *self
            .symbols
            .get(name)
            .unwrap_or_else(|| panic!("the test kernel lacks the symbol {name}"))
    }

    /// The file offset of a linked address.
    fn file_offset(&self, address: u64) -> usize {
        assert!(address >= self.vaddr && address < self.vaddr + self.filesz);
        (self.offset + address - self.vaddr) as usize
    }

    /// The ELF64 file with this variant's header flags, name and image hash.
    fn patched(&self, variant: &str, address_fields: bool) -> Vec<u8> {
        let mut file = self.file.clone();
        let header = self.file_offset(self.symbol("mbtest_header"));
        let flags = u32::from_le_bytes(file[header + 4..header + 8].try_into().unwrap());
        let flags = if address_fields {
            flags | FLAG_ADDRESS_FIELDS
        } else {
            flags & !FLAG_ADDRESS_FIELDS
        };
        let checksum = 0u32.wrapping_sub(MB_HEADER_MAGIC).wrapping_sub(flags);
        file[header + 4..header + 8].copy_from_slice(&flags.to_le_bytes());
        file[header + 8..header + 12].copy_from_slice(&checksum.to_le_bytes());

        let name = self.file_offset(self.symbol("mbtest_variant"));
        assert!(variant.len() < 16);
        file[name..name + 16].fill(0);
        file[name..name + variant.len()].copy_from_slice(variant.as_bytes());

        let hashed = self.file_offset(self.symbol("__kernel_start"))
            ..self.file_offset(self.symbol("__hashed_end"));
        let digest = sha256::sha256(&file[hashed]);
        let at = self.file_offset(self.symbol("mbtest_image_sha256"));
        file[at..at + 32].copy_from_slice(&digest);
        file
    }

    /// The segment's file bytes of a patched file.
    fn segment_bytes<'a>(&self, patched: &'a [u8]) -> &'a [u8] {
        &patched[self.offset as usize..(self.offset + self.filesz) as usize]
    }

    /// The flat image from load_addr to load_end_addr.
    fn flat(&self, patched: &[u8]) -> Vec<u8> {
        self.segment_bytes(patched).to_vec()
    }

    /// The same program as an ELF32 (EM_386) executable: header, one program header, and the
    /// segment's bytes at an offset congruent to its address modulo the page size.
    fn elf32(&self, patched: &[u8]) -> Vec<u8> {
        const EHDR: usize = 52;
        const PHDR: usize = 32;
        let data_offset = 0x1000 + (self.vaddr % 0x1000) as usize;
        let mut out = Vec::with_capacity(data_offset + self.filesz as usize);
        out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let half = |out: &mut Vec<u8>, value: u16| out.extend_from_slice(&value.to_le_bytes());
        let word = |out: &mut Vec<u8>, value: u64| {
            out.extend_from_slice(&u32::try_from(value).unwrap().to_le_bytes())
        };
        half(&mut out, 2); // ET_EXEC
        half(&mut out, 3); // EM_386
        word(&mut out, 1); // EV_CURRENT
        word(&mut out, self.entry);
        word(&mut out, EHDR as u64); // e_phoff
        word(&mut out, 0); // e_shoff: no section headers
        word(&mut out, 0); // e_flags
        half(&mut out, EHDR as u16);
        half(&mut out, PHDR as u16);
        half(&mut out, 1); // e_phnum
        half(&mut out, 40); // e_shentsize
        half(&mut out, 0); // e_shnum
        half(&mut out, 0); // e_shstrndx
        assert_eq!(out.len(), EHDR);
        word(&mut out, 1); // PT_LOAD
        word(&mut out, data_offset as u64);
        word(&mut out, self.vaddr); // p_vaddr
        word(&mut out, self.vaddr); // p_paddr: kernel.ld loads at the linked address
        word(&mut out, self.filesz);
        word(&mut out, self.memsz);
        word(&mut out, 7); // RWX, as in the ELF64
        word(&mut out, 0x1000);
        assert_eq!(out.len(), EHDR + PHDR);
        out.resize(data_offset, 0);
        out.extend_from_slice(self.segment_bytes(patched));
        assert!(data_offset as u64 + 48 <= HEADER_SEARCH_END);
        out
    }
}
