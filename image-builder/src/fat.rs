//! FAT12 and FAT16 volumes, written whole: the 1.44 MB floppy and the EFI system partition
//! (ESP) that the ISO and USB images carry for UEFI firmware.
//!
//! One writer for both. Layout: boot sector | reserved area | FAT 1 | FAT 2 | root directory |
//! data clusters: the subdirectories (in the order their paths first appear), then the files in
//! the order given, each one contiguous. Names are upper-case 8.3 (no long names:
//! `EFI/BOOT/BOOTX64.EFI` needs none); dates and the volume id are fixed, so the same inputs
//! give the same bytes.
//!
//! - **Floppy**: 2880 sectors, FAT12, the standard 1.44 MB BPB. The boot sector's code reads
//!   the payload by CHS from sectors 1.. itself; the payload lives in the FAT *reserved area*
//!   (reserved sectors = 1 + payload sectors), so the file system never hands those sectors
//!   out. The BPB makes the floppy a proper FAT12 disk that OSes and mtools read, and small
//!   files (e.g. `NETLOADR.CFG`) can sit in the root directory where a user can edit them.
//! - **ESP**: as small as its files allow, with 2 KiB clusters (one CD sector). FAT12 while the
//!   volume has at most 4084 clusters, FAT16 beyond: the cluster count alone decides the type
//!   (Microsoft's FAT specification, and every reader computes it so), and UEFI firmware reads
//!   all three FAT types (UEFI 2.10, 13.3). Read-only in use: no free space is kept.

use std::fmt;

/// Size of a 1.44 MB floppy image in bytes.
pub const FLOPPY_BYTES: usize = FLOPPY_SECTORS * SECTOR;

const SECTOR: usize = 512;
const FAT_COUNT: usize = 2;
const DIR_ENTRY: usize = 32;

const FLOPPY_SECTORS: usize = 2880;
const FLOPPY_SECTORS_PER_FAT: usize = 9;
const FLOPPY_ROOT_ENTRIES: usize = 224;
const FLOPPY_MEDIA: u8 = 0xF0;

/// 2 KiB: a cluster is one CD sector, so the ESP inside an ISO is whole CD sectors.
const ESP_SECTORS_PER_CLUSTER: usize = 4;
/// What formatting tools give hard disks (and the FAT specification recommends for FAT16).
const ESP_ROOT_ENTRIES: usize = 512;
/// A fixed disk.
const ESP_MEDIA: u8 = 0xF8;
/// The 64 x 32 geometry of the MBR writer (crate::mbr), for the BPB's CHS fields.
const ESP_SECTORS_PER_TRACK: u16 = crate::mbr::SECTORS_PER_TRACK as u16;
const ESP_HEADS: u16 = crate::mbr::HEADS as u16;
/// `cli; hlt; jmp $-3`: the ESP is never booted through its boot sector, but if a BIOS ever
/// jumps there it stops instead of running zeros.
const HALT: [u8; 4] = [0xFA, 0xF4, 0xEB, 0xFD];

/// The FAT type follows from the number of data clusters alone.
const FAT12_MAX_CLUSTERS: usize = 4084;
const FAT16_MAX_CLUSTERS: usize = 65524;

/// Fixed so the same inputs give the same image (FAT tools often derive it from a clock).
const VOLUME_ID: u32 = 0x2026_0101;
const VOLUME_LABEL: &[u8; 11] = b"NETLOADER  ";
/// 2026-01-01 in FAT date format: (year - 1980) << 9 | month << 5 | day.
const FIXED_DATE: u16 = (46 << 9) | (1 << 5) | 1;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_VOLUME_ID: u8 = 0x08;

