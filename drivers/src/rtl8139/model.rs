//! A host model of the RTL8139 registers, RX ring buffer and TX slots, for the driver's tests
//! (and for the runtime's glue tests, with the `testing` feature).
//!
//! RX follows the chip (and QEMU's model of it): a frame is written at the write offset as
//! header (status, length + 4), data, CRC, then the offset is rounded up to 4 bytes mod 8 KiB;
//! with RCR.WRAP the bytes run on past the end, without it they continue at the start. Space
//! is judged against CAPR + 16; a frame that does not fit is dropped (RXOVW). CR.BUFE is set
//! while the read offset equals the write offset. TX: a TSD write with OWN clear sends the
//! slot's buffer (or queues it while `tx_paused`), and the model insists on round-robin order.
//! With `holds_rx_on_overflow`, reception stops while ISR.RXOVW is set, as on some chips.
//! With `cplus`, the chip is an RTL8139C+ (TCR's version bits say so) and, once the driver sets
//! CPCR, uses descriptor rings like QEMU's model: a frame takes the next RX descriptor the
//! chip owns (and is dropped if it owns none), a TPPOLL write sends every owned TX descriptor.
//! Every register access is counted, so tests can pin down what the hot path costs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::vec::Vec;

use super::RX_RING_LEN;
use super::regs::*;
use crate::MacAddress;
use crate::hw::PortIo;
use crate::testing::DmaWindow;

pub struct Rtl8139Model {
    pub window: DmaWindow,
    pub mac: MacAddress,
    pub link: bool,
    /// How many CR reads still show RST set after a reset.
    pub reset_reads: u32,
    rst_pending: u32,
    cr: u8,
    rbstart: u32,
    rcr: u32,
    tcr: u32,
    imr: u16,
    isr: u16,
    config1: u8,
    /// RxBufAddr: where the chip writes next.
    rx_write: usize,
    /// RxBufPtr: how far the driver has read (CAPR + 16).
    rx_read: usize,
    tsd: [u32; 4],
    tsad: [u32; 4],
    /// The slot the driver must hand over next.
    tx_expected: usize,
    tx_queue: VecDeque<usize>,
    pub tx_paused: bool,
    /// Frames sent, in order, without FCS.
    pub sent: Vec<Vec<u8>>,
    /// Frames dropped: ring full or receiver off.
    pub missed: u32,
    pub resets: u32,
    /// Drop every frame while ISR.RXOVW is set (until the driver acknowledges the overflow).
    pub holds_rx_on_overflow: bool,
    /// An RTL8139C+.
    pub cplus: bool,
    cpcr: u16,
    rdsar: u64,
    cp_rx_next: u64,
    cp_tx_next: u64,
    cp_tx_pending: bool,
    /// Register reads and writes so far, and TSAD writes among them.
    pub accesses: u64,
    pub tsad_writes: u32,
}

impl Rtl8139Model {
    pub fn new(window: DmaWindow, mac: MacAddress) -> Self {
        let mut model = Rtl8139Model {
            window,
            mac,
            link: true,
            reset_reads: 2,
            rst_pending: 0,
            cr: 0,
            rbstart: 0,
            rcr: 0,
            tcr: 0,
            imr: 0,
            isr: 0,
            config1: 0x20, // powered down until the driver clears it (LWAKE etc.)
            rx_write: 0,
            rx_read: 0,
            tsd: [0; 4],
            tsad: [0; 4],
            tx_expected: 0,
            tx_queue: VecDeque::new(),
            tx_paused: false,
            sent: Vec::new(),
            missed: 0,
            resets: 0,
            holds_rx_on_overflow: false,
            cplus: false,
            cpcr: 0,
            rdsar: 0,
            cp_rx_next: 0,
            cp_tx_next: 0,
            cp_tx_pending: false,
            accesses: 0,
            tsad_writes: 0,
        };
        model.reset();
        model.resets = 0;
        model
    }

    pub fn shared(self) -> SharedRtl8139Model {
        SharedRtl8139Model(Rc::new(RefCell::new(self)))
    }

