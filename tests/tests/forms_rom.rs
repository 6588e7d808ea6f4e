//! The option ROM form end to end: QEMU loads our ROM as the network card's expansion ROM
//! (`romfile=`), SeaBIOS runs its init and boots its BEV (no disks at all), the BEV unpacks the
//! first stage, which gets a lease and starts netloader.pxe from the TFTP server; that goes on
//! to DHCP, the config, the Multiboot test kernel and its report, with every module hash
//! compared with the host's. `--standalone` ROMs do it all themselves.

use std::path::{Path, PathBuf};

use netloader::forms::{self, Form};
use netloader::rom::{NicFamily, PciId, RomOptions};
use netloader_tests::kernels::Variant;
use netloader_tests::qemu::{Outcome, Qemu, nic_family};
use netloader_tests::scenario::{self, Module, check_report, modules};

/// A TFTP root with netloader.pxe, the kernel, the modules and netloader.cfg/default (found by
/// netloader.pxe's per-host lookup, as on the PXE form).
fn tftp_root(name: &str, variant: Variant, modules: &[Module]) -> PathBuf {
    let dir = scenario::tftp_root(name, variant, modules, "netloader.cfg/default");
    std::fs::write(dir.join("netloader.pxe"), forms::build(Form::Pxe).unwrap()).unwrap();
    dir
}

