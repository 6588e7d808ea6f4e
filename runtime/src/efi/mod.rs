//! netloader.efi: the runtime as a UEFI application. The firmware starts `efi_main` with boot
//! services running, in long mode on its own identity-mapped page tables, interrupts on (its
//! timer), on its stack. From there the boot is the BIOS runtime's: the same network stack,
//! config, planner and protocol modules, with these parts of the firmware's instead:
//!
//! - the console: the firmware's screen (its graphics text console, `screen.rs`) and COM1;
//! - time: the TSC, calibrated against boot services' `Stall`;
//! - memory (`memory.rs`): the firmware's map, every free page below 4 GiB claimed with
//!   AllocatePages (less a margin the firmware keeps), the planner over the map as it will be
//!   after ExitBootServices, and ExitBootServices itself just before the hand-off;
//! - the network: the firmware's Simple Network Protocol (`snp.rs`) and, when the firmware's
//!   PXE started us, its DHCP answer (`pxe.rs`);
//! - the firmware facts a kernel gets: the ACPI RSDP and the screen from the firmware's tables.
//!
//! Nothing here uses a firmware function after ExitBootServices: [`boot_services`] answers
//! `None` from then on, and every caller has a way without.

pub mod memory;
pub mod pci;
pub mod pxe;
pub mod screen;
pub mod snp;

use core::ffi::c_void;
use core::ops::ControlFlow;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use netloader_proto::acpi::{Rsdp, find_rsdp};
use uefi_raw::protocol::device_path::DevicePathProtocol;
use uefi_raw::protocol::loaded_image::LoadedImageProtocol;
use uefi_raw::table::boot::BootServices;
use uefi_raw::table::system::SystemTable;
use uefi_raw::{Guid, Handle, Status, guid};

use crate::{boot, console, println, time};

static SYSTEM_TABLE: AtomicPtr<SystemTable> = AtomicPtr::new(null_mut());
static IMAGE: AtomicPtr<c_void> = AtomicPtr::new(null_mut());
/// False once ExitBootServices has succeeded.
static BOOT_SERVICES: AtomicBool = AtomicBool::new(false);

/// The system table (valid all along: after ExitBootServices only its runtime services and
/// configuration table may be used).
pub fn system_table() -> &'static SystemTable {
    // SAFETY: set once in efi_main before anything else runs, to the firmware's table, which
    // lives as long as the machine runs.
    unsafe { &*SYSTEM_TABLE.load(Ordering::Relaxed) }
}

pub fn system_table_address() -> u64 {
    SYSTEM_TABLE.load(Ordering::Relaxed) as u64
}

pub fn image_handle() -> Handle {
    IMAGE.load(Ordering::Relaxed)
}

/// Boot services, while they run.
pub fn boot_services() -> Option<&'static BootServices> {
    if !BOOT_SERVICES.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: while boot services run, the table is the firmware's and stays valid.
    Some(unsafe { &*system_table().boot_services })
}

/// `guid`'s interface on `handle` (HandleProtocol), while boot services run.
///
/// # Safety
/// `T` must be the interface type `guid` names.
pub unsafe fn protocol<T>(handle: Handle, guid: &Guid) -> Option<*mut T> {
    let boot = boot_services()?;
    let mut interface: *mut c_void = null_mut();
    // SAFETY: the firmware writes the interface pointer for a handle it gave us.
    let status = unsafe { (boot.handle_protocol)(handle, guid, &mut interface) };
    (status == Status::SUCCESS && !interface.is_null()).then_some(interface.cast())
}

/// From here on no firmware function but runtime services may be called.
fn boot_services_ended() {
    BOOT_SERVICES.store(false, Ordering::Relaxed);
}

/// The image's own loaded-image protocol: where it was loaded from and where it lies.
pub fn loaded_image() -> Option<&'static LoadedImageProtocol> {
    // SAFETY: the loaded image GUID names LoadedImageProtocol; it lives as long as the image.
    unsafe { protocol::<LoadedImageProtocol>(image_handle(), &LoadedImageProtocol::GUID) }
        .map(|p| unsafe { &*p })
}

