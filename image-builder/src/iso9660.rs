//! ISO 9660 image with an El Torito no-emulation boot entry for BIOS and, optionally, a second
//! one for UEFI (platform 0xEF: a FAT image the firmware takes as its EFI system partition);
//! hybrid (an MBR can be put in the system area so the same image boots from a USB stick).
//!
//! Built in two steps because the boot code embeds the LBA of its own payload: [`plan`]
//! fixes the layout from names and lengths only; [`write`] then takes the final bytes.
//!
//! Layout (2048-byte sectors): 0-15 system area | 16 primary volume descriptor | 17 boot
//! record (El Torito) | 18 terminator | 19 boot catalog | 20 L path table | 21 M path table |
//! 22.. root directory | files, in the caller's order | zero padding to a multiple of 1 MiB.
//! Only a root directory, ISO level 1 names, fixed dates: same inputs, same bytes.

use crate::mbr::{HEADS, PartitionEntry, SECTORS_PER_TRACK};
use std::fmt;

/// Logical sector (block) size of the image.
pub const SECTOR_SIZE: usize = 2048;

const PVD_LBA: u32 = 16;
const BOOT_RECORD_LBA: u32 = 17;
const TERMINATOR_LBA: u32 = 18;
const BOOT_CATALOG_LBA: u32 = 19;
const L_PATH_TABLE_LBA: u32 = 20;
const M_PATH_TABLE_LBA: u32 = 21;
const ROOT_DIR_LBA: u32 = 22;
/// One path table record for the root: 8 bytes + 1-byte name + 1 pad byte.
const PATH_TABLE_SIZE: u32 = 10;

/// isohybrid and xorriso pad a hybrid image to a whole "cylinder" of the 64 × 32 geometry
/// (1 MiB), so the partition covering the image ends on a cylinder boundary: its end CHS is
/// then exact and BIOSes that infer the geometry from the table infer 64 × 32, and the
/// partition never extends past the end of the written image.
const PAD_TO_BYTES: usize = (HEADS * SECTORS_PER_TRACK) as usize * 512;
const PAD_TO_SECTORS: u32 = (PAD_TO_BYTES / SECTOR_SIZE) as u32;

/// 2026-01-01 00:00:00 UTC as a directory record date (years since 1900, month, day, h, m, s,
/// offset from GMT in 15-minute units).
const RECORD_DATE: [u8; 7] = [126, 1, 1, 0, 0, 0, 0];
/// The same date in the volume descriptor format: 16 digits and a GMT offset byte.
const VOLUME_DATE: &[u8; 17] = b"2026010100000000\0";
/// "Not specified" in the volume descriptor date format.
const NO_DATE: &[u8; 17] = b"0000000000000000\0";

/// Partition type isohybrid writes by default ("hidden IFS").
pub const HYBRID_PARTITION_TYPE: u8 = 0x17;

/// A file for the root directory: an ISO level 1 name (`NAME.EXT`, upper-case, without
/// the `;1` version, which is added) and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct IsoFile<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
}

/// The El Torito default entry: which file the BIOS loads at 0:7C00 and how much of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElToritoBoot {
    /// Index into the files given to [`plan`] / [`write`].
    pub file_index: usize,
    /// Number of 512-byte virtual sectors the BIOS loads (El Torito "sector count").
    pub load_sectors: u16,
}

/// The boot catalog: the BIOS's default entry and, optionally, the EFI entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootCatalog {
    pub bios: ElToritoBoot,
    /// Index of the file that is a FAT image holding `EFI/BOOT/BOOTX64.EFI`: the catalog gets
    /// a final section (platform 0xEF, EFI) with one no-emulation entry covering the whole file,
    /// which must be a whole number of 512-byte sectors, at most 65535 (32 MiB - 512 bytes,
    /// the entry's 16-bit sector count).
    pub efi_image: Option<usize>,
}

impl From<ElToritoBoot> for BootCatalog {
    fn from(bios: ElToritoBoot) -> BootCatalog {
        BootCatalog {
            bios,
            efi_image: None,
        }
    }
}

/// El Torito platform id of UEFI (the validation entry's 0 is 80x86, for the BIOS entry).
pub const PLATFORM_EFI: u8 = 0xEF;
/// Size of the catalog: the validation and default entries, then a section header and its one
/// entry when there is an EFI image.
const CATALOG_BIOS_BYTES: usize = 64;
const CATALOG_WITH_EFI_BYTES: usize = 128;

/// Where everything goes, fixed before the file contents are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsoLayout {
    /// LBA (2048-byte sectors) of each file, in the order given to [`plan`].
    pub file_lba: Vec<u32>,
    /// Size of the whole image in 2048-byte sectors (a multiple of 512, i.e. of 1 MiB).
    pub total_sectors: u32,
    names: Vec<String>,
    lengths: Vec<usize>,
    root_dir_sectors: u32,
}

impl IsoLayout {
    /// Size of the image in bytes.
    pub fn image_bytes(&self) -> usize {
        self.total_sectors as usize * SECTOR_SIZE
    }

