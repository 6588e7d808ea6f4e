//! Realtek RTL8139 (A/B/C/D, and the C+ in its legacy mode): QEMU `rtl8139`.
//!
//! RX is one ring buffer of 8 KiB (+16) that the chip fills with frames, each preceded by a
//! 4-byte header (status, then length including the 4-byte CRC) and padded to 4 bytes. The
//! driver reads at its own offset and tells the chip how far it has read through CAPR, which by
//! the chip's convention lags 16 bytes behind: `CAPR = offset - 0x10`, with the next offset
//! `(offset + len + 4 + 3) & !3` (mod 8 KiB). RCR.WRAP is set: a frame that reaches the end
//! of the ring runs on into [`RX_SLACK`] bytes past it instead of continuing at the start, so
//! every frame is one contiguous slice and goes to the caller without a copy.
//! TX has four fixed slots (TSAD/TSD 0-3) that the chip sends in round-robin order; a slot is
//! free again when its TSD shows TOK (or an error). The slots' addresses never change, so TSAD
//! is written once per reset.
//!
//! Register accesses are what a frame costs (under emulation each one is an exit into the
//! device model), so the hot path has only those it needs: per received frame one CR read
//! (BUFE: is a whole frame there?) and the CAPR write; per sent frame the TSD write and, once
//! the four slots are in use, one TSD read. RX events in ISR are acknowledged every
//! [`ISR_ACK_INTERVAL`] polls rather than per frame.
//!
//! An RTL8139C+ (TCR's version bits; QEMU's `rtl8139` is one) runs in C+ mode instead:
//! descriptor rings as on the RTL8169, [`CP_RX_DESCS`] RX buffers and the four TX buffers, whose
//! ownership bits are read in memory. Its hot path is one register write per sent frame
//! (TPPOLL) and none per received frame: no CAPR, which QEMU answers by waking its main loop
//! (7.6 us a frame in lockstep TFTP).

#[cfg(any(test, feature = "testing"))]
pub mod model;
#[allow(dead_code)] // the model uses the rest
mod regs;
#[cfg(test)]
mod tests;

use core::marker::PhantomData;
use core::ptr::NonNull;

use zerocopy::FromZeros;

use crate::hw::{Dma, IdentityDma, PortIo, PortRegion, dma_barrier};
use crate::registry::{DmaArena, Driver, Found, Machine, OpenError, PciId, dma_len};
use crate::{MIN_FRAME_LEN, MacAddress, Nic, NicError, check_tx_len, is_usable_mac};
use regs::*;

/// This driver's line in the registry.
pub const DRIVER: Driver = Driver {
    name: "rtl8139",
    family: "Realtek RTL8139",
    pci_ids: SUPPORTED_IDS,
    find: None,
    dma_len: dma_len::<Rtl8139Buffers, Rtl8139<'static, PortRegion, IdentityDma>>(),
    open: open_found,
};

/// [`DRIVER`]'s `open`: the I/O BAR as the registers, buffers from the DMA pool.
fn open_found(
    card: &Found,
    _machine: &mut dyn Machine,
    mut dma: DmaArena,
) -> Result<&'static mut dyn Nic, OpenError> {
    let function = card.pci()?;
    let id = probe(function.vendor_id, function.device_id).ok_or(NicError::UnsupportedDevice)?;
    // SAFETY: the I/O BAR of this card; nothing else drives it.
    let io = unsafe { PortRegion::new(function.io_bar()?) };
    let buffers = dma.zeroed::<Rtl8139Buffers>()?;
    let nic = Rtl8139::open(id, io, IdentityDma, buffers)?;
    Ok(dma.keep(nic)?)
}

/// The ring proper (RCR.RBLEN = 00).
pub const RX_RING_LEN: usize = 8192;
/// Room past the ring for a frame written across its end (WRAP), beyond the datasheet's 16:
/// the largest accepted frame plus its header.
pub const RX_SLACK: usize = 2048;
/// The RX buffer the card is given.
pub const RX_BUF_LEN: usize = RX_RING_LEN + 16 + RX_SLACK;
pub const TX_SLOTS: usize = 4;
/// One TX buffer: a whole frame, dword aligned.
pub const TX_BUF_LEN: usize = 1536;
/// The size of the I/O BAR.
pub const IO_LEN: u16 = 0x100;

