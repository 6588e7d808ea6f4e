//! MBR partition table writer.
//!
//! Only the table part of sector 0 is written (disk signature, four entries, the 0x55AA
//! key): the boot code in bytes 0..0x1B8 belongs to the caller and is never touched.
//! CHS fields use the 64 heads × 32 sectors geometry ("ZIP-drive compatible") that iPXE's
//! `.usb` and isohybrid use, so BIOSes that guess the geometry from the table agree with it.

use std::fmt;

/// Heads of the geometry the CHS fields are computed with.
pub const HEADS: u32 = 64;
/// Sectors per track of the geometry the CHS fields are computed with.
pub const SECTORS_PER_TRACK: u32 = 32;

/// Offset of the 32-bit disk signature.
pub const DISK_SIGNATURE_OFFSET: usize = 0x1B8;
/// Offset of the first of the four partition entries.
pub const TABLE_OFFSET: usize = 0x1BE;
/// Number of primary partition entries in an MBR.
pub const MAX_ENTRIES: usize = 4;

/// The partition type of an EFI system partition in an MBR (UEFI 2.10, 5.2.2).
pub const EFI_SYSTEM_PARTITION_TYPE: u8 = 0xEF;

/// CHS triple written when an address is beyond what CHS can express (cylinder 1023,
/// head 254, sector 63): the conventional "use LBA" marker.
const CHS_MAX: [u8; 3] = [0xFE, 0xFF, 0xFF];

/// One primary partition. An entry with `kind == 0` and `sectors == 0` is written as an
/// empty (all-zero) slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionEntry {
    /// The active flag (0x80) that a classic MBR boot sector looks for.
    pub bootable: bool,
    /// The partition type byte (e.g. 0x17 for an isohybrid ISO, 0x0C for FAT32 LBA).
    pub kind: u8,
    /// First sector, counted in 512-byte sectors from the start of the disk.
    pub start_lba: u32,
    /// Length in 512-byte sectors.
    pub sectors: u32,
}

impl PartitionEntry {
    /// The 16 bytes of this entry as they appear in the table.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        if self.kind == 0 && self.sectors == 0 {
            return out;
        }
        out[0] = if self.bootable { 0x80 } else { 0x00 };
        out[1..4].copy_from_slice(&lba_to_chs(self.start_lba));
        out[4] = self.kind;
        let last = self
            .start_lba
            .saturating_add(self.sectors.saturating_sub(1));
        out[5..8].copy_from_slice(&lba_to_chs(last));
        out[8..12].copy_from_slice(&self.start_lba.to_le_bytes());
        out[12..16].copy_from_slice(&self.sectors.to_le_bytes());
        out
    }
}

/// The packed CHS bytes (head, sector | cylinder bits 8-9, cylinder bits 0-7) of `lba`
/// in the 64 × 32 geometry, or 1023/254/63 when the cylinder does not fit in 10 bits.
pub fn lba_to_chs(lba: u32) -> [u8; 3] {
    let cylinder = lba / (HEADS * SECTORS_PER_TRACK);
    if cylinder > 1023 {
        return CHS_MAX;
    }
    let head = (lba / SECTORS_PER_TRACK) % HEADS;
    let sector = lba % SECTORS_PER_TRACK + 1;
    [
        head as u8,
        (sector as u8) | (((cylinder >> 8) as u8 & 0x03) << 6),
        cylinder as u8,
    ]
}

/// Why a partition table could not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MbrError {
    /// An MBR holds at most four primary partitions.
    TooManyEntries(usize),
}

impl fmt::Display for MbrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MbrError::TooManyEntries(n) => {
                write!(f, "an MBR holds at most {MAX_ENTRIES} partitions, got {n}")
            }
        }
    }
}

impl std::error::Error for MbrError {}

