//! Intel 8255x, "EtherExpress PRO/100" (82557, 82558, 82559, 82550/1, 82562 and the ICH
//! parts): QEMU's `i82557a`-`i82559er`, `i82550`, `i82551`, `i82562`, `i82801`.
//!
//! The chip has two units that walk lists in memory: the command unit (CU) executes command
//! blocks (configure, address setup, transmit) and the receive unit (RU) fills receive frame
//! descriptors (RFDs). Both run in simplified mode: a frame sits right after its block's 16-byte
//! header. The driver tells the units where to start through the SCB (command and pointer
//! registers); every other exchange is in memory. Addresses are linear (CU and RU base 0).
//!
//! TX: a ring of [`TX_SLOTS`] transmit blocks linked in a circle. Each new block carries the
//! S (suspend) bit; the S bit of the one before it is cleared, so a CU still busy with that one
//! runs on into the new one, and a CU already suspended there is sent CU_RESUME (the very first
//! block, CU_START). A block is free again when its C bit is set. If a resume was lost (the
//! chip took the old S bit just before it was cleared), the next reclaim sees the CU suspended
//! with work waiting and resumes it.
//!
//! RX: [`RX_SLOTS`] RFDs linked in a circle, the EL (end of list) bit on exactly one: the last
//! one given back. The RU stops ("no resources") after filling it, which happens only when the
//! ring is full; the driver restarts it at the next RFD once it has taken every frame.
//!
//! Per received frame the driver reads the SCB once: QEMU's model writes an RFD's status word
//! (C) before its frame data, and a register read waits until its device model has finished;
//! the same read (a dword: status, and the command byte) says whether the RU went on, and
//! whether the chip has taken the last command. Per sent frame: the command write, and before
//! it a read of the command byte unless a frame received since the last command showed it
//! clear (in lockstep TFTP it always has: one read and one write per block).

#[cfg(any(test, feature = "testing"))]
pub mod model;
#[allow(dead_code)] // the model uses the rest
mod regs;
#[cfg(test)]
mod tests;

use core::marker::PhantomData;
use core::ptr::NonNull;

use zerocopy::FromZeros;

use crate::hw::{Delay, Dma, IdentityDma, PortIo, PortRegion, dma_barrier};
use crate::registry::{DmaArena, Driver, Found, Machine, OpenError, PciId, dma_len};
use crate::{MAX_FRAME_LEN, MIN_FRAME_LEN, MacAddress, Nic, NicError, check_tx_len, is_usable_mac};
use regs::*;

/// This driver's line in the registry.
pub const DRIVER: Driver = Driver {
    name: "eepro100",
    family: "Intel 8255x PRO/100",
    pci_ids: SUPPORTED_IDS,
    find: None,
    dma_len: dma_len::<Eepro100Buffers, Eepro100<'static, PortRegion, IdentityDma>>(),
    open: open_found,
};

/// [`DRIVER`]'s `open`: the I/O BAR as the registers (the chip also maps them in memory BAR0;
/// ports need no mapping), buffers from the DMA pool.
fn open_found(
    card: &Found,
    machine: &mut dyn Machine,
    mut dma: DmaArena,
) -> Result<&'static mut dyn Nic, OpenError> {
    let function = card.pci()?;
    let id = probe(function.vendor_id, function.device_id).ok_or(NicError::UnsupportedDevice)?;
    // SAFETY: the I/O BAR of this card; nothing else drives it.
    let io = unsafe { PortRegion::new(function.io_bar()?) };
    let buffers = dma.zeroed::<Eepro100Buffers>()?;
    let nic = Eepro100::open(id, io, IdentityDma, buffers, &mut machine.delay())?;
    Ok(dma.keep(nic)?)
}

pub const INTEL_VENDOR_ID: u16 = 0x8086;

const fn id(device_id: u16, name: &'static str) -> PciId {
    PciId::new(INTEL_VENDOR_ID, device_id, name)
}

