//! The bzImage view: the setup header fields, checked once.

use core::ops::Range;

use super::LinuxError;

/// Offsets in the file (the same as in the zero page).
pub(super) mod offset {
    pub const SETUP_SECTS: usize = 0x1F1;
    pub const SYSSIZE: usize = 0x1F4;
    pub const BOOT_FLAG: usize = 0x1FE;
    pub const JUMP: usize = 0x200;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const LOADFLAGS: usize = 0x211;
    pub const CODE32_START: usize = 0x214;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21C;
    pub const HEAP_END_PTR: usize = 0x224;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const INITRD_ADDR_MAX: usize = 0x22C;
    pub const KERNEL_ALIGNMENT: usize = 0x230;
    pub const RELOCATABLE_KERNEL: usize = 0x234;
    pub const MIN_ALIGNMENT: usize = 0x235;
    pub const XLOADFLAGS: usize = 0x236;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const PREF_ADDRESS: usize = 0x258;
    pub const INIT_SIZE: usize = 0x260;
    /// Where the zero page's next structure (edd_mbr_sig_buffer) begins: no setup header may
    /// reach past it.
    pub const HEADER_LIMIT: usize = 0x290;
}

/// loadflags bit 0: the protected-mode part is loaded at 0x100000 (a bzImage).
pub const LOADED_HIGH: u8 = 1 << 0;
/// loadflags bit 7 (written by a loader): heap_end_ptr is valid.
pub const CAN_USE_HEAP: u8 = 1 << 7;
/// "HdrS", little-endian.
const HDRS: u32 = u32::from_le_bytes(*b"HdrS");
/// setup_sects 0 means 4 (boot.rst, for compatibility with the oldest kernels).
const DEFAULT_SETUP_SECTS: u8 = 4;
/// Where a bzImage's protected-mode part runs when it is not moved (and where a kernel that
/// is not relocatable must be).
pub const BZIMAGE_LOAD_ADDRESS: u64 = 0x10_0000;

/// The setup header fields a loader reads, with the protocol's defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupHeader {
    /// Boot protocol, e.g. 0x020F for 2.15.
    pub version: u16,
    /// Sectors of real-mode setup after the boot sector (0 in the file reads as 4).
    pub setup_sects: u8,
    /// Size of the protected-mode part in 16-byte units, as the header says (0: not given).
    pub syssize: u32,
    pub loadflags: u8,
    /// The 32-bit entry when the kernel runs where it was built to (0x100000).
    pub code32_start: u32,
    /// Highest address the initrd may occupy (its last byte).
    pub initrd_addr_max: u32,
    /// Alignment the kernel wants when relocated (a power of two).
    pub kernel_alignment: u32,
    /// The kernel may be loaded elsewhere than 0x100000.
    pub relocatable: bool,
    /// log2 of the least alignment a relocated kernel accepts (2.10+; before: that of
    /// kernel_alignment, no stepping down).
    pub min_alignment_log2: u8,
    /// 2.12+: XLF_* bits (bit 0: 64-bit entry at +0x200; bit 1: may be loaded above 4 GiB).
    pub xloadflags: u16,
    /// Longest command line, without its NUL.
    pub cmdline_size: u32,
    /// 2.10+: where the kernel runs: a relocatable kernel loaded lower moves itself up there
    /// (its LOAD_PHYSICAL_ADDR), one that is not relocatable always does.
    pub pref_address: Option<u64>,
    /// 2.10+: memory the kernel needs from where it runs while it decompresses and starts.
    pub init_size: Option<u32>,
    /// Bytes of the protected-mode part in the file.
    pub protected_len: u64,
    /// The setup header's end in the file: `0x202 + byte[0x201]`.
    pub header_end: usize,
}

/// A bzImage whose header has been checked.
#[derive(Clone, Copy, Debug)]
pub struct BzImage<'a> {
    file: &'a [u8],
    header: SetupHeader,
}

fn read<const N: usize>(file: &[u8], at: usize) -> Option<[u8; N]> {
    file.get(at..at + N)?.try_into().ok()
}

fn u8_at(file: &[u8], at: usize) -> Option<u8> {
    file.get(at).copied()
}

fn u16_at(file: &[u8], at: usize) -> Option<u16> {
    read(file, at).map(u16::from_le_bytes)
}

fn u32_at(file: &[u8], at: usize) -> Option<u32> {
    read(file, at).map(u32::from_le_bytes)
}

fn u64_at(file: &[u8], at: usize) -> Option<u64> {
    read(file, at).map(u64::from_le_bytes)
}

