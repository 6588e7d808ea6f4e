//! A 1.44 MB floppy image that is also a valid FAT12 volume.
//!
//! The boot sector's code reads the payload by CHS from sectors 1.. itself; the payload
//! lives in the FAT *reserved area* (reserved sectors = 1 + payload sectors), so the file
//! system never hands those sectors out. The BPB only makes the floppy a proper FAT12 disk
//! that OSes and mtools can read, and lets small files (e.g. `NETLOADR.CFG`) sit in the root
//! directory where a user can edit them.
//!
//! Layout: boot sector | payload | FAT 1 (9) | FAT 2 (9) | root dir (14) | data clusters.

use std::fmt;

/// Size of a 1.44 MB floppy image in bytes.
pub const FLOPPY_BYTES: usize = TOTAL_SECTORS * SECTOR;

const SECTOR: usize = 512;
const TOTAL_SECTORS: usize = 2880;
const SECTORS_PER_FAT: usize = 9;
const FAT_COUNT: usize = 2;
const ROOT_ENTRIES: usize = 224;
const ROOT_DIR_SECTORS: usize = ROOT_ENTRIES * 32 / SECTOR;
/// Sectors after the reserved area that are not data: the two FATs and the root directory.
const METADATA_SECTORS: usize = FAT_COUNT * SECTORS_PER_FAT + ROOT_DIR_SECTORS;
const MEDIA: u8 = 0xF0;
/// Fixed so the same inputs give the same image (FAT tools often derive it from a clock).
const VOLUME_ID: u32 = 0x2026_0101;
const VOLUME_LABEL: &[u8; 11] = b"NETLOADER  ";
/// 2026-01-01 in FAT date format: (year - 1980) << 9 | month << 5 | day.
const FIXED_DATE: u16 = (46 << 9) | (1 << 5) | 1;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_VOLUME_ID: u8 = 0x08;
const END_OF_CHAIN: u16 = 0xFFF;

/// Why a floppy image could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FloppyError {
    /// The payload does not fit in the reserved area with the FAT metadata after it.
    PayloadTooLarge { len: usize, max: usize },
    /// A file name is not an upper-case 8.3 name (`NAME.EXT`, 1-8 + 0-3 characters).
    InvalidName(String),
    /// Two files have the same name.
    DuplicateName(String),
    /// The files need more clusters (or directory entries) than the volume has left.
    FilesDoNotFit {
        needed_sectors: usize,
        free_sectors: usize,
    },
}

impl fmt::Display for FloppyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FloppyError::PayloadTooLarge { len, max } => write!(
                f,
                "payload of {len} bytes does not fit on a 1.44 MB floppy: at most {max} bytes fit"
            ),
            FloppyError::InvalidName(name) => write!(
                f,
                "{name:?} is not a valid 8.3 file name (upper-case NAME.EXT, 1-8 and 0-3 characters)"
            ),
            FloppyError::DuplicateName(name) => write!(f, "file {name:?} is given twice"),
            FloppyError::FilesDoNotFit {
                needed_sectors,
                free_sectors,
            } => write!(
                f,
                "files need {needed_sectors} sectors but only {free_sectors} are free on the floppy"
            ),
        }
    }
}

impl std::error::Error for FloppyError {}

/// The largest payload that fits: everything except the boot sector, the FAT metadata and
/// one data cluster (a FAT volume without any data cluster confuses readers).
pub const MAX_PAYLOAD: usize = (TOTAL_SECTORS - 1 - METADATA_SECTORS - 1) * SECTOR;

