//! The load planner: one physical memory allocator over the E820 map that every boot protocol
//! (Multiboot 1, Multiboot 2, Linux) asks for places, so that none of them does its own
//! arithmetic about what is free.
//!
//! # The model
//!
//! - **Usable RAM** is what the map says is RAM and no other entry claims (BIOSes report
//!   overlapping entries; the stricter wins, as in [`MemoryMap::is_ram`]), below 4 GiB: every
//!   protocol here enters its kernel in 32-bit mode with 32-bit addresses.
//! - **Reservations** name what occupies a range ([`Use`]). Two kinds:
//!   - *the loader's own* ([`Use::ends_at_handoff`]: the runtime, its buffers, the config, a
//!     kernel file being read): they exist until the hand-off and are gone afterwards. They are
//!     recorded with [`Planner::reserve_loader`], wherever they lie (inside RAM or not);
//!   - *the payload's* (segments, modules, initrds, the boot information, the trampoline):
//!     inside usable RAM, never overlapping one another, the firmware's areas or the hand-off.
//! - A **fixed** payload range ([`Planner::reserve`]: a kernel segment that must sit at its
//!   address) may land on the loader's own memory: the answer is then [`Fixed::Deferred`], and
//!   the caller stages the bytes elsewhere (a [`Use::Staging`] place) for the hand-off to copy
//!   once the loader is gone. A fixed range on another payload range or on firmware is an error.
//! - A **placed** range ([`Planner::place`]) is free of every reservation: size, alignment,
//!   `[min, max)` bounds and a preference (lowest or highest address). "Highest below X" (a
//!   Linux initrd) is `Prefer::High` with `max = X`.
//!
//! Nothing allocates: the reservations live in a fixed table of `N` entries (a full table is a
//! clear error, [`PlanError::TableFull`]). Reservations are kept sorted by start address, so
//! listings are stable.

use core::fmt;
use core::ops::Range;

use crate::memmap::MemoryMap;

/// Everything the planner hands out lies below this: the kernels run in 32-bit mode.
pub const LIMIT: u64 = 1 << 32;

/// What a reserved range holds (for the listing, for messages, and for its lifetime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// The real-mode interrupt table, the BIOS data area, stage 1's scratch bytes: never the
    /// payload's, even after the hand-off.
    Firmware,
    /// netloader itself: its image, stacks and .bss.
    Loader,
    /// A UEFI firmware's boot-services code and data, and the memory it keeps for its own
    /// allocations while netloader.efi runs: in use until ExitBootServices (just before the
    /// hand-off), RAM for the kernel afterwards.
    BootServices,
    /// A buffer of the loader outside its image (a bounce buffer, a decompression dictionary).
    LoaderBuffer,
    /// The config text (read again while the boot information is built).
    Config,
    /// Where a kernel file is downloaded and read before its parts go to their places.
    Download,
    /// A kernel's loadable segment `n` at its final address (or a relocated image as a whole).
    Segment(u16),
    /// A copy of segment `n` that the hand-off moves to its final place (which the loader
    /// occupies until then).
    Staging(u16),
    /// Module `n` (from 0), page-aligned.
    Module(u16),
    /// The initrd (all of a `linux` entry's initrd files, one after the other).
    Initrd,
    /// The kernel's ELF section headers and the sections that are not loaded by segments.
    Sections,
    /// The boot information: the MBI or boot_params, command lines, module list.
    BootInfo,
    /// The hand-off trampoline, its GDT and its copy list.
    Handoff,
}

impl Use {
    /// True for the loader's own ranges: in use until the hand-off, free afterwards.
    pub fn ends_at_handoff(self) -> bool {
        matches!(
            self,
            Use::Loader | Use::BootServices | Use::LoaderBuffer | Use::Config | Use::Download
        )
    }
}

impl fmt::Display for Use {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Use::Firmware => f.write_str("the BIOS's data (interrupt table, BIOS data area)"),
            Use::Loader => f.write_str("netloader itself"),
            Use::BootServices => f.write_str("the firmware's boot services"),
            Use::LoaderBuffer => f.write_str("a buffer of netloader"),
            Use::Config => f.write_str("the config"),
            Use::Download => f.write_str("the kernel file being read"),
            Use::Segment(n) => write!(f, "kernel segment {n}"),
            Use::Staging(n) => write!(f, "the staged copy of kernel segment {n}"),
            Use::Module(n) => write!(f, "module {n}"),
            Use::Initrd => f.write_str("the initrd"),
            Use::Sections => f.write_str("the kernel's ELF sections"),
            Use::BootInfo => f.write_str("the boot information"),
            Use::Handoff => f.write_str("the hand-off trampoline"),
        }
    }
}

/// One reserved range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub start: u64,
    pub end: u64,
    pub what: Use,
}

