//! A model of a PXE ROM's stack as the UNDI driver sees it, for the host tests: the calls the
//! driver makes, checked the way a strict stack would (state, pointers, lengths), with knobs
//! for the misbehaviour seen in real ROMs (left open by the boot, fragments, impossible
//! lengths, an IRQ that is claimed and never raised, an ISR that never says "done").

use std::collections::VecDeque;
use std::vec::Vec;

use super::api::{self, get_u16, put_u16};
use super::{PxeApi, SegOff};
use crate::MacAddress;

/// Where the driver's buffer sits in real mode (as the runtime's bounce buffer does).
pub const BUFFER_SEGMENT: u16 = 0x0080;
pub const BUFFER_LEN: usize = 0x0800;
/// The stack's own memory, where it puts received frames.
pub const ROM_SEGMENT: u16 = 0x9000;
const ROM_LEN: usize = 0x1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Installed by a ROM's UNDI loader, not started (`PxeModel::loaded`).
    Fresh,
    /// After PXENV_START_UNDI.
    Loaded,
    /// After PXENV_UNDI_STARTUP.
    StartedUp,
    /// Initialized, not open (after PXENV_UNDI_INITIALIZE or PXENV_UNDI_CLOSE).
    Initialized,
    Open,
    /// After PXENV_UNDI_SHUTDOWN.
    Shutdown,
    /// After PXENV_UNLOAD_STACK (the UNDI part is still there).
    BaseUnloaded,
    /// After PXENV_STOP_UNDI / PXENV_UNDI_CLEANUP: calling it again would crash a real machine.
    Gone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isr {
    Idle,
    Started,
    Processing,
}

/// A frame the stack was asked to send, as it would put it on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub protocol: u8,
    pub broadcast_flag: bool,
    pub wire: Vec<u8>,
}

pub struct PxeModel {
    buffer: Vec<u8>,
    rom: Vec<u8>,
    pub state: State,
    pub mac: MacAddress,
    pub permanent_mac: MacAddress,
    pub hw_type: u16,
    /// What GET_INFORMATION says; the model never raises it.
    pub irq: u16,
    pub filter: u16,
    /// Frames on the wire for us (the filter decides what the driver gets).
    pub wire_in: VecDeque<Vec<u8>>,
    pub sent: Vec<Sent>,
    /// Every call, in order.
    pub calls: Vec<u16>,
    /// TX completions still to report through the ISR.
    tx_completions: usize,
    isr: Isr,
    /// The frame being handed out in fragments, and how far.
    current: Option<(Vec<u8>, usize)>,
    /// Hand frames out in pieces of this size.
    pub fragment: Option<usize>,
    /// PXENV_UNDI_OPEN answers "invalid state" while open (as a ROM fresh from its boot may).
    pub strict_open: bool,
    /// The next received frame reports a total length smaller than its fragment.
    pub insane_next: bool,
    /// PROCESS and GET_NEXT answer "busy" for ever.
    pub never_done: bool,
    /// Make one function fail with a status, every time.
    pub fail: Option<(u16, u16)>,
    /// The NIC type GET_NIC_TYPE reports: PCI vendor, device, bus:dev.fn.
    pub pci: (u16, u16, u16),
    /// What PXENV_START_UNDI was given in AX (the PCI bus:dev.fn).
    pub started_with: Option<u16>,
    /// PXENV_UNDI_INITIALIZE fails this many times first (a link still coming up).
    pub initialize_failures: u32,
    /// The driver let go of the stack (`PxeApi::release`).
    pub released: bool,
}

impl PxeModel {
    pub fn new(mac: MacAddress) -> Self {
        PxeModel {
            buffer: std::vec![0xcc; BUFFER_LEN],
            rom: std::vec![0; ROM_LEN],
            state: State::Open,
            mac,
            permanent_mac: mac,
            hw_type: api::information::ETHER_TYPE,
            irq: 11,
            filter: 0,
            wire_in: VecDeque::new(),
            sent: Vec::new(),
            calls: Vec::new(),
            tx_completions: 0,
            isr: Isr::Idle,
            current: None,
            fragment: None,
            strict_open: false,
            insane_next: false,
            never_done: false,
            fail: None,
            pci: (0x15ad, 0x07b0, 0x0018),
            started_with: None,
            initialize_failures: 0,
            released: false,
        }
    }

    /// A stack a ROM's UNDI loader has just installed: nothing started yet.
    pub fn loaded(mac: MacAddress) -> Self {
        PxeModel {
            state: State::Fresh,
            ..Self::new(mac)
        }
    }

    fn block(&mut self) -> &mut [u8] {
        &mut self.buffer[..64]
    }

