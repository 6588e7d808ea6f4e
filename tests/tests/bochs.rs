//! netloader on a second PC model: Bochs, with its own BIOS (not SeaBIOS), its own e1000 model
//! and its own DHCP/TFTP server (vnet). The ISO (as a CD) and the floppy each fetch the test
//! kernel and two small modules and end in the kernel's pass report, hashes compared.
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
    let mods = modules(2);
    let dir = tftp_root(name, Variant::Elf64, &mods, "boot.cfg");
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
    check_kernel_report(outcome, Variant::Elf64, modules);
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
