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
    /// A disk image for a USB stick or hard disk: an MBR and one active partition.
    Usb,
    /// A PXE network boot program (netloader.pxe) for a card's PXE ROM to fetch by TFTP.
    Pxe,
    /// A PCI option ROM for a network card's flash (or QEMU's `romfile=`); see --nic, --pci-id.
    Rom,
}

impl Form {
    pub fn name(self) -> &'static str {
        match self {
            Form::Floppy => "floppy",
            Form::Iso => "iso",
            Form::Usb => "usb",
            Form::Pxe => "pxe",
            Form::Rom => "rom",
        }
    }
}

/// The file on the ISO that holds the CD boot sector and the runtime image.
pub const ISO_BOOT_FILE: &str = "NETLOADR.BIN";
const ISO_VOLUME_ID: &str = "NETLOADER";
/// A fixed disk signature keeps the images deterministic ("NLDR").
const DISK_SIGNATURE: u32 = 0x5244_4c4e;

/// What the user adds to an image.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// A config to embed (already checked with the runtime's parser by the caller, see
    /// `check_config`).
    pub config: Option<Vec<u8>>,
    /// The PXE form: when to drive the card through the PXE ROM's UNDI.
    pub undi: crate::pxe::UndiPolicy,
}

/// Check a config with the parser the runtime uses; the error names the file, line and column.
pub fn check_config(name: &str, text: &[u8]) -> anyhow::Result<()> {
    netloader_proto::config::Config::parse(text)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("E-CONFIG-SYNTAX: {name}: {e}"))
}

pub fn build(form: Form) -> anyhow::Result<Vec<u8>> {
    build_with(form, &Options::default())
}

pub fn build_with(form: Form, options: &Options) -> anyhow::Result<Vec<u8>> {
    let runtime = match &options.config {
        Some(config) => stage1::runtime_with_config(stage1::RUNTIME_IMAGE, config)?,
        None => stage1::RUNTIME_IMAGE.to_vec(),
    };
    match form {
        Form::Floppy => floppy_from(&runtime),
        Form::Iso => iso_from(&runtime),
        Form::Usb => usb_from(&runtime),
        Form::Pxe => crate::pxe::nbp_with(&runtime, options.undi),
        Form::Rom => rom(options, &crate::rom::RomOptions::default()),
        #[allow(unreachable_patterns)]
        _ => {
            anyhow::ensure!(
                options.config.is_none(),
                "--config is not supported for --form {} yet",
                form.name()
            );
            build_plain(form)
        }
    }
}

fn build_plain(form: Form) -> anyhow::Result<Vec<u8>> {
    match form {
        Form::Floppy => floppy(),
        Form::Iso => iso(),
        Form::Usb => usb(),
        Form::Pxe => pxe(),
        Form::Rom => rom(&Options::default(), &crate::rom::RomOptions::default()),
    }
}

/// The option ROM form, for one NIC family (`build_with` makes the default, e1000).
pub fn rom(options: &Options, rom: &crate::rom::RomOptions) -> anyhow::Result<Vec<u8>> {
    let image = rom.nic.runtime_image(rom.standalone);
    let runtime = match &options.config {
        Some(config) if rom.standalone => stage1::runtime_with_config(image, config)?,
        Some(_) => anyhow::bail!(
            "E-ROM-CONFIG: the option ROM's first stage carries no config (it starts netloader.pxe, which reads it): embed the config in netloader.pxe (`netloader build --form pxe --config FILE`), or build the ROM with --standalone"
        ),
        None => image.to_vec(),
    };
    Ok(crate::rom::build(&runtime, rom)?)
}

/// Boot sector in sector 0, the runtime from sector 1 inside the FAT12 reserved area.
pub fn floppy() -> anyhow::Result<Vec<u8>> {
    floppy_from(stage1::RUNTIME_IMAGE)
}

fn floppy_from(runtime: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut sector = stage1::boot_sector(Placement {
        form: BootForm::Floppy,
        first_sector: 1,
    })?;
    sector[3..11].copy_from_slice(b"NETLOADR"); // OEM name, beside the BPB fat12 writes
    let image = fat12::build_floppy(&sector, &stage1::pad(runtime, BootForm::Floppy), &[])?;
    Ok(image)
}

/// The boot file is one CD sector holding the boot sector, then the runtime image. The BIOS
/// loads the first CD sector (El Torito); stage 1 reads the rest. Booted as a disk, the same
/// boot sector in the system area (with a partition table) reads the same bytes in 512-byte
/// sectors.
pub fn iso() -> anyhow::Result<Vec<u8>> {
    iso_from(stage1::RUNTIME_IMAGE)
}