/// Calls `f` with every handle that has `protocol`, until it breaks. LocateHandleBuffer, so
/// that no bound of ours hides a handle: a PC with more cards, consoles or PCI functions than
/// a fixed array holds would otherwise lose them all (LocateHandle fails when its buffer is
/// too small).
pub fn each_handle(protocol: &Guid, mut f: impl FnMut(Handle) -> ControlFlow<()>) {
    let Some(boot) = boot_services() else {
        return;
    };
    let mut count = 0usize;
    let mut handles: *mut Handle = null_mut();
    // SAFETY: LocateHandleBuffer(ByProtocol) allocates the array from pool and writes its
    // address and length; it is freed below.
    let status = unsafe {
        (boot.locate_handle_buffer)(
            2, // ByProtocol
            protocol,
            core::ptr::null(),
            &mut count,
            &mut handles,
        )
    };
    if status != Status::SUCCESS || handles.is_null() {
        return;
    }
    // SAFETY: the firmware's array of `count` handles, alive until FreePool.
    for &handle in unsafe { core::slice::from_raw_parts(handles, count) } {
        if f(handle).is_break() {
            break;
        }
    }
    // SAFETY: the pool buffer LocateHandleBuffer gave us, no longer used.
    let _ = unsafe { (boot.free_pool)(handles.cast()) };
}

/// The device path of `handle`, if it has one.
pub fn device_path(handle: Handle) -> Option<*const DevicePathProtocol> {
    // SAFETY: the device path GUID names DevicePathProtocol (a node header).
    unsafe { protocol::<DevicePathProtocol>(handle, &DevicePathProtocol::GUID) }
        .map(|p| p as *const _)
}

/// The firmware's ACPI RSDP, from its configuration table (ACPI 2.0 first, then 1.0): UEFI
/// PCs need not have one in the BIOS areas.
pub fn rsdp() -> Option<Rsdp> {
    const ACPI2: Guid = guid!("8868e871-e4f1-11d3-bc22-0080c73c8881");
    const ACPI1: Guid = guid!("eb9d2d30-2d88-11d3-9a16-0090273fc14d");
    let table = system_table();
    if table.configuration_table.is_null() {
        return None;
    }
    // SAFETY: the firmware's configuration table: `number_of_configuration_table_entries`
    // entries, valid after ExitBootServices too.
    let entries = unsafe {
        core::slice::from_raw_parts(
            table.configuration_table,
            table.number_of_configuration_table_entries,
        )
    };
    [ACPI2, ACPI1].iter().find_map(|guid| {
        let entry = entries.iter().find(|e| e.vendor_guid == *guid)?;
        let address = entry.vendor_table as u64;
        if address == 0 {
            return None;
        }
        // SAFETY: the table the firmware names: an RSDP (20 bytes, 36 for ACPI 2.0+), at a
        // 16-byte boundary as the spec places it; identity-mapped. find_rsdp checks the
        // signature and checksums before it believes a byte.
        let area = unsafe { core::slice::from_raw_parts(address as *const u8, 36) };
        find_rsdp(area, address)
    })
}

/// Calls `f(type, subtype, length)` for each node before the end node.
///
/// # Safety
/// `path` is a well-formed device path.
pub unsafe fn walk_device_path(
    mut path: *const DevicePathProtocol,
    mut f: impl FnMut(u8, u8, usize),
) {
    for _ in 0..64 {
        // SAFETY: the caller's promise: a node header here.
        let (kind, subtype, len) = unsafe {
            let node = path.cast::<u8>();
            (
                *node,
                *node.add(1),
                usize::from(u16::from_le_bytes([*node.add(2), *node.add(3)])),
            )
        };
        if kind == 0x7f || len < 4 {
            return;
        }
        f(kind, subtype, len);
        // SAFETY: the next node starts `len` bytes on.
        path = unsafe { path.cast::<u8>().add(len).cast() };
    }
}

/// A device path in the UEFI spec's text form (DevicePathToText), e.g.
/// `PciRoot(0x0)/Pci(0x1,0x1)/Ata(Secondary,Master,0x0)/CDROM(0x1,0x74,0x28)`.
struct PathText(Option<*const DevicePathProtocol>);