    fn reset(&mut self) {
        self.cr = 0;
        self.rcr = 0;
        self.tcr = 0;
        self.imr = 0;
        self.isr = 0;
        self.rx_write = 0;
        self.rx_read = 0;
        self.tsd = [TSD_OWN; 4];
        self.tx_expected = 0;
        self.tx_queue.clear();
        self.cpcr = 0;
        self.rdsar = 0;
        self.cp_rx_next = 0;
        self.cp_tx_next = 0;
        self.cp_tx_pending = false;
        self.resets += 1;
    }

    pub fn cpcr(&self) -> u16 {
        self.cpcr
    }

    pub fn rdsar(&self) -> u64 {
        self.rdsar
    }

    fn read_u32(&self, bus: u64) -> u32 {
        let bytes = self.window.read(bus, 4);
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }

    fn cp_mode_rx(&self) -> bool {
        self.cplus && self.cpcr & CPCR_RX_ENABLE != 0
    }

    /// C+ receive: `data` + CRC into the next descriptor's buffer, word 0 set to
    /// `flags | length` (FS | LS for a good frame). Returns false when dropped.
    pub fn inject_cplus(&mut self, data: &[u8], flags: u32) -> bool {
        let desc = self.rdsar + 16 * self.cp_rx_next;
        let opts1 = self.read_u32(desc);
        let size = (opts1 & RX_DESC_LEN_MASK) as usize;
        if !self.rx_enabled() || opts1 & DESC_OWN == 0 || data.len() + 4 > size {
            self.missed += 1;
            self.isr |= ISR_RXOVW;
            return false;
        }
        let buf = self.window.read_u64(desc + 8);
        self.window.write(buf, data);
        self.window
            .write(buf + data.len() as u64, &[0xC0, 0xFF, 0xEE, 0x00]);
        let len = (data.len() + 4) as u32;
        self.window
            .write(desc, &((opts1 & DESC_EOR) | flags | len).to_le_bytes());
        self.cp_rx_next = if opts1 & DESC_EOR != 0 {
            0
        } else {
            self.cp_rx_next + 1
        };
        self.isr |= ISR_ROK;
        true
    }

    /// C+ transmit: send every descriptor the chip owns, from where it stopped.
    fn cp_transmit(&mut self) {
        let ring = u64::from(self.tsad[0]) | (u64::from(self.tsad[1]) << 32);
        loop {
            let desc = ring + 16 * self.cp_tx_next;
            let opts1 = self.read_u32(desc);
            if opts1 & DESC_OWN == 0 {
                break;
            }
            assert_eq!(
                opts1 & (DESC_FS | DESC_LS),
                DESC_FS | DESC_LS,
                "model: one descriptor per frame"
            );
            let buf = self.window.read_u64(desc + 8);
            self.sent
                .push(self.window.read(buf, (opts1 & TX_DESC_LEN_MASK) as usize));
            self.window.write(desc, &(opts1 & !DESC_OWN).to_le_bytes());
            self.cp_tx_next = if opts1 & DESC_EOR != 0 {
                0
            } else {
                self.cp_tx_next + 1
            };
        }
    }

    pub fn rcr(&self) -> u32 {
        self.rcr
    }

    pub fn isr(&self) -> u16 {
        self.isr
    }

    pub fn config1(&self) -> u8 {
        self.config1
    }

    fn rx_enabled(&self) -> bool {
        self.cr & CR_RE != 0
    }

