//! netloader.efi under OVMF (tests/src/ovmf.rs), from every place the image writers and
//! `netloader serve` put it, each boot ending in a test kernel that checks what it was handed
//! byte for byte; and SeaBIOS boots the very same image files:
//!
//! | firmware starts netloader.efi from | network | Multiboot 2 kernel |
//! | --- | --- | --- |
//! | the ISO as a CD (El Torito EFI entry) | its own DHCP; virtio-net taken from OVMF's VirtioNetDxe, netloader's virtio driver | without tag 7: ExitBootServices, tags 12 and 17 |
//! | the ISO as a disk (El Torito EFI entry) | its own DHCP; e1000 taken from iPXE's EFI driver (efi-e1000.rom), netloader's e1000 driver | with tag 7 (optional, as Xen's): boot services kept, tags 12, 17, 18, 20 |
//! | the USB image on xHCI (partition 2, the ESP), built `--efi-nic snp` | its own DHCP, OVMF's virtio-net SNP | without tag 7 |
//! | the firmware's PXE on virtio-net (OVMF's driver) | the firmware's DHCP answer; the card taken from the firmware (its SNP stopped first), netloader's virtio driver | with tag 7 |
//! | the firmware's PXE on e1000 (iPXE's EFI driver) | iPXE's answer; iPXE's SNP, since iPXE (still running beneath netloader.efi) will not let go of the card | without tag 7 |
//!
//! And the ISO as a CD once more on a legacy-only virtio-net, which netloader's driver refuses:
//! the card goes back to OVMF's driver and netloader uses its SNP (the Multiboot 1 kernel).
//!
//! From each: the Multiboot 1 test kernel, the Multiboot 2 one, and the Linux test kernel
//! (lxtest: efi_info, the E820 table from the EFI map), each with two modules (initrds) of
//! seeded random bytes, their SHA-256s, the command lines and the kernels' own checks (memory
//! map, EFI tables) compared. Also the ISO as a disk read by its MBR only (partition 2), and
//! `netloader serve` (proxyDHCP; root only), each booting the Multiboot 1 kernel.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use netloader::efi::NicPolicy;
use netloader::forms::{self, Form};
use netloader_tests::kernels::{Variant, sha256_hex};
use netloader_tests::kernels2::{Mb2Variant, parse_report2};
use netloader_tests::lan::{Lan, LanSetup};
use netloader_tests::netns::{self, Impairment};
use netloader_tests::ovmf::{self, Medium, UefiNic};
use netloader_tests::qemu::{EXIT_PASS, Outcome, Qemu, work_dir};
use netloader_tests::scenario::{self, KERNEL_ARGS, KERNEL_CMDLINE, Module, module_cmdline};

/// What the runtime prints once stage 1 and 2 brought it to long mode (skeleton.rs).
const BIOS_READY: &str = "netloader: runtime ready (32-bit).";
/// netloader.efi's first line about itself.
const UEFI_FORM: &str = "boot form: UEFI application (netloader.efi)";
/// OVMF's last boot option, started when every device failed.
const SHELL_BANNER: &str = "UEFI Interactive Shell";
/// Where the config lies on every TFTP root here: the per-host default netloader.efi looks
/// up after a PXE boot, and the DHCP boot file QEMU names for a boot from a disk.
const CONFIG: &str = "netloader.cfg/default";

/// The ISO or USB image as `netloader build` writes it (netloader.efi in its ESP), once per
/// test run: every boot attaches it read-only. The ISO as by default; the USB image with
/// `--efi-nic snp` (so that the firmware's interface is tested where netloader has a driver).
fn image(form: Form) -> &'static Path {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    static USB: OnceLock<PathBuf> = OnceLock::new();
    let cell = match form {
        Form::Iso => &ISO,
        Form::Usb => &USB,
        other => panic!("{} is not a disk image", other.name()),
    };
    cell.get_or_init(|| {
        let path = work_dir().join(format!("uefi-forms.{}", form.name()));
        let options = forms::Options {
            efi_nic: if form == Form::Usb {
                NicPolicy::Snp
            } else {
                NicPolicy::Auto
            },
            ..Default::default()
        };
        std::fs::write(&path, forms::build_with(form, &options).unwrap()).unwrap();
        path
    })
}

