//! Where a Linux kernel, its initrd and its zero page go: the policy, as requests to the load
//! planner ([`crate::planner::Request`]: it knows what memory is free) and pure checks of what
//! it chose.
//!
//! - **Kernel.** A kernel runs at its load address rounded up to kernel_alignment, but never
//!   below its pref_address (its LOAD_PHYSICAL_ADDR: loaded lower, it moves itself up there;
//!   not relocatable, it always does), and needs init_size bytes from there (2.10+; before,
//!   GRUB's estimate of three times the file's protected-mode part). So: not relocatable, the
//!   file at 0x100000 with one piece reserved up to pref_address + init_size. Relocatable:
//!   first exactly at pref_address; else anywhere from pref_address up (16 MiB, GRUB's floor,
//!   before 2.10) aligned to kernel_alignment, then to each smaller power of two down to
//!   min_alignment, lowest address first (as GRUB, so that the initrd above has room), below
//!   4 GiB (the 32-bit entry runs with paging off). The zero page then says the alignment the
//!   kernel got, so that it runs where it was put.
//! - **Initrd.** Every file at a 4-byte boundary (zero padding between, never decompressed),
//!   as GRUB's `initrd a b` builds it; the whole as high as possible, 4 KiB aligned, ending at
//!   or below min(initrd_addr_max + 1, 4 GiB, `mem=`), starting at or above the end of the
//!   kernel's reserved memory (else its decompressor overwrites it).
//! - **Zero page and command line.** One piece: the 4 KiB page, then the command line and its
//!   NUL; in conventional memory from 64 KiB to 640 KiB, as high as possible (as GRUB), where
//!   netloader keeps all boot information.

use super::header::BZIMAGE_LOAD_ADDRESS;
use super::{BzImage, LinuxError, SetupHeader, ZERO_PAGE_LEN};
use crate::planner::{Prefer, Request, Use};

const MIB: u64 = 1 << 20;
const FOUR_GIB: u64 = 1 << 32;
/// GRUB's floor for a relocated kernel.
const RELOCATION_FLOOR: u64 = 16 * MIB;
const PAGE: u64 = 0x1000;
/// What the planner calls the kernel's reservation: one piece from the load address (the
/// protected-mode part, then the memory it runs in).
pub const KERNEL: Use = Use::Segment(0);

/// The kernel's places to try, in order ([`KernelPlan::attempts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelPlan {
    /// Memory reserved from the load address (page-aligned): the file, and the memory the
    /// kernel uses where it runs.
    pub size: u64,
    pub relocatable: bool,
    /// Relocatable: where the kernel would like to be. Not relocatable: 0x100000.
    pub preferred: u64,
    /// Relocatable: the lowest load address at which the kernel runs in place (below it, the
    /// kernel moves itself up to its pref_address).
    pub floor: u64,
    pub align_log2: u8,
    pub min_align_log2: u8,
    code32_start: u32,
}

/// Where the kernel went, as the zero page and the initrd need to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelLoad {
    /// The protected-mode part's first byte.
    pub address: u64,
    /// The alignment the kernel was given (what kernel_alignment must say).
    pub alignment: u32,
    /// The 32-bit entry: code32_start moved by as much as the kernel was.
    pub entry: u32,
    /// End of the memory reserved for it (`address + size`).
    pub reserved_end: u64,
}

fn page_align(size: u64) -> u64 {
    size.saturating_add(PAGE - 1) & !(PAGE - 1)
}