/// Writes the disk signature (0x1B8), two zero bytes (0x1BC), the four entries (0x1BE;
/// missing ones are zeroed) and the 0x55AA key (510). Bytes 0..0x1B8 are left as they are.
pub fn write_partition_table(
    sector: &mut [u8; 512],
    entries: &[PartitionEntry],
    disk_signature: u32,
) -> Result<(), MbrError> {
    if entries.len() > MAX_ENTRIES {
        return Err(MbrError::TooManyEntries(entries.len()));
    }
    sector[DISK_SIGNATURE_OFFSET..DISK_SIGNATURE_OFFSET + 4]
        .copy_from_slice(&disk_signature.to_le_bytes());
    sector[0x1BC..0x1BE].fill(0);
    for slot in 0..MAX_ENTRIES {
        let bytes = entries
            .get(slot)
            .map_or([0u8; 16], PartitionEntry::to_bytes);
        let at = TABLE_OFFSET + slot * 16;
        sector[at..at + 16].copy_from_slice(&bytes);
    }
    sector[510] = 0x55;
    sector[511] = 0xAA;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::Command;

    /// Runs an outside tool used as an independent reader and returns what it printed. A
    /// missing tool fails the test: `scripts/install-deps` installs every one of them, so a
    /// check that silently did not run would be a check that cannot fail.
    pub(crate) fn run_tool(program: &str, args: &[&str]) -> String {
        match Command::new(program).args(args).output() {
            Ok(out) => {
                assert!(
                    out.status.success(),
                    "{program} {args:?} failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                text
            }
            Err(e) => panic!(
                "{program} could not run ({e}): scripts/install-deps installs it (Debian: xorriso, fdisk, mtools, dosfstools)"
            ),
        }
    }

    /// A unique temporary file path for a test image.
    pub(crate) fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("netloader-{}-{name}", std::process::id()))
    }

    /// 16-bit code that writes `text` to COM1 and halts: `mov dx, 0x3F8`, then
    /// `mov al, c; out dx, al` per byte, then `hlt; jmp $-1`.
    pub(crate) fn serial_print_code(text: &[u8]) -> Vec<u8> {
        let mut code = vec![0xBA, 0xF8, 0x03];
        for &c in text {
            code.extend_from_slice(&[0xB0, c, 0xEE]);
        }
        code.extend_from_slice(&[0xF4, 0xEB, 0xFD]);
        code
    }

    /// Boots QEMU (TCG, SeaBIOS, no network card) with `args` until `expect` shows on COM1,
    /// with a generous guard against hangs (120 s), and returns the serial output. A missing
    /// QEMU fails the test (`scripts/install-deps` installs it).
    pub(crate) fn boot_in_qemu(name: &str, args: &[&str], expect: &str) -> String {
        let serial = temp_path(&format!("{name}.serial"));
        std::fs::write(&serial, b"").unwrap();
        let serial_arg = format!("file:{}", serial.display());
        let spawned = Command::new("qemu-system-x86_64")
            .args([
                "-machine",
                "accel=tcg",
                "-nic",
                "none",
                "-display",
                "none",
                "-no-reboot",
                "-m",
                "32",
                "-serial",
                &serial_arg,
            ])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let mut child = spawned.unwrap_or_else(|e| {
            panic!("qemu-system-x86_64 could not run ({e}): scripts/install-deps installs it")
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut output = String::new();
        while std::time::Instant::now() < deadline {
            output = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into();
            if output.contains(expect) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child.kill().ok();
        child.wait().ok();
        std::fs::remove_file(&serial).ok();
        output
    }

    #[test]
    fn chs_in_64_by_32_geometry() {
        assert_eq!(lba_to_chs(0), [0, 1, 0]);
        assert_eq!(lba_to_chs(31), [0, 32, 0]);
        assert_eq!(lba_to_chs(32), [1, 1, 0]);
        assert_eq!(lba_to_chs(2047), [63, 32, 0]);
        assert_eq!(lba_to_chs(2048), [0, 1, 1]);
        // Cylinder 300 = 0x12C: bits 8-9 go to the top of the sector byte.
        assert_eq!(lba_to_chs(300 * 2048), [0, 0x41, 0x2C]);
        assert_eq!(lba_to_chs(1024 * 2048 - 1), [63, 0xE0, 0xFF]);
        assert_eq!(lba_to_chs(1024 * 2048), [0xFE, 0xFF, 0xFF]);
        assert_eq!(lba_to_chs(u32::MAX), [0xFE, 0xFF, 0xFF]);
    }

    #[test]
    fn table_at_exact_offsets_and_boot_code_untouched() {
        let mut sector = [0xCCu8; 512];
        let entry = PartitionEntry {
            bootable: true,
            kind: 0xEB,
            start_lba: 2048,
            sectors: 4096,
        };
        write_partition_table(&mut sector, &[entry], 0x1234_5678).unwrap();
        assert!(sector[..0x1B8].iter().all(|&b| b == 0xCC));
        assert_eq!(sector[0x1B8..0x1BC], [0x78, 0x56, 0x34, 0x12]);
        assert_eq!(sector[0x1BC..0x1BE], [0, 0]);
        assert_eq!(
            sector[0x1BE..0x1CE],
            [
                0x80, 0, 1, 1, 0xEB, 63, 32, 2, 0x00, 0x08, 0, 0, 0x00, 0x10, 0, 0
            ]
        );
        assert!(sector[0x1CE..0x1FE].iter().all(|&b| b == 0));
        assert_eq!(sector[510..], [0x55, 0xAA]);
    }

    #[test]
    fn more_than_four_entries_is_an_error() {
        let mut sector = [0u8; 512];
        let e = PartitionEntry {
            bootable: false,
            kind: 0x83,
            start_lba: 1,
            sectors: 1,
        };
        assert_eq!(
            write_partition_table(&mut sector, &[e; 5], 0),
            Err(MbrError::TooManyEntries(5))
        );
        assert_eq!(sector, [0u8; 512]);
    }

    #[test]
    fn fdisk_sees_the_partition() {
        let mut disk = vec![0u8; 8 * 1024 * 1024];
        let mut sector = [0u8; 512];
        let entry = PartitionEntry {
            bootable: true,
            kind: 0xEB,
            start_lba: 2048,
            sectors: 8192,
        };
        write_partition_table(&mut sector, &[entry], 0xCAFE_F00D).unwrap();
        disk[..512].copy_from_slice(&sector);
        let path = temp_path("mbr.img");
        std::fs::write(&path, &disk).unwrap();
        let report = run_tool("fdisk", &["-l", path.to_str().unwrap()]);
        std::fs::remove_file(&path).ok();
        assert!(report.contains("0xcafef00d"), "{report}");
        let line = report
            .lines()
            .find(|l| l.contains("mbr.img1"))
            .unwrap_or_else(|| panic!("no partition line in:\n{report}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Device Boot Start End Sectors Size Id Type
        assert_eq!(&fields[1..5], &["*", "2048", "10239", "8192"], "{line}");
        assert_eq!(fields[6], "eb", "{line}");
    }

    #[test]
    fn bios_boots_the_mbr_code() {
        let mut sector = [0u8; 512];
        let code = serial_print_code(b"MBR-OK");
        sector[..code.len()].copy_from_slice(&code);
        let entry = PartitionEntry {
            bootable: true,
            kind: 0xEB,
            start_lba: 2048,
            sectors: 2048,
        };
        write_partition_table(&mut sector, &[entry], 1).unwrap();
        let mut disk = vec![0u8; 2 * 1024 * 1024];
        disk[..512].copy_from_slice(&sector);
        let path = temp_path("boot-mbr.img");
        std::fs::write(&path, &disk).unwrap();
        let drive = format!("file={},format=raw,if=ide", path.display());
        let out = boot_in_qemu("mbr", &["-drive", &drive, "-boot", "c"], "MBR-OK");
        std::fs::remove_file(&path).ok();
        assert!(out.contains("MBR-OK"), "serial: {out:?}");
    }
}