/// Which network interface netloader.efi must have driven.
#[derive(Clone, Copy, Debug)]
enum NicUse {
    /// Its own driver (named), the firmware's drivers disconnected from the card.
    Native(&'static str),
    /// The firmware's interface, as the image was built (`--efi-nic snp`).
    SnpAsBuilt,
    /// The firmware's interface, since the firmware would not let go of the card.
    SnpRefused,
    /// The firmware's interface, since netloader's driver did not start on the card taken
    /// (given back to the firmware's drivers).
    SnpGivenBack,
}

/// The kernel a boot ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    Mb1,
    Mb2(Mb2Variant),
    Linux,
}

impl Kernel {
    /// The three kernels every medium boots, the Multiboot 2 one as `mb2`.
    fn all(mb2: Mb2Variant) -> [Kernel; 3] {
        [Kernel::Mb1, Kernel::Mb2(mb2), Kernel::Linux]
    }

    /// For the boot's name.
    fn short(self) -> &'static str {
        match self {
            Kernel::Mb1 => "mb1",
            Kernel::Mb2(_) => "mb2",
            Kernel::Linux => "linux",
        }
    }
}

/// virtio-net with OVMF's VirtioNetDxe, taken by netloader's virtio driver.
const VIRTIO_NATIVE: (UefiNic, NicUse) = (UefiNic::VirtioNet, NicUse::Native("virtio"));
/// e1000 with iPXE's EFI driver (not running: the boot is from a disk), taken by netloader's
/// e1000 driver.
const E1000_NATIVE: (UefiNic, NicUse) = (UefiNic::E1000Ipxe, NicUse::Native("e1000"));

/// A fresh TFTP root: the kernel, two modules, the config at [`CONFIG`], and netloader.efi.
fn tftp_root(name: &str, kernel: Kernel) -> (PathBuf, Vec<Module>) {
    let modules = scenario::modules(2);
    let dir = scenario::tftp_root(name, Variant::Elf32, &modules, CONFIG);
    let (path, command, module) = match kernel {
        Kernel::Mb1 => (None, "", ""),
        Kernel::Mb2(variant) => (Some(variant.path()), "multiboot2", "module2"),
        Kernel::Linux => (
            Some(netloader_tests::linux::test_kernel_path()),
            "linux",
            "initrd",
        ),
    };
    if let Some(path) = path {
        std::fs::copy(path, dir.join("kernel")).unwrap();
        let expect = if kernel == Kernel::Linux {
            String::new()
        } else {
            format!(" mbtest.expect-modules={}", modules.len())
        };
        let mut config = format!(
            "set timeout=0\nmenuentry \"uefi\" {{\n  {command} /kernel {KERNEL_ARGS}{expect}\n"
        );
        if kernel == Kernel::Linux {
            // Every initrd file on the one initrd line.
            let files: Vec<String> = modules.iter().map(|m| format!("/{}", m.name)).collect();
            config += &format!("  {module} {}\n", files.join(" "));
        } else {
            for m in &modules {
                config += &format!("  {module} /{} {}\n", m.name, m.args);
            }
        }
        scenario::write(&dir, CONFIG, (config + "}\n").as_bytes());
    }
    scenario::write(&dir, "netloader.efi", &forms::build(Form::Efi).unwrap());
    (dir, modules)
}

/// Boots until QEMU exits (the kernel ends it), netloader stops (a failure: said, not waited
/// out), or OVMF gives up and starts its shell.
fn run(qemu: &Qemu, name: &str) -> Outcome {
    let outcome =
        qemu.run(|serial| serial.contains(SHELL_BANNER) || serial.contains("netloader: stopped."));
    println!(
        "{name}: kernel verdict after {:.1} s",
        outcome.elapsed.as_secs_f64()
    );
    outcome
}