/// Why a FAT volume could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FatError {
    /// The floppy's payload does not fit in the reserved area with the FAT metadata after it.
    PayloadTooLarge { len: usize, max: usize },
    /// A path has a part that is not an upper-case 8.3 name (`NAME.EXT`, 1-8 + 0-3 characters).
    InvalidName(String),
    /// Two files have the same path, or a file's name is also a directory's.
    DuplicateName(String),
    /// The files need more clusters (or root directory entries) than the floppy has left.
    FilesDoNotFit {
        needed_sectors: usize,
        free_sectors: usize,
    },
    /// The files need more than FAT16's 65524 clusters of 2 KiB (128 MiB).
    TooLarge { bytes: usize },
}

impl fmt::Display for FatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FatError::PayloadTooLarge { len, max } => write!(
                f,
                "payload of {len} bytes does not fit on a 1.44 MB floppy: at most {max} bytes fit"
            ),
            FatError::InvalidName(name) => write!(
                f,
                "{name:?} is not a valid 8.3 file name (upper-case NAME.EXT, 1-8 and 0-3 characters, parts separated by /)"
            ),
            FatError::DuplicateName(name) => write!(f, "file {name:?} is given twice"),
            FatError::FilesDoNotFit {
                needed_sectors,
                free_sectors,
            } => write!(
                f,
                "files need {needed_sectors} sectors but only {free_sectors} are free on the floppy"
            ),
            FatError::TooLarge { bytes } => write!(
                f,
                "{bytes} bytes of files do not fit in a FAT16 EFI system partition (at most 128 MiB)"
            ),
        }
    }
}

impl std::error::Error for FatError {}

/// The largest payload that fits on the floppy: everything except the boot sector, the FAT
/// metadata and one data cluster (a FAT volume without any data cluster confuses readers).
pub const MAX_PAYLOAD: usize = (FLOPPY_SECTORS
    - 1
    - FAT_COUNT * FLOPPY_SECTORS_PER_FAT
    - FLOPPY_ROOT_ENTRIES * DIR_ENTRY / SECTOR
    - 1)
    * SECTOR;

/// Builds the 1,474,560-byte floppy: `boot_sector` with a FAT12 BPB written into bytes
/// 0x0B..0x3E (bytes 0..0x0B, the jump and OEM name, and 0x3E..0x1FE are kept; 0x55AA is set),
/// the payload from sector 1 (offset 512), then the FATs, the root directory and `files`
/// (`NAME.EXT`, or paths such as `DIR/NAME.EXT`).
pub fn build_floppy(
    boot_sector: &[u8; 512],
    payload: &[u8],
    files: &[(&str, &[u8])],
) -> Result<Vec<u8>, FatError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(FatError::PayloadTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    let tree = Tree::of(files)?;
    let geometry = Geometry {
        total_sectors: FLOPPY_SECTORS,
        sectors_per_cluster: 1,
        reserved_sectors: 1 + payload.len().div_ceil(SECTOR),
        sectors_per_fat: FLOPPY_SECTORS_PER_FAT,
        root_entries: FLOPPY_ROOT_ENTRIES,
        media: FLOPPY_MEDIA,
        sectors_per_track: 18,
        heads: 2,
        hidden_sectors: 0,
        drive_number: 0x00, // the first floppy
    };
    let needed = tree.clusters_needed(geometry.cluster_bytes());
    // One root entry is the volume label.
    if needed > geometry.clusters() || tree.root_entries() + 1 > geometry.root_entries {
        return Err(FatError::FilesDoNotFit {
            needed_sectors: needed * geometry.sectors_per_cluster,
            free_sectors: geometry.clusters() * geometry.sectors_per_cluster,
        });
    }
    Ok(write_volume(&geometry, boot_sector, payload, &tree, files))
}

