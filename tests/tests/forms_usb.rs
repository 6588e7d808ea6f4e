//! The USB disk image (`netloader build --form usb`) booted by SeaBIOS as an IDE disk and as a
//! USB stick on xHCI and on EHCI/UHCI: each boot fetches the test kernel and two modules over
//! the network and ends in the kernel's pass report, module hashes compared with the host's.

use std::path::PathBuf;

use netloader::forms::{self, Form};
use netloader_tests::kernels::{self, EXIT_PASS, Variant, parse_report, sha256_hex};
use netloader_tests::qemu::{Outcome, Qemu, work_dir};

struct Module {
    name: String,
    data: Vec<u8>,
    args: &'static str,
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn modules() -> Vec<Module> {
    vec![
        Module { name: "mod0".into(), data: random_bytes(3000, 11), args: "first module" },
        Module { name: "mod1".into(), data: random_bytes(40_000, 12), args: "x=1" },
    ]
}

/// A TFTP root with the kernel, the modules, a config naming them (boot.cfg) and the USB image
/// (`netloader.usb`, changed by `patch` first).
fn tftp_root(name: &str, modules: &[Module], patch: fn(&mut [u8])) -> PathBuf {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(kernels::path(Variant::Elf64), dir.join("kernel")).unwrap();
    let mut config = String::from("set timeout=0\nmenuentry \"test kernel\" {\n  multiboot /kernel console=ttyS0\n");
    for m in modules {
        std::fs::write(dir.join(&m.name), &m.data).unwrap();
        config += &format!("  module /{} {}\n", m.name, m.args);
    }
    config += "}\n";
    std::fs::write(dir.join("boot.cfg"), config).unwrap();
    let mut image = forms::build(Form::Usb).unwrap();
    patch(&mut image);
    std::fs::write(dir.join("netloader.usb"), image).unwrap();
    dir
}

/// Boots the USB image attached by `drive_args` (`{image}` stands for its path). SeaBIOS's
/// own log goes beside the serial log (`<name>.bios.log`): it says which drives it found.
fn boot_patched(name: &str, drive_args: &[&str], patch: fn(&mut [u8])) -> (Outcome, Vec<Module>) {
    let mods = modules();
    let dir = tftp_root(name, &mods, patch);
    let bios_log = work_dir().join(format!("{name}.bios.log"));
    let image = dir.join("netloader.usb");
    let drive_args = drive_args.iter().map(|a| a.replace("{image}", &image.display().to_string()));
    let outcome = Qemu::new(name, "pc", 128)
        .args(drive_args)
        .args(["-boot", "menu=off"])
        .args(["-chardev".into(), format!("file,id=bioslog,path={}", bios_log.display())])
        .args(["-device", "isa-debugcon,iobase=0x402,chardev=bioslog"])
        .args(["-netdev".into(), format!("user,id=n0,restrict=on,tftp={},bootfile=boot.cfg", dir.display())])
        .args(["-device", "e1000,netdev=n0"])
        // The test kernel ends QEMU itself (isa-debug-exit), with its verdict as the status.
        .run(|serial| serial.contains("netloader: stopped."));
    (outcome, mods)
}

fn boot(name: &str, drive_args: &[&str]) -> (Outcome, Vec<Module>) {
    boot_patched(name, drive_args, |_| {})
}

/// Makes stage 1 believe the BIOS lacks the INT 13h extensions: its `mov ah, 0x41` (followed by
/// `mov bx, 0x55aa`) becomes `mov ah, 0x01` (get status), which never answers BX = 0xAA55, so
/// stage 1 takes its CHS path. SeaBIOS itself cannot be told to refuse AH=42h.
fn without_int13_extensions(image: &mut [u8]) {
    let probe = [0xb4, 0x41, 0xbb, 0xaa, 0x55];
    let at = image[..512].windows(probe.len()).position(|w| w == probe).expect("stage 1's AH=41h probe");
    image[at + 1] = 0x01;
}

fn check_pass(outcome: &Outcome, modules: &[Module]) {
    outcome.check(outcome.contains("boot form: USB / hard disk"), "stage 1 hands over the disk form");
    let report = parse_report(&outcome.serial);
    outcome.check(report.is_some(), "the test kernel printed no report");
    let report = report.unwrap();
    outcome.check(report.magic_ok, "Multiboot magic");
    outcome.check(report.cmdline.as_deref() == Some("console=ttyS0"), "kernel command line");
    outcome.check(report.modules.len() == modules.len(), "module count");
    for (got, want) in report.modules.iter().zip(modules) {
        outcome.check(got.size == want.data.len() as u64, &format!("size of {}", want.name));
        outcome.check(got.sha256 == sha256_hex(&want.data), &format!("sha256 of {}", want.name));
        outcome.check(got.cmdline == want.args, &format!("command line of {}", want.name));
    }
    let failed: Vec<String> = report.failed_checks().iter().map(|c| format!("{} {}", c.name, c.detail)).collect();
    outcome.check(failed.is_empty(), &format!("kernel checks failed: {failed:?}"));
    outcome.check(report.verdict_pass && outcome.exit_code == Some(EXIT_PASS), "verdict pass and exit 33");
    println!("{}: pass in {:.1} s", outcome.name, outcome.elapsed.as_secs_f64());
}

#[test]
fn usb_image_as_ide_disk() {
    let (outcome, mods) = boot("usb-ide", &["-drive", "file={image},format=raw,if=ide"]);
    check_pass(&outcome, &mods);
}

#[test]
fn usb_image_as_stick_on_xhci() {
    let (outcome, mods) = boot(
        "usb-xhci",
        &[
            "-device",
            "qemu-xhci,id=xhci",
            "-drive",
            "if=none,id=stick,file={image},format=raw",
            "-device",
            "usb-storage,bus=xhci.0,drive=stick,bootindex=0",
        ],
    );
    check_pass(&outcome, &mods);
}

#[test]
fn usb_image_as_stick_on_ehci() {
    let (outcome, mods) = boot(
        "usb-ehci",
        &[
            "-device",
            "usb-ehci,id=ehci",
            "-drive",
            "if=none,id=stick,file={image},format=raw",
            "-device",
            "usb-storage,bus=ehci.0,drive=stick,bootindex=0",
        ],
    );
    check_pass(&outcome, &mods);
}

#[test]
fn usb_image_as_stick_on_uhci() {
    // `-usb` gives the PC machine its PIIX3 UHCI controller (USB 1.1).
    let (outcome, mods) = boot(
        "usb-uhci",
        &["-usb", "-drive", "if=none,id=stick,file={image},format=raw", "-device", "usb-storage,drive=stick,bootindex=0"],
    );
    check_pass(&outcome, &mods);
}

/// The CHS fallback on an IDE disk: SeaBIOS reports 16 heads x 63 sectors through AH=08h, not
/// the 64 x 32 of the partition table, so this also shows stage 1 takes the BIOS's geometry.
/// (Not on a USB stick: SeaBIOS gives small USB disks 64 sectors per track, which the CHS
/// interface cannot express, so no CHS loader can read them; SeaBIOS always has AH=42h.)
#[test]
fn usb_image_loads_by_chs_when_the_bios_lacks_int13_extensions() {
    let (outcome, mods) =
        boot_patched("usb-ide-chs", &["-drive", "file={image},format=raw,if=ide"], without_int13_extensions);
    check_pass(&outcome, &mods);
}
