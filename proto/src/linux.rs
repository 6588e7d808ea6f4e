//! The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), for the 32-bit entry that
//! GRUB's `linux` command uses on a BIOS PC:
//!
//! - [`BzImage`]: a typed view over a bzImage, checked once ([`BzImage::new_checked`]): the
//!   boot sector signature, `HdrS`, protocol 2.06 or newer with LOADED_HIGH, and the setup
//!   header fields a loader needs.
//! - [`ZeroPage`]: the `boot_params` page built in caller memory: zeroed, the setup header
//!   copied from 0x1F1 to `0x202 + byte[0x201]`, then type_of_loader, cmd_line_ptr (within
//!   cmdline_size), the initrd, the E820 table, screen_info (EGA text or a linear framebuffer,
//!   from the one [`crate::video::Framebuffer`] every protocol describes)
//!   and the ACPI RSDP.
//! - [`placement`]: where things go, as requests to the load planner: the kernel (its
//!   pref_address, else relocated with kernel_alignment stepping down to min_alignment, or at
//!   1 MiB when not relocatable) with the memory it needs from there (init_size), the initrds
//!   (concatenated, each at a 4-byte boundary, as high as initrd_addr_max allows and clear of
//!   the kernel), the zero page and command line (below 640 KiB).
//!
//! The runtime then enters the kernel at `code32_start` in 32-bit protected mode, paging off,
//! interrupts off, with a flat GDT (CS = 0x10, DS = ES = SS = 0x18), ESI = the zero page and
//! EBP = EDI = EBX = 0.

mod boot_params;
mod header;
pub mod placement;

#[cfg(test)]
mod tests;

use core::fmt;

pub use boot_params::{EfiInfo, TextCursor, ZeroPage};
pub use header::{BzImage, SetupHeader};

/// The zero page is one 4 KiB page.
pub const ZERO_PAGE_LEN: usize = 4096;

/// type_of_loader for a loader without an ID of its own (boot.rst: "If your boot loader does
/// not have an assigned id, enter 0xFF here"). netloader has none; it does not pose as GRUB
/// (0x7X) or iPXE (0x4X), whose IDs a kernel reports in /proc/sys/kernel/bootloader_type.
/// Any non-zero value makes the kernel take the initrd (0 means "no loader", and the kernel
/// then ignores ramdisk_image).
pub const TYPE_OF_LOADER_UNDEFINED: u8 = 0xFF;

/// Why a kernel file or its boot parameters were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinuxError {
    /// The file is shorter than the part of it that must be read (`needed` bytes).
    TooShort { len: usize, needed: usize },
    /// No 0xAA55 at 0x1FE: not a Linux kernel image.
    NoBootFlag,
    /// No "HdrS" at 0x202: a kernel from before 1.3.73, or not a kernel.
    NoHeader,
    /// Boot protocol older than 2.06.
    TooOld { version: u16 },
    /// A zImage (LOADED_HIGH clear): its protected-mode part wants to run at 0x10000.
    NotLoadedHigh,
    /// code32_start is 0: the image has no 32-bit entry (ipxe.lkrn is such a file).
    No32BitEntry,
    /// The header contradicts itself or the file.
    BadHeader { what: &'static str },
    /// The command line is longer than the kernel's cmdline_size.
    CmdlineTooLong { len: usize, max: u32 },
    /// More memory map entries than the zero page holds (128), after merging neighbours.
    TooManyE820 { entries: usize },
    /// The initrd does not fit between the kernel's memory and its highest allowed address.
    InitrdTooLarge { size: u64, room: u64 },
    /// A size or address past 4 GiB where the 32-bit entry needs it below.
    Above4GiB { what: &'static str },
}

impl LinuxError {
    /// A stable code for the one-line report.
    pub fn code(&self) -> &'static str {
        match self {
            LinuxError::TooOld { .. } | LinuxError::NotLoadedHigh => "E-KERNEL-LINUX-OLD",
            LinuxError::No32BitEntry => "E-KERNEL-LINUX-16BIT",
            LinuxError::CmdlineTooLong { .. } => "E-KERNEL-LINUX-CMDLINE",
            LinuxError::TooManyE820 { .. } => "E-KERNEL-LINUX-E820",
            LinuxError::InitrdTooLarge { .. } => "E-INITRD-TOOBIG",
            LinuxError::Above4GiB { .. } => "E-KERNEL-LINUX-4G",
            LinuxError::TooShort { .. }
            | LinuxError::NoBootFlag
            | LinuxError::NoHeader
            | LinuxError::BadHeader { .. } => "E-KERNEL-LINUX-FORMAT",
        }
    }

    /// What to check, for the end of the line.
    pub fn advice(&self) -> &'static str {
        match self {
            LinuxError::TooShort { .. } | LinuxError::BadHeader { .. } => {
                "check the file on the server (a cut or damaged bzImage?)"
            }
            LinuxError::NoBootFlag | LinuxError::NoHeader => {
                "`linux` boots bzImage files (vmlinuz); use `multiboot` or `multiboot2` for other kernels"
            }
            LinuxError::TooOld { .. } | LinuxError::NotLoadedHigh | LinuxError::No32BitEntry => {
                "netloader boots Linux 2.6.22 and newer (boot protocol 2.06) through the 32-bit entry"
            }
            LinuxError::CmdlineTooLong { .. } => "shorten the command line",
            LinuxError::TooManyE820 { .. } => "the BIOS memory map: please report it",
            LinuxError::InitrdTooLarge { .. } => "a smaller initrd, or more memory",
            LinuxError::Above4GiB { .. } => "a netloader bug: please report it",
        }
    }
}

impl fmt::Display for LinuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinuxError::TooShort { len, needed } => write!(
                f,
                "the kernel file has {len} bytes, its header needs at least {needed}"
            ),
            LinuxError::NoBootFlag => {
                f.write_str("not a Linux kernel: no boot sector signature 0xAA55 at 0x1FE")
            }
            LinuxError::NoHeader => f.write_str(
                "not a bzImage: no \"HdrS\" setup header at 0x202 (a kernel older than 1.3.73?)",
            ),
            LinuxError::TooOld { version } => write!(
                f,
                "Linux boot protocol {}.{:02} is older than 2.06",
                version >> 8,
                version & 0xFF
            ),
            LinuxError::NotLoadedHigh => {
                f.write_str("a zImage (LOADED_HIGH clear), which only the 16-bit entry boots")
            }
            LinuxError::No32BitEntry => {
                f.write_str("the image has no 32-bit entry (code32_start is 0)")
            }
            LinuxError::BadHeader { what } => write!(f, "bad Linux setup header: {what}"),
            LinuxError::CmdlineTooLong { len, max } => write!(
                f,
                "the command line has {len} bytes, the kernel takes at most {max}"
            ),
            LinuxError::TooManyE820 { entries } => write!(
                f,
                "the memory map has {entries} entries, the zero page holds 128"
            ),
            LinuxError::InitrdTooLarge { size, room } => write!(
                f,
                "the initrd needs {size} bytes, {room} are free between the kernel and its highest address"
            ),
            LinuxError::Above4GiB { what } => write!(f, "{what} lies above 4 GiB"),
        }
    }
}