    /// Receive a good frame from the wire (padded to 60 bytes like the chip). Returns false
    /// when it was dropped.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        let mut data = frame.to_vec();
        if data.len() < 60 {
            data.resize(60, 0);
        }
        if self.cp_mode_rx() {
            return self.inject_cplus(&data, DESC_FS | DESC_LS);
        }
        let header = u32::from(RX_ROK) | (((data.len() + 4) as u32) << 16);
        self.inject_with_header(header, &data)
    }

    /// Write `header` then `data` then a 4-byte CRC, as the chip does for any frame, even
    /// when `header` is nonsense. Returns false when dropped.
    pub fn inject_with_header(&mut self, header: u32, data: &[u8]) -> bool {
        let avail = (RX_RING_LEN + self.rx_read - self.rx_write) % RX_RING_LEN;
        let held = self.holds_rx_on_overflow && self.isr & ISR_RXOVW != 0;
        if !self.rx_enabled() || held || (avail != 0 && (data.len() + 8 + 3) & !3 >= avail) {
            self.missed += 1;
            self.isr |= ISR_RXOVW;
            return false;
        }
        self.write_ring(&header.to_le_bytes());
        self.write_ring(data);
        self.write_ring(&[0xC0, 0xFF, 0xEE, 0x00]); // CRC: the driver must not hand it up
        self.rx_write = ((self.rx_write + 3) & !3) % RX_RING_LEN;
        self.isr |= ISR_ROK;
        true
    }

    fn write_ring(&mut self, bytes: &[u8]) {
        let base = u64::from(self.rbstart);
        let end = self.rx_write + bytes.len();
        if end > RX_RING_LEN && self.rcr & RCR_WRAP == 0 {
            let first = RX_RING_LEN - self.rx_write;
            self.window
                .write(base + self.rx_write as u64, &bytes[..first]);
            self.window.write(base, &bytes[first..]);
            self.rx_write = bytes.len() - first;
        } else {
            assert!(
                end <= super::RX_BUF_LEN,
                "model: frame written past the driver's RX slack"
            );
            self.window.write(base + self.rx_write as u64, bytes);
            self.rx_write = end;
        }
    }

    /// Send everything the driver has handed over.
    pub fn complete_tx(&mut self) {
        if self.cp_tx_pending {
            self.cp_tx_pending = false;
            self.cp_transmit();
        }
        while let Some(slot) = self.tx_queue.pop_front() {
            let len = (self.tsd[slot] & TSD_SIZE_MASK) as usize;
            let data = self.window.read(u64::from(self.tsad[slot]), len);
            self.sent.push(data);
            self.tsd[slot] |= TSD_OWN | TSD_TOK;
        }
    }

    fn tsd_write(&mut self, slot: usize, value: u32) {
        self.tsd[slot] = value & !(TSD_OWN | TSD_TOK | TSD_TUN | TSD_TABT);
        if value & TSD_OWN != 0 || self.cr & CR_TE == 0 {
            return;
        }
        assert_eq!(
            slot, self.tx_expected,
            "model: TX slots must be used in round-robin order"
        );
        self.tx_expected = (slot + 1) % 4;
        self.tx_queue.push_back(slot);
        if !self.tx_paused {
            self.complete_tx();
        }
    }

    fn cr_read(&mut self) -> u8 {
        let mut cr = self.cr;
        if self.rst_pending > 0 {
            self.rst_pending -= 1;
            cr |= CR_RST;
        }
        if self.rx_read == self.rx_write {
            cr |= CR_BUFE;
        }
        cr
    }

    fn cr_write(&mut self, value: u8) {
        if value & CR_RST != 0 {
            self.reset();
            self.rst_pending = self.reset_reads;
            return;
        }
        // As QEMU: enabling a direction starts its C+ ring over.
        if value & CR_RE != 0 {
            self.cp_rx_next = 0;
        }
        if value & CR_TE != 0 {
            self.cp_tx_next = 0;
        }
        self.cr = value & (CR_RE | CR_TE);
    }

    fn slot(offset: u16, base: u16) -> Option<usize> {
        let rel = offset.checked_sub(base)?;
        (rel < 16 && rel % 4 == 0).then_some(usize::from(rel / 4))
    }
}

impl PortIo for Rtl8139Model {
    fn read8(&mut self, offset: u16) -> u8 {
        match offset {
            0..=5 => self.mac[usize::from(offset)],
            CR => self.cr_read(),
            CONFIG1 => self.config1,
            MSR => 0xD0 | if self.link { 0 } else { MSR_LINKB },
            _ => 0,
        }
    }