/// Builds the 1,474,560-byte image: `boot_sector` with a FAT12 BPB written into bytes
/// 0x0B..0x3E (bytes 0..0x0B — jump and OEM name — and 0x3E..0x1FE are kept; 0x55AA is set),
/// the payload from sector 1 (offset 512), then the FATs, root directory and `files`.
pub fn build_floppy(
    boot_sector: &[u8; 512],
    payload: &[u8],
    files: &[(&str, &[u8])],
) -> Result<Vec<u8>, FloppyError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(FloppyError::PayloadTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    let reserved = 1 + payload.len().div_ceil(SECTOR);
    let fat_start = reserved;
    let root_start = fat_start + FAT_COUNT * SECTORS_PER_FAT;
    let data_start = root_start + ROOT_DIR_SECTORS;
    let data_sectors = TOTAL_SECTORS - data_start;

    let names = files
        .iter()
        .map(|(name, _)| short_name(name))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(FloppyError::DuplicateName(files[i].0.to_string()));
        }
    }
    let needed_sectors: usize = files.iter().map(|(_, d)| d.len().div_ceil(SECTOR)).sum();
    // One root entry is the volume label.
    if needed_sectors > data_sectors || files.len() + 1 > ROOT_ENTRIES {
        return Err(FloppyError::FilesDoNotFit {
            needed_sectors,
            free_sectors: data_sectors,
        });
    }

    let mut image = vec![0u8; FLOPPY_BYTES];
    image[..SECTOR].copy_from_slice(boot_sector);
    write_bpb(&mut image[..SECTOR], reserved as u16);
    image[SECTOR..SECTOR + payload.len()].copy_from_slice(payload);

    let mut fat = vec![0u8; SECTORS_PER_FAT * SECTOR];
    set_fat12_entry(&mut fat, 0, 0xF00 | MEDIA as u16);
    set_fat12_entry(&mut fat, 1, END_OF_CHAIN);

    let mut root = vec![0u8; ROOT_DIR_SECTORS * SECTOR];
    root[..32].copy_from_slice(&dir_entry(VOLUME_LABEL, ATTR_VOLUME_ID, 0, 0));

    // Files are stored contiguously from cluster 2 (cluster n is data sector n - 2).
    let mut next_cluster = 2usize;
    for (slot, ((_, data), name)) in files.iter().zip(&names).enumerate() {
        let clusters = data.len().div_ceil(SECTOR);
        let first = if clusters == 0 { 0 } else { next_cluster };
        for c in next_cluster..next_cluster + clusters {
            let next = if c + 1 == next_cluster + clusters {
                END_OF_CHAIN
            } else {
                (c + 1) as u16
            };
            set_fat12_entry(&mut fat, c, next);
        }
        let at = (data_start + next_cluster - 2) * SECTOR;
        image[at..at + data.len()].copy_from_slice(data);
        let entry = dir_entry(name, ATTR_ARCHIVE, first as u16, data.len() as u32);
        root[(slot + 1) * 32..(slot + 2) * 32].copy_from_slice(&entry);
        next_cluster += clusters;
    }

    for copy in 0..FAT_COUNT {
        let at = (fat_start + copy * SECTORS_PER_FAT) * SECTOR;
        image[at..at + fat.len()].copy_from_slice(&fat);
    }
    let at = root_start * SECTOR;
    image[at..at + root.len()].copy_from_slice(&root);
    Ok(image)
}

/// Writes the DOS 4.0 extended BPB into bytes 0x0B..0x3E of `sector` and the 0x55AA key.
fn write_bpb(sector: &mut [u8], reserved_sectors: u16) {
    let put16 = |s: &mut [u8], at: usize, v: u16| s[at..at + 2].copy_from_slice(&v.to_le_bytes());
    put16(sector, 0x0B, SECTOR as u16);
    sector[0x0D] = 1; // sectors per cluster
    put16(sector, 0x0E, reserved_sectors);
    sector[0x10] = FAT_COUNT as u8;
    put16(sector, 0x11, ROOT_ENTRIES as u16);
    put16(sector, 0x13, TOTAL_SECTORS as u16);
    sector[0x15] = MEDIA;
    put16(sector, 0x16, SECTORS_PER_FAT as u16);
    put16(sector, 0x18, 18); // sectors per track
    put16(sector, 0x1A, 2); // heads
    sector[0x1C..0x24].fill(0); // hidden sectors, 32-bit total sectors
    sector[0x24] = 0x00; // BIOS drive number: first floppy
    sector[0x25] = 0;
    sector[0x26] = 0x29; // extended boot signature: the next three fields are valid
    sector[0x27..0x2B].copy_from_slice(&VOLUME_ID.to_le_bytes());
    sector[0x2B..0x36].copy_from_slice(VOLUME_LABEL);
    sector[0x36..0x3E].copy_from_slice(b"FAT12   ");
    sector[510] = 0x55;
    sector[511] = 0xAA;
}

/// Sets the 12-bit FAT entry `index`: entries are packed two per three bytes.
fn set_fat12_entry(fat: &mut [u8], index: usize, value: u16) {
    let at = index * 3 / 2;
    let v = value & 0xFFF;
    if index.is_multiple_of(2) {
        fat[at] = v as u8;
        fat[at + 1] = (fat[at + 1] & 0xF0) | (v >> 8) as u8;
    } else {
        fat[at] = (fat[at] & 0x0F) | ((v << 4) as u8);
        fat[at + 1] = (v >> 4) as u8;
    }
}

