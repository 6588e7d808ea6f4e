//! netloader.efi's memory, from the firmware's map (the conversions are
//! `netloader_proto::efi`'s, host-tested there):
//!
//! - the map a kernel gets (and the planner plans over) is the map as it will be after
//!   ExitBootServices: boot-services and loader memory are RAM there;
//! - every free page below 4 GiB is claimed with AllocatePages (as LoaderCode: executable
//!   where the firmware marks data pages no-execute; the hand-off trampoline and an EFI kernel
//!   entry run from there), so the firmware hands none of it out while files arrive, except a
//!   margin at the top of the largest free block (1/8 of it, at most 16 MiB) which the firmware
//!   keeps for its own allocations while netloader runs (the network driver's buffers, pool
//!   growth);
//! - what the firmware (and netloader's image) holds until ExitBootServices, and that margin,
//!   are the planner's `Use::BootServices` reservations: nothing is placed there, and a kernel
//!   segment that must lie there is staged and copied by the hand-off afterwards, as one over
//!   the BIOS runtime's own memory is;
//! - the runtime's work area (config, stack, download area, network buffers: boot/plan.rs) is
//!   the largest claimed block above 1 MiB.
//!
//! ExitBootServices runs just before the hand-off ([`exit_boot_services`]); the map it was
//! given (the final one) is what the EFI memory map tag and Linux's efi_info carry.

use core::ops::Range;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use netloader_proto::efi::{self, DESCRIPTOR_VERSION, EfiMemoryMap};
use netloader_proto::memmap::{E820Entry, MemoryMap};
use uefi_raw::Status;
use uefi_raw::table::boot::{AllocateType, MemoryDescriptor, MemoryType};

use crate::boot::{Failure, fail};
use crate::println;

/// Room for the firmware's map: 1365 descriptors of 48 bytes (OVMF's map has about 100).
const MAP_BYTES: usize = 64 * 1024;
const MIB: u64 = 1024 * 1024;
const LIMIT: u64 = 1 << 32;
/// The largest margin left free for the firmware.
const MARGIN_MAX: u64 = 16 * MIB;

#[repr(C, align(8))]
struct MapBuffer([u8; MAP_BYTES]);

static mut MAP: MapBuffer = MapBuffer([0; MAP_BYTES]);
static mut KERNEL_MAP: [E820Entry; 256] = [E820Entry::ZERO; 256];
/// Ranges that are the firmware's until ExitBootServices (busy, kept as margin, or not
/// claimable), for the planner.
static mut FIRMWARE: [E820Entry; 256] = [E820Entry::ZERO; 256];
static FIRMWARE_COUNT: AtomicUsize = AtomicUsize::new(0);
static WORK_START: AtomicU64 = AtomicU64::new(0);
static WORK_END: AtomicU64 = AtomicU64::new(0);

/// The firmware's map as GetMemoryMap wrote it into MAP.
struct Got {
    len: usize,
    key: usize,
    descriptor_size: usize,
    version: u32,
}

fn get_map() -> Result<Got, Status> {
    let boot = super::boot_services().ok_or(Status::UNSUPPORTED)?;
    let mut size = MAP_BYTES;
    let mut key = 0;
    let mut descriptor_size = 0;
    let mut version = 0;
    // SAFETY: GetMemoryMap writes at most `size` bytes into MAP (8-byte aligned), which
    // nothing else uses while the map is read.
    let status = unsafe {
        (boot.get_memory_map)(
            &mut size,
            addr_of_mut!(MAP.0).cast::<MemoryDescriptor>(),
            &mut key,
            &mut descriptor_size,
            &mut version,
        )
    };
    if status != Status::SUCCESS {
        return Err(status);
    }
    Ok(Got {
        len: size,
        key,
        descriptor_size,
        version,
    })
}

/// The firmware's map in MAP, checked.
fn view(got: &Got) -> Result<EfiMemoryMap<'static>, Failure> {
    // SAFETY: MAP holds `got.len` bytes the firmware just wrote; read-only from here.
    let bytes = unsafe { &(&*addr_of_mut!(MAP.0))[..got.len] };
    EfiMemoryMap::new_checked(bytes, got.descriptor_size)
        .map_err(|e| fail!("E-EFI-MEMMAP", "{e}: the firmware's memory map is unusable"))
}

