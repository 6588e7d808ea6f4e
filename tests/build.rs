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
//! - `mbtest-video.elf`: the ELF32 with flag 2 set: it asks for a 1024x768x32 linear mode.
//!
//!
//! The same crate built for i586 (`KERNEL32` in the entries: it stays in 32-bit protected
//! mode, for CPUs without long mode), as ELF32 files of its own:
//! - `mbtest-i586.elf`: `mbtest` at 1 MiB, flag 16 clear;
//! - `mb2-i586.elf`: `mb2test` at 2 MiB, as linked (not relocatable: no paging).
//!
//! And the Multiboot 2 kernel `mb2test`, linked at 2 MiB (entry2.s), whose header has slots
//! the build step turns on per variant:
//! - `mb2-elf64.elf`: the linked ELF64 as it is;
//! - `mb2-elf32.elf`: the same as an ELF32 with its section headers (and the sections no
//!   segment loads) carried over;
//! - `mb2-reloc.elf`: the relocatable tag on (from 32 MiB, 2 MiB aligned, lowest first);
//! - `mb2-fb.elf`: the framebuffer tag on (1024x768x32);
//! - `mb2-smbios.elf`: a required information request for SMBIOS (13), which netloader
//!   does not give: it must refuse the kernel;
//! - `mb2-aout.bin`: the flat image with the address and entry address tags on (no ELF);
//! - `mb2-exitbs.elf`: the EFI boot services tag (7) off, so that a UEFI loader ends boot
//!   services before the entry.
//!
//! Every variant gets its name and the SHA-256 of its header+code+rodata+data (as patched)
//! stored in the kernel's `.mbtest` section, so the kernel can report which variant it is and
//! whether the loader put its bytes in place intact; a Multiboot 2 variant also the SHA-256 of
//! the sections it expects in memory (those no segment loads, in section order). Paths reach
//! the crate as `NETLOADER_TEST_KERNEL_<VARIANT>` environment variables (`-` as `_`); the
//! layouts as a generated table.

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
/// Multiboot 2 header tag types the variants switch on.
const MB2_TAG_FRAMEBUFFER: u16 = 5;
const MB2_TAG_RELOCATABLE: u16 = 10;
/// An unknown tag type (entry2.s's NOP_TAG): with its optional flag, every loader ignores it.
const MB2_TAG_IGNORED: u16 = 0x7ff0;
const MB2_TAG_ADDRESS: u16 = 2;
const MB2_TAG_ENTRY: u16 = 3;
const MB2_REQUEST_SMBIOS: u32 = 13;
const FLAG_ADDRESS_FIELDS: u32 = 1 << 16;
/// Multiboot 1 flag 2: the kernel wants video information (its header's mode fields).
const FLAG_VIDEO: u32 = 1 << 2;
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
    let mb2 = Linked::read(&release.join("mb2test"));

    let mut table = String::new();
    let mut emit = |variant: &str, file_name: &str, linked: &Linked, bytes: Vec<u8>| {
        let path = out_dir.join(file_name);
        std::fs::write(&path, bytes).unwrap();
        println!(
            "cargo:rustc-env=NETLOADER_TEST_KERNEL_{}={}",
            variant.to_uppercase().replace('-', "_"),
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
        high.patched("elf64", false, false),
    );
    emit(
        "elf64kludge",
        "mbtest-elf64kludge.elf",
        &high,
        high.patched("elf64kludge", true, false),
    );
    emit(
        "elf32",
        "mbtest-elf32.elf",
        &high,
        high.elf32(&high.patched("elf32", false, false)),
    );
    emit(
        "aout",
        "mbtest-aout.bin",
        &high,
        high.flat(&high.patched("aout", true, false)),
    );
    emit(
        "low",
        "mbtest-low.elf",
        &low,
        low.elf32(&low.patched("low", false, false)),
    );
    emit(
        "video",
        "mbtest-video.elf",
        &high,
        high.elf32(&high.patched("video", false, true)),
    );
    for (variant, tweak) in [
        ("mb2-elf64", Mb2Tweak::None),
        ("mb2-reloc", Mb2Tweak::Relocatable),
        ("mb2-fb", Mb2Tweak::Framebuffer),
        ("mb2-smbios", Mb2Tweak::NeedsSmbios),
        ("mb2-exitbs", Mb2Tweak::NoEfiBootServices),
    ] {
        emit(
            variant,
            &format!("{variant}.elf"),
            &mb2,
            mb2.patched_mb2(&mb2.file, variant, tweak),
        );
    }
    emit(
        "mb2-aout",
        "mb2-aout.bin",
        &mb2,
        mb2.flat(&mb2.patched_mb2(&mb2.file, "mb2-aout", Mb2Tweak::AddressTags)),
    );
    let elf32 = mb2.elf32_with_sections();
    emit(
        "mb2-elf32",
        "mb2-elf32.elf",
        &mb2,
        mb2.patched_mb2(&elf32, "mb2-elf32", Mb2Tweak::None),
    );
    // The 32-bit kernels, for CPUs without long mode.
    let release32 = cargo_release(
        &root,
        &manifest_dir.join("kernel/Cargo.toml"),
        Some(X86_TARGET),
    );
    let high32 = Linked::read(&release32.join("mbtest"));
    emit(
        "i586",
        "mbtest-i586.elf",
        &high32,
        high32.patched("i586", false, false),
    );
    let mb2_32 = Linked::read(&release32.join("mb2test"));
    emit(
        "mb2-i586",
        "mb2-i586.elf",
        &mb2_32,
        mb2_32.patched_mb2(&mb2_32.file, "mb2-i586", Mb2Tweak::None),
    );
    // The Linux test kernel: its own workspace, built into the same target directory.
    let linux_release = build_kernel(&root, &manifest_dir.join("linux-kernel/Cargo.toml"));
    let bzimage = linux_kernel::emit(&linux_release.join("lxtest"), &out_dir, "lxtest.bzImage");
    println!(
        "cargo:rustc-env=NETLOADER_LINUX_TEST_KERNEL={}",
        bzimage.display()
    );
    let linux_release32 = cargo_release(
        &root,
        &manifest_dir.join("linux-kernel/Cargo.toml"),
        Some(X86_TARGET),
    );
    let bzimage32 = linux_kernel::emit(
        &linux_release32.join("lxtest"),
        &out_dir,
        "lxtest-i586.bzImage",
    );
    println!(
        "cargo:rustc-env=NETLOADER_LINUX_TEST_KERNEL_I586={}",
        bzimage32.display()
    );
    std::fs::write(
        out_dir.join("test_kernel_layouts.rs"),
        format!("/// (variant name, layout), written by build.rs.\nconst LAYOUTS: &[(&str, Layout)] = &[\n{table}];\n"),
    )
    .unwrap();
}

