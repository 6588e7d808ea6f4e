//! Compressed files end to end: gzip and xz kernels and modules, inflated by netloader as they
//! arrive (made here by gzip(1) and xz(1), what users serve), must reach the kernel byte for
//! byte; `--nounzip` keeps a file as it is; a damaged file stops the boot with its code. The
//! test kernels hash every module on their side; a kernel that runs at all was found in the
//! inflated bytes (its header) and checks its own image.

use std::path::{Path, PathBuf};

use netloader::forms::{self, Form};
use netloader_tests::compress::{gzip, xz};
use netloader_tests::kernels::{EXIT_PASS, Variant, parse_report, sha256_hex};
use netloader_tests::kernels2::{Mb2Variant, parse_report2};
use netloader_tests::qemu::{Outcome, Qemu, work_dir};
use netloader_tests::scenario::{self, random_bytes};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
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

/// Module data that compresses (text-like runs) with random stretches between: gzip and xz
/// both have work to do, and a byte out of place changes the hash.
fn module_data(len: usize, seed: u64) -> Vec<u8> {
    let noise = random_bytes(len, seed);
    noise
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (i / 4096) % 3 == 0 {
                b
            } else {
                b"netloader "[i % 10]
            }
        })
        .collect()
}

/// A gzip kernel; gzip, xz (a dictionary of 8 MiB, `xz -6`), `--nounzip` gzip and plain
/// modules: the kernel gets each module inflated, but the `--nounzip` one as it is on the
/// server, and netloader reports every file as fetched.
#[test]
fn multiboot_gzip_kernel_with_gzip_xz_nounzip_and_plain_modules() {
    let name = "unzip-mb1-iso-e1000";
    let dir = fresh_dir(name);
    let kernel = std::fs::read(Variant::Elf32.path()).unwrap();
    let kernel_gz = gzip(&kernel, 9);
    let (m0, m1, m2, m3) = (
        module_data(300_000, 1),
        module_data(200_000, 2),
        module_data(50_000, 3),
        module_data(20_000, 4),
    );
    let (m0_gz, m1_xz, m2_gz) = (gzip(&m0, 6), xz(&m1, &["-6"]), gzip(&m2, 1));
    for (file, data) in [
        ("kernel.gz", &kernel_gz),
        ("m0.gz", &m0_gz),
        ("m1.xz", &m1_xz),
        ("m2.gz", &m2_gz),
        ("m3", &m3),
    ] {
        std::fs::write(dir.join(file), data).unwrap();
    }
    std::fs::write(
        dir.join("boot.cfg"),
        "set timeout=0\nmenuentry \"compressed\" {\n  multiboot /kernel.gz console=ttyS0 mbtest.expect-modules=4\n  module /m0.gz gz\n  module /m1.xz xz\n  module --nounzip /m2.gz raw\n  module /m3 plain\n}\n",
    )
    .unwrap();
    let outcome = boot(name, Form::Iso, "e1000", &dir, "boot.cfg");
    outcome.check(
        outcome.inflated("/kernel.gz", &kernel_gz, "gzip", &kernel)
            && outcome.inflated("/m0.gz", &m0_gz, "gzip", &m0)
            && outcome.inflated("/m1.xz", &m1_xz, "xz", &m1)
            && outcome.downloaded("/m2.gz", &m2_gz)
            && outcome.downloaded("/m3", &m3),
        "each file reported as fetched (size, CRC-32 on the server) and, compressed, inflated",
    );
    let report = parse_report(&outcome.serial);
    outcome.check(report.is_some(), "the test kernel printed no report");
    let report = report.unwrap();
    outcome.check(
        report.variant == "elf32",
        "the ELF32 kernel, found inflated",
    );
    outcome.check(
        report.cmdline.as_deref() == Some("/kernel.gz console=ttyS0 mbtest.expect-modules=4"),
        "the kernel's command line",
    );
    let expected: [(&[u8], &str); 4] = [
        (&m0, "/m0.gz gz"),
        (&m1, "/m1.xz xz"),
        (&m2_gz, "/m2.gz raw"),
        (&m3, "/m3 plain"),
    ];
    outcome.check(report.modules.len() == 4, "four modules");
    for (i, (got, (data, cmdline))) in report.modules.iter().zip(expected).enumerate() {
        outcome.check(
            got.size == data.len() as u64 && got.sha256 == sha256_hex(data),
            &format!("module {i}: the bytes the kernel must get"),
        );
        outcome.check(
            got.cmdline == cmdline,
            &format!("module {i}'s command line"),
        );
    }
    outcome.check_no_failed_checks(&report.failed_checks());
    outcome.check(
        report.verdict_pass && outcome.exit_code == Some(EXIT_PASS),
        "verdict pass",
    );
}