fn iso_from(runtime: &[u8]) -> anyhow::Result<Vec<u8>> {
    let runtime = stage1::pad(runtime, BootForm::Cdrom);
    let boot_file_len = iso9660::SECTOR_SIZE + runtime.len();
    let layout = iso9660::plan(&[(ISO_BOOT_FILE, boot_file_len)])?;
    let runtime_lba = layout.file_lba[0] + 1;

    let cd_sector = stage1::boot_sector(Placement {
        form: BootForm::Cdrom,
        first_sector: runtime_lba,
    })?;
    let mut boot_file = Vec::with_capacity(boot_file_len);
    boot_file.extend_from_slice(&cd_sector);
    boot_file.resize(iso9660::SECTOR_SIZE, 0);
    boot_file.extend_from_slice(&runtime);

    let mut mbr_sector = stage1::boot_sector(Placement {
        form: BootForm::IsoAsDisk,
        first_sector: runtime_lba * (iso9660::SECTOR_SIZE / 512) as u32,
    })?;
    mbr::write_partition_table(
        &mut mbr_sector,
        &[layout.hybrid_partition()],
        DISK_SIGNATURE,
    )?;

    let image = iso9660::write(
        &layout,
        ISO_VOLUME_ID,
        &[IsoFile {
            name: ISO_BOOT_FILE,
            data: &boot_file,
        }],
        ElToritoBoot {
            file_index: 0,
            load_sectors: 4,
        },
        Some(&mbr_sector),
    )?;
    Ok(image)
}

/// First sector of the USB image's partition: one whole 64 x 32 cylinder (1 MiB) in, so the
/// partition starts on a cylinder boundary for CHS readers and on a 1 MiB boundary for
/// flash erase blocks, as partitioning tools do.
pub const USB_PARTITION_LBA: u32 = mbr::HEADS * mbr::SECTORS_PER_TRACK;
/// "Non-FS data": the partition holds the raw runtime image, no file system, and the type
/// says so, so operating systems neither mount it nor mistake it for a damaged volume.
pub const USB_PARTITION_TYPE: u8 = 0xda;
/// The image is a whole number of 64 x 32 cylinders: 1 MiB each.
const USB_CYLINDER_BYTES: usize = (mbr::HEADS * mbr::SECTORS_PER_TRACK) as usize * 512;

/// The MBR (the shared boot sector, which reads the runtime with INT 13h AH=42h or CHS)
/// and one active partition holding the runtime image from its first sector, the whole image
/// padded to whole cylinders. Written to a stick it boots as the BIOS's first hard disk.
pub fn usb() -> anyhow::Result<Vec<u8>> {
    usb_from(stage1::RUNTIME_IMAGE)
}

fn usb_from(runtime: &[u8]) -> anyhow::Result<Vec<u8>> {
    let runtime = stage1::pad(runtime, BootForm::Disk);
    let partition_start = USB_PARTITION_LBA as usize * 512;
    let image_len =
        (partition_start + runtime.len()).div_ceil(USB_CYLINDER_BYTES) * USB_CYLINDER_BYTES;
    let partition = mbr::PartitionEntry {
        bootable: true,
        kind: USB_PARTITION_TYPE,
        start_lba: USB_PARTITION_LBA,
        sectors: u32::try_from((image_len - partition_start) / 512)?,
    };
    let mut sector = stage1::boot_sector(Placement {
        form: BootForm::Disk,
        first_sector: USB_PARTITION_LBA,
    })?;
    mbr::write_partition_table(&mut sector, &[partition], DISK_SIGNATURE)?;

    let mut image = vec![0u8; image_len];
    image[..512].copy_from_slice(&sector);
    image[partition_start..partition_start + runtime.len()].copy_from_slice(&runtime);
    Ok(image)
}