impl<'a> BzImage<'a> {
    /// Checks `file` as a bzImage for the 32-bit entry: boot protocol 2.06 or newer, loaded
    /// high, a setup header that fits the file, and a protected-mode part after the setup.
    pub fn new_checked(file: &'a [u8]) -> Result<Self, LinuxError> {
        use offset::*;
        let too_short = |needed: usize| LinuxError::TooShort {
            len: file.len(),
            needed,
        };
        let bad = |what| LinuxError::BadHeader { what };
        if file.len() < VERSION + 2 {
            return Err(too_short(VERSION + 2));
        }
        if u16_at(file, BOOT_FLAG) != Some(0xAA55) {
            return Err(LinuxError::NoBootFlag);
        }
        if u32_at(file, HEADER) != Some(HDRS) {
            return Err(LinuxError::NoHeader);
        }
        let version = u16_at(file, VERSION).ok_or(too_short(VERSION + 2))?;
        if version < 0x0206 {
            return Err(LinuxError::TooOld { version });
        }
        // The header's length is the jump's displacement at 0x200 (a short jump over it).
        let header_end = HEADER + usize::from(u8_at(file, JUMP + 1).unwrap_or(0));
        if header_end > HEADER_LIMIT {
            return Err(bad("the setup header runs into the rest of the zero page"));
        }
        // Protocol 2.06 defines fields up to cmdline_size, 2.10 up to init_size: the header
        // must hold them.
        let needed_end = if version >= 0x020A {
            INIT_SIZE + 4
        } else {
            CMDLINE_SIZE + 4
        };
        if header_end < needed_end {
            return Err(bad("the setup header is shorter than its version requires"));
        }
        if file.len() < header_end {
            return Err(too_short(header_end));
        }
        // From here every field below `header_end` is inside the file.
        let field = |value: Option<u32>| value.ok_or(too_short(header_end));
        let loadflags = u8_at(file, LOADFLAGS).unwrap_or(0);
        if loadflags & LOADED_HIGH == 0 {
            return Err(LinuxError::NotLoadedHigh);
        }
        let setup_sects = match u8_at(file, SETUP_SECTS).unwrap_or(0) {
            0 => DEFAULT_SETUP_SECTS,
            n => n,
        };
        let setup_len = (usize::from(setup_sects) + 1) * 512;
        if file.len() <= setup_len {
            return Err(too_short(setup_len + 1));
        }
        let protected_len = (file.len() - setup_len) as u64;
        let syssize = field(u32_at(file, SYSSIZE))?;
        // The build pads the protected-mode part to 16 bytes and records its size: a file
        // shorter than that was cut (in transit, or on disk).
        if u64::from(syssize) * 16 > protected_len + 15 {
            return Err(bad(
                "the file is shorter than its header says (syssize): cut short?",
            ));
        }
        let code32_start = field(u32_at(file, CODE32_START))?;
        if code32_start == 0 {
            return Err(LinuxError::No32BitEntry);
        }
        let kernel_alignment = field(u32_at(file, KERNEL_ALIGNMENT))?;
        // As GRUB: an alignment that is not a power of two makes the kernel non-relocatable.
        let relocatable =
            u8_at(file, RELOCATABLE_KERNEL).unwrap_or(0) != 0 && kernel_alignment.is_power_of_two();
        let align_log2 = if kernel_alignment.is_power_of_two() {
            kernel_alignment.trailing_zeros() as u8
        } else {
            12
        };
        let (min_alignment_log2, pref_address, init_size) = if version >= 0x020A {
            let init_size = field(u32_at(file, INIT_SIZE))?;
            let pref = u64_at(file, PREF_ADDRESS).ok_or(too_short(header_end))?;
            // At least a page, at most the kernel's own alignment.
            let min = u8_at(file, MIN_ALIGNMENT)
                .unwrap_or(0)
                .clamp(12, align_log2.max(12));
            (min, Some(pref), Some(init_size))
        } else {
            (align_log2.max(12), None, None)
        };
        let header = SetupHeader {
            version,
            setup_sects,
            syssize,
            loadflags,
            code32_start,
            initrd_addr_max: field(u32_at(file, INITRD_ADDR_MAX))?,
            kernel_alignment: if kernel_alignment.is_power_of_two() {
                kernel_alignment.max(0x1000)
            } else {
                0x1000
            },
            relocatable,
            min_alignment_log2,
            xloadflags: if version >= 0x020C {
                u16_at(file, XLOADFLAGS).unwrap_or(0)
            } else {
                0
            },
            cmdline_size: field(u32_at(file, CMDLINE_SIZE))?,
            pref_address,
            init_size,
            protected_len,
            header_end,
        };
        Ok(BzImage { file, header })
    }

    pub fn header(&self) -> &SetupHeader {
        &self.header
    }

    /// The whole file.
    pub fn file(&self) -> &'a [u8] {
        self.file
    }

    /// The bytes of the setup header as the zero page takes them: 0x1F1 to its end.
    pub fn setup_header_bytes(&self) -> &'a [u8] {
        &self.file[offset::SETUP_SECTS..self.header.header_end]
    }

    /// The file range of the protected-mode part (loaded at the kernel's load address).
    pub fn protected_mode_range(&self) -> Range<usize> {
        (usize::from(self.header.setup_sects) + 1) * 512..self.file.len()
    }

    /// The protected-mode part's bytes.
    pub fn protected_mode(&self) -> &'a [u8] {
        &self.file[self.protected_mode_range()]
    }
}
