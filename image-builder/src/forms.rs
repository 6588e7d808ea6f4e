//! Each bootable form as one function: the embedded runtime in, the image's bytes out.

use crate::iso9660::{self, BootCatalog, ElToritoBoot, IsoFile};
use crate::stage1::{self, BootForm, Placement};
use crate::{efi, fat, mbr};

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
    /// A UEFI network boot program (netloader.efi) for a firmware's PXE boot, also carried in
    /// the ISO's and USB image's EFI system partition.
    Efi,
}

impl Form {
    pub fn name(self) -> &'static str {
        match self {
            Form::Floppy => "floppy",
            Form::Iso => "iso",
            Form::Usb => "usb",
            Form::Pxe => "pxe",
            Form::Rom => "rom",
            Form::Efi => "efi",
        }
    }
}

/// The file on the ISO that holds the CD boot sector and the runtime image.
pub const ISO_BOOT_FILE: &str = "NETLOADR.BIN";
/// The ISO's EFI system partition: a FAT image holding `EFI/BOOT/BOOTX64.EFI`, named by the
/// El Torito EFI entry and, in the hybrid MBR, by partition 2.
pub const ISO_ESP_FILE: &str = "EFIBOOT.IMG";
/// The hybrid MBR's whole-image partition when partition 2 is the ESP inside it: type 0
/// ("empty"), as Debian's hybrid ISOs have it, because UEFI firmware skips type-0
/// entries while it refuses a table whose partitions overlap (EDK2's PartitionValidMbr), and
/// the ESP lies inside the whole image. BIOSes boot the MBR's code whatever the types say.
pub const ISO_HYBRID_TYPE_BESIDE_ESP: u8 = 0x00;
const ISO_VOLUME_ID: &str = "NETLOADER";
/// A fixed disk signature keeps the images deterministic ("NLDR").
const DISK_SIGNATURE: u32 = 0x5244_4c4e;

/// What the user adds to an image.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// A config to embed (already checked with the runtime's parser by the caller, see
    /// `check_config`). It reaches the BIOS runtime; netloader.efi does not take one yet.
    pub config: Option<Vec<u8>>,
    /// Which BIOS runtime the floppy, ISO, USB and PXE forms carry.
    pub runtime: Runtime,
    /// The PXE form: when to drive the card through the PXE ROM's UNDI.
    pub undi: crate::pxe::UndiPolicy,
    /// netloader.efi (the efi form, and in the ISO's and USB image's ESP): which network
    /// interface it drives.
    pub efi_nic: efi::NicPolicy,
}

/// The BIOS runtimes: the same sources built for two platforms (runtime/src/arch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    /// 32-bit (i586): every CPU from the Pentium on, in 32-bit protected mode.
    #[default]
    #[value(name = "32")]
    Bits32,
    /// 64-bit (x86_64): x86-64 CPUs only, in long mode.
    #[value(name = "64")]
    Bits64,
}

impl Runtime {
    /// The flat runtime image, loaded at `stage1::LOAD_ADDRESS`.
    pub fn image(self) -> &'static [u8] {
        match self {
            Runtime::Bits32 => stage1::RUNTIME_IMAGE,
            Runtime::Bits64 => stage1::RUNTIME_IMAGE_X86_64,
        }
    }

    /// One past its last byte in memory (.bss included).
    pub fn end_address(self) -> u64 {
        match self {
            Runtime::Bits32 => stage1::END_ADDRESS,
            Runtime::Bits64 => stage1::X86_64_END_ADDRESS,
        }
    }
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
    build_carrying(form, options, efi::BUILT_IN)
}

/// As [`build_with`], with `efi_app` as the UEFI application (in the ISO's and USB image's EFI
/// system partition, and as `--form efi`) instead of the built-in one ([`efi::BUILT_IN`]). It
/// must be an x86-64 EFI application.
pub fn build_with_efi_app(
    form: Form,
    options: &Options,
    efi_app: &[u8],
) -> anyhow::Result<Vec<u8>> {
    efi::check_app(efi_app).map_err(|e| anyhow::anyhow!("the UEFI application given is {e}"))?;
    build_carrying(form, options, efi_app)
}