/// Shortest length field accepted: a minimum frame (60 bytes) plus CRC.
const MIN_RX_LEN: usize = MIN_FRAME_LEN + 4;
/// Longest length field accepted: 1514 bytes + a VLAN tag + CRC.
const MAX_RX_LEN: usize = 1522;
/// Polls of CR for the reset bit to clear. Each is a PCI I/O read (≥ ~0.5 µs), so this is tens
/// of milliseconds on hardware; the reset itself takes microseconds.
const RESET_POLLS: u32 = 100_000;
/// Polls that may see an "early RX" header before the ring is taken as corrupt.
const EARLY_RX_POLLS: u32 = 10_000;
/// RX events (ROK, and the overflow bits after which some chips hold reception until they are
/// cleared) are acknowledged every this many `receive_with` calls, empty or not: the driver
/// never enables interrupts, so the bits only matter for that hold, and a stalled receiver is
/// polled (and so acknowledged) within this many calls.
pub const ISR_ACK_INTERVAL: u32 = 32;

/// C+ mode: RX descriptors, enough for a TFTP window of 32 (QEMU drops what finds none free).
pub const CP_RX_DESCS: usize = 32;
/// C+ mode: one RX buffer, room for the longest accepted frame with its CRC.
pub const CP_RX_BUF_LEN: usize = 1536;

/// A C+ mode descriptor (RX and TX alike): word 0 flags and length, word 1 VLAN, then the
/// buffer's 64-bit bus address.
#[repr(C)]
#[derive(Clone, Copy, FromZeros)]
struct CpDesc {
    opts1: u32,
    opts2: u32,
    addr_lo: u32,
    addr_hi: u32,
}

const EMPTY_DESC: CpDesc = CpDesc {
    opts1: 0,
    opts2: 0,
    addr_lo: 0,
    addr_hi: 0,
};

/// All memory the card reads and writes: 66 304 bytes, 256-byte aligned (the C+ descriptor
/// rings must be). The runtime keeps one in a `static` below 4 GiB (the chip's ring buffer has
/// 32-bit DMA addresses only).
#[repr(C, align(256))]
#[derive(FromZeros)]
pub struct Rtl8139Buffers {
    cp_rx_desc: [CpDesc; CP_RX_DESCS],
    cp_tx_desc: [CpDesc; TX_SLOTS],
    rx: [u8; RX_BUF_LEN],
    tx: [[u8; TX_BUF_LEN]; TX_SLOTS],
    cp_rx_buf: [[u8; CP_RX_BUF_LEN]; CP_RX_DESCS],
}

impl Rtl8139Buffers {
    pub const fn new() -> Self {
        Rtl8139Buffers {
            cp_rx_desc: [EMPTY_DESC; CP_RX_DESCS],
            cp_tx_desc: [EMPTY_DESC; TX_SLOTS],
            rx: [0; RX_BUF_LEN],
            tx: [[0; TX_BUF_LEN]; TX_SLOTS],
            cp_rx_buf: [[0; CP_RX_BUF_LEN]; CP_RX_DESCS],
        }
    }
}

impl Default for Rtl8139Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// A PCI ID handled by this driver.
pub type Card = PciId;

const fn card(vendor_id: u16, device_id: u16, name: &'static str) -> Card {
    PciId::new(vendor_id, device_id, name)
}

/// RTL8139 and the boards built on it under other vendors' IDs.
pub const SUPPORTED_IDS: &[Card] = &[
    card(0x10EC, 0x8139, "RTL8139"),
    card(0x10EC, 0x8138, "RTL8139B CardBus"),
    card(0x1113, 0x1211, "SMC1211TX EZCard"),
    card(0x1500, 0x1360, "Delta 8139"),
    card(0x4033, 0x1360, "Addtron 8139"),
    card(0x1186, 0x1300, "D-Link DFE-538TX"),
    card(0x1186, 0x1340, "D-Link DFE-690TXD"),
    card(0x13D1, 0xAB06, "Abocom FE2000VX"),
    card(0x1259, 0xA117, "Allied Telesyn 8139"),
    card(0x1259, 0xA11E, "Allied Telesyn 8139"),
    card(0x14EA, 0xAB06, "Planex FNW-3603-TX"),
    card(0x14EA, 0xAB07, "Planex FNW-3800-TX"),
    card(0x1432, 0x9130, "Edimax EP-4103DL"),
    card(0x02AC, 0x1012, "SpeedStream 8139"),
    card(0x018A, 0x0106, "LevelOne FPC-0106TX"),
    card(0x126C, 0x1211, "Northern Telecom 8139"),
    card(0x1743, 0x8139, "Peppercon ROL-F"),
    card(0x021B, 0x8139, "Compaq HNE-300"),
];

