//! Build the freestanding runtime (its own cargo workspace in ../runtime) and embed it.
//!
//! Out of the runtime's ELF come two pieces, written to OUT_DIR for `include_bytes!`:
//! `runtime.bin`, the flat image stage 1 loads at its link address, and `bootsector.bin`, the
//! 512-byte boot sector template every block-device form starts from.

use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSection, ObjectSymbol};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for watched in [
        "runtime/src",
        "runtime/Cargo.toml",
        "runtime/Cargo.lock",
        "runtime/build.rs",
        "runtime/link.ld",
        "stage1",
        "proto/src",
        "proto/Cargo.toml",
        "drivers/src",
        "drivers/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    // Every BIOS form carries the 32-bit runtime (the x86 platform, built for i586: every CPU
    // from the Pentium on, no SSE), measured as fast as the 64-bit one (docs/architecture.md,
    // "Decisions"). The 32-bit code of each image is listed for the no-SSE test.
    let mut code_table = String::new();
    // An option ROM carries its own card's driver only: per driver of the registry that a ROM
    // can be made for (a PCI card's), the first stage that chains netloader.pxe
    // (runtime/src/chain.rs), and the whole loader (`--standalone`). stage1.rs includes them
    // through the table written here.
    let mut table = String::from(
        "/// Per option-ROM driver (image-builder/build.rs): its name, then the first stage and the\n\
         /// whole loader built with that driver alone.\n\
         pub static ROM_RUNTIMES: &[RomRuntime] = &[\n",
    );
    for driver in netloader_drivers::registry::DRIVERS
        .iter()
        .filter(|d| d.is_pci())
    {
        let name = driver.name;
        // Neither carries the default features (Multiboot 2, HTTP and DNS, TFTP reordering):
        // with them the virtio ROM passes the 127.5 KiB a legacy ROM header can declare, and
        // the first stage its 56 KiB; see runtime/Cargo.toml.
        for (features, file) in [
            (Some("chain"), format!("runtime-chain-{name}.bin")),
            (Some(""), format!("runtime-{name}.bin")),
        ] {
            let elf = build_runtime(&root, features, Some(name), Target::Bios32);
            let file_elf = object::File::parse(&*elf).expect("parse the runtime ELF");
            std::fs::write(out_dir.join(&file), flat_image(&file_elf)).unwrap();
            code_table.push_str(&code_entry(&file, &file_elf));
        }
        table += &format!(
            "    RomRuntime {{\n        driver: {name:?},\n        \
             first_stage: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/runtime-chain-{name}.bin\")),\n        \
             standalone: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/runtime-{name}.bin\")),\n    }},\n"
        );
    }
    table += "];\n";
    std::fs::write(out_dir.join("rom_runtimes.rs"), table).unwrap();

    // netloader.efi: the same sources for x86_64-unknown-uefi (a PE32+ application; it carries
    // the firmware's network interface as its driver, runtime/src/nic.rs).
    let efi = build_runtime(&root, None, None, Target::Uefi);
    std::fs::write(out_dir.join("netloader.efi"), efi).unwrap();

    let elf = build_runtime(&root, None, None, Target::Bios32);
    let file = object::File::parse(&*elf).expect("parse the runtime ELF");
    let image_start = symbol(&file, "__image_start");
    let runtime_end = symbol(&file, "__runtime_end");
    std::fs::write(out_dir.join("runtime.bin"), flat_image(&file)).unwrap();
    code_table.push_str(&code_entry("runtime.bin", &file));
    std::fs::write(
        out_dir.join("runtime_code.rs"),
        format!(
            "/// Each embedded 32-bit runtime image (by its file name in OUT_DIR) and where its 32-bit\n\
             /// code lies in it, as offsets: .text without the option ROM first stage's 16-bit stub.\n\
             pub const X86_CODE_RANGES: &[(&str, &[(usize, usize)])] = &[\n{code_table}];\n"
        ),
    )
    .unwrap();

    // The 64-bit runtime (the x86_64 platform, long mode): `netloader build --runtime 64`.
    let elf64 = build_runtime(&root, None, None, Target::Bios64);
    let file64 = object::File::parse(&*elf64).expect("parse the 64-bit runtime ELF");
    std::fs::write(out_dir.join("runtime-x86_64.bin"), flat_image(&file64)).unwrap();
    let x86_64_runtime_end = symbol(&file64, "__runtime_end");

    let boot_sector = file
        .section_by_name(".boot.sector")
        .expect("runtime ELF lacks .boot.sector")
        .data()
        .unwrap()
        .to_vec();
    assert_eq!(
        boot_sector.len(),
        512,
        "the boot sector must be exactly 512 bytes"
    );
    std::fs::write(out_dir.join("bootsector.bin"), &boot_sector).unwrap();

    // The PXE entry (stage1/pxe.s): netloader.pxe's first 1 KiB, loaded at 0x7C00 by the ROM.
    let pxe_entry = file
        .section_by_name(".pxe.entry")
        .expect("runtime ELF lacks .pxe.entry")
        .data()
        .unwrap()
        .to_vec();
    assert_eq!(
        pxe_entry.len() as u64,
        image_start - 0x7c00,
        "the PXE entry must fill 0x7C00 up to the image"
    );
    std::fs::write(out_dir.join("pxe_entry.bin"), &pxe_entry).unwrap();

    // The option ROM's header and code (stage1/rom.s); the builder appends the packed image.
    let rom_header = file
        .section_by_name(".rom.header")
        .expect("runtime ELF lacks .rom.header")
        .data()
        .unwrap()
        .to_vec();
    std::fs::write(out_dir.join("rom_header.bin"), &rom_header).unwrap();

    std::fs::write(
        out_dir.join("runtime_layout.rs"),
        format!(
            "/// Where stage 1 loads the runtime image.\npub const LOAD_ADDRESS: u64 = {image_start:#x};\n\
             /// One past the runtime's last byte in memory, .bss included.\npub const END_ADDRESS: u64 = {runtime_end:#x};\n\
             /// The same for the 64-bit runtime.\npub const X86_64_END_ADDRESS: u64 = {x86_64_runtime_end:#x};\n"
        ),
    )
    .unwrap();
}

