//! The UEFI forms: OVMF (tests/src/ovmf.rs) boots the stand-in for netloader.efi
//! (tests/efi-stub) from every place the image writers and `netloader serve` put it, and
//! SeaBIOS boots the very same image files:
//!
//! 1. the ISO as a CD: OVMF starts `\EFI\BOOT\BOOTX64.EFI` from the El Torito EFI entry (the
//!    device path's `CDROM(...)` node names the entry's LBA and size); SeaBIOS boots its BIOS
//!    entry to the 64-bit runtime;
//! 2. the ISO as a hard disk: OVMF again through the El Torito EFI entry (EDK2 looks for El
//!    Torito before the MBR, on 512-byte blocks too), and, with the El Torito record blanked
//!    (firmware that reads only a stick's MBR), from the hybrid MBR's partition 2; SeaBIOS
//!    through the hybrid MBR;
//! 3. the USB image as a stick on xHCI: OVMF from its partition 2 (`HD(2,MBR,...)`, the ESP);
//!    SeaBIOS as a hard disk, from partition 1;
//! 4. netloader.efi by the firmware's PXE from QEMU's TFTP server: on virtio-net (OVMF's own
//!    driver and PXE) and on e1000 (iPXE's EFI driver from efi-e1000.rom);
//! 5. netloader.efi from `netloader serve` (proxyDHCP beside the LAN's dnsmasq, root only).
//!
//! The images carry the stand-in through `forms::build_with_efi_app`, as they will carry the
//! real netloader.efi by default.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use netloader::forms::{self, Form};
use netloader_tests::lan::{Lan, LanSetup};
use netloader_tests::netns::{self, Impairment};
use netloader_tests::ovmf::{self, Medium, UefiNic, check_stand_in_ran, stub_value};
use netloader_tests::qemu::{Outcome, Qemu, work_dir};

/// What the runtime prints once stage 1 and 2 brought it to long mode (skeleton.rs).
const BIOS_READY: &str = "netloader: runtime ready (32-bit).";

/// The ISO or USB image with the stand-in in its ESP, written once per test run: every boot
/// of this file attaches it read-only.
fn image(form: Form) -> &'static Path {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    static USB: OnceLock<PathBuf> = OnceLock::new();
    let cell = match form {
        Form::Iso => &ISO,
        Form::Usb => &USB,
        other => panic!("{} is not a disk image", other.name()),
    };
    cell.get_or_init(|| {
        let bytes =
            forms::build_with_efi_app(form, &forms::Options::default(), &ovmf::stand_in()).unwrap();
        let path = work_dir().join(format!("uefi-forms.{}", form.name()));
        std::fs::write(&path, bytes).unwrap();
        path
    })
}

/// The LBA and 512-byte sector count of the El Torito EFI entry of `iso`, read from its boot
/// catalog (LBA 19: the section entry at offset 96).
fn efi_catalog_entry(iso: &[u8]) -> (u32, u16) {
    let entry = &iso[19 * 2048 + 96..][..12];
    (
        u32::from_le_bytes(entry[8..12].try_into().unwrap()),
        u16::from_le_bytes(entry[6..8].try_into().unwrap()),
    )
}

/// Partition `n` (1-4) of the MBR: start LBA and sectors.
fn mbr_partition(image: &[u8], n: usize) -> (u32, u32) {
    let entry = &image[0x1be + (n - 1) * 16..][..16];
    (
        u32::from_le_bytes(entry[8..12].try_into().unwrap()),
        u32::from_le_bytes(entry[12..16].try_into().unwrap()),
    )
}

fn uefi_boot(name: &str, image: &Path, medium: Medium) -> Outcome {
    let mut qemu = ovmf::qemu(name, 256);
    qemu.args(ovmf::boot_drive(image, medium));
    let outcome = ovmf::run(&qemu);
    check_stand_in_ran(&outcome);
    outcome.check(
        stub_value(&outcome, "file").as_deref() == Some("\\EFI\\BOOT\\BOOTX64.EFI"),
        "the firmware's removable-media path",
    );
    println!(
        "{name}: stand-in ran in {:.1} s",
        outcome.elapsed.as_secs_f64()
    );
    outcome
}

