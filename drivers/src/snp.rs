//! A [`Nic`] over the firmware's Simple Network Protocol (UEFI spec 2.10, section 24.1), for
//! netloader.efi while boot services run: the firmware's own driver (OVMF's VirtioNetDxe, iPXE's
//! EFI driver in QEMU's efi-*.rom, a vendor's UNDI) moves the frames, as in GRUB's `efinet`
//! and iPXE's `snponly.efi`.
//!
//! The firmware calls are behind [`SnpApi`], so the driver is tested on the host against a
//! model ([`model::SnpModel`]) as the UNDI and chip drivers are against theirs. The runtime
//! implements it over the protocol table (`runtime/src/efi/snp.rs`).
//!
//! What the driver does with SNP:
//! - open: `Start` unless started, `Initialize` unless initialized (a firmware that did PXE
//!   leaves it initialized), then the receive filters: unicast and broadcast, the two every
//!   IPv4 exchange needs, without promiscuous or multicast (the firmware may not have them;
//!   only bits its `ReceiveFilterMask` has are asked for);
//! - transmit: SNP keeps the caller's buffer until `GetStatus` hands it back, so frames go out
//!   of a small pool of buffers owned here ([`SnpBuffers`]), each busy until recycled;
//! - receive: `Receive` into the caller's frame buffer, until `NOT_READY`;
//! - close: `Shutdown`, then `Stop` (what EDK2's SnpDxe does at ExitBootServices, done here
//!   before the hand-off in any case).

use zerocopy::FromZeros;

use crate::registry::{DmaArena, Driver, Found, Location, Machine, OpenError, dma_len};
use crate::{MAX_FRAME_LEN, MIN_FRAME_LEN, MacAddress, Nic, NicError, check_tx_len};

/// The registry's entry: the firmware's interface, found by asking the machine (netloader.efi
/// offers it; a BIOS machine never does), its transmit buffers and state in the DMA pool.
pub const DRIVER: Driver = Driver {
    name: "snp",
    family: "the firmware's network interface (UEFI Simple Network Protocol)",
    pci_ids: &[],
    find: Some(find),
    dma_len: dma_len::<SnpBuffers, Snp<'static, &'static mut dyn SnpApi>>(),
    open: open_found,
};

fn find(machine: &mut dyn Machine) -> Option<(&'static str, Location)> {
    machine.offers_snp().then_some((
        "UEFI Simple Network Protocol",
        Location::Firmware("offered by the firmware"),
    ))
}

/// [`DRIVER`]'s `open`: the machine's interface, buffers from the DMA pool.
fn open_found(
    _card: &Found,
    machine: &mut dyn Machine,
    mut dma: DmaArena,
) -> Result<&'static mut dyn Nic, OpenError> {
    let api = machine.take_snp().ok_or(OpenError::Nic(NicError::Closed))?;
    let buffers = dma.zeroed::<SnpBuffers>()?;
    match Snp::open(api, buffers) {
        Ok(nic) => Ok(dma.keep(nic)?),
        Err(error) => Err(dma.keep_error(error)),
    }
}

/// `EFI_SIMPLE_NETWORK_MODE.State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnpState {
    Stopped,
    Started,
    Initialized,
}

/// The `EFI_STATUS` values the driver tells apart (the rest are [`SnpStatus::Other`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnpStatus {
    /// `EFI_NOT_READY`: no frame waiting (Receive), or no room to queue one (Transmit).
    NotReady,
    /// `EFI_BUFFER_TOO_SMALL`: the waiting frame is longer than the buffer (Receive).
    BufferTooSmall,
    /// `EFI_ALREADY_STARTED`.
    AlreadyStarted,
    /// `EFI_NOT_STARTED`.
    NotStarted,
    /// `EFI_DEVICE_ERROR` and every other error, with the raw status.
    Other(usize),
}

/// Receive filter bits (`EFI_SIMPLE_NETWORK_RECEIVE_*`).
pub mod filter {
    pub const UNICAST: u32 = 0x01;
    pub const MULTICAST: u32 = 0x02;
    pub const BROADCAST: u32 = 0x04;
    pub const PROMISCUOUS: u32 = 0x08;
    pub const PROMISCUOUS_MULTICAST: u32 = 0x10;
}

