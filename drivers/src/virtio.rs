//! virtio-net over the modern (virtio 1.x) PCI transport, through the `virtio-drivers` crate's
//! allocation-free `VirtIONetRaw` (QEMU `virtio-net-pci`, transitional or not).
//!
//! The crate owns the virtqueues and the virtio-net header; this module owns the packet buffers
//! (all in a [`VirtioBuffers`] the caller provides) and maps them onto the [`Nic`] trait.
//! RX: every buffer is queued on the receive queue at open; a completed one is handed up and
//! queued again at once. TX: a frame goes into a free TX buffer behind the header and is queued;
//! the buffer is free again once the device has put it in the used ring.
//!
//! One card at a time: the crate's `Hal` has no instance, so the pool the rings come from is
//! global (see `hal`). Opening a second card fails with [`VirtioError::AlreadyOpen`].

mod hal;
mod ids;
#[cfg(any(test, feature = "testing"))]
pub mod model;
mod pci;
#[cfg(test)]
mod tests;

use core::marker::PhantomData;
use core::ptr::NonNull;

use virtio_drivers::PAGE_SIZE;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::Transport;
pub use virtio_drivers::transport::pci::{PciTransport, VirtioPciError};

pub use hal::IdentityHal;
pub use ids::{Model, SUPPORTED_IDS, VIRTIO_VENDOR_ID, probe};
pub use pci::{BarAbove4Gib, PortCam};
pub use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction, PciRoot};
use zerocopy::FromZeros;

use crate::registry::{DmaArena, Driver, Found, Machine, OpenError, dma_len};
use crate::{MIN_FRAME_LEN, MacAddress, Nic, NicError, check_tx_len, is_usable_mac};

/// This driver's line in the registry.
pub const DRIVER: Driver = Driver {
    name: "virtio",
    family: "virtio-net",
    pci_ids: SUPPORTED_IDS,
    find: None,
    dma_len: dma_len::<VirtioBuffers, PciVirtioNet<'static>>(),
    open: open_found,
};

/// [`DRIVER`]'s `open`: the crate's PCI transport finds the registers itself.
fn open_found(
    card: &Found,
    _machine: &mut dyn Machine,
    mut dma: DmaArena,
) -> Result<&'static mut dyn Nic, OpenError> {
    let function = card.pci()?;
    let model = probe(function.vendor_id, function.device_id).ok_or(NicError::UnsupportedDevice)?;
    // SAFETY: the standard configuration ports; the runtime makes no other config access
    // while the card opens (single CPU, interrupts off).
    let cam = unsafe { PortCam::new() };
    let address = DeviceFunction {
        bus: function.bus,
        device: function.device,
        function: function.function,
    };
    let buffers = dma.zeroed::<VirtioBuffers>()?;
    match VirtioNet::open(model, cam, address, buffers) {
        Ok(nic) => Ok(dma.keep(nic)?),
        Err(error) => Err(dma.keep_error(error)),
    }
}

/// Descriptors per virtqueue (a power of two; QEMU offers 256).
pub const QUEUE_SIZE: usize = 16;
/// RX buffers: one descriptor each, so they fill the receive queue.
pub const RX_SLOTS: usize = QUEUE_SIZE;
/// TX buffers: one descriptor each (header and frame share the buffer).
pub const TX_SLOTS: usize = 8;
/// An RX buffer: the 12-byte header plus a 1514-byte frame is the crate's minimum (1526).
pub const RX_BUF_LEN: usize = 1536;
/// A TX buffer: header plus the largest frame.
pub const TX_BUF_LEN: usize = 1536;
/// Pages for the two virtqueues: each takes one page for descriptors + available ring and one
/// for the used ring (separate allocations under the modern layout; the legacy layout needs
/// the same two pages, contiguous).
pub const RING_PAGES: usize = 4;

/// The virtio-net header: 12 bytes with VERSION_1 (always, on the modern transport).
const MAX_HEADER_LEN: usize = 12;
const _: () = assert!(RX_BUF_LEN >= MAX_HEADER_LEN + crate::MAX_FRAME_LEN);
const _: () = assert!(TX_BUF_LEN >= MAX_HEADER_LEN + crate::MAX_FRAME_LEN);
const _: () = assert!(RX_SLOTS <= QUEUE_SIZE && TX_SLOTS <= QUEUE_SIZE);