/// SeaBIOS boots the same file to the (32-bit) BIOS runtime, which names the form stage 1 gave it.
fn bios_boot(name: &str, drive: &[String], form_text: &str) {
    let outcome = Qemu::new(name, "pc", 96)
        .args(drive)
        .run(|serial| serial.contains(BIOS_READY) || serial.contains("E-"));
    outcome.check(
        outcome.contains(&format!("boot form: {form_text}")),
        &format!("boot form should be '{form_text}'"),
    );
    outcome.check(
        outcome.contains(BIOS_READY),
        "the runtime did not reach Rust",
    );
    println!(
        "{name}: BIOS runtime ready in {:.1} s",
        outcome.elapsed.as_secs_f64()
    );
}

fn device(outcome: &Outcome) -> String {
    stub_value(outcome, "device").unwrap_or_default()
}

#[test]
fn iso_as_cd_boots_on_uefi_and_bios() {
    let path = image(Form::Iso);
    let (lba, sectors) = efi_catalog_entry(&std::fs::read(path).unwrap());
    let outcome = uefi_boot("uefi-iso-cd", path, Medium::Cdrom);
    // EDK2 numbers the catalog's entries from 0 (the BIOS's default entry): the EFI entry is 1,
    // at its LBA, as long as its sector count in CD sectors (EDK2 reads the no-emulation count
    // in the medium's blocks, not in the spec's 512-byte ones: harmless, the FAT knows its size).
    let expected = format!("/CDROM(0x1,0x{lba:X},0x{sectors:X})");
    outcome.check(
        device(&outcome).ends_with(&expected),
        &format!("started from the El Torito EFI entry, {expected}"),
    );
    let drive = [
        "-drive".to_string(),
        format!("file={},format=raw,media=cdrom,readonly=on", path.display()),
    ];
    bios_boot("bios-iso-cd-esp", &drive, "CD (El Torito, no emulation)");
}

#[test]
fn iso_as_disk_boots_on_uefi_and_bios() {
    let path = image(Form::Iso);
    let iso = std::fs::read(path).unwrap();
    let (lba, sectors) = efi_catalog_entry(&iso);
    let outcome = uefi_boot("uefi-iso-disk", path, Medium::Disk);
    // The same entry in 512-byte blocks: EDK2 tries El Torito before the MBR (whose partition 2,
    // the same ESP, the image-writer tests check with fdisk and mtools).
    let expected = format!("/CDROM(0x1,0x{:X},0x{:X})", lba * 4, sectors as u32 * 4);
    outcome.check(
        device(&outcome).ends_with(&expected),
        &format!("started from the El Torito EFI entry, {expected}"),
    );
    let (esp_start, esp_sectors) = mbr_partition(&iso, 2);
    assert_eq!(
        (esp_start, esp_sectors),
        (lba * 4, sectors as u32),
        "partition 2 is the same ESP"
    );
    // Firmware that reads only the MBR of a stick: the same image with its El Torito boot
    // record blanked (EDK2's search ends at the first sector that is no volume descriptor)
    // boots from partition 2, the ESP inside the type-0 whole-image partition 1.
    let mut mbr_only = iso.clone();
    mbr_only[17 * 2048..18 * 2048].fill(0);
    let mbr_only_path = work_dir().join("uefi-forms-mbr-only.iso");
    std::fs::write(&mbr_only_path, &mbr_only).unwrap();
    let outcome = uefi_boot("uefi-iso-disk-mbr", &mbr_only_path, Medium::Disk);
    let expected = format!("/HD(2,MBR,0x52444C4E,0x{esp_start:X},0x{esp_sectors:X})");
    outcome.check(
        device(&outcome).ends_with(&expected),
        &format!("started from the hybrid MBR's partition 2, {expected}"),
    );
    let drive = [
        "-drive".to_string(),
        format!("file={},format=raw,snapshot=on", path.display()),
    ];
    bios_boot("bios-iso-disk-esp", &drive, "ISO image as a disk (hybrid)");
}