/// The target of the 32-bit test kernels (netloader's own 32-bit runtime needs it too).
const X86_TARGET: &str = "i586-unknown-linux-gnu";

/// `cargo build --release` in kernel/, with a target directory of its own beside ours.
/// Returns the directory holding the two linked bins.
fn build_kernel(root: &Path, manifest: &Path) -> PathBuf {
    cargo_release(root, manifest, None)
}

/// `cargo build --release` of the workspace at `manifest` for `target` (None: the host's),
/// into the test kernels' target directory. Returns the directory holding the linked bins.
fn cargo_release(root: &Path, manifest: &Path, target: Option<&str>) -> PathBuf {
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
    if let Some(target) = target {
        command.args(["--target", target]);
    }
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
    if target == Some(X86_TARGET) {
        // Code at fixed addresses, as netloader's own 32-bit runtime (image-builder/build.rs).
        command.env("CARGO_ENCODED_RUSTFLAGS", "-Crelocation-model=static");
    }
    let status = command.status().expect("run cargo for the test kernel");
    assert!(
        status.success(),
        "building {} failed (see the errors above){}",
        manifest.display(),
        target.map_or(String::new(), |t| format!(
            ": is the {t} target installed? scripts/install-deps adds it (rustup target add {t})"
        ))
    );
    match target {
        Some(target) => target_dir.join(target).join("release"),
        None => target_dir.join("release"),
    }
}

/// What a Multiboot 2 variant changes in the header.
#[derive(Clone, Copy)]
enum Mb2Tweak {
    None,
    Relocatable,
    Framebuffer,
    NeedsSmbios,
    AddressTags,
    NoEfiBootServices,
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

