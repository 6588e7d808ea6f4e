//! The option ROM form end to end: QEMU loads our ROM as the network card's expansion ROM
//! (`romfile=`), SeaBIOS runs its init and boots its BEV (no disks at all), the BEV unpacks the
//! runtime, and the boot goes on to DHCP, the config, the Multiboot test kernel and its report,
//! with every module hash compared with the host's.

use std::path::{Path, PathBuf};

use netloader::forms;
use netloader::rom::{NicFamily, PciId, RomOptions};
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

fn modules(count: usize) -> Vec<Module> {
    let args = ["first module", "", "x=1 y=2"];
    (0..count)
        .map(|i| Module {
            name: format!("mod{i}"),
            data: random_bytes(1000 + i * 37_123, i as u64 + 11),
            args: args[i % args.len()],
        })
        .collect()
}

/// A TFTP root with the kernel, the modules and `boot.cfg` naming them.
fn tftp_root(name: &str, variant: Variant, modules: &[Module]) -> PathBuf {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(kernels::path(variant), dir.join("kernel")).unwrap();
    let mut config = String::from(
        "set timeout=0\nmenuentry \"test kernel\" {\n  multiboot /kernel console=ttyS0 \"quoted arg\"\n",
    );
    for m in modules {
        std::fs::write(dir.join(&m.name), &m.data).unwrap();
        config += &format!("  module /{} {}\n", m.name, m.args);
    }
    config += "  boot\n}\n";
    std::fs::write(dir.join("boot.cfg"), config).unwrap();
    dir
}

fn check_report(outcome: &Outcome, variant: Variant, modules: &[Module]) {
    let report = parse_report(&outcome.serial);
    outcome.check(report.is_some(), "the test kernel printed no report");
    let report = report.unwrap();
    outcome.check(
        report.variant == variant.name(),
        &format!("variant {} expected", variant.name()),
    );
    outcome.check(report.magic_ok, "Multiboot magic");
    outcome.check(
        report.cmdline.as_deref() == Some("console=ttyS0 quoted arg"),
        "kernel command line",
    );
    outcome.check(report.modules.len() == modules.len(), "module count");
    for (got, want) in report.modules.iter().zip(modules) {
        outcome.check(
            got.size == want.data.len() as u64,
            &format!("size of {}", want.name),
        );
        outcome.check(
            got.sha256 == sha256_hex(&want.data),
            &format!("sha256 of {}", want.name),
        );
        outcome.check(
            got.cmdline == want.args,
            &format!("command line of {}", want.name),
        );
    }
    let failed: Vec<String> = report
        .failed_checks()
        .iter()
        .map(|c| format!("{} {}", c.name, c.detail))
        .collect();
    outcome.check(
        failed.is_empty(),
        &format!("kernel checks failed: {failed:?}"),
    );
    outcome.check(
        report.verdict_pass && outcome.exit_code == Some(EXIT_PASS),
        "verdict pass and exit 33",
    );
}

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
    let dir = tftp_root(&name, Variant::Elf32, &mods);
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
    let dir = tftp_root(name, Variant::Elf64, &mods);
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
    let dir = tftp_root(name, Variant::Elf32, &[]);
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