impl KernelPlan {
    pub fn new(kernel: &BzImage<'_>) -> Self {
        let header = kernel.header();
        let file = page_align(header.protected_len);
        // What the kernel needs where it runs: init_size (2.10+), else GRUB's estimate of
        // three times the compressed part.
        let running = match header.init_size {
            Some(init_size) => page_align(u64::from(init_size)).max(file),
            None => file.saturating_mul(3),
        };
        let align_log2 = header.kernel_alignment.trailing_zeros() as u8;
        if header.relocatable {
            let pref = header.pref_address.unwrap_or(RELOCATION_FLOOR);
            KernelPlan {
                size: running,
                relocatable: true,
                preferred: pref,
                // Before 2.10 the kernel does not say where it runs: GRUB's floor.
                floor: header.pref_address.map_or(RELOCATION_FLOOR, |p| p.max(MIB)),
                align_log2,
                min_align_log2: header.min_alignment_log2,
                code32_start: header.code32_start,
            }
        } else {
            // The file goes to 1 MiB; a 2.10+ kernel then runs at its pref_address with
            // init_size from there. One piece covers both.
            let end = match header.pref_address {
                Some(pref) => (BZIMAGE_LOAD_ADDRESS + file).max(pref.saturating_add(running)),
                None => BZIMAGE_LOAD_ADDRESS + running,
            };
            KernelPlan {
                size: end - BZIMAGE_LOAD_ADDRESS,
                relocatable: false,
                preferred: BZIMAGE_LOAD_ADDRESS,
                floor: BZIMAGE_LOAD_ADDRESS,
                align_log2,
                min_align_log2: align_log2,
                code32_start: header.code32_start,
            }
        }
    }

    /// The requests to try in order (each for [`KERNEL`]); the first the planner can meet is
    /// the place.
    pub fn attempts(&self) -> impl Iterator<Item = Request> + '_ {
        let exact = Request {
            what: KERNEL,
            size: self.size,
            align: 1,
            min: self.preferred,
            max: self.preferred.saturating_add(self.size),
            prefer: Prefer::Low,
        };
        // A relocatable kernel's pref_address is aligned as the kernel needs; one that is not
        // (a damaged header) is skipped rather than trusted.
        let exact = (!self.relocatable || self.preferred.is_multiple_of(1 << self.min_align_log2))
            .then_some(exact);
        // A kernel that cannot move has its one place only.
        let relocatable = self.relocatable;
        let steps = (self.min_align_log2..=self.align_log2).filter(move |_| relocatable);
        exact
            .into_iter()
            .chain(steps.rev().map(move |log2| Request {
                what: KERNEL,
                size: self.size,
                align: 1 << log2,
                min: self.floor,
                max: FOUR_GIB,
                prefer: Prefer::Low,
            }))
    }

    /// What the zero page and the initrd need once the planner has placed the kernel at
    /// `address` (meeting one of [`attempts`](Self::attempts)).
    pub fn loaded_at(&self, address: u64) -> Result<KernelLoad, LinuxError> {
        let reserved_end = address.saturating_add(self.size);
        if reserved_end > FOUR_GIB {
            return Err(LinuxError::Above4GiB { what: "the kernel" });
        }
        // The alignment the address really has, at most what the kernel asked for: the
        // kernel rounds its address up to kernel_alignment to find where to run.
        let lowest_bit = if address == 0 {
            1 << 31
        } else {
            address & address.wrapping_neg()
        };
        let alignment = lowest_bit.min(1 << self.align_log2).min(1 << 31);
        let moved = address.wrapping_sub(BZIMAGE_LOAD_ADDRESS);
        let entry = u64::from(self.code32_start).wrapping_add(moved);
        Ok(KernelLoad {
            address,
            alignment: alignment as u32,
            entry: u32::try_from(entry).map_err(|_| LinuxError::Above4GiB {
                what: "the kernel's entry",
            })?,
            reserved_end,
        })
    }
}

/// Several initrd files as one: where each begins and how long the whole is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitrdLayout {
    /// Bytes from the first file's start to the last file's end (ramdisk_size).
    pub size: u64,
}

impl InitrdLayout {
    /// `sizes` in order. Each file starts at a multiple of 4 bytes; the gaps are zeros.
    pub fn new(sizes: impl IntoIterator<Item = u64>) -> Result<Self, LinuxError> {
        let too_large = LinuxError::Above4GiB { what: "the initrd" };
        let mut end = 0u64;
        for size in sizes {
            end = Self::next_offset(end)
                .and_then(|start| start.checked_add(size))
                .ok_or(too_large)?;
        }
        Ok(InitrdLayout { size: end })
    }

