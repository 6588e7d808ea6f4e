//! The firmware's PCI I/O handles: which one is a given bus/device/function, and taking a card
//! away from the firmware's drivers so that netloader's own driver can run it (as iPXE's
//! `ipxe.efi` does), or connecting them when a firmware left the network cards unconnected.
//!
//! Taking a card: `DisconnectController` on the card's PCI I/O handle with no driver named
//! stops every driver the firmware has on it (its NIC driver, and with it SNP, MNP and the
//! IP/UDP/DHCP/PXE drivers on top): from then on no firmware code touches the card, neither
//! while boot services run nor at ExitBootServices, and the card is netloader's as on a BIOS.

use core::ffi::c_void;
use core::ops::ControlFlow;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};

use uefi_raw::{Boolean, Handle, Status};

use crate::println;

/// `EFI_PCI_IO_PROTOCOL` up to `GetLocation` (uefi-raw has no PCI I/O table): PollMem,
/// PollIo, Mem.Read/Write, Io.Read/Write, Pci.Read, Pci.Write, CopyMem, Map, Unmap,
/// AllocateBuffer, FreeBuffer, Flush, then GetLocation (UEFI 2.10, 14.4).
#[repr(C)]
struct PciIo {
    _poll_and_mem_io: [usize; 6],
    pci_read: unsafe extern "efiapi" fn(
        this: *mut PciIo,
        width: u32,
        offset: u32,
        count: usize,
        buffer: *mut c_void,
    ) -> Status,
    _pci_write_to_flush: [usize; 7],
    get_location: unsafe extern "efiapi" fn(
        this: *mut PciIo,
        segment: *mut usize,
        bus: *mut usize,
        device: *mut usize,
        function: *mut usize,
    ) -> Status,
}

const PCI_IO_GUID: uefi_raw::Guid = uefi_raw::guid!("4cf5b200-68b8-4ca5-9eec-b23e3f50029a");
/// PCI class code 02h: network controller.
const NETWORK_CLASS: u8 = 0x02;

/// Calls `f` with each PCI I/O handle and its interface.
fn each_function(mut f: impl FnMut(Handle, *mut PciIo)) {
    super::each_handle(&PCI_IO_GUID, |handle| {
        // SAFETY: the PCI I/O GUID names the table PciIo begins.
        if let Some(pci) = unsafe { super::protocol::<PciIo>(handle, &PCI_IO_GUID) } {
            f(handle, pci);
        }
        ControlFlow::Continue(())
    });
}

/// ConnectController (recursively) on every PCI function of the network class.
pub fn connect_network_controllers() {
    let Some(boot) = super::boot_services() else {
        return;
    };
    let mut connected = 0;
    each_function(|handle, pci| {
        let mut class = 0u8;
        // SAFETY: Pci.Read of one byte (width 0: UINT8) at the class code into `class`.
        let status = unsafe { ((*pci).pci_read)(pci, 0, 0x0b, 1, (&raw mut class).cast()) };
        if status != Status::SUCCESS || class != NETWORK_CLASS {
            return;
        }
        // SAFETY: ConnectController with no driver list and no remaining path: every driver
        // that supports the controller, recursively (SNP above the NIC driver).
        let status = unsafe {
            (boot.connect_controller)(handle, core::ptr::null(), core::ptr::null(), Boolean::TRUE)
        };
        if status == Status::SUCCESS {
            connected += 1;
        }
    });
    println!("nic: connected the firmware's drivers to {connected} network controller(s)");
}

/// The PCI I/O handle of bus/device/function (segment 0, the one the runtime's port-based
/// configuration access reaches).
fn handle_of(bus: u8, device: u8, function: u8) -> Option<Handle> {
    let mut found = None;
    each_function(|handle, pci| {
        let (mut s, mut b, mut d, mut f) = (0usize, 0usize, 0usize, 0usize);
        // SAFETY: GetLocation writes four integers.
        let status = unsafe { ((*pci).get_location)(pci, &mut s, &mut b, &mut d, &mut f) };
        if found.is_none()
            && status == Status::SUCCESS
            && (s, b, d, f) == (0, bus.into(), device.into(), function.into())
        {
            found = Some(handle);
        }
    });
    found
}

/// The PCI I/O handle of the card taken from the firmware, if one was.
static TAKEN: AtomicPtr<c_void> = AtomicPtr::new(null_mut());

/// A kernel that keeps boot services (Multiboot 2 tag 7) gets the firmware's drivers back on
/// the card netloader took (closed by now), as iPXE reconnects the drivers it displaced: its
/// SNP and network stack are there for the kernel as before netloader ran.
pub fn reconnect_taken() {
    let handle = TAKEN.swap(null_mut(), Ordering::Relaxed);
    let Some(boot) = super::boot_services().filter(|_| !handle.is_null()) else {
        return;
    };
    // SAFETY: as in connect_network_controllers, for the one controller we disconnected.
    let status = unsafe {
        (boot.connect_controller)(handle, core::ptr::null(), core::ptr::null(), Boolean::TRUE)
    };
    println!(
        "nic: the firmware's drivers connected to the card again (boot services kept): {}",
        if status == Status::SUCCESS {
            "done"
        } else {
            "failed"
        }
    );
}

