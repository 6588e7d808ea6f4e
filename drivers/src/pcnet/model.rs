//! A host model of the PCnet's registers and rings in software style 2, for the driver's tests.
//!
//! It follows the datasheet and QEMU's model of the chip: the address PROM, RAP/RDP/BDP in word
//! or dword I/O mode (a 32-bit write to RDP switches to dword mode; an S_RESET leaves it on a
//! real chip, `keeps_dwio_on_reset`, and clears it in QEMU), CSR0's commands and
//! write-1-to-clear bits, the init block read on INIT (IDON), and the rings: a TDMD sends every
//! TX descriptor the chip owns (each must hold a whole frame), an injected frame takes the next
//! RX descriptor the chip owns, FCS appended and counted in the message count, or is missed.

use std::vec::Vec;

use super::regs::*;
use crate::MacAddress;
use crate::hw::PortIo;
use crate::testing::{DmaWindow, Shared};

pub struct PcnetModel {
    pub window: DmaWindow,
    pub link: bool,
    /// A real chip stays in dword I/O mode through an S_RESET; QEMU's leaves it.
    pub keeps_dwio_on_reset: bool,
    /// INIT never finishes (a broken chip).
    pub init_never_completes: bool,
    /// TDMD is noted but nothing is sent until `release_tx` (a slow wire).
    pub tx_paused: bool,
    aprom: [u8; 16],
    dwio: bool,
    rap: u16,
    csr: [u16; 128],
    bcr: [u16; 32],
    rdra: u64,
    tdra: u64,
    rx_len: usize,
    tx_len: usize,
    rx_index: usize,
    tx_index: usize,
    /// The MAC address the init block gave (PADR).
    pub padr: MacAddress,
    /// Frames sent, in order, as the chip put them on the wire (without FCS).
    pub sent: Vec<Vec<u8>>,
    /// Frames with no RX descriptor to go to.
    pub missed: u32,
    pub resets: u32,
    pub tdmd_writes: u32,
    /// A descriptor handed back halfway (see `inject_halfway`), and its frame's length.
    halfway: Option<(u64, u32)>,
}

impl PcnetModel {
    pub fn new(window: DmaWindow, mac: MacAddress) -> Self {
        let mut aprom = [0u8; 16];
        aprom[..6].copy_from_slice(&mac);
        aprom[9] = 0x11;
        aprom[14] = b'W';
        aprom[15] = b'W';
        let mut model = PcnetModel {
            window,
            link: true,
            keeps_dwio_on_reset: false,
            init_never_completes: false,
            tx_paused: false,
            aprom,
            dwio: false,
            rap: 0,
            csr: [0; 128],
            bcr: [0; 32],
            rdra: 0,
            tdra: 0,
            rx_len: 0,
            tx_len: 0,
            rx_index: 0,
            tx_index: 0,
            padr: [0; 6],
            sent: Vec::new(),
            missed: 0,
            resets: 0,
            tdmd_writes: 0,
            halfway: None,
        };
        model.bcr[BCR4 as usize] = 0x00C0;
        model.bcr[BCR18 as usize] = 0x9001;
        model.bcr[BCR20 as usize] = 0x0200; // SWSTYLE 0 after a hardware reset
        model.s_reset();
        model.resets = 0;
        model
    }

    pub fn shared(self) -> Shared<PcnetModel> {
        Shared::new(self)
    }

    /// As left by a driver that switched to dword I/O mode before us.
    pub fn in_dword_mode(mut self) -> Self {
        self.dwio = true;
        self
    }

    pub fn is_dword_mode(&self) -> bool {
        self.dwio
    }

    pub fn csr(&self, register: u16) -> u16 {
        self.csr[usize::from(register)]
    }

    pub fn bcr(&self, register: u16) -> u16 {
        self.bcr[usize::from(register)]
    }

    pub fn rap(&self) -> u16 {
        self.rap
    }