    /// The ELF64 file with this variant's header flags (16: address fields, 2: video), name
    /// and image hash.
    fn patched(&self, variant: &str, address_fields: bool, video: bool) -> Vec<u8> {
        let mut file = self.file.clone();
        let header = self.file_offset(self.symbol("mbtest_header"));
        let flags = u32::from_le_bytes(file[header + 4..header + 8].try_into().unwrap());
        let flags = if address_fields {
            flags | FLAG_ADDRESS_FIELDS
        } else {
            flags & !FLAG_ADDRESS_FIELDS
        };
        let flags = if video {
            flags | FLAG_VIDEO
        } else {
            flags & !FLAG_VIDEO
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

    /// A Multiboot 2 variant of `file` (the linked ELF64 or its ELF32 form, both with the
    /// segment's bytes at the same offsets from `segment_offset`): the header tweak, the name,
    /// the image hash and the hash of the sections no segment loads.
    fn patched_mb2(&self, file: &[u8], variant: &str, tweak: Mb2Tweak) -> Vec<u8> {
        let mut file = file.to_vec();
        let at = |linked: &Linked, symbol: &str, file: &[u8]| {
            linked
                .file_offset(linked.symbol(symbol))
                .checked_add_signed(segment_shift(linked, file))
                .unwrap()
        };
        match tweak {
            Mb2Tweak::None => {}
            Mb2Tweak::Relocatable => {
                let tag = at(self, "mb2test_reloc_tag", &file);
                file[tag..tag + 2].copy_from_slice(&MB2_TAG_RELOCATABLE.to_le_bytes());
            }
            Mb2Tweak::Framebuffer => {
                let tag = at(self, "mb2test_fb_tag", &file);
                file[tag..tag + 2].copy_from_slice(&MB2_TAG_FRAMEBUFFER.to_le_bytes());
            }
            Mb2Tweak::NoEfiBootServices => {
                let tag = at(self, "mb2test_efi_bs_tag", &file);
                file[tag..tag + 2].copy_from_slice(&MB2_TAG_IGNORED.to_le_bytes());
            }
            Mb2Tweak::NeedsSmbios => {
                let request = at(self, "mb2test_extra_request", &file);
                file[request..request + 4].copy_from_slice(&MB2_REQUEST_SMBIOS.to_le_bytes());
            }
            Mb2Tweak::AddressTags => {
                for (symbol, tag) in [
                    ("mb2test_address_tag", MB2_TAG_ADDRESS),
                    ("mb2test_entry_tag", MB2_TAG_ENTRY),
                ] {
                    let at = at(self, symbol, &file);
                    file[at..at + 2].copy_from_slice(&tag.to_le_bytes());
                }
            }
        }
        // A flat image has no sections to copy: the kernel expects none.
        let flat = matches!(tweak, Mb2Tweak::AddressTags);
        let name = at(self, "mbtest_variant", &file);
        assert!(variant.len() < 16);
        file[name..name + 16].fill(0);
        file[name..name + variant.len()].copy_from_slice(variant.as_bytes());

        let sections = if flat {
            [0; 32]
        } else {
            sha256::sha256(&unloaded_sections(&file))
        };
        let at_sections = at(self, "mbtest_sections_sha256", &file);
        file[at_sections..at_sections + 32].copy_from_slice(&sections);

        let hashed = at(self, "__kernel_start", &file)..at(self, "__hashed_end", &file);
        let digest = sha256::sha256(&file[hashed]);
        let at_image = at(self, "mbtest_image_sha256", &file);
        file[at_image..at_image + 32].copy_from_slice(&digest);
        file
    }

    /// The linked ELF64 as an ELF32 (EM_386) with its section headers: the segment at the
    /// same layout as [`Linked::elf32`] makes, then the contents of the sections no segment
    /// loads, then the section header table. A 64-bit symbol table is no ELF32 symbol table:
    /// its type becomes PROGBITS (its bytes stay, for the loader to copy and the kernel to
    /// hash).
    fn elf32_with_sections(&self) -> Vec<u8> {
        let mut out = self.elf32(&self.file);
        let shift = segment_shift(self, &out) as i64;
        let sections = section_headers(&self.file);
        let mut headers = Vec::new();
        for s in &sections {
            let mut s = s.clone();
            if needs_loading(&s) {
                out.resize(out.len().div_ceil(16) * 16, 0);
                let contents = &self.file[s.offset as usize..(s.offset + s.size) as usize];
                s.offset = out.len() as u64;
                out.extend_from_slice(contents);
            } else if s.kind != 8 && s.size > 0 && s.offset >= self.offset {
                s.offset = s.offset.checked_add_signed(shift).unwrap(); // the segment moved
            }
            if s.kind == 2 {
                s.kind = 1;
                s.link = 0;
                s.info = 0;
                s.entsize = 0;
            }
            headers.push(s);
        }
        out.resize(out.len().div_ceil(8) * 8, 0);
        let shoff = out.len() as u32;
        for s in &headers {
            for word in [
                s.name,
                s.kind,
                s.flags as u32,
                s.addr as u32,
                s.offset as u32,
                s.size as u32,
                s.link,
                s.info,
                s.align as u32,
                s.entsize as u32,
            ] {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        let names = u16::from_le_bytes(self.file[62..64].try_into().unwrap());
        out[32..36].copy_from_slice(&shoff.to_le_bytes());
        out[46..48].copy_from_slice(&40u16.to_le_bytes());
        out[48..50].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        out[50..52].copy_from_slice(&names.to_le_bytes());
        out
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
    /// segment's bytes at an offset congruent to its address modulo the page size (no
    /// section headers).
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

/// How far the segment's bytes sit from where they are in the linked file: 0 in the linked
/// file itself (an ELF64, or the i586 build's ELF32), the converted ELF32's own offset
/// otherwise (recognised by its class byte).
fn segment_shift(linked: &Linked, file: &[u8]) -> isize {
    if file[4] == 1 && linked.file[4] == 2 {
        0x1000 + (linked.vaddr % 0x1000) as isize - linked.offset as isize
    } else {
        0
    }
}

/// One section header of the linked ELF64, read by hand (an independent reader from the
/// loader's own in netloader-proto).
#[derive(Clone)]
struct SectionHeader {
    name: u32,
    kind: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

fn section_headers(elf64: &[u8]) -> Vec<SectionHeader> {
    let u16_at = |at: usize| u16::from_le_bytes(elf64[at..at + 2].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(elf64[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf64[at..at + 8].try_into().unwrap());
    assert_eq!(elf64[4], 2, "the linked kernel is ELF64");
    let (shoff, shentsize, shnum) = (u64_at(40) as usize, u16_at(58) as usize, u16_at(60));
    (0..shnum as usize)
        .map(|i| {
            let at = shoff + i * shentsize;
            SectionHeader {
                name: u32_at(at),
                kind: u32_at(at + 4),
                flags: u64_at(at + 8),
                addr: u64_at(at + 16),
                offset: u64_at(at + 24),
                size: u64_at(at + 32),
                link: u32_at(at + 40),
                info: u32_at(at + 44),
                align: u64_at(at + 48),
                entsize: u64_at(at + 56),
            }
        })
        .collect()
}

/// What a Multiboot 2 loader copies for the ELF sections tag (GRUB's rule): not allocated,
/// no address, bytes in the file.
fn needs_loading(s: &SectionHeader) -> bool {
    s.flags & 2 == 0 && s.addr == 0 && s.size > 0 && s.kind != 0 && s.kind != 8
}

/// The contents of every section [`needs_loading`], in section order, of an ELF32 or ELF64.
fn unloaded_sections(file: &[u8]) -> Vec<u8> {
    let u16_at = |at: usize| u16::from_le_bytes(file[at..at + 2].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as u64;
    let u64_at = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().unwrap());
    let wide = file[4] == 2;
    let (shoff, shentsize, shnum) = if wide {
        (u64_at(40) as usize, u16_at(58) as usize, u16_at(60))
    } else {
        (u32_at(32) as usize, u16_at(46) as usize, u16_at(48))
    };
    let mut all = Vec::new();
    for i in 0..shnum as usize {
        let at = shoff + i * shentsize;
        let s = if wide {
            SectionHeader {
                name: 0,
                kind: u32_at(at + 4) as u32,
                flags: u64_at(at + 8),
                addr: u64_at(at + 16),
                offset: u64_at(at + 24),
                size: u64_at(at + 32),
                link: 0,
                info: 0,
                align: 0,
                entsize: 0,
            }
        } else {
            SectionHeader {
                name: 0,
                kind: u32_at(at + 4) as u32,
                flags: u32_at(at + 8),
                addr: u32_at(at + 12),
                offset: u32_at(at + 16),
                size: u32_at(at + 20),
                link: 0,
                info: 0,
                align: 0,
                entsize: 0,
            }
        };
        if needs_loading(&s) {
            all.extend_from_slice(&file[s.offset as usize..(s.offset + s.size) as usize]);
        }
    }
    all
}
