//! Booting Multiboot kernels end to end: netloader fetches the config, the test kernel and its
//! modules over the network, and the test kernel reports what it received. Every module hash
//! and command line is compared with the host's; the kernel's own checks must all pass.

use std::path::Path;

use netloader::forms::{self, Form};
use netloader_tests::kernels::{self, Variant, parse_report};
use netloader_tests::qemu::{Outcome, Qemu};
use netloader_tests::scenario::{check_report, modules, random_bytes, tftp_root};

fn image(form: Form, dir: &Path) -> (String, String) {
    image_with(form, dir, None)
}

fn image_with(form: Form, dir: &Path, config: Option<Vec<u8>>) -> (String, String) {
    let path = dir.join(format!("netloader.{}", form.name()));
    let options = forms::Options {
        config,
        ..Default::default()
    };
    std::fs::write(&path, forms::build_with(form, &options).unwrap()).unwrap();
    match form {
        Form::Floppy => (
            "-drive".into(),
            format!("file={},format=raw,if=floppy", path.display()),
        ),
        Form::Iso => ("-cdrom".into(), path.display().to_string()),
        Form::Usb => (
            "-drive".into(),
            format!("file={},format=raw", path.display()),
        ),
        other => panic!("--form {} is not a drive image", other.name()),
    }
}

fn boot(name: &str, form: Form, nic: &str, dir: &Path, bootfile: Option<&str>) -> Outcome {
    boot_image(name, image(form, dir), nic, dir, bootfile)
}

fn boot_image(
    name: &str,
    (drive_flag, drive): (String, String),
    nic: &str,
    dir: &Path,
    bootfile: Option<&str>,
) -> Outcome {
    let bootfile = bootfile
        .map(|f| format!(",bootfile={f}"))
        .unwrap_or_default();
    Qemu::new(name, "pc", 128)
        .args([drive_flag, drive])
        .args([
            "-netdev".into(),
            format!("user,id=n0,restrict=on,tftp={}{bootfile}", dir.display()),
        ])
        .args(["-device".into(), format!("{nic},netdev=n0")])
        // The test kernel ends QEMU itself (isa-debug-exit), with its verdict as the status.
        .run(|serial| serial.contains("netloader: stopped."))
}

fn boot_variant(variant: Variant, form: Form, nic: &str, module_count: usize) {
    let name = format!("mb-{}-{}-{nic}-{module_count}", variant.name(), form.name());
    let mods = modules(module_count);
    let dir = tftp_root(&name, variant, &mods, "boot.cfg");
    let outcome = boot(&name, form, nic, &dir, Some("boot.cfg"));
    check_report(&outcome, variant, &mods);
}

/// Every form x every NIC x both ways of finding the config: embedded in the image, and
/// fetched by the per-host lookup (no DHCP boot file, `netloader.cfg/default` on the server).
fn boot_matrix(variant: Variant) {
    let mods = modules(2);
    for form in [Form::Floppy, Form::Iso] {
        for nic in ["e1000", "rtl8139", "virtio-net-pci"] {
            let name = format!("mb-{}-{}-{nic}", variant.name(), form.name());
            let dir = tftp_root(&name, variant, &mods, "netloader.cfg/default");
            let config = std::fs::read(dir.join("netloader.cfg/default")).unwrap();
            std::fs::remove_file(dir.join("netloader.cfg/default")).unwrap();
            let embedded = boot_image(
                &format!("{name}-embedded"),
                image_with(form, &dir, Some(config.clone())),
                nic,
                &dir,
                None,
            );
            embedded.check(
                embedded.contains("config: the one embedded in this image"),
                "the embedded config is used",
            );
            check_report(&embedded, variant, &mods);
            std::fs::write(dir.join("netloader.cfg/default"), config).unwrap();
            let lookup = boot(&format!("{name}-lookup"), form, nic, &dir, None);
            lookup.check(
                lookup.contains("config: found netloader.cfg/default"),
                "the per-host lookup finds the config",
            );
            check_report(&lookup, variant, &mods);
        }
    }
}

#[test]
fn elf32_every_form_nic_and_config_source() {
    boot_matrix(Variant::Elf32);
}

#[test]
fn elf64_every_form_nic_and_config_source() {
    boot_matrix(Variant::Elf64);
}

#[test]
fn aout_kludge_every_form_nic_and_config_source() {
    boot_matrix(Variant::Aout);
}

/// ELF with flag 16 set: the address fields win (documented in proto/src/kernel.rs).
#[test]
fn elf_with_address_fields_every_form_nic_and_config_source() {
    boot_matrix(Variant::Elf64Kludge);
}