/// Builds an EFI system partition holding `files` (paths such as `EFI/BOOT/BOOTX64.EFI`), as
/// small as they allow. `hidden_sectors` is where the volume starts on its disk (the BPB says
/// so for DOS-era readers; UEFI firmware does not look).
pub fn build_esp(files: &[(&str, &[u8])], hidden_sectors: u32) -> Result<Vec<u8>, FatError> {
    let tree = Tree::of(files)?;
    let cluster_bytes = ESP_SECTORS_PER_CLUSTER * SECTOR;
    let needed = tree.clusters_needed(cluster_bytes).max(1);
    let (clusters, fat_bytes) = if needed <= FAT12_MAX_CLUSTERS {
        (needed, (needed + 2) * 3 / 2 + 1)
    } else if needed <= FAT16_MAX_CLUSTERS {
        // A FAT16 volume has more than 4084 clusters, or readers take it for FAT12.
        let clusters = needed.max(FAT12_MAX_CLUSTERS + 1);
        (clusters, (clusters + 2) * 2)
    } else {
        return Err(FatError::TooLarge {
            bytes: files.iter().map(|(_, data)| data.len()).sum(),
        });
    };
    let mut geometry = Geometry {
        total_sectors: 0,
        sectors_per_cluster: ESP_SECTORS_PER_CLUSTER,
        reserved_sectors: 1,
        sectors_per_fat: fat_bytes.div_ceil(SECTOR),
        root_entries: ESP_ROOT_ENTRIES,
        media: ESP_MEDIA,
        sectors_per_track: ESP_SECTORS_PER_TRACK,
        heads: ESP_HEADS,
        hidden_sectors,
        drive_number: 0x80, // a hard disk
    };
    // Whole clusters, so whole CD sectors; the count readers derive is the one planned.
    geometry.total_sectors = geometry.data_start() + clusters * geometry.sectors_per_cluster;
    debug_assert_eq!(geometry.clusters(), clusters);
    if tree.root_entries() + 1 > geometry.root_entries {
        return Err(FatError::FilesDoNotFit {
            needed_sectors: (tree.root_entries() + 1) * DIR_ENTRY / SECTOR,
            free_sectors: geometry.root_dir_sectors(),
        });
    }
    let mut boot_sector = [0u8; 512];
    boot_sector[..11].copy_from_slice(b"\xEB\x3C\x90NETLOADR");
    boot_sector[0x3E..0x3E + HALT.len()].copy_from_slice(&HALT);
    Ok(write_volume(&geometry, &boot_sector, &[], &tree, files))
}

/// The shape of a volume: what its BPB says.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    total_sectors: usize,
    sectors_per_cluster: usize,
    /// The boot sector and what follows it before the first FAT.
    reserved_sectors: usize,
    sectors_per_fat: usize,
    root_entries: usize,
    media: u8,
    sectors_per_track: u16,
    heads: u16,
    hidden_sectors: u32,
    drive_number: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FatType {
    Fat12,
    Fat16,
}

impl Geometry {
    fn cluster_bytes(&self) -> usize {
        self.sectors_per_cluster * SECTOR
    }
    fn root_dir_sectors(&self) -> usize {
        (self.root_entries * DIR_ENTRY).div_ceil(SECTOR)
    }
    fn root_start(&self) -> usize {
        self.reserved_sectors + FAT_COUNT * self.sectors_per_fat
    }
    fn data_start(&self) -> usize {
        self.root_start() + self.root_dir_sectors()
    }
    /// Data clusters, as every FAT reader computes them.
    fn clusters(&self) -> usize {
        self.total_sectors.saturating_sub(self.data_start()) / self.sectors_per_cluster
    }
    fn fat_type(&self) -> FatType {
        if self.clusters() <= FAT12_MAX_CLUSTERS {
            FatType::Fat12
        } else {
            FatType::Fat16
        }
    }
    /// Sector offset of cluster `n` (data clusters are numbered from 2).
    fn cluster_sector(&self, n: usize) -> usize {
        self.data_start() + (n - 2) * self.sectors_per_cluster
    }
}

/// The directories and files of a volume, from the paths given.
struct Tree {
    /// Index 0 is the root.
    dirs: Vec<Dir>,
    /// Per file given, in the same order.
    files: Vec<FileRef>,
}

