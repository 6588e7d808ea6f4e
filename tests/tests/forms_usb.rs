//! The USB disk image (`netloader build --form usb`) booted by SeaBIOS as an IDE disk and as a
//! USB stick on xHCI and on EHCI/UHCI: each boot fetches the test kernel and two modules over
//! the network and ends in the kernel's pass report, module hashes compared with the host's.

use std::path::PathBuf;

use netloader::forms::{self, Form};
use netloader_tests::kernels::Variant;
use netloader_tests::qemu::{Outcome, Qemu, work_dir};
use netloader_tests::scenario::{self, Module, check_report, modules};

/// A TFTP root with the kernel, the modules, a config naming them (boot.cfg) and the USB image
/// (`netloader.usb`, changed by `patch` first).
fn tftp_root(name: &str, modules: &[Module], patch: fn(&mut [u8])) -> PathBuf {
    let dir = scenario::tftp_root(name, Variant::Elf64, modules, "boot.cfg");
    let mut image = forms::build(Form::Usb).unwrap();
    patch(&mut image);
    std::fs::write(dir.join("netloader.usb"), image).unwrap();
    dir
}

/// Boots the USB image attached by `drive_args` (`{image}` stands for its path). SeaBIOS's
/// own log goes beside the serial log (`<name>.bios.log`): it says which drives it found.
fn boot_patched(name: &str, drive_args: &[&str], patch: fn(&mut [u8])) -> (Outcome, Vec<Module>) {
    let mods = modules(2);
    let dir = tftp_root(name, &mods, patch);
    let bios_log = work_dir().join(format!("{name}.bios.log"));
    let image = dir.join("netloader.usb");
    let drive_args = drive_args
        .iter()
        .map(|a| a.replace("{image}", &image.display().to_string()));
    let outcome = Qemu::new(name, "pc", 128)
        .args(drive_args)
        .args(["-boot", "menu=off"])
        .args([
            "-chardev".into(),
            format!("file,id=bioslog,path={}", bios_log.display()),
        ])
        .args(["-device", "isa-debugcon,iobase=0x402,chardev=bioslog"])
        .args([
            "-netdev".into(),
            format!(
                "user,id=n0,restrict=on,tftp={},bootfile=boot.cfg",
                dir.display()
            ),
        ])
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
    let at = image[..512]
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("stage 1's AH=41h probe");
    image[at + 1] = 0x01;
}

fn check_pass(outcome: &Outcome, modules: &[Module]) {
    outcome.check(
        outcome.contains("boot form: USB / hard disk"),
        "stage 1 hands over the disk form",
    );
    check_report(outcome, Variant::Elf64, modules);
    println!(
        "{}: pass in {:.1} s",
        outcome.name,
        outcome.elapsed.as_secs_f64()
    );
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
        &[
            "-usb",
            "-drive",
            "if=none,id=stick,file={image},format=raw",
            "-device",
            "usb-storage,drive=stick,bootindex=0",
        ],
    );
    check_pass(&outcome, &mods);
}

/// The CHS fallback on an IDE disk: SeaBIOS reports 16 heads x 63 sectors through AH=08h, not
/// the 64 x 32 of the partition table, so this also shows stage 1 takes the BIOS's geometry.
/// (Not on a USB stick: SeaBIOS gives small USB disks 64 sectors per track, which the CHS
/// interface cannot express, so no CHS loader can read them; SeaBIOS always has AH=42h.)
#[test]
fn usb_image_loads_by_chs_when_the_bios_lacks_int13_extensions() {
    let (outcome, mods) = boot_patched(
        "usb-ide-chs",
        &["-drive", "file={image},format=raw,if=ide"],
        without_int13_extensions,
    );
    check_pass(&outcome, &mods);
}