    fn read16(&mut self, offset: u16) -> u16 {
        match offset {
            CAPR => (self.rx_read as u16).wrapping_sub(0x10),
            CBR => self.rx_write as u16,
            IMR => self.imr,
            ISR => self.isr,
            BMSR => 0x7809 | if self.link { BMSR_LINK } else { 0 },
            _ => 0,
        }
    }

    fn read32(&mut self, offset: u16) -> u32 {
        if let Some(slot) = Self::slot(offset, TSD0) {
            return self.tsd[slot];
        }
        if let Some(slot) = Self::slot(offset, TSAD0) {
            return self.tsad[slot];
        }
        match offset {
            RBSTART => self.rbstart,
            RCR => self.rcr,
            TCR if self.cplus => self.tcr & !TCR_HWVERID_MASK | TCR_HWVERID_8139CPLUS,
            TCR => self.tcr & !TCR_HWVERID_MASK,
            _ => 0,
        }
    }

    fn write8(&mut self, offset: u16, value: u8) {
        match offset {
            CR => self.cr_write(value),
            TPPOLL if value & TPPOLL_NPQ != 0 => {
                let on = self.cr & CR_TE != 0 && self.cpcr & CPCR_TX_ENABLE != 0;
                if on && self.tx_paused {
                    self.cp_tx_pending = true;
                } else if on {
                    self.cp_transmit();
                }
            }
            CONFIG1 => self.config1 = value,
            _ => {}
        }
    }

    fn write16(&mut self, offset: u16, value: u16) {
        match offset {
            CAPR => self.rx_read = (usize::from(value) + 0x10) % RX_RING_LEN,
            IMR => self.imr = value,
            ISR => self.isr &= !value, // write 1 to clear
            CPCR if self.cplus => self.cpcr = value & (CPCR_RX_ENABLE | CPCR_TX_ENABLE),
            _ => {}
        }
    }

    fn write32(&mut self, offset: u16, value: u32) {
        if let Some(slot) = Self::slot(offset, TSD0) {
            return self.tsd_write(slot, value);
        }
        if let Some(slot) = Self::slot(offset, TSAD0) {
            self.tsad[slot] = value;
            self.tsad_writes += 1;
            return;
        }
        match offset {
            RBSTART => self.rbstart = value,
            RCR => self.rcr = value,
            TCR => self.tcr = value,
            RDSAR => self.rdsar = self.rdsar & !0xFFFF_FFFF | u64::from(value),
            o if o == RDSAR + 4 => self.rdsar = self.rdsar & 0xFFFF_FFFF | (u64::from(value) << 32),
            _ => {}
        }
    }
}

/// The model shared between a test and the driver.
#[derive(Clone)]
pub struct SharedRtl8139Model(pub Rc<RefCell<Rtl8139Model>>);

impl SharedRtl8139Model {
    pub fn get(&self) -> std::cell::RefMut<'_, Rtl8139Model> {
        self.0.borrow_mut()
    }

    fn counted(&self) -> std::cell::RefMut<'_, Rtl8139Model> {
        let mut model = self.0.borrow_mut();
        model.accesses += 1;
        model
    }
}

/// The driver's accesses (counted; a test's own peeks at the model are not).
impl PortIo for SharedRtl8139Model {
    fn read8(&mut self, offset: u16) -> u8 {
        self.counted().read8(offset)
    }
    fn read16(&mut self, offset: u16) -> u16 {
        self.counted().read16(offset)
    }
    fn read32(&mut self, offset: u16) -> u32 {
        self.counted().read32(offset)
    }
    fn write8(&mut self, offset: u16, value: u8) {
        self.counted().write8(offset, value)
    }
    fn write16(&mut self, offset: u16, value: u16) {
        self.counted().write16(offset, value)
    }
    fn write32(&mut self, offset: u16, value: u32) {
        self.counted().write32(offset, value)
    }
}