fn build_carrying(form: Form, options: &Options, efi_app: &[u8]) -> anyhow::Result<Vec<u8>> {
    let efi_app = &efi::with_nic_policy(efi_app, options.efi_nic)?;
    let runtime = match &options.config {
        Some(config) => stage1::runtime_with_config(options.runtime.image(), config)?,
        None => options.runtime.image().to_vec(),
    };
    match form {
        Form::Floppy => floppy_from(&runtime),
        Form::Iso => iso_from(&runtime, Some(efi_app)),
        Form::Usb => usb_from(&runtime, Some(efi_app)),
        Form::Pxe => crate::pxe::nbp_with(&runtime, options.undi),
        Form::Rom => rom(options, &crate::rom::RomOptions::default()),
        Form::Efi => efi_program(options, efi_app),
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
        Form::Efi => efi_program(&Options::default(), efi::BUILT_IN),
    }
}

/// netloader.efi itself.
fn efi_program(options: &Options, app: &[u8]) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        options.config.is_none(),
        "--config is not supported for --form efi yet: netloader.efi takes no embedded config"
    );
    Ok(app.to_vec())
}

/// The EFI system partition holding `app` as `EFI/BOOT/BOOTX64.EFI`; `start_lba`: where it
/// starts on its disk (512-byte sectors).
fn esp(app: &[u8], start_lba: u32) -> anyhow::Result<Vec<u8>> {
    Ok(fat::build_esp(&[(efi::ESP_BOOT_PATH, app)], start_lba)?)
}

/// The option ROM form, for one NIC family (`build_with` makes the default, e1000).
pub fn rom(options: &Options, rom: &crate::rom::RomOptions) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        options.runtime == Runtime::Bits32,
        "--runtime 64 is for the floppy, ISO, USB and PXE forms: an option ROM carries the 32-bit runtime (its first stage may chain a 64-bit netloader.pxe)"
    );
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
    let mut sector = stage1::boot_sector_for(
        Placement {
            form: BootForm::Floppy,
            first_sector: 1,
        },
        runtime.len(),
    )?;
    sector[3..11].copy_from_slice(b"NETLOADR"); // OEM name, beside the BPB fat12 writes
    let image = fat::build_floppy(&sector, &stage1::pad(runtime, BootForm::Floppy), &[])?;
    Ok(image)
}

/// The boot file is one CD sector holding the boot sector, then the runtime image. The BIOS
/// loads the first CD sector (El Torito); stage 1 reads the rest. Booted as a disk, the same
/// boot sector in the system area (with a partition table) reads the same bytes in 512-byte
/// sectors.
///
/// With a UEFI application, the ISO also holds an EFI system partition (`EFIBOOT.IMG`, a FAT
/// image with `EFI/BOOT/BOOTX64.EFI`), named twice: by a second El Torito entry (platform EFI)
/// for a CD, and by partition 2 (type 0xEF) of the hybrid MBR for a stick.
pub fn iso() -> anyhow::Result<Vec<u8>> {
    iso_from(stage1::RUNTIME_IMAGE, Some(efi::BUILT_IN))
}