    /// Where the file after one that ends at `end` begins (None past the address space).
    pub fn next_offset(end: u64) -> Option<u64> {
        Some(end.checked_add(3)? & !3)
    }
}

/// The last `mem=` on a kernel command line, in bytes (`mem=512M`, `mem=0x20000000`; K, M, G
/// suffixes), as the kernel takes it: memory above it does not exist for the kernel, so the
/// initrd must lie below. None when absent or unreadable (`mem=nopentium` and the like).
pub fn mem_limit(cmdline: &[u8]) -> Option<u64> {
    let mut limit = None;
    for word in cmdline.split(|&b| b == b' ' || b == b'\t') {
        let Some(value) = word.strip_prefix(b"mem=") else {
            continue;
        };
        if let Some(bytes) = parse_size(value) {
            limit = Some(bytes);
        }
    }
    limit
}

/// `memparse`: a decimal or 0x number with an optional K/M/G/T suffix.
fn parse_size(text: &[u8]) -> Option<u64> {
    let (digits, radix) = match text {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        _ => (text, 10),
    };
    let end = digits
        .iter()
        .position(|&b| (b as char).to_digit(radix).is_none())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let mut value = 0u64;
    for &d in &digits[..end] {
        let digit = (d as char).to_digit(radix)?;
        value = value.checked_mul(radix.into())?.checked_add(digit.into())?;
    }
    let shift = match &digits[end..] {
        [] => 0,
        [b'k' | b'K', ..] => 10,
        [b'm' | b'M', ..] => 20,
        [b'g' | b'G', ..] => 30,
        [b't' | b'T', ..] => 40,
        _ => return None,
    };
    value.checked_mul(1 << shift)
}

/// Where the initrd (`layout`) may go once the kernel is at `kernel`: the highest place below
/// its ceiling, clear of the kernel ([`Use::Initrd`]).
pub fn initrd_request(
    header: &SetupHeader,
    kernel: &KernelLoad,
    layout: &InitrdLayout,
    mem_limit: Option<u64>,
) -> Result<Request, LinuxError> {
    let max = initrd_ceiling(header, mem_limit);
    let min = kernel.reserved_end.saturating_add(PAGE - 1) & !(PAGE - 1);
    // Reserved in whole pages: nothing else may share the initrd's last page.
    let size = layout.size.saturating_add(PAGE - 1) & !(PAGE - 1);
    let room = max.saturating_sub(min);
    if size > room {
        return Err(LinuxError::InitrdTooLarge {
            size: layout.size,
            room,
        });
    }
    Ok(Request {
        what: Use::Initrd,
        size,
        align: PAGE,
        min,
        max,
        prefer: Prefer::High,
    })
}

/// The end (exclusive, page-aligned) of the memory an initrd may occupy: min(initrd_addr_max
/// + 1, 4 GiB, `mem=`).
pub fn initrd_ceiling(header: &SetupHeader, mem_limit: Option<u64>) -> u64 {
    let allowed_end = u64::from(header.initrd_addr_max) + 1;
    allowed_end.min(FOUR_GIB).min(mem_limit.unwrap_or(u64::MAX)) & !(PAGE - 1)
}

/// Lowest address of the zero page (the real-mode IVT and BIOS data below it stay intact).
const ZERO_PAGE_FLOOR: u64 = 0x1_0000;
/// Conventional memory ends at 640 KiB (the EBDA and the video memory follow).
const CONVENTIONAL_END: u64 = 0xA_0000;

/// Where the zero page and, right after it, a command line of `cmdline_len` bytes (without
/// its NUL) go ([`Use::BootInfo`]).
pub fn zero_page_request(cmdline_len: usize) -> Request {
    Request {
        what: Use::BootInfo,
        size: ZERO_PAGE_LEN as u64 + cmdline_len as u64 + 1,
        align: PAGE,
        min: ZERO_PAGE_FLOOR,
        max: CONVENTIONAL_END,
        prefer: Prefer::High,
    }
}