struct Dir {
    name: [u8; 11],
    parent: usize,
    /// In the order first named.
    entries: Vec<Entry>,
}

struct FileRef {
    name: [u8; 11],
    len: usize,
}

#[derive(Clone, Copy)]
enum Entry {
    Dir(usize),
    File(usize),
}

impl Tree {
    fn of(files: &[(&str, &[u8])]) -> Result<Tree, FatError> {
        let mut tree = Tree {
            dirs: vec![Dir {
                name: [b' '; 11],
                parent: 0,
                entries: Vec::new(),
            }],
            files: Vec::with_capacity(files.len()),
        };
        for (index, (path, data)) in files.iter().enumerate() {
            let parts = path
                .split('/')
                .map(short_name)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| FatError::InvalidName(path.to_string()))?;
            let Some((file_name, dir_names)) = parts.split_last() else {
                return Err(FatError::InvalidName(path.to_string()));
            };
            let mut dir = 0;
            for name in dir_names {
                dir = match tree.find(dir, name) {
                    Some(Entry::Dir(sub)) => sub,
                    Some(Entry::File(_)) => return Err(FatError::DuplicateName(path.to_string())),
                    None => {
                        tree.dirs.push(Dir {
                            name: *name,
                            parent: dir,
                            entries: Vec::new(),
                        });
                        let sub = tree.dirs.len() - 1;
                        tree.dirs[dir].entries.push(Entry::Dir(sub));
                        sub
                    }
                };
            }
            if tree.find(dir, file_name).is_some() {
                return Err(FatError::DuplicateName(path.to_string()));
            }
            tree.dirs[dir].entries.push(Entry::File(index));
            tree.files.push(FileRef {
                name: *file_name,
                len: data.len(),
            });
        }
        Ok(tree)
    }

    fn find(&self, dir: usize, name: &[u8; 11]) -> Option<Entry> {
        self.dirs[dir]
            .entries
            .iter()
            .copied()
            .find(|entry| self.name_of(*entry) == name)
    }

    fn name_of(&self, entry: Entry) -> &[u8; 11] {
        match entry {
            Entry::Dir(d) => &self.dirs[d].name,
            Entry::File(f) => &self.files[f].name,
        }
    }

    fn root_entries(&self) -> usize {
        self.dirs[0].entries.len()
    }

    /// Clusters of a subdirectory: its entries after "." and "..".
    fn dir_clusters(&self, dir: usize, cluster_bytes: usize) -> usize {
        ((self.dirs[dir].entries.len() + 2) * DIR_ENTRY).div_ceil(cluster_bytes)
    }

    fn file_clusters(&self, file: usize, cluster_bytes: usize) -> usize {
        self.files[file].len.div_ceil(cluster_bytes)
    }

    /// Data clusters for every subdirectory and file.
    fn clusters_needed(&self, cluster_bytes: usize) -> usize {
        let dirs: usize = (1..self.dirs.len())
            .map(|d| self.dir_clusters(d, cluster_bytes))
            .sum();
        let files: usize = (0..self.files.len())
            .map(|f| self.file_clusters(f, cluster_bytes))
            .sum();
        dirs + files
    }
}