impl Reservation {
    pub fn range(&self) -> Range<u64> {
        self.start..self.end
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }
}

/// Which end of the allowed window a placement prefers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefer {
    /// The lowest address that fits (modules, the boot information).
    Low,
    /// The highest address that fits (an initrd below `initrd_addr_max`, a relocatable image
    /// that asks for it).
    High,
}

/// A place to find: `size` bytes at a multiple of `align`, inside `[min, max)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub what: Use,
    pub size: u64,
    /// A power of two (1 for none).
    pub align: u64,
    /// The lowest allowed start.
    pub min: u64,
    /// The placed range ends at or below this (exclusive bound; clipped to [`LIMIT`]).
    pub max: u64,
    pub prefer: Prefer,
}

impl Request {
    /// `size` bytes, page-aligned, anywhere below 4 GiB, lowest first.
    pub fn pages(what: Use, size: u64) -> Request {
        Request {
            what,
            size,
            align: 4096,
            min: 0,
            max: LIMIT,
            prefer: Prefer::Low,
        }
    }

    pub fn above(mut self, min: u64) -> Request {
        self.min = min;
        self
    }

    pub fn below(mut self, max: u64) -> Request {
        self.max = max;
        self
    }

    pub fn aligned(mut self, align: u64) -> Request {
        self.align = align;
        self
    }

    pub fn highest(mut self) -> Request {
        self.prefer = Prefer::High;
        self
    }

    /// True when a place starting at `address` meets the request's alignment and window
    /// (whatever is free there).
    pub fn admits(&self, address: u64) -> bool {
        address.is_multiple_of(self.align.max(1))
            && address >= self.min
            && address
                .checked_add(self.size)
                .is_some_and(|end| end <= self.max.min(LIMIT))
    }
}

/// Where a fixed range stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixed {
    /// Free now: write it.
    Free,
    /// On the loader's own memory (`under`): stage the bytes elsewhere; the hand-off copies
    /// them here once the loader is gone.
    Deferred { under: Use },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// A fixed range is not all usable RAM (or reaches past 4 GiB).
    NotRam { what: Use, start: u64, end: u64 },
    /// A fixed range overlaps something it may not.
    Overlap {
        what: Use,
        start: u64,
        end: u64,
        with: Use,
        with_start: u64,
        with_end: u64,
    },
    /// No free place fits the request; `largest` is the largest free block inside its window.
    NoRoom {
        what: Use,
        size: u64,
        align: u64,
        min: u64,
        max: u64,
        largest: u64,
    },
    /// Empty size, an alignment that is not a power of two, or a window that is empty.
    BadRequest { what: Use },
    /// The reservation table (N entries) is full.
    TableFull { what: Use },
}

impl PlanError {
    /// What the failed reservation was for.
    pub fn what(&self) -> Use {
        match *self {
            PlanError::NotRam { what, .. }
            | PlanError::Overlap { what, .. }
            | PlanError::NoRoom { what, .. }
            | PlanError::BadRequest { what }
            | PlanError::TableFull { what } => what,
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PlanError::NotRam { what, start, end } => write!(
                f,
                "{what} wants {start:#x}-{end:#x}, which is not all usable RAM below 4 GiB on this machine"
            ),
            PlanError::Overlap {
                what,
                start,
                end,
                with,
                with_start,
                with_end,
            } => write!(
                f,
                "{what} wants {start:#x}-{end:#x}, which overlaps {with} at {with_start:#x}-{with_end:#x}"
            ),
            PlanError::NoRoom {
                what,
                size,
                align,
                min,
                max,
                largest,
            } => write!(
                f,
                "no room for {what}: {size} bytes (aligned to {align:#x}) between {min:#x} and {max:#x}, the largest free block there is {largest} bytes"
            ),
            PlanError::BadRequest { what } => write!(f, "an impossible request for {what}"),
            PlanError::TableFull { what } => {
                write!(f, "too many reserved ranges to add {what}")
            }
        }
    }
}

/// Usable RAM runs kept (a BIOS map has at most 128 entries; each non-RAM entry can split a
/// run once).
const MAX_RUNS: usize = 160;

/// The allocator. `N` is the capacity of the reservation table.
#[derive(Clone, Debug)]
pub struct Planner<const N: usize> {
    /// Usable RAM below 4 GiB: sorted, disjoint, not adjacent.
    runs: heapless::Vec<(u64, u64), MAX_RUNS>,
    /// Sorted by start.
    reservations: heapless::Vec<Reservation, N>,
}

impl<const N: usize> Planner<N> {
    /// Usable RAM from `map`, nothing reserved yet.
    pub fn new(map: &MemoryMap) -> Self {
        Planner {
            runs: usable_runs(map),
            reservations: heapless::Vec::new(),
        }
    }