#[test]
fn usb_image_boots_on_uefi_and_bios() {
    let path = image(Form::Usb);
    let usb = std::fs::read(path).unwrap();
    let outcome = uefi_boot("uefi-usb", path, Medium::UsbStick);
    let (start, sectors) = mbr_partition(&usb, 2);
    let expected = format!("/USB(0x0,0x0)/HD(2,MBR,0x52444C4E,0x{start:X},0x{sectors:X})");
    outcome.check(
        device(&outcome).ends_with(&expected),
        &format!("started from the ESP, partition 2: {expected}"),
    );
    let drive = [
        "-drive".to_string(),
        format!("file={},format=raw,snapshot=on", path.display()),
    ];
    bios_boot("bios-usb-esp", &drive, "USB / hard disk");
}

/// The stand-in's report lines about the PXE boot, in order, without the prefix.
fn pxe_report(outcome: &Outcome) -> Vec<String> {
    outcome
        .serial
        .lines()
        .filter_map(|l| l.strip_prefix("efi-stub: pxe "))
        .map(str::to_string)
        .collect()
}

fn pxe_boot(name: &str, nic: UefiNic) -> Outcome {
    let dir = ovmf::tftp_root(name);
    let mut qemu = ovmf::qemu(name, 256);
    qemu.args([
        "-netdev".to_string(),
        format!(
            "user,id=n0,restrict=on,tftp={},bootfile=netloader.efi",
            dir.display()
        ),
        "-device".to_string(),
        nic.device("n0", "52:54:00:12:34:56"),
    ]);
    let outcome = ovmf::run(&qemu);
    check_stand_in_ran(&outcome);
    println!(
        "{name}: stand-in ran in {:.1} s",
        outcome.elapsed.as_secs_f64()
    );
    outcome
}

/// OVMF's own stack: VirtioNetDxe, SNP, EDK2's PXE driver, which took QEMU's DHCP answer
/// (no proxy) and fetched the boot file by TFTP; the image's device is PXE's IPv4 child.
#[test]
fn pxe_on_virtio_net_with_ovmfs_own_driver() {
    let outcome = pxe_boot("uefi-pxe-virtio", UefiNic::VirtioNet);
    outcome.check(
        device(&outcome)
            .ends_with("/MAC(525400123456,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0)"),
        "loaded through EDK2's PXE driver on the card",
    );
    let expected = [
        "dhcp-ack yes proxy-offer no pxe-reply no station 10.0.2.15",
        "dhcp-ack: server 10.0.2.2 file \"netloader.efi\"",
    ];
    outcome.check(
        pxe_report(&outcome) == expected,
        &format!("the firmware's PXE state should be {expected:?}"),
    );
}

/// iPXE's EFI driver (efi-e1000.rom) owns the card and the boot: its own DHCP and TFTP, and
/// the PXE Base Code it installs for the program it starts (which reports the DHCP answer
/// also as the boot server's reply).
#[test]
fn pxe_on_e1000_with_ipxes_efi_driver() {
    let outcome = pxe_boot("uefi-pxe-e1000", UefiNic::E1000Ipxe);
    outcome.check(
        outcome.contains("iPXE") && device(&outcome).ends_with("/MAC(525400123456,0x1)"),
        "loaded by iPXE on the card",
    );
    outcome.check(
        stub_value(&outcome, "file").as_deref() == Some("netloader.efi"),
        "the boot file's name as iPXE gives it",
    );
    let expected = [
        "dhcp-ack yes proxy-offer no pxe-reply yes station 10.0.2.15",
        "dhcp-ack: server 10.0.2.2 file \"netloader.efi\"",
        "pxe-reply: server 10.0.2.2 file \"netloader.efi\"",
    ];
    outcome.check(
        pxe_report(&outcome) == expected,
        &format!("the firmware's PXE state should be {expected:?}"),
    );
}

