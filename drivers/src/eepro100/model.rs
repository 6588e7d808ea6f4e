//! A host model of the 8255x for the driver's tests: the SCB (commands taken at once, as QEMU
//! does), the PORT resets, a Microwire EEPROM (64 or 256 words), the MDI with one PHY, the CU
//! walking command blocks (configure, address setup, simplified transmit; S suspends, EL idles)
//! and the RU filling simplified RFDs (EL: out of resources after this one; a frame that finds
//! the RU not ready is dropped, as QEMU and the chip do).

use std::vec::Vec;

use super::regs::*;
use crate::MacAddress;
use crate::hw::PortIo;
use crate::testing::{DmaWindow, Shared};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Idle,
    Suspended,
    Active,
    /// RU only: it filled an RFD with EL.
    NoResources,
    /// RU only.
    Ready,
}

pub struct Eepro100Model {
    pub window: DmaWindow,
    pub eeprom: Vec<u16>,
    eeprom_address_bits: u32,
    pub link: bool,
    /// The CU takes commands but does not run the list until `run_cu` (a busy wire).
    pub cu_paused: bool,
    /// The setup commands never complete (a broken chip).
    pub cu_broken: bool,
    /// Resumes to ignore, as the chip does one that comes while it is still busy with the
    /// block before (after it has read that block's S bit).
    pub resumes_to_lose: u32,
    pub cu: Unit,
    pub ru: Unit,
    cu_base: u32,
    ru_base: u32,
    /// Where the CU reads next, and the RU writes next (offsets from the bases).
    cu_offset: u32,
    ru_offset: u32,
    pointer: u32,
    pub intmask: u8,
    ack: u8,
    mdi: u32,
    pub configuration: [u8; 22],
    pub individual_address: MacAddress,
    /// Frames sent, in order.
    pub sent: Vec<Vec<u8>>,
    /// Frames dropped: the RU was not ready.
    pub dropped: u32,
    pub commands: Vec<u8>,
    pub resets: u32,
    // The EEPROM's serial state.
    ee_cs: bool,
    ee_sk: bool,
    ee_do: bool,
    ee_bits: u32,
    ee_shift: u32,
    ee_data: u16,
}

impl Eepro100Model {
    /// A chip whose EEPROM (`words` long: 64 or 256) holds `mac` and PHY address 1.
    pub fn new(window: DmaWindow, mac: MacAddress, words: usize) -> Self {
        let mut eeprom = std::vec![0u16; words];
        for (i, pair) in mac.chunks_exact(2).enumerate() {
            eeprom[i] = u16::from_le_bytes([pair[0], pair[1]]);
        }
        eeprom[6] = 1;
        Eepro100Model {
            window,
            eeprom,
            eeprom_address_bits: if words > 64 { 8 } else { 6 },
            link: true,
            cu_paused: false,
            cu_broken: false,
            resumes_to_lose: 0,
            cu: Unit::Idle,
            ru: Unit::Idle,
            cu_base: 0x5A5A_0000, // garbage until loaded
            ru_base: 0x5A5A_0000,
            cu_offset: 0,
            ru_offset: 0,
            pointer: 0,
            intmask: 0,
            ack: 0,
            mdi: 0,
            configuration: [0; 22],
            individual_address: [0; 6],
            sent: Vec::new(),
            dropped: 0,
            commands: Vec::new(),
            resets: 0,
            ee_cs: false,
            ee_sk: false,
            ee_do: true,
            ee_bits: 0,
            ee_shift: 0,
            ee_data: 0,
        }
    }

    pub fn shared(self) -> Shared<Eepro100Model> {
        Shared::new(self)
    }

    fn read_u16(&self, bus: u64) -> u16 {
        self.window.read_u16(bus)
    }

    fn read_u32(&self, bus: u64) -> u32 {
        u32::from_le_bytes(self.window.read(bus, 4).try_into().unwrap())
    }