/// netloader.efi from a disk or CD, on `nic` (no PXE), the DHCP boot file the config.
fn disk_boot(
    name: &str,
    image: &Path,
    medium: Medium,
    kernel: Kernel,
    (nic, used): (UefiNic, NicUse),
) -> Outcome {
    let (dir, modules) = tftp_root(name, kernel);
    let mut qemu = ovmf::qemu(name, 256);
    qemu.args(ovmf::boot_drive(image, medium)).args([
        "-netdev".to_string(),
        format!(
            "user,id=n0,restrict=on,tftp={},bootfile={CONFIG}",
            dir.display()
        ),
        "-device".to_string(),
        nic.card("n0", "52:54:00:12:34:56"),
    ]);
    let outcome = run(&qemu, name);
    check_efi_boot(&outcome, kernel, &modules, used);
    outcome.check(
        outcome.contains("dhcp: asking for an address"),
        "started from a disk: netloader.efi asks DHCP itself",
    );
    outcome
}

/// netloader.efi by the firmware's PXE from QEMU's TFTP server.
fn pxe_boot(name: &str, nic: UefiNic, kernel: Kernel, used: NicUse) -> Outcome {
    let (dir, modules) = tftp_root(name, kernel);
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
    let outcome = run(&qemu, name);
    check_efi_boot(&outcome, kernel, &modules, used);
    outcome.check(
        outcome.contains(
            "dhcp: using the firmware's PXE Base Code's cached reply from 10.0.2.2 (no DHCP DISCOVER sent)",
        ),
        "the firmware's DHCP answer taken",
    );
    outcome
}

/// What every UEFI boot must show: netloader.efi ran on the interface `used` says, and the
/// kernel reported everything it was handed right.
fn check_efi_boot(outcome: &Outcome, kernel: Kernel, modules: &[Module], used: NicUse) {
    outcome.check(outcome.contains(UEFI_FORM), "netloader.efi started");
    let firmware_interface = outcome
        .contains("nic: UEFI Simple Network Protocol, offered by the firmware, driver snp")
        && outcome.contains("opened exclusively (the firmware's network stack stopped)");
    let taken = outcome.contains(
        ": the firmware's drivers stopped on it (DisconnectController), netloader drives it",
    );
    match used {
        NicUse::Native(driver) => outcome.check(
            taken && outcome.contains(&format!(", driver {driver}")) && !firmware_interface,
            &format!("the card taken from the firmware, netloader's {driver} driver"),
        ),
        NicUse::SnpAsBuilt => outcome.check(
            firmware_interface
                && !taken
                && outcome
                    .contains(": the firmware's network interface (SNP), as built (--efi-nic snp)"),
            "the firmware's interface, held exclusively, as built",
        ),
        NicUse::SnpRefused => outcome.check(
            firmware_interface
                && !taken
                && outcome.contains(": not taken from the firmware (DisconnectController failed"),
            "the firmware's interface, held exclusively, as the firmware kept the card",
        ),
        NicUse::SnpGivenBack => outcome.check(
            firmware_interface
                && taken
                && outcome.contains(": netloader's driver did not start (")
                && outcome
                    .contains("): back to the firmware's drivers, through their interface (SNP)"),
            "the card given back to the firmware, its interface held exclusively",
        ),
    }
    let ended = outcome.contains("efi: boot services ended (ExitBootServices)");
    let kept = outcome.contains("efi: boot services kept (the kernel asked)");
    outcome.check(
        outcome.contains(
            "nic: the firmware's drivers connected to the card again (boot services kept): done",
        ) == (taken && kept),
        "the firmware's drivers back on a taken card exactly when the kernel keeps boot services",
    );
    match kernel {
        Kernel::Mb1 => {
            scenario::check_report(outcome, Variant::Elf32, modules);
            outcome.check(ended, "ExitBootServices before a Multiboot 1 kernel");
        }
        Kernel::Mb2(variant) => check_mb2(outcome, variant, modules, ended),
        Kernel::Linux => check_linux(outcome, modules, ended),
    }
}