/// Build the ROM for `options`, give it to a `device` card as its expansion ROM, boot from it
/// with `bootfile` as the DHCP boot file (none: `None`).
fn boot_rom(
    name: &str,
    device: &str,
    options: RomOptions,
    dir: &Path,
    bootfile: Option<&str>,
) -> Outcome {
    let rom = forms::rom(&forms::Options::default(), &options).unwrap();
    let rom_path = dir.join("netloader.rom");
    std::fs::write(&rom_path, rom).unwrap();
    let bootfile = bootfile
        .map(|file| format!(",bootfile={file}"))
        .unwrap_or_default();
    Qemu::new(name, "pc", 128)
        .args([
            "-netdev".into(),
            format!("user,id=n0,restrict=on,tftp={}{bootfile}", dir.display()),
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

/// The first stage ran from the ROM, then netloader.pxe took over and found the config.
fn check_chained(outcome: &Outcome) {
    outcome.check(
        outcome.contains("boot form: PCI option ROM (BIOS drive 0x00)"),
        "entered from the ROM's BEV",
    );
    outcome.check(
        outcome.contains("chain: starting netloader.pxe at 0x7c00"),
        "the first stage started netloader.pxe",
    );
    outcome.check(
        outcome.contains("boot form: PXE"),
        "netloader.pxe ran as a PXE boot program",
    );
    outcome.check(
        outcome.contains("pxe: started by netloader's option ROM"),
        "netloader.pxe knew who started it",
    );
    outcome.check(
        !outcome.contains("E-PXE-"),
        "a PXE error on a chained start",
    );
    outcome.check(
        outcome.contains("dhcp: using the PXE ROM's cached reply from 10.0.2.2"),
        "netloader.pxe took the ROM's lease",
    );
    outcome.check(
        outcome
            .serial
            .matches("dhcp: asking for an address")
            .count()
            == 1,
        "one DHCP exchange, the ROM's",
    );
    outcome.check(
        outcome.contains("config: found netloader.cfg/default"),
        "netloader.pxe found its config per host",
    );
}

fn boot_family(device: &str, nic: NicFamily) {
    let name = format!("rom-{device}");
    let mods = modules(3);
    let dir = tftp_root(&name, Variant::Elf32, &mods);
    let outcome = boot_rom(
        &name,
        device,
        RomOptions {
            nic,
            ..RomOptions::default()
        },
        &dir,
        Some("netloader.pxe"),
    );
    check_chained(&outcome);
    check_report(&outcome, Variant::Elf32, &mods);
}

#[test]
fn e1000_boots_from_its_option_rom() {
    boot_family("e1000", nic_family("e1000"));
}

#[test]
fn rtl8139_boots_from_its_option_rom() {
    boot_family("rtl8139", nic_family("rtl8139"));
}

#[test]
fn virtio_net_boots_from_its_option_rom() {
    boot_family("virtio-net-pci", nic_family("virtio-net-pci"));
}

/// With no boot file in the DHCP answer the first stage asks for `netloader.pxe`.
#[test]
fn without_a_boot_file_the_rom_asks_for_netloader_pxe() {
    let name = "rom-no-bootfile";
    let mods = modules(1);
    let dir = tftp_root(name, Variant::Elf32, &mods);
    let outcome = boot_rom(
        name,
        "rtl8139",
        RomOptions {
            nic: nic_family("rtl8139"),
            ..RomOptions::default()
        },
        &dir,
        None,
    );
    check_chained(&outcome);
    check_report(&outcome, Variant::Elf32, &mods);
}

/// A boot file that is not netloader.pxe (here the config, as the disk forms take it) is
/// named in a clear error, and nothing is started.
#[test]
fn a_boot_file_that_is_not_netloader_pxe_is_refused() {
    let name = "rom-wrong-bootfile";
    let dir = tftp_root(name, Variant::Elf32, &[]);
    let outcome = boot_rom(
        name,
        "e1000",
        RomOptions::default(),
        &dir,
        Some("netloader.cfg/default"),
    );
    outcome.check(
        outcome.contains("E-ROM-CHAIN: netloader.cfg/default from 10.0.2.2 is not netloader.pxe"),
        "the wrong boot file named in E-ROM-CHAIN",
    );
    outcome.check(
        !outcome.contains("chain: starting"),
        "started something that is not netloader.pxe",
    );
}

/// No netloader.pxe on the server: the error names it and says where it comes from.
#[test]
fn a_missing_netloader_pxe_is_named() {
    let name = "rom-no-nbp";
    let dir = tftp_root(name, Variant::Elf32, &[]);
    std::fs::remove_file(dir.join("netloader.pxe")).unwrap();
    let outcome = boot_rom(
        name,
        "rtl8139",
        RomOptions {
            nic: nic_family("rtl8139"),
            ..RomOptions::default()
        },
        &dir,
        Some("netloader.pxe"),
    );
    outcome.check(
        outcome.contains("E-TFTP-NOTFOUND"),
        "the missing file reported",
    );
    outcome.check(
        outcome.contains("put it on the TFTP server"),
        "the hint where netloader.pxe comes from",
    );
    outcome.check(!outcome.contains("chain: starting"), "started something");
}

/// `--standalone`: the whole loader in the ROM; the DHCP boot file is the config, as on the
/// disk forms, and no netloader.pxe is needed. virtio's is the largest standalone ROM: SeaBIOS
/// must still find room for it beside QEMU's VGA BIOS.
#[test]
fn standalone_rom_boots_by_itself() {
    let name = "rom-standalone";
    let mods = modules(2);
    let dir = scenario::tftp_root(name, Variant::Elf32, &mods, "boot.cfg");
    let options = RomOptions {
        nic: nic_family("virtio-net-pci"),
        standalone: true,
        ..RomOptions::default()
    };
    let outcome = boot_rom(name, "virtio-net-pci", options, &dir, Some("boot.cfg"));
    outcome.check(
        outcome.contains("boot form: PCI option ROM (BIOS drive 0x00)"),
        "entered from the ROM's BEV",
    );
    outcome.check(
        !outcome.contains("chain: starting"),
        "a standalone ROM chained netloader.pxe",
    );
    check_report(&outcome, Variant::Elf32, &mods);
}

/// `--pci-id` picks the ID SeaBIOS matches: an e1000e (8086:10d3) runs an e1000-family ROM
/// that declares it.
#[test]
fn pci_id_override_matches_another_card_of_the_family() {
    let name = "rom-e1000e-pci-id";
    let mods = modules(1);
    let dir = tftp_root(name, Variant::Elf64, &mods);
    let pci_id = Some(PciId {
        vendor: 0x8086,
        device: 0x10d3,
    });
    let options = RomOptions {
        nic: nic_family("e1000"),
        pci_id,
        ..RomOptions::default()
    };
    let outcome = boot_rom(name, "e1000e", options, &dir, Some("netloader.pxe"));
    check_chained(&outcome);
    check_report(&outcome, Variant::Elf64, &mods);
}

/// A ROM whose ID does not match the card is skipped by the BIOS: no disk, nothing boots.
/// The boot ends when SeaBIOS says so on its debug port ("No bootable device."), so the
/// check that netloader never ran cannot pass merely because the BIOS was slow to get there.
#[test]
fn a_rom_for_another_card_is_not_run() {
    let name = "rom-mismatch";
    let dir = tftp_root(name, Variant::Elf32, &[]);
    let bios_log = dir.join("seabios.log");
    let _ = std::fs::remove_file(&bios_log);
    let bios_said =
        |text: &str| std::fs::read_to_string(&bios_log).is_ok_and(|log| log.contains(text));
    let outcome = Qemu::new(name, "pc", 128)
        .args([
            "-chardev".to_string(),
            format!("file,id=seabios,path={}", bios_log.display()),
            "-device".to_string(),
            "isa-debugcon,iobase=0x402,chardev=seabios".to_string(),
        ])
        .args([
            "-netdev".into(),
            format!("user,id=n0,restrict=on,tftp={}", dir.display()),
        ])
        .args({
            let rom = forms::rom(
                &forms::Options::default(),
                &RomOptions {
                    nic: nic_family("rtl8139"),
                    ..RomOptions::default()
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
        .run(|serial| serial.contains("netloader") || bios_said("No bootable device."));
    outcome.check(
        bios_said("No bootable device."),
        "SeaBIOS went through its boot order to the end",
    );
    outcome.check(
        !outcome.contains("netloader"),
        "SeaBIOS ran a ROM whose PCI ID names another card",
    );
}
