//! The firmware's Simple Network Protocol as `netloader_drivers::snp::SnpApi`: each method is
//! one call through the protocol's table (the driver, tested against a model, is in
//! drivers/src/snp.rs). And which interface to take, and how:
//!
//! - the interface netloader.efi was loaded from when the firmware's PXE started it (the
//!   handle with SNP on the way to the image's device), else the first one; never the copies
//!   EDK2's PXE driver installs on its IPv4/IPv6 child handles (GRUB's efinet skips them too);
//! - opened `BY_EXCLUSIVE`, as GRUB does: the firmware disconnects its Managed Network driver
//!   (and the IP, UDP, DHCP and PXE drivers on top of it), which would otherwise poll the same
//!   receive queue and steal frames. A firmware that refuses is used shared, with a line that
//!   says so.

use core::ffi::c_void;
use core::ops::ControlFlow;
use core::ptr::null_mut;

use netloader_drivers::MacAddress;
use netloader_drivers::snp::{SnpApi, SnpState, SnpStatus};
use uefi_raw::protocol::device_path::DevicePathProtocol;
use uefi_raw::protocol::network::snp::{
    NetworkMode, NetworkState, ReceiveFlags, SimpleNetworkProtocol,
};
use uefi_raw::{Boolean, Handle, Status};

use crate::println;

/// OpenProtocol attributes.
const BY_HANDLE_PROTOCOL: u32 = 0x01;
const EXCLUSIVE: u32 = 0x20;
/// Device path node types and subtypes.
const MESSAGING: u8 = 3;
const IPV4: u8 = 12;
const IPV6: u8 = 13;

/// The firmware's interface, as the driver calls it.
pub struct FirmwareSnp {
    protocol: *mut SimpleNetworkProtocol,
}

impl FirmwareSnp {
    fn mode(&self) -> &NetworkMode {
        // SAFETY: the protocol's mode lives as long as the protocol (all along: we hold it
        // open, and close it before ExitBootServices).
        unsafe { &*(*self.protocol).mode }
    }

    fn call(&self, status: Status) -> Result<(), SnpStatus> {
        match status {
            Status::SUCCESS => Ok(()),
            Status::NOT_READY => Err(SnpStatus::NotReady),
            Status::BUFFER_TOO_SMALL => Err(SnpStatus::BufferTooSmall),
            Status::ALREADY_STARTED => Err(SnpStatus::AlreadyStarted),
            Status::NOT_STARTED => Err(SnpStatus::NotStarted),
            other => Err(SnpStatus::Other(other.0)),
        }
    }
}

impl SnpApi for FirmwareSnp {
    fn state(&self) -> SnpState {
        match self.mode().state {
            NetworkState::STOPPED => SnpState::Stopped,
            NetworkState::STARTED => SnpState::Started,
            _ => SnpState::Initialized,
        }
    }