fn check_mb2(outcome: &Outcome, variant: Mb2Variant, modules: &[Module], ended: bool) {
    let report = parse_report2(&outcome.serial);
    outcome.check(report.is_some(), "the Multiboot 2 kernel printed no report");
    let report = report.unwrap();
    outcome.check(report.variant == variant.name(), "the variant booted");
    outcome.check(
        report.cmdline.as_deref()
            == Some(&format!(
                "{KERNEL_CMDLINE} mbtest.expect-modules={}",
                modules.len()
            )),
        "the kernel's command line",
    );
    outcome.check(report.modules.len() == modules.len(), "module count");
    for (got, want) in report.modules.iter().zip(modules) {
        outcome.check(
            got.sha256 == sha256_hex(&want.data) && got.cmdline == module_cmdline(want),
            &format!("{}: its SHA-256 and command line", want.name),
        );
    }
    let has = |tag: u32| report.tags.iter().any(|&(t, _)| t == tag);
    outcome.check(
        has(12) && has(17) && has(6) && has(4),
        "the EFI system table (12), the EFI memory map (17), the E820-style map (6, 4)",
    );
    outcome.check(
        outcome.contains("MB2 EFI64 systab=") && outcome.contains(" signature=ok"),
        "tag 12 points at the EFI system table",
    );
    let kept = variant != Mb2Variant::ExitBootServices;
    outcome.check(
        has(18) == kept && has(20) == kept && ended != kept,
        if kept {
            "header tag 7: boot services kept, tags 18 and 20"
        } else {
            "no header tag 7: ExitBootServices, no tag 18"
        },
    );
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{} {}", c.name, c.detail))
        .collect();
    outcome.check(
        failed.is_empty(),
        &format!("kernel checks failed: {failed:?}"),
    );
    outcome.check(
        ["efi64", "efi_mmap"]
            .iter()
            .all(|name| report.checks.iter().any(|c| c.name == *name && c.ok)),
        "the kernel checked the EFI tags",
    );
    outcome.check(report.verdict_pass, "verdict pass");
    outcome.check(outcome.exit_code == Some(EXIT_PASS), "exit status 33");
}

fn check_linux(outcome: &Outcome, modules: &[Module], ended: bool) {
    let report = netloader_tests::linux::parse_report(&outcome.serial);
    outcome.check(report.is_some(), "the Linux test kernel printed no report");
    let report = report.unwrap();
    // The initrds one after the other, each at a 4-byte boundary (zeros between).
    let mut initrd = Vec::new();
    for m in modules {
        initrd.resize(initrd.len().next_multiple_of(4), 0);
        initrd.extend_from_slice(&m.data);
    }
    outcome.check(
        report
            .initrd
            .as_ref()
            .is_some_and(|i| i.size == initrd.len() as u64 && i.sha256 == sha256_hex(&initrd)),
        "the initrds, concatenated, byte for byte",
    );
    outcome.check(
        report.cmdline.as_deref()
            == Some(&format!(
                "BOOT_IMAGE=/kernel {}",
                KERNEL_CMDLINE.trim_start_matches("/kernel ")
            )),
        "the kernel's command line",
    );
    outcome.check(ended, "ExitBootServices before Linux");
    outcome.check(
        outcome.contains("LX EFI signature=EL64 ") && outcome.contains("systab_signature=ok"),
        "efi_info: EL64, the system table",
    );
    outcome.check_no_failed_checks(&report.failed_checks());
    outcome.check(
        report.check("efi_info").is_some_and(|c| c.ok),
        "the kernel checked efi_info",
    );
    outcome.check(report.verdict_pass, "verdict pass");
    outcome.check(outcome.exit_code == Some(EXIT_PASS), "exit status 33");
}