    fn reset(&mut self, selective: bool) {
        self.cu = Unit::Idle;
        self.ru = Unit::Idle;
        self.intmask = 0;
        if !selective {
            self.configuration = [0; 22];
        }
        self.resets += 1;
    }

    fn status(&self) -> u8 {
        let cu = match self.cu {
            Unit::Suspended => 1,
            Unit::Active => 2,
            _ => 0,
        };
        let ru = match self.ru {
            Unit::Suspended => 1,
            Unit::NoResources => 2,
            Unit::Ready => 4,
            _ => 0,
        };
        cu << CU_STATE_SHIFT | ru << RU_STATE_SHIFT
    }

    fn command(&mut self, value: u8) {
        self.commands.push(value);
        match value & 0x07 {
            0 => {}
            RU_START => {
                self.ru_offset = self.pointer;
                self.ru = Unit::Ready;
            }
            RU_LOAD_BASE => self.ru_base = self.pointer,
            other => panic!("model: RU command {other:#x}"),
        }
        match value & 0xF0 {
            0 => {}
            CU_START => {
                assert!(self.cu != Unit::Active, "model: CU_START while active");
                self.cu_offset = self.pointer;
                self.cu = Unit::Active;
                self.run_cu_unless_paused();
            }
            CU_RESUME if self.resumes_to_lose > 0 => self.resumes_to_lose -= 1,
            CU_RESUME => {
                // Ignored unless suspended, as the manual says.
                if self.cu == Unit::Suspended {
                    self.cu = Unit::Active;
                    self.run_cu_unless_paused();
                }
            }
            CU_LOAD_BASE => self.cu_base = self.pointer,
            other => panic!("model: CU command {other:#x}"),
        }
    }

    fn run_cu_unless_paused(&mut self) {
        if !self.cu_paused {
            self.run_cu();
        }
    }

    /// Let the CU walk its list until a block with S or EL.
    pub fn run_cu(&mut self) {
        if self.cu_broken {
            return;
        }
        while self.cu == Unit::Active {
            let cb = u64::from(self.cu_base) + u64::from(self.cu_offset);
            let command = self.read_u16(cb + 2);
            match command & CMD_MASK {
                CMD_CONFIGURE => {
                    let bytes = self.window.read(cb + 8, 22);
                    self.configuration.copy_from_slice(&bytes);
                }
                CMD_IA_SETUP => {
                    let bytes = self.window.read(cb + 8, 6);
                    self.individual_address.copy_from_slice(&bytes);
                }
                CMD_TX => {
                    assert_eq!(
                        self.read_u32(cb + 8),
                        TBD_NONE,
                        "model: simplified mode only"
                    );
                    let count = self.read_u16(cb + 12);
                    assert_ne!(count & TCB_EOF, 0, "simplified TCBs carry EOF");
                    let len = usize::from(count & 0x3FFF);
                    self.sent.push(self.window.read(cb + 16, len));
                }
                other => panic!("model: action command {other}"),
            }
            self.window.write(cb, &(STATUS_C | STATUS_OK).to_le_bytes());
            self.cu_offset = self.read_u32(cb + 4);
            if command & CMD_EL != 0 {
                self.cu = Unit::Idle;
            } else if command & CMD_S != 0 {
                self.cu = Unit::Suspended;
            }
        }
    }

