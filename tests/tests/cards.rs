//! Every native driver on the emulated cards it drives, with no iPXE in the way (`romfile=`
//! empty on the disk forms; our own ROM on the ROM form): the card is found by the registry,
//! opened, gets a lease from QEMU's user network (restrict=on) and downloads the test kernel and
//! its modules, whose report (sizes, SHA-256s, command lines) is checked byte for byte. Each
//! card boots from a disk form and from its own option ROM (the first stage with its driver
//! alone, then netloader.pxe with every driver). Bochs' NE2000 (PCI) is a second, independent
//! model of that chip.
//!
//! Modules are small: the NE2000 moves every byte through an I/O port.

use std::path::{Path, PathBuf};

use netloader::forms::{self, Form};
use netloader::rom::RomOptions;
use netloader_tests::bochs::{Bochs, BootMedium, Card};
use netloader_tests::kernels::Variant;
use netloader_tests::qemu::{Outcome, Qemu, nic_family};
use netloader_tests::scenario::{self, Module, check_kernel_report, check_report, modules};

/// The driver's line for the card it opened: `nic: <model>, <id> at PCI .., driver <name>`.
fn check_driver(outcome: &Outcome, model: &str, pci_id: &str, driver: &str) {
    let line = outcome
        .serial
        .lines()
        .find(|l| l.starts_with("nic: ") && !l.starts_with("nic: MAC"));
    outcome.check(
        line.is_some_and(|l| {
            l.starts_with(&format!("nic: {model}, {pci_id} at PCI "))
                && l.ends_with(&format!(", driver {driver}"))
        }),
        &format!("{model} ({pci_id}) opened by the {driver} driver"),
    );
}

/// Boot `form` (floppy or ISO) on a `device` card without its iPXE ROM; the DHCP boot file is
/// the config.
fn boot_disk(name: &str, form: Form, device: &str, mods: &[Module]) -> Outcome {
    let dir = scenario::tftp_root(name, Variant::Elf32, mods, "boot.cfg");
    let image = dir.join(format!("netloader.{}", form.name()));
    std::fs::write(&image, forms::build(form).unwrap()).unwrap();
    let drive = match form {
        Form::Floppy => "-fda",
        _ => "-cdrom",
    };
    // An ISA card has no option ROM to leave out.
    let no_rom = if device.ends_with("_isa") {
        ""
    } else {
        ",romfile="
    };
    let mut qemu = Qemu::new(name, "pc", 128);
    qemu.args([drive, image.to_str().unwrap()]);
    scenario::tftp_network(&mut qemu, &format!("{device}{no_rom}"), &dir, "boot.cfg")
        .run(|serial| serial.contains("netloader: stopped."))
}

/// Boot from netloader's own option ROM for `device`: the first stage with the card's driver
/// alone starts netloader.pxe, which finds its config per host. `pci_id`: the card's ID when it
/// is not the family's first (SeaBIOS runs a ROM only for the ID in its header, not for those
/// in its PCI 3.0 device list).
fn boot_rom(name: &str, device: &str, pci_id: Option<&str>, mods: &[Module]) -> Outcome {
    let dir: PathBuf = scenario::tftp_root(name, Variant::Elf32, mods, "netloader.cfg/default");
    std::fs::write(dir.join("netloader.pxe"), forms::build(Form::Pxe).unwrap()).unwrap();
    let rom = forms::rom(
        &forms::Options::default(),
        &RomOptions {
            nic: nic_family(device),
            pci_id: pci_id.map(|id| id.parse().unwrap()),
            ..RomOptions::default()
        },
    )
    .unwrap();
    let rom_path = dir.join("netloader.rom");
    std::fs::write(&rom_path, rom).unwrap();
    rom_qemu(name, device, &dir, &rom_path)
}

fn rom_qemu(name: &str, device: &str, dir: &Path, rom: &Path) -> Outcome {
    Qemu::new(name, "pc", 128)
        .args([
            "-netdev".into(),
            format!(
                "user,id=n0,restrict=on,tftp={},bootfile=netloader.pxe",
                dir.display()
            ),
        ])
        .args([
            "-device".into(),
            format!("{device},netdev=n0,romfile={},bootindex=1", rom.display()),
        ])
        .run(|serial| serial.contains("netloader: stopped."))
}

/// The first stage ran from the ROM with its one driver, then netloader.pxe took over.
fn check_chained(outcome: &Outcome, driver: &str) {
    outcome.check(
        outcome.contains("boot form: PCI option ROM (BIOS drive 0x00)"),
        "entered from the ROM's BEV",
    );
    outcome.check(
        outcome.contains("chain: starting netloader.pxe at 0x7c00"),
        "the first stage started netloader.pxe",
    );
    outcome.check(
        outcome
            .serial
            .lines()
            .filter(|l| l.starts_with("nic: ") && l.ends_with(&format!(", driver {driver}")))
            .count()
            == 2,
        "both stages opened the card with the same driver",
    );
}

#[test]
fn pcnet_from_floppy_and_from_its_option_rom() {
    let mods = modules(2);
    let outcome = boot_disk("card-pcnet-floppy", Form::Floppy, "pcnet", &mods);
    check_driver(&outcome, "PCnet-PCI II / FAST III", "1022:2000", "pcnet");
    check_report(&outcome, Variant::Elf32, &mods);

    let outcome = boot_rom("card-pcnet-rom", "pcnet", None, &mods);
    check_chained(&outcome, "pcnet");
    check_report(&outcome, Variant::Elf32, &mods);
}

