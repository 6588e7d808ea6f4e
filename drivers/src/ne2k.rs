//! NE2000: the Realtek RTL8029 and its clones on PCI (QEMU `ne2k_pci`, Bochs `ne2k` on PCI),
//! and ISA boards at the usual I/O bases (QEMU `ne2k_isa`), found by the registry's `find` hook
//! when the PCI bus has no card with a driver.
//!
//! The chip (a DP8390 core) does no bus-master DMA: frames live in 16 KiB of memory on the card,
//! and every byte crosses the data port by "remote DMA", the driver reading or writing the port
//! in word mode: 32 bits at a time on the RTL8029 and the clones that take it (`rep insd` /
//! `rep outsd`, the fastest the chips allow), 16 on the others ([`ONLY_16_BIT`]). The card memory holds two transmit buffers ([`TX_PAGES`] pages each) and the
//! receive ring after them, 256-byte pages where the chip stores each frame behind a 4-byte
//! header (status, next page, length) and keeps CURR, the page it writes next; the driver reads
//! from its own next page and gives pages back through BNRY, one behind.
//!
//! Per received frame: two remote reads (header, then data: in two parts when the frame wraps
//! round the ring) and the BNRY write; the ISR and CURR are read only when the frames the driver
//! knew of are used up. Per sent frame: a remote write into a free transmit buffer and its
//! start, or, while the other buffer is still going out, a start deferred to the next poll.

#[cfg(any(test, feature = "testing"))]
pub mod model;
#[allow(dead_code)] // the model uses the rest
mod regs;
#[cfg(test)]
mod tests;

use core::marker::PhantomData;
use core::ptr::NonNull;

use zerocopy::FromZeros;

use crate::hw::Delay;
use crate::hw::{PortIo, PortRegion};
use crate::registry::{DmaArena, Driver, Found, Location, Machine, OpenError, PciId, dma_len};
use crate::{MAX_FRAME_LEN, MIN_FRAME_LEN, MacAddress, Nic, NicError, check_tx_len, is_usable_mac};
use regs::*;

/// This driver's line in the registry.
pub const DRIVER: Driver = Driver {
    name: "ne2k",
    family: "NE2000 (RTL8029 on PCI, ISA boards)",
    pci_ids: SUPPORTED_IDS,
    find: Some(find_isa),
    dma_len: dma_len::<Ne2kBuffers, Ne2k<'static, PortRegion>>(),
    open: open_found,
};

/// [`DRIVER`]'s `open`: the I/O BAR (or the ISA board's ports) as the registers, its frame
/// buffers from the pool.
fn open_found(
    card: &Found,
    _machine: &mut dyn Machine,
    mut dma: DmaArena,
) -> Result<&'static mut dyn Nic, OpenError> {
    let (id, base) = match card.location {
        Location::Ports(base) => (&ISA_NE2000, base),
        _ => {
            let function = card.pci()?;
            let id =
                probe(function.vendor_id, function.device_id).ok_or(NicError::UnsupportedDevice)?;
            (id, function.io_bar()?)
        }
    };
    // SAFETY: the card's I/O ports (its BAR, or where `find_isa` found the board); nothing
    // else drives it.
    let io = unsafe { PortRegion::new(base) };
    let buffers = dma.zeroed::<Ne2kBuffers>()?;
    let nic = Ne2k::open(id, io, buffers)?;
    Ok(dma.keep(nic)?)
}

/// [`PciId::data`] bit of the clones whose data port takes 16-bit transfers only; the others
/// take 32-bit ones too (two words at a time), which halves the port accesses.
pub const ONLY_16_BIT: u16 = 1;

/// The RTL8029 and the PCI NE2000 clones (Holtek's HT80229, which takes 32-bit transfers only
/// and has less memory, is left out).
pub const SUPPORTED_IDS: &[PciId] = &[
    PciId::new(0x10EC, 0x8029, "RTL8029"),
    PciId::new(0x1050, 0x0940, "Winbond 89C940"),
    PciId::new(0x1050, 0x5A5A, "Winbond W89C940F"),
    PciId::new(0x11F6, 0x1401, "Compex RL2000"),
    PciId::new(0x8E2E, 0x3000, "KTI ET32P2"),
    PciId::new(0x4A14, 0x5000, "NetVin NV5000SC"),
    PciId::with_data(0x1106, 0x0926, "VIA 86C926", ONLY_16_BIT),
    PciId::new(0x10BD, 0x0E34, "SureCom NE34"),
    PciId::with_data(0x12C3, 0x0058, "Holtek HT80232", ONLY_16_BIT),
];

