//! netloader on a second PC model: Bochs, with its own BIOS (not SeaBIOS), its own e1000 model
//! and its own DHCP/TFTP server (vnet). The ISO (as a CD) and the floppy each fetch the test
//! kernel and two small modules and end in the kernel's pass report, hashes compared; the
//! floppy also on a CPU without long mode (a Pentium III), to the 32-bit test kernel.
//!
//! Bochs is slow (an interpreter): the payload is kept small and the timeout generous.

use netloader::forms::{self, Form};
use netloader_tests::bochs::{Bochs, BootMedium, Network};
use netloader_tests::kernels::Variant;
use netloader_tests::qemu::{Outcome, work_dir};
use netloader_tests::scenario::{Module, check_kernel_report, modules, tftp_root};

/// Builds `form`, boots it in Bochs and returns how it ended. The image lives beside (not in)
/// the TFTP root.
fn boot(name: &str, form: Form, network: Network) -> (Outcome, Vec<Module>) {
    boot_patched(name, form, network, |_| {})
}

/// As `boot`, with the image changed by `patch` first.
fn boot_patched(
    name: &str,
    form: Form,
    network: Network,
    patch: fn(&mut [u8]),
) -> (Outcome, Vec<Module>) {
    boot_on(name, form, network, patch, LONG_MODE_CPU)
}

/// Bochs' default CPU model here (a long-mode one), and the test kernel it runs.
const LONG_MODE_CPU: (&str, Variant) = ("corei7_sandy_bridge_2600k", Variant::Elf64);

/// As `boot_patched`, on Bochs' CPU model `cpu.0`, booting the test kernel `cpu.1`.
fn boot_on(
    name: &str,
    form: Form,
    network: Network,
    patch: fn(&mut [u8]),
    (cpu, variant): (&str, Variant),
) -> (Outcome, Vec<Module>) {
    let mods = modules(2);
    let dir = tftp_root(name, variant, &mods, "boot.cfg");
    let image = work_dir().join(format!("{name}.{}", form.name()));
    let mut bytes = forms::build(form).unwrap();
    patch(&mut bytes);
    std::fs::write(&image, bytes).unwrap();
    let medium = match form {
        Form::Floppy => BootMedium::Floppy(image),
        Form::Usb => BootMedium::Disk(image),
        _ => BootMedium::Cdrom(image),
    };
    let outcome = Bochs::new(name, medium, &dir, "boot.cfg")
        .network(network)
        .cpu(cpu)
        .run(|serial| serial.contains("MB VERDICT") || serial.contains("netloader: stopped."));
    (outcome, mods)
}

/// `blksize` is the block size the server should have chosen: our client asks for 1468, vnet
/// grants at most 1432 and slirp answers 512; each transfer must go on with it.
fn check_pass(
    outcome: &Outcome,
    boot_form: &str,
    network: Network,
    blksize: u32,
    modules: &[Module],
) {
    check_pass_of(
        outcome,
        boot_form,
        network,
        blksize,
        modules,
        Variant::Elf64,
    )
}

fn check_pass_of(
    outcome: &Outcome,
    boot_form: &str,
    network: Network,
    blksize: u32,
    modules: &[Module],
    variant: Variant,
) {
    outcome.check(
        outcome.contains(&format!("boot form: {boot_form}")),
        "boot form",
    );
    outcome.check(
        outcome.contains(&format!("dhcp: address {}/24", network.guest_ip())),
        "address from Bochs' DHCP",
    );
    let transfer = outcome
        .serial
        .lines()
        .find(|l| l.starts_with("tftp: /mod1 done:"));
    let at_blksize = format!("blksize {blksize},");
    outcome.check(
        transfer.is_some_and(|l| l.contains(&at_blksize)),
        &format!("mod1 moved with {at_blksize}"),
    );
    check_kernel_report(outcome, variant, modules);
    println!(
        "{}: pass in {:.1} s ({})",
        outcome.name,
        outcome.elapsed.as_secs_f64(),
        transfer.unwrap_or_default()
    );
}

const CD: &str = "CD (El Torito, no emulation)";

#[test]
fn iso_as_cdrom_in_bochs() {
    let (outcome, mods) = boot("bochs-iso", Form::Iso, Network::Vnet);
    check_pass(&outcome, CD, Network::Vnet, 1432, &mods);
}

#[test]
fn floppy_in_bochs() {
    let (outcome, mods) = boot("bochs-floppy", Form::Floppy, Network::Vnet);
    check_pass(&outcome, "floppy", Network::Vnet, 1432, &mods);
}

/// A CPU without long mode (Bochs' Pentium III, `p3_katmai`): the floppy's 32-bit runtime
/// boots the 32-bit test kernel.
#[test]
fn floppy_on_a_pentium_iii_in_bochs() {
    let (outcome, mods) = boot_on(
        "bochs-floppy-p3",
        Form::Floppy,
        Network::Vnet,
        |_| {},
        ("p3_katmai", Variant::I586),
    );
    outcome.check(
        outcome.contains("netloader: runtime ready (32-bit)."),
        "the 32-bit runtime",
    );
    check_pass_of(
        &outcome,
        "floppy",
        Network::Vnet,
        1432,
        &mods,
        Variant::I586,
    );
}

/// Bochs' slirp TFTP turns the 1468-byte blksize we ask for into 512: the transfers still work.
#[test]
fn iso_over_slirp_tftp_at_512_byte_blocks_in_bochs() {
    let (outcome, mods) = boot("bochs-iso-slirp", Form::Iso, Network::Slirp);
    check_pass(&outcome, CD, Network::Slirp, 512, &mods);
}

/// The USB image as Bochs' first hard disk: Bochs' BIOS has the INT 13h extensions.
#[test]
fn usb_image_as_hard_disk_in_bochs() {
    let (outcome, mods) = boot("bochs-usb", Form::Usb, Network::Vnet);
    check_pass(&outcome, "USB / hard disk", Network::Vnet, 1432, &mods);
}

/// Stage 1's CHS path on Bochs' BIOS: its AH=41h probe is turned into AH=01h (get status),
/// which never answers BX = 0xAA55, so it reads by CHS with the geometry from AH=08h (16 x 63,
/// not the partition table's 64 x 32).
#[test]
fn usb_image_by_chs_in_bochs() {
    fn without_int13_extensions(image: &mut [u8]) {
        let probe = [0xb4, 0x41, 0xbb, 0xaa, 0x55];
        let at = image[..512]
            .windows(probe.len())
            .position(|w| w == probe)
            .expect("stage 1's AH=41h probe");
        image[at + 1] = 0x01;
    }
    let (outcome, mods) = boot_patched(
        "bochs-usb-chs",
        Form::Usb,
        Network::Vnet,
        without_int13_extensions,
    );
    check_pass(&outcome, "USB / hard disk", Network::Vnet, 1432, &mods);
}
