//! Booting Multiboot 2 kernels end to end: netloader fetches the config, the Multiboot 2 test
//! kernel and its modules, and the kernel walks every tag it was given and reports. Each boot
//! checks many facts at once (every tag, every module's hash and command line, the kernel's
//! own checks); together they cover ELF32 and ELF64, a relocated image, 16 modules, floppy
//! and ISO, and every NIC.

use std::path::{Path, PathBuf};

use netloader::forms::{self, Form};
use netloader_tests::kernels2::{Mb2Variant, check_mb2_report, parse_report2};
use netloader_tests::qemu::{Outcome, Qemu, work_dir};
use netloader_tests::scenario::{self, KERNEL_ARGS, Module, modules};

/// A TFTP root with the kernel, the modules and `boot.cfg` (a one-entry Multiboot 2 config).
fn tftp_root(name: &str, variant: Mb2Variant, modules: &[Module], extra: &str) -> PathBuf {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(variant.path(), dir.join("kernel")).unwrap();
    let mut config = format!(
        "set timeout=0\n{extra}menuentry \"mb2 test\" {{\n  multiboot2 /kernel {KERNEL_ARGS} mbtest.expect-modules={}\n",
        modules.len()
    );
    for m in modules {
        std::fs::write(dir.join(&m.name), &m.data).unwrap();
        config += &format!("  module2 /{} {}\n", m.name, m.args);
    }
    config += "}\n";
    std::fs::write(dir.join("boot.cfg"), config).unwrap();
    dir
}

fn drive(form: Form, dir: &Path) -> [String; 2] {
    scenario::drive_args(form, &forms::Options::default(), dir)
}

fn boot(name: &str, form: Form, nic: &str, dir: &Path, bootfile: &str) -> Outcome {
    let mut qemu = Qemu::new(name, "pc", 128);
    qemu.args(drive(form, dir));
    scenario::tftp_network(&mut qemu, nic, dir, bootfile)
        .run(|serial| serial.contains("netloader: stopped."))
}

/// ELF64 from a floppy over e1000 with 16 modules: every tag, EGA text, loaded where linked.
#[test]
fn elf64_floppy_e1000_sixteen_modules() {
    let name = "mb2-elf64-floppy-e1000-16";
    let mods = modules(16);
    let dir = tftp_root(name, Mb2Variant::Elf64, &mods, "");
    let outcome = boot(name, Form::Floppy, "e1000", &dir, "boot.cfg");
    let report = check_mb2_report(&outcome, Mb2Variant::Elf64, &mods);
    outcome.check(report.load == Some((0x200000, 0)), "loaded where linked");
    outcome.check(
        report.elf.is_some_and(|(_, entsize, _)| entsize == 64),
        "ELF64 section headers",
    );
    let fb = report.framebuffer.unwrap_or_default();
    outcome.check(
        (fb.kind, fb.addr, fb.width, fb.height, fb.pitch) == (2, 0xb8000, 80, 25, 160),
        "EGA text 80x25 at 0xB8000 (no framebuffer asked for)",
    );
}

/// ELF32 (section headers carried over, 40 bytes each) from an ISO over rtl8139.
#[test]
fn elf32_iso_rtl8139() {
    let name = "mb2-elf32-iso-rtl8139";
    let mods = modules(3);
    let dir = tftp_root(name, Mb2Variant::Elf32, &mods, "");
    let outcome = boot(name, Form::Iso, "rtl8139", &dir, "boot.cfg");
    let report = check_mb2_report(&outcome, Mb2Variant::Elf32, &mods);
    outcome.check(
        report.elf.is_some_and(|(_, entsize, _)| entsize == 40),
        "ELF32 section headers",
    );
    outcome.check(report.load == Some((0x200000, 0)), "loaded where linked");
}

/// The relocatable tag (from 32 MiB, 2 MiB aligned, lowest first) from an ISO over virtio:
/// the image moves, the entry with it, tag 21 says where; the modules follow the image.
#[test]
fn relocatable_iso_virtio() {
    let name = "mb2-reloc-iso-virtio";
    let mods = modules(2);
    let dir = tftp_root(name, Mb2Variant::Reloc, &mods, "");
    let outcome = boot(name, Form::Iso, "virtio-net-pci", &dir, "boot.cfg");
    let report = check_mb2_report(&outcome, Mb2Variant::Reloc, &mods);
    outcome.check(
        report.load == Some((0x2000000, 0x1e00000)),
        "relocated to 32 MiB, the lowest place its window allows",
    );
    outcome.check(
        outcome.contains("(relocated)"),
        "the loader says it moved the image",
    );
    outcome.check(
        report.modules.iter().all(|m| m.start >= 0x2000000),
        "modules above the relocated image",
    );
}