    /// The isohybrid-style MBR entry for the whole image: active, type 0x17, from sector 0,
    /// as long as the (padded) image. Put it in the system area with
    /// [`crate::mbr::write_partition_table`].
    pub fn hybrid_partition(&self) -> PartitionEntry {
        PartitionEntry {
            bootable: true,
            kind: HYBRID_PARTITION_TYPE,
            start_lba: 0,
            sectors: self.total_sectors * (SECTOR_SIZE / 512) as u32,
        }
    }

    /// An MBR entry covering exactly file `index` (in 512-byte sectors), of type `kind`: the
    /// hybrid image's EFI system partition is its El Torito EFI image, shared, as xorriso's
    /// `-efi-boot-part --efi-boot-image` makes it. None for an index past the files.
    pub fn file_partition(&self, index: usize, kind: u8) -> Option<PartitionEntry> {
        let (lba, len) = (self.file_lba.get(index)?, self.lengths.get(index)?);
        Some(PartitionEntry {
            bootable: false,
            kind,
            start_lba: lba * (SECTOR_SIZE / 512) as u32,
            sectors: u32::try_from(len.div_ceil(512)).ok()?,
        })
    }
}

/// Why an image could not be planned or written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsoError {
    /// Not an ISO level 1 name: 1-8 characters, optional `.` and 0-3 characters, of A-Z 0-9 _.
    InvalidName(String),
    /// Two files have the same name.
    DuplicateName(String),
    /// The volume id must be 0-32 characters of A-Z 0-9 _.
    InvalidVolumeId(String),
    /// The files given to `write` are not the ones the layout was planned for.
    LayoutMismatch(String),
    /// The boot entry names no file, loads nothing, or loads past the file's sectors.
    InvalidBootEntry(String),
    /// The image would exceed the 32-bit sector counts of ISO 9660 / the MBR.
    TooLarge,
}

impl fmt::Display for IsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsoError::InvalidName(n) => write!(
                f,
                "{n:?} is not an ISO 9660 level 1 name (NAME.EXT, 1-8 and 0-3 of A-Z 0-9 _)"
            ),
            IsoError::DuplicateName(n) => write!(f, "file {n:?} is given twice"),
            IsoError::InvalidVolumeId(v) => {
                write!(f, "volume id {v:?} must be at most 32 of A-Z 0-9 _")
            }
            IsoError::LayoutMismatch(why) => write!(f, "files do not match the plan: {why}"),
            IsoError::InvalidBootEntry(why) => write!(f, "invalid El Torito boot entry: {why}"),
            IsoError::TooLarge => write!(f, "the image would be too large for ISO 9660"),
        }
    }
}

impl std::error::Error for IsoError {}

/// Fixes the layout for files with these names and lengths (in this order).
pub fn plan(files: &[(&str, usize)]) -> Result<IsoLayout, IsoError> {
    let mut names = Vec::with_capacity(files.len());
    for (name, _) in files {
        let identifier = file_identifier(name)?;
        if names.contains(&identifier) {
            return Err(IsoError::DuplicateName(name.to_string()));
        }
        names.push(identifier);
    }
    let root_dir_sectors = directory_sectors(&names);
    let mut next = ROOT_DIR_LBA as u64 + root_dir_sectors as u64;
    let mut file_lba = Vec::with_capacity(files.len());
    for (_, len) in files {
        if u32::try_from(*len).is_err() {
            return Err(IsoError::TooLarge);
        }
        file_lba.push(u32::try_from(next).map_err(|_| IsoError::TooLarge)?);
        next += len.div_ceil(SECTOR_SIZE) as u64;
    }
    let total = next.next_multiple_of(PAD_TO_SECTORS as u64);
    // The hybrid partition counts 512-byte sectors in 32 bits.
    if total * 4 > u32::MAX as u64 {
        return Err(IsoError::TooLarge);
    }
    Ok(IsoLayout {
        file_lba,
        total_sectors: total as u32,
        names,
        lengths: files.iter().map(|(_, len)| *len).collect(),
        root_dir_sectors,
    })
}

/// Writes the image planned by `layout`. `files` must have the names and lengths given to
/// [`plan`], in the same order. `boot` is the BIOS entry, or a [`BootCatalog`] with an EFI
/// entry too. `system_area`, if given, becomes bytes 0..512 (the hybrid MBR); the rest of the
/// 32 KiB system area is zero.
pub fn write(
    layout: &IsoLayout,
    volume_id: &str,
    files: &[IsoFile],
    boot: impl Into<BootCatalog>,
    system_area: Option<&[u8; 512]>,
) -> Result<Vec<u8>, IsoError> {
    let BootCatalog {
        bios: boot,
        efi_image,
    } = boot.into();
    check_matches_plan(layout, files)?;
    let volume_id = d_characters(volume_id, 32)
        .ok_or_else(|| IsoError::InvalidVolumeId(volume_id.to_string()))?;
    let boot_lba = check_boot_entry(layout, boot)?;
    let efi = efi_image
        .map(|index| check_efi_image(layout, index))
        .transpose()?;

    let mut image = vec![0u8; layout.image_bytes()];
    if let Some(mbr) = system_area {
        image[..512].copy_from_slice(mbr);
    }
    let root_size = layout.root_dir_sectors * SECTOR_SIZE as u32;
    sector_mut(&mut image, PVD_LBA)
        .copy_from_slice(&primary_volume_descriptor(&volume_id, layout, root_size));
    sector_mut(&mut image, BOOT_RECORD_LBA).copy_from_slice(&boot_record());
    sector_mut(&mut image, TERMINATOR_LBA)[..7].copy_from_slice(b"\xFFCD001\x01");
    let catalog = boot_catalog(boot_lba, boot.load_sectors, efi);
    sector_mut(&mut image, BOOT_CATALOG_LBA)[..catalog.len()].copy_from_slice(&catalog);
    sector_mut(&mut image, L_PATH_TABLE_LBA)[..10].copy_from_slice(&path_table_record(false));
    sector_mut(&mut image, M_PATH_TABLE_LBA)[..10].copy_from_slice(&path_table_record(true));

    let dir = root_directory(layout, root_size);
    let at = ROOT_DIR_LBA as usize * SECTOR_SIZE;
    image[at..at + dir.len()].copy_from_slice(&dir);

    for (file, lba) in files.iter().zip(&layout.file_lba) {
        let at = *lba as usize * SECTOR_SIZE;
        image[at..at + file.data.len()].copy_from_slice(file.data);
    }
    Ok(image)
}