    /// The usable RAM runs below 4 GiB, sorted.
    pub fn ram(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.runs.iter().map(|&(start, end)| start..end)
    }

    /// Every reservation, sorted by start.
    pub fn reservations(&self) -> &[Reservation] {
        &self.reservations
    }

    /// The first reservation for `what`.
    pub fn find(&self, what: Use) -> Option<Range<u64>> {
        self.reservations
            .iter()
            .find(|r| r.what == what)
            .map(Reservation::range)
    }

    /// Records a range of the loader's own (or the firmware's), wherever it lies; no checks
    /// but the table's capacity. Empty ranges are not recorded.
    pub fn reserve_loader(&mut self, range: Range<u64>, what: Use) -> Result<(), PlanError> {
        if range.start >= range.end {
            return Ok(());
        }
        self.insert(Reservation {
            start: range.start,
            end: range.end,
            what,
        })
    }

    /// Reserves a fixed payload range (see [`Fixed`]). It must be usable RAM and overlap no
    /// payload range and no firmware area; empty ranges are accepted and not recorded.
    pub fn reserve(&mut self, range: Range<u64>, what: Use) -> Result<Fixed, PlanError> {
        let (start, end) = (range.start, range.end);
        if start >= end {
            return Ok(Fixed::Free);
        }
        if end > LIMIT || !self.is_ram(start, end) {
            return Err(PlanError::NotRam { what, start, end });
        }
        let mut fixed = Fixed::Free;
        for r in self.reservations.iter().filter(|r| r.overlaps(start, end)) {
            if r.what.ends_at_handoff() && !what.ends_at_handoff() {
                if fixed == Fixed::Free {
                    fixed = Fixed::Deferred { under: r.what };
                }
            } else {
                return Err(PlanError::Overlap {
                    what,
                    start,
                    end,
                    with: r.what,
                    with_start: r.start,
                    with_end: r.end,
                });
            }
        }
        self.insert(Reservation { start, end, what })?;
        Ok(fixed)
    }

    /// Finds and reserves a free place for `request`.
    pub fn place(&mut self, request: Request) -> Result<Range<u64>, PlanError> {
        let start = self.find_place(&request)?;
        let range = start..start + request.size;
        self.insert(Reservation {
            start: range.start,
            end: range.end,
            what: request.what,
        })?;
        Ok(range)
    }

    /// Where [`Planner::place`] would put `request`, without reserving it.
    pub fn find_place(&self, request: &Request) -> Result<u64, PlanError> {
        let Request {
            what,
            size,
            align,
            min,
            max,
            prefer,
        } = *request;
        let max = max.min(LIMIT);
        if size == 0 || !align.is_power_of_two() || min >= max {
            return Err(PlanError::BadRequest { what });
        }
        let fits = |start: u64| {
            start >= min
                && start.checked_add(size).is_some_and(|end| end <= max)
                && self.is_free(start, start + size)
        };
        // A best place starts right at a free block's start (lowest) or ends right at its end
        // (highest), aligned inward: only those candidates need trying.
        let mut best: Option<u64> = None;
        for block in self.free_blocks(min, max) {
            let candidate = match prefer {
                Prefer::Low => Some(align_up(block.start, align)),
                Prefer::High => block
                    .end
                    .checked_sub(size)
                    .map(|s| s & !(align - 1))
                    .filter(|&s| s >= block.start),
            };
            let Some(candidate) = candidate.filter(|&s| fits(s)) else {
                continue;
            };
            best = Some(match (best, prefer) {
                (Some(b), Prefer::Low) => b.min(candidate),
                (Some(b), Prefer::High) => b.max(candidate),
                (None, _) => candidate,
            });
        }
        best.ok_or(PlanError::NoRoom {
            what,
            size,
            align,
            min,
            max,
            largest: self.largest_free(min..max).map_or(0, |r| r.end - r.start),
        })
    }

    /// The largest free block inside `window` (the lowest of equals).
    pub fn largest_free(&self, window: Range<u64>) -> Option<Range<u64>> {
        self.free_blocks(window.start, window.end.min(LIMIT)).fold(
            None,
            |best: Option<Range<u64>>, block| match best {
                Some(b) if b.end - b.start >= block.end - block.start => Some(b),
                _ => Some(block),
            },
        )
    }

    /// The free block that starts at the lowest `align`-ed address at or above `from`, up to
    /// the next reservation or the end of its RAM run (for a download of unknown size: take
    /// it, then reserve what was used).
    pub fn free_from(&self, from: u64, align: u64) -> Option<Range<u64>> {
        if !align.is_power_of_two() {
            return None;
        }
        self.free_blocks(from, LIMIT)
            .filter_map(|block| {
                let start = align_up(block.start, align);
                (start < block.end).then_some(start..block.end)
            })
            .next()
    }