/// A kernel that requires information netloader does not give (SMBIOS) is refused with one
/// clear line, and never entered.
#[test]
fn a_required_tag_netloader_lacks_is_refused() {
    let name = "mb2-smbios";
    let dir = tftp_root(name, Mb2Variant::Smbios, &[], "");
    let outcome = boot(name, Form::Iso, "e1000", &dir, "boot.cfg");
    outcome.check(
        outcome.contains(
            "E-MB2-REQUIRES: /kernel: the Multiboot 2 header requires boot information of type 13 (SMBIOS), which netloader does not provide",
        ),
        "the refusal names the tag",
    );
    outcome.check(!outcome.contains("MB2 BEGIN"), "the kernel must not start");
}

/// A DHCP boot file with a Multiboot 2 header boots as one, with no config; and a `linux`
/// entry (understood by the parser, not wired yet) is refused clearly.
#[test]
fn boot_file_that_is_a_multiboot2_kernel_boots_directly() {
    let name = "mb2-direct";
    let dir = tftp_root(name, Mb2Variant::Elf64, &[], "");
    let outcome = boot(name, Form::Iso, "e1000", &dir, "kernel");
    outcome.check(
        outcome.contains("boot: kernel is a multiboot2 kernel: booting it directly"),
        "booted as Multiboot 2",
    );
    let report = parse_report2(&outcome.serial);
    outcome.check(
        report.as_ref().is_some_and(|r| {
            r.verdict_pass && r.modules.is_empty() && r.cmdline.as_deref() == Some("kernel")
        }),
        "the kernel ran, its command line the boot file's name",
    );
}

/// The framebuffer tag (1024x768x32) from a floppy over virtio, with QEMU's standard VGA: a
/// VBE linear mode, described by tags 7 and 8; then `set gfxpayload` chooses another mode.
#[test]
fn framebuffer_request_gets_a_vbe_mode() {
    let name = "mb2-fb-floppy-virtio";
    let mods = modules(1);
    let dir = tftp_root(name, Mb2Variant::Framebuffer, &mods, "");
    let outcome = boot(name, Form::Floppy, "virtio-net-pci", &dir, "boot.cfg");
    let report = check_mb2_report(&outcome, Mb2Variant::Framebuffer, &mods);
    let fb = report.framebuffer.unwrap_or_default();
    outcome.check(
        (fb.kind, fb.width, fb.height, fb.bpp, fb.pitch) == (1, 1024, 768, 32, 4096),
        "1024x768x32, RGB, 4096 bytes a line",
    );
    outcome.check(
        fb.addr == 0xfd00_0000,
        "QEMU's std VGA framebuffer at 0xFD000000",
    );
    outcome.check(
        report.has_tag(7) && report.vbe_mode.is_some_and(|m| m & 0x4000 != 0),
        "the VBE tag, a linear mode",
    );

    let name = "mb2-fb-gfxpayload";
    let dir = tftp_root(
        name,
        Mb2Variant::Framebuffer,
        &mods,
        "set gfxpayload=800x600x16\n",
    );
    let outcome = boot(name, Form::Iso, "e1000", &dir, "boot.cfg");
    let report = check_mb2_report(&outcome, Mb2Variant::Framebuffer, &mods);
    let fb = report.framebuffer.unwrap_or_default();
    outcome.check(
        (fb.kind, fb.width, fb.height, fb.bpp, fb.pitch) == (1, 800, 600, 16, 1600),
        "gfxpayload's 800x600x16 wins over the kernel's preference",
    );
}

/// A flat file (no ELF) placed by its address tag and entered at its entry address tag; the
/// ELF sections tag is there, empty.
#[test]
fn address_tag_kernel_iso_e1000() {
    let name = "mb2-aout-iso-e1000";
    let mods = modules(2);
    let dir = tftp_root(name, Mb2Variant::Aout, &mods, "");
    let outcome = boot(name, Form::Iso, "e1000", &dir, "boot.cfg");
    let report = check_mb2_report(&outcome, Mb2Variant::Aout, &mods);
    outcome.check(report.elf == Some((0, 0, 0)), "no section headers");
    outcome.check(
        outcome.contains("Multiboot 2, Multiboot 2 address tag"),
        "loaded by its address tag",
    );
}