/// The 8255x and the ICH chipsets' integrated MACs built on it (Intel's ID lists). QEMU:
/// 0x1229 for i82557a/b/c, i82558a/b, i82559a/b/c; 0x1209 for i82559er, i82550, i82551,
/// i82562; 0x2449 for i82801.
pub const SUPPORTED_IDS: &[PciId] = &[
    id(0x1229, "82557/8/9"),
    id(0x1209, "82559ER"),
    id(0x1029, "82559"),
    id(0x1030, "82559 InBusiness"),
    id(0x2449, "82801BA (ICH2)"),
    id(0x2459, "82801E"),
    id(0x245D, "82801E"),
    id(0x1031, "82801CAM (ICH3)"),
    id(0x1032, "82801CAM (ICH3)"),
    id(0x1033, "82801CAM (ICH3)"),
    id(0x1034, "82801CAM (ICH3)"),
    id(0x1038, "82801CAM (ICH3)"),
    id(0x1039, "82801DB (ICH4)"),
    id(0x103A, "82801DB (ICH4)"),
    id(0x103B, "82801DB (ICH4)"),
    id(0x103C, "82801DB (ICH4)"),
    id(0x103D, "82801DB (ICH4)"),
    id(0x103E, "82801DB (ICH4)"),
    id(0x1050, "82801EB (ICH5)"),
    id(0x1051, "82801EB (ICH5)"),
    id(0x1052, "82801EB (ICH5)"),
    id(0x1053, "82801EB (ICH5)"),
    id(0x1054, "82801EB (ICH5)"),
    id(0x1055, "82801EB (ICH5)"),
    id(0x1056, "82801EB (ICH5)"),
    id(0x1057, "82801EB (ICH5)"),
    id(0x1059, "82551QM"),
    id(0x1064, "82562EZ (ICH6)"),
    id(0x1065, "82562ET (ICH6)"),
    id(0x1066, "82562EM (ICH6)"),
    id(0x1067, "82562 (ICH6)"),
    id(0x1068, "82562ET (ICH6)"),
    id(0x1069, "82562EM (ICH6)"),
    id(0x106A, "82562G (ICH7)"),
    id(0x106B, "82562G (ICH7)"),
    id(0x1091, "82562GX (ICH7)"),
    id(0x1092, "82562G (ICH7)"),
    id(0x1093, "82562GT (ICH7)"),
    id(0x1094, "82562GT (ICH7)"),
    id(0x1095, "82562G (ICH7)"),
    id(0x27DC, "82801G (ICH7)"),
];

/// The entry for a PCI vendor/device pair, if this driver handles it.
pub fn probe(vendor_id: u16, device_id: u16) -> Option<&'static PciId> {
    SUPPORTED_IDS
        .iter()
        .find(|id| id.vendor_id == vendor_id && id.device_id == device_id)
}

/// Receive frame descriptors: a TFTP window of 32 blocks fits.
pub const RX_SLOTS: usize = 32;
/// Transmit command blocks.
pub const TX_SLOTS: usize = 8;
/// Bytes of frame room in an RFD or a TCB: the longest frame, the block 1536 bytes in all.
pub const FRAME_ROOM: usize = 1520;
const _: () = assert!(FRAME_ROOM >= MAX_FRAME_LEN);

/// A receive frame descriptor in simplified mode: header, then the frame.
#[repr(C, align(16))]
#[derive(FromZeros)]
struct Rfd {
    status: u16,
    command: u16,
    link: u32,
    /// The receive buffer descriptor: none in simplified mode.
    rbd: u32,
    /// Bytes received (bits 13-0), set by the chip.
    count: u16,
    /// Room for the frame.
    size: u16,
    data: [u8; FRAME_ROOM],
}

/// A transmit command block in simplified mode: header, then the frame.
#[repr(C, align(16))]
#[derive(FromZeros)]
struct Tcb {
    status: u16,
    command: u16,
    link: u32,
    tbd_array: u32,
    byte_count: u16,
    threshold: u8,
    tbd_number: u8,
    data: [u8; FRAME_ROOM],
}

/// A configure or individual-address-setup block.
#[repr(C, align(16))]
#[derive(FromZeros)]
struct SetupCb {
    status: u16,
    command: u16,
    link: u32,
    parameters: [u8; 24],
}

/// All memory the chip reads and writes: 61 504 bytes, 16-byte aligned, below 4 GiB (the
/// chip's addresses are 32 bits).
#[repr(C, align(16))]
#[derive(FromZeros)]
pub struct Eepro100Buffers {
    setup: [SetupCb; 2],
    rfd: [Rfd; RX_SLOTS],
    tcb: [Tcb; TX_SLOTS],
}