/// Linked at 0x8000-0x90000, over the runtime: moved into place by the hand-off trampoline.
#[test]
fn kernel_over_the_runtime_every_form_nic_and_config_source() {
    boot_matrix(Variant::Low);
}

#[test]
fn config_as_the_dhcp_boot_file() {
    boot_variant(Variant::Elf32, Form::Iso, "e1000", 3);
}

#[test]
fn sixteen_modules() {
    boot_variant(Variant::Elf32, Form::Iso, "rtl8139", 16);
}

#[test]
fn per_host_config_lookup_finds_default() {
    let name = "mb-lookup";
    let mods = modules(2);
    let dir = tftp_root(name, Variant::Elf32, &mods, "netloader.cfg/default");
    let outcome = boot(name, Form::Iso, "virtio-net-pci", &dir, None);
    outcome.check(
        outcome.contains("config: no netloader.cfg/01-52-54-00-12-34-56"),
        "tried the MAC name first",
    );
    outcome.check(
        outcome.contains("config: no netloader.cfg/0A00020F"),
        "tried the IP in hex",
    );
    outcome.check(
        outcome.contains("config: found netloader.cfg/default"),
        "found default",
    );
    check_report(&outcome, Variant::Elf32, &mods);
}

#[test]
fn boot_file_that_is_a_kernel_boots_directly() {
    let name = "mb-direct";
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    let outcome = boot(name, Form::Iso, "e1000", &dir, Some("kernel"));
    let report = parse_report(&outcome.serial);
    outcome.check(
        report
            .as_ref()
            .is_some_and(|r| r.verdict_pass && r.modules.is_empty()),
        "kernel booted with no modules",
    );
}

/// A broken setup ends in one clear line; the kernel never runs.
fn expect_error(name: &str, dir: &Path, bootfile: &str, expected: &str) {
    let outcome = boot(name, Form::Iso, "e1000", dir, Some(bootfile));
    outcome.check(
        outcome.contains(expected),
        &format!("expected `{expected}`"),
    );
    outcome.check(!outcome.contains("MB BEGIN"), "the kernel must not start");
}

#[test]
fn config_syntax_error_names_the_line() {
    let dir = tftp_root("mb-err-syntax", Variant::Elf32, &[], "boot.cfg");
    std::fs::write(
        dir.join("bad.cfg"),
        "set timeout=0\nmenuentry \"x\" {\n  multiboot /kernel\n  linux16 /vmlinuz\n}\n",
    )
    .unwrap();
    expect_error(
        "mb-err-syntax",
        &dir,
        "bad.cfg",
        "E-CONFIG-SYNTAX: bad.cfg: line 4, column 3: unknown command \"linux16\"",
    );
}

#[test]
fn missing_kernel_names_file_and_server() {
    let dir = tftp_root("mb-err-missing", Variant::Elf32, &[], "boot.cfg");
    std::fs::write(
        dir.join("bad.cfg"),
        "menuentry \"x\" {\n  multiboot /nokernel\n}\n",
    )
    .unwrap();
    expect_error(
        "mb-err-missing",
        &dir,
        "bad.cfg",
        "E-TFTP-NOTFOUND: /nokernel from 10.0.2.2",
    );
}

#[test]
fn kernel_without_multiboot_header() {
    let dir = tftp_root("mb-err-noheader", Variant::Elf32, &[], "boot.cfg");
    std::fs::write(dir.join("plain"), random_bytes(20_000, 3)).unwrap();
    std::fs::write(
        dir.join("bad.cfg"),
        "menuentry \"x\" {\n  multiboot /plain\n}\n",
    )
    .unwrap();
    expect_error(
        "mb-err-noheader",
        &dir,
        "bad.cfg",
        "E-KERNEL-FORMAT: /plain: no Multiboot header in the first 8192 bytes",
    );
}

#[test]
fn kernel_with_bad_header_checksum() {
    let dir = tftp_root("mb-err-checksum", Variant::Elf32, &[], "boot.cfg");
    let mut kernel = std::fs::read(kernels::path(Variant::Elf32)).unwrap();
    let magic = kernel
        .windows(4)
        .position(|w| w == 0x1badb002u32.to_le_bytes())
        .unwrap();
    kernel[magic + 8] ^= 0x55; // the checksum field
    std::fs::write(dir.join("broken"), kernel).unwrap();
    std::fs::write(
        dir.join("bad.cfg"),
        "menuentry \"x\" {\n  multiboot /broken\n}\n",
    )
    .unwrap();
    expect_error(
        "mb-err-checksum",
        &dir,
        "bad.cfg",
        "E-KERNEL-FORMAT: /broken:",
    );
}