fn check_matches_plan(layout: &IsoLayout, files: &[IsoFile]) -> Result<(), IsoError> {
    if files.len() != layout.names.len() {
        return Err(IsoError::LayoutMismatch(format!(
            "planned {} files, got {}",
            layout.names.len(),
            files.len()
        )));
    }
    for ((file, planned_name), planned_len) in files.iter().zip(&layout.names).zip(&layout.lengths)
    {
        if file_identifier(file.name)? != *planned_name || file.data.len() != *planned_len {
            return Err(IsoError::LayoutMismatch(format!(
                "{:?} ({} bytes) was planned as {:?} ({} bytes)",
                file.name,
                file.data.len(),
                planned_name,
                planned_len
            )));
        }
    }
    Ok(())
}

/// Returns the LBA of the boot file after checking the entry against the layout.
fn check_boot_entry(layout: &IsoLayout, boot: ElToritoBoot) -> Result<u32, IsoError> {
    let (Some(lba), Some(len)) = (
        layout.file_lba.get(boot.file_index),
        layout.lengths.get(boot.file_index),
    ) else {
        return Err(IsoError::InvalidBootEntry(format!(
            "file index {} but only {} files",
            boot.file_index,
            layout.file_lba.len()
        )));
    };
    let file_bytes = len.next_multiple_of(SECTOR_SIZE);
    if boot.load_sectors == 0 || boot.load_sectors as usize * 512 > file_bytes {
        return Err(IsoError::InvalidBootEntry(format!(
            "load size of {} sectors of 512 bytes, but the boot file occupies {} bytes",
            boot.load_sectors, file_bytes
        )));
    }
    Ok(*lba)
}

/// Returns the EFI image's LBA and size in 512-byte sectors after checking it can be one.
fn check_efi_image(layout: &IsoLayout, index: usize) -> Result<(u32, u16), IsoError> {
    let (Some(lba), Some(len)) = (layout.file_lba.get(index), layout.lengths.get(index)) else {
        return Err(IsoError::InvalidBootEntry(format!(
            "EFI image file index {index} but only {} files",
            layout.file_lba.len()
        )));
    };
    let sectors = u16::try_from(len / 512).ok().filter(|&n| n > 0);
    match sectors {
        Some(sectors) if len % 512 == 0 => Ok((*lba, sectors)),
        _ => Err(IsoError::InvalidBootEntry(format!(
            "the EFI image is {len} bytes: it must be 512 bytes to 32 MiB - 512, in whole 512-byte sectors"
        ))),
    }
}

fn sector_mut(image: &mut [u8], lba: u32) -> &mut [u8] {
    let at = lba as usize * SECTOR_SIZE;
    &mut image[at..at + SECTOR_SIZE]
}

/// `name` upper-case-checked and with ISO padding (`A` -> `A.;1`): the separator is
/// mandatory in level 1 file identifiers.
fn file_identifier(name: &str) -> Result<String, IsoError> {
    let invalid = || IsoError::InvalidName(name.to_string());
    let (base, ext) = name.split_once('.').unwrap_or((name, ""));
    if base.is_empty() || base.len() > 8 || ext.len() > 3 {
        return Err(invalid());
    }
    d_characters(base, 8).ok_or_else(invalid)?;
    d_characters(ext, 3).ok_or_else(invalid)?;
    Ok(format!("{base}.{ext};1"))
}

/// `s` if it is at most `max` d-characters (A-Z 0-9 _).
fn d_characters(s: &str, max: usize) -> Option<String> {
    let ok = s.len() <= max
        && s.bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
    ok.then(|| s.to_string())
}

/// ISO 9660 wants directory records sorted by name, then extension (shorter first: the
/// standard pads with spaces, which sort below every d-character).
fn sorted_indices(names: &[String]) -> Vec<usize> {
    let key = |n: &String| -> (String, String) {
        let stem = n.trim_end_matches(";1");
        let (b, e) = stem.split_once('.').unwrap_or((stem, ""));
        (b.to_string(), e.to_string())
    };
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| key(&names[i]));
    order
}

fn record_len(name_len: usize) -> usize {
    33 + name_len + (name_len + 1) % 2
}