/// Reads the map, claims free memory (see the module docs), and returns the kernel's map.
pub fn init() -> Result<MemoryMap<'static>, Failure> {
    let got = get_map().map_err(|status| {
        fail!(
            "E-EFI-MEMMAP",
            "GetMemoryMap failed ({:#x}): the firmware gives no memory map",
            status.0
        )
    })?;
    let map = view(&got)?;
    // SAFETY: the statics are written here, once, before anything reads them.
    let (kernel, firmware) =
        unsafe { (&mut *addr_of_mut!(KERNEL_MAP), &mut *addr_of_mut!(FIRMWARE)) };
    let too_many = |e| fail!("E-EFI-MEMMAP", "{e}");
    let entries = map.to_e820(kernel).map_err(too_many)?;
    let mut busy = map.busy_until_exit(firmware).map_err(too_many)?;
    let mut free = [E820Entry::ZERO; 128];
    let free_count = map.free_below(LIMIT, &mut free).map_err(too_many)?;
    let free = &free[..free_count];

    // The firmware's margin: the top of the largest free block.
    let largest = free.iter().max_by_key(|e| e.length).copied();
    let margin = largest.map(|block| {
        let len = (block.length / 8).min(MARGIN_MAX) & !(efi::PAGE - 1);
        block.end() - len..block.end()
    });
    let mut keep = |range: Range<u64>| {
        if let Some(slot) = firmware.get_mut(busy) {
            *slot = ram(range);
            busy += 1;
        }
    };
    let mut claimed = 0u64;
    let mut work = 0..0;
    for block in free {
        let mut range = block.base..block.end();
        if let Some(margin) = &margin
            && range.end == margin.end
        {
            range.end = margin.start;
            keep(margin.clone());
        }
        if range.is_empty() {
            continue;
        }
        match claim(range.clone()) {
            Ok(()) => {
                claimed += range.end - range.start;
                let usable = range.start.max(MIB)..range.end;
                if usable.end > usable.start && usable.end - usable.start > work.end - work.start {
                    work = usable;
                }
            }
            // Taken since the map was read: the firmware's.
            Err(_) => keep(range),
        }
    }
    FIRMWARE_COUNT.store(busy, Ordering::Relaxed);
    WORK_START.store(work.start, Ordering::Relaxed);
    WORK_END.store(work.end, Ordering::Relaxed);

    let kernel_map = MemoryMap::new(&kernel[..entries]);
    println!(
        "memory map (UEFI GetMemoryMap: {} descriptors of {} bytes, as after ExitBootServices: {} entries):",
        map.len(),
        got.descriptor_size,
        entries
    );
    for entry in kernel_map.entries() {
        println!("  {entry}");
    }
    println!(
        "memory: lower {} KiB, upper {} KiB, total usable {} MiB; claimed {} MiB below 4 GiB, the firmware keeps {} KiB of it",
        kernel_map.lower_kib(),
        kernel_map.upper_kib(),
        kernel_map.total_ram() / MIB,
        claimed / MIB,
        margin.map_or(0, |m| (m.end - m.start) / 1024)
    );
    Ok(kernel_map)
}

fn ram(range: Range<u64>) -> E820Entry {
    E820Entry {
        base: range.start,
        length: range.end - range.start,
        kind: netloader_proto::memmap::E820_RAM,
        acpi_attributes: 1,
    }
}

/// AllocatePages at `range` (page-aligned), as LoaderCode.
fn claim(range: Range<u64>) -> Result<(), Status> {
    let boot = super::boot_services().ok_or(Status::UNSUPPORTED)?;
    let mut address = range.start;
    let pages = ((range.end - range.start) / efi::PAGE) as usize;
    // SAFETY: AllocatePages(AllocateAddress) takes free pages at exactly `address` or fails;
    // it writes only `address`.
    let status = unsafe {
        (boot.allocate_pages)(
            AllocateType::ADDRESS,
            MemoryType::LOADER_CODE,
            pages,
            &mut address,
        )
    };
    if status == Status::SUCCESS {
        Ok(())
    } else {
        Err(status)
    }
}

/// The largest claimed block above 1 MiB: the runtime's work area (boot/plan.rs).
pub fn work_area() -> Range<u64> {
    WORK_START.load(Ordering::Relaxed)..WORK_END.load(Ordering::Relaxed)
}

/// What the firmware holds until ExitBootServices (and netloader's own image, which the
/// firmware loaded): the planner's `Use::BootServices` reservations.
pub fn firmware_ranges() -> &'static [E820Entry] {
    // SAFETY: written once in init, read-only afterwards.
    unsafe { &(&*addr_of_mut!(FIRMWARE))[..FIRMWARE_COUNT.load(Ordering::Relaxed)] }
}

/// The firmware's final memory map, as a kernel gets it.
pub struct FinalMap {
    pub bytes: &'static [u8],
    pub descriptor_size: u32,
    pub version: u32,
}

/// Ends boot services: GetMemoryMap, then ExitBootServices with its key, again while the key
/// is stale (the firmware may change the map in between, e.g. from a timer event; UEFI 2.10
/// 7.4.6 says to retry). Nothing may print on the firmware's console in between. Returns the
/// final map. Close the network interface first.
pub fn exit_boot_services() -> Result<FinalMap, Failure> {
    let mut last = Status::SUCCESS;
    for _ in 0..8 {
        let got = get_map().map_err(|status| {
            fail!(
                "E-EFI-EXIT",
                "GetMemoryMap failed ({:#x}) before ExitBootServices: the firmware cannot end its boot services",
                status.0
            )
        })?;
        let boot =
            super::boot_services().ok_or_else(|| fail!("E-PANIC", "boot services ended twice"))?;
        // SAFETY: the image handle and the key of the map just read.
        last = unsafe { (boot.exit_boot_services)(super::image_handle(), got.key) };
        if last == Status::SUCCESS {
            super::boot_services_ended();
            let map = view(&got)?;
            return Ok(FinalMap {
                bytes: map.bytes(),
                descriptor_size: got.descriptor_size as u32,
                version: if got.version == 0 {
                    DESCRIPTOR_VERSION
                } else {
                    got.version
                },
            });
        }
    }
    Err(fail!(
        "E-EFI-EXIT",
        "ExitBootServices failed 8 times (last status {:#x}): the firmware's memory map kept changing; try again",
        last.0
    ))
}

/// The firmware's current map, for a kernel that keeps boot services (Multiboot 2 tag 7):
/// informative only, as the firmware goes on allocating.
pub fn current_map() -> Result<FinalMap, Failure> {
    let got = get_map()
        .map_err(|status| fail!("E-EFI-MEMMAP", "GetMemoryMap failed ({:#x})", status.0))?;
    let map = view(&got)?;
    Ok(FinalMap {
        bytes: map.bytes(),
        descriptor_size: got.descriptor_size as u32,
        version: got.version,
    })
}