#[test]
fn sha256_mismatch_refuses_to_boot() {
    let mods = modules(1);
    let dir = tftp_root("mb-err-hash", Variant::Elf32, &mods, "boot.cfg");
    let wrong = "0".repeat(64);
    std::fs::write(
        dir.join("bad.cfg"),
        format!("menuentry \"x\" {{\n  multiboot /kernel\n  module /mod0 --sha256={wrong}\n}}\n"),
    )
    .unwrap();
    expect_error(
        "mb-err-hash",
        &dir,
        "bad.cfg",
        "E-HASH-MISMATCH: /mod0 from 10.0.2.2 has sha256",
    );
}

/// Several entries: the menu is shown on serial, counts down, and boots `set default`.
#[test]
fn menu_boots_the_default_entry_after_its_timeout() {
    let name = "mb-menu";
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    let config = "set timeout=1\nset default=\"second\"\nmenuentry \"first\" {\n  multiboot /kernel entry=first\n}\nmenuentry \"second\" {\n  multiboot /kernel entry=second\n}\n";
    std::fs::write(dir.join("menu.cfg"), config).unwrap();
    let outcome = boot(name, Form::Iso, "e1000", &dir, Some("menu.cfg"));
    outcome.check(
        outcome.contains("  0 first") && outcome.contains("  1 second  (default)"),
        "the menu lists both entries",
    );
    outcome.check(
        outcome.contains("menu: booting entry 1 in 1 s"),
        "the countdown is shown",
    );
    let report = parse_report(&outcome.serial);
    outcome.check(
        report.is_some_and(|r| {
            r.cmdline.as_deref() == Some("/kernel entry=second") && r.verdict_pass
        }),
        "entry 1 booted",
    );
}

/// Set header flag bits in a copy of the test kernel, keeping the checksum valid. (The kernel
/// would then fail its own image check: use it only where it must not start.)
fn kernel_with_flags(dir: &Path, name: &str, extra_flags: u32) {
    let mut kernel = std::fs::read(kernels::path(Variant::Elf32)).unwrap();
    let magic = kernel
        .windows(4)
        .position(|w| w == 0x1badb002u32.to_le_bytes())
        .unwrap();
    let flags = u32::from_le_bytes(kernel[magic + 4..magic + 8].try_into().unwrap()) | extra_flags;
    let checksum = 0u32.wrapping_sub(0x1badb002).wrapping_sub(flags);
    kernel[magic + 4..magic + 8].copy_from_slice(&flags.to_le_bytes());
    kernel[magic + 8..magic + 12].copy_from_slice(&checksum.to_le_bytes());
    std::fs::write(dir.join(name), kernel).unwrap();
}

#[test]
fn unknown_required_flag_is_refused() {
    let dir = tftp_root("mb-err-flags", Variant::Elf32, &[], "boot.cfg");
    kernel_with_flags(&dir, "flagged", 1 << 5);
    std::fs::write(
        dir.join("bad.cfg"),
        "menuentry \"x\" {\n  multiboot /flagged\n}\n",
    )
    .unwrap();
    expect_error(
        "mb-err-flags",
        &dir,
        "bad.cfg",
        "E-KERNEL-FLAGS: /flagged: Multiboot header requires features this loader lacks (flags 0x0020)",
    );
}

/// Header flag 2 with mode type 0 (1024x768x32), QEMU's standard VGA: a VBE linear mode,
/// told in flags 11 (VBE) and 12 (framebuffer).
#[test]
fn video_flag_gets_a_vbe_mode() {
    let name = "mb-video";
    let mods = modules(1);
    let dir = tftp_root(name, Variant::Video, &mods, "boot.cfg");
    let outcome = boot(name, Form::Iso, "e1000", &dir, Some("boot.cfg"));
    check_report(&outcome, Variant::Video, &mods);
    let report = parse_report(&outcome.serial).unwrap();
    outcome.check(
        report
            .flags
            .is_some_and(|f| f & (1 << 11 | 1 << 12) == 1 << 11 | 1 << 12),
        "flags 11 and 12",
    );
    outcome.check(
        report.framebuffer == Some((0xfd00_0000, 4096, 1024, 768, 32, 1)),
        "1024x768x32 RGB at QEMU's framebuffer",
    );
    outcome.check(
        report.vbe_mode.is_some_and(|m| m & 0x4000 != 0),
        "a linear VBE mode",
    );
}
