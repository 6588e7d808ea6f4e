//! A host model of an NE2000 (DP8390 core) for the driver's tests, after the datasheet and
//! QEMU's model of the chip: 16 KiB of card memory at 0x4000 behind remote DMA (dword or word
//! steps, wrapping at PSTOP to PSTART, RDC when the count runs out), the station address PROM
//! at address 0 (each byte doubled), the receive ring with its 4-byte frame headers, CURR and
//! BNRY (a frame that does not fit is refused: QEMU then holds it back), the paged registers,
//! and transmission from a transmit buffer (at once, or held while `tx_paused`).

use std::vec::Vec;

use super::regs::*;
use crate::MacAddress;
use crate::hw::PortIo;
use crate::testing::Shared;

const MEM_LEN: usize = (MEM_STOP_PAGE as usize) << 8;

pub struct Ne2kModel {
    mem: Vec<u8>,
    pub mac: MacAddress,
    cr: u8,
    isr: u8,
    imr: u8,
    dcr: u8,
    rcr: u8,
    tcr: u8,
    pstart: u8,
    pstop: u8,
    bnry: u8,
    curr: u8,
    tpsr: u8,
    tbcr: u16,
    rsar: u16,
    rbcr: u16,
    par: [u8; 6],
    /// A transmission stays in progress (CR.TXP) until `finish_tx`.
    pub tx_paused: bool,
    /// The chip never says its reset is done.
    pub stuck_in_reset: bool,
    /// The data port takes 32-bit transfers (the RTL8029 and most clones; QEMU's does).
    pub dword_data: bool,
    /// Frames sent, as they went on the wire.
    pub sent: Vec<Vec<u8>>,
    /// Frames that found no room in the ring.
    pub refused: u32,
    pub resets: u32,
}

impl Ne2kModel {
    pub fn new(mac: MacAddress) -> Self {
        let mut mem = std::vec![0u8; MEM_LEN];
        for (i, byte) in mac.iter().chain(&[0; 8]).chain(b"WW").enumerate() {
            mem[2 * i] = *byte;
            mem[2 * i + 1] = *byte;
        }
        Ne2kModel {
            mem,
            mac,
            cr: CR_STP | CR_RD_NONE,
            isr: 0,
            imr: 0,
            dcr: 0,
            rcr: 0,
            tcr: 0,
            pstart: 0,
            pstop: 0,
            bnry: 0,
            curr: 0,
            tpsr: 0,
            tbcr: 0,
            rsar: 0,
            rbcr: 0,
            par: [0; 6],
            tx_paused: false,
            stuck_in_reset: false,
            dword_data: true,
            sent: Vec::new(),
            refused: 0,
            resets: 0,
        }
    }

    pub fn shared(self) -> Shared<Ne2kModel> {
        Shared::new(self)
    }

    pub fn is_started(&self) -> bool {
        self.cr & CR_STA != 0 && self.cr & CR_STP == 0
    }

    pub fn rcr(&self) -> u8 {
        self.rcr
    }

    pub fn tcr(&self) -> u8 {
        self.tcr
    }

    pub fn dcr(&self) -> u8 {
        self.dcr
    }

    pub fn par(&self) -> MacAddress {
        self.par
    }

    pub fn bnry(&self) -> u8 {
        self.bnry
    }

    pub fn ring(&self) -> (u8, u8) {
        (self.pstart, self.pstop)
    }

    /// Bytes free in the ring, as QEMU counts them.
    fn room(&self) -> usize {
        let index = usize::from(self.curr) << 8;
        let boundary = usize::from(self.bnry) << 8;
        if index < boundary {
            boundary - index
        } else {
            (usize::from(self.pstop - self.pstart) << 8) - (index - boundary)
        }
    }

    /// A frame from the wire (without CRC) into the ring: header, data (wrapping at PSTOP),
    /// CURR moved on, PRX. False when the receiver is off, the frame not ours, or no room.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        let ours = frame[..6] == self.par || frame[..6] == [0xFF; 6] && self.rcr & RCR_AB != 0;
        if !self.is_started() || self.rcr & RCR_MON != 0 || !ours {
            return false;
        }
        let mut data = frame.to_vec();
        data.resize(data.len().max(60), 0); // padded, as QEMU does
        if self.room() < 1514 + 4 {
            self.refused += 1;
            return false;
        }
        let total = data.len() + 4;
        let start = usize::from(self.curr) << 8;
        let pages = (total + 4).div_ceil(PAGE_LEN); // room for a CRC, as the chip
        let mut next = usize::from(self.curr) + pages;
        if next >= usize::from(self.pstop) {
            next -= usize::from(self.pstop - self.pstart);
        }
        let header = [RSR_PRX, next as u8, total as u8, (total >> 8) as u8];
        self.mem[start..start + 4].copy_from_slice(&header);
        let mut at = start + 4;
        let end = usize::from(self.pstop) << 8;
        for byte in data {
            if at == end {
                at = usize::from(self.pstart) << 8;
            }
            self.mem[at] = byte;
            at += 1;
        }
        self.curr = next as u8;
        self.isr |= ISR_PRX;
        true
    }

    /// Overwrite a byte of card memory (to corrupt a ring header).
    pub fn poke(&mut self, address: usize, value: u8) {
        self.mem[address] = value;
    }

    /// The ring overran (a real chip then stops receiving until recovered).
    pub fn overrun(&mut self) {
        self.isr |= ISR_OVW;
    }

    /// The transmission in progress is done.
    pub fn finish_tx(&mut self) {
        if self.cr & CR_TXP != 0 {
            self.transmit();
        }
    }

    fn transmit(&mut self) {
        let start = usize::from(self.tpsr) << 8;
        self.sent
            .push(self.mem[start..start + usize::from(self.tbcr)].to_vec());
        self.cr &= !CR_TXP;
        self.isr |= ISR_PTX;
    }

    fn page(&self) -> u8 {
        self.cr >> 6
    }

    fn dma_step(&mut self, len: u16) {
        self.rsar = self.rsar.wrapping_add(len);
        if self.rsar == u16::from(self.pstop) << 8 {
            self.rsar = u16::from(self.pstart) << 8;
        }
        if self.rbcr <= len {
            self.rbcr = 0;
            self.isr |= ISR_RDC;
        } else {
            self.rbcr -= len;
        }
    }

    fn mem_index(&self) -> usize {
        let at = usize::from(self.rsar);
        assert!(
            at < 32 || (usize::from(MEM_START_PAGE) << 8..MEM_LEN).contains(&at),
            "model: remote DMA at {at:#x}, outside the PROM and the card memory"
        );
        at
    }

    fn cr_write(&mut self, value: u8) {
        // TXP is set-only: the chip clears it when the frame is out (QEMU at once).
        self.cr = value | self.cr & CR_TXP;
        if value & CR_STP != 0 {
            return;
        }
        if value & (CR_RD_READ | CR_RD_WRITE) != 0 && self.rbcr == 0 {
            self.isr |= ISR_RDC;
        }
        if value & CR_TXP != 0 && !self.tx_paused {
            self.transmit();
        }
    }
}