/// An ISA NE2000 board (not on the PCI bus: no IDs), 16-bit.
pub const ISA_NE2000: PciId = PciId::with_data(0, 0, "NE2000 (ISA)", ONLY_16_BIT);

/// The I/O bases an ISA NE2000's jumpers offer, QEMU's `ne2k_isa` default first.
pub const ISA_BASES: [u16; 6] = [0x300, 0x280, 0x320, 0x340, 0x360, 0x240];

/// The registry's search for an ISA board, when the PCI bus had no card with a driver: the
/// first base where [`is_ne2000`] holds.
fn find_isa(machine: &mut dyn Machine) -> Option<(&'static str, Location)> {
    ISA_BASES.into_iter().find_map(|base| {
        // SAFETY: the ports of an ISA NE2000 base; `is_ne2000` writes only once the base
        // reads like a chip, and only the board's own reset and command registers.
        let mut io = unsafe { PortRegion::new(base) };
        is_ne2000(&mut io, &mut machine.delay()).then_some((ISA_NE2000.name, Location::Ports(base)))
    })
}

/// Whether an NE2000 answers at these ports: something is there (an empty ISA port reads
/// 0xFF), it resets as one (ISR.RST after a read of its reset port, within 2 ms), and its
/// station address PROM carries the NE2000 mark ("WW" in bytes 14 and 15, read by words).
pub fn is_ne2000(io: &mut impl PortIo, delay: &mut impl Delay) -> bool {
    if io.read8(CR) == 0xFF {
        return false;
    }
    let value = io.read8(RESET);
    io.write8(RESET, value);
    let mut waited = 0;
    while io.read8(ISR) & ISR_RST == 0 {
        if waited >= 2000 {
            return false;
        }
        delay.delay_us(10);
        waited += 10;
    }
    io.write8(CR, CR_PAGE0 | CR_RD_NONE | CR_STP);
    io.write8(DCR, DCR_WORD);
    io.write8(RBCR0, 32);
    io.write8(RBCR1, 0);
    io.write8(RSAR0, 0);
    io.write8(RSAR1, 0);
    io.write8(CR, CR_PAGE0 | CR_RD_READ | CR_STA);
    let mut prom = [0u8; 32];
    io.read16_into(DATA, &mut prom);
    io.write8(CR, CR_PAGE0 | CR_RD_NONE | CR_STP);
    prom[28] == b'W' && prom[30] == b'W'
}

/// The entry for a PCI vendor/device pair, if this driver handles it.
pub fn probe(vendor_id: u16, device_id: u16) -> Option<&'static PciId> {
    SUPPORTED_IDS
        .iter()
        .find(|id| id.vendor_id == vendor_id && id.device_id == device_id)
}

/// Pages of one transmit buffer: a whole frame (1536 bytes).
pub const TX_PAGES: u8 = 6;
/// The two transmit buffers, then the receive ring to the end of the card's memory.
pub const TX_START: u8 = MEM_START_PAGE;
pub const RX_START: u8 = TX_START + 2 * TX_PAGES;
pub const RX_STOP: u8 = MEM_STOP_PAGE;
/// Room for one frame on our side: the longest, with a CRC, rounded to a transfer unit.
const FRAME_BUF_LEN: usize = 1536;

/// The host memory the driver copies frames through (the card reaches none of it).
#[repr(C, align(16))]
#[derive(FromZeros)]
pub struct Ne2kBuffers {
    rx: [u8; FRAME_BUF_LEN],
    tx: [u8; FRAME_BUF_LEN],
}

/// Polls for a reset, or for the end of a remote write (a few microseconds each).
const POLLS: u32 = 100_000;
/// Shortest frame length accepted from a ring header: a minimum frame.
const MIN_RX_LEN: usize = MIN_FRAME_LEN;
/// Longest: 1514 bytes, a VLAN tag and a CRC (some boards store it).
const MAX_RX_LEN: usize = MAX_FRAME_LEN + 8;