/// The line netloader.efi prints about where the firmware loaded it from.
fn loaded_from(outcome: &Outcome) -> String {
    outcome
        .serial
        .lines()
        .find_map(|l| l.strip_prefix("efi: loaded from "))
        .unwrap_or_default()
        .trim_end()
        .to_string()
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

/// Boots the three kernels from `image` on `medium`, each checked; every boot must say it
/// was loaded from a path containing `from`.
fn disk_boots(
    name: &str,
    image: &Path,
    medium: Medium,
    mb2: Mb2Variant,
    from: &str,
    nic: (UefiNic, NicUse),
) {
    for kernel in Kernel::all(mb2) {
        let outcome = disk_boot(
            &format!("{name}-{}", kernel.short()),
            image,
            medium,
            kernel,
            nic,
        );
        outcome.check(
            loaded_from(&outcome).contains(from),
            &format!("started from {from}"),
        );
    }
}

#[test]
fn iso_as_cd_boots_every_kernel_on_uefi_and_bios() {
    let path = image(Form::Iso);
    let (lba, sectors) = efi_catalog_entry(&std::fs::read(path).unwrap());
    // EDK2 numbers the catalog's entries from 0 (the BIOS's default entry): the EFI entry is 1,
    // at its LBA, as long as its sector count in CD sectors.
    let expected = format!("/CDROM(0x1,0x{lba:X},0x{sectors:X}) file \\EFI\\BOOT\\BOOTX64.EFI");
    disk_boots(
        "uefi-iso-cd",
        path,
        Medium::Cdrom,
        Mb2Variant::ExitBootServices,
        &expected,
        VIRTIO_NATIVE,
    );
    let drive = [
        "-drive".to_string(),
        format!("file={},format=raw,media=cdrom,readonly=on", path.display()),
    ];
    bios_boot("bios-iso-cd-esp", &drive, "CD (El Torito, no emulation)");
    // A card netloader has a driver for that does not start (virtio-net without the modern
    // transport): given back to OVMF's VirtioNetDxe, which drives it, and used through SNP.
    disk_boot(
        "uefi-iso-cd-given-back",
        path,
        Medium::Cdrom,
        Kernel::Mb1,
        (UefiNic::VirtioNetLegacy, NicUse::SnpGivenBack),
    );
}

#[test]
fn iso_as_disk_boots_every_kernel_on_uefi_and_bios() {
    let path = image(Form::Iso);
    let iso = std::fs::read(path).unwrap();
    let (lba, sectors) = efi_catalog_entry(&iso);
    // The same entry in 512-byte blocks: EDK2 tries El Torito before the MBR.
    let expected = format!("/CDROM(0x1,0x{:X},0x{:X})", lba * 4, sectors as u32 * 4);
    disk_boots(
        "uefi-iso-disk",
        path,
        Medium::Disk,
        Mb2Variant::Elf32,
        &expected,
        E1000_NATIVE,
    );
    let (esp_start, esp_sectors) = mbr_partition(&iso, 2);
    assert_eq!(
        (esp_start, esp_sectors),
        (lba * 4, sectors as u32),
        "partition 2 is the same ESP"
    );
    // Firmware that reads only the MBR of a stick: the same image with its El Torito boot
    // record blanked boots from partition 2, the ESP inside the whole-image partition 1.
    let mut mbr_only = iso.clone();
    mbr_only[17 * 2048..18 * 2048].fill(0);
    let mbr_only_path = work_dir().join("uefi-forms-mbr-only.iso");
    std::fs::write(&mbr_only_path, &mbr_only).unwrap();
    let outcome = disk_boot(
        "uefi-iso-disk-mbr",
        &mbr_only_path,
        Medium::Disk,
        Kernel::Mb1,
        E1000_NATIVE,
    );
    let expected = format!("/HD(2,MBR,0x52444C4E,0x{esp_start:X},0x{esp_sectors:X})");
    outcome.check(
        loaded_from(&outcome).contains(&expected),
        &format!("started from the hybrid MBR's partition 2, {expected}"),
    );
    let drive = [
        "-drive".to_string(),
        format!("file={},format=raw,snapshot=on", path.display()),
    ];
    bios_boot("bios-iso-disk-esp", &drive, "ISO image as a disk (hybrid)");
}

#[test]
fn usb_image_boots_every_kernel_on_uefi_and_bios() {
    let path = image(Form::Usb);
    let usb = std::fs::read(path).unwrap();
    let (start, sectors) = mbr_partition(&usb, 2);
    let expected = format!("/USB(0x0,0x0)/HD(2,MBR,0x52444C4E,0x{start:X},0x{sectors:X})");
    disk_boots(
        "uefi-usb",
        path,
        Medium::UsbStick,
        Mb2Variant::ExitBootServices,
        &expected,
        (UefiNic::VirtioNet, NicUse::SnpAsBuilt),
    );
    let drive = [
        "-drive".to_string(),
        format!("file={},format=raw,snapshot=on", path.display()),
    ];
    bios_boot("bios-usb-esp", &drive, "USB / hard disk");
}

/// OVMF's own stack: VirtioNetDxe, SNP, EDK2's PXE driver (which took QEMU's DHCP answer and
/// fetched netloader.efi); netloader.efi takes the answer, stops the firmware's SNP (opened
/// exclusively: EDK2 stops its network stack above it), disconnects VirtioNetDxe from the card
/// and drives it with its own virtio driver. The Multiboot 2 kernel asks to keep boot services.
#[test]
fn pxe_on_virtio_net_with_ovmfs_own_driver_boots_every_kernel() {
    for kernel in Kernel::all(Mb2Variant::Elf32) {
        let name = format!("uefi-pxe-virtio-{}", kernel.short());
        let outcome = pxe_boot(&name, UefiNic::VirtioNet, kernel, NicUse::Native("virtio"));
        outcome.check(
            loaded_from(&outcome)
                .contains("/MAC(525400123456,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0)"),
            "loaded through EDK2's PXE driver on the card",
        );
        outcome.check(
            outcome.contains(
                "pxe: the firmware's PXE Base Code: started true, DHCPACK true, proxy offer false, boot server reply false",
            ),
            "the firmware's PXE state",
        );
    }
}

/// iPXE's EFI driver (efi-e1000.rom) owns the card and the boot: iPXE started netloader.efi
/// from its own LoadFile and runs beneath it, so it will not be disconnected from the card;
/// its SNP carries netloader's frames, its PXE Base Code the DHCP answer (also as the boot
/// server's reply).
#[test]
fn pxe_on_e1000_with_ipxes_efi_driver_boots_every_kernel() {
    for kernel in Kernel::all(Mb2Variant::ExitBootServices) {
        let name = format!("uefi-pxe-e1000-{}", kernel.short());
        let outcome = pxe_boot(&name, UefiNic::E1000Ipxe, kernel, NicUse::SnpRefused);
        outcome.check(
            outcome.contains("iPXE") && loaded_from(&outcome).contains("/MAC(525400123456,0x1)"),
            "loaded by iPXE on the card",
        );
        outcome.check(
            outcome.contains(
                "pxe: the firmware's PXE Base Code: started true, DHCPACK true, proxy offer false, boot server reply true",
            ),
            "iPXE's PXE state",
        );
    }
}

/// `netloader serve` boots a UEFI PC: OVMF on virtio-net on a LAN whose dnsmasq gives
/// addresses only, serve (proxyDHCP) naming its built-in netloader.efi; the firmware's PXE
/// takes the address from dnsmasq and the boot file from serve, and so does netloader.efi
/// from the firmware's answer; the config and kernel come from serve's folder.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn serve_boots_a_uefi_pxe_client() {
    let name = "uefi-serve";
    netns::require_root(name);
    let (dir, modules) = tftp_root(name, Kernel::Mb1);
    // serve's own netloader.efi, built in.
    std::fs::remove_file(dir.join("netloader.efi")).unwrap();
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
    let outcome = run(&qemu, name);
    outcome.check(
        outcome.contains(UEFI_FORM),
        &format!("netloader.efi did not run\n{}", lan.server_logs()),
    );
    check_efi_boot(&outcome, Kernel::Mb1, &modules, NicUse::Native("virtio"));
    outcome.check(
        outcome.contains("pxe: the firmware's PXE Base Code: started true, DHCPACK true, proxy offer true, boot server reply false"),
        "the firmware kept dnsmasq's ACK and serve's proxy offer",
    );
    outcome.check(
        outcome
            .contains("dhcp: using the firmware's PXE Base Code's cached reply from 192.168.77."),
        "netloader.efi took the firmware's answer",
    );
    let log = lan.serve_log();
    let said = |text: &str| log.lines().any(|l| l.contains(text));
    let built_in = forms::build(Form::Efi).unwrap().len();
    for line in [
        "serve: netloader.efi: built in".to_string(),
        "dhcp: 52:54:00:00:16:01 PXE x64 UEFI (arch 7): proxy OFFER (no address): boot file netloader.efi from 192.168.77.2".to_string(),
        format!(" netloader.efi: {built_in} bytes in "),
    ] {
        outcome.check(said(&line), &format!("serve's log should say {line:?}\n{log}"));
    }
    outcome.check(
        !log.lines()
            .any(|l| l.contains(": OFFER 192.") || l.contains(": ACK 192.")),
        &format!("serve gave an address in proxy mode\n{log}"),
    );
}