/// All memory the card reads and writes: 53 248 bytes, 4096-byte aligned. The runtime keeps one
/// in its DMA area (zeroed in place) below 4 GiB, identity-mapped (bus address = its address).
#[repr(C, align(4096))]
#[derive(FromZeros)]
pub struct VirtioBuffers {
    rings: [[u8; PAGE_SIZE]; RING_PAGES],
    rx_buf: [[u8; RX_BUF_LEN]; RX_SLOTS],
    tx_buf: [[u8; TX_BUF_LEN]; TX_SLOTS],
}

impl VirtioBuffers {
    pub const fn new() -> Self {
        VirtioBuffers {
            rings: [[0; PAGE_SIZE]; RING_PAGES],
            rx_buf: [[0; RX_BUF_LEN]; RX_SLOTS],
            tx_buf: [[0; TX_BUF_LEN]; TX_SLOTS],
        }
    }
}

impl Default for VirtioBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a card could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtioError {
    /// Another virtio-net card is open (the ring pool is global); close it first.
    AlreadyOpen,
    /// A BAR holding virtio registers lies above 4 GiB, outside the runtime's identity map.
    BarAbove4Gib(BarAbove4Gib),
    /// The PCI transport is unusable, e.g. `MissingCommonConfig` for a legacy-only device
    /// (`disable-modern=on`), which this driver does not support.
    Transport(VirtioPciError),
    /// Feature negotiation, config or queue setup failed (e.g. `InvalidParam`: the device's
    /// queues are shorter than [`QUEUE_SIZE`]).
    Device(virtio_drivers::Error),
    /// The device offers no usable (unicast, non-zero) MAC address.
    NoMacAddress,
}

impl core::fmt::Display for VirtioError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VirtioError::AlreadyOpen => f.write_str("another virtio-net card is already open"),
            VirtioError::BarAbove4Gib(b) => write!(
                f,
                "virtio BAR{} at {:#x} is above 4 GiB (not identity-mapped)",
                b.bar, b.address
            ),
            VirtioError::Transport(e) => write!(f, "virtio PCI transport: {e}"),
            VirtioError::Device(e) => write!(f, "virtio-net setup: {e}"),
            VirtioError::NoMacAddress => f.write_str("card has no valid MAC address"),
        }
    }
}

/// One TX buffer the device holds: its descriptor token and how many bytes were queued.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    token: u16,
    len: usize,
}

type Raw<T> = VirtIONetRaw<IdentityHal, NoEventIdx<T>, QUEUE_SIZE>;

/// The transport with VIRTIO_F_EVENT_IDX hidden from the feature negotiation.
///
/// With EVENT_IDX the crate (0.13) notifies the device whenever the available index has passed
/// the device's `avail_event` (`Queue::should_notify`), instead of when the new buffers cross
/// it (the spec's `vring_need_event`). QEMU moves `avail_event` to the next buffer it will
/// take, and the driver keeps the receive queue full, so every receive buffer given back was a
/// notification: a register write that, in QEMU, flushes the card's packet queue and wakes
/// its main loop, between every frame and the ACK that answers it. Without EVENT_IDX the crate
/// follows the used ring's NO_NOTIFY flag, which QEMU sets on a receive queue that has buffers
/// and on a transmit queue it is already working through; and the no-interrupt flag in the
/// available ring then does silence the device's interrupts.
pub struct NoEventIdx<T>(T);

/// VIRTIO_F_RING_EVENT_IDX (virtio 1.x, 6.3).
const RING_EVENT_IDX: u64 = 1 << 29;

impl<T: Transport> Transport for NoEventIdx<T> {
    fn device_type(&self) -> virtio_drivers::transport::DeviceType {
        self.0.device_type()
    }

    fn read_device_features(&mut self) -> u64 {
        self.0.read_device_features() & !RING_EVENT_IDX
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        self.0.write_driver_features(driver_features)
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.0.max_queue_size(queue)
    }

    fn notify(&mut self, queue: u16) {
        self.0.notify(queue)
    }

