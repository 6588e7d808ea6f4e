//! AMD PCnet-PCI II and PCnet-FAST III (Am79C970A, Am79C973 and their kin, all 1022:2000):
//! QEMU `pcnet`, VirtualBox's default card, VMware's `vlance`.
//!
//! The chip runs in software style 2 (32-bit addresses, 16-byte descriptors): an
//! initialization block gives it the MAC address, the filters and two descriptor rings, RX of
//! [`RX_RING_LEN`] and TX of [`TX_RING_LEN`] buffers, all in a [`PcnetBuffers`]. A descriptor
//! belongs to the chip while its OWN bit is set: RX descriptors are handed over empty and come
//! back holding a frame, TX ones go over holding a frame and come back sent.
//!
//! Registers are reached through an address port (RAP: which CSR or BCR) and a data port, in
//! word I/O mode (16-bit ports, the state after power-on) or dword I/O mode (32-bit ports; a
//! driver before us, a BIOS's PXE ROM, may have switched the chip, and on real chips only a
//! hardware reset switches back). The driver finds out which after its reset, and keeps
//! whichever it finds.
//!
//! The hot path has one register access per sent frame and none per received one: RAP is left
//! at CSR0, so a TDMD ("look at the TX ring now") is a single write, and with DPOLL the chip
//! does not poll the ring by itself (QEMU's timer for that costs it time); received frames and
//! finished TX descriptors are seen in memory. (QEMU writes a received frame's descriptor in
//! two steps; a descriptor caught between them costs one read, see `receive_with`.)

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
    name: "pcnet",
    family: "AMD PCnet-PCI II / FAST III",
    pci_ids: SUPPORTED_IDS,
    find: None,
    dma_len: dma_len::<PcnetBuffers, Pcnet<'static, PortRegion, IdentityDma>>(),
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
    let buffers = dma.zeroed::<PcnetBuffers>()?;
    let nic = Pcnet::open(id, io, IdentityDma, buffers)?;
    Ok(dma.keep(nic)?)
}

pub const AMD_VENDOR_ID: u16 = 0x1022;

/// The PCI IDs this driver handles. 1022:2000 is every PCnet-PCI chip (the part number is in
/// CSR88/89, see [`Pcnet::chip`]); 1022:2001 the PCnet-Home.
pub const SUPPORTED_IDS: &[PciId] = &[
    PciId::new(AMD_VENDOR_ID, 0x2000, "PCnet-PCI II / FAST III"),
    PciId::new(AMD_VENDOR_ID, 0x2001, "PCnet-Home"),
];

/// The entry for a PCI vendor/device pair, if this driver handles it.
pub fn probe(vendor_id: u16, device_id: u16) -> Option<&'static PciId> {
    SUPPORTED_IDS
        .iter()
        .find(|id| id.vendor_id == vendor_id && id.device_id == device_id)
}

/// RX descriptors: a TFTP window of 32 blocks fits (RLEN is log2 of this).
pub const RX_RING_LEN: usize = 32;
/// TX descriptors (TLEN is log2 of this).
pub const TX_RING_LEN: usize = 8;
/// One buffer: the longest frame with its FCS (1518) and more; 16-byte multiple.
pub const BUF_LEN: usize = 1536;
const _: () = assert!(RX_RING_LEN.is_power_of_two() && RX_RING_LEN <= 512);
const _: () = assert!(TX_RING_LEN.is_power_of_two() && TX_RING_LEN <= 512);

/// A descriptor in software style 2: buffer address, count and status, message count (RX) or
/// error bits (TX), and a word for the driver.
#[repr(C, align(16))]
#[derive(Clone, Copy, FromZeros)]
struct Desc {
    addr: u32,
    flags: u32,
    misc: u32,
    user: u32,
}

/// The initialization block with 32-bit addresses (SSIZE32), 28 bytes, dword aligned.
#[repr(C, align(4))]
#[derive(Clone, Copy, FromZeros)]
struct InitBlock {
    mode: u16,
    /// log2 of the RX ring length, in the upper nibble.
    rlen: u8,
    tlen: u8,
    padr: [u8; 6],
    reserved: u16,
    /// Logical (multicast hash) address filter: all zero, no multicast.
    ladrf: [u8; 8],
    rdra: u32,
    tdra: u32,
}