    fn current_address(&self) -> MacAddress {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.mode().current_address.0[..6]);
        mac
    }

    fn filter_mask(&self) -> u32 {
        self.mode().receive_filter_mask
    }

    fn media_present(&self) -> Option<bool> {
        let mode = self.mode();
        bool::from(mode.media_present_supported).then(|| bool::from(mode.media_present))
    }

    fn max_packet_size(&self) -> u32 {
        self.mode().max_packet_size
    }

    fn start(&mut self) -> Result<(), SnpStatus> {
        // SAFETY: a live SNP instance; Start takes no buffers.
        self.call(unsafe { ((*self.protocol).start)(self.protocol) })
    }

    fn initialize(&mut self) -> Result<(), SnpStatus> {
        // SAFETY: as above; no extra buffer sizes.
        self.call(unsafe { ((*self.protocol).initialize)(self.protocol, 0, 0) })
    }

    fn receive_filters(&mut self, enable: u32, disable: u32) -> Result<(), SnpStatus> {
        // SAFETY: as above; no multicast list.
        self.call(unsafe {
            ((*self.protocol).receive_filters)(
                self.protocol,
                ReceiveFlags::from_bits_retain(enable),
                ReceiveFlags::from_bits_retain(disable),
                Boolean::FALSE,
                0,
                core::ptr::null(),
            )
        })
    }

    unsafe fn transmit(&mut self, frame: *const u8, len: usize) -> Result<(), SnpStatus> {
        // SAFETY: the caller keeps the frame unchanged until GetStatus returns it; a whole
        // frame (HeaderSize 0), so no addresses or protocol.
        self.call(unsafe {
            ((*self.protocol).transmit)(
                self.protocol,
                0,
                len,
                frame.cast(),
                core::ptr::null(),
                core::ptr::null(),
                core::ptr::null(),
            )
        })
    }

    fn recycled_transmit(&mut self) -> Result<Option<*const u8>, SnpStatus> {
        let mut done: *mut c_void = null_mut();
        // SAFETY: GetStatus writes one pointer; the interrupt status is not asked for.
        self.call(unsafe { ((*self.protocol).get_status)(self.protocol, null_mut(), &mut done) })?;
        Ok((!done.is_null()).then_some(done as *const u8))
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<usize, SnpStatus> {
        let mut len = buffer.len();
        // SAFETY: Receive writes at most `len` bytes into the buffer and the length back; no
        // header fields asked for.
        self.call(unsafe {
            ((*self.protocol).receive)(
                self.protocol,
                null_mut(),
                &mut len,
                buffer.as_mut_ptr().cast(),
                null_mut(),
                null_mut(),
                null_mut(),
            )
        })?;
        Ok(len)
    }

    fn shutdown(&mut self) -> Result<(), SnpStatus> {
        // SAFETY: a live SNP instance.
        self.call(unsafe { ((*self.protocol).shutdown)(self.protocol) })
    }

    fn stop(&mut self) -> Result<(), SnpStatus> {
        // SAFETY: a live SNP instance.
        self.call(unsafe { ((*self.protocol).stop)(self.protocol) })
    }
}

/// The interface, once opened: the driver borrows it for the rest of the run.
static mut OPENED: Option<FirmwareSnp> = None;

/// Whether the firmware has an interface to offer.
pub fn offered() -> bool {
    choose().is_some()
}

/// Opens the interface (see the module docs) and hands it out, once.
pub fn take() -> Option<&'static mut dyn SnpApi> {
    let handle = choose()?;
    let (snp, exclusive) = open(handle)?;
    println!(
        "nic: the firmware's network interface, {}",
        if exclusive {
            "opened exclusively (the firmware's network stack stopped)"
        } else {
            "shared with the firmware's network stack (it would not give it exclusively)"
        }
    );
    // SAFETY: written once here (the registry opens one card, once); the driver holds the
    // only reference from now on.
    unsafe {
        let slot = &mut *(&raw mut OPENED);
        if slot.is_some() {
            return None;
        }
        Some(slot.insert(snp) as &mut dyn SnpApi)
    }
}

/// The handle to take: the interface on the way to the image's device, else the first one;
/// never a PXE driver's IP child. A firmware that booted from a disk may have left its
/// network drivers unconnected (EDK2 connects only what the boot option needs): then the
/// network controllers are connected first, as the shell's `connect` would.
fn choose() -> Option<Handle> {
    choose_connected().or_else(|| {
        super::pci::connect_network_controllers();
        choose_connected()
    })
}

/// Calls `f` with each handle that has SNP, with its device path, until it breaks; never a
/// PXE driver's IP child.
fn each_interface(mut f: impl FnMut(Handle, Option<*const DevicePathProtocol>) -> ControlFlow<()>) {
    super::each_handle(&SimpleNetworkProtocol::GUID, |handle| {
        let path = super::device_path(handle);
        // SAFETY: device paths the firmware installed.
        if path.is_some_and(|p| unsafe { ends_in_ip(p) }) {
            return ControlFlow::Continue(());
        }
        f(handle, path)
    });
}