impl PortIo for Ne2kModel {
    fn read8(&mut self, offset: u16) -> u8 {
        match (self.page(), offset) {
            (_, CR) => self.cr,
            (_, RESET) => {
                self.resets += 1;
                if !self.stuck_in_reset {
                    self.isr = ISR_RST;
                }
                0
            }
            (0, BNRY) => self.bnry,
            (0, ISR) => self.isr,
            (1, CURR) => self.curr,
            (1, o) if (PAR0..PAR0 + 6).contains(&o) => self.par[usize::from(o - PAR0)],
            (_, DATA) => panic!("model: byte access to the data port in word mode"),
            _ => 0,
        }
    }

    fn read16(&mut self, offset: u16) -> u16 {
        assert_eq!(offset, DATA, "model: 16-bit access to a register");
        assert_ne!(self.dcr & 1, 0, "model: word access in byte mode");
        let at = self.mem_index() & !1;
        let word = u16::from_le_bytes([self.mem[at], self.mem[at + 1]]);
        self.dma_step(2);
        word
    }

    fn read32(&mut self, offset: u16) -> u32 {
        assert_eq!(offset, DATA, "model: 32-bit access to a register");
        assert!(
            self.dword_data,
            "model: this chip takes no 32-bit transfers"
        );
        assert_ne!(self.dcr & 1, 0, "model: dword access in byte mode");
        let at = self.mem_index() & !1;
        let dword = u32::from_le_bytes(self.mem[at..at + 4].try_into().unwrap());
        self.dma_step(4);
        dword
    }

    fn write8(&mut self, offset: u16, value: u8) {
        match (self.page(), offset) {
            (_, CR) => self.cr_write(value),
            (_, RESET) => {}
            (0, PSTART) => self.pstart = value,
            (0, PSTOP) => self.pstop = value,
            (0, BNRY) => self.bnry = value,
            (0, TPSR) => self.tpsr = value,
            (0, TBCR0) => self.tbcr = self.tbcr & 0xFF00 | u16::from(value),
            (0, TBCR1) => self.tbcr = self.tbcr & 0x00FF | u16::from(value) << 8,
            (0, ISR) => self.isr &= !(value & 0x7F),
            (0, RSAR0) => self.rsar = self.rsar & 0xFF00 | u16::from(value),
            (0, RSAR1) => self.rsar = self.rsar & 0x00FF | u16::from(value) << 8,
            (0, RBCR0) => self.rbcr = self.rbcr & 0xFF00 | u16::from(value),
            (0, RBCR1) => self.rbcr = self.rbcr & 0x00FF | u16::from(value) << 8,
            (0, RCR) => self.rcr = value,
            (0, TCR) => self.tcr = value,
            (0, DCR) => self.dcr = value,
            (0, IMR) => self.imr = value,
            (1, CURR) => self.curr = value,
            (1, o) if (PAR0..PAR0 + 6).contains(&o) => self.par[usize::from(o - PAR0)] = value,
            (1, o) if (MAR0..MAR0 + 8).contains(&o) => {}
            (_, DATA) => panic!("model: byte access to the data port in word mode"),
            (page, o) => panic!("model: write of page {page} register {o:#x}"),
        }
    }

    fn write16(&mut self, offset: u16, value: u16) {
        assert_eq!(offset, DATA, "model: 16-bit access to a register");
        assert_ne!(self.dcr & 1, 0, "model: word access in byte mode");
        if self.rbcr == 0 {
            return; // as QEMU: writes past the count go nowhere
        }
        let at = self.mem_index() & !1;
        self.mem[at..at + 2].copy_from_slice(&value.to_le_bytes());
        self.dma_step(2);
    }

    fn write32(&mut self, offset: u16, value: u32) {
        assert_eq!(offset, DATA, "model: 32-bit access to a register");
        assert!(
            self.dword_data,
            "model: this chip takes no 32-bit transfers"
        );
        if self.rbcr == 0 {
            return;
        }
        let at = self.mem_index() & !1;
        self.mem[at..at + 4].copy_from_slice(&value.to_le_bytes());
        self.dma_step(4);
    }
}