/// The card entry for a PCI vendor/device pair, if this driver handles it.
pub fn probe(vendor_id: u16, device_id: u16) -> Option<&'static Card> {
    SUPPORTED_IDS
        .iter()
        .find(|c| c.vendor_id == vendor_id && c.device_id == device_id)
}

/// An open RTL8139.
pub struct Rtl8139<'a, P: PortIo, D: Dma> {
    io: P,
    dma: D,
    card: &'static Card,
    mac: MacAddress,
    /// The caller's buffers; shared with the card, so only touched through raw pointers.
    mem: NonNull<Rtl8139Buffers>,
    _mem: PhantomData<&'a mut Rtl8139Buffers>,
    /// C+ mode (an RTL8139C+): descriptor rings instead of the ring buffer and TSD slots.
    cplus: bool,
    /// Offset in the ring of the next frame header (4-byte aligned, < RX_RING_LEN); in C+
    /// mode, the next RX descriptor.
    rx_offset: usize,
    early_rx_polls: u32,
    /// `receive_with` calls since ISR was last acknowledged.
    polls_since_isr_ack: u32,
    rx_restarts: u32,
    /// Next slot to fill; slots are used (and sent by the chip) in round-robin order.
    tx_next: usize,
    /// Slots handed to the chip and not yet seen finished.
    tx_in_flight: usize,
    is_open: bool,
}

impl<'a, P: PortIo, D: Dma> Rtl8139<'a, P, D> {
    /// Power the chip up, reset it, read its MAC, arm RX and TX. `io` is the I/O BAR
    /// ([`IO_LEN`] ports); the caller has enabled I/O decoding and bus mastering in the PCI
    /// command register. Interrupts stay masked.
    pub fn open(
        card: &'static Card,
        io: P,
        dma: D,
        buffers: &'a mut Rtl8139Buffers,
    ) -> Result<Self, NicError> {
        let mem = NonNull::from(buffers);
        let start = dma.phys_addr(mem.as_ptr().cast());
        let size = core::mem::size_of::<Rtl8139Buffers>() as u64;
        if start % 256 != 0 || start + size > 1 << 32 {
            return Err(NicError::BadDmaAddress);
        }
        let mut nic = Rtl8139 {
            io,
            dma,
            card,
            mac: [0; 6],
            mem,
            _mem: PhantomData,
            cplus: false,
            rx_offset: 0,
            early_rx_polls: 0,
            polls_since_isr_ack: 0,
            rx_restarts: 0,
            tx_next: 0,
            tx_in_flight: 0,
            is_open: true,
        };
        nic.reset_and_start()?;
        for (i, byte) in nic.mac.iter_mut().enumerate() {
            *byte = nic.io.read8(IDR0 + i as u16);
        }
        if !is_usable_mac(&nic.mac) {
            nic.close();
            return Err(NicError::NoMacAddress);
        }
        Ok(nic)
    }