    fn get_status(&self) -> virtio_drivers::transport::DeviceStatus {
        self.0.get_status()
    }

    fn set_status(&mut self, status: virtio_drivers::transport::DeviceStatus) {
        self.0.set_status(status)
    }

    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        self.0.set_guest_page_size(guest_page_size)
    }

    fn requires_legacy_layout(&self) -> bool {
        self.0.requires_legacy_layout()
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: virtio_drivers::PhysAddr,
        driver_area: virtio_drivers::PhysAddr,
        device_area: virtio_drivers::PhysAddr,
    ) {
        self.0
            .queue_set(queue, size, descriptors, driver_area, device_area)
    }

    fn queue_unset(&mut self, queue: u16) {
        self.0.queue_unset(queue)
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.0.queue_used(queue)
    }

    fn ack_interrupt(&mut self) -> virtio_drivers::transport::InterruptStatus {
        self.0.ack_interrupt()
    }

    fn read_config_generation(&self) -> u32 {
        self.0.read_config_generation()
    }

    fn read_config_space<C: zerocopy::FromBytes + zerocopy::IntoBytes>(
        &self,
        offset: usize,
    ) -> virtio_drivers::Result<C> {
        self.0.read_config_space(offset)
    }

    fn write_config_space<C: zerocopy::IntoBytes + zerocopy::Immutable>(
        &mut self,
        offset: usize,
        value: C,
    ) -> virtio_drivers::Result<()> {
        self.0.write_config_space(offset, value)
    }
}

/// The card as the runtime opens it, through [`VirtioNet::open`].
pub type PciVirtioNet<'a> = VirtioNet<'a, PciTransport>;

/// An open virtio-net card.
///
/// `T` must reset the device when dropped, as `PciTransport` does: that is how
/// [`Nic::close`] stops DMA (`VirtIONetRaw` gives no other access to the transport).
pub struct VirtioNet<'a, T: Transport> {
    /// `None` once closed; dropping it resets the device (the transport's drop writes status 0).
    raw: Option<Raw<T>>,
    model: &'static Model,
    mac: MacAddress,
    /// The caller's buffers; shared with the card, so only touched through raw pointers.
    mem: NonNull<VirtioBuffers>,
    _mem: PhantomData<&'a mut VirtioBuffers>,
    /// Token of the receive request holding each RX buffer (`None`: not queued).
    rx_token: [Option<u16>; RX_SLOTS],
    tx: [Option<InFlight>; TX_SLOTS],
    /// The ring pool; released after `raw` is gone.
    lease: Option<hal::PoolLease>,
}

impl<'a> VirtioNet<'a, PciTransport> {
    /// Open the virtio-net function `df`: check its BARs, enable memory decoding and bus
    /// mastering, reset it, negotiate features, set up both queues and queue every RX buffer.
    /// The BARs must be assigned (the BIOS does that). Interrupts stay off (nothing is polled
    /// through them; the queues are polled).
    // Not inlined: LTO otherwise spreads the transport's setup into the registry's adapter
    // and the option ROM's first stage grows by half a kilobyte.
    #[inline(never)]
    pub fn open<C: ConfigurationAccess>(
        model: &'static Model,
        cam: C,
        df: DeviceFunction,
        buffers: &'a mut VirtioBuffers,
    ) -> Result<Self, VirtioError> {
        if crate::hw::IDENTITY_MAP_END <= 1 << 32 {
            pci::check_bars_below_4gib(&cam, df).map_err(VirtioError::BarAbove4Gib)?;
        }
        let mut root = PciRoot::new(cam);
        pci::enable_memory_and_bus_master(&mut root, df);
        // Take the pool before the transport exists: it maps nothing from it, but failing here
        // leaves the device untouched.
        let lease = lease_rings(buffers)?;
        let transport =
            PciTransport::new::<IdentityHal, C>(&mut root, df).map_err(VirtioError::Transport)?;
        Self::start(model, transport, buffers, lease)
    }
}

impl<'a, T: Transport> VirtioNet<'a, T> {
    /// Open a card behind any virtio transport (the host tests use [`model::FakeNet`]).
    pub fn from_transport(
        model: &'static Model,
        transport: T,
        buffers: &'a mut VirtioBuffers,
    ) -> Result<Self, VirtioError> {
        let lease = lease_rings(buffers)?;
        Self::start(model, transport, buffers, lease)
    }

