//! A host model of the e1000 register file and rings, for the driver's tests (and for the
//! runtime's smoltcp glue tests, with the `testing` feature).
//!
//! It behaves like the chip for what the driver uses: CTRL.RST resets the registers (and
//! self-clears after `reset_reads` reads), RAL/RAH are loaded with the MAC at reset, EERD
//! answers in the chip's layout, STATUS.LU follows `link` and CTRL.SLU. RX: [`inject`] writes a
//! frame into the buffer of the descriptor at RDH through the bus-address window, sets DD|EOP
//! and advances RDH, or drops the frame when RDH == RDT. TX: a TDT write consumes the
//! descriptors from TDH to TDT, records each frame and sets DD (unless `tx_paused`).
//!
//! [`inject`]: E1000Model::inject

use std::cell::RefCell;
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

use super::regs::*;
use super::{EepromLayout, MMIO_LEN};
use crate::MacAddress;
use crate::hw::Mmio;
use crate::testing::DmaWindow;

pub struct E1000Model {
    regs: Vec<u32>,
    pub window: DmaWindow,
    pub mac: MacAddress,
    /// EEPROM contents; words 0-2 hold the MAC.
    pub eeprom: [u16; 64],
    pub eeprom_layout: EepromLayout,
    /// Whether a reset loads the MAC into RAL0/RAH0 (real chips and QEMU do).
    pub mac_in_ral: bool,
    pub link: bool,
    /// How many CTRL reads still show RST set after a reset.
    pub reset_reads: u32,
    rst_pending: u32,
    /// While set, TDT writes queue descriptors but nothing is sent; see [`Self::complete_tx`].
    pub tx_paused: bool,
    /// Frames sent, in order, without FCS.
    pub sent: Vec<Vec<u8>>,
    /// The command byte of every TX descriptor consumed.
    pub tx_cmds: Vec<u8>,
    tx_partial: Vec<u8>,
    /// Frames dropped: ring full or receiver off.
    pub missed: u32,
    pub resets: u32,
}

impl E1000Model {
    pub fn new(window: DmaWindow, mac: MacAddress, eeprom_layout: EepromLayout) -> Self {
        let mut eeprom = [0u16; 64];
        for (i, pair) in mac.chunks_exact(2).enumerate() {
            eeprom[i] = u16::from_le_bytes([pair[0], pair[1]]);
        }
        let mut model = E1000Model {
            regs: vec![0; MMIO_LEN / 4],
            window,
            mac,
            eeprom,
            eeprom_layout,
            mac_in_ral: true,
            link: true,
            reset_reads: 1,
            rst_pending: 0,
            tx_paused: false,
            sent: Vec::new(),
            tx_cmds: Vec::new(),
            tx_partial: Vec::new(),
            missed: 0,
            resets: 0,
        };
        model.power_on();
        model
    }

    /// Wrap for sharing between the test and the driver.
    pub fn shared(self) -> SharedE1000Model {
        SharedE1000Model(Rc::new(RefCell::new(self)))
    }

    fn power_on(&mut self) {
        self.regs.fill(0);
        if self.mac_in_ral {
            let m = self.mac;
            self.regs[(RAL0 / 4) as usize] = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
            self.regs[(RAH0 / 4) as usize] = u32::from_le_bytes([m[4], m[5], 0, 0]) | RAH_AV;
        }
    }

    /// Register value as last written (or set by the model).
    pub fn reg(&self, offset: u32) -> u32 {
        self.regs[(offset / 4) as usize]
    }

    fn set(&mut self, offset: u32, value: u32) {
        self.regs[(offset / 4) as usize] = value;
    }