/// An xz Multiboot 2 kernel (relocatable) as the DHCP boot file itself: inflated on arrival,
/// told by the header in the inflated bytes, booted directly.
#[test]
fn multiboot2_xz_kernel_as_the_boot_file_from_floppy_over_virtio() {
    let name = "unzip-mb2-floppy-virtio";
    let dir = fresh_dir(name);
    let kernel = std::fs::read(Mb2Variant::Reloc.path()).unwrap();
    let kernel_xz = xz(&kernel, &["-6"]);
    std::fs::write(dir.join("kernel.xz"), &kernel_xz).unwrap();
    let outcome = boot(name, Form::Floppy, "virtio-net-pci", &dir, "kernel.xz");
    outcome.check(
        outcome.inflated("kernel.xz", &kernel_xz, "xz", &kernel),
        "the boot file reported as fetched and inflated",
    );
    outcome.check(
        outcome.contains("boot: kernel.xz is a multiboot2 kernel: booting it directly"),
        "booted as Multiboot 2",
    );
    let report = parse_report2(&outcome.serial);
    outcome.check(report.is_some(), "the Multiboot 2 kernel printed no report");
    let report = report.unwrap();
    outcome.check_no_failed_checks(&report.failed_checks());
    outcome.check(
        report.variant == Mb2Variant::Reloc.name()
            && report.verdict_pass
            && report.cmdline.as_deref() == Some("kernel.xz")
            && outcome.exit_code == Some(EXIT_PASS),
        "the relocatable kernel ran, its command line the boot file's name",
    );
}

/// A gzip module whose trailer CRC-32 does not match its data: the boot stops with
/// E-GZIP-CRC naming the file, before the kernel starts.
#[test]
fn a_gzip_module_with_a_wrong_crc_stops_the_boot() {
    let name = "unzip-bad-crc";
    let dir = fresh_dir(name);
    std::fs::copy(Variant::Elf32.path(), dir.join("kernel")).unwrap();
    let mut bad = gzip(&module_data(40_000, 5), 6);
    let crc_at = bad.len() - 8;
    bad[crc_at] ^= 0x01;
    std::fs::write(dir.join("bad.gz"), &bad).unwrap();
    std::fs::write(
        dir.join("boot.cfg"),
        "set timeout=0\nmenuentry \"bad\" {\n  multiboot /kernel\n  module /bad.gz\n}\n",
    )
    .unwrap();
    let outcome = boot(name, Form::Iso, "rtl8139", &dir, "boot.cfg");
    let expected = "E-GZIP-CRC: /bad.gz: gzip data decompressed but its check value is 0x";
    outcome.check(
        outcome.contains(expected),
        &format!("expected `{expected}`"),
    );
    outcome.check(
        outcome.contains(
            "check the file on the server (`gzip -t` / `xz -t` it), or serve it uncompressed",
        ),
        "what to check",
    );
    outcome.check(outcome.contains("netloader: stopped."), "the loader stops");
    outcome.check(!outcome.contains("MB BEGIN"), "the kernel must not start");
}