    #[inline(never)] // as `open`
    fn start(
        model: &'static Model,
        transport: T,
        buffers: &'a mut VirtioBuffers,
        lease: hal::PoolLease,
    ) -> Result<Self, VirtioError> {
        let mut raw = Raw::<T>::new(NoEventIdx(transport)).map_err(VirtioError::Device)?;
        // We poll: no used-ring interrupts (the available ring's NO_INTERRUPT flag, which the
        // device honours since EVENT_IDX is not negotiated).
        raw.disable_interrupts();
        let mac = raw.mac_address();
        if !is_usable_mac(&mac) {
            return Err(VirtioError::NoMacAddress); // dropping `raw` resets the device
        }
        let mut nic = VirtioNet {
            raw: Some(raw),
            model,
            mac,
            mem: NonNull::from(buffers),
            _mem: PhantomData,
            rx_token: [None; RX_SLOTS],
            tx: [None; TX_SLOTS],
            lease: Some(lease),
        };
        for slot in 0..RX_SLOTS {
            nic.queue_rx(slot).map_err(VirtioError::Device)?;
        }
        Ok(nic)
    }

    /// The model entry this card was opened with.
    pub fn model(&self) -> &'static Model {
        self.model
    }

    fn rx_buf(&self, slot: usize) -> *mut [u8; RX_BUF_LEN] {
        // SAFETY: `mem` is valid for 'a; the array index is bounds-checked.
        unsafe { &raw mut (*self.mem.as_ptr()).rx_buf[slot] }
    }

    fn tx_buf(&self, slot: usize) -> *mut [u8; TX_BUF_LEN] {
        // SAFETY: as in `rx_buf`.
        unsafe { &raw mut (*self.mem.as_ptr()).tx_buf[slot] }
    }

    /// Give RX buffer `slot` (not queued now) to the device.
    fn queue_rx(&mut self, slot: usize) -> Result<(), virtio_drivers::Error> {
        let buf = self.rx_buf(slot);
        let raw = self.raw.as_mut().ok_or(virtio_drivers::Error::NotReady)?;
        // SAFETY: the buffer is not queued, so nothing else refers to it; it stays untouched
        // (only reached through `rx_buf`, which `receive_with` uses after completion) until the
        // device returns it.
        let token = unsafe { raw.receive_begin(&mut *buf)? };
        self.rx_token[slot] = Some(token);
        Ok(())
    }

    /// Free every TX buffer the device has finished with.
    fn reclaim_tx(&mut self) {
        loop {
            let Some(token) = self.raw.as_mut().and_then(|raw| raw.poll_transmit()) else {
                return;
            };
            let Some((slot, len)) = self
                .tx
                .iter()
                .enumerate()
                .find_map(|(slot, t)| t.filter(|t| t.token == token).map(|t| (slot, t.len)))
            else {
                return; // not ours: a broken device; the TX buffers stay busy
            };
            let buf = self.tx_buf(slot);
            let Some(raw) = self.raw.as_mut() else { return };
            // SAFETY: the device returned this buffer; `len` is what `transmit_with` queued.
            let queued = unsafe { &(&*buf)[..len] };
            // SAFETY: `queued` is the very slice given to `transmit_begin` for `token`.
            if unsafe { raw.transmit_complete(token, queued) }.is_err() {
                return;
            }
            self.tx[slot] = None;
        }
    }

    fn free_tx_slot(&self) -> Option<usize> {
        self.tx.iter().position(Option::is_none)
    }
}

/// Hand the ring pages of `buffers` to the Hal's allocator.
fn lease_rings(buffers: &mut VirtioBuffers) -> Result<hal::PoolLease, VirtioError> {
    let rings = NonNull::from(&mut buffers.rings).cast::<u8>();
    let pages = NonNull::slice_from_raw_parts(rings, RING_PAGES * PAGE_SIZE);
    hal::PoolLease::acquire(pages).ok_or(VirtioError::AlreadyOpen)
}