/// One line of the code table: `name`'s .text as offsets into its flat image, cut around the
/// chain stub (16-bit code) where the image has one.
fn code_entry(name: &str, file: &object::File) -> String {
    let image_start = symbol(file, "__image_start");
    let text = file
        .section_by_name(".text")
        .expect("runtime ELF lacks .text");
    let (start, end) = (
        text.address() - image_start,
        text.address() + text.size() - image_start,
    );
    let stub = ["chain_stub_start", "chain_stub_end"].map(|name| {
        file.symbols()
            .find(|s| s.name() == Ok(name))
            .map(|s| s.address() - image_start)
    });
    let ranges = match stub {
        [Some(a), Some(b)] => vec![(start, a), (b, end)],
        _ => vec![(start, end)],
    };
    let ranges: Vec<String> = ranges
        .iter()
        .map(|(a, b)| format!("({a:#x}, {b:#x})"))
        .collect();
    format!("    (\"{name}\", &[{}]),\n", ranges.join(", "))
}

fn symbol(file: &object::File, name: &str) -> u64 {
    file.symbols()
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("runtime ELF lacks the symbol {name}"))
        .address()
}

/// The flat image stage 1 loads: every allocated section with contents inside
/// [__image_start, __image_end).
fn flat_image(file: &object::File) -> Vec<u8> {
    let (image_start, image_end) = (symbol(file, "__image_start"), symbol(file, "__image_end"));
    let mut image = vec![0u8; (image_end - image_start) as usize];
    for section in file.sections() {
        let (address, size) = (section.address(), section.size());
        if address < image_start || address + size > image_end || size == 0 {
            continue;
        }
        if let Ok(data) = section.data() {
            if data.is_empty() {
                continue; // NOBITS
            }
            let at = (address - image_start) as usize;
            image[at..at + data.len()].copy_from_slice(data);
        }
    }
    image
}