/// Why a card could not be taken from the firmware.
pub enum NotReleased {
    /// No PCI I/O handle has that location.
    NoHandle,
    /// DisconnectController failed with this status.
    Refused(usize),
}

impl core::fmt::Display for NotReleased {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NotReleased::NoHandle => f.write_str("the firmware lists no PCI I/O handle for it"),
            NotReleased::Refused(status) => {
                write!(f, "DisconnectController failed (status {status:#x})")
            }
        }
    }
}

/// Stops every firmware driver on the card at bus/device/function (see the module docs).
/// On failure the firmware's drivers are connected again (what was stopped before the
/// failure comes back), so that its interface can be used instead.
pub fn release(bus: u8, device: u8, function: u8) -> Result<(), NotReleased> {
    let boot = super::boot_services().ok_or(NotReleased::NoHandle)?;
    let handle = handle_of(bus, device, function).ok_or(NotReleased::NoHandle)?;
    super::snp::stop_on(handle);
    // SAFETY: DisconnectController with no driver and no child named: every driver managing
    // the controller stops and destroys its child handles. Nothing of ours uses them: the
    // firmware's DHCP answer was copied before (efi/mod.rs), the SNP not yet opened.
    let status = unsafe { (boot.disconnect_controller)(handle, null_mut(), null_mut()) };
    if status == Status::SUCCESS {
        TAKEN.store(handle, Ordering::Relaxed);
        return Ok(());
    }
    // SAFETY: as in connect_network_controllers, for this one controller.
    let _ = unsafe {
        (boot.connect_controller)(handle, core::ptr::null(), core::ptr::null(), Boolean::TRUE)
    };
    Err(NotReleased::Refused(status.0))
}

/// `netloader build --efi-nic` (image-builder/src/efi.rs): the byte after the marker, 0 for
/// auto (netloader's own driver where it has one), 1 for snp (always the firmware's
/// interface). The builder finds the marker in the file and sets the byte.
static NIC_POLICY: [u8; 25] = *b"netloader efi-nic policy\0";
const NIC_POLICY_SNP: u8 = 1;

/// After netloader's driver failed to start `card` (taken by [`take_card`]): the firmware's
/// drivers are connected to it again, with a line; whether they took it back, so that its
/// interface can be used instead.
pub fn give_back(
    card: &netloader_drivers::registry::Found,
    error: &netloader_drivers::registry::OpenError,
) -> bool {
    use netloader_drivers::registry::Location;
    let (Some(boot), Location::Pci(function)) = (super::boot_services(), card.location) else {
        return false;
    };
    let Some(handle) = handle_of(function.bus, function.device, function.function) else {
        return false;
    };
    // SAFETY: as in connect_network_controllers, for this one controller.
    let status = unsafe {
        (boot.connect_controller)(handle, core::ptr::null(), core::ptr::null(), Boolean::TRUE)
    };
    println!(
        "nic: {}, {}: netloader's driver did not start ({error}): {}",
        card.model,
        card.location,
        if status == Status::SUCCESS {
            "back to the firmware's drivers, through their interface (SNP)"
        } else {
            "the firmware's drivers would not take it back either"
        }
    );
    status == Status::SUCCESS
}

/// Whether netloader drives `card` itself: it is on the PCI bus, the build leaves the choice to
/// netloader, and the firmware's drivers let go of it (see [`release`]); else the firmware's
/// interface (SNP) is used, with a line why.
pub fn take_card(card: &netloader_drivers::registry::Found) -> bool {
    use netloader_drivers::registry::Location;
    let Location::Pci(function) = card.location else {
        return false;
    };
    // SAFETY: a byte of a static; volatile, so that the compiler keeps the load (the byte is
    // changed in the file, after the build).
    if unsafe { core::ptr::read_volatile(&NIC_POLICY[24]) } == NIC_POLICY_SNP {
        println!(
            "nic: {}, {}: the firmware's network interface (SNP), as built (--efi-nic snp)",
            card.model, card.location
        );
        return false;
    }
    match release(function.bus, function.device, function.function) {
        Ok(()) => {
            println!(
                "nic: {}, {}: the firmware's drivers stopped on it (DisconnectController), netloader drives it",
                card.model, card.location
            );
            true
        }
        Err(why) => {
            println!(
                "nic: {}, {}: not taken from the firmware ({why}): its network interface (SNP) instead",
                card.model, card.location
            );
            false
        }
    }
}