    /// Read `len` bytes the driver points at; it must point into its own buffer.
    fn driver_memory(&self, at: SegOff, len: usize) -> Vec<u8> {
        assert_eq!(
            at.segment, BUFFER_SEGMENT,
            "the driver pointed the stack outside its buffer"
        );
        let start = at.offset as usize;
        assert!(start + len <= BUFFER_LEN, "pointer runs past the buffer");
        self.buffer[start..start + len].to_vec()
    }

    fn accepts(&self, frame: &[u8]) -> bool {
        let directed = frame[..6] == self.mac && self.filter & api::open::FLTR_DIRECTED != 0;
        let broadcast = frame[..6] == [0xff; 6] && self.filter & api::open::FLTR_BRDCST != 0;
        directed || broadcast
    }

    fn transmit(&mut self) -> Result<(), u16> {
        use api::transmit::*;
        if self.state != State::Open {
            return Err(api::STATUS_UNDI_INVALID_STATE);
        }
        let block = self.block().to_vec();
        let protocol = block[PROTOCOL];
        let broadcast_flag = block[XMIT_FLAG] == XMT_BROADCAST;
        let tbd = self.driver_memory(SegOff::read(&block, TBD), api::tbd::LEN);
        assert_eq!(
            get_u16(&tbd, api::tbd::DATA_BLK_COUNT),
            0,
            "extra data blocks"
        );
        let len = get_u16(&tbd, api::tbd::IMMED_LENGTH) as usize;
        let data = self.driver_memory(SegOff::read(&tbd, api::tbd::XMIT), len);
        let mut wire = Vec::new();
        if protocol != P_UNKNOWN {
            let dest = if broadcast_flag {
                [0xff; 6].to_vec()
            } else {
                self.driver_memory(SegOff::read(&block, DEST_ADDR), 6)
            };
            let ethertype: [u8; 2] = match protocol {
                P_IP => [0x08, 0x00],
                P_ARP => [0x08, 0x06],
                P_RARP => [0x80, 0x35],
                other => panic!("protocol {other}"),
            };
            wire.extend_from_slice(&dest);
            wire.extend_from_slice(&self.mac);
            wire.extend_from_slice(&ethertype);
        }
        wire.extend_from_slice(&data);
        assert!(wire.len() >= 60, "the driver must pad short frames");
        self.sent.push(Sent {
            protocol,
            broadcast_flag,
            wire,
        });
        self.tx_completions += 1;
        Ok(())
    }

    /// PROCESS / GET_NEXT: the next event of the ISR sequence.
    fn next_event(&mut self) {
        use api::isr::*;
        if self.never_done {
            put_u16(self.block(), FUNC_FLAG, OUT_BUSY);
            return;
        }
        if self.current.is_none() {
            if self.tx_completions > 0 {
                self.tx_completions -= 1;
                put_u16(self.block(), FUNC_FLAG, OUT_TRANSMIT);
                return;
            }
            while let Some(frame) = self.wire_in.pop_front() {
                if self.accepts(&frame) {
                    self.current = Some((frame, 0));
                    break;
                }
            }
        }
        let Some((frame, at)) = self.current.take() else {
            self.isr = Isr::Idle;
            put_u16(self.block(), FUNC_FLAG, OUT_DONE);
            return;
        };
        let piece = self.fragment.unwrap_or(frame.len()).min(frame.len() - at);
        self.rom[..piece].copy_from_slice(&frame[at..at + piece]);
        let total = if core::mem::take(&mut self.insane_next) {
            piece - 1
        } else {
            frame.len()
        };
        let block = self.block();
        put_u16(block, FUNC_FLAG, OUT_RECEIVE);
        put_u16(block, BUFFER_LENGTH, piece as u16);
        put_u16(block, FRAME_LENGTH, total as u16);
        put_u16(block, FRAME_HEADER_LENGTH, 14);
        SegOff {
            segment: ROM_SEGMENT,
            offset: 0,
        }
        .write(block, FRAME);
        if at + piece < frame.len() {
            self.current = Some((frame, at + piece));
        }
    }

    fn isr_call(&mut self) -> Result<(), u16> {
        use api::isr::*;
        if self.state != State::Open {
            return Err(api::STATUS_UNDI_INVALID_STATE);
        }
        let func = get_u16(self.block(), FUNC_FLAG);
        match func {
            IN_START => {
                self.isr = Isr::Started;
                // "Not ours": the model has no interrupt to claim.
                put_u16(self.block(), FUNC_FLAG, OUT_NOT_OURS);
            }
            IN_PROCESS if self.isr == Isr::Started => {
                self.isr = Isr::Processing;
                self.next_event();
            }
            IN_GET_NEXT if self.isr == Isr::Processing => self.next_event(),
            _ => panic!("PXENV_UNDI_ISR {func} out of order (state {:?})", self.isr),
        }
        Ok(())
    }