/// The transmit threshold: bytes (x8) in the FIFO before the chip starts sending. A whole
/// frame: no underruns.
const TX_THRESHOLD: u8 = 0xE0;
/// Polls of the SCB command register for the chip to take a command: microseconds.
const SCB_POLLS: u32 = 100_000;
/// Waits for the setup commands to complete, 10 us each.
const SETUP_WAITS: u32 = 10_000;
/// Polls of the MDI register for a PHY read.
const MDI_POLLS: u32 = 10_000;
/// The longest EEPROM address (a 93C66 has 8 bits; a 93C46, 6).
const EEPROM_MAX_ADDRESS_BITS: u32 = 8;
/// Shortest count accepted: a minimum frame.
const MIN_RX_LEN: usize = MIN_FRAME_LEN;
/// Longest: 1514 bytes and a VLAN tag.
const MAX_RX_LEN: usize = MAX_FRAME_LEN + 4;

/// An open 8255x.
pub struct Eepro100<'a, P: PortIo, D: Dma> {
    io: P,
    dma: D,
    id: &'static PciId,
    mac: MacAddress,
    phy: u32,
    /// The caller's buffers; shared with the chip, so only touched through raw pointers.
    mem: NonNull<Eepro100Buffers>,
    _mem: PhantomData<&'a mut Eepro100Buffers>,
    /// Next RFD the RU fills, and the one carrying EL.
    rx_next: usize,
    rx_tail: usize,
    /// A status read showed the RU out of resources: restart it once the ring is empty.
    ru_stopped: bool,
    tx_next: usize,
    tx_clean: usize,
    tx_in_flight: usize,
    /// CU_START was given (the CU has a list): from then on, CU_RESUME.
    cu_started: bool,
    /// The SCB command byte read 0 since the last command: the next may go without a wait.
    scb_idle: bool,
    is_open: bool,
}

impl<'a, P: PortIo, D: Dma> Eepro100<'a, P, D> {
    /// Reset the chip, read its MAC from the EEPROM, configure it, give it its address, and
    /// start the RU. `io` is the I/O BAR (32 or 64 ports); the caller has enabled I/O decoding
    /// and bus mastering. Interrupts are masked in the SCB.
    pub fn open(
        id: &'static PciId,
        io: P,
        dma: D,
        buffers: &'a mut Eepro100Buffers,
        delay: &mut impl Delay,
    ) -> Result<Self, NicError> {
        let mem = NonNull::from(buffers);
        let start = dma.phys_addr(mem.as_ptr().cast());
        let size = core::mem::size_of::<Eepro100Buffers>() as u64;
        if !start.is_multiple_of(16) || start + size > 1 << 32 {
            return Err(NicError::BadDmaAddress);
        }
        let mut nic = Eepro100 {
            io,
            dma,
            id,
            mac: [0; 6],
            phy: 1,
            mem,
            _mem: PhantomData,
            rx_next: 0,
            rx_tail: RX_SLOTS - 1,
            ru_stopped: false,
            tx_next: 0,
            tx_clean: 0,
            tx_in_flight: 0,
            cu_started: false,
            scb_idle: false,
            is_open: true,
        };
        nic.io.write32(PORT, PORT_SOFTWARE_RESET);
        delay.delay_us(20); // the manual: 10 us before the SCB may be used
        nic.io.write8(SCB_INTMASK, INTMASK_ALL);
        if let Err(error) = nic.start(delay) {
            nic.close();
            return Err(error);
        }
        Ok(nic)
    }