    /// The chip as QEMU models an Am79C970A: part 0x2621 in CSR88/89.
    fn s_reset(&mut self) {
        if !self.keeps_dwio_on_reset {
            self.dwio = false;
        }
        self.rap = 0;
        self.csr = [0; 128];
        self.csr[0] = CSR0_STOP;
        self.csr[4] = CSR4_MASKS;
        self.csr[88] = 0x1003;
        self.csr[89] = 0x0262;
        self.rdra = 0;
        self.tdra = 0;
        self.resets += 1;
    }

    fn stopped(&self) -> bool {
        self.csr[0] & CSR0_STOP != 0
    }

    fn read_u32(&self, bus: u64) -> u32 {
        u32::from_le_bytes(self.window.read(bus, 4).try_into().unwrap())
    }

    fn write_u32(&self, bus: u64, value: u32) {
        self.window.write(bus, &value.to_le_bytes());
    }

    fn init(&mut self) {
        if self.init_never_completes {
            return;
        }
        assert_eq!(
            self.bcr[BCR20 as usize] & 0xFF,
            SWSTYLE_PCNET_PCI,
            "model: only software style 2 is modelled"
        );
        let iadr = u64::from(self.csr[1]) | u64::from(self.csr[2]) << 16;
        assert!(
            iadr.is_multiple_of(4),
            "the init block must be dword aligned"
        );
        let block = self.window.read(iadr, 28);
        self.csr[15] = u16::from_le_bytes([block[0], block[1]]);
        self.rx_len = 1 << (block[2] >> 4).min(9);
        self.tx_len = 1 << (block[3] >> 4).min(9);
        self.padr.copy_from_slice(&block[4..10]);
        self.rdra = u64::from(u32::from_le_bytes(block[20..24].try_into().unwrap()));
        self.tdra = u64::from(u32::from_le_bytes(block[24..28].try_into().unwrap()));
        assert!(
            self.rdra.is_multiple_of(16) && self.tdra.is_multiple_of(16),
            "rings 16-byte aligned"
        );
        self.rx_index = 0;
        self.tx_index = 0;
        self.csr[0] = self.csr[0] & !CSR0_STOP | CSR0_IDON | CSR0_INIT;
    }

    fn csr0_write(&mut self, value: u16) {
        self.csr[0] &= !(value & CSR0_STATUS);
        self.csr[0] = self.csr[0] & !CSR0_INEA | value & CSR0_INEA;
        if value & CSR0_STOP != 0 {
            self.csr[0] = CSR0_STOP;
            return;
        }
        if value & CSR0_INIT != 0 && self.csr[0] & CSR0_INIT == 0 {
            self.init();
        }
        if value & CSR0_STRT != 0 && self.csr[0] & CSR0_STRT == 0 {
            assert!(
                self.csr[0] & CSR0_IDON != 0 || self.rdra != 0,
                "STRT before INIT"
            );
            self.csr[0] = self.csr[0] & !CSR0_STOP | CSR0_STRT | CSR0_TXON | CSR0_RXON;
        }
        if value & CSR0_TDMD != 0 {
            self.tdmd_writes += 1;
            if !self.tx_paused {
                self.transmit();
            }
        }
    }

    fn csr_write(&mut self, register: u16, value: u16) {
        match register {
            0 => self.csr0_write(value),
            // Writable only while stopped, as on the chip.
            1..=4 | 15 if self.stopped() => self.csr[usize::from(register)] = value,
            _ => {}
        }
    }

    fn bcr_write(&mut self, register: u16, value: u16) {
        match register {
            BCR20 if self.stopped() => {
                let style = value & 0xFF;
                let ssize32 = if style == 2 || style == 3 {
                    0x0300
                } else {
                    0x0200
                };
                self.bcr[BCR20 as usize] = style | ssize32;
            }
            BCR18 => self.bcr[BCR18 as usize] = value,
            _ => {}
        }
    }