    /// The card entry this driver was opened with.
    pub fn card(&self) -> &'static Card {
        self.card
    }

    /// Whether the chip runs in C+ mode (descriptor rings).
    pub fn is_cplus(&self) -> bool {
        self.cplus
    }

    /// How often a corrupt RX ring made the driver reset the chip.
    pub fn rx_restarts(&self) -> u32 {
        self.rx_restarts
    }

    /// Software reset, then program the ring, filters and enables. Leaves the card closed if
    /// the reset never finishes.
    fn reset_and_start(&mut self) -> Result<(), NicError> {
        // Wake the chip from its power-down state (LWAKE/LWPTN in CONFIG1).
        self.io.write8(CR9346, CR9346_UNLOCK);
        self.io.write8(CONFIG1, 0);
        self.io.write8(CR9346, CR9346_LOCK);

        self.io.write8(CR, CR_RST);
        let mut polls = 0;
        while self.io.read8(CR) & CR_RST != 0 {
            polls += 1;
            if polls > RESET_POLLS {
                self.is_open = false;
                return Err(NicError::Timeout);
            }
            core::hint::spin_loop();
        }

        self.cplus = self.io.read32(TCR) & TCR_HWVERID_MASK == TCR_HWVERID_8139CPLUS;
        let rx = self.dma.phys_addr(self.rx_ptr());
        self.io.write32(RBSTART, rx as u32);
        self.io.write16(IMR, 0);
        self.io.write16(ISR, 0xFFFF);
        if self.cplus {
            self.init_cplus_rings();
        }
        // The chip wants RE/TE on before RCR/TCR are written.
        self.io.write8(CR, CR_RE | CR_TE);
        self.io.write32(
            RCR,
            RCR_APM | RCR_AB | RCR_WRAP | RCR_MXDMA_UNLIMITED | RCR_RBLEN_8K | RCR_RXFTH_NONE,
        );
        self.io.write32(TCR, TCR_MXDMA_2048 | TCR_IFG_STANDARD);
        if !self.cplus {
            for slot in 0..TX_SLOTS {
                let addr = self.dma.phys_addr(self.tx_ptr(slot)) as u32; // below 4 GiB, checked at open
                self.io.write32(TSAD0 + 4 * slot as u16, addr);
            }
            self.io.write16(CAPR, capr_for(0));
        }
        self.rx_offset = 0;
        self.early_rx_polls = 0;
        self.tx_next = 0;
        self.tx_in_flight = 0;
        self.is_open = true;
        Ok(())
    }

    /// The ring is corrupt (impossible header): start over with an empty ring. Frames in it
    /// and frames being sent are lost; the stack above retransmits.
    fn restart_rx(&mut self) {
        self.rx_restarts += 1;
        // On a timeout the card is left closed: nothing more can be done with it.
        let _ = self.reset_and_start();
    }

    fn rx_ptr(&self) -> *mut u8 {
        // SAFETY: `mem` is valid for 'a.
        unsafe { (&raw mut (*self.mem.as_ptr()).rx).cast() }
    }

    fn tx_ptr(&self, slot: usize) -> *mut u8 {
        // SAFETY: `mem` is valid for 'a; `slot` < TX_SLOTS (array index is bounds-checked).
        unsafe { (&raw mut (*self.mem.as_ptr()).tx[slot]).cast() }
    }

    /// The ring bytes `start..start + len`, or None if that leaves the RX buffer.
    fn rx_bytes(&self, start: usize, len: usize) -> Option<&[u8]> {
        if start.checked_add(len)? > RX_BUF_LEN {
            return None;
        }
        // SAFETY: in bounds (checked above); the chip does not write these bytes again until
        // CAPR moves past them, which needs `&mut self`, so not while this borrow lives.
        Some(unsafe { core::slice::from_raw_parts(self.rx_ptr().add(start), len) })
    }

    fn cp_desc(&self, rx: bool, i: usize) -> *mut CpDesc {
        // SAFETY: `mem` is valid for 'a; the index is bounds-checked by the array access.
        unsafe {
            if rx {
                &raw mut (*self.mem.as_ptr()).cp_rx_desc[i]
            } else {
                &raw mut (*self.mem.as_ptr()).cp_tx_desc[i]
            }
        }
    }

    fn cp_rx_buf(&self, i: usize) -> *mut u8 {
        // SAFETY: `mem` is valid for 'a; `i` is bounds-checked by the array access.
        unsafe { (&raw mut (*self.mem.as_ptr()).cp_rx_buf[i]).cast() }
    }

    /// Write descriptor `d`: its buffer's address, then word 0 (the chip may take it as soon
    /// as OWN is set, so that goes last).
    fn write_cp_desc(&self, d: *mut CpDesc, buf: *const u8, opts1: u32) {
        let addr = self.dma.phys_addr(buf);
        // SAFETY: `d` points into `mem`; the descriptor is ours (OWN clear or chip stopped).
        unsafe {
            (&raw mut (*d).opts2).write_volatile(0);
            (&raw mut (*d).addr_lo).write_volatile(addr as u32);
            (&raw mut (*d).addr_hi).write_volatile((addr >> 32) as u32);
            dma_barrier();
            (&raw mut (*d).opts1).write_volatile(opts1);
        }
    }

    fn cp_opts1(&self, d: *const CpDesc) -> u32 {
        // SAFETY: `d` points into `mem`; the chip writes word 0, volatile sees it.
        unsafe { (&raw const (*d).opts1).read_volatile() }
    }

    /// Give RX descriptor `i` (back) to the chip.
    fn arm_cp_rx(&self, i: usize) {
        let end = if i == CP_RX_DESCS - 1 { DESC_EOR } else { 0 };
        let opts1 = DESC_OWN | end | CP_RX_BUF_LEN as u32;
        self.write_cp_desc(self.cp_desc(true, i), self.cp_rx_buf(i), opts1);
    }

    /// After a reset: every RX descriptor armed, TX descriptors empty, C+ mode on, ring
    /// addresses given (the chip starts at descriptor 0 of each when RE/TE are set).
    fn init_cplus_rings(&mut self) {
        for i in 0..CP_RX_DESCS {
            self.arm_cp_rx(i);
        }
        for slot in 0..TX_SLOTS {
            let end = if slot == TX_SLOTS - 1 { DESC_EOR } else { 0 };
            self.write_cp_desc(self.cp_desc(false, slot), self.tx_ptr(slot), end);
        }
        self.io.write16(CPCR, CPCR_RX_ENABLE | CPCR_TX_ENABLE);
        let rx_ring = self.dma.phys_addr(self.cp_desc(true, 0).cast());
        self.io.write32(RDSAR, rx_ring as u32);
        self.io.write32(RDSAR + 4, (rx_ring >> 32) as u32);
        let tx_ring = self.dma.phys_addr(self.cp_desc(false, 0).cast());
        self.io.write32(TNPDS, tx_ring as u32);
        self.io.write32(TNPDS + 4, (tx_ring >> 32) as u32);
    }

    /// C+ mode receive: the next descriptor, if the chip has handed it back. A bad one is
    /// re-armed and skipped; at most one ring's worth per call.
    fn receive_cplus(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        for _ in 0..CP_RX_DESCS {
            let i = self.rx_offset;
            let opts1 = self.cp_opts1(self.cp_desc(true, i));
            if opts1 & DESC_OWN != 0 {
                return false;
            }
            dma_barrier();
            let len = (opts1 & RX_DESC_LEN_MASK) as usize;
            let good = opts1 & (DESC_FS | DESC_LS | RX_DESC_RES) == DESC_FS | DESC_LS
                && (MIN_RX_LEN..=MAX_RX_LEN).contains(&len);
            if good {
                // SAFETY: the chip has handed the buffer back (OWN clear) and gets it again
                // only in `arm_cp_rx` below; `len` <= MAX_RX_LEN < CP_RX_BUF_LEN.
                let frame = unsafe { core::slice::from_raw_parts(self.cp_rx_buf(i), len - 4) };
                f(frame);
            }
            self.arm_cp_rx(i);
            self.rx_offset = (i + 1) % CP_RX_DESCS;
            if good {
                return true;
            }
        }
        false
    }

    /// When every slot is in flight, take back those the chip has finished (oldest first).
    /// Until then there is no need to ask it.
    fn reclaim_tx(&mut self) {
        if self.tx_in_flight < TX_SLOTS {
            return;
        }
        while self.tx_in_flight > 0 {
            let oldest = (self.tx_next + TX_SLOTS - self.tx_in_flight) % TX_SLOTS;
            let done = if self.cplus {
                self.cp_opts1(self.cp_desc(false, oldest)) & DESC_OWN == 0
            } else {
                let status = self.io.read32(TSD0 + 4 * oldest as u16);
                status & (TSD_TOK | TSD_TUN | TSD_TABT) != 0
            };
            if !done {
                break;
            }
            self.tx_in_flight -= 1;
        }
    }
}