    /// The registry entry this card was opened with.
    pub fn id(&self) -> &'static PciId {
        self.id
    }

    fn start(&mut self, delay: &mut impl Delay) -> Result<(), NicError> {
        let address_bits = eeprom_address_bits(&mut self.io, delay);
        for (i, pair) in self.mac.chunks_exact_mut(2).enumerate() {
            let word = eeprom_read(&mut self.io, delay, address_bits, i as u32);
            pair.copy_from_slice(&word.to_le_bytes());
        }
        if !is_usable_mac(&self.mac) {
            return Err(NicError::NoMacAddress);
        }
        self.phy = u32::from(eeprom_read(&mut self.io, delay, address_bits, 6)) & 0x1F;

        self.command(CU_LOAD_BASE, Some(0))?;
        self.command(RU_LOAD_BASE, Some(0))?;

        // Configure, then the individual address; EL on the second leaves the CU idle.
        let mut configure = [0u8; 24];
        configure[..CONFIGURE.len()].copy_from_slice(&CONFIGURE);
        let mut address = [0u8; 24];
        address[..6].copy_from_slice(&self.mac);
        let second = self.bus(self.setup(1).cast());
        self.write_setup(0, CMD_CONFIGURE, second, configure);
        self.write_setup(1, CMD_IA_SETUP | CMD_EL, second, address);
        dma_barrier();
        let first = self.bus(self.setup(0).cast());
        self.command(CU_START, Some(first))?;
        let mut waits = 0;
        while self.setup_status(1) & STATUS_C == 0 {
            waits += 1;
            if waits > SETUP_WAITS {
                return Err(NicError::Timeout);
            }
            delay.delay_us(10);
        }

        for i in 0..RX_SLOTS {
            let next = self.bus(self.rfd((i + 1) % RX_SLOTS).cast());
            let command = if i == RX_SLOTS - 1 { CMD_EL } else { 0 };
            self.arm_rfd(i, command, Some(next));
        }
        for i in 0..TX_SLOTS {
            let next = self.bus(self.tcb((i + 1) % TX_SLOTS).cast());
            let t = self.tcb(i);
            // SAFETY: `t` points into `mem`; the CU has not been given the TX ring yet.
            unsafe {
                (&raw mut (*t).status).write_volatile(STATUS_C);
                (&raw mut (*t).command).write_volatile(CMD_TX | CMD_S);
                (&raw mut (*t).link).write_volatile(next);
                (&raw mut (*t).tbd_array).write_volatile(TBD_NONE);
            }
        }
        dma_barrier();
        let first = self.bus(self.rfd(0).cast());
        self.command(RU_START, Some(first))?;
        Ok(())
    }

    fn setup(&self, i: usize) -> *mut SetupCb {
        // SAFETY: `mem` is valid for 'a; the index is bounds-checked by the array access.
        unsafe { &raw mut (*self.mem.as_ptr()).setup[i] }
    }

    fn rfd(&self, i: usize) -> *mut Rfd {
        // SAFETY: as in `setup`.
        unsafe { &raw mut (*self.mem.as_ptr()).rfd[i] }
    }

    fn tcb(&self, i: usize) -> *mut Tcb {
        // SAFETY: as in `setup`.
        unsafe { &raw mut (*self.mem.as_ptr()).tcb[i] }
    }

    fn bus(&self, ptr: *const u8) -> u32 {
        self.dma.phys_addr(ptr) as u32 // below 4 GiB, checked at open
    }

    fn write_setup(&self, i: usize, command: u16, link: u32, parameters: [u8; 24]) {
        let cb = self.setup(i);
        // SAFETY: `cb` points into `mem`; the CU is idle.
        unsafe {
            (&raw mut (*cb).status).write_volatile(0);
            (&raw mut (*cb).command).write_volatile(command);
            (&raw mut (*cb).link).write_volatile(link);
            (&raw mut (*cb).parameters).write_volatile(parameters);
        }
    }

    fn setup_status(&self, i: usize) -> u16 {
        // SAFETY: points into `mem`; the chip writes it, volatile sees that.
        unsafe { (&raw const (*self.setup(i)).status).read_volatile() }
    }

    /// Give RFD `i` (back) to the RU: empty, with `command` (EL or nothing) last; `link`
    /// only at open (it never changes).
    fn arm_rfd(&self, i: usize, command: u16, link: Option<u32>) {
        let r = self.rfd(i);
        // SAFETY: `r` points into `mem`; the RU does not use it (completed, or not started).
        unsafe {
            if let Some(link) = link {
                (&raw mut (*r).link).write_volatile(link);
                (&raw mut (*r).rbd).write_volatile(TBD_NONE);
            }
            (&raw mut (*r).count).write_volatile(0);
            (&raw mut (*r).size).write_volatile(FRAME_ROOM as u16);
            (&raw mut (*r).status).write_volatile(0);
            dma_barrier();
            (&raw mut (*r).command).write_volatile(command);
        }
    }

    /// Wait until the chip has taken the last SCB command (known already when a status read
    /// since that command showed the command byte clear).
    fn wait_scb(&mut self) -> Result<(), NicError> {
        if self.scb_idle {
            return Ok(());
        }
        for _ in 0..SCB_POLLS {
            if self.io.read8(SCB_CMD) == 0 {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(NicError::Timeout)
    }

    /// An SCB command, with the general pointer first when it takes one.
    fn command(&mut self, command: u8, pointer: Option<u32>) -> Result<(), NicError> {
        self.wait_scb()?;
        if let Some(pointer) = pointer {
            self.io.write32(SCB_POINTER, pointer);
        }
        self.io.write8(SCB_CMD, command);
        self.scb_idle = false;
        Ok(())
    }

    /// Take back the transmit blocks the CU has finished; if it sits suspended with work
    /// waiting (a resume was lost), resume it.
    fn reclaim_tx(&mut self) {
        while self.tx_in_flight > 0 {
            // SAFETY: points into `mem`; the chip writes it, volatile sees that.
            let status = unsafe { (&raw const (*self.tcb(self.tx_clean)).status).read_volatile() };
            if status & STATUS_C == 0 {
                let cu = self.io.read8(SCB_STATUS) >> CU_STATE_SHIFT;
                if cu == CU_SUSPENDED {
                    let _ = self.command(CU_RESUME, None);
                }
                return;
            }
            self.tx_clean = (self.tx_clean + 1) % TX_SLOTS;
            self.tx_in_flight -= 1;
        }
    }

    /// The PHY's register `reg` through the MDI, or `None` when the PHY does not answer.
    fn mdi_read(&mut self, reg: u32) -> Option<u16> {
        self.io.write32(
            MDI,
            MDI_READ | self.phy << MDI_PHY_SHIFT | reg << MDI_REG_SHIFT,
        );
        for _ in 0..MDI_POLLS {
            let value = self.io.read32(MDI);
            if value & MDI_READY != 0 {
                return Some(value as u16);
            }
            core::hint::spin_loop();
        }
        None
    }
}

/// How many address bits the EEPROM takes: it answers the last one with a 0 on DO.
fn eeprom_address_bits(io: &mut impl PortIo, delay: &mut impl Delay) -> u32 {
    eeprom_select(io, delay);
    for bit in [1, 1, 0] {
        eeprom_clock_out(io, delay, bit);
    }
    let mut bits = 0;
    while bits < EEPROM_MAX_ADDRESS_BITS {
        bits += 1;
        if eeprom_clock_out(io, delay, 0) & EE_DO == 0 {
            break;
        }
    }
    // Clock out the word that follows, as a read must end.
    for _ in 0..16 {
        eeprom_clock_in(io, delay);
    }
    eeprom_deselect(io, delay);
    bits
}

fn eeprom_select(io: &mut impl PortIo, delay: &mut impl Delay) {
    io.write8(EEPROM, EE_CS);
    delay.delay_us(4);
}

fn eeprom_deselect(io: &mut impl PortIo, delay: &mut impl Delay) {
    io.write8(EEPROM, 0);
    delay.delay_us(4);
}

/// One bit to the EEPROM (DI), latched on SK's rising edge; returns the control register read
/// after it (DO), and leaves SK low.
fn eeprom_clock_out(io: &mut impl PortIo, delay: &mut impl Delay, bit: u32) -> u8 {
    let data = if bit != 0 { EE_DI } else { 0 };
    io.write8(EEPROM, EE_CS | data);
    delay.delay_us(4);
    io.write8(EEPROM, EE_CS | data | EE_SK);
    delay.delay_us(4);
    let control = io.read8(EEPROM);
    io.write8(EEPROM, EE_CS | data);
    control
}

/// One bit from the EEPROM (DO), presented after SK's rising edge.
fn eeprom_clock_in(io: &mut impl PortIo, delay: &mut impl Delay) -> u16 {
    io.write8(EEPROM, EE_CS | EE_SK);
    delay.delay_us(4);
    let bit = u16::from(io.read8(EEPROM) & EE_DO != 0);
    io.write8(EEPROM, EE_CS);
    delay.delay_us(4);
    bit
}

/// EEPROM word `address`: start bit, the read opcode and the address, then 16 data bits, most
/// significant first (Microwire).
fn eeprom_read(
    io: &mut impl PortIo,
    delay: &mut impl Delay,
    address_bits: u32,
    address: u32,
) -> u16 {
    eeprom_select(io, delay);
    let command = (1 << 2 | EE_READ) << address_bits | address;
    for i in (0..address_bits + 3).rev() {
        eeprom_clock_out(io, delay, command >> i & 1);
    }
    let mut word = 0;
    for _ in 0..16 {
        word = word << 1 | eeprom_clock_in(io, delay);
    }
    eeprom_deselect(io, delay);
    word
}

impl<P: PortIo, D: Dma> Nic for Eepro100<'_, P, D> {
    fn name(&self) -> &'static str {
        self.id.name
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    /// The PHY's link bit (read twice: it latches low); a PHY that does not answer counts as
    /// up, so the boot goes on to DHCP, which says more.
    fn link_up(&mut self) -> bool {
        if !self.is_open {
            return false;
        }
        let _ = self.mdi_read(MII_BMSR);
        self.mdi_read(MII_BMSR)
            .is_none_or(|bmsr| u32::from(bmsr) & BMSR_LINK != 0)
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
        let t = self.tcb(slot);
        // SAFETY: the block is not in flight (its C bit was seen), so the CU does not read
        // it; nothing else refers to its data while the slice lives.
        let frame = unsafe { &mut (*t).data };
        fill(&mut frame[..len]);
        let sent = len.max(MIN_FRAME_LEN);
        frame[len..sent].fill(0);
        // SAFETY: `t` points into `mem` and is ours.
        unsafe {
            (&raw mut (*t).byte_count).write_volatile(sent as u16 | TCB_EOF);
            (&raw mut (*t).threshold).write_volatile(TX_THRESHOLD);
            (&raw mut (*t).tbd_number).write_volatile(0);
            (&raw mut (*t).command).write_volatile(CMD_TX | CMD_S);
            (&raw mut (*t).status).write_volatile(0);
        }
        dma_barrier();
        let command = if self.cu_started {
            let previous = self.tcb((slot + TX_SLOTS - 1) % TX_SLOTS);
            // SAFETY: points into `mem`; the CU may be reading this block: clearing S lets it
            // run on into ours if it has not reached S yet.
            unsafe { (&raw mut (*previous).command).write_volatile(CMD_TX) };
            dma_barrier();
            self.command(CU_RESUME, None)
        } else {
            let first = self.bus(t.cast());
            self.command(CU_START, Some(first))
        };
        command?;
        self.cu_started = true;
        self.tx_next = (slot + 1) % TX_SLOTS;
        self.tx_in_flight += 1;
        Ok(())
    }

    fn receive_with(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        if !self.is_open {
            return false;
        }
        // At most a ring's worth of RFDs per call; the first good frame ends it.
        for _ in 0..RX_SLOTS {
            let i = self.rx_next;
            let r = self.rfd(i);
            // SAFETY: points into `mem`; the chip writes it, volatile sees that.
            let status = unsafe { (&raw const (*r).status).read_volatile() };
            if status & STATUS_C == 0 {
                if self.ru_stopped {
                    // Every frame is taken and RFD i onwards are free: go on from here.
                    self.ru_stopped = false;
                    let at = self.bus(r.cast());
                    let _ = self.command(RU_START, Some(at));
                }
                return false;
            }
            // Waits for QEMU's device model to finish the frame (see the module's notes). One
            // dword: the status, and the command byte, which if clear spares the next command
            // its wait.
            let scb = self.io.read32(SCB_STATUS).to_le_bytes();
            if scb[0] >> RU_STATE_SHIFT & RU_STATE_MASK != RU_READY {
                self.ru_stopped = true;
            }
            self.scb_idle = scb[2] == 0;
            dma_barrier();
            // SAFETY: the RU has completed this RFD and does not touch it until `arm_rfd`.
            let count =
                usize::from(unsafe { (&raw const (*r).count).read_volatile() } & RFD_COUNT_MASK);
            let good = status & STATUS_OK != 0 && (MIN_RX_LEN..=MAX_RX_LEN).contains(&count);
            if good {
                // SAFETY: as above; count <= MAX_RX_LEN <= FRAME_ROOM.
                let data = unsafe { &(*r).data };
                f(&data[..count.min(MAX_FRAME_LEN)]);
            }
            // This RFD becomes the end of the list, the old end an ordinary RFD.
            self.arm_rfd(i, CMD_EL, None);
            let old_tail = self.rfd(self.rx_tail);
            dma_barrier();
            // SAFETY: points into `mem`; the RU only reads the command word.
            unsafe { (&raw mut (*old_tail).command).write_volatile(0) };
            self.rx_tail = i;
            self.rx_next = (i + 1) % RX_SLOTS;
            if good {
                return true;
            }
        }
        false
    }

    fn close(&mut self) {
        if !self.is_open {
            return;
        }
        // A selective reset stops both units (no more DMA). The SCB is usable again after
        // 10 us: each of these reads takes over half a microsecond on PCI.
        self.io.write32(PORT, PORT_SELECTIVE_RESET);
        for _ in 0..32 {
            self.io.read8(SCB_STATUS);
        }
        self.io.write8(SCB_INTMASK, INTMASK_ALL);
        self.io.write8(SCB_ACK, 0xFF);
        self.is_open = false;
    }
}

impl<P: PortIo, D: Dma> Drop for Eepro100<'_, P, D> {
    fn drop(&mut self) {
        self.close();
    }
}