/// The volume's bytes; the caller has checked that everything fits.
fn write_volume(
    geometry: &Geometry,
    boot_sector: &[u8; 512],
    payload: &[u8],
    tree: &Tree,
    files: &[(&str, &[u8])],
) -> Vec<u8> {
    let mut image = vec![0u8; geometry.total_sectors * SECTOR];
    image[..SECTOR].copy_from_slice(boot_sector);
    write_bpb(&mut image[..SECTOR], geometry);
    image[SECTOR..SECTOR + payload.len()].copy_from_slice(payload);

    let mut fat = Fat::new(geometry);
    let cluster_bytes = geometry.cluster_bytes();
    // Contiguous from cluster 2: the subdirectories, then the files. The root has no cluster
    // (FAT12/16 keep it in its fixed area), which ".." entries write as 0.
    let mut next = 2usize;
    let mut dir_cluster = vec![0usize; tree.dirs.len()];
    for (dir, first) in dir_cluster.iter_mut().enumerate().skip(1) {
        let count = tree.dir_clusters(dir, cluster_bytes);
        *first = next;
        fat.chain(next, count);
        next += count;
    }
    let mut file_cluster = vec![0usize; files.len()];
    for (file, (_, data)) in files.iter().enumerate() {
        let count = tree.file_clusters(file, cluster_bytes);
        if count == 0 {
            continue; // an empty file has no cluster
        }
        file_cluster[file] = next;
        fat.chain(next, count);
        let at = geometry.cluster_sector(next) * SECTOR;
        image[at..at + data.len()].copy_from_slice(data);
        next += count;
    }

    for (index, dir) in tree.dirs.iter().enumerate() {
        let mut records = Vec::with_capacity(dir.entries.len() + 2);
        let at = if index == 0 {
            records.push(dir_entry(VOLUME_LABEL, ATTR_VOLUME_ID, 0, 0));
            geometry.root_start() * SECTOR
        } else {
            let parent = dir_cluster[dir.parent];
            records.push(dir_entry(
                b".          ",
                ATTR_DIRECTORY,
                dir_cluster[index],
                0,
            ));
            records.push(dir_entry(b"..         ", ATTR_DIRECTORY, parent, 0));
            geometry.cluster_sector(dir_cluster[index]) * SECTOR
        };
        for entry in &dir.entries {
            records.push(match *entry {
                Entry::Dir(d) => dir_entry(&tree.dirs[d].name, ATTR_DIRECTORY, dir_cluster[d], 0),
                Entry::File(f) => dir_entry(
                    &tree.files[f].name,
                    ATTR_ARCHIVE,
                    file_cluster[f],
                    tree.files[f].len as u32,
                ),
            });
        }
        for (slot, record) in records.iter().enumerate() {
            let at = at + slot * DIR_ENTRY;
            image[at..at + DIR_ENTRY].copy_from_slice(record);
        }
    }

    for copy in 0..FAT_COUNT {
        let at = (geometry.reserved_sectors + copy * geometry.sectors_per_fat) * SECTOR;
        image[at..at + fat.bytes.len()].copy_from_slice(&fat.bytes);
    }
    image
}

/// One copy of the file allocation table.
struct Fat {
    kind: FatType,
    bytes: Vec<u8>,
}

impl Fat {
    /// Entry 0 holds the media byte, entry 1 the end-of-chain mark.
    fn new(geometry: &Geometry) -> Fat {
        let mut fat = Fat {
            kind: geometry.fat_type(),
            bytes: vec![0u8; geometry.sectors_per_fat * SECTOR],
        };
        fat.set(0, 0xFF00 | u16::from(geometry.media));
        fat.set(1, fat.end_of_chain());
        fat
    }

    fn end_of_chain(&self) -> u16 {
        match self.kind {
            FatType::Fat12 => 0xFFF,
            FatType::Fat16 => 0xFFFF,
        }
    }

    fn set(&mut self, index: usize, value: u16) {
        match self.kind {
            FatType::Fat12 => set_fat12_entry(&mut self.bytes, index, value),
            FatType::Fat16 => {
                self.bytes[index * 2..index * 2 + 2].copy_from_slice(&value.to_le_bytes())
            }
        }
    }

    /// `count` clusters from `first`, each pointing at the next, the last at the end mark.
    fn chain(&mut self, first: usize, count: usize) {
        for cluster in first..first + count {
            let next = if cluster + 1 == first + count {
                self.end_of_chain()
            } else {
                (cluster + 1) as u16
            };
            self.set(cluster, next);
        }
    }
}