/// All memory the chip reads and writes: 62 112 bytes, 16-byte aligned, below 4 GiB (the
/// chip's addresses are 32 bits).
#[repr(C, align(16))]
#[derive(FromZeros)]
pub struct PcnetBuffers {
    rx_desc: [Desc; RX_RING_LEN],
    tx_desc: [Desc; TX_RING_LEN],
    init: InitBlock,
    rx_buf: [[u8; BUF_LEN]; RX_RING_LEN],
    tx_buf: [[u8; BUF_LEN]; TX_RING_LEN],
}

/// Shortest message count accepted: a minimum frame plus FCS.
const MIN_RX_LEN: usize = MIN_FRAME_LEN + 4;
/// Longest: 1514 bytes, a VLAN tag and the FCS.
const MAX_RX_LEN: usize = 1522;
/// Polls of CSR0 for IDON after INIT. The chip reads a 28-byte block: microseconds.
const INIT_POLLS: u32 = 100_000;
/// A buffer's byte count as the chip takes it: negative (two's complement), ONES above it.
const fn bcnt(len: usize) -> u32 {
    (len as u32).wrapping_neg() & DESC_BCNT_MASK | DESC_ONES
}

/// How the chip's registers are reached (see the module's notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    Word,
    Dword,
}

/// An open PCnet.
pub struct Pcnet<'a, P: PortIo, D: Dma> {
    io: P,
    dma: D,
    id: &'static PciId,
    mode: IoMode,
    chip: &'static str,
    mac: MacAddress,
    /// The caller's buffers; shared with the chip, so only touched through raw pointers.
    mem: NonNull<PcnetBuffers>,
    _mem: PhantomData<&'a mut PcnetBuffers>,
    /// Next RX descriptor the chip fills.
    rx_next: usize,
    /// Next TX descriptor to fill, and the oldest not yet seen sent.
    tx_next: usize,
    tx_clean: usize,
    tx_in_flight: usize,
    is_open: bool,
}

impl<'a, P: PortIo, D: Dma> Pcnet<'a, P, D> {
    /// Reset the chip, find its I/O mode, read the MAC from the address PROM, and start it
    /// with both rings. `io` is the I/O BAR (32 ports); the caller has enabled I/O decoding and
    /// bus mastering. Interrupts stay off (INEA clear, every source masked).
    pub fn open(
        id: &'static PciId,
        io: P,
        dma: D,
        buffers: &'a mut PcnetBuffers,
    ) -> Result<Self, NicError> {
        let mem = NonNull::from(buffers);
        let start = dma.phys_addr(mem.as_ptr().cast());
        let size = core::mem::size_of::<PcnetBuffers>() as u64;
        if !start.is_multiple_of(16) || start + size > 1 << 32 {
            return Err(NicError::BadDmaAddress);
        }
        let mut io = io;
        let mode = reset(&mut io).ok_or(NicError::Timeout)?;
        let mut nic = Pcnet {
            io,
            dma,
            id,
            mode,
            chip: "PCnet",
            mac: [0; 6],
            mem,
            _mem: PhantomData,
            rx_next: 0,
            tx_next: 0,
            tx_clean: 0,
            tx_in_flight: 0,
            is_open: true,
        };
        nic.mac = nic.read_aprom();
        nic.chip = chip_name(nic.csr_read(CSR88), nic.csr_read(CSR89));
        if !is_usable_mac(&nic.mac) {
            nic.close();
            return Err(NicError::NoMacAddress);
        }
        if let Err(error) = nic.start() {
            nic.close();
            return Err(error);
        }
        Ok(nic)
    }