/// An open NE2000.
pub struct Ne2k<'a, P: PortIo> {
    io: P,
    id: &'static PciId,
    mac: MacAddress,
    mem: NonNull<Ne2kBuffers>,
    _mem: PhantomData<&'a mut Ne2kBuffers>,
    /// The ring page of the next frame to read, and CURR as last read: frames are waiting
    /// while they differ.
    next_page: u8,
    curr: u8,
    /// The transmit buffer going out (0 or 1), and one written and waiting to go, with its
    /// length.
    tx_sending: Option<u8>,
    tx_waiting: Option<(u8, u16)>,
    /// How often a corrupt ring or an overrun made the driver start the chip over.
    rx_restarts: u32,
    /// The data port takes 32-bit transfers.
    dwords: bool,
    is_open: bool,
}

impl<'a, P: PortIo> Ne2k<'a, P> {
    /// Reset the chip, read the MAC from the station address PROM, set up the ring and start
    /// it. `io` is the I/O BAR (32 ports); the caller has enabled I/O decoding. Interrupts
    /// stay masked (IMR 0).
    pub fn open(id: &'static PciId, io: P, buffers: &'a mut Ne2kBuffers) -> Result<Self, NicError> {
        let mut nic = Ne2k {
            io,
            id,
            mac: [0; 6],
            mem: NonNull::from(buffers),
            _mem: PhantomData,
            next_page: RX_START,
            curr: RX_START,
            tx_sending: None,
            tx_waiting: None,
            rx_restarts: 0,
            dwords: id.data & ONLY_16_BIT == 0,
            is_open: true,
        };
        nic.reset()?;
        nic.mac = nic.read_prom();
        if !is_usable_mac(&nic.mac) {
            nic.close();
            return Err(NicError::NoMacAddress);
        }
        nic.start();
        Ok(nic)
    }