/// Which runtime: a BIOS one (an ELF linked at 0x8000 with stage 1), 32-bit (the x86 platform,
/// every BIOS form's) or 64-bit (the x86_64 platform, for the host target: `--runtime 64`), or
/// netloader.efi (the x86_64 platform's UEFI flavour).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Bios32,
    Bios64,
    Uefi,
}

impl Target {
    /// The Rust target, where it is not the host's (scripts/install-deps adds both with rustup).
    fn triple(self) -> Option<&'static str> {
        match self {
            // Pentium baseline, no SSE (i686 assumes SSE2).
            Target::Bios32 => Some("i586-unknown-linux-gnu"),
            Target::Bios64 => None,
            Target::Uefi => Some("x86_64-unknown-uefi"),
        }
    }
}

/// `cargo build --release` in ../runtime, with a target directory of its own beside ours;
/// with `features`, those instead of the default ones (none: `Some("")`); with `driver`, that
/// NIC driver alone instead of every driver of the registry (runtime/src/nic.rs).
/// Returns the ELF's bytes (the PE image's for [`Target::Uefi`]).
fn build_runtime(
    root: &Path,
    features: Option<&str>,
    driver: Option<&str>,
    target: Target,
) -> Vec<u8> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("runtime");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(root.join("runtime/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    if let Some(features) = features {
        command.arg("--no-default-features");
        if !features.is_empty() {
            command.args(["--features", features]);
        }
    }
    let mut rustflags = remap_source_paths(root);
    if let Some(triple) = target.triple() {
        require_target(triple);
        command.args(["--target", triple]);
    }
    if target == Target::Bios32 {
        // Code at fixed addresses: position-independent 32-bit code would spend a register
        // and a call per function on finding its GOT.
        rustflags.push("-Crelocation-model=static".into());
    }
    // The outer build's settings are for host code; none of them may reach the runtime.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME"
            || key == "RUSTFLAGS"
            || key == "RUSTC_WRAPPER"
            // `cargo clippy` on the host workspace: the runtime has its own clippy run.
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "CLIPPY_ARGS"
        {
            command.env_remove(&*key);
        }
    }
    match driver {
        Some(name) => command.env("NETLOADER_DRIVER", name),
        None => command.env_remove("NETLOADER_DRIVER"),
    };
    command.env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\x1f"));
    let status = command.status().expect("run cargo for the runtime");
    assert!(
        status.success(),
        "building the runtime failed (see the errors above)"
    );
    let built = match target.triple() {
        Some(triple) => target_dir.join(triple).join("release"),
        None => target_dir.join("release"),
    }
    .join(match target {
        Target::Uefi => "netloader-runtime.efi",
        Target::Bios32 | Target::Bios64 => "netloader-runtime",
    });
    std::fs::read(&built).unwrap_or_else(|e| panic!("read {}: {e}", built.display()))
}

/// Stop with a clear message when the Rust target is missing (cargo's own error only says
/// that `core` cannot be found).
fn require_target(target: &str) {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let has_core = libdir
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .is_some_and(|mut entries| {
            entries
                .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
        });
    assert!(
        has_core,
        "E-BUILD-TARGET: the Rust target {target} is not installed (netloader's 32-bit runtime and netloader.efi are built for theirs): run `rustup target add {target}` (scripts/install-deps does)"
    );
}

/// Panic locations name source files; without these flags they carry this checkout's path and
/// the crate registry's, which makes the image depend on where it was built and costs the
/// option ROM a kilobyte. Each becomes a short relative path.
fn remap_source_paths(root: &Path) -> Vec<String> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let mut prefixes = vec![root.to_path_buf()];
    if let Some(sources) = cargo_home.map(|home| home.join("registry/src")) {
        // One folder per registry (index.crates.io-<hash>), each holding <crate>-<version>/.
        if let Ok(entries) = std::fs::read_dir(&sources) {
            prefixes.extend(entries.flatten().map(|entry| entry.path()));
        }
    }
    prefixes
        .iter()
        .map(|prefix| format!("--remap-path-prefix={}/=", prefix.display()))
        .collect()
}