/// The SNP calls the driver makes, one method each (the protocol's function pointers, or a
/// model on the host).
pub trait SnpApi {
    /// `Mode.State`.
    fn state(&self) -> SnpState;
    /// `Mode.CurrentAddress` (its first six bytes: Ethernet).
    fn current_address(&self) -> MacAddress;
    /// `Mode.ReceiveFilterMask`.
    fn filter_mask(&self) -> u32;
    /// `Mode.MediaPresent` when `Mode.MediaPresentSupported`, else None.
    fn media_present(&self) -> Option<bool>;
    /// `Mode.MaxPacketSize` (the largest payload; 1500 on Ethernet).
    fn max_packet_size(&self) -> u32;
    fn start(&mut self) -> Result<(), SnpStatus>;
    /// `Initialize(0, 0)`: the firmware picks its own buffer counts.
    fn initialize(&mut self) -> Result<(), SnpStatus>;
    /// `ReceiveFilters(enable, disable, ResetMCastFilter = FALSE, 0, NULL)`.
    fn receive_filters(&mut self, enable: u32, disable: u32) -> Result<(), SnpStatus>;
    /// `Transmit(HeaderSize = 0, len, frame, NULL, NULL, NULL)`: a whole Ethernet frame.
    ///
    /// # Safety
    /// The `len` bytes at `frame` stay valid and unchanged until [`SnpApi::recycled_transmit`]
    /// returns `frame` (the firmware may read them until then).
    unsafe fn transmit(&mut self, frame: *const u8, len: usize) -> Result<(), SnpStatus>;
    /// `GetStatus(NULL, &TxBuf)`: a transmit buffer the firmware is done with, if any.
    fn recycled_transmit(&mut self) -> Result<Option<*const u8>, SnpStatus>;
    /// `Receive(NULL, &len, buffer, NULL, NULL, NULL)`: the frame's length.
    fn receive(&mut self, buffer: &mut [u8]) -> Result<usize, SnpStatus>;
    fn shutdown(&mut self) -> Result<(), SnpStatus>;
    fn stop(&mut self) -> Result<(), SnpStatus>;
}

/// Frames that may be in the firmware's hands at once. EDK2's SnpDxe queues up to its
/// `MAX_XMIT_BUFFERS` (32) recycled pointers; a handful keeps smoltcp's bursts (a TCP window of
/// ACKs is one frame per few received) flowing without waiting.
pub const TX_SLOTS: usize = 8;

/// The receive buffer's size: a full frame, a VLAN tag and an FCS, rounded up.
const RX_BUFFER_LEN: usize = 1536;

/// The transmit buffers: the firmware reads a frame from here until it recycles it.
#[derive(FromZeros)]
#[repr(C, align(64))]
pub struct SnpBuffers {
    tx: [[u8; MAX_FRAME_LEN]; TX_SLOTS],
}

impl SnpBuffers {
    pub const fn new() -> Self {
        SnpBuffers {
            tx: [[0; MAX_FRAME_LEN]; TX_SLOTS],
        }
    }
}

impl Default for SnpBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Why the firmware's network interface would not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnpOpenError {
    /// `Start` failed.
    Start(SnpStatus),
    /// `Initialize` failed.
    Initialize(SnpStatus),
    /// The interface cannot receive unicast and broadcast frames (its filter mask lacks one,
    /// and it has no promiscuous mode to stand in).
    Filters { mask: u32 },
    /// `ReceiveFilters` failed.
    SetFilters(SnpStatus),
    /// Not Ethernet-sized: `MaxPacketSize` below 1500.
    PacketSize(u32),
    /// `CurrentAddress` is no unicast MAC address.
    NoMacAddress,
}

impl core::fmt::Display for SnpStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SnpStatus::NotReady => f.write_str("EFI_NOT_READY"),
            SnpStatus::BufferTooSmall => f.write_str("EFI_BUFFER_TOO_SMALL"),
            SnpStatus::AlreadyStarted => f.write_str("EFI_ALREADY_STARTED"),
            SnpStatus::NotStarted => f.write_str("EFI_NOT_STARTED"),
            SnpStatus::Other(status) => write!(f, "EFI status {status:#x}"),
        }
    }
}

