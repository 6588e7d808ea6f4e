//! netloader on a second PC model: Bochs, with its own BIOS (not SeaBIOS), its own e1000 model
//! and its own DHCP/TFTP server (vnet). The ISO (as a CD) and the floppy each fetch the test
//! kernel and two small modules and end in the kernel's pass report, hashes compared.
//!
//! Bochs is slow (an interpreter): the payload is kept small and the timeout generous.

use std::path::PathBuf;

use netloader::forms::{self, Form};
use netloader_tests::bochs::{Bochs, BootMedium, Network};
use netloader_tests::kernels::{self, Variant, parse_report, sha256_hex};
use netloader_tests::qemu::{Outcome, work_dir};

struct Module {
    name: &'static str,
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

/// Two modules: one under a TFTP block, one over several blocks of any size the server picks.
fn modules() -> Vec<Module> {
    vec![
        Module { name: "mod0", data: random_bytes(300, 21), args: "first module" },
        Module { name: "mod1", data: random_bytes(6000, 22), args: "x=1" },
    ]
}

/// A TFTP root with the kernel, the modules and boot.cfg naming them.
fn tftp_root(name: &str, modules: &[Module]) -> PathBuf {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(kernels::path(Variant::Elf64), dir.join("kernel")).unwrap();
    let mut config = String::from("set timeout=0\nmenuentry \"test kernel\" {\n  multiboot /kernel console=ttyS0\n");
    for m in modules {
        std::fs::write(dir.join(m.name), &m.data).unwrap();
        config += &format!("  module /{} {}\n", m.name, m.args);
    }
    config += "}\n";
    std::fs::write(dir.join("boot.cfg"), config).unwrap();
    dir
}

/// Builds `form`, boots it in Bochs and returns how it ended. The image lives beside (not in)
/// the TFTP root.
fn boot(name: &str, form: Form, network: Network) -> (Outcome, Vec<Module>) {
    boot_patched(name, form, network, |_| {})
}

/// As `boot`, with the image changed by `patch` first.
fn boot_patched(name: &str, form: Form, network: Network, patch: fn(&mut [u8])) -> (Outcome, Vec<Module>) {
    let mods = modules();
    let dir = tftp_root(name, &mods);
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
fn check_pass(outcome: &Outcome, boot_form: &str, network: Network, blksize: u32, modules: &[Module]) {
    outcome.check(outcome.contains(&format!("boot form: {boot_form}")), "boot form");
    outcome.check(outcome.contains(&format!("dhcp: address {}/24", network.guest_ip())), "address from Bochs' DHCP");
    let transfer = outcome.serial.lines().find(|l| l.starts_with("tftp: /mod1 done:"));
    let at_blksize = format!("blksize {blksize},");
    outcome.check(transfer.is_some_and(|l| l.contains(&at_blksize)), &format!("mod1 moved with {at_blksize}"));
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
    outcome.check(report.verdict_pass, "MB VERDICT pass");
    println!("{}: pass in {:.1} s ({})", outcome.name, outcome.elapsed.as_secs_f64(), transfer.unwrap_or_default());
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
        let at = image[..512].windows(probe.len()).position(|w| w == probe).expect("stage 1's AH=41h probe");
        image[at + 1] = 0x01;
    }
    let (outcome, mods) = boot_patched("bochs-usb-chs", Form::Usb, Network::Vnet, without_int13_extensions);
    check_pass(&outcome, "USB / hard disk", Network::Vnet, 1432, &mods);
}