/// Sectors the root directory needs; records may not cross a sector boundary.
fn directory_sectors(names: &[String]) -> u32 {
    let mut sectors = 1u32;
    let mut used = 2 * record_len(1); // "." and ".."
    for name in names {
        let len = record_len(name.len());
        if used + len > SECTOR_SIZE {
            sectors += 1;
            used = 0;
        }
        used += len;
    }
    sectors
}

fn both_u16(v: u16) -> [u8; 4] {
    let (l, b) = (v.to_le_bytes(), v.to_be_bytes());
    [l[0], l[1], b[0], b[1]]
}

fn both_u32(v: u32) -> [u8; 8] {
    let (l, b) = (v.to_le_bytes(), v.to_be_bytes());
    [l[0], l[1], l[2], l[3], b[0], b[1], b[2], b[3]]
}

/// A directory record; `name` is the raw identifier (0x00 for ".", 0x01 for "..").
fn directory_record(name: &[u8], extent: u32, size: u32, is_dir: bool) -> Vec<u8> {
    let mut r = vec![0u8; record_len(name.len())];
    r[0] = r.len() as u8;
    r[2..10].copy_from_slice(&both_u32(extent));
    r[10..18].copy_from_slice(&both_u32(size));
    r[18..25].copy_from_slice(&RECORD_DATE);
    r[25] = if is_dir { 0x02 } else { 0x00 };
    r[28..32].copy_from_slice(&both_u16(1)); // volume sequence number
    r[32] = name.len() as u8;
    r[33..33 + name.len()].copy_from_slice(name);
    r
}

fn root_directory(layout: &IsoLayout, root_size: u32) -> Vec<u8> {
    let mut dir = vec![0u8; root_size as usize];
    let mut at = 0usize;
    let mut push = |record: Vec<u8>| {
        if at % SECTOR_SIZE + record.len() > SECTOR_SIZE {
            at = at.next_multiple_of(SECTOR_SIZE);
        }
        dir[at..at + record.len()].copy_from_slice(&record);
        at += record.len();
    };
    push(directory_record(&[0], ROOT_DIR_LBA, root_size, true));
    push(directory_record(&[1], ROOT_DIR_LBA, root_size, true));
    for i in sorted_indices(&layout.names) {
        let name = layout.names[i].as_bytes();
        push(directory_record(
            name,
            layout.file_lba[i],
            layout.lengths[i] as u32,
            false,
        ));
    }
    dir
}

fn padded<const N: usize>(text: &[u8]) -> [u8; N] {
    let mut out = [b' '; N];
    out[..text.len()].copy_from_slice(text);
    out
}

fn primary_volume_descriptor(volume_id: &str, layout: &IsoLayout, root_size: u32) -> Vec<u8> {
    let mut d = vec![0u8; SECTOR_SIZE];
    d[0..7].copy_from_slice(b"\x01CD001\x01");
    d[8..40].copy_from_slice(&padded::<32>(b"")); // system identifier
    d[40..72].copy_from_slice(&padded::<32>(volume_id.as_bytes()));
    d[80..88].copy_from_slice(&both_u32(layout.total_sectors));
    d[120..124].copy_from_slice(&both_u16(1)); // volume set size
    d[124..128].copy_from_slice(&both_u16(1)); // volume sequence number
    d[128..132].copy_from_slice(&both_u16(SECTOR_SIZE as u16));
    d[132..140].copy_from_slice(&both_u32(PATH_TABLE_SIZE));
    d[140..144].copy_from_slice(&L_PATH_TABLE_LBA.to_le_bytes());
    d[148..152].copy_from_slice(&M_PATH_TABLE_LBA.to_be_bytes());
    d[156..190].copy_from_slice(&directory_record(&[0], ROOT_DIR_LBA, root_size, true));
    d[190..318].copy_from_slice(&padded::<128>(b"")); // volume set identifier
    d[318..446].copy_from_slice(&padded::<128>(b"")); // publisher
    d[446..574].copy_from_slice(&padded::<128>(b"")); // data preparer
    d[574..702].copy_from_slice(&padded::<128>(b"NETLOADER")); // application
    d[702..813].copy_from_slice(&padded::<111>(b"")); // copyright, abstract, biblio files
    d[813..830].copy_from_slice(VOLUME_DATE); // creation
    d[830..847].copy_from_slice(VOLUME_DATE); // modification
    d[847..864].copy_from_slice(NO_DATE); // expiration
    d[864..881].copy_from_slice(NO_DATE); // effective
    d[881] = 1; // file structure version
    d
}

fn boot_record() -> Vec<u8> {
    let mut d = vec![0u8; SECTOR_SIZE];
    d[0..7].copy_from_slice(b"\x00CD001\x01");
    let id = b"EL TORITO SPECIFICATION"; // zero-padded to 32 bytes
    d[7..7 + id.len()].copy_from_slice(id);
    d[71..75].copy_from_slice(&BOOT_CATALOG_LBA.to_le_bytes());
    d
}

