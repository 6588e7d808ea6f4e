//! Debian's own kernels through netloader, fetched as packages (`apt-get download`, unpacked
//! into target/tools once, never installed; tests/src/linux.rs):
//!
//! - Linux (`linux-image-amd64`'s package of the day, 67 MiB to download, the vmlinuz alone
//!   unpacked) with an initramfs of Debian's static busybox whose /init prints a marker and the
//!   command line it got, then powers the machine off: what a distribution kernel needs of
//!   the boot protocol, in ~5 s of TCG. On a 128 MiB machine the kernel (16 MiB + 64 MiB of
//!   init_size) lands on the download area its file came to.
//! - Xen 4.17 (`xen-4.17-amd64.gz`, gzip, Multiboot 1 and 2 headers): inflated on arrival,
//!   relocated (Multiboot 2), it names the boot loader and prints its command line on COM1
//!   before it stops for want of a dom0 kernel: an oracle for the command-line convention (Xen
//!   drops the first word unless the loader calls itself GRUB 2; netloader passes the path
//!   first) and for what Xen finds in conventional memory.

use std::path::{Path, PathBuf};

use netloader::forms::{self, Form};
use netloader_tests::linux::{
    INIT_MARKER, busybox_initrd, busybox_static, debian_kernel, xen_hypervisor,
};
use netloader_tests::qemu::{Outcome, Qemu, work_dir};
use netloader_tests::scenario;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Boots the ISO; QEMU ends by itself, on netloader's stop line, or on `last` (the kernel's own
/// last line, where it waits).
fn boot(name: &str, nic: &str, memory_mib: u32, dir: &Path, last: Option<&'static str>) -> Outcome {
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let mut qemu = Qemu::new(name, "pc", memory_mib);
    qemu.args(["-cdrom".into(), iso.display().to_string()]);
    scenario::tftp_network(&mut qemu, nic, dir, "boot.cfg")
        .timeout(std::time::Duration::from_secs(300))
        .run(move |serial| {
            serial.contains("netloader: stopped.") || last.is_some_and(|l| serial.contains(l))
        })
}

#[test]
fn debian_linux_with_a_busybox_initramfs() {
    let kernel = debian_kernel().expect("Debian's kernel package (apt-get download)");
    let busybox = busybox_static().expect("Debian's busybox-static (apt-get download)");
    let name = "real-debian-linux";
    let dir = fresh_dir(name);
    std::fs::copy(&kernel.path, dir.join("vmlinuz")).unwrap();
    let initrd = busybox_initrd(&std::fs::read(&busybox.path).unwrap());
    std::fs::write(dir.join("initrd.cpio"), &initrd).unwrap();
    let args = "console=ttyS0 panic=-1 quiet netloader.test=1";
    std::fs::write(
        dir.join("boot.cfg"),
        format!("set timeout=0\nmenuentry \"debian\" {{\n  linux /vmlinuz {args}\n  initrd /initrd.cpio\n}}\n"),
    )
    .unwrap();
    // /init powers the machine off: QEMU exits by itself after the last line.
    let outcome = boot(name, "e1000", 128, &dir, None);
    outcome.check(
        outcome.contains(INIT_MARKER),
        "/init ran from the initramfs",
    );
    let expected = format!("LINUX-CMDLINE BOOT_IMAGE=/vmlinuz {args}");
    outcome.check(
        outcome.serial.lines().any(|l| l.trim_end() == expected),
        &format!("/proc/cmdline is `{expected}`"),
    );
    outcome.check(outcome.exit_code == Some(0), "powered off by /init");
}

#[test]
fn xen_names_netloader_and_gets_its_command_line_by_multiboot_1_and_2() {
    let xen = xen_hypervisor().expect("Debian's Xen package (apt-get download)");
    let args = "console=com1 com1=115200,8n1 noreboot";
    for command in ["multiboot2", "multiboot"] {
        let name = format!("real-xen-{command}");
        let dir = fresh_dir(&name);
        std::fs::copy(&xen.path, dir.join("xen.gz")).unwrap();
        std::fs::write(
            dir.join("boot.cfg"),
            format!("set timeout=0\nmenuentry \"xen\" {{\n  {command} /xen.gz {args}\n}}\n"),
        )
        .unwrap();
        // Xen's last line, once it finds no dom0 kernel ('noreboot': it waits there).
        let outcome = boot(&name, "rtl8139", 256, &dir, Some("Manual reset required"));
        outcome.check(
            outcome.contains("(XEN) Bootloader: netloader "),
            "Xen names netloader",
        );
        outcome.check(
            outcome
                .serial
                .lines()
                .any(|l| l.trim_end() == format!("(XEN) Command line: {args}")),
            "Xen's command line, whole (its path dropped as Xen drops the first word)",
        );
        outcome.check(
            outcome.contains("dom0 kernel not specified"),
            "Xen ran to its check for a dom0 kernel",
        );
    }
}