/// CAPR lags the read offset by 16 bytes (the chip's convention).
fn capr_for(offset: usize) -> u16 {
    (offset as u16).wrapping_sub(0x10)
}

impl<P: PortIo, D: Dma> Nic for Rtl8139<'_, P, D> {
    fn name(&self) -> &'static str {
        self.card.name
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        self.io.read8(MSR) & MSR_LINKB == 0
    }

    fn can_transmit(&mut self) -> bool {
        if !self.is_open {
            return false;
        }
        self.reclaim_tx();
        self.tx_in_flight < TX_SLOTS
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
        self.reclaim_tx();
        if self.tx_in_flight == TX_SLOTS {
            return Err(NicError::Busy);
        }
        let slot = self.tx_next;
        let buf = self.tx_ptr(slot);
        // SAFETY: the slot is not in flight, so the chip does not read it; nothing else
        // refers to it while the slice lives.
        let frame = unsafe { core::slice::from_raw_parts_mut(buf, TX_BUF_LEN) };
        fill(&mut frame[..len]);
        let sent = len.max(MIN_FRAME_LEN);
        frame[len..sent].fill(0);
        dma_barrier();
        if self.cplus {
            let end = if slot == TX_SLOTS - 1 { DESC_EOR } else { 0 };
            let opts1 = DESC_OWN | end | DESC_FS | DESC_LS | (sent as u32 & TX_DESC_LEN_MASK);
            self.write_cp_desc(self.cp_desc(false, slot), buf, opts1);
            self.io.write8(TPPOLL, TPPOLL_NPQ);
            self.tx_next = (slot + 1) % TX_SLOTS;
            self.tx_in_flight += 1;
            return Ok(());
        }
        // Writing the size with OWN clear hands the slot to the chip.
        self.io
            .write32(TSD0 + 4 * slot as u16, sent as u32 | TSD_ERTXTH_256);
        self.tx_next = (slot + 1) % TX_SLOTS;
        self.tx_in_flight += 1;
        Ok(())
    }

    fn receive_with(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        if !self.is_open {
            return false;
        }
        self.polls_since_isr_ack += 1;
        if self.polls_since_isr_ack >= ISR_ACK_INTERVAL {
            self.polls_since_isr_ack = 0;
            self.io.write16(ISR, ISR_ROK | ISR_RXOVW | ISR_FOVW);
        }
        if self.cplus {
            return self.receive_cplus(f);
        }
        // BUFE is what tells a new frame from the last lap's bytes at `rx_offset`.
        if self.io.read8(CR) & CR_BUFE != 0 {
            return false;
        }
        dma_barrier();
        let offset = self.rx_offset;
        let Some(header) = self.rx_bytes(offset, 4) else {
            self.restart_rx();
            return false;
        };
        let header = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let status = header as u16;
        let len = (header >> 16) as usize;
        if len == RX_LEN_EARLY {
            // Still being copied in; a real frame finishes within microseconds.
            self.early_rx_polls += 1;
            if self.early_rx_polls > EARLY_RX_POLLS {
                self.restart_rx();
            }
            return false;
        }
        self.early_rx_polls = 0;
        if status & RX_ROK == 0 || !(MIN_RX_LEN..=MAX_RX_LEN).contains(&len) {
            self.restart_rx();
            return false;
        }
        let Some(frame) = self.rx_bytes(offset + 4, len - 4) else {
            self.restart_rx();
            return false;
        };
        f(frame);
        self.rx_offset = ((offset + len + 4 + 3) & !3) % RX_RING_LEN;
        self.io.write16(CAPR, capr_for(self.rx_offset));
        true
    }

    fn close(&mut self) {
        if !self.is_open {
            return;
        }
        self.io.write8(CR, 0);
        if self.cplus {
            self.io.write16(CPCR, 0);
        }
        self.io.write16(IMR, 0);
        // A reset stops all DMA; it completes on its own.
        self.io.write8(CR, CR_RST);
        self.is_open = false;
    }
}

impl<P: PortIo, D: Dma> Drop for Rtl8139<'_, P, D> {
    fn drop(&mut self) {
        self.close();
    }
}