/// Writes the DOS 4.0 extended BPB into bytes 0x0B..0x3E of `sector` and the 0x55AA key.
fn write_bpb(sector: &mut [u8], geometry: &Geometry) {
    let put16 = |s: &mut [u8], at: usize, v: u16| s[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 = |s: &mut [u8], at: usize, v: u32| s[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put16(sector, 0x0B, SECTOR as u16);
    sector[0x0D] = geometry.sectors_per_cluster as u8;
    put16(sector, 0x0E, geometry.reserved_sectors as u16);
    sector[0x10] = FAT_COUNT as u8;
    put16(sector, 0x11, geometry.root_entries as u16);
    // The 16-bit count when it fits, else the 32-bit one (at 0x20).
    match u16::try_from(geometry.total_sectors) {
        Ok(total) => {
            put16(sector, 0x13, total);
            put32(sector, 0x20, 0);
        }
        Err(_) => {
            put16(sector, 0x13, 0);
            put32(sector, 0x20, geometry.total_sectors as u32);
        }
    }
    sector[0x15] = geometry.media;
    put16(sector, 0x16, geometry.sectors_per_fat as u16);
    put16(sector, 0x18, geometry.sectors_per_track);
    put16(sector, 0x1A, geometry.heads);
    put32(sector, 0x1C, geometry.hidden_sectors);
    sector[0x24] = geometry.drive_number;
    sector[0x25] = 0;
    sector[0x26] = 0x29; // extended boot signature: the next three fields are valid
    sector[0x27..0x2B].copy_from_slice(&VOLUME_ID.to_le_bytes());
    sector[0x2B..0x36].copy_from_slice(VOLUME_LABEL);
    sector[0x36..0x3E].copy_from_slice(match geometry.fat_type() {
        FatType::Fat12 => b"FAT12   ",
        FatType::Fat16 => b"FAT16   ",
    });
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

/// A 32-byte directory entry with fixed timestamps.
fn dir_entry(name: &[u8; 11], attr: u8, first_cluster: usize, size: u32) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(name);
    e[0x0B] = attr;
    e[0x10..0x12].copy_from_slice(&FIXED_DATE.to_le_bytes()); // created
    e[0x12..0x14].copy_from_slice(&FIXED_DATE.to_le_bytes()); // accessed
    e[0x18..0x1A].copy_from_slice(&FIXED_DATE.to_le_bytes()); // modified (time 0:00)
    e[0x1A..0x1C].copy_from_slice(&(first_cluster as u16).to_le_bytes());
    e[0x1C..0x20].copy_from_slice(&size.to_le_bytes());
    e
}

/// `"NETLOADR.CFG"` -> `b"NETLOADRCFG"`; only upper-case letters, digits and the
/// punctuation FAT allows in short names.
fn short_name(name: &str) -> Option<[u8; 11]> {
    let (base, ext) = name.split_once('.').unwrap_or((name, ""));
    let allowed =
        |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit() || b"!#$%&'()-@^_`{}~".contains(&c);
    if base.is_empty()
        || base.len() > 8
        || ext.len() > 3
        || !base.bytes().chain(ext.bytes()).all(allowed)
    {
        return None;
    }
    let mut out = [b' '; 11];
    out[..base.len()].copy_from_slice(base.as_bytes());
    out[8..8 + ext.len()].copy_from_slice(ext.as_bytes());
    Some(out)
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
            assert_eq!(short_name(bad), None, "{bad:?}");
        }
        for bad in [
            "",
            "A.B.C",
            "EFI//BOOT.EFI",
            "/A.EFI",
            "EFI/",
            "efi/BOOT.EFI",
        ] {
            assert_eq!(
                build_esp(&[(bad, b"x")], 0),
                Err(FatError::InvalidName(bad.to_string())),
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
            FatError::PayloadTooLarge {
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
            Err(FatError::FilesDoNotFit {
                needed_sectors: 2,
                free_sectors: 1
            })
        );
        let err = build_floppy(&boot_sector(), &[], &[("A.BIN", b"x"), ("A.BIN", b"y")]);
        assert_eq!(err, Err(FatError::DuplicateName("A.BIN".into())));
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

    fn app(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 509) as u8).collect()
    }

    #[test]
    fn esp_bpb_fields_at_exact_offsets() {
        let image = build_esp(&[("EFI/BOOT/BOOTX64.EFI", &app(100_000))], 4096).unwrap();
        let s = &image[..512];
        assert_eq!(s[0..11], *b"\xEB\x3C\x90NETLOADR");
        assert_eq!(s[0x0B..0x0D], [0x00, 0x02]);
        assert_eq!(s[0x0D], 4, "2 KiB clusters");
        assert_eq!(s[0x0E..0x10], [1, 0]);
        assert_eq!(s[0x10], 2);
        assert_eq!(s[0x11..0x13], [0x00, 0x02], "512 root entries");
        // 49 clusters for the file, one each for EFI and EFI/BOOT: 51 clusters, a FAT of
        // (51 + 2) * 1.5 bytes = 1 sector; 1 + 2 + 32 + 51 * 4 = 239 sectors.
        assert_eq!(s[0x13..0x15], [239, 0]);
        assert_eq!(image.len(), 239 * 512);
        assert_eq!(s[0x15], 0xF8);
        assert_eq!(s[0x16..0x18], [1, 0]);
        assert_eq!(s[0x18..0x1A], [32, 0]);
        assert_eq!(s[0x1A..0x1C], [64, 0]);
        assert_eq!(s[0x1C..0x20], [0x00, 0x10, 0, 0], "hidden sectors");
        assert_eq!(s[0x20..0x24], [0; 4]);
        assert_eq!(s[0x24..0x27], [0x80, 0, 0x29]);
        assert_eq!(s[0x2B..0x36], *b"NETLOADER  ");
        assert_eq!(s[0x36..0x3E], *b"FAT12   ");
        assert_eq!(s[0x3E..0x42], HALT);
        assert_eq!(s[510..], [0x55, 0xAA]);
        // The FAT: media, end mark, then EFI (2), EFI/BOOT (3), the file's chain 4..52.
        assert_eq!(image[512..512 + 6], [0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        // The file's data starts at cluster 4: sector 35 + 2 * 4.
        assert_eq!(image[43 * 512..43 * 512 + 100_000], app(100_000)[..]);
    }

    /// mtools and fsck.fat (dosfstools) read the ESP: the tree, the bytes, the FAT type; both
    /// FAT12 and, past 4084 clusters, FAT16.
    #[test]
    fn mtools_and_fsck_read_the_esp() {
        for (len, fat_type, bits) in [(300_000, "FAT12", 12), (9 << 20, "FAT16", 16)] {
            let boot = app(len);
            let files: &[(&str, &[u8])] = &[
                ("EFI/BOOT/BOOTX64.EFI", &boot),
                ("EFI/NETLOADR/NOTE.TXT", b"hello\n"),
                ("README", b""),
            ];
            let image = build_esp(files, 0).unwrap();
            assert_eq!(image[0x36..0x3E], *format!("{fat_type}   ").as_bytes());
            let path = temp_path(&format!("esp-{fat_type}.img"));
            std::fs::write(&path, &image).unwrap();
            let img = path.to_str().unwrap();
            let check = run_tool("fsck.fat", &["-n", "-v", img]);
            let info = run_tool("minfo", &["-i", img, "::"]);
            let listing = run_tool("mdir", &["-i", img, "-/", "::"]);
            let note = run_tool("mtype", &["-i", img, "::/EFI/NETLOADR/NOTE.TXT"]);
            let out = temp_path(&format!("esp-{fat_type}.efi"));
            run_tool(
                "mcopy",
                &[
                    "-n",
                    "-i",
                    img,
                    "::/EFI/BOOT/BOOTX64.EFI",
                    out.to_str().unwrap(),
                ],
            );
            let back = std::fs::read(&out).ok();
            std::fs::remove_file(&path).ok();
            std::fs::remove_file(&out).ok();
            // fsck.fat exits 0 (run_tool checks) only for a volume without errors.
            assert!(
                check.contains(&format!("2 FATs, {bits} bit entries")),
                "{check}"
            );
            assert!(
                info.contains(&format!("disk type=\"{fat_type}   \"")),
                "{info}"
            );
            assert!(listing.contains("BOOTX64  EFI"), "{listing}");
            assert!(listing.contains(&format!("{len}")), "{listing}");
            assert_eq!(note, "hello\n");
            assert!(back.as_deref() == Some(&boot[..]), "BOOTX64.EFI read back");
        }
    }

    #[test]
    fn esp_errors() {
        let err = build_esp(&[("EFI/BOOT", b"x"), ("EFI/BOOT/BOOTX64.EFI", b"y")], 0);
        assert_eq!(
            err,
            Err(FatError::DuplicateName("EFI/BOOT/BOOTX64.EFI".into()))
        );
        let err = build_esp(&[("EFI/A", b"x"), ("EFI/A", b"y")], 0);
        assert_eq!(err, Err(FatError::DuplicateName("EFI/A".into())));
        // 65525 clusters of 2 KiB: one more than FAT16 holds (a zeroed allocation, not written).
        let huge = vec![0u8; 65_525 * 2048];
        let err = build_esp(&[("BIG", &huge)], 0).unwrap_err();
        assert_eq!(err, FatError::TooLarge { bytes: huge.len() });
        assert!(err.to_string().contains("at most 128 MiB"), "{err}");
        assert_eq!(
            build_esp(&[("EFI/BOOT/BOOTX64.EFI", b"x")], 0),
            build_esp(&[("EFI/BOOT/BOOTX64.EFI", b"x")], 0),
            "same inputs, same bytes"
        );
    }

    /// Seeded random trees (nested directories, empty files, a directory of 100 entries that
    /// spills over several clusters): fsck.fat finds no error and mtools copies every file
    /// back byte for byte.
    #[test]
    fn random_trees_read_back_whole() {
        let mut rng = netloader_proto::test_rng::Rng::new(0xE5F_0016);
        let dirs = ["", "EFI", "EFI/BOOT", "A/B/C", "NETLOADR.CFG"];
        for case in 0..8 {
            let count = if case == 0 { 100 } else { 1 + rng.index(12) };
            let mut files: Vec<(String, Vec<u8>)> = Vec::new();
            for n in 0..count {
                let dir = if case == 0 {
                    "MANY"
                } else {
                    dirs[rng.index(dirs.len())]
                };
                let name = format!("F{n}.BIN");
                let path = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                let len = match rng.below(4) {
                    0 => 0,
                    1 => rng.index(2048) + 1,
                    _ => rng.index(40_000),
                };
                files.push((path, (0..len).map(|_| rng.below(256) as u8).collect()));
            }
            let borrowed: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(p, d)| (p.as_str(), d.as_slice()))
                .collect();
            let image = build_esp(&borrowed, 0).unwrap();
            let path = temp_path(&format!("random-{case}.img"));
            std::fs::write(&path, &image).unwrap();
            let img = path.to_str().unwrap();
            run_tool("fsck.fat", &["-n", img]);
            let out = temp_path(&format!("random-{case}.out"));
            std::fs::create_dir_all(&out).unwrap();
            run_tool(
                "mcopy",
                &["-s", "-n", "-i", img, "::/*", out.to_str().unwrap()],
            );
            let back: Vec<Option<Vec<u8>>> = files
                .iter()
                .map(|(p, _)| std::fs::read(out.join(p)).ok())
                .collect();
            std::fs::remove_file(&path).ok();
            std::fs::remove_dir_all(&out).ok();
            for ((p, data), back) in files.iter().zip(back) {
                assert!(back.as_deref() == Some(&data[..]), "case {case}: {p}");
            }
        }
    }
}