impl core::fmt::Display for SnpOpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SnpOpenError::Start(s) => write!(f, "SNP Start failed ({s})"),
            SnpOpenError::Initialize(s) => write!(f, "SNP Initialize failed ({s})"),
            SnpOpenError::Filters { mask } => write!(
                f,
                "the interface cannot receive unicast and broadcast frames (filter mask {mask:#x})"
            ),
            SnpOpenError::SetFilters(s) => write!(f, "SNP ReceiveFilters failed ({s})"),
            SnpOpenError::PacketSize(size) => {
                write!(f, "not Ethernet: the largest packet is {size} bytes")
            }
            SnpOpenError::NoMacAddress => f.write_str("the interface has no unicast MAC address"),
        }
    }
}

/// The firmware's interface, opened.
pub struct Snp<'b, A: SnpApi> {
    api: A,
    buffers: &'b mut SnpBuffers,
    /// Which transmit buffers the firmware still holds.
    in_flight: [bool; TX_SLOTS],
    mac: MacAddress,
    open: bool,
    /// Receive failures other than "nothing waiting" seen so far (for the log; the frame is
    /// dropped and the next one tried, as a chip driver drops a bad descriptor).
    pub receive_errors: u32,
}

impl<'b, A: SnpApi> Snp<'b, A> {
    /// Brings the interface to the initialized state with unicast and broadcast reception,
    /// whatever state the firmware left it in.
    pub fn open(mut api: A, buffers: &'b mut SnpBuffers) -> Result<Self, SnpOpenError> {
        if api.state() == SnpState::Stopped {
            match api.start() {
                Ok(()) | Err(SnpStatus::AlreadyStarted) => {}
                Err(e) => return Err(SnpOpenError::Start(e)),
            }
        }
        if api.state() != SnpState::Initialized {
            api.initialize().map_err(SnpOpenError::Initialize)?;
        }
        if api.max_packet_size() < 1500 {
            return Err(SnpOpenError::PacketSize(api.max_packet_size()));
        }
        let mask = api.filter_mask();
        let wanted = filter::UNICAST | filter::BROADCAST;
        let enable = if mask & wanted == wanted {
            wanted
        } else if mask & filter::PROMISCUOUS != 0 {
            // Sees more than it needs; smoltcp drops frames for other addresses.
            filter::PROMISCUOUS
        } else {
            return Err(SnpOpenError::Filters { mask });
        };
        // Everything else off: a firmware that did PXE may have left promiscuous multicast on,
        // which only costs us frames to drop.
        let disable = mask & !enable;
        api.receive_filters(enable, disable)
            .map_err(SnpOpenError::SetFilters)?;
        let mac = api.current_address();
        if !crate::is_usable_mac(&mac) {
            return Err(SnpOpenError::NoMacAddress);
        }
        Ok(Snp {
            api,
            buffers,
            in_flight: [false; TX_SLOTS],
            mac,
            open: true,
            receive_errors: 0,
        })
    }

    /// The firmware calls, e.g. for a test's model.
    pub fn api(&self) -> &A {
        &self.api
    }

    /// Takes back every buffer the firmware is done with.
    fn reclaim(&mut self) {
        // Bounded: the firmware holds at most TX_SLOTS of ours; a broken one that keeps
        // answering must not hold the loop.
        for _ in 0..=TX_SLOTS {
            let Ok(Some(done)) = self.api.recycled_transmit() else {
                return;
            };
            let slot = self
                .buffers
                .tx
                .iter()
                .position(|buffer| core::ptr::eq(buffer.as_ptr(), done));
            // A pointer that is none of ours (another user of the interface) is not ours to
            // free; ours come back exactly as given.
            if let Some(slot) = slot {
                self.in_flight[slot] = false;
            }
        }
    }

    fn free_slot(&self) -> Option<usize> {
        self.in_flight.iter().position(|&busy| !busy)
    }
}