/// The PXE entry, then the runtime image (see pxe.rs).
pub fn pxe() -> anyhow::Result<Vec<u8>> {
    crate::pxe::nbp(stage1::RUNTIME_IMAGE)
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
        assert_eq!(
            &image[lba * 512..lba * 512 + 64],
            &stage1::RUNTIME_IMAGE[..64]
        );
        // The CD boot sector sits one CD sector before the runtime.
        let cd = (lba / 4 - 1) * 2048;
        assert_eq!(image[cd + 0x1a6], BootForm::Cdrom as u8);
        assert_eq!(
            u32::from_le_bytes(image[cd + 0x1b0..cd + 0x1b4].try_into().unwrap()) as usize,
            lba / 4
        );
    }

    /// Independent readers accept the real images (the tools are installed by scripts/test).
    #[test]
    fn xorriso_fdisk_and_mtools_read_the_real_images() {
        use crate::mbr::tests::{run_tool, temp_path};
        let iso_path = temp_path("forms.iso");
        std::fs::write(&iso_path, iso().unwrap()).unwrap();
        let iso_arg = iso_path.to_str().unwrap();
        let report = run_tool(
            "xorriso",
            &["-indev", iso_arg, "-report_el_torito", "plain"],
        );
        let entry = report
            .lines()
            .find(|l| l.starts_with("El Torito boot img :   1  BIOS"));
        let entry = entry.unwrap_or_else(|| panic!("no BIOS boot entry in:\n{report}"));
        assert!(
            entry.contains(" y ") && entry.contains(" none "),
            "bootable, no emulation: {entry}"
        );
        assert!(
            entry.split_whitespace().any(|w| w == "4"),
            "load size 4: {entry}"
        );
        let table = run_tool("fdisk", &["-l", iso_arg]);
        let line = table
            .lines()
            .find(|l| l.contains(&format!("{iso_arg}1")))
            .expect(&table);
        assert!(line.contains('*'), "the hybrid partition is active: {line}");
        let floppy_path = temp_path("forms.img");
        std::fs::write(&floppy_path, floppy().unwrap()).unwrap();
        let info = run_tool("minfo", &["-i", floppy_path.to_str().unwrap(), "::"]);
        assert!(info.contains("NETLOADER"), "volume label: {info}");
        let _ = std::fs::remove_file(iso_path);
        let _ = std::fs::remove_file(floppy_path);
    }

    #[test]
    fn images_are_deterministic() {
        assert_eq!(iso().unwrap(), iso().unwrap());
        assert_eq!(floppy().unwrap(), floppy().unwrap());
        assert_eq!(usb().unwrap(), usb().unwrap());
    }

    #[test]
    fn usb_partition_entry_covers_the_rest_of_the_image() {
        let image = usb().unwrap();
        assert_eq!(image.len() % (1024 * 1024), 0, "whole 64 x 32 cylinders");
        let entry = &image[0x1be..0x1ce];
        assert_eq!(entry[0], 0x80, "active");
        assert_eq!(
            &entry[1..4],
            &[0, 1, 1],
            "CHS of LBA 2048: cylinder 1, head 0, sector 1"
        );
        assert_eq!(entry[4], USB_PARTITION_TYPE);
        let last_cylinder = (image.len() / (1024 * 1024) - 1) as u8;
        assert_eq!(
            &entry[5..8],
            &[63, 32, last_cylinder],
            "ends at the image's last sector"
        );
        assert_eq!(u32::from_le_bytes(entry[8..12].try_into().unwrap()), 2048);
        let sectors = u32::from_le_bytes(entry[12..16].try_into().unwrap()) as usize;
        assert_eq!(2048 + sectors, image.len() / 512);
        assert!(
            image[0x1ce..0x1fe].iter().all(|&b| b == 0),
            "the other three entries are empty"
        );
        assert_eq!(&image[510..512], &[0x55, 0xaa]);
    }

    #[test]
    fn usb_boot_sector_points_at_the_runtime_in_the_partition() {
        let image = usb().unwrap();
        assert_eq!(image[0x1a6], BootForm::Disk as u8);
        let lba = u32::from_le_bytes(image[0x1b0..0x1b4].try_into().unwrap()) as usize;
        assert_eq!(lba, 2048);
        let count = u16::from_le_bytes([image[0x1a4], image[0x1a5]]) as usize;
        assert_eq!(count, stage1::RUNTIME_IMAGE.len().div_ceil(512));
        let runtime = &image[lba * 512..lba * 512 + stage1::RUNTIME_IMAGE.len()];
        assert_eq!(runtime, stage1::RUNTIME_IMAGE);
        assert!(
            image[512..lba * 512].iter().all(|&b| b == 0),
            "nothing between the MBR and the partition"
        );
        assert!(
            image[(lba + count) * 512..].iter().all(|&b| b == 0),
            "zero padding after the runtime"
        );
    }

    #[test]
    fn fdisk_reads_the_usb_image() {
        use crate::mbr::tests::{run_tool, temp_path};
        let image = usb().unwrap();
        let path = temp_path("forms.usb");
        std::fs::write(&path, &image).unwrap();
        let arg = path.to_str().unwrap();
        let report = run_tool("fdisk", &["-l", arg]);
        std::fs::remove_file(&path).ok();
        assert!(report.contains("0x52444c4e"), "disk signature: {report}");
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("{arg}1")))
            .expect(&report);
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Device Boot Start End Sectors Size Id Type
        let last = (image.len() / 512 - 1).to_string();
        let sectors = (image.len() / 512 - 2048).to_string();
        assert_eq!(
            &fields[1..5],
            &["*", "2048", last.as_str(), sectors.as_str()],
            "{line}"
        );
        assert_eq!(fields[6], "da", "{line}");
        assert!(
            !report.contains(&format!("{arg}2")),
            "one partition only: {report}"
        );
    }
}
