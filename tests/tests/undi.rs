//! The UNDI path: netloader.pxe chained from a card's stock iPXE PXE ROM (Debian's ipxe-qemu)
//! keeps the ROM's stack and drives the card through it (runtime/src/pxe_stack.rs,
//! drivers/src/undi.rs), the real-mode thunk carrying every call.
//!
//! - vmxnet3: no native driver, so UNDI is the only way; a 32 MiB module must arrive byte
//!   for byte (the test kernel's SHA-256), then the stack is unloaded before the hand-off.
//! - e1000 built with `--undi always`: UNDI although a native driver exists (the benchmark
//!   compares the two; here it checks that the choice is the build's).
//! - vmxnet3 built with `--undi never`: the stack is unloaded at once, and the card without a
//!   driver is a clear error, not a hang.
//!
//! The default build on a card with a native driver (the runtime unloads the ROM's stack, then
//! reads the memory map again) is what tests/tests/forms_pxe.rs boots.

use std::path::{Path, PathBuf};

use netloader::forms::{self, Form};
use netloader::pxe::UndiPolicy;
use netloader_tests::kernels::{Variant, parse_report};
use netloader_tests::qemu::Outcome;
use netloader_tests::scenario::{self, Module, check_report, modules, modules_sized};

/// The vmxnet3 card with its iPXE PXE ROM: netloader has no driver for it.
const VMXNET3: &str = "vmxnet3,romfile=/usr/lib/ipxe/qemu/pxe-vmxnet3.rom";
const E1000: &str = "e1000,romfile=/usr/lib/ipxe/qemu/pxe-e1000.rom";

fn tftp_root(name: &str, variant: Variant, mods: &[Module], undi: UndiPolicy) -> PathBuf {
    let dir = scenario::tftp_root(name, variant, mods, "netloader.cfg/default");
    let options = forms::Options {
        undi,
        ..Default::default()
    };
    std::fs::write(
        dir.join("netloader.pxe"),
        forms::build_with(Form::Pxe, &options).unwrap(),
    )
    .unwrap();
    dir
}

fn boot(name: &str, device: &str, dir: &Path) -> Outcome {
    scenario::pxe_qemu(name, device, dir)
        .timeout(std::time::Duration::from_secs(300))
        .run(|serial| serial.contains("netloader: stopped."))
}

/// The lines every UNDI boot shows: the stack kept, the card opened through it, the cached
/// lease used, and the stack unloaded cleanly before the kernel.
fn check_undi(outcome: &Outcome, why: &str) {
    outcome.check(
        outcome.contains(&format!("pxe: keeping the ROM's stack ({why})")),
        &format!("kept the ROM's stack because: {why}"),
    );
    outcome.check(
        outcome.contains("nic: the card through its PXE ROM's UNDI, driver undi"),
        "opened the card through UNDI",
    );
    outcome.check(
        outcome.contains("dhcp: using the PXE ROM's cached reply from 10.0.2.2"),
        "used the cached reply",
    );
    outcome.check(
        !outcome.contains("dhcp: asking for an address"),
        "no DHCP exchange of its own",
    );
    outcome.check(
        outcome.serial.lines().any(|l| {
            l.starts_with("undi: closed after ")
                && l.ends_with("UNDI_SHUTDOWN ok, UNLOAD_STACK ok, STOP_UNDI ok")
        }),
        "closed the card and unloaded the ROM's stack before the hand-off",
    );
}

#[test]
fn vmxnet3_without_a_native_driver_boots_32_mib_through_its_pxe_rom() {
    let name = "undi-vmxnet3";
    let mods = modules_sized(&[32 * 1024 * 1024, 1000]);
    let dir = tftp_root(name, Variant::Elf32, &mods, UndiPolicy::Auto);
    let outcome = boot(name, VMXNET3, &dir);
    outcome.check(
        outcome.contains("pxe: the ROM drives the PCI card 15ad:07b0 at "),
        "the ROM named the vmxnet3 card",
    );
    check_undi(&outcome, "no native driver for this card");
    check_report(&outcome, Variant::Elf32, &mods);
}

/// Also a kernel that asks for a VBE mode: the card (so the ROM, which holds the real-mode
/// thunk while it drives the card) is closed before the mode is set through the thunk.
#[test]
fn e1000_built_with_undi_always_goes_through_its_pxe_rom() {
    let name = "undi-e1000-always";
    let mods = modules(2);
    let dir = tftp_root(name, Variant::Video, &mods, UndiPolicy::Always);
    let outcome = boot(name, E1000, &dir);
    check_undi(&outcome, "the build says --undi always");
    check_report(&outcome, Variant::Video, &mods);
    let report = parse_report(&outcome.serial).unwrap();
    outcome.check(
        report.vbe_mode.is_some_and(|m| m & 0x4000 != 0)
            && report.framebuffer == Some((0xfd00_0000, 4096, 1024, 768, 32, 1)),
        "a linear VBE mode, 1024x768x32, set after the ROM's stack left",
    );
}

#[test]
fn vmxnet3_built_with_undi_never_is_a_clear_error() {
    let name = "undi-vmxnet3-never";
    let dir = tftp_root(name, Variant::Elf32, &modules(1), UndiPolicy::Never);
    let outcome = scenario::pxe_qemu(name, VMXNET3, &dir)
        .run(|serial| serial.contains("netloader: stopped."));
    outcome.check(
        outcome.contains("UNDI_SHUTDOWN ok, UNLOAD_STACK ok, STOP_UNDI ok"),
        "stage1/pxe.s unloaded the ROM's stack",
    );
    outcome.check(
        outcome.contains("pxe: the build says never to use UNDI (--undi never)"),
        "said why",
    );
    outcome.check(
        outcome.contains("E-NIC-UNSUPPORTED: no driver for the network cards found (15ad:07b0 at "),
        "the card without a driver is named",
    );
    outcome.check(!outcome.contains("nic: the card through"), "no UNDI");
}

/// From a floppy there is no PXE ROM stack to keep: the vmxnet3 card's option ROM still
/// carries an UNDI loader, which installs the ROM's stack into base memory; netloader then
/// does its own DHCP through it (iPXE's `undirom`).
#[test]
fn floppy_loads_the_vmxnet3_roms_undi_and_boots() {
    let name = "undi-rom-vmxnet3-floppy";
    let mods = modules(2);
    let dir = scenario::tftp_root(name, Variant::Elf32, &mods, "netloader.cfg/default");
    let floppy = dir.join("netloader.img");
    std::fs::write(&floppy, forms::build(Form::Floppy).unwrap()).unwrap();
    let outcome = netloader_tests::qemu::Qemu::new(name, "pc", 128)
        .args([
            "-drive".to_string(),
            format!("file={},format=raw,if=floppy", floppy.display()),
        ])
        .args([
            "-netdev".to_string(),
            format!("user,id=n0,restrict=on,tftp={}", dir.display()),
        ])
        .args(["-device".to_string(), format!("{VMXNET3},netdev=n0")])
        .timeout(std::time::Duration::from_secs(300))
        .run(|serial| serial.contains("netloader: stopped."));
    outcome.check(
        outcome.contains("undi: the ROM's stack is loaded at "),
        "loaded the option ROM's UNDI",
    );
    outcome.check(
        outcome.contains("dhcp: address 10.0.2.15/24"),
        "its own DHCP through UNDI",
    );
    check_report(&outcome, Variant::Elf32, &mods);
}