    /// Receive a good frame from the wire. Returns false when it was dropped.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        self.inject_desc(frame, true, 0, None)
    }

    /// Fill one RX descriptor with `data` and the given EOP flag, error bits and (optionally
    /// wrong) length field. Returns false when dropped (ring full or receiver off).
    pub fn inject_desc(
        &mut self,
        data: &[u8],
        eop: bool,
        errors: u8,
        len_field: Option<u16>,
    ) -> bool {
        let ring_len = self.reg(RDLEN) / 16;
        let (head, tail) = (self.reg(RDH), self.reg(RDT));
        if self.reg(RCTL) & RCTL_EN == 0 || ring_len == 0 || head == tail {
            self.missed += 1;
            return false;
        }
        assert!(
            data.len() <= 2048,
            "model: frame larger than the 2048-byte RX buffer"
        );
        let ring = u64::from(self.reg(RDBAL)) | (u64::from(self.reg(RDBAH)) << 32);
        let desc = ring + u64::from(head) * 16;
        let buf = self.window.read_u64(desc);
        self.window.write(buf, data);
        let len = len_field.unwrap_or(data.len() as u16);
        self.window.write(desc + 8, &len.to_le_bytes());
        self.window.write(desc + 13, &[errors]);
        let status = DESC_DD | if eop { RXD_EOP } else { 0 };
        self.window.write(desc + 12, &[status]);
        self.set(RDH, (head + 1) % ring_len);
        true
    }

    /// Send everything queued between TDH and TDT.
    pub fn complete_tx(&mut self) {
        let ring_len = self.reg(TDLEN) / 16;
        if self.reg(TCTL) & TCTL_EN == 0 || ring_len == 0 {
            return;
        }
        let ring = u64::from(self.reg(TDBAL)) | (u64::from(self.reg(TDBAH)) << 32);
        while self.reg(TDH) != self.reg(TDT) {
            let desc = ring + u64::from(self.reg(TDH)) * 16;
            let addr = self.window.read_u64(desc);
            let len = self.window.read_u16(desc + 8);
            let cmd = self.window.read_u8(desc + 11);
            self.tx_cmds.push(cmd);
            let data = self.window.read(addr, usize::from(len));
            self.tx_partial.extend_from_slice(&data);
            if cmd & TXD_CMD_EOP != 0 {
                self.sent.push(std::mem::take(&mut self.tx_partial));
            }
            if cmd & TXD_CMD_RS != 0 {
                self.window.write(desc + 12, &[DESC_DD]);
            }
            self.set(TDH, (self.reg(TDH) + 1) % ring_len);
        }
    }

    fn eerd_write(&mut self, value: u32) {
        let Some((done_bit, shift)) = self.eeprom_layout.eerd_bits() else {
            return; // no EERD on this chip
        };
        if value & EERD_START == 0 {
            return;
        }
        let word = ((value >> shift) & 0x3F) as usize;
        let data = u32::from(self.eeprom[word]);
        self.set(EERD, (data << EERD_DATA_SHIFT) | done_bit | (value & !1));
    }
}

impl Mmio for E1000Model {
    fn read32(&mut self, offset: u32) -> u32 {
        assert!(
            offset.is_multiple_of(4) && (offset as usize) < MMIO_LEN,
            "model: bad MMIO offset {offset:#x}"
        );
        match offset {
            CTRL if self.rst_pending > 0 => {
                self.rst_pending -= 1;
                self.reg(CTRL) | CTRL_RST
            }
            STATUS => {
                let up = self.link && self.reg(CTRL) & CTRL_SLU != 0;
                self.reg(STATUS) & !STATUS_LU | if up { STATUS_LU } else { 0 }
            }
            ICR => std::mem::replace(&mut self.regs[(ICR / 4) as usize], 0),
            _ => self.reg(offset),
        }
    }

    fn write32(&mut self, offset: u32, value: u32) {
        assert!(
            offset.is_multiple_of(4) && (offset as usize) < MMIO_LEN,
            "model: bad MMIO offset {offset:#x}"
        );
        match offset {
            CTRL if value & CTRL_RST != 0 => {
                self.power_on();
                self.resets += 1;
                self.rst_pending = self.reset_reads;
                self.set(CTRL, value & !CTRL_RST);
            }
            EERD => self.eerd_write(value),
            TDT => {
                self.set(TDT, value);
                if !self.tx_paused {
                    self.complete_tx();
                }
            }
            _ => self.set(offset, value),
        }
    }
}

/// The model shared between a test (to inject frames and inspect) and the driver (as its
/// register access).
#[derive(Clone)]
pub struct SharedE1000Model(pub Rc<RefCell<E1000Model>>);

impl SharedE1000Model {
    pub fn get(&self) -> std::cell::RefMut<'_, E1000Model> {
        self.0.borrow_mut()
    }
}

impl Mmio for SharedE1000Model {
    fn read32(&mut self, offset: u32) -> u32 {
        self.0.borrow_mut().read32(offset)
    }

    fn write32(&mut self, offset: u32, value: u32) {
        self.0.borrow_mut().write32(offset, value)
    }
}