    /// The registry entry this card was opened with.
    pub fn id(&self) -> &'static PciId {
        self.id
    }

    /// The I/O mode the chip was found in.
    pub fn io_mode(&self) -> IoMode {
        self.mode
    }

    /// The chip's part, from its ID registers, e.g. "Am79C970A".
    pub fn chip(&self) -> &'static str {
        self.chip
    }

    fn rap_write(&mut self, register: u16) {
        match self.mode {
            IoMode::Word => self.io.write16(WIO_RAP, register),
            IoMode::Dword => self.io.write32(DWIO_RAP, u32::from(register)),
        }
    }

    fn rdp_write(&mut self, value: u16) {
        match self.mode {
            IoMode::Word => self.io.write16(WIO_RDP, value),
            IoMode::Dword => self.io.write32(DWIO_RDP, u32::from(value)),
        }
    }

    fn rdp_read(&mut self) -> u16 {
        match self.mode {
            IoMode::Word => self.io.read16(WIO_RDP),
            IoMode::Dword => self.io.read32(DWIO_RDP) as u16,
        }
    }

    fn csr_read(&mut self, register: u16) -> u16 {
        self.rap_write(register);
        self.rdp_read()
    }

    fn csr_write(&mut self, register: u16, value: u16) {
        self.rap_write(register);
        self.rdp_write(value);
    }

    fn bcr_read(&mut self, register: u16) -> u16 {
        self.rap_write(register);
        match self.mode {
            IoMode::Word => self.io.read16(WIO_BDP),
            IoMode::Dword => self.io.read32(DWIO_BDP) as u16,
        }
    }

    fn bcr_write(&mut self, register: u16, value: u16) {
        self.rap_write(register);
        match self.mode {
            IoMode::Word => self.io.write16(WIO_BDP, value),
            IoMode::Dword => self.io.write32(DWIO_BDP, u32::from(value)),
        }
    }

    fn read_aprom(&mut self) -> MacAddress {
        let mut mac = [0; 6];
        match self.mode {
            IoMode::Word => {
                for (i, byte) in mac.iter_mut().enumerate() {
                    *byte = self.io.read8(APROM + i as u16);
                }
            }
            IoMode::Dword => {
                let [a, b, c, d] = self.io.read32(APROM).to_le_bytes();
                let [e, f, _, _] = self.io.read32(APROM + 4).to_le_bytes();
                mac = [a, b, c, d, e, f];
            }
        }
        mac
    }

    fn desc(&self, rx: bool, i: usize) -> *mut Desc {
        // SAFETY: `mem` is valid for 'a; the index is bounds-checked by the array access.
        unsafe {
            if rx {
                &raw mut (*self.mem.as_ptr()).rx_desc[i]
            } else {
                &raw mut (*self.mem.as_ptr()).tx_desc[i]
            }
        }
    }

    fn buf(&self, rx: bool, i: usize) -> *mut u8 {
        // SAFETY: as in `desc`.
        unsafe {
            if rx {
                (&raw mut (*self.mem.as_ptr()).rx_buf[i]).cast()
            } else {
                (&raw mut (*self.mem.as_ptr()).tx_buf[i]).cast()
            }
        }
    }

    fn bus(&self, ptr: *const u8) -> u32 {
        self.dma.phys_addr(ptr) as u32 // below 4 GiB, checked at open
    }

    /// Word 1 of a descriptor (the chip writes it; volatile sees that).
    fn flags(&self, d: *const Desc) -> u32 {
        // SAFETY: `d` points into `mem`.
        unsafe { (&raw const (*d).flags).read_volatile() }
    }

    /// Hand RX descriptor `i` (back) to the chip: its buffer, then OWN last.
    fn arm_rx(&self, i: usize) {
        let d = self.desc(true, i);
        let addr = self.bus(self.buf(true, i));
        // SAFETY: `d` points into `mem`; the descriptor is ours (OWN clear, or chip stopped).
        unsafe {
            (&raw mut (*d).addr).write_volatile(addr);
            (&raw mut (*d).misc).write_volatile(0);
            dma_barrier();
            (&raw mut (*d).flags).write_volatile(DESC_OWN | bcnt(BUF_LEN));
        }
    }

    /// Software style, rings, init block; INIT, wait for IDON, then start.
    fn start(&mut self) -> Result<(), NicError> {
        self.bcr_write(BCR20, SWSTYLE_PCNET_PCI);
        for i in 0..RX_RING_LEN {
            self.arm_rx(i);
        }
        for i in 0..TX_RING_LEN {
            let d = self.desc(false, i);
            let addr = self.bus(self.buf(false, i));
            // SAFETY: `d` points into `mem`; the chip is stopped.
            unsafe {
                (&raw mut (*d).addr).write_volatile(addr);
                (&raw mut (*d).flags).write_volatile(DESC_ONES);
                (&raw mut (*d).misc).write_volatile(0);
            }
        }
        let init = InitBlock {
            mode: 0,
            rlen: (RX_RING_LEN.trailing_zeros() as u8) << 4,
            tlen: (TX_RING_LEN.trailing_zeros() as u8) << 4,
            padr: self.mac,
            reserved: 0,
            ladrf: [0; 8],
            rdra: self.bus(self.desc(true, 0).cast()),
            tdra: self.bus(self.desc(false, 0).cast()),
        };
        // SAFETY: `mem` is valid for 'a; the chip reads the block only after INIT below.
        let init_at = unsafe {
            let at = &raw mut (*self.mem.as_ptr()).init;
            at.write_volatile(init);
            at
        };
        dma_barrier();
        let iadr = self.bus(init_at.cast());
        self.csr_write(CSR1, iadr as u16);
        self.csr_write(CSR2, (iadr >> 16) as u16);
        self.csr_write(CSR3, CSR3_MASK_ALL);
        self.csr_write(CSR4, CSR4_MASKS | CSR4_DPOLL);
        self.csr_write(CSR0, CSR0_INIT);
        let mut polls = 0;
        while self.rdp_read() & CSR0_IDON == 0 {
            polls += 1;
            if polls > INIT_POLLS {
                return Err(NicError::Timeout);
            }
            core::hint::spin_loop();
        }
        // Clear IDON, start; RAP stays at CSR0 from here on (see the module's notes).
        self.rdp_write(CSR0_IDON | CSR0_STRT);
        self.rx_next = 0;
        self.tx_next = 0;
        self.tx_clean = 0;
        self.tx_in_flight = 0;
        Ok(())
    }

    /// Take back TX descriptors the chip has sent (oldest first).
    fn reclaim_tx(&mut self) {
        while self.tx_in_flight > 0 {
            if self.flags(self.desc(false, self.tx_clean)) & DESC_OWN != 0 {
                break;
            }
            self.tx_clean = (self.tx_clean + 1) % TX_RING_LEN;
            self.tx_in_flight -= 1;
        }
    }
}