    /// The registry entry this card was opened with.
    pub fn id(&self) -> &'static PciId {
        self.id
    }

    /// How often a corrupt ring or an overrun made the driver start the chip over.
    pub fn rx_restarts(&self) -> u32 {
        self.rx_restarts
    }

    /// The board reset (a read of the reset port, written back), then the chip stopped, word
    /// transfers, nothing received, internal loopback, interrupts masked.
    fn reset(&mut self) -> Result<(), NicError> {
        let value = self.io.read8(RESET);
        self.io.write8(RESET, value);
        let mut polls = 0;
        while self.io.read8(ISR) & ISR_RST == 0 {
            polls += 1;
            if polls > POLLS {
                self.is_open = false;
                return Err(NicError::Timeout);
            }
            core::hint::spin_loop();
        }
        self.io.write8(CR, CR_PAGE0 | CR_RD_NONE | CR_STP);
        self.io.write8(DCR, DCR_WORD);
        self.io.write8(RBCR0, 0);
        self.io.write8(RBCR1, 0);
        self.io.write8(RCR, RCR_MON);
        self.io.write8(TCR, TCR_LOOPBACK);
        self.io.write8(IMR, 0);
        self.io.write8(ISR, 0xFF);
        self.io.write8(PSTART, RX_START);
        self.io.write8(PSTOP, RX_STOP);
        self.io.write8(BNRY, RX_STOP - 1);
        self.io.write8(TPSR, TX_START);
        // Remote DMA needs a started chip; in loopback and monitor mode nothing goes out or in.
        self.io.write8(CR, CR_PAGE0 | CR_RD_NONE | CR_STA);
        Ok(())
    }

    /// The station address PROM at card address 0: one byte per word in word mode (its low
    /// half), the MAC in the first six.
    fn read_prom(&mut self) -> MacAddress {
        let mut prom = [0u8; 32];
        self.remote_read(0, &mut prom);
        core::array::from_fn(|i| prom[2 * i])
    }

    /// The ring, our address, broadcasts accepted; the chip started in normal mode.
    fn start(&mut self) {
        self.io.write8(CR, CR_PAGE1 | CR_RD_NONE | CR_STP);
        for (i, byte) in self.mac.iter().enumerate() {
            self.io.write8(PAR0 + i as u16, *byte);
        }
        for i in 0..8 {
            self.io.write8(MAR0 + i, 0);
        }
        self.io.write8(CURR, RX_START);
        self.io.write8(CR, CR_PAGE0 | CR_RD_NONE | CR_STP);
        self.io.write8(BNRY, RX_STOP - 1);
        self.io.write8(ISR, 0xFF);
        self.io.write8(CR, CR_PAGE0 | CR_RD_NONE | CR_STA);
        self.io.write8(TCR, TCR_NORMAL);
        self.io.write8(RCR, RCR_AB);
        self.next_page = RX_START;
        self.curr = RX_START;
        self.tx_sending = None;
        self.tx_waiting = None;
    }

    /// The ring is corrupt or overran: reset and start over with an empty ring. Frames in
    /// it, and a frame waiting to be sent, are lost; the stack above retransmits.
    fn restart(&mut self) {
        self.rx_restarts += 1;
        if self.reset().is_ok() {
            self.start();
        }
    }

    fn set_remote(&mut self, address: u16, len: usize) {
        self.io.write8(RBCR0, len as u8);
        self.io.write8(RBCR1, (len >> 8) as u8);
        self.io.write8(RSAR0, address as u8);
        self.io.write8(RSAR1, (address >> 8) as u8);
    }

    /// The unit of a remote DMA transfer: a dword where the data port takes them, else a word.
    fn unit(&self) -> usize {
        if self.dwords { 4 } else { 2 }
    }

    /// Card memory from `address` into `buf` (a multiple of [`Ne2k::unit`] long), by remote
    /// DMA.
    fn remote_read(&mut self, address: u16, buf: &mut [u8]) {
        self.set_remote(address, buf.len());
        self.io.write8(CR, CR_PAGE0 | CR_RD_READ | CR_STA);
        if self.dwords {
            self.io.read32_into(DATA, buf);
        } else {
            self.io.read16_into(DATA, buf);
        }
    }

    /// `buf` (a multiple of [`Ne2k::unit`] long) into card memory at `address`, by remote DMA;
    /// waits until the chip says it has all of it (RDC).
    fn remote_write(&mut self, address: u16, buf: &[u8]) -> Result<(), NicError> {
        self.io.write8(ISR, ISR_RDC);
        self.set_remote(address, buf.len());
        self.io.write8(CR, CR_PAGE0 | CR_RD_WRITE | CR_STA);
        if self.dwords {
            self.io.write32_from(DATA, buf);
        } else {
            self.io.write16_from(DATA, buf);
        }
        for _ in 0..POLLS {
            if self.io.read8(ISR) & ISR_RDC != 0 {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(NicError::Timeout)
    }

    fn tx_page(buffer: u8) -> u8 {
        TX_START + buffer * TX_PAGES
    }

    fn send(&mut self, buffer: u8, len: u16) {
        self.io.write8(TPSR, Self::tx_page(buffer));
        self.io.write8(TBCR0, len as u8);
        self.io.write8(TBCR1, (len >> 8) as u8);
        self.io.write8(CR, CR_PAGE0 | CR_RD_NONE | CR_TXP | CR_STA);
        self.tx_sending = Some(buffer);
    }

    /// When the frame going out is gone (TXP clear), send the one waiting.
    fn poll_tx(&mut self) {
        if self.tx_sending.is_some() && self.io.read8(CR) & CR_TXP == 0 {
            self.tx_sending = None;
        }
        if self.tx_sending.is_none()
            && let Some((buffer, len)) = self.tx_waiting.take()
        {
            self.send(buffer, len);
        }
    }

    /// Whether frames are waiting in the ring: known ones, else the ISR's receive bits, then
    /// CURR (the bits are cleared first, so a frame that lands after the CURR read sets them
    /// again).
    fn frames_waiting(&mut self) -> bool {
        if self.next_page != self.curr {
            return true;
        }
        let isr = self.io.read8(ISR);
        if isr & ISR_OVW != 0 {
            self.restart();
            return false;
        }
        if isr & (ISR_PRX | ISR_RXE) == 0 {
            return false;
        }
        self.io.write8(ISR, ISR_PRX | ISR_RXE);
        self.io.write8(CR, CR_PAGE1 | CR_RD_NONE | CR_STA);
        self.curr = self.io.read8(CURR);
        self.io.write8(CR, CR_PAGE0 | CR_RD_NONE | CR_STA);
        self.next_page != self.curr
    }
}

impl<P: PortIo> Nic for Ne2k<'_, P> {
    fn name(&self) -> &'static str {
        self.id.name
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    /// The NE2000 has no link register: always up (as iPXE and Linux take it).
    fn link_up(&mut self) -> bool {
        self.is_open
    }

    fn can_transmit(&mut self) -> bool {
        if !self.is_open {
            return false;
        }
        self.poll_tx();
        self.tx_waiting.is_none()
    }

    fn transmit_with(
        &mut self,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), NicError> {
        if !self.is_open {
            return Err(NicError::Closed);
        }
        check_tx_len(len)?;
        self.poll_tx();
        if self.tx_waiting.is_some() {
            return Err(NicError::Busy);
        }
        let buffer = match self.tx_sending {
            Some(sending) => 1 - sending,
            None => 0,
        };
        // SAFETY: `mem` is valid for 'a and only ever reached through `&mut self`.
        let staging = unsafe { &mut (*self.mem.as_ptr()).tx };
        fill(&mut staging[..len]);
        let sent = len.max(MIN_FRAME_LEN);
        // Zeros to the minimum, and to a whole transfer unit (beyond the count sent).
        let written = sent.next_multiple_of(self.unit());
        staging[len..written].fill(0);
        let address = u16::from(Self::tx_page(buffer)) << 8;
        if let Err(error) = self.remote_write(address, &staging[..written]) {
            self.restart();
            return Err(error);
        }
        if self.tx_sending.is_none() {
            self.send(buffer, sent as u16);
        } else {
            self.tx_waiting = Some((buffer, sent as u16));
        }
        Ok(())
    }

    fn receive_with(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        if !self.is_open {
            return false;
        }
        self.poll_tx();
        if !self.frames_waiting() {
            return false;
        }
        let page = self.next_page;
        let mut header = [0u8; 4];
        self.remote_read(u16::from(page) << 8, &mut header);
        let [status, next, len_low, len_high] = header;
        let len = usize::from(u16::from_le_bytes([len_low, len_high])).wrapping_sub(4);
        let sane = (RX_START..RX_STOP).contains(&next)
            && status & RSR_PRX != 0
            && (MIN_RX_LEN..=MAX_RX_LEN).contains(&len);
        if !sane {
            self.restart();
            return false;
        }
        // The frame follows its header, and may run past the ring's end back to its start.
        let start = (usize::from(page) << 8) + 4;
        let ring_end = usize::from(RX_STOP) << 8;
        let whole = len.next_multiple_of(self.unit());
        // SAFETY: `mem` is valid for 'a and only ever reached through `&mut self`.
        let staging = unsafe { &mut (*self.mem.as_ptr()).rx };
        // `start` is a page plus 4: the part to the ring's end is whole units too.
        let first = whole.min(ring_end - start);
        self.remote_read(start as u16, &mut staging[..first]);
        if first < whole {
            let rest = u16::from(RX_START) << 8;
            self.remote_read(rest, &mut staging[first..whole]);
        }
        // Give the pages back: BNRY one behind the next frame.
        self.next_page = next;
        let boundary = if next == RX_START {
            RX_STOP - 1
        } else {
            next - 1
        };
        self.io.write8(BNRY, boundary);
        // A board that stores the CRC makes the longest frames 4 bytes longer: not ours.
        f(&staging[..len.min(MAX_FRAME_LEN)]);
        true
    }

    fn close(&mut self) {
        if !self.is_open {
            return;
        }
        // Stopped, nothing received; the chip does no bus-master DMA, so that is all.
        self.io.write8(CR, CR_PAGE0 | CR_RD_NONE | CR_STP);
        self.io.write8(RCR, RCR_MON);
        self.io.write8(IMR, 0);
        self.is_open = false;
    }
}

impl<P: PortIo> Drop for Ne2k<'_, P> {
    fn drop(&mut self) {
        self.close();
    }
}
