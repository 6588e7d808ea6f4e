//! netloader.efi, the UEFI application, and where it enters the host tool.
//!
//! build.rs builds the runtime for `x86_64-unknown-uefi` (runtime/src/efi/: the firmware's
//! network, memory map and ExitBootServices) and [`BUILT_IN`] carries it: `netloader build
//! --form efi` writes it, the ISO and the USB image carry it as `EFI/BOOT/BOOTX64.EFI` in an
//! EFI system partition, and `netloader serve` hands it to UEFI PXE clients.

use object::LittleEndian as LE;
use object::pe::{IMAGE_FILE_MACHINE_AMD64, IMAGE_SUBSYSTEM_EFI_APPLICATION};
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};

/// The UEFI application built into this netloader (see the module's comment).
pub const BUILT_IN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/netloader.efi"));

/// Its name on a TFTP server (`netloader serve` uses it; `--form efi` suggests it).
pub const FILE_NAME: &str = "netloader.efi";

/// Where firmware looks on removable media for an x64 boot program (UEFI 2.10, 3.5.1.1).
pub const ESP_BOOT_PATH: &str = "EFI/BOOT/BOOTX64.EFI";

/// The marker netloader.efi carries just before its NIC policy byte (`NIC_POLICY` in
/// runtime/src/efi/pci.rs, which reads the byte with a volatile load, so it stays a byte of
/// the file that can be changed without a rebuild).
pub const NIC_POLICY_MARKER: &[u8; 24] = b"netloader efi-nic policy";

/// Which network interface netloader.efi drives (`netloader build --efi-nic`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum NicPolicy {
    /// netloader's own driver for a card it has one for, after the firmware's drivers are
    /// disconnected from it; the firmware's interface (SNP) for any other card, when the
    /// firmware will not let go of it, or when the driver does not start.
    #[default]
    Auto,
    /// Always the firmware's interface (SNP), as GRUB and iPXE's snponly.efi do.
    Snp,
}

/// `app` with its NIC policy byte set. `Auto`, the byte the build leaves, changes nothing (so
/// an application without the marker passes); `Snp` needs exactly one marker.
pub fn with_nic_policy(app: &[u8], policy: NicPolicy) -> anyhow::Result<Vec<u8>> {
    let mut out = app.to_vec();
    if policy == NicPolicy::Auto {
        return Ok(out);
    }
    let mut found = app
        .windows(NIC_POLICY_MARKER.len())
        .enumerate()
        .filter(|(_, w)| w == NIC_POLICY_MARKER)
        .map(|(at, _)| at + NIC_POLICY_MARKER.len());
    match (found.next(), found.next()) {
        (Some(at), None) if at < out.len() => {
            out[at] = policy as u8;
            Ok(out)
        }
        _ => anyhow::bail!(
            "--efi-nic snp: the UEFI application has no single netloader NIC policy marker (is it netloader.efi?)"
        ),
    }
}

/// Checks that `app` is what firmware starts from an ESP or by PXE: a PE32+ image for x86-64
/// whose subsystem is EFI application (10). Drivers and 32-bit images are refused. The error
/// says what was found.
pub fn check_app(app: &[u8]) -> Result<(), String> {
    let pe = PeFile64::parse(app).map_err(|e| {
        format!("not a 64-bit PE (PE32+) image ({e}): build it for x86_64-unknown-uefi")
    })?;
    let headers = pe.nt_headers();
    let machine = headers.file_header().machine.get(LE);
    if machine != IMAGE_FILE_MACHINE_AMD64 {
        return Err(format!(
            "a PE image for machine {machine:#06x}, not x86-64 (0x8664)"
        ));
    }
    let subsystem = headers.optional_header().subsystem();
    if subsystem != IMAGE_SUBSYSTEM_EFI_APPLICATION {
        return Err(format!(
            "PE subsystem {subsystem}, not an EFI application (10): a driver or an OS program"
        ));
    }
    Ok(())
}

/// The smallest PE32+ headers `object` accepts (DOS header, PE signature, COFF header, an
/// optional header with no data directories and no sections), for the image writers' tests.
#[cfg(test)]
pub(crate) fn test_pe(machine: u16, subsystem: u16) -> Vec<u8> {
    let mut image = vec![0u8; 0x200];
    image[..2].copy_from_slice(b"MZ");
    image[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    image[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    image[coff..coff + 2].copy_from_slice(&machine.to_le_bytes());
    let optional_len = 112u16; // PE32+ without data directories
    image[coff + 16..coff + 18].copy_from_slice(&optional_len.to_le_bytes());
    image[coff + 18..coff + 20].copy_from_slice(&0x0022u16.to_le_bytes()); // executable
    let optional = coff + 20;
    image[optional..optional + 2].copy_from_slice(&0x20Bu16.to_le_bytes());
    image[optional + 32..optional + 36].copy_from_slice(&0x1000u32.to_le_bytes()); // section alignment
    image[optional + 36..optional + 40].copy_from_slice(&0x200u32.to_le_bytes()); // file alignment
    image[optional + 56..optional + 60].copy_from_slice(&0x1000u32.to_le_bytes()); // image size
    image[optional + 60..optional + 64].copy_from_slice(&0x200u32.to_le_bytes()); // headers size
    image[optional + 68..optional + 70].copy_from_slice(&subsystem.to_le_bytes());
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_x64_efi_applications_pass() {
        assert_eq!(check_app(&test_pe(0x8664, 10)), Ok(()));
        let driver = check_app(&test_pe(0x8664, 11)).unwrap_err();
        assert!(driver.contains("subsystem 11"), "{driver}");
        let ia32 = check_app(&test_pe(0x014C, 10)).unwrap_err();
        assert!(ia32.contains("0x014c"), "{ia32}");
        let garbage = check_app(b"not a PE file").unwrap_err();
        assert!(garbage.contains("not a 64-bit PE"), "{garbage}");
        assert!(check_app(&[]).is_err());
    }

    #[test]
    fn the_nic_policy_is_the_byte_after_the_one_marker() {
        let at = BUILT_IN
            .windows(NIC_POLICY_MARKER.len())
            .position(|w| w == NIC_POLICY_MARKER)
            .expect("netloader.efi carries the marker")
            + NIC_POLICY_MARKER.len();
        assert_eq!(BUILT_IN[at], 0, "the build leaves auto");
        assert_eq!(
            with_nic_policy(BUILT_IN, NicPolicy::Auto).unwrap(),
            BUILT_IN
        );
        let snp = with_nic_policy(BUILT_IN, NicPolicy::Snp).unwrap();
        assert_eq!(snp[at], 1);
        let differing = snp.iter().zip(BUILT_IN).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 1, "one byte changed");
        assert_eq!(check_app(&snp), Ok(()));
        let no_marker = with_nic_policy(&test_pe(0x8664, 10), NicPolicy::Snp).unwrap_err();
        assert!(
            no_marker.to_string().contains("--efi-nic snp"),
            "{no_marker}"
        );
        let mut twice = BUILT_IN.to_vec();
        twice.extend_from_slice(NIC_POLICY_MARKER);
        twice.push(0);
        assert!(with_nic_policy(&twice, NicPolicy::Snp).is_err());
    }
}