/// S_RESET, and find out which I/O mode answers: the RAP reads back what was written and CSR0
/// shows STOP. A word read of the word-mode reset port resets a chip in word mode (the state
/// after power-on); one left in dword mode by a driver before us ignores it and is reset by
/// the dword read of its own reset port, after which a real chip is still in dword mode and
/// QEMU's in word mode. `None`: no mode answers (no chip, or a broken one).
fn reset(io: &mut impl PortIo) -> Option<IoMode> {
    io.read16(WIO_RESET);
    if word_mode_answers(io) {
        return Some(IoMode::Word);
    }
    io.read32(DWIO_RESET);
    if dword_mode_answers(io) {
        return Some(IoMode::Dword);
    }
    word_mode_answers(io).then_some(IoMode::Word)
}

fn word_mode_answers(io: &mut impl PortIo) -> bool {
    io.write16(WIO_RAP, CSR88);
    if io.read16(WIO_RAP) != CSR88 {
        return false;
    }
    io.write16(WIO_RAP, CSR0);
    io.read16(WIO_RDP) & (CSR0_STOP | CSR0_STRT) == CSR0_STOP
}

fn dword_mode_answers(io: &mut impl PortIo) -> bool {
    io.write32(DWIO_RAP, u32::from(CSR88));
    if io.read32(DWIO_RAP) & 0xFFFF != u32::from(CSR88) {
        return false;
    }
    io.write32(DWIO_RAP, u32::from(CSR0));
    io.read32(DWIO_RDP) as u16 & (CSR0_STOP | CSR0_STRT) == CSR0_STOP
}