/// Stops the firmware's interfaces on the card `controller` (its PCI I/O handle), each opened
/// exclusively (which stops the firmware's network stack above it), shut down, stopped and
/// closed again, so that DisconnectController can stop the card's driver: EDK2's VirtioNetDxe
/// refuses to while its SNP is started, and a firmware's PXE boot leaves it started.
pub fn stop_on(controller: Handle) {
    let Some(card) = super::device_path(controller) else {
        return;
    };
    let Some(boot) = super::boot_services() else {
        return;
    };
    each_interface(|handle, path| {
        // SAFETY: device paths the firmware installed.
        if !path.is_some_and(|p| unsafe { is_prefix(card, p) }) {
            return ControlFlow::Continue(());
        }
        let Some((mut snp, exclusive)) = open(handle) else {
            return ControlFlow::Continue(());
        };
        // Shared, the firmware's stack still runs on it: leave it to DisconnectController.
        if exclusive {
            if snp.state() == SnpState::Initialized {
                let _ = snp.shutdown();
            }
            if snp.state() != SnpState::Stopped {
                let _ = snp.stop();
            }
        }
        // SAFETY: closes the open made just above, by our image, on this handle.
        let _ = unsafe {
            (boot.close_protocol)(
                handle,
                &SimpleNetworkProtocol::GUID,
                super::image_handle(),
                null_mut(),
            )
        };
        ControlFlow::Continue(())
    });
}

fn choose_connected() -> Option<Handle> {
    let ours = super::loaded_image().and_then(|image| super::device_path(image.device_handle));
    let mut first = None;
    let mut on_our_way = None;
    each_interface(|handle, path| {
        first.get_or_insert(handle);
        let leads_to_us = match (path, ours) {
            // SAFETY: device paths the firmware installed.
            (Some(p), Some(o)) => unsafe { is_prefix(p, o) },
            _ => false,
        };
        if leads_to_us {
            on_our_way = Some(handle);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    on_our_way.or(first)
}

/// Opens SNP on `handle`, exclusively if the firmware lets us, else shared. Returns it and
/// whether it is held exclusively.
fn open(handle: Handle) -> Option<(FirmwareSnp, bool)> {
    let boot = super::boot_services()?;
    let mut interface: *mut c_void = null_mut();
    // SAFETY: OpenProtocol writes the interface pointer; the agent is our image.
    let exclusive = unsafe {
        (boot.open_protocol)(
            handle,
            &SimpleNetworkProtocol::GUID,
            &mut interface,
            super::image_handle(),
            null_mut(),
            EXCLUSIVE,
        )
    } == Status::SUCCESS;
    if !exclusive {
        // SAFETY: as above, a plain (HandleProtocol-like) open.
        let status = unsafe {
            (boot.open_protocol)(
                handle,
                &SimpleNetworkProtocol::GUID,
                &mut interface,
                super::image_handle(),
                null_mut(),
                BY_HANDLE_PROTOCOL,
            )
        };
        if status != Status::SUCCESS {
            return None;
        }
    }
    (!interface.is_null()).then(|| {
        (
            FirmwareSnp {
                protocol: interface.cast(),
            },
            exclusive,
        )
    })
}

/// Whether the path's last node is an IPv4 or IPv6 node (a PXE driver's child handle).
///
/// # Safety
/// `path` is a well-formed device path.
unsafe fn ends_in_ip(path: *const DevicePathProtocol) -> bool {
    let mut last = None;
    // SAFETY: the caller's promise.
    unsafe { super::walk_device_path(path, |kind, subtype, _| last = Some((kind, subtype))) };
    matches!(last, Some((MESSAGING, IPV4 | IPV6)))
}

/// Whether every node of `prefix` (before its end) starts `path` too, byte for byte.
///
/// # Safety
/// Both are well-formed device paths.
unsafe fn is_prefix(prefix: *const DevicePathProtocol, path: *const DevicePathProtocol) -> bool {
    let mut len = 0usize;
    // SAFETY: the caller's promise.
    unsafe { super::walk_device_path(prefix, |_, _, node_len| len += node_len) };
    let mut path_len = 0usize;
    // SAFETY: the caller's promise.
    unsafe { super::walk_device_path(path, |_, _, node_len| path_len += node_len) };
    // SAFETY: both paths have at least these many bytes before their end nodes.
    len > 0
        && len <= path_len
        && unsafe {
            core::slice::from_raw_parts(prefix.cast::<u8>(), len)
                == core::slice::from_raw_parts(path.cast::<u8>(), len)
        }
}