    /// A frame from the wire into the RU's next RFD; dropped (false) when the RU is not ready.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        self.inject_with(frame, STATUS_OK)
    }

    /// As `inject`, with these status bits beside C (no OK: a frame with errors).
    pub fn inject_with(&mut self, frame: &[u8], status: u16) -> bool {
        if self.ru != Unit::Ready {
            self.dropped += 1;
            return false;
        }
        let rfd = u64::from(self.ru_base) + u64::from(self.ru_offset);
        let command = self.read_u16(rfd + 2);
        let size = usize::from(self.read_u16(rfd + 14) & 0x3FFF);
        let mut data = frame.to_vec();
        data.resize(data.len().max(60), 0); // padded, as QEMU does
        assert!(data.len() <= size, "model: frame longer than the RFD");
        self.window.write(rfd + 16, &data);
        // The chip sets EOF and F in the actual count.
        self.window
            .write(rfd + 12, &(data.len() as u16 | 0xC000).to_le_bytes());
        self.window.write(rfd, &(STATUS_C | status).to_le_bytes());
        self.ru_offset = self.read_u32(rfd + 4);
        if command & CMD_EL != 0 {
            self.ru = Unit::NoResources;
        } else if command & CMD_S != 0 {
            self.ru = Unit::Suspended;
        }
        true
    }

    fn eeprom_write(&mut self, value: u8) {
        let cs = value & EE_CS != 0;
        let sk = value & EE_SK != 0;
        if !cs {
            self.ee_cs = false;
            self.ee_do = true;
            return;
        }
        if !self.ee_cs {
            self.ee_cs = true;
            self.ee_bits = 0;
            self.ee_shift = 0;
        }
        if sk && !self.ee_sk {
            let bit = u32::from(value & EE_DI != 0);
            let n = self.eeprom_address_bits;
            if self.ee_bits < 3 + n {
                if self.ee_bits == 0 && bit == 0 {
                    // Leading zeros before the start bit are allowed.
                } else {
                    self.ee_shift = self.ee_shift << 1 | bit;
                    self.ee_bits += 1;
                }
                if self.ee_bits == 3 + n {
                    assert_eq!(self.ee_shift >> n, 0b110, "model: only reads are modelled");
                    let address = (self.ee_shift & ((1 << n) - 1)) as usize;
                    self.ee_data = self.eeprom[address];
                    self.ee_do = false; // the dummy zero
                }
            } else {
                self.ee_do = self.ee_data & 0x8000 != 0;
                self.ee_data <<= 1;
            }
        }
        self.ee_sk = sk;
    }
}

impl PortIo for Eepro100Model {
    fn read8(&mut self, offset: u16) -> u8 {
        match offset {
            SCB_STATUS => self.status(),
            SCB_ACK => self.ack,
            SCB_CMD => 0, // commands are taken at once
            SCB_INTMASK => self.intmask,
            EEPROM if self.ee_do => EE_DO,
            _ => 0,
        }
    }

    fn read16(&mut self, offset: u16) -> u16 {
        u16::from(self.read8(offset)) | u16::from(self.read8(offset + 1)) << 8
    }

    fn read32(&mut self, offset: u16) -> u32 {
        match offset {
            MDI => self.mdi,
            SCB_POINTER => self.pointer,
            _ => u32::from(self.read16(offset)) | u32::from(self.read16(offset + 2)) << 16,
        }
    }

    fn write8(&mut self, offset: u16, value: u8) {
        match offset {
            SCB_ACK => self.ack &= !value,
            SCB_CMD => self.command(value),
            SCB_INTMASK => self.intmask = value,
            EEPROM => self.eeprom_write(value),
            _ => panic!("model: byte write to {offset:#x}"),
        }
    }

    fn write16(&mut self, offset: u16, value: u16) {
        self.write8(offset, value as u8);
        self.write8(offset + 1, (value >> 8) as u8);
    }

    fn write32(&mut self, offset: u16, value: u32) {
        match offset {
            SCB_POINTER => self.pointer = value,
            PORT => match value & 3 {
                PORT_SELECTIVE_RESET => self.reset(true),
                _ => self.reset(false),
            },
            MDI => {
                let phy = value >> MDI_PHY_SHIFT & 0x1F;
                let reg = value >> MDI_REG_SHIFT & 0x1F;
                let data = match (phy, reg) {
                    (1, 1) => 0x7809 | if self.link { BMSR_LINK as u16 } else { 0 },
                    _ => 0xFFFF,
                };
                self.mdi = value & 0xFFFF_0000 | MDI_READY | u32::from(data);
            }
            _ => panic!("model: dword write to {offset:#x}"),
        }
    }
}
