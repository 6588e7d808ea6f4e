//! The runtime's side of the load planner (`netloader_proto::planner`): what the loader itself
//! occupies, kernel segments put in place (or staged for the hand-off), files downloaded
//! straight into planned places. Every protocol module (multiboot.rs, multiboot2.rs, ...)
//! loads through here.
//!
//! Memory at boot (checked against the E820 map by the planner):
//! - the firmware's first page and the loader (0x7000 up to the end of its .bss) are reserved;
//! - the config lives in the last MiB of upper memory (`config_area`), so its text stays valid
//!   while modules arrive; the runtime's stack (256 KiB) right below it;
//! - a kernel file is downloaded to the upper half of upper memory (`scratch`), read there,
//!   and its segments copied to their addresses; a segment that lands on the loader's own
//!   memory is staged elsewhere and copied by the hand-off trampoline;
//! - modules follow the kernel, each page-aligned, where the planner finds room (fetch.rs
//!   places each file as it arrives);
//! - the trampoline and the boot information go to free conventional memory.

use core::ops::Range;

use netloader_proto::kernel::Placement;
use netloader_proto::memmap::MemoryMap;
use netloader_proto::planner::{self, Fixed, PlanError, Request, Use};

use super::handoff;
use super::{Failure, fail};

pub const MIB: u64 = 1024 * 1024;
pub const PAGE: u64 = 4096;
pub const CONFIG_AREA: u64 = MIB;
/// The stack the runtime runs on from the network card to the hand-off (main.rs switches to
/// it): the boot path's frames take ~80 KiB (a plan of 400 reservations by value, command-line
/// buffers), which conventional memory has no room for next to the decompressors' code.
pub const STACK_LEN: u64 = 256 * 1024;
/// Reservations a boot may need: the loader's few, up to 64 segments and their staged copies,
/// 256 modules, the boot information.
pub const PLAN_SLOTS: usize = 400;
/// Loadable segments a kernel may have.
pub const MAX_SEGMENTS: usize = 64;

pub type Planner = planner::Planner<PLAN_SLOTS>;

/// The memory the runtime's own areas come from (config, stack, download area, network
/// buffers): the platform's (`arch::work_area`).
pub fn work_area(map: &MemoryMap) -> Range<u64> {
    crate::arch::work_area(map)
}

pub fn align_up(value: u64, to: u64) -> u64 {
    value.div_ceil(to) * to
}

/// The fixed areas of upper and conventional memory.
pub struct Layout {
    pub config_area: Range<u64>,
    /// The runtime's stack, right below the config area.
    pub stack: Range<u64>,
    pub scratch: Range<u64>,
    /// The network's receive buffers (the TCP window, TFTP's ring), above upper memory's
    /// end here: free memory again once the kernel runs.
    pub network: Range<u64>,
    /// The first page above the loader's .bss.
    pub runtime_end: u64,
}

impl Layout {
    pub fn new(map: &MemoryMap) -> Result<Layout, Failure> {
        // The kernel runs in 32-bit mode and the boot information holds 32-bit addresses:
        // nothing of ours goes above 4 GiB, even where RAM runs on past it.
        // Its top holds the network's receive buffers while files download (net/mod.rs).
        let upper = work_area(map).start..crate::net::buffer_area(map).start;
        if upper.end.saturating_sub(upper.start) < 8 * MIB {
            return Err(fail!(
                "E-MEM-LOW",
                "only {} KiB of memory above 1 MiB: netloader needs at least 8 MiB",
                map.upper_kib()
            ));
        }
        let config_area = upper.end - CONFIG_AREA..upper.end;
        let stack = config_area.start - STACK_LEN..config_area.start;
        let scratch = align_up(upper.start + (upper.end - upper.start) / 2, PAGE)..stack.start;
        // netloader.efi's image is wherever the firmware loaded it: among the firmware's
        // ranges (`arch::firmware_held`), so nothing from 0x7000 up is the runtime's there.
        let runtime_end = crate::arch::runtime_end().map_or(0, |end| align_up(end, PAGE));
        Ok(Layout {
            config_area,
            stack,
            scratch,
            network: crate::net::buffer_area(map),
            runtime_end,
        })
    }