impl<A: SnpApi> Nic for Snp<'_, A> {
    fn name(&self) -> &'static str {
        "UEFI SNP"
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        // An interface that cannot tell is taken as up: DHCP's retries cover a late link.
        self.open && self.api.media_present().unwrap_or(true)
    }

    fn can_transmit(&mut self) -> bool {
        if !self.open {
            return false;
        }
        self.reclaim();
        self.free_slot().is_some()
    }

    fn transmit_with(
        &mut self,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), NicError> {
        check_tx_len(len)?;
        if !self.open {
            return Err(NicError::Closed);
        }
        self.reclaim();
        let slot = self.free_slot().ok_or(NicError::Busy)?;
        let buffer = &mut self.buffers.tx[slot];
        fill(&mut buffer[..len]);
        let sent = len.max(MIN_FRAME_LEN);
        buffer[len..sent].fill(0);
        // SAFETY: the slot stays out of use (in_flight) until GetStatus hands this very
        // pointer back, and the buffers outlive the driver (borrowed for 'b; close stops the
        // interface before the borrow ends).
        match unsafe { self.api.transmit(buffer.as_ptr(), sent) } {
            Ok(()) => {
                self.in_flight[slot] = true;
                Ok(())
            }
            // The firmware's own queue is full: nothing was queued.
            Err(SnpStatus::NotReady) => Err(NicError::Busy),
            Err(_) => Err(NicError::Timeout),
        }
    }

    fn receive_with(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        if !self.open {
            return false;
        }
        // Room for a VLAN tag and a trailing FCS, which some interfaces hand up: such a frame
        // is dropped whole, not cut (a cut one would be corrupt), and the next one looked at.
        let mut frame = [0u8; RX_BUFFER_LEN];
        for _ in 0..4 {
            match self.api.receive(&mut frame) {
                Ok(len) if (14..=MAX_FRAME_LEN).contains(&len) => {
                    f(&frame[..len]);
                    return true;
                }
                Ok(_) => self.receive_errors += 1,
                Err(SnpStatus::NotReady) => return false,
                Err(_) => self.receive_errors += 1,
            }
        }
        false
    }

    fn close(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        // Shutdown ends every transfer (the firmware gives up the buffers); Stop leaves the
        // interface as a firmware that never started it would.
        let _ = self.api.shutdown();
        let _ = self.api.stop();
        self.in_flight = [false; TX_SLOTS];
    }
}

/// A borrowed interface is one too (the runtime hands the driver `&'static mut dyn SnpApi`;
/// the tests a `&mut` to their model).
impl<T: SnpApi + ?Sized> SnpApi for &mut T {
    fn state(&self) -> SnpState {
        (**self).state()
    }
    fn current_address(&self) -> MacAddress {
        (**self).current_address()
    }
    fn filter_mask(&self) -> u32 {
        (**self).filter_mask()
    }
    fn media_present(&self) -> Option<bool> {
        (**self).media_present()
    }
    fn max_packet_size(&self) -> u32 {
        (**self).max_packet_size()
    }
    fn start(&mut self) -> Result<(), SnpStatus> {
        (**self).start()
    }
    fn initialize(&mut self) -> Result<(), SnpStatus> {
        (**self).initialize()
    }
    fn receive_filters(&mut self, enable: u32, disable: u32) -> Result<(), SnpStatus> {
        (**self).receive_filters(enable, disable)
    }
    unsafe fn transmit(&mut self, frame: *const u8, len: usize) -> Result<(), SnpStatus> {
        // SAFETY: the caller's promise, passed on.
        unsafe { (**self).transmit(frame, len) }
    }
    fn recycled_transmit(&mut self) -> Result<Option<*const u8>, SnpStatus> {
        (**self).recycled_transmit()
    }
    fn receive(&mut self, buffer: &mut [u8]) -> Result<usize, SnpStatus> {
        (**self).receive(buffer)
    }
    fn shutdown(&mut self) -> Result<(), SnpStatus> {
        (**self).shutdown()
    }
    fn stop(&mut self) -> Result<(), SnpStatus> {
        (**self).stop()
    }
}

impl<A: SnpApi> Drop for Snp<'_, A> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(any(test, feature = "testing"))]
pub mod model;

#[cfg(test)]
mod tests;