/// `netloader serve` boots a UEFI PC: OVMF on virtio-net on a LAN whose dnsmasq gives
/// addresses only, serve (proxyDHCP) naming netloader.efi from its folder; the firmware's PXE
/// takes the address from dnsmasq and the boot file from serve, never an address from serve.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn serve_boots_a_uefi_pxe_client() {
    let name = "uefi-serve";
    netns::require_root(name);
    let dir = ovmf::tftp_root(name);
    let setup = LanSetup {
        serve: Path::new(env!("CARGO_BIN_EXE_serve")),
        serve_args: vec![dir.into_os_string()],
        lan_dhcp: true,
        impairment: Impairment::NONE,
    };
    let lan = Lan::start(&setup, &work_dir().join(name).join("servers"))
        .unwrap_or_else(|e| panic!("{name}: could not set up the LAN: {e}"));
    let mut qemu = ovmf::qemu(name, 256);
    qemu.args([
        "-netdev".to_string(),
        lan.netdev("n0"),
        "-device".to_string(),
        UefiNic::VirtioNet.device("n0", "52:54:00:00:16:01"),
    ]);
    let outcome = ovmf::run(&qemu);
    outcome.check(
        outcome.contains("efi-stub: done"),
        &format!("the stand-in did not run\n{}", lan.server_logs()),
    );
    check_stand_in_ran(&outcome);
    println!(
        "{name}: stand-in ran in {:.1} s",
        outcome.elapsed.as_secs_f64()
    );
    // The address from dnsmasq (.50-.60, its ACK names no boot file), the boot file from
    // serve's proxy offer: EDK2 takes it from there (option 43 says so: discovery control 8),
    // without asking on port 4011 (serve's answer there is host-tested in serve/dhcp/tests.rs).
    let report = pxe_report(&outcome);
    let station = report
        .first()
        .and_then(|l| {
            l.strip_prefix("dhcp-ack yes proxy-offer yes pxe-reply no station 192.168.77.")
        })
        .and_then(|host| host.parse::<u8>().ok());
    outcome.check(
        station.is_some_and(|host| (50..=60).contains(&host)),
        &format!("an address from dnsmasq and serve's proxy offer: {report:?}"),
    );
    outcome.check(
        report.len() == 3
            && report[1].starts_with("dhcp-ack: server ")
            && report[1].ends_with(" file \"\"")
            && report[2] == "proxy-offer: server 192.168.77.2 file \"netloader.efi\"",
        &format!("dnsmasq's ACK names no file, serve's offer netloader.efi: {report:?}"),
    );
    let log = lan.serve_log();
    let said = |text: &str| log.lines().any(|l| l.contains(text));
    let stand_in = ovmf::stand_in().len();
    for line in [
        "serve: netloader.efi: the folder's own".to_string(),
        "boot files: netloader.pxe for BIOS PXE ROMs, netloader.efi for x64 UEFI PXE clients,"
            .to_string(),
        "dhcp: 52:54:00:00:16:01 PXE x64 UEFI (arch 7): proxy OFFER (no address): boot file netloader.efi from 192.168.77.2".to_string(),
        format!(" netloader.efi: {stand_in} bytes in "),
    ] {
        outcome.check(said(&line), &format!("serve's log should say {line:?}\n{log}"));
    }
    outcome.check(
        !log.lines()
            .any(|l| l.contains(": OFFER 192.") || l.contains(": ACK 192.")),
        &format!("serve gave an address in proxy mode\n{log}"),
    );
}