    fn bcr_read(&self, register: u16) -> u16 {
        match register {
            BCR4 => self.bcr[BCR4 as usize] & !BCR_LED_ON | if self.link { BCR_LED_ON } else { 0 },
            r if usize::from(r) < self.bcr.len() => self.bcr[usize::from(r)],
            _ => 0,
        }
    }

    fn desc(&self, ring: u64, index: usize) -> u64 {
        ring + 16 * index as u64
    }

    /// Send every TX descriptor the chip owns, from where it stopped.
    fn transmit(&mut self) {
        if self.csr[0] & CSR0_TXON == 0 {
            return;
        }
        for _ in 0..self.tx_len {
            let d = self.desc(self.tdra, self.tx_index);
            let flags = self.read_u32(d + 4);
            if flags & DESC_OWN == 0 {
                break;
            }
            assert_eq!(
                flags & (DESC_STP | DESC_ENP),
                DESC_STP | DESC_ENP,
                "model: one descriptor per frame"
            );
            assert_eq!(flags & DESC_ONES, DESC_ONES, "ONES bits");
            let len = ((flags & DESC_BCNT_MASK).wrapping_neg() & DESC_BCNT_MASK) as usize;
            let addr = u64::from(self.read_u32(d));
            self.sent.push(self.window.read(addr, len));
            self.write_u32(d + 4, flags & !DESC_OWN);
            self.write_u32(d + 8, 0);
            self.tx_index = (self.tx_index + 1) % self.tx_len;
            self.csr[0] |= CSR0_TINT;
        }
    }

    /// Send what TDMDs asked for while `tx_paused`.
    pub fn release_tx(&mut self) {
        self.tx_paused = false;
        self.transmit();
    }

    /// A frame from the wire (without FCS): into the next RX descriptor the chip owns, with an
    /// FCS and STP|ENP. Returns false when it was missed (no descriptor, receiver off) or not
    /// addressed to us.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        self.inject_with(frame, 0)
    }

    /// As `inject`, with extra status bits (e.g. ERR|CRC) in the descriptor.
    pub fn inject_with(&mut self, frame: &[u8], extra: u32) -> bool {
        let ours = frame[..6] == self.padr || frame[..6] == [0xFF; 6];
        if self.csr[0] & CSR0_RXON == 0 || !ours {
            return false;
        }
        let d = self.desc(self.rdra, self.rx_index);
        let flags = self.read_u32(d + 4);
        if flags & DESC_OWN == 0 {
            self.missed += 1;
            self.csr[0] |= CSR0_MISS;
            return false;
        }
        let size = ((flags & DESC_BCNT_MASK).wrapping_neg() & DESC_BCNT_MASK) as usize;
        let mut data = frame.to_vec();
        data.resize(data.len().max(60), 0); // the chip pads runts as QEMU does
        data.extend_from_slice(&[0xC0, 0xFF, 0xEE, 0x00]);
        assert!(data.len() <= size, "model: frame longer than the buffer");
        let addr = u64::from(self.read_u32(d));
        self.window.write(addr, &data);
        self.write_u32(d + 8, data.len() as u32);
        let keep = flags & (DESC_BCNT_MASK | DESC_ONES);
        self.write_u32(d + 4, keep | DESC_STP | DESC_ENP | extra);
        self.rx_index = (self.rx_index + 1) % self.rx_len;
        self.csr[0] |= CSR0_RINT;
        true
    }

    /// The first half of QEMU's two-step hand-back of a received frame: data written, OWN
    /// cleared with STP, but not yet ENP and the count; the second half comes with the next
    /// register access (which QEMU makes wait for it).
    pub fn inject_halfway(&mut self, frame: &[u8]) {
        let d = self.desc(self.rdra, self.rx_index);
        let flags = self.read_u32(d + 4);
        assert!(flags & DESC_OWN != 0, "model: no descriptor");
        let addr = u64::from(self.read_u32(d));
        let mut data = frame.to_vec();
        data.extend_from_slice(&[0xC0, 0xFF, 0xEE, 0x00]);
        self.window.write(addr, &data);
        self.write_u32(d + 4, flags & (DESC_BCNT_MASK | DESC_ONES) | DESC_STP);
        self.halfway = Some((d, data.len() as u32));
        self.rx_index = (self.rx_index + 1) % self.rx_len;
    }

    /// QEMU finishes what it was writing before it answers a register access.
    fn finish_halfway(&mut self) {
        if let Some((d, len)) = self.halfway.take() {
            let flags = self.read_u32(d + 4);
            self.write_u32(d + 8, len);
            self.write_u32(d + 4, flags | DESC_ENP);
            self.csr[0] |= CSR0_RINT;
        }
    }

    /// A frame spread over two descriptors (STP, then ENP), as a chip with short buffers does.
    pub fn inject_split(&mut self, frame: &[u8], first: usize) {
        for (piece, bits) in [(&frame[..first], DESC_STP), (&frame[first..], DESC_ENP)] {
            let d = self.desc(self.rdra, self.rx_index);
            let flags = self.read_u32(d + 4);
            assert!(flags & DESC_OWN != 0, "model: no descriptor for a piece");
            let addr = u64::from(self.read_u32(d));
            self.window.write(addr, piece);
            self.write_u32(d + 8, frame.len() as u32 + 4);
            self.write_u32(d + 4, flags & (DESC_BCNT_MASK | DESC_ONES) | bits);
            self.rx_index = (self.rx_index + 1) % self.rx_len;
        }
    }
}