/// Validation entry (platform x86, checksummed, key 55 AA) and the default entry; with `efi`
/// (the image's LBA and 512-byte sector count), a final section header for platform EFI and its
/// one entry.
fn boot_catalog(boot_lba: u32, load_sectors: u16, efi: Option<(u32, u16)>) -> Vec<u8> {
    let mut c = vec![
        0u8;
        if efi.is_some() {
            CATALOG_WITH_EFI_BYTES
        } else {
            CATALOG_BIOS_BYTES
        }
    ];
    c[0] = 0x01; // header id
    c[1] = 0x00; // platform: 80x86
    c[30] = 0x55;
    c[31] = 0xAA;
    let sum = c[..32].chunks_exact(2).fold(0u16, |s, w| {
        s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    c[28..30].copy_from_slice(&sum.wrapping_neg().to_le_bytes());
    c[32] = 0x88; // bootable
    c[33] = 0x00; // no emulation
    c[34..36].copy_from_slice(&0u16.to_le_bytes()); // load segment 0 = 0x7C0
    c[36] = 0x00; // system type
    c[38..40].copy_from_slice(&load_sectors.to_le_bytes());
    c[40..44].copy_from_slice(&boot_lba.to_le_bytes());
    if let Some((efi_lba, efi_sectors)) = efi {
        c[64] = 0x91; // section header, the final one
        c[65] = PLATFORM_EFI;
        c[66..68].copy_from_slice(&1u16.to_le_bytes()); // one entry follows
        c[96] = 0x88; // bootable
        c[97] = 0x00; // no emulation
        c[102..104].copy_from_slice(&efi_sectors.to_le_bytes());
        c[104..108].copy_from_slice(&efi_lba.to_le_bytes());
    }
    c
}

/// The only path table record: the root, its own parent (directory number 1).
fn path_table_record(big_endian: bool) -> [u8; 10] {
    let mut r = [0u8; 10];
    r[0] = 1; // identifier length
    let (lba, parent) = if big_endian {
        (ROOT_DIR_LBA.to_be_bytes(), 1u16.to_be_bytes())
    } else {
        (ROOT_DIR_LBA.to_le_bytes(), 1u16.to_le_bytes())
    };
    r[2..6].copy_from_slice(&lba);
    r[6..8].copy_from_slice(&parent);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mbr::tests::{boot_in_qemu, run_tool, serial_print_code, temp_path};
    use crate::mbr::write_partition_table;

    struct Sample {
        loader: Vec<u8>,
        config: Vec<u8>,
        big: Vec<u8>,
    }

    fn sample() -> Sample {
        Sample {
            loader: (0..5000u32).map(|i| (i % 253) as u8).collect(),
            config: b"kernel tftp://10.0.2.2/kernel.elf\n".to_vec(),
            big: (0..10_000u32).map(|i| (i * 13 % 256) as u8).collect(),
        }
    }

    fn files(s: &Sample) -> Vec<IsoFile<'_>> {
        vec![
            IsoFile {
                name: "NETLOAD.BIN",
                data: &s.loader,
            },
            IsoFile {
                name: "NETLOADR.CFG",
                data: &s.config,
            },
            IsoFile {
                name: "BIG",
                data: &s.big,
            },
        ]
    }

    fn build(s: &Sample) -> (IsoLayout, Vec<u8>) {
        let files = files(s);
        let sizes: Vec<(&str, usize)> = files.iter().map(|f| (f.name, f.data.len())).collect();
        let layout = plan(&sizes).unwrap();
        let mut mbr = [0u8; 512];
        mbr[..4].copy_from_slice(b"\xFA\xEB\xFE\x90");
        write_partition_table(&mut mbr, &[layout.hybrid_partition()], 0x4E4C_4452).unwrap();
        let boot = ElToritoBoot {
            file_index: 0,
            load_sectors: 4,
        };
        let image = write(&layout, "NETLOADER", &files, boot, Some(&mbr)).unwrap();
        (layout, image)
    }

    fn sector(image: &[u8], lba: u32) -> &[u8] {
        &image[lba as usize * SECTOR_SIZE..][..SECTOR_SIZE]
    }

    #[test]
    fn layout_is_known_before_the_bytes() {
        let layout = plan(&[("NETLOAD.BIN", 5000), ("NETLOADR.CFG", 34), ("BIG", 10_000)]).unwrap();
        assert_eq!(layout.file_lba, vec![23, 26, 27]);
        assert_eq!(layout.total_sectors, 512);
        assert_eq!(layout.image_bytes(), 1 << 20);
        assert_eq!(
            layout.hybrid_partition(),
            PartitionEntry {
                bootable: true,
                kind: 0x17,
                start_lba: 0,
                sectors: 2048
            }
        );
        let (built, image) = build(&sample());
        assert_eq!(built, layout);
        assert_eq!(image.len(), 1 << 20);
    }

    #[test]
    fn volume_descriptors_at_exact_offsets() {
        let (_, image) = build(&sample());
        let pvd = sector(&image, 16);
        assert_eq!(pvd[..8], *b"\x01CD001\x01\x00");
        assert_eq!(pvd[40..72], *b"NETLOADER                       ");
        assert_eq!(pvd[80..88], [0, 2, 0, 0, 0, 0, 2, 0]); // 512 sectors, both-endian
        assert_eq!(pvd[120..132], [1, 0, 0, 1, 1, 0, 0, 1, 0, 8, 8, 0]);
        assert_eq!(pvd[132..140], [10, 0, 0, 0, 0, 0, 0, 10]);
        assert_eq!(pvd[140..144], [20, 0, 0, 0]);
        assert_eq!(pvd[148..152], [0, 0, 0, 21]);
        // Root directory record: length 34, extent 22, size 2048, directory flag.
        assert_eq!(pvd[156], 34);
        assert_eq!(pvd[158..166], [22, 0, 0, 0, 0, 0, 0, 22]);
        assert_eq!(pvd[166..174], [0, 8, 0, 0, 0, 0, 8, 0]);
        assert_eq!(pvd[156 + 25], 0x02);
        assert_eq!(pvd[813..830], *b"2026010100000000\0");
        assert_eq!(pvd[881], 1);

        let br = sector(&image, 17);
        assert_eq!(br[..7], *b"\x00CD001\x01");
        assert_eq!(br[7..39], *b"EL TORITO SPECIFICATION\0\0\0\0\0\0\0\0\0");
        assert_eq!(br[71..75], [19, 0, 0, 0]);
        assert_eq!(sector(&image, 18)[..7], *b"\xFFCD001\x01");

        let cat = sector(&image, 19);
        let sum = cat[..32].chunks(2).fold(0u16, |s, w| {
            s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
        });
        assert_eq!(sum, 0);
        assert_eq!(cat[0..2], [1, 0]);
        assert_eq!(cat[30..32], [0x55, 0xAA]);
        assert_eq!(cat[32..44], [0x88, 0, 0, 0, 0, 0, 4, 0, 23, 0, 0, 0]);

        assert_eq!(sector(&image, 20)[..10], [1, 0, 22, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(sector(&image, 21)[..10], [1, 0, 0, 0, 0, 22, 0, 1, 0, 0]);
    }

    #[test]
    fn root_directory_is_sorted_and_files_are_in_place() {
        let s = sample();
        let (layout, image) = build(&s);
        let dir = sector(&image, 22);
        let mut at = 0;
        let mut names = Vec::new();
        while dir[at] != 0 {
            let len = dir[at] as usize;
            let name_len = dir[at + 32] as usize;
            names.push(dir[at + 33..at + 33 + name_len].to_vec());
            at += len;
        }
        let expected: Vec<&[u8]> = vec![
            b"\0",
            b"\x01",
            b"BIG.;1",
            b"NETLOAD.BIN;1",
            b"NETLOADR.CFG;1",
        ];
        assert_eq!(names, expected);
        for (file, lba) in files(&s).iter().zip(&layout.file_lba) {
            let at = *lba as usize * SECTOR_SIZE;
            assert_eq!(&image[at..at + file.data.len()], file.data);
        }
        assert_eq!(image[..4], *b"\xFA\xEB\xFE\x90");
        assert_eq!(image[510..512], [0x55, 0xAA]);
    }

    #[test]
    fn many_files_spill_the_directory_into_more_sectors() {
        let names: Vec<String> = (0..100).map(|i| format!("FILE{i:04}.DAT")).collect();
        let sizes: Vec<(&str, usize)> = names.iter().map(|n| (n.as_str(), 1)).collect();
        let layout = plan(&sizes).unwrap();
        // 2 × 34 + 100 × 46 bytes, no record crossing a sector: 3 sectors.
        assert_eq!(layout.root_dir_sectors, 3);
        assert_eq!(layout.file_lba[0], 25);
        let data = [7u8];
        let files: Vec<IsoFile> = names
            .iter()
            .map(|n| IsoFile {
                name: n,
                data: &data,
            })
            .collect();
        let boot = ElToritoBoot {
            file_index: 0,
            load_sectors: 1,
        };
        let image = write(&layout, "MANY", &files, boot, None).unwrap();
        let path = temp_path("many.iso");
        std::fs::write(&path, &image).unwrap();
        let listing = run_tool("xorriso", &["-indev", path.to_str().unwrap(), "-ls", "/"]);
        std::fs::remove_file(&path).ok();
        assert_eq!(listing.matches("'FILE").count(), 100, "{listing}");
    }

    #[test]
    fn errors() {
        assert_eq!(
            plan(&[("boot.bin", 1)]),
            Err(IsoError::InvalidName("boot.bin".into()))
        );
        assert_eq!(
            plan(&[("A-B.BIN", 1)]),
            Err(IsoError::InvalidName("A-B.BIN".into()))
        );
        assert_eq!(
            plan(&[("ABCDEFGHI", 1)]),
            Err(IsoError::InvalidName("ABCDEFGHI".into()))
        );
        assert_eq!(
            plan(&[("A", 1), ("A.", 2)]),
            Err(IsoError::DuplicateName("A.".into()))
        );
        let layout = plan(&[("A.BIN", 4096)]).unwrap();
        let data = vec![0u8; 4096];
        let files = [IsoFile {
            name: "A.BIN",
            data: &data,
        }];
        let ok = ElToritoBoot {
            file_index: 0,
            load_sectors: 8,
        };
        assert!(write(&layout, "V", &files, ok, None).is_ok());
        assert!(matches!(
            write(&layout, "lower", &files, ok, None),
            Err(IsoError::InvalidVolumeId(_))
        ));
        for bad in [
            ElToritoBoot {
                file_index: 1,
                load_sectors: 4,
            },
            ElToritoBoot {
                file_index: 0,
                load_sectors: 0,
            },
            ElToritoBoot {
                file_index: 0,
                load_sectors: 9,
            },
        ] {
            assert!(matches!(
                write(&layout, "V", &files, bad, None),
                Err(IsoError::InvalidBootEntry(_))
            ));
        }
        let other = [IsoFile {
            name: "A.BIN",
            data: &data[..100],
        }];
        assert!(matches!(
            write(&layout, "V", &other, ok, None),
            Err(IsoError::LayoutMismatch(_))
        ));
    }

    #[test]
    fn same_inputs_give_the_same_bytes() {
        let s = sample();
        assert_eq!(build(&s).1, build(&s).1);
    }

    #[test]
    fn xorriso_and_fdisk_read_the_image() {
        let s = sample();
        let (layout, image) = build(&s);
        let path = temp_path("hybrid.iso");
        std::fs::write(&path, &image).unwrap();
        let iso = path.to_str().unwrap();
        let el_torito = run_tool("xorriso", &["-indev", iso, "-report_el_torito", "plain"]);
        let as_mkisofs = run_tool(
            "xorriso",
            &["-indev", iso, "-report_el_torito", "as_mkisofs"],
        );
        let out_dir = temp_path("extracted");
        std::fs::create_dir_all(&out_dir).unwrap();
        run_tool(
            "osirrox",
            &["-indev", iso, "-extract", "/", out_dir.to_str().unwrap()],
        );
        let fdisk = run_tool("fdisk", &["-l", iso]);
        let read_back = |name: &str| std::fs::read(out_dir.join(name)).ok();
        let back = (
            read_back("NETLOAD.BIN"),
            read_back("NETLOADR.CFG"),
            read_back("BIG"),
        );
        std::fs::remove_file(&path).ok();
        std::fs::remove_dir_all(&out_dir).ok();

        let report = el_torito;
        // "El Torito boot img : 1 BIOS y none 0x0000 0x00 4 23": index, platform,
        // bootable, emulation, load segment, partition type, load size, LBA.
        let line = report
            .lines()
            .find(|l| l.contains("El Torito boot img :"))
            .unwrap_or_else(|| panic!("no boot image line in:\n{report}"));
        let fields: Vec<&str> = line.split_whitespace().skip(5).collect();
        let lba = layout.file_lba[0].to_string();
        let expected = [
            "1",
            "BIOS",
            "y",
            "none",
            "0x0000",
            "0x00",
            "4",
            lba.as_str(),
        ];
        assert_eq!(fields, expected, "{report}");
        assert!(
            report.contains("El Torito img path :   1  /NETLOAD.BIN"),
            "{report}"
        );
        assert!(
            !report.contains("WARNING") && !report.contains("SORRY"),
            "{report}"
        );
        let report = as_mkisofs;
        assert!(report.contains("-no-emul-boot"), "{report}");
        assert!(report.contains("-boot-load-size 4"), "{report}");
        assert_eq!(back.0.as_deref(), Some(&s.loader[..]));
        assert_eq!(back.1.as_deref(), Some(&s.config[..]));
        assert_eq!(back.2.as_deref(), Some(&s.big[..]));
        let report = fdisk;
        assert!(report.contains("0x4e4c4452"), "{report}");
        let line = report
            .lines()
            .find(|l| l.contains("hybrid.iso1"))
            .unwrap_or_else(|| panic!("no partition line in:\n{report}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&fields[1..5], &["*", "0", "2047", "2048"], "{line}");
        assert_eq!(fields[6], "17", "{line}");
    }

    /// A second catalog entry for UEFI: a final section header (platform 0xEF) and a
    /// no-emulation entry covering the FAT image, checked at exact offsets and by xorriso.
    #[test]
    fn efi_entry_in_the_catalog() {
        let s = sample();
        let esp = crate::fat::build_esp(&[("EFI/BOOT/BOOTX64.EFI", &s.big)], 0).unwrap();
        let files = [
            IsoFile {
                name: "NETLOAD.BIN",
                data: &s.loader,
            },
            IsoFile {
                name: "EFIBOOT.IMG",
                data: &esp,
            },
        ];
        let sizes: Vec<(&str, usize)> = files.iter().map(|f| (f.name, f.data.len())).collect();
        let layout = plan(&sizes).unwrap();
        let catalog = BootCatalog {
            bios: ElToritoBoot {
                file_index: 0,
                load_sectors: 4,
            },
            efi_image: Some(1),
        };
        let image = write(&layout, "EFITEST", &files, catalog, None).unwrap();
        let efi_lba = layout.file_lba[1];
        let esp_sectors = (esp.len() / 512) as u16;
        let c = &sector(&image, 19)[..128];
        assert_eq!(c[..2], [0x01, 0x00], "validation entry: x86");
        assert_eq!(
            c[32..34],
            [0x88, 0x00],
            "default entry: bootable, no emulation"
        );
        assert_eq!(
            c[64..68],
            [0x91, 0xEF, 1, 0],
            "final section header: EFI, one entry"
        );
        assert!(c[68..96].iter().all(|&b| b == 0), "no id string");
        assert_eq!(c[96..98], [0x88, 0x00], "EFI entry: bootable, no emulation");
        assert_eq!(c[98..102], [0; 4], "load segment 0, system type 0");
        assert_eq!(c[102..104], esp_sectors.to_le_bytes());
        assert_eq!(c[104..108], efi_lba.to_le_bytes());
        assert!(sector(&image, 19)[128..].iter().all(|&b| b == 0));
        let at = efi_lba as usize * SECTOR_SIZE;
        assert_eq!(image[at..at + esp.len()], esp[..]);
        assert_eq!(
            layout.file_partition(1, 0xEF),
            Some(PartitionEntry {
                bootable: false,
                kind: 0xEF,
                start_lba: efi_lba * 4,
                sectors: esp_sectors as u32,
            })
        );
        assert_eq!(layout.file_partition(2, 0xEF), None);

        let path = temp_path("efi.iso");
        std::fs::write(&path, &image).unwrap();
        let iso = path.to_str().unwrap();
        let report = run_tool("xorriso", &["-indev", iso, "-report_el_torito", "plain"]);
        let as_mkisofs = run_tool(
            "xorriso",
            &["-indev", iso, "-report_el_torito", "as_mkisofs"],
        );
        std::fs::remove_file(&path).ok();
        let line = report
            .lines()
            .find(|l| l.starts_with("El Torito boot img :   2"))
            .unwrap_or_else(|| panic!("no second boot image in:\n{report}"));
        let fields: Vec<&str> = line.split_whitespace().skip(5).collect();
        let (sectors, lba) = (esp_sectors.to_string(), efi_lba.to_string());
        let expected = ["2", "UEFI", "y", "none", "0x0000", "0x00", &sectors, &lba];
        assert_eq!(fields, expected, "{report}");
        assert!(
            report.contains("El Torito img path :   2  /EFIBOOT.IMG"),
            "{report}"
        );
        assert!(
            !report.contains("WARNING") && !report.contains("SORRY"),
            "{report}"
        );
        assert!(
            as_mkisofs.contains("-eltorito-alt-boot") && as_mkisofs.contains("-e '/EFIBOOT.IMG'"),
            "{as_mkisofs}"
        );
    }

    #[test]
    fn efi_image_errors() {
        let odd = vec![0u8; 1000];
        let big = vec![0u8; 65_536 * 512];
        for (data, what) in [
            (&odd[..], "1000 bytes"),
            (&big[..], "33554432 bytes"),
            (&[][..], "0 bytes"),
        ] {
            let files = [
                IsoFile {
                    name: "BOOT.BIN",
                    data: &[1u8; 2048],
                },
                IsoFile {
                    name: "EFI.IMG",
                    data,
                },
            ];
            let sizes: Vec<(&str, usize)> = files.iter().map(|f| (f.name, f.data.len())).collect();
            let layout = plan(&sizes).unwrap();
            let bios = ElToritoBoot {
                file_index: 0,
                load_sectors: 4,
            };
            let err = write(
                &layout,
                "V",
                &files,
                BootCatalog {
                    bios,
                    efi_image: Some(1),
                },
                None,
            )
            .unwrap_err();
            assert!(err.to_string().contains(what), "{err}");
            let err = write(
                &layout,
                "V",
                &files,
                BootCatalog {
                    bios,
                    efi_image: Some(2),
                },
                None,
            )
            .unwrap_err();
            assert!(err.to_string().contains("only 2 files"), "{err}");
        }
    }

    /// The boot file jumps into its second 2048-byte sector (SeaBIOS reads whole CD sectors),
    /// so "CD-OK" proves the BIOS honoured a load size of 5 virtual sectors; the MBR code
    /// prints "HD-OK".
    #[test]
    fn bios_boots_the_image_as_cd_and_as_disk() {
        let mut loader = vec![0u8; 5000];
        loader[..5].copy_from_slice(&[0xEA, 0x00, 0x84, 0x00, 0x00]); // jmp 0000:8400
        let code = serial_print_code(b"CD-OK");
        loader[2048..2048 + code.len()].copy_from_slice(&code);
        let layout = plan(&[("LOADER.BIN", loader.len())]).unwrap();
        let mut mbr = [0u8; 512];
        let code = serial_print_code(b"HD-OK");
        mbr[..code.len()].copy_from_slice(&code);
        write_partition_table(&mut mbr, &[layout.hybrid_partition()], 7).unwrap();
        let files = [IsoFile {
            name: "LOADER.BIN",
            data: &loader,
        }];
        let boot = ElToritoBoot {
            file_index: 0,
            load_sectors: 5,
        };
        let image = write(&layout, "BOOTTEST", &files, boot, Some(&mbr)).unwrap();
        let path = temp_path("boot.iso");
        std::fs::write(&path, &image).unwrap();
        let iso = path.to_str().unwrap();
        let cd = boot_in_qemu("cd", &["-cdrom", iso, "-boot", "d"], "CD-OK");
        let drive = format!("file={iso},format=raw,if=ide");
        let hd = boot_in_qemu("hd", &["-drive", &drive, "-boot", "c"], "HD-OK");
        std::fs::remove_file(&path).ok();
        assert!(cd.contains("CD-OK"), "serial: {cd:?}");
        assert!(hd.contains("HD-OK"), "serial: {hd:?}");
    }
}