fn iso_from(runtime: &[u8], efi_app: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
    let runtime = stage1::pad(runtime, BootForm::Cdrom);
    let boot_file_len = iso9660::SECTOR_SIZE + runtime.len();
    // The ESP's size does not depend on where it lies; its BPB does (hidden sectors).
    let esp_len = efi_app.map(|app| esp(app, 0)).transpose()?.map(|e| e.len());
    let mut sizes = vec![(ISO_BOOT_FILE, boot_file_len)];
    sizes.extend(esp_len.map(|len| (ISO_ESP_FILE, len)));
    let layout = iso9660::plan(&sizes)?;
    let runtime_lba = layout.file_lba[0] + 1;
    let esp = match efi_app {
        Some(app) => Some(esp(
            app,
            layout.file_lba[1] * (iso9660::SECTOR_SIZE / 512) as u32,
        )?),
        None => None,
    };

    let cd_sector = stage1::boot_sector_for(
        Placement {
            form: BootForm::Cdrom,
            first_sector: runtime_lba,
        },
        runtime.len(),
    )?;
    let mut boot_file = Vec::with_capacity(boot_file_len);
    boot_file.extend_from_slice(&cd_sector);
    boot_file.resize(iso9660::SECTOR_SIZE, 0);
    boot_file.extend_from_slice(&runtime);

    let mut mbr_sector = stage1::boot_sector_for(
        Placement {
            form: BootForm::IsoAsDisk,
            first_sector: runtime_lba * (iso9660::SECTOR_SIZE / 512) as u32,
        },
        runtime.len(),
    )?;
    let mut partitions = vec![layout.hybrid_partition()];
    let mut files = vec![IsoFile {
        name: ISO_BOOT_FILE,
        data: &boot_file,
    }];
    if let Some(esp) = &esp {
        partitions[0].kind = ISO_HYBRID_TYPE_BESIDE_ESP;
        partitions.extend(layout.file_partition(1, mbr::EFI_SYSTEM_PARTITION_TYPE));
        files.push(IsoFile {
            name: ISO_ESP_FILE,
            data: esp,
        });
    }
    mbr::write_partition_table(&mut mbr_sector, &partitions, DISK_SIGNATURE)?;

    let catalog = BootCatalog {
        bios: ElToritoBoot {
            file_index: 0,
            load_sectors: 4,
        },
        efi_image: esp.as_ref().map(|_| 1),
    };
    let image = iso9660::write(&layout, ISO_VOLUME_ID, &files, catalog, Some(&mbr_sector))?;
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
///
/// With a UEFI application, partition 2 (type 0xEF) follows from the next cylinder: the EFI
/// system partition, a FAT volume with `EFI/BOOT/BOOTX64.EFI`, so UEFI firmware boots the same
/// stick (UEFI 2.10, 5.2.2: firmware takes an MBR partition of type 0xEF as an ESP). An MBR
/// rather than a GPT: BIOSes boot it as they always have, where many refuse a disk whose MBR
/// is GPT's protective one (type 0xEE, no active partition). Both partitions end on cylinder
/// boundaries, so a BIOS that infers the geometry from the table infers 64 x 32.
pub fn usb() -> anyhow::Result<Vec<u8>> {
    usb_from(stage1::RUNTIME_IMAGE, Some(efi::BUILT_IN))
}

fn usb_from(runtime: &[u8], efi_app: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
    let runtime = stage1::pad(runtime, BootForm::Disk);
    let whole_cylinders = |bytes: usize| bytes.div_ceil(USB_CYLINDER_BYTES) * USB_CYLINDER_BYTES;
    let partition_start = USB_PARTITION_LBA as usize * 512;
    let runtime_end = whole_cylinders(partition_start + runtime.len());
    let esp = match efi_app {
        Some(app) => Some(esp(app, u32::try_from(runtime_end / 512)?)?),
        None => None,
    };
    let image_len = whole_cylinders(runtime_end + esp.as_ref().map_or(0, Vec::len));
    let mut partitions = vec![mbr::PartitionEntry {
        bootable: true,
        kind: USB_PARTITION_TYPE,
        start_lba: USB_PARTITION_LBA,
        sectors: u32::try_from((runtime_end - partition_start) / 512)?,
    }];
    if esp.is_some() {
        partitions.push(mbr::PartitionEntry {
            bootable: false,
            kind: mbr::EFI_SYSTEM_PARTITION_TYPE,
            start_lba: u32::try_from(runtime_end / 512)?,
            sectors: u32::try_from((image_len - runtime_end) / 512)?,
        });
    }
    let mut sector = stage1::boot_sector_for(
        Placement {
            form: BootForm::Disk,
            first_sector: USB_PARTITION_LBA,
        },
        runtime.len(),
    )?;
    mbr::write_partition_table(&mut sector, &partitions, DISK_SIGNATURE)?;

    let mut image = vec![0u8; image_len];
    image[..512].copy_from_slice(&sector);
    image[partition_start..partition_start + runtime.len()].copy_from_slice(&runtime);
    if let Some(esp) = &esp {
        image[runtime_end..runtime_end + esp.len()].copy_from_slice(esp);
    }
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
        // The BIOS part alone: the image with its ESP is checked below.
        let image = usb_from(stage1::RUNTIME_IMAGE, None).unwrap();
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
        // The BIOS part alone: the image with its ESP is checked below.
        let image = usb_from(stage1::RUNTIME_IMAGE, None).unwrap();
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
        // The BIOS part alone: the image with its ESP is checked below.
        let image = usb_from(stage1::RUNTIME_IMAGE, None).unwrap();
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

    /// A file `efi::check_app` takes for an x86-64 EFI application, 60 KB long.
    fn test_app() -> Vec<u8> {
        let mut app = crate::efi::test_pe(0x8664, 10);
        app.extend((0..60_000u32).map(|i| (i * 7 + i / 1021) as u8));
        app
    }

    /// Where a partition line of `fdisk -l` starts and how long it is: (boot flag, start,
    /// sectors, type).
    fn fdisk_partition(report: &str, device: &str) -> Option<(bool, u64, u64, String)> {
        let line = report.lines().find(|l| l.starts_with(device))?;
        let mut fields: Vec<&str> = line.split_whitespace().skip(1).collect();
        let boot = fields.first() == Some(&"*");
        if boot {
            fields.remove(0);
        }
        // Start End Sectors Size Id Type...
        Some((
            boot,
            fields[0].parse().ok()?,
            fields[2].parse().ok()?,
            fields[4].to_string(),
        ))
    }

    /// The ESP at `offset` in `image` (a file): mtools finds EFI/BOOT/BOOTX64.EFI with the
    /// application's bytes, fsck.fat finds no error in the volume.
    fn check_esp(image: &std::path::Path, offset: u64, app: &[u8]) {
        let name = image.file_name().unwrap().to_string_lossy();
        use crate::mbr::tests::{run_tool, temp_path};
        let at = format!("{}@@{offset}", image.display());
        let out = temp_path(&format!("{name}-bootx64.efi"));
        run_tool(
            "mcopy",
            &[
                "-n",
                "-i",
                &at,
                "::/EFI/BOOT/BOOTX64.EFI",
                out.to_str().unwrap(),
            ],
        );
        let back = std::fs::read(&out).ok();
        std::fs::remove_file(&out).ok();
        assert!(
            back.as_deref() == Some(app),
            "BOOTX64.EFI read back at {offset}"
        );
        let bytes = std::fs::read(image).unwrap();
        let volume = temp_path(&format!("{name}-esp.img"));
        let total =
            u16::from_le_bytes([bytes[offset as usize + 0x13], bytes[offset as usize + 0x14]]);
        let start = offset as usize;
        std::fs::write(&volume, &bytes[start..start + total as usize * 512]).unwrap();
        let check = run_tool("fsck.fat", &["-n", volume.to_str().unwrap()]);
        std::fs::remove_file(&volume).ok();
        assert!(
            check.contains("1 files") || check.contains(" files, "),
            "{check}"
        );
    }

    /// The ISO with an ESP: both El Torito entries (xorriso), the hybrid MBR's type-0 whole
    /// image and its ESP partition 2 over EFIBOOT.IMG (fdisk), the ESP's files (mtools,
    /// fsck.fat) read both through the partition and from the file xorriso extracts, and the
    /// BIOS boot sectors still pointing at the runtime.
    #[test]
    fn iso_carries_an_esp_for_uefi() {
        use crate::mbr::tests::{run_tool, temp_path};
        let app = test_app();
        let image = build_with_efi_app(Form::Iso, &Options::default(), &app).unwrap();
        assert_eq!(image.len() % (1024 * 1024), 0);
        let lba = u32::from_le_bytes(image[0x1b0..0x1b4].try_into().unwrap()) as usize;
        assert_eq!(&image[lba * 512..][..64], &stage1::RUNTIME_IMAGE[..64]);
        let cd = (lba / 4 - 1) * 2048;
        assert_eq!(image[cd + 0x1a6], BootForm::Cdrom as u8);

        let path = temp_path("forms-efi.iso");
        std::fs::write(&path, &image).unwrap();
        let iso = path.to_str().unwrap();
        let report = run_tool("xorriso", &["-indev", iso, "-report_el_torito", "plain"]);
        let fdisk = run_tool("fdisk", &["-l", iso]);
        let extracted = temp_path("forms-efiboot.img");
        run_tool(
            "osirrox",
            &[
                "-indev",
                iso,
                "-extract",
                "/EFIBOOT.IMG",
                extracted.to_str().unwrap(),
            ],
        );
        let esp_file = std::fs::read(&extracted).unwrap();
        std::fs::remove_file(&extracted).ok();

        let entry = |n: &str| {
            report
                .lines()
                .find(|l| l.starts_with(&format!("El Torito boot img :   {n}")))
                .map(|l| l.split_whitespace().skip(5).collect::<Vec<_>>())
                .unwrap_or_else(|| panic!("no boot image {n} in:\n{report}"))
        };
        assert_eq!(
            entry("1")[1..7],
            ["BIOS", "y", "none", "0x0000", "0x00", "4"]
        );
        let efi = entry("2");
        assert_eq!(
            efi[1..6],
            ["UEFI", "y", "none", "0x0000", "0x00"],
            "{report}"
        );
        assert_eq!(efi[6], (esp_file.len() / 512).to_string(), "{report}");
        let esp_lba: u64 = efi[7].parse().unwrap();
        assert!(
            report.contains("El Torito img path :   2  /EFIBOOT.IMG"),
            "{report}"
        );

        let whole = fdisk_partition(&fdisk, &format!("{iso}1")).expect(&fdisk);
        let sectors = (image.len() / 512) as u64;
        assert_eq!(whole, (true, 0, sectors, "0".to_string()), "{fdisk}");
        let esp = fdisk_partition(&fdisk, &format!("{iso}2")).expect(&fdisk);
        let esp_sectors = (esp_file.len() / 512) as u64;
        assert_eq!(
            esp,
            (false, esp_lba * 4, esp_sectors, "ef".to_string()),
            "{fdisk}"
        );
        assert_eq!(
            &image[(esp_lba * 2048) as usize..][..esp_file.len()],
            &esp_file[..]
        );
        // The BPB's hidden sectors: where the ESP starts on the hybrid disk.
        assert_eq!(esp_file[0x1C..0x20], ((esp_lba * 4) as u32).to_le_bytes());
        check_esp(&path, esp_lba * 2048, &app);
        std::fs::remove_file(&path).ok();
    }

    /// The USB image with an ESP: the active 0xDA partition as before, then partition 2 (0xEF)
    /// from the next cylinder to the image's end (fdisk); the ESP's files (mtools, fsck.fat).
    #[test]
    fn usb_carries_an_esp_for_uefi() {
        use crate::mbr::tests::{run_tool, temp_path};
        let app = test_app();
        let image = build_with_efi_app(Form::Usb, &Options::default(), &app).unwrap();
        assert_eq!(image.len() % (1024 * 1024), 0, "whole 64 x 32 cylinders");
        let runtime = &image[2048 * 512..][..stage1::RUNTIME_IMAGE.len()];
        assert_eq!(runtime, stage1::RUNTIME_IMAGE);
        let path = temp_path("forms-efi.usb");
        std::fs::write(&path, &image).unwrap();
        let usb = path.to_str().unwrap();
        let fdisk = run_tool("fdisk", &["-l", usb]);
        let loader = fdisk_partition(&fdisk, &format!("{usb}1")).expect(&fdisk);
        let esp = fdisk_partition(&fdisk, &format!("{usb}2")).expect(&fdisk);
        let runtime_end =
            (2048 + stage1::RUNTIME_IMAGE.len().div_ceil(512) as u64).next_multiple_of(2048);
        assert_eq!(
            loader,
            (true, 2048, runtime_end - 2048, "da".to_string()),
            "{fdisk}"
        );
        let sectors = (image.len() / 512) as u64;
        let expected = (false, runtime_end, sectors - runtime_end, "ef".to_string());
        assert_eq!(esp, expected, "{fdisk}");
        assert!(!fdisk.contains(&format!("{usb}3")), "{fdisk}");
        let entry = &image[0x1ce..0x1de];
        assert_eq!(
            entry[5..8],
            [63, 32, (image.len() >> 20) as u8 - 1],
            "ends on a cylinder"
        );
        assert_eq!(
            image[runtime_end as usize * 512 + 0x1C..][..4],
            (runtime_end as u32).to_le_bytes()
        );
        check_esp(&path, runtime_end * 512, &app);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn efi_form_is_the_application_or_a_clear_error() {
        let built_in = build(Form::Efi).unwrap();
        assert_eq!(built_in, crate::efi::BUILT_IN);
        crate::efi::check_app(&built_in).unwrap();
        let app = test_app();
        let options = Options::default();
        assert_eq!(build_with_efi_app(Form::Efi, &options, &app).unwrap(), app);
        let with_config = Options {
            config: Some(b"kernel /k\n".to_vec()),
            ..Options::default()
        };
        let err = build_with_efi_app(Form::Efi, &with_config, &app).unwrap_err();
        assert!(err.to_string().contains("--config"), "{err}");
        let driver = crate::efi::test_pe(0x8664, 11);
        let err = build_with_efi_app(Form::Iso, &options, &driver).unwrap_err();
        assert!(err.to_string().contains("not an EFI application"), "{err}");
        let a = build_with_efi_app(Form::Usb, &options, &app).unwrap();
        assert_eq!(a, build_with_efi_app(Form::Usb, &options, &app).unwrap());
        let a = build_with_efi_app(Form::Iso, &options, &app).unwrap();
        assert_eq!(a, build_with_efi_app(Form::Iso, &options, &app).unwrap());
    }
}
