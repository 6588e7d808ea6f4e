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
            let elf = build_runtime(&root, features, Some(name), Target::Bios);
            let file_elf = object::File::parse(&*elf).expect("parse the runtime ELF");
            std::fs::write(out_dir.join(file), flat_image(&file_elf)).unwrap();
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

    let elf = build_runtime(&root, None, None, Target::Bios);
    let file = object::File::parse(&*elf).expect("parse the runtime ELF");
    let image_start = symbol(&file, "__image_start");
    let runtime_end = symbol(&file, "__runtime_end");
    std::fs::write(out_dir.join("runtime.bin"), flat_image(&file)).unwrap();

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
             /// One past the runtime's last byte in memory, .bss included.\npub const END_ADDRESS: u64 = {runtime_end:#x};\n"
        ),
    )
    .unwrap();
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

/// Which runtime: the BIOS one (an ELF for the host target, linked at 0x8000 with stage 1), or
/// netloader.efi.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Bios,
    Uefi,
}

/// The UEFI target (scripts/install-deps adds it with rustup).
const UEFI_TARGET: &str = "x86_64-unknown-uefi";

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
    if target == Target::Uefi {
        command.args(["--target", UEFI_TARGET]);
    }
    if let Some(features) = features {
        command.arg("--no-default-features");
        if !features.is_empty() {
            command.args(["--features", features]);
        }
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
    command.env(
        "CARGO_ENCODED_RUSTFLAGS",
        remap_source_paths(root).join("\x1f"),
    );
    let status = command.status().expect("run cargo for the runtime");
    assert!(
        status.success(),
        "building the runtime failed (see the errors above{})",
        if target == Target::Uefi {
            "; netloader.efi needs `rustup target add x86_64-unknown-uefi`, which scripts/install-deps does"
        } else {
            ""
        }
    );
    let built = match target {
        Target::Bios => target_dir.join("release/netloader-runtime"),
        Target::Uefi => target_dir.join(format!("{UEFI_TARGET}/release/netloader-runtime.efi")),
    };
    std::fs::read(&built).unwrap_or_else(|e| panic!("read {}: {e}", built.display()))
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
