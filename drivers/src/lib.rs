//! NIC drivers behind one small trait.
//!
//! The drivers poll (interrupts stay masked), as iPXE's do: a per-driver `open` resets the card
//! and arms its rings, then the caller calls [`Nic::transmit`] and [`Nic::receive_with`] from its
//! main loop, and [`Nic::close`] before handing the machine to a kernel (it stops all DMA).
//!
//! Everything the drivers touch goes through [`hw`]: register access ([`hw::Mmio`],
//! [`hw::PortIo`]), the virtual-to-physical map ([`hw::Dma`]) and a microsecond delay
//! ([`hw::Delay`]). The runtime implements these over the real machine; the host tests implement
//! them over a model of each chip (see `e1000::model` and `rtl8139::model`).
//!
//! How the runtime opens a card: through the [`registry`], which lists every driver with its
//! PCI IDs and an `open` of one signature. The runtime finds the card (PCI scan, or a driver's
//! own `find`), turns on I/O and memory decoding **and bus mastering** in the PCI command
//! register, and hands the driver the card's decoded BARs, a [`registry::Machine`] (a delay)
//! and the DMA memory ([`registry::DmaArena`], below 1 MiB, identity-mapped). The card keeps
//! writing into that memory until [`Nic::close`].
#![no_std]

#[cfg(any(test, feature = "testing"))]
extern crate std;

pub mod e1000;
pub mod eepro100;
pub mod hw;
pub mod ne2k;
pub mod pcnet;
pub mod registry;
pub mod rtl8139;
pub mod snp;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod undi;
pub mod virtio;

/// A 48-bit Ethernet address, in wire order.
pub type MacAddress = [u8; 6];

/// The largest frame the drivers send or hand up: 1500 bytes of payload plus the 14-byte
/// Ethernet header. The frame check sequence is never included: the cards add and strip it.
pub const MAX_FRAME_LEN: usize = 1514;

/// Frames shorter than this are padded with zeros before sending (the 64-byte Ethernet minimum
/// less the 4-byte FCS), so the driver, not the chip, guarantees the minimum.
pub const MIN_FRAME_LEN: usize = 60;

/// Why a driver call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NicError {
    /// Every transmit slot is in use. Poll (receive, or [`Nic::can_transmit`]) and retry.
    Busy,
    /// The frame is longer than [`MAX_FRAME_LEN`].
    FrameTooLong,
    /// The chip did not finish its reset (or an EEPROM read) in time: absent or broken card.
    Timeout,
    /// Neither the registers nor the EEPROM hold a usable (unicast, non-zero) MAC address.
    NoMacAddress,
    /// The DMA memory lies where the card cannot reach it (rtl8139: above 4 GiB) or is
    /// misaligned.
    BadDmaAddress,
    /// The PCI device ID is not one this driver handles.
    UnsupportedDevice,
    /// The card was closed; open it again to use it.
    Closed,
}

impl core::fmt::Display for NicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            NicError::Busy => "transmit ring full",
            NicError::FrameTooLong => "frame longer than 1514 bytes",
            NicError::Timeout => "card did not answer (reset or EEPROM read timed out)",
            NicError::NoMacAddress => "card has no valid MAC address",
            NicError::BadDmaAddress => "DMA memory out of the card's reach or misaligned",
            NicError::UnsupportedDevice => "PCI device not handled by this driver",
            NicError::Closed => "card is closed",
        })
    }
}

/// One open network card. Object-safe: the runtime may hold a `&mut dyn Nic`.
///
/// Frames are whole Ethernet frames without FCS. A smoltcp `phy::Device` maps onto it so:
/// `Device::receive` copies one frame out with [`Nic::receive_with`] into the glue's own
/// buffer (the RX token may not borrow the card, because smoltcp consumes the TX token inside
/// the RX token's closure); `Device::transmit` returns a token only when
/// [`Nic::can_transmit`] is true, and the token's `consume(len, f)` calls
/// [`Nic::transmit_with`], so smoltcp writes straight into the card's DMA buffer.
pub trait Nic {
    /// Short chip name for messages, e.g. "82540EM".
    fn name(&self) -> &'static str;

    /// The station address (read once at open).
    fn mac(&self) -> MacAddress;

    /// Whether the PHY reports link. Cheap: one register read.
    fn link_up(&mut self) -> bool;

    /// Whether [`Nic::transmit_with`] would accept a frame now. Reclaims finished TX slots.
    fn can_transmit(&mut self) -> bool;

    /// Queue one frame of `len` bytes: `fill` writes it into the card's buffer (exactly `len`
    /// bytes, stale contents). Frames under [`MIN_FRAME_LEN`] are zero-padded.
    /// `Err(Busy)` when the TX ring is full; nothing is queued then and `fill` is not called.
    fn transmit_with(
        &mut self,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), NicError>;

    /// Hand the next good received frame (if any) to `f`, then give its buffer back to the card.
    /// Returns whether a frame was handed over. Bad frames (CRC errors, impossible lengths) are
    /// dropped silently; the driver recovers from a corrupt ring by itself.
    fn receive_with(&mut self, f: &mut dyn FnMut(&[u8])) -> bool;

    /// Stop the card: no more DMA, rings disarmed. Must be called before the memory the card
    /// was given is reused (e.g. before booting a kernel). Idempotent; also done on drop.
    fn close(&mut self);

    /// Queue a copy of `frame`. Same errors as [`Nic::transmit_with`].
    fn transmit(&mut self, frame: &[u8]) -> Result<(), NicError> {
        self.transmit_with(frame.len(), &mut |buf| buf.copy_from_slice(frame))
    }

    /// [`Nic::receive_with`] with a closure that returns a value.
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R>
    where
        Self: Sized,
    {
        let mut f = Some(f);
        let mut out = None;
        self.receive_with(&mut |frame| {
            if let Some(f) = f.take() {
                out = Some(f(frame));
            }
        });
        out
    }
}

/// Check a transmit length against the limits every driver shares.
pub(crate) fn check_tx_len(len: usize) -> Result<(), NicError> {
    if len > MAX_FRAME_LEN {
        Err(NicError::FrameTooLong)
    } else {
        Ok(())
    }
}

/// A MAC address a card may use: not all zeros and not a group (multicast/broadcast) address.
pub(crate) fn is_usable_mac(mac: &MacAddress) -> bool {
    mac.iter().any(|&b| b != 0) && mac[0] & 1 == 0
}