    /// A planner over `map` with the loader's own ranges reserved: the interrupt table and BIOS
    /// data (the first page), the real-mode stack, boot sector and runtime (0x7000 to the end
    /// of .bss), the runtime's stack, the config area, the download area and the network's
    /// receive buffers.
    pub fn planner(&self, map: &MemoryMap) -> Result<Planner, Failure> {
        let mut plan = Planner::new(map);
        // netloader.efi: what the firmware holds until ExitBootServices (its image included).
        for range in crate::arch::firmware_held() {
            plan.reserve_loader(range.base..range.end(), Use::BootServices)
                .map_err(|e| fail!("E-PANIC", "the memory plan: {e}"))?;
        }
        let loader = [
            (0..0x1000, Use::Firmware),
            (0x7000..self.runtime_end, Use::Loader),
            (self.stack.clone(), Use::Loader),
            (self.config_area.clone(), Use::Config),
            (self.scratch.clone(), Use::Download),
            (self.network.clone(), Use::LoaderBuffer),
        ];
        for (range, what) in loader {
            plan.reserve_loader(range, what)
                .map_err(|e| fail!("E-PANIC", "the memory plan: {e}"))?;
        }
        Ok(plan)
    }
}

/// Deferred copies for the hand-off trampoline.
pub type Copies = heapless::Vec<handoff::Copy, { handoff::MAX_COPIES }>;

/// Puts a kernel's segments in place from `file` (the downloaded kernel, in the download
/// area): each range is reserved as `Segment(i)` unless `reserved` says the caller already
/// holds the whole image (a relocated one); a segment that lands on the loader's own memory is
/// staged above `stage_above` and listed for the hand-off. Returns those deferred copies.
pub fn load_segments(
    plan: &mut Planner,
    file: &[u8],
    segments: &[Placement],
    reserved: bool,
    stage_above: u64,
    path: &str,
) -> Result<Copies, Failure> {
    let mut deferred = heapless::Vec::<usize, MAX_SEGMENTS>::new();
    // First every final range, so that no staged copy lands on a later segment's place.
    for (i, segment) in segments.iter().enumerate() {
        let fixed = if reserved {
            Fixed::Free
        } else {
            plan.reserve(segment.memory(), Use::Segment(i as u16))
                .map_err(|e| segment_failure(e, path))?
        };
        if let Fixed::Deferred { .. } = fixed {
            let _ = deferred.push(i);
        }
    }
    let mut copies = Copies::new();
    for (i, segment) in segments.iter().enumerate() {
        let bytes = &file[segment.file_range.clone()];
        let zero = segment.mem_size - bytes.len() as u64;
        if deferred.contains(&i) {
            let staged = if bytes.is_empty() {
                0
            } else {
                let request =
                    Request::pages(Use::Staging(i as u16), bytes.len() as u64).above(stage_above);
                let place = plan.place(request).map_err(|e| {
                    fail!(
                        "E-KERNEL-TOOBIG",
                        "{path}: {e}: give the machine more memory"
                    )
                })?;
                // SAFETY: a free place the planner just reserved for this copy; the source
                // is the downloaded file, which the place does not overlap.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        place.start as *mut u8,
                        bytes.len(),
                    )
                };
                place.start
            };
            copies
                .push(handoff::Copy {
                    src: staged as u32,
                    dst: segment.dest as u32,
                    len: bytes.len() as u32,
                    zero: zero as u32,
                })
                .map_err(|_| {
                    fail!(
                        "E-KERNEL-FORMAT",
                        "{path}: more than {} segments land on netloader's own memory",
                        handoff::MAX_COPIES
                    )
                })?;
        } else {
            // SAFETY: the planner reserved `segment.memory()` (or the caller the whole image)
            // as free usable RAM; the source lies in the download area, which it does not
            // overlap.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    segment.dest as *mut u8,
                    bytes.len(),
                );
                core::ptr::write_bytes(
                    (segment.dest + bytes.len() as u64) as *mut u8,
                    0,
                    zero as usize,
                );
            }
        }
    }
    Ok(copies)
}

/// Every segment must lie in usable RAM below 4 GiB (the message users know; the planner
/// checks the same again, with the loader's own ranges).
pub fn check_segments(map: &MemoryMap, segments: &[Placement], path: &str) -> Result<(), Failure> {
    for memory in segments.iter().map(Placement::memory) {
        if !map.is_ram(memory.start, memory.end) || memory.end > planner::LIMIT {
            return Err(fail!(
                "E-KERNEL-NORAM",
                "{path}: a segment wants {:#x}-{:#x}, which is not usable RAM on this machine (see the memory map above)",
                memory.start,
                memory.end
            ));
        }
    }
    Ok(())
}

fn segment_failure(e: PlanError, path: &str) -> Failure {
    match e {
        PlanError::NotRam { .. }
        | PlanError::Overlap {
            with: Use::Firmware | Use::Handoff,
            ..
        } => fail!("E-KERNEL-NORAM", "{path}: {e} (see the memory map above)"),
        PlanError::Overlap { .. } => fail!(
            "E-KERNEL-FORMAT",
            "{path}: {e}: the kernel's segments overlap"
        ),
        _ => fail!(
            "E-KERNEL-FORMAT",
            "{path}: {e}: too many segments (netloader takes {MAX_SEGMENTS})"
        ),
    }
}