impl PortIo for PcnetModel {
    fn read8(&mut self, offset: u16) -> u8 {
        self.finish_halfway();
        match offset {
            0..=15 if !self.dwio => self.aprom[usize::from(offset)],
            _ => 0xFF,
        }
    }

    fn read16(&mut self, offset: u16) -> u16 {
        self.finish_halfway();
        if self.dwio {
            return 0xFFFF;
        }
        match offset {
            WIO_RDP => self.csr[usize::from(self.rap)],
            WIO_RAP => self.rap,
            WIO_RESET => {
                self.s_reset();
                0
            }
            WIO_BDP => self.bcr_read(self.rap),
            _ => 0xFFFF,
        }
    }

    fn read32(&mut self, offset: u16) -> u32 {
        self.finish_halfway();
        if !self.dwio {
            return 0xFFFF_FFFF;
        }
        match offset {
            0 | 4 | 8 | 12 => {
                let at = usize::from(offset);
                u32::from_le_bytes(self.aprom[at..at + 4].try_into().unwrap())
            }
            DWIO_RDP => u32::from(self.csr[usize::from(self.rap)]),
            DWIO_RAP => u32::from(self.rap),
            DWIO_RESET => {
                self.s_reset();
                0
            }
            DWIO_BDP => u32::from(self.bcr_read(self.rap)),
            _ => 0xFFFF_FFFF,
        }
    }

    fn write8(&mut self, _offset: u16, _value: u8) {}

    fn write16(&mut self, offset: u16, value: u16) {
        if self.dwio {
            return;
        }
        match offset {
            WIO_RDP => self.csr_write(self.rap, value),
            WIO_RAP => self.rap = value & 0x7F,
            WIO_BDP => self.bcr_write(self.rap, value),
            _ => {}
        }
    }

    fn write32(&mut self, offset: u16, value: u32) {
        if !self.dwio {
            if offset == DWIO_RDP {
                self.dwio = true; // the way into dword mode; the value is dropped
            }
            return;
        }
        let value16 = value as u16;
        match offset {
            DWIO_RDP => self.csr_write(self.rap, value16),
            DWIO_RAP => self.rap = value16 & 0x7F,
            DWIO_BDP => self.bcr_write(self.rap, value16),
            _ => {}
        }
    }
}