impl core::fmt::Display for PathText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use uefi_raw::protocol::device_path::DevicePathToTextProtocol;
        let (Some(boot), Some(path)) = (boot_services(), self.0.filter(|p| !p.is_null())) else {
            return f.write_str("(none)");
        };
        let mut to_text: *mut c_void = null_mut();
        // SAFETY: LocateProtocol writes the interface pointer.
        let status = unsafe {
            (boot.locate_protocol)(
                &DevicePathToTextProtocol::GUID,
                core::ptr::null(),
                &mut to_text,
            )
        };
        if status != Status::SUCCESS || to_text.is_null() {
            return f.write_str("(no DevicePathToText)");
        }
        // SAFETY: a live protocol; `path` is a device path the firmware gave; the text is
        // pool memory the caller frees.
        let text = unsafe {
            ((*to_text.cast::<DevicePathToTextProtocol>()).convert_device_path_to_text)(
                path,
                uefi_raw::Boolean::FALSE,
                uefi_raw::Boolean::FALSE,
            )
        };
        if text.is_null() {
            return f.write_str("(no text)");
        }
        let result = screen::Text16(text).fmt(f);
        // SAFETY: DevicePathToText allocated the string from pool memory for us.
        let _ = unsafe { (boot.free_pool)(text.cast()) };
        result
    }
}

/// The firmware starts netloader.efi here.
#[unsafe(no_mangle)]
extern "efiapi" fn efi_main(image: Handle, system_table: *mut SystemTable) -> Status {
    IMAGE.store(image, Ordering::Relaxed);
    SYSTEM_TABLE.store(system_table, Ordering::Relaxed);
    BOOT_SERVICES.store(true, Ordering::Relaxed);
    if let Some(boot) = boot_services() {
        // The firmware's watchdog would reset the machine after 5 minutes of a slow download
        // (UEFI 2.10, 7.5.1: it is armed for every boot option started).
        // SAFETY: SetWatchdogTimer(0, ...) disarms it; no data.
        let _ = unsafe { (boot.set_watchdog_timer)(0, 0, 0, core::ptr::null()) };
    }
    console::init();
    println!("netloader {}", crate::VERSION);
    let table = self::system_table();
    println!(
        "boot form: UEFI application (netloader.efi), firmware {} rev {:#x}, UEFI {}.{}",
        screen::Text16(table.firmware_vendor),
        table.firmware_revision,
        table.header.revision.0 >> 16,
        (table.header.revision.0 & 0xffff) / 10
    );
    if let Some(image) = loaded_image() {
        println!(
            "efi: loaded from {} file {}",
            PathText(device_path(image.device_handle)),
            PathText(Some(image.file_path))
        );
    }
    match time::init() {
        time::Source::Tsc(clock) => println!(
            "timer: TSC at {} MHz (measured against the firmware's Stall)",
            clock.per_ms / 1000
        ),
        time::Source::Pit => println!("timer: PIT at 1.19 MHz (this CPU has no TSC)"),
    }
    let failure = match memory::init() {
        Ok(map) => run(map),
        Err(failure) => failure,
    };
    crate::stop(&failure)
}

/// From the memory map to the boot, on the runtime's own stack. Returns only on failure.
fn run(map: netloader_proto::memmap::MemoryMap<'static>) -> boot::Failure {
    let layout = match boot::Layout::new(&map) {
        Ok(layout) => layout,
        Err(failure) => return failure,
    };
    // Copied now: opening the interface exclusively takes the firmware's network stack (and
    // its PXE Base Code, with these packets) down.
    let answer = pxe::firmware_answer();
    let mut failure = None;
    // SAFETY: the layout's stack is memory netloader claimed from the firmware and the plan
    // keeps as its own, 16-byte aligned.
    unsafe {
        crate::arch::on_stack(layout.stack.end, || {
            failure = Some(crate::network_boot(&map, answer, 640));
        })
    };
    failure.unwrap_or_else(|| boot::Failure::new("E-PANIC", format_args!("no boot ran")))
}