/// A 32-byte root directory entry with fixed timestamps.
fn dir_entry(name: &[u8; 11], attr: u8, first_cluster: u16, size: u32) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(name);
    e[0x0B] = attr;
    e[0x10..0x12].copy_from_slice(&FIXED_DATE.to_le_bytes()); // created
    e[0x12..0x14].copy_from_slice(&FIXED_DATE.to_le_bytes()); // accessed
    e[0x18..0x1A].copy_from_slice(&FIXED_DATE.to_le_bytes()); // modified (time 0:00)
    e[0x1A..0x1C].copy_from_slice(&first_cluster.to_le_bytes());
    e[0x1C..0x20].copy_from_slice(&size.to_le_bytes());
    e
}

/// `"NETLOADR.CFG"` -> `b"NETLOADRCFG"`; only upper-case letters, digits and the
/// punctuation FAT allows in short names.
fn short_name(name: &str) -> Result<[u8; 11], FloppyError> {
    let invalid = || FloppyError::InvalidName(name.to_string());
    let (base, ext) = name.split_once('.').unwrap_or((name, ""));
    let allowed =
        |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit() || b"!#$%&'()-@^_`{}~".contains(&c);
    if base.is_empty()
        || base.len() > 8
        || ext.len() > 3
        || !base.bytes().chain(ext.bytes()).all(allowed)
    {
        return Err(invalid());
    }
    let mut out = [b' '; 11];
    out[..base.len()].copy_from_slice(base.as_bytes());
    out[8..8 + ext.len()].copy_from_slice(ext.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mbr::tests::{boot_in_qemu, run_tool, serial_print_code, temp_path};

    fn boot_sector() -> [u8; 512] {
        let mut s = [0x90u8; 512];
        s[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
        s[3..11].copy_from_slice(b"NETLOADR");
        s
    }

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn bpb_fields_at_exact_offsets() {
        let image = build_floppy(&boot_sector(), &payload(1000), &[]).unwrap();
        assert_eq!(image.len(), 1_474_560);
        let s = &image[..512];
        assert_eq!(s[0..11], *b"\xEB\x3C\x90NETLOADR");
        assert_eq!(s[0x0B..0x0D], [0x00, 0x02]);
        assert_eq!(s[0x0D], 1);
        assert_eq!(s[0x0E..0x10], [3, 0]); // 1 + ceil(1000 / 512)
        assert_eq!(s[0x10], 2);
        assert_eq!(s[0x11..0x13], [224, 0]);
        assert_eq!(s[0x13..0x15], [0x40, 0x0B]); // 2880
        assert_eq!(s[0x15], 0xF0);
        assert_eq!(s[0x16..0x18], [9, 0]);
        assert_eq!(s[0x18..0x1A], [18, 0]);
        assert_eq!(s[0x1A..0x1C], [2, 0]);
        assert_eq!(s[0x1C..0x24], [0; 8]);
        assert_eq!(s[0x24..0x27], [0, 0, 0x29]);
        assert_eq!(s[0x27..0x2B], [0x01, 0x01, 0x26, 0x20]);
        assert_eq!(s[0x2B..0x36], *b"NETLOADER  ");
        assert_eq!(s[0x36..0x3E], *b"FAT12   ");
        assert!(s[0x3E..510].iter().all(|&b| b == 0x90));
        assert_eq!(s[510..], [0x55, 0xAA]);
        // FAT 1 right after the payload: media byte, then end-of-chain for entry 1.
        assert_eq!(image[3 * 512..3 * 512 + 3], [0xF0, 0xFF, 0xFF]);
        assert_eq!(image[12 * 512..12 * 512 + 3], [0xF0, 0xFF, 0xFF]);
    }

    #[test]
    fn payload_sits_right_after_the_boot_sector() {
        let p = payload(20_000);
        let image = build_floppy(&boot_sector(), &p, &[]).unwrap();
        assert_eq!(image[512..512 + p.len()], p[..]);
        assert_eq!(u16::from_le_bytes([image[0x0E], image[0x0F]]), 1 + 40);
    }

    #[test]
    fn fat12_entries_pack_two_per_three_bytes() {
        let mut fat = [0u8; 6];
        set_fat12_entry(&mut fat, 0, 0xABC);
        set_fat12_entry(&mut fat, 1, 0x123);
        set_fat12_entry(&mut fat, 2, 0xFFF);
        assert_eq!(fat, [0xBC, 0x3A, 0x12, 0xFF, 0x0F, 0x00]);
    }

    #[test]
    fn names_must_be_upper_case_8_3() {
        assert_eq!(short_name("NETLOADR.CFG").unwrap(), *b"NETLOADRCFG");
        assert_eq!(short_name("README").unwrap(), *b"README     ");
        for bad in [
            "",
            ".CFG",
            "netload.cfg",
            "TOOLONGNAME.CFG",
            "A.CFGX",
            "A B.C",
            "A.B.C",
        ] {
            assert_eq!(
                short_name(bad),
                Err(FloppyError::InvalidName(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn errors_for_too_large_inputs() {
        let too_big = payload(MAX_PAYLOAD + 1);
        let err = build_floppy(&boot_sector(), &too_big, &[]).unwrap_err();
        assert_eq!(
            err,
            FloppyError::PayloadTooLarge {
                len: MAX_PAYLOAD + 1,
                max: MAX_PAYLOAD
            }
        );
        assert!(
            err.to_string()
                .contains(&format!("at most {MAX_PAYLOAD} bytes"))
        );
        assert!(build_floppy(&boot_sector(), &payload(MAX_PAYLOAD), &[]).is_ok());

        let big_file = vec![1u8; 1024];
        let err = build_floppy(
            &boot_sector(),
            &payload(MAX_PAYLOAD),
            &[("A.BIN", &big_file)],
        );
        assert_eq!(
            err,
            Err(FloppyError::FilesDoNotFit {
                needed_sectors: 2,
                free_sectors: 1
            })
        );
        let err = build_floppy(&boot_sector(), &[], &[("A.BIN", b"x"), ("A.BIN", b"y")]);
        assert_eq!(err, Err(FloppyError::DuplicateName("A.BIN".into())));
    }

    #[test]
    fn same_inputs_give_the_same_bytes() {
        let files: &[(&str, &[u8])] = &[("NETLOADR.CFG", b"kernel tftp://x/k\n")];
        let a = build_floppy(&boot_sector(), &payload(5000), files).unwrap();
        let b = build_floppy(&boot_sector(), &payload(5000), files).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn mtools_reads_the_files_back() {
        let config = b"kernel tftp://10.0.2.2/kernel.elf\nmodule tftp://10.0.2.2/initrd\n";
        let big = payload(3000); // several clusters: exercises the FAT chain
        let files: &[(&str, &[u8])] =
            &[("NETLOADR.CFG", config), ("BIG.BIN", &big), ("EMPTY", b"")];
        let image = build_floppy(&boot_sector(), &payload(30_000), files).unwrap();
        let path = temp_path("floppy.img");
        std::fs::write(&path, &image).unwrap();
        let img = path.to_str().unwrap();
        let listing = run_tool("mdir", &["-i", img, "::"]);
        let cfg = run_tool("mtype", &["-i", img, "::NETLOADR.CFG"]);
        let out = temp_path("big.out");
        run_tool(
            "mcopy",
            &["-n", "-i", img, "::BIG.BIN", out.to_str().unwrap()],
        );
        let check = run_tool("fsck.fat", &["-n", img]);
        let big_back = std::fs::read(&out).ok();
        std::fs::remove_file(&path).ok();
        std::fs::remove_file(&out).ok();
        assert!(listing.contains("NETLOADER"), "{listing}");
        assert!(listing.contains("NETLOADR CFG"), "{listing}");
        assert!(listing.contains("BIG      BIN      3000"), "{listing}");
        assert!(listing.contains("EMPTY"), "{listing}");
        assert_eq!(cfg.as_bytes(), config);
        assert_eq!(big_back.as_deref(), Some(&big[..]));
        eprintln!("{check}");
    }

    #[test]
    fn bios_boots_the_floppy() {
        let mut sector = boot_sector();
        let code = serial_print_code(b"FLOPPY-OK");
        sector[0x3E..0x3E + code.len()].copy_from_slice(&code);
        let files: &[(&str, &[u8])] = &[("NETLOADR.CFG", b"x\n")];
        let image = build_floppy(&sector, &payload(10_000), files).unwrap();
        let path = temp_path("boot.flp");
        std::fs::write(&path, &image).unwrap();
        let drive = format!("file={},format=raw,if=floppy", path.display());
        let out = boot_in_qemu("floppy", &["-drive", &drive, "-boot", "a"], "FLOPPY-OK");
        std::fs::remove_file(&path).ok();
        assert!(out.contains("FLOPPY-OK"), "serial: {out:?}");
    }
}