impl<T: Transport> Nic for VirtioNet<'_, T> {
    fn name(&self) -> &'static str {
        self.model.name
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    /// True while open: `VirtIONetRaw` does not expose the config `status` field. QEMU's link
    /// is up unless set down from its monitor.
    fn link_up(&mut self) -> bool {
        self.raw.is_some()
    }

    fn can_transmit(&mut self) -> bool {
        if self.raw.is_none() {
            return false;
        }
        self.reclaim_tx();
        self.free_tx_slot().is_some()
    }

    fn transmit_with(
        &mut self,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), NicError> {
        if self.raw.is_none() {
            return Err(NicError::Closed);
        }
        check_tx_len(len)?;
        self.reclaim_tx();
        let slot = self.free_tx_slot().ok_or(NicError::Busy)?;
        let buf = self.tx_buf(slot);
        let raw = self.raw.as_mut().ok_or(NicError::Closed)?;
        // SAFETY: TX buffer `slot` is not queued (its `tx` entry is `None`), so the device does
        // not read it and nothing else refers to it while this borrow lives.
        let buf = unsafe { &mut *buf };
        // The header is all zeros (no offloads): 12 bytes, or 10 for a legacy device.
        let header_len = raw.fill_buffer_header(buf).map_err(|_| NicError::Busy)?;
        let sent = len.max(MIN_FRAME_LEN);
        // In bounds: header_len <= 12 and sent <= 1514 (const-asserted against TX_BUF_LEN).
        let frame = &mut buf[header_len..header_len + sent];
        fill(&mut frame[..len]);
        frame[len..].fill(0);
        let queued = &buf[..header_len + sent];
        // SAFETY: the buffer stays untouched until `reclaim_tx` sees the device return `token`.
        // It cannot fail with QueueFull: each TX buffer takes one of QUEUE_SIZE >= TX_SLOTS
        // descriptors.
        let token = unsafe { raw.transmit_begin(queued) }.map_err(|_| NicError::Busy)?;
        self.tx[slot] = Some(InFlight {
            token,
            len: queued.len(),
        });
        Ok(())
    }

    fn receive_with(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        // At most one queue's worth of bad frames per call, so a call always ends.
        for _ in 0..RX_SLOTS {
            let Some(token) = self.raw.as_ref().and_then(|raw| raw.poll_receive()) else {
                return false;
            };
            let Some(slot) = self.rx_token.iter().position(|&t| t == Some(token)) else {
                return false; // not ours: a broken device; RX stalls rather than misbehaves
            };
            let buf = self.rx_buf(slot);
            let Some(raw) = self.raw.as_mut() else {
                return false;
            };
            // SAFETY: the device is done with this buffer (it is in the used ring); `buf` is the
            // buffer given to `receive_begin` for `token`.
            let result = unsafe { raw.receive_complete(token, &mut *buf) };
            let handed = match result {
                Ok((header_len, frame_len)) => {
                    // SAFETY: popped from the used ring, so the device no longer writes it.
                    let data: &[u8] = unsafe { &*buf };
                    // `frame_len` comes from the device: check it against the buffer.
                    match header_len
                        .checked_add(frame_len)
                        .and_then(|end| data.get(header_len..end))
                    {
                        Some(frame) if !frame.is_empty() => {
                            f(frame);
                            true
                        }
                        _ => false,
                    }
                }
                // Not popped: leave the ring as it is.
                Err(virtio_drivers::Error::NotReady | virtio_drivers::Error::WrongToken) => {
                    return false;
                }
                // Popped, but shorter than a header: drop it.
                Err(_) => false,
            };
            self.rx_token[slot] = None;
            // Cannot fail: the buffer's descriptor was just freed.
            let _ = self.queue_rx(slot);
            if handed {
                return true;
            }
        }
        false
    }

    fn close(&mut self) {
        // Dropping the driver drops the transport, which resets the device (status 0) and
        // waits for the reset to show: no more DMA into the buffers.
        self.raw = None;
        self.rx_token = [None; RX_SLOTS];
        self.tx = [None; TX_SLOTS];
        self.lease = None;
    }
}

impl<T: Transport> Drop for VirtioNet<'_, T> {
    fn drop(&mut self) {
        self.close();
    }
}