    /// True when `[start, end)` is usable RAM and reserved by nothing.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        start < end
            && self.is_ram(start, end)
            && !self.reservations.iter().any(|r| r.overlaps(start, end))
    }

    /// Removes every reservation for `what`; returns how many there were.
    pub fn release(&mut self, what: Use) -> usize {
        let before = self.reservations.len();
        self.reservations.retain(|r| r.what != what);
        before - self.reservations.len()
    }

    /// Cuts the reservation for `what` that starts at `start` down to `[start, new_end)` (for a
    /// block taken whole and then used in part). False when there is no such reservation or it
    /// would grow.
    pub fn shrink(&mut self, what: Use, start: u64, new_end: u64) -> bool {
        let Some(index) = self
            .reservations
            .iter()
            .position(|r| r.what == what && r.start == start)
        else {
            return false;
        };
        let r = &mut self.reservations[index];
        if new_end > r.end || new_end < r.start {
            return false;
        }
        if new_end == r.start {
            self.reservations.remove(index);
        } else {
            r.end = new_end;
        }
        true
    }

    fn is_ram(&self, start: u64, end: u64) -> bool {
        self.runs.iter().any(|&(s, e)| s <= start && end <= e)
    }

    fn insert(&mut self, reservation: Reservation) -> Result<(), PlanError> {
        let at = self
            .reservations
            .iter()
            .position(|r| r.start > reservation.start)
            .unwrap_or(self.reservations.len());
        self.reservations
            .insert(at, reservation)
            .map_err(|_| PlanError::TableFull {
                what: reservation.what,
            })
    }

    /// The free blocks (usable RAM minus every reservation) clipped to `[min, max)`, in
    /// address order.
    fn free_blocks(&self, min: u64, max: u64) -> FreeBlocks<'_, N> {
        FreeBlocks {
            planner: self,
            run: 0,
            cursor: 0,
            min,
            max,
        }
    }
}

/// Iterator behind [`Planner::free_blocks`]: walks the runs, skipping reserved parts.
struct FreeBlocks<'p, const N: usize> {
    planner: &'p Planner<N>,
    run: usize,
    /// Where the search resumes inside the current run.
    cursor: u64,
    min: u64,
    max: u64,
}

impl<const N: usize> Iterator for FreeBlocks<'_, N> {
    type Item = Range<u64>;

    fn next(&mut self) -> Option<Range<u64>> {
        while let Some(&(run_start, run_end)) = self.planner.runs.get(self.run) {
            let start = self.cursor.max(run_start).max(self.min);
            let end = run_end.min(self.max);
            if start >= end {
                self.run += 1;
                continue;
            }
            // Skip past reservations covering `start`; stop the block at the next one.
            let mut start = start;
            loop {
                let covering = self
                    .planner
                    .reservations
                    .iter()
                    .filter(|r| r.start <= start && start < r.end)
                    .map(|r| r.end)
                    .max();
                match covering {
                    Some(past) => start = past,
                    None => break,
                }
            }
            if start >= end {
                self.run += 1;
                continue;
            }
            let block_end = self
                .planner
                .reservations
                .iter()
                .filter(|r| r.start > start && r.start < end)
                .map(|r| r.start)
                .min()
                .unwrap_or(end);
            self.cursor = block_end;
            if block_end >= end {
                self.run += 1;
            }
            return Some(start..block_end);
        }
        None
    }
}

fn align_up(value: u64, align: u64) -> u64 {
    // align is a power of two; saturate rather than wrap near 2^64 (then nothing fits).
    value
        .checked_add(align - 1)
        .map_or(u64::MAX, |v| v & !(align - 1))
}

/// Usable RAM below [`LIMIT`]: the map cut at every entry boundary, each piece kept when the
/// map calls it RAM, adjacent pieces joined.
fn usable_runs(map: &MemoryMap) -> heapless::Vec<(u64, u64), MAX_RUNS> {
    let mut bounds = heapless::Vec::<u64, { 2 * 128 + 2 }>::new();
    let _ = bounds.push(0);
    let _ = bounds.push(LIMIT);
    for e in map.entries().iter().take(128) {
        for b in [e.base, e.end()] {
            if b < LIMIT {
                let _ = bounds.push(b);
            }
        }
    }
    // Insertion sort: a few hundred values once per boot; core's sort costs 2 KiB of code.
    for i in 1..bounds.len() {
        let mut j = i;
        while j > 0 && bounds[j - 1] > bounds[j] {
            bounds.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut runs = heapless::Vec::<(u64, u64), MAX_RUNS>::new();
    for pair in bounds.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        if start >= end || !map.is_ram(start, end) {
            continue;
        }
        match runs.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => {
                if runs.push((start, end)).is_err() {
                    break; // more runs than any BIOS gives: the rest stays unused
                }
            }
        }
    }
    runs
}

#[cfg(test)]
mod tests;
