//! Each bootable form as one function: the embedded runtime in, the image's bytes out.

use crate::iso9660::{self, ElToritoBoot, IsoFile};
use crate::stage1::{self, BootForm, Placement};
use crate::{fat12, mbr};

/// The image forms `netloader build --form` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Form {
    /// A 1.44 MB floppy image (also a valid FAT12 volume).
    Floppy,
    /// An El Torito CD image that also boots when written to a USB stick (hybrid MBR).
    Iso,
}

impl Form {
    pub fn name(self) -> &'static str {
        match self {
            Form::Floppy => "floppy",
            Form::Iso => "iso",
        }
    }
}

/// The file on the ISO that holds the CD boot sector and the runtime image.
pub const ISO_BOOT_FILE: &str = "NETLOADR.BIN";
const ISO_VOLUME_ID: &str = "NETLOADER";
/// A fixed disk signature keeps the images deterministic ("NLDR").
const DISK_SIGNATURE: u32 = 0x5244_4c4e;

pub fn build(form: Form) -> anyhow::Result<Vec<u8>> {
    match form {
        Form::Floppy => floppy(),
        Form::Iso => iso(),
    }
}

/// Boot sector in sector 0, the runtime from sector 1 inside the FAT12 reserved area.
pub fn floppy() -> anyhow::Result<Vec<u8>> {
    let mut sector = stage1::boot_sector(Placement { form: BootForm::Floppy, first_sector: 1 })?;
    sector[3..11].copy_from_slice(b"NETLOADR"); // OEM name, beside the BPB fat12 writes
    let image = fat12::build_floppy(&sector, &stage1::padded_image(BootForm::Floppy), &[])?;
    Ok(image)
}

/// The boot file is one CD sector holding the boot sector, then the runtime image. The BIOS
/// loads the first CD sector (El Torito); stage 1 reads the rest. Booted as a disk, the same
/// boot sector in the system area (with a partition table) reads the same bytes in 512-byte
/// sectors.
pub fn iso() -> anyhow::Result<Vec<u8>> {
    let runtime = stage1::padded_image(BootForm::Cdrom);
    let boot_file_len = iso9660::SECTOR_SIZE + runtime.len();
    let layout = iso9660::plan(&[(ISO_BOOT_FILE, boot_file_len)])?;
    let runtime_lba = layout.file_lba[0] + 1;

    let cd_sector = stage1::boot_sector(Placement { form: BootForm::Cdrom, first_sector: runtime_lba })?;
    let mut boot_file = Vec::with_capacity(boot_file_len);
    boot_file.extend_from_slice(&cd_sector);
    boot_file.resize(iso9660::SECTOR_SIZE, 0);
    boot_file.extend_from_slice(&runtime);

    let mut mbr_sector = stage1::boot_sector(Placement {
        form: BootForm::IsoAsDisk,
        first_sector: runtime_lba * (iso9660::SECTOR_SIZE / 512) as u32,
    })?;
    mbr::write_partition_table(&mut mbr_sector, &[layout.hybrid_partition()], DISK_SIGNATURE)?;

    let image = iso9660::write(
        &layout,
        ISO_VOLUME_ID,
        &[IsoFile { name: ISO_BOOT_FILE, data: &boot_file }],
        ElToritoBoot { file_index: 0, load_sectors: 4 },
        Some(&mbr_sector),
    )?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floppy_is_exactly_1440_kib_with_the_runtime_at_sector_1() {
        let image = floppy().unwrap();
        assert_eq!(image.len(), 1_474_560);
        assert_eq!(&image[510..512], &[0x55, 0xaa]);
        assert_eq!(image[0x1a6], BootForm::Floppy as u8);
        assert_eq!(&image[512..512 + 64], &stage1::RUNTIME_IMAGE[..64]);
    }

    #[test]
    fn iso_runtime_is_where_both_boot_sectors_point() {
        let image = iso().unwrap();
        assert_eq!(image.len() % (1024 * 1024), 0);
        let lba = u32::from_le_bytes(image[0x1b0..0x1b4].try_into().unwrap()) as usize;
        assert_eq!(image[0x1a6], BootForm::IsoAsDisk as u8);
        assert_eq!(&image[lba * 512..lba * 512 + 64], &stage1::RUNTIME_IMAGE[..64]);
        // The CD boot sector sits one CD sector before the runtime.
        let cd = (lba / 4 - 1) * 2048;
        assert_eq!(image[cd + 0x1a6], BootForm::Cdrom as u8);
        assert_eq!(u32::from_le_bytes(image[cd + 0x1b0..cd + 0x1b4].try_into().unwrap()) as usize, lba / 4);
    }

    /// Independent readers accept the real images (the tools are installed by scripts/test).
    #[test]
    fn xorriso_fdisk_and_mtools_read_the_real_images() {
        use crate::mbr::tests::{run_tool, temp_path};
        let iso_path = temp_path("forms.iso");
        std::fs::write(&iso_path, iso().unwrap()).unwrap();
        let iso_arg = iso_path.to_str().unwrap();
        if let Some(report) = run_tool("xorriso", &["-indev", iso_arg, "-report_el_torito", "plain"]) {
            let entry = report.lines().find(|l| l.starts_with("El Torito boot img :   1  BIOS"));
            let entry = entry.unwrap_or_else(|| panic!("no BIOS boot entry in:\n{report}"));
            assert!(entry.contains(" y ") && entry.contains(" none "), "bootable, no emulation: {entry}");
            assert!(entry.split_whitespace().any(|w| w == "4"), "load size 4: {entry}");
        }
        if let Some(table) = run_tool("fdisk", &["-l", iso_arg]) {
            let line = table.lines().find(|l| l.contains(&format!("{iso_arg}1"))).expect(&table);
            assert!(line.contains('*'), "the hybrid partition is active: {line}");
        }
        let floppy_path = temp_path("forms.img");
        std::fs::write(&floppy_path, floppy().unwrap()).unwrap();
        if let Some(info) = run_tool("minfo", &["-i", floppy_path.to_str().unwrap(), "::"]) {
            assert!(info.contains("NETLOADER"), "volume label: {info}");
        }
        let _ = std::fs::remove_file(iso_path);
        let _ = std::fs::remove_file(floppy_path);
    }

    #[test]
    fn images_are_deterministic() {
        assert_eq!(iso().unwrap(), iso().unwrap());
        assert_eq!(floppy().unwrap(), floppy().unwrap());
    }
}