    fn dispatch(&mut self, opcode: u16) -> Result<(), u16> {
        if let Some((failing, status)) = self.fail
            && failing == opcode
        {
            return Err(status);
        }
        match opcode {
            api::UNDI_GET_INFORMATION => {
                use api::information::*;
                let (mac, permanent, hw_type, irq) =
                    (self.mac, self.permanent_mac, self.hw_type, self.irq);
                let block = self.block();
                put_u16(block, BASE_IO, 0xc000);
                put_u16(block, INT_NUMBER, irq);
                put_u16(block, MAX_TRAN_UNIT, 1500);
                put_u16(block, HW_TYPE, hw_type);
                put_u16(block, HW_ADDR_LEN, 6);
                block[CURRENT_NODE_ADDRESS..CURRENT_NODE_ADDRESS + 6].copy_from_slice(&mac);
                block[PERM_NODE_ADDRESS..PERM_NODE_ADDRESS + 6].copy_from_slice(&permanent);
                put_u16(block, ROM_ADDRESS, 0xc800);
                put_u16(block, RX_BUF_CT, 8);
                put_u16(block, TX_BUF_CT, 2);
            }
            api::UNDI_GET_NIC_TYPE => {
                use api::nic_type::*;
                let (vendor, device, bdf) = self.pci;
                let block = self.block();
                block[NIC_TYPE] = PCI_NIC;
                put_u16(block, VENDOR_ID, vendor);
                put_u16(block, DEVICE_ID, device);
                block[BASE_CLASS] = 2;
                put_u16(block, BUS_DEV_FUNC, bdf);
            }
            api::UNDI_OPEN => {
                if self.strict_open && self.state == State::Open {
                    return Err(api::STATUS_UNDI_INVALID_STATE);
                }
                if !matches!(self.state, State::Open | State::Initialized) {
                    return Err(api::STATUS_UNDI_INVALID_STATE);
                }
                self.filter = get_u16(self.block(), api::open::PKT_FILTER);
                self.state = State::Open;
                self.isr = Isr::Idle;
            }
            api::START_UNDI => {
                let block = self.block();
                self.started_with = Some(get_u16(block, api::start_undi::AX));
                self.state = State::Loaded;
            }
            api::UNDI_STARTUP if self.state == State::Loaded => self.state = State::StartedUp,
            api::UNDI_INITIALIZE if self.state == State::StartedUp => {
                if self.initialize_failures > 0 {
                    self.initialize_failures -= 1;
                    return Err(0x0061); // media test failed: the link is not up yet
                }
                self.state = State::Initialized;
            }
            api::UNDI_STARTUP | api::UNDI_INITIALIZE => {
                return Err(api::STATUS_UNDI_INVALID_STATE);
            }
            api::UNDI_SET_STATION_ADDRESS => {
                let block = self.block();
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&block[api::STATION_ADDRESS..api::STATION_ADDRESS + 6]);
                self.mac = mac;
            }
            api::UNDI_CLOSE => self.state = State::Initialized,
            api::UNDI_TRANSMIT => self.transmit()?,
            api::UNDI_ISR => self.isr_call()?,
            api::UNDI_SHUTDOWN => self.state = State::Shutdown,
            api::UNLOAD_STACK => self.state = State::BaseUnloaded,
            api::STOP_UNDI | api::UNDI_CLEANUP => self.state = State::Gone,
            other => panic!("unexpected PXE call {other:#x}"),
        }
        Ok(())
    }
}

impl PxeApi for PxeModel {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buffer
    }

    fn address_of(&self, offset: usize) -> SegOff {
        SegOff {
            segment: BUFFER_SEGMENT,
            offset: offset as u16,
        }
    }

    fn call(&mut self, opcode: u16) -> u16 {
        assert_ne!(self.state, State::Gone, "a call into an unloaded PXE stack");
        assert!(
            !self.released,
            "a call after the driver let go of the stack"
        );
        self.calls.push(opcode);
        let (status, exit) = match self.dispatch(opcode) {
            Ok(()) => (api::STATUS_SUCCESS, api::EXIT_SUCCESS),
            // A failure may come with any status, even none (seen: status 0).
            Err(status) => (status, 1),
        };
        put_u16(self.block(), 0, status);
        exit
    }

    fn release(&mut self) {
        assert_eq!(
            self.state,
            State::Gone,
            "released before the stack was unloaded"
        );
        self.released = true;
    }

    fn read(&mut self, at: SegOff, out: &mut [u8]) -> bool {
        let start = at.offset as usize;
        if at.segment != ROM_SEGMENT || start + out.len() > ROM_LEN {
            return false;
        }
        out.copy_from_slice(&self.rom[start..start + out.len()]);
        true
    }
}