/// The part from CSR88/89 (its number is in bits 12-27): AMD's datasheets.
fn chip_name(csr88: u16, csr89: u16) -> &'static str {
    let part = ((u32::from(csr89) << 16 | u32::from(csr88)) >> 12) & 0xFFFF;
    match part {
        0x2420 => "Am79C970 PCnet-PCI",
        0x2621 => "Am79C970A PCnet-PCI II",
        0x2623 => "Am79C971 PCnet-FAST",
        0x2624 => "Am79C972 PCnet-FAST+",
        0x2625 => "Am79C973 PCnet-FAST III",
        0x2626 => "Am79C978 PCnet-Home",
        0x2627 => "Am79C975 PCnet-FAST III",
        0x2628 => "Am79C976 PCnet-PRO",
        _ => "PCnet",
    }
}

impl<P: PortIo, D: Dma> Nic for Pcnet<'_, P, D> {
    fn name(&self) -> &'static str {
        self.chip
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        if !self.is_open {
            return false;
        }
        let led = self.bcr_read(BCR4);
        self.rap_write(CSR0);
        led & BCR_LED_ON != 0
    }

    fn can_transmit(&mut self) -> bool {
        if !self.is_open {
            return false;
        }
        self.reclaim_tx();
        self.tx_in_flight < TX_RING_LEN
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
        if self.tx_in_flight == TX_RING_LEN {
            return Err(NicError::Busy);
        }
        let slot = self.tx_next;
        // SAFETY: the slot is not in flight, so the chip does not read its buffer; nothing
        // else refers to it while the slice lives.
        let frame = unsafe { core::slice::from_raw_parts_mut(self.buf(false, slot), BUF_LEN) };
        fill(&mut frame[..len]);
        let sent = len.max(MIN_FRAME_LEN);
        frame[len..sent].fill(0);
        let d = self.desc(false, slot);
        dma_barrier();
        // SAFETY: `d` points into `mem` and is ours (OWN clear); OWN goes last.
        unsafe {
            (&raw mut (*d).misc).write_volatile(0);
            dma_barrier();
            (&raw mut (*d).flags).write_volatile(DESC_OWN | DESC_STP | DESC_ENP | bcnt(sent));
        }
        dma_barrier();
        self.rdp_write(CSR0_TDMD); // RAP is at CSR0
        self.tx_next = (slot + 1) % TX_RING_LEN;
        self.tx_in_flight += 1;
        Ok(())
    }

    fn receive_with(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        if !self.is_open {
            return false;
        }
        // At most a ring's worth of descriptors per call; the first good frame ends it.
        for _ in 0..RX_RING_LEN {
            let i = self.rx_next;
            let d = self.desc(true, i);
            let mut flags = self.flags(d);
            if flags & DESC_OWN != 0 {
                return false;
            }
            if flags & (DESC_STP | DESC_ENP) == DESC_STP {
                // QEMU hands a descriptor back in two writes: OWN clear first, ENP and the
                // count after. A register read waits for its device model to finish; then
                // look again (a chip writes the descriptor once: this one really ends later).
                self.rdp_read();
                flags = self.flags(d);
            }
            dma_barrier();
            // SAFETY: `d` points into `mem`; the chip has handed it back.
            let count = unsafe { (&raw const (*d).misc).read_volatile() } & RMD2_MCNT_MASK;
            // A frame in one buffer only: the buffers hold the longest frame, so pieces of one
            // spread over several (a corrupt ring) are dropped, each without STP and ENP both.
            let good = flags & (DESC_STP | DESC_ENP | DESC_ERR) == DESC_STP | DESC_ENP
                && (MIN_RX_LEN..=MAX_RX_LEN).contains(&(count as usize));
            if good {
                // SAFETY: the chip has handed the buffer back (OWN clear) and gets it again
                // only in `arm_rx` below; count <= MAX_RX_LEN < BUF_LEN.
                let frame =
                    unsafe { core::slice::from_raw_parts(self.buf(true, i), count as usize - 4) };
                f(frame);
            }
            self.arm_rx(i);
            self.rx_next = (i + 1) % RX_RING_LEN;
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
        // STOP ends all DMA at once; RAP is at CSR0.
        self.rap_write(CSR0);
        self.rdp_write(CSR0_STOP);
        self.is_open = false;
    }
}

impl<P: PortIo, D: Dma> Drop for Pcnet<'_, P, D> {
    fn drop(&mut self) {
        self.close();
    }
}
