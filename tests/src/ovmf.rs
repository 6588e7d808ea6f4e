//! UEFI boots: QEMU with OVMF (Debian's `ovmf`) under TCG, on the same harness as the BIOS
//! boots (qemu.rs: the serial log kept, isa-debug-exit, a generous hang guard).
//!
//! - **Firmware**: the 4 MiB OVMF build as two pflash drives, the code read-only and a fresh
//!   copy of the variable store per boot, so every boot starts from the firmware's defaults and
//!   no boot option a previous boot recorded decides this one.
//! - **Machine**: q35, OVMF's own platform. The device under test gets `bootindex=0` (QEMU hands
//!   the order to OVMF through fw_cfg), so OVMF tries it first.
//! - **Logs**: COM1 to `<name>.log` (OVMF mirrors its text console there); OVMF's debug port
//!   0x402 to `<name>.firmware.log`.
//! - **Network cards**: virtio-net with OVMF's own VirtioNetDxe (`romfile=` empty keeps QEMU's
//!   iPXE ROM out), e1000 with iPXE's EFI driver from QEMU's `efi-e1000.rom` (Debian's
//!   ipxe-qemu): the two kinds of firmware network stack PCs have, as [`UefiNic`] says.

use std::path::Path;
use std::time::Duration;

use crate::qemu::{Qemu, work_dir};

/// OVMF's code, read-only (Debian's `ovmf`, installed by scripts/install-deps).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// The variable store OVMF_CODE_4M pairs with; each boot gets its own copy.
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// OVMF under TCG takes 5-15 s to its boot manager on an idle machine; this only guards
/// against a hang on a loaded one.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// A q35 PC with OVMF and `memory_mib` of RAM; add the boot device with `bootindex=0`.
pub fn qemu(name: &str, memory_mib: u32) -> Qemu {
    let mut qemu = Qemu::new(name, "q35", memory_mib);
    qemu.timeout(HANG_GUARD).args(firmware_args(name));
    qemu
}

/// The firmware's arguments for the boot `name` (q35 is the caller's): OVMF's code read-only,
/// a fresh copy of its variable store, its debug port to `<name>.firmware.log`.
pub fn firmware_args(name: &str) -> Vec<String> {
    if !Path::new(OVMF_CODE).exists() || !Path::new(OVMF_VARS).exists() {
        panic!(
            "{OVMF_CODE} or {OVMF_VARS} is missing: install Debian's ovmf (scripts/install-deps does it)"
        );
    }
    let vars = work_dir().join(format!("{name}.vars.fd"));
    std::fs::copy(OVMF_VARS, &vars)
        .unwrap_or_else(|e| panic!("copy {OVMF_VARS} to {}: {e}", vars.display()));
    let firmware_log = work_dir().join(format!("{name}.firmware.log"));
    vec![
        "-drive".to_string(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
        "-drive".to_string(),
        format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
        "-chardev".to_string(),
        format!("file,id=fwlog,path={}", firmware_log.display()),
        "-device".to_string(),
        "isa-debugcon,iobase=0x402,chardev=fwlog".to_string(),
    ]
}

/// The firmware network stacks a UEFI PC boots from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UefiNic {
    /// virtio-net with OVMF's VirtioNetDxe, SNP and EDK2's PXE driver.
    VirtioNet,
    /// e1000 with the iPXE EFI driver of QEMU's efi-e1000.rom: iPXE does DHCP and TFTP.
    E1000Ipxe,
    /// virtio-net in legacy mode only (`disable-modern=on`) with OVMF's VirtioNetDxe, which
    /// drives legacy devices too; netloader's virtio driver (modern transport only) refuses it.
    VirtioNetLegacy,
    /// virtio-net with the iPXE EFI driver of QEMU's efi-virtio.rom (QEMU's default ROM for
    /// it), which OVMF prefers to its own VirtioNetDxe: iPXE's EFI build on virtio-net.
    VirtioNetIpxe,
}

impl UefiNic {
    /// The `-device` argument for this card on `netdev`, first in the boot order.
    pub fn device(self, netdev: &str, mac: &str) -> String {
        format!("{},bootindex=0", self.card(netdev, mac))
    }

    /// The `-device` argument for this card on `netdev`, not a boot device.
    pub fn card(self, netdev: &str, mac: &str) -> String {
        match self {
            UefiNic::VirtioNet => format!("virtio-net-pci,netdev={netdev},mac={mac},romfile="),
            UefiNic::VirtioNetLegacy => format!(
                "virtio-net-pci,netdev={netdev},mac={mac},romfile=,disable-modern=on,disable-legacy=off"
            ),
            UefiNic::E1000Ipxe => {
                format!("e1000,netdev={netdev},mac={mac},romfile=efi-e1000.rom")
            }
            UefiNic::VirtioNetIpxe => {
                format!("virtio-net-pci,netdev={netdev},mac={mac},romfile=efi-virtio.rom")
            }
        }
    }
}

/// The `-drive` and `-device` arguments that attach `image` as the first boot device, the file
/// itself never written (a CD read-only; a disk with QEMU's temporary overlay, as IDE disks
/// cannot be read-only), so a BIOS boot of the same file may run beside.
pub fn boot_drive(image: &Path, how: Medium) -> Vec<String> {
    let drive = format!(
        "if=none,id=boot,format=raw,{},file={}",
        if how == Medium::Cdrom {
            "readonly=on"
        } else {
            "snapshot=on"
        },
        image.display()
    );
    let mut args = vec!["-drive".to_string(), drive];
    match how {
        Medium::Cdrom => args.extend(["-device".into(), "ide-cd,drive=boot,bootindex=0".into()]),
        Medium::Disk => args.extend(["-device".into(), "ide-hd,drive=boot,bootindex=0".into()]),
        Medium::UsbStick => args.extend([
            "-device".into(),
            "qemu-xhci,id=xhci".into(),
            "-device".into(),
            "usb-storage,bus=xhci.0,drive=boot,bootindex=0".into(),
        ]),
    }
    args
}

/// How an image is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Medium {
    /// A CD drive (AHCI on q35, IDE on pc).
    Cdrom,
    /// A hard disk.
    Disk,
    /// A USB stick on an xHCI controller.
    UsbStick,
}