#[test]
fn i82557b_from_iso_and_from_its_option_rom() {
    let mods = modules(2);
    let outcome = boot_disk("card-i82557b-iso", Form::Iso, "i82557b", &mods);
    check_driver(&outcome, "82557/8/9", "8086:1229", "eepro100");
    check_report(&outcome, Variant::Elf32, &mods);

    let outcome = boot_rom("card-i82557b-rom", "i82557b", None, &mods);
    check_chained(&outcome, "eepro100");
    check_report(&outcome, Variant::Elf32, &mods);
}

#[test]
fn i82559er_from_floppy_and_from_its_option_rom() {
    let mods = modules(2);
    let outcome = boot_disk("card-i82559er-floppy", Form::Floppy, "i82559er", &mods);
    check_driver(&outcome, "82559ER", "8086:1209", "eepro100");
    check_report(&outcome, Variant::Elf32, &mods);

    let outcome = boot_rom("card-i82559er-rom", "i82559er", Some("8086:1209"), &mods);
    check_chained(&outcome, "eepro100");
    check_report(&outcome, Variant::Elf32, &mods);
}

/// The NE2000 moves every byte through its data port: small modules.
#[test]
fn ne2k_pci_from_iso_and_from_its_option_rom() {
    let mods = modules(2);
    let outcome = boot_disk("card-ne2k_pci-iso", Form::Iso, "ne2k_pci", &mods);
    check_driver(&outcome, "RTL8029", "10ec:8029", "ne2k");
    check_report(&outcome, Variant::Elf32, &mods);

    let outcome = boot_rom("card-ne2k_pci-rom", "ne2k_pci", None, &mods);
    check_chained(&outcome, "ne2k");
    check_report(&outcome, Variant::Elf32, &mods);
}

/// Bochs' NE2000 on its PCI bus, with Bochs' own BIOS and its own DHCP/TFTP server (vnet): a
/// second model of the chip. Bochs is an interpreter: small modules, a generous hang guard.
#[test]
fn ne2k_pci_in_bochs() {
    let name = "card-bochs-ne2k";
    let mods = modules(2);
    let dir = scenario::tftp_root(name, Variant::Elf64, &mods, "boot.cfg");
    let iso = netloader_tests::qemu::work_dir().join(format!("{name}.iso"));
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let outcome = Bochs::new(name, BootMedium::Cdrom(iso), &dir, "boot.cfg")
        .card(Card::Ne2kPci)
        .run(|serial| serial.contains("MB VERDICT") || serial.contains("netloader: stopped."));
    check_driver(&outcome, "RTL8029", "10ec:8029", "ne2k");
    outcome.check(
        outcome.contains("dhcp: address 192.168.10.15/24"),
        "address from Bochs' DHCP",
    );
    check_kernel_report(&outcome, Variant::Elf64, &mods);
}

/// QEMU's other two e1000 models: the 82544GC (no EEPROM read register: the MAC comes from
/// RAL/RAH) and the 82545EM (VMware's e1000), which no other test boots.
#[test]
fn e1000_82544gc_and_82545em_from_iso() {
    let mods = modules(2);
    for (device, model, pci_id) in [
        ("e1000-82544gc", "82544GC copper", "8086:100c"),
        ("e1000-82545em", "82545EM copper", "8086:100f"),
    ] {
        let outcome = boot_disk(&format!("card-{device}-iso"), Form::Iso, device, &mods);
        check_driver(&outcome, model, pci_id, "e1000");
        check_report(&outcome, Variant::Elf32, &mods);
    }
}

/// An ISA NE2000 at QEMU's default base (0x300): no PCI card has a driver, so the registry asks
/// the drivers that look for cards themselves, and the NE2000 driver finds it.
#[test]
fn ne2k_isa_from_iso() {
    let mods = modules(2);
    let outcome = boot_disk("card-ne2k_isa-iso", Form::Iso, "ne2k_isa", &mods);
    outcome.check(
        outcome.contains("nic: NE2000 (ISA), I/O port 0x300, driver ne2k"),
        "the ISA board found at 0x300 by the ne2k driver",
    );
    check_report(&outcome, Variant::Elf32, &mods);
}

/// A card its driver cannot start (a legacy-only virtio-net: this driver needs the modern
/// registers) is named, with the driver's own reason (kept by the registry, written by the
/// driver's code).
#[test]
fn a_card_that_does_not_start_is_named_with_its_drivers_reason() {
    let name = "card-virtio-legacy";
    let iso = netloader_tests::qemu::work_dir().join(format!("{name}.iso"));
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let outcome = Qemu::new(name, "pc", 64)
        .args(["-cdrom", iso.to_str().unwrap()])
        .args([
            "-netdev",
            "user,id=n0,restrict=on",
            "-device",
            "virtio-net-pci,netdev=n0,disable-modern=on,romfile=",
        ])
        .run(|serial| serial.contains("netloader: stopped."));
    outcome.check(
        outcome.contains(
            "E-NIC-OPEN: virtio-net (transitional), 1af4:1000 at PCI 00:03.0, did not start: virtio PCI transport: "
        ),
        "E-NIC-OPEN with virtio's own reason",
    );
}
