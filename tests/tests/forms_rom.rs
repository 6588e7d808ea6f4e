//! The option ROM form end to end: QEMU loads our ROM as the network card's expansion ROM
//! (`romfile=`), SeaBIOS runs its init and boots its BEV (no disks at all), the BEV unpacks the
//! runtime, and the boot goes on to DHCP, the config, the Multiboot test kernel and its report,
//! with every module hash compared with the host's.

use std::path::Path;

use netloader::forms;
use netloader::rom::{NicFamily, PciId, RomOptions};
use netloader_tests::kernels::Variant;
use netloader_tests::qemu::{Outcome, Qemu};
use netloader_tests::scenario::{check_report, modules, tftp_root};

/// Build the ROM for `options`, give it to a `device` card as its expansion ROM, boot from it.
fn boot_rom(name: &str, device: &str, options: RomOptions, dir: &Path) -> Outcome {
    let rom = forms::rom(&forms::Options::default(), &options).unwrap();
    let rom_path = dir.join("netloader.rom");
    std::fs::write(&rom_path, rom).unwrap();
    Qemu::new(name, "pc", 128)
        .args([
            "-netdev".into(),
            format!(
                "user,id=n0,restrict=on,tftp={},bootfile=boot.cfg",
                dir.display()
            ),
        ])
        .args([
            "-device".into(),
            format!(
                "{device},netdev=n0,romfile={},bootindex=1",
                rom_path.display()
            ),
        ])
        .run(|serial| serial.contains("netloader: stopped."))
}

fn boot_family(device: &str, nic: NicFamily) {
    let name = format!("rom-{device}");
    let mods = modules(3);
    let dir = tftp_root(&name, Variant::Elf32, &mods, "boot.cfg");
    let outcome = boot_rom(&name, device, RomOptions { nic, pci_id: None }, &dir);
    outcome.check(
        outcome.contains("boot form: PCI option ROM (BIOS drive 0x00)"),
        "entered from the ROM's BEV",
    );
    check_report(&outcome, Variant::Elf32, &mods);
}

#[test]
fn e1000_boots_from_its_option_rom() {
    boot_family("e1000", NicFamily::E1000);
}

#[test]
fn rtl8139_boots_from_its_option_rom() {
    boot_family("rtl8139", NicFamily::Rtl8139);
}

#[test]
fn virtio_net_boots_from_its_option_rom() {
    boot_family("virtio-net-pci", NicFamily::Virtio);
}

/// `--pci-id` picks the ID SeaBIOS matches: an e1000e (8086:10d3) runs an e1000-family ROM
/// that declares it.
#[test]
fn pci_id_override_matches_another_card_of_the_family() {
    let name = "rom-e1000e-pci-id";
    let mods = modules(1);
    let dir = tftp_root(name, Variant::Elf64, &mods, "boot.cfg");
    let pci_id = Some(PciId {
        vendor: 0x8086,
        device: 0x10d3,
    });
    let outcome = boot_rom(
        name,
        "e1000e",
        RomOptions {
            nic: NicFamily::E1000,
            pci_id,
        },
        &dir,
    );
    outcome.check(
        outcome.contains("boot form: PCI option ROM"),
        "entered from the ROM's BEV",
    );
    check_report(&outcome, Variant::Elf64, &mods);
}

/// A ROM whose ID does not match the card is skipped by the BIOS: no disk, nothing boots.
#[test]
fn a_rom_for_another_card_is_not_run() {
    let name = "rom-mismatch";
    let dir = tftp_root(name, Variant::Elf32, &[], "boot.cfg");
    let outcome = Qemu::new(name, "pc", 128)
        .timeout(std::time::Duration::from_secs(15))
        .args([
            "-netdev".into(),
            format!("user,id=n0,restrict=on,tftp={}", dir.display()),
        ])
        .args({
            let rom = forms::rom(
                &forms::Options::default(),
                &RomOptions {
                    nic: NicFamily::Rtl8139,
                    pci_id: None,
                },
            )
            .unwrap();
            let rom_path = dir.join("netloader.rom");
            std::fs::write(&rom_path, rom).unwrap();
            [
                "-device".to_string(),
                format!("e1000,netdev=n0,romfile={},bootindex=1", rom_path.display()),
            ]
        })
        .run(|serial| serial.contains("netloader"));
    outcome.check(
        !outcome.contains("netloader"),
        "SeaBIOS ran a ROM whose PCI ID names another card",
    );
}
