//! Intel 8254x/8257x gigabit cards through the legacy register set and legacy descriptors
//! (QEMU `e1000`, `e1000-82545em`, `e1000e`; Bochs `e1000`).
//!
//! One RX ring of [`RX_RING_LEN`] 2048-byte buffers and one TX ring of [`TX_RING_LEN`]
//! buffers, all in an [`E1000Buffers`] the caller provides. RX: the card fills descriptors from
//! RDH up to (not including) RDT and sets DD; the driver takes them in order and gives each back
//! by moving RDT onto it. TX: the driver writes descriptors at TDT and advances it; a descriptor
//! is free again once the card has set DD in it (RS asks for that).

mod ids;
#[cfg(any(test, feature = "testing"))]
pub mod model;
mod regs;
#[cfg(test)]
mod tests;

use core::marker::PhantomData;
use core::ptr::NonNull;

pub use ids::{Chip, EepromLayout, INTEL_VENDOR_ID, SUPPORTED_IDS, probe};
use zerocopy::FromZeros;

use crate::hw::{Delay, Dma, IdentityDma, Mmio, MmioRegion, dma_barrier};
use crate::registry::{DmaArena, Driver, Found, Machine, OpenError, dma_len};
use crate::{MIN_FRAME_LEN, MacAddress, Nic, NicError, check_tx_len, is_usable_mac};

/// This driver's line in the registry.
pub const DRIVER: Driver = Driver {
    name: "e1000",
    family: "Intel e1000/e1000e (82540-82583)",
    pci_ids: SUPPORTED_IDS,
    find: None,
    dma_len: dma_len::<E1000Buffers, E1000<'static, MmioRegion, IdentityDma>>(),
    open: open_found,
};

/// [`DRIVER`]'s `open`: BAR0 as the registers, buffers from the DMA pool.
fn open_found(
    card: &Found,
    machine: &mut dyn Machine,
    mut dma: DmaArena,
) -> Result<&'static mut dyn Nic, OpenError> {
    let function = card.pci()?;
    let chip = probe(function.vendor_id, function.device_id).ok_or(NicError::UnsupportedDevice)?;
    let base = function.memory_bar(0, MMIO_LEN)?;
    // SAFETY: BAR0 of this card, below 4 GiB (checked), which the runtime identity-maps
    // uncached; nothing else drives the card.
    let regs = unsafe { MmioRegion::new(base, MMIO_LEN) };
    let buffers = dma.zeroed::<E1000Buffers>()?;
    let nic = E1000::open(chip, regs, IdentityDma, buffers, &mut machine.delay())?;
    Ok(dma.keep(nic)?)
}
use regs::*;

/// RX descriptors (a multiple of 8, as RDLEN must be a multiple of 128 bytes).
pub const RX_RING_LEN: usize = 256;
/// TX descriptors (a multiple of 8).
pub const TX_RING_LEN: usize = 16;
/// RX descriptors are handed back in batches of this many, one RDT write each (as Linux's
/// e1000 does): the card always keeps at least `RX_RING_LEN - RX_RETURN_BATCH` of them, and
/// an RDT write is not free. QEMU's e1000 wakes its main loop on each one (it flushes its
/// queued packets), which took several microseconds per frame in lockstep TFTP.
pub const RX_RETURN_BATCH: usize = 32;
const _: () = assert!(RX_RING_LEN.is_multiple_of(RX_RETURN_BATCH) && RX_RETURN_BATCH < RX_RING_LEN);
/// RX buffer size, as programmed in RCTL.BSIZE.
pub const RX_BUF_LEN: usize = 2048;
/// TX buffer size: one whole frame (no jumbo frames), a multiple of 16.
pub const TX_BUF_LEN: usize = 1536;
/// Size of the e1000 register BAR (BAR0, memory).
pub const MMIO_LEN: usize = 128 * 1024;

/// Legacy receive descriptor (manual 3.2.3), written by the card.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy, FromZeros)]
pub struct RxDesc {
    addr: u64,
    len: u16,
    checksum: u16,
    status: u8,
    errors: u8,
    special: u16,
}

/// Legacy transmit descriptor (manual 3.3.3).
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy, FromZeros)]
pub struct TxDesc {
    addr: u64,
    len: u16,
    cso: u8,
    cmd: u8,
    status: u8,
    css: u8,
    special: u16,
}

/// All memory the card reads and writes: 553 216 bytes, 128-byte aligned. The runtime zeroes
/// one in place in its DMA area (upper memory, below 4 GiB); its bus address must equal what
/// the [`Dma`] map says (identity in the runtime).
#[repr(C, align(128))]
#[derive(FromZeros)]
pub struct E1000Buffers {
    rx_desc: [RxDesc; RX_RING_LEN],
    tx_desc: [TxDesc; TX_RING_LEN],
    rx_buf: [[u8; RX_BUF_LEN]; RX_RING_LEN],
    tx_buf: [[u8; TX_BUF_LEN]; TX_RING_LEN],
}

impl E1000Buffers {
    pub const fn new() -> Self {
        const RX: RxDesc = RxDesc {
            addr: 0,
            len: 0,
            checksum: 0,
            status: 0,
            errors: 0,
            special: 0,
        };
        const TX: TxDesc = TxDesc {
            addr: 0,
            len: 0,
            cso: 0,
            cmd: 0,
            status: 0,
            css: 0,
            special: 0,
        };
        E1000Buffers {
            rx_desc: [RX; RX_RING_LEN],
            tx_desc: [TX; TX_RING_LEN],
            rx_buf: [[0; RX_BUF_LEN]; RX_RING_LEN],
            tx_buf: [[0; TX_BUF_LEN]; TX_RING_LEN],
        }
    }
}

impl Default for E1000Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Polls for CTRL.RST to clear: 100 × 100 µs after the first 1 ms.
const RESET_POLLS: u32 = 100;
/// Polls for an EEPROM word: 1000 × 5 µs.
const EEPROM_POLLS: u32 = 1000;

/// An open e1000-family card.
pub struct E1000<'a, R: Mmio, D: Dma> {
    regs: R,
    dma: D,
    chip: &'static Chip,
    mac: MacAddress,
    /// The caller's buffers; shared with the card, so only touched through raw pointers.
    mem: NonNull<E1000Buffers>,
    _mem: PhantomData<&'a mut E1000Buffers>,
    /// Next RX descriptor the card will complete.
    rx_next: usize,
    /// Dropping the rest of a frame that spans descriptors (cannot happen with 2048-byte
    /// buffers and long packets off, but a corrupt ring must not make us hand up a tail).
    rx_discarding: bool,
    /// Next TX descriptor to fill (mirrors TDT).
    tx_tail: usize,
    /// Oldest TX descriptor not yet seen done.
    tx_clean: usize,
    is_open: bool,
}

impl<'a, R: Mmio, D: Dma> E1000<'a, R, D> {
    /// Reset the card, read its MAC, set link up, arm both rings and enable RX/TX.
    /// `regs` is BAR0 ([`MMIO_LEN`] bytes); the caller has enabled memory decoding and bus
    /// mastering in the PCI command register. Interrupts stay masked.
    pub fn open(
        chip: &'static Chip,
        mut regs: R,
        dma: D,
        buffers: &'a mut E1000Buffers,
        delay: &mut impl Delay,
    ) -> Result<Self, NicError> {
        let mem = NonNull::from(buffers);
        if dma.phys_addr(mem.as_ptr().cast()) % 128 != 0 {
            return Err(NicError::BadDmaAddress);
        }
        reset(&mut regs, delay)?;
        let mac = read_mac(&mut regs, chip, delay)?;
        let mut nic = E1000 {
            regs,
            dma,
            chip,
            mac,
            mem,
            _mem: PhantomData,
            rx_next: 0,
            rx_discarding: false,
            tx_tail: 0,
            tx_clean: 0,
            is_open: true,
        };
        nic.start();
        Ok(nic)
    }

    /// Program the MAC filter, link, rings and enables (the card is freshly reset).
    fn start(&mut self) {
        let [m0, m1, m2, m3, m4, m5] = self.mac;
        self.regs
            .write32(RAL0, u32::from_le_bytes([m0, m1, m2, m3]));
        self.regs
            .write32(RAH0, u32::from_le_bytes([m4, m5, 0, 0]) | RAH_AV);
        for i in 0..MTA_COUNT {
            self.regs.write32(MTA + 4 * i, 0);
        }

        let ctrl = self.regs.read32(CTRL);
        let clear = CTRL_LRST | CTRL_PHY_RST | CTRL_ILOS | CTRL_VME | CTRL_FRCSPD | CTRL_FRCDPLX;
        self.regs
            .write32(CTRL, (ctrl & !clear) | CTRL_SLU | CTRL_ASDE);

        for i in 0..RX_RING_LEN {
            let buf = self.rx_buf(i).cast::<u8>();
            let addr = self.dma.phys_addr(buf);
            let d = self.rx_desc(i);
            // SAFETY: `d` points into the buffers we own; the card is not yet receiving.
            unsafe {
                (&raw mut (*d).addr).write_volatile(addr);
                (&raw mut (*d).status).write_volatile(0);
            }
        }
        for i in 0..TX_RING_LEN {
            let d = self.tx_desc(i);
            // SAFETY: as above; the card is not yet transmitting.
            unsafe {
                d.write_volatile(TxDesc {
                    addr: 0,
                    len: 0,
                    cso: 0,
                    cmd: 0,
                    status: 0,
                    css: 0,
                    special: 0,
                })
            };
        }
        dma_barrier();

        let rx_ring = self.dma.phys_addr(self.rx_desc(0).cast());
        self.regs.write32(RDBAL, rx_ring as u32);
        self.regs.write32(RDBAH, (rx_ring >> 32) as u32);
        self.regs.write32(RDLEN, (RX_RING_LEN * 16) as u32);
        self.regs.write32(RDH, 0);
        // All descriptors but one belong to the card: RDT == RDH would mean "ring empty".
        self.regs.write32(RDT, (RX_RING_LEN - 1) as u32);
        self.regs
            .write32(RCTL, RCTL_EN | RCTL_BAM | RCTL_BSIZE_2048 | RCTL_SECRC);

        let tx_ring = self.dma.phys_addr(self.tx_desc(0).cast());
        self.regs.write32(TDBAL, tx_ring as u32);
        self.regs.write32(TDBAH, (tx_ring >> 32) as u32);
        self.regs.write32(TDLEN, (TX_RING_LEN * 16) as u32);
        self.regs.write32(TDH, 0);
        self.regs.write32(TDT, 0);
        self.regs.write32(TIPG, TIPG_DEFAULT);
        self.regs
            .write32(TCTL, TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD);
    }

    /// The chip entry this card was opened with.
    pub fn chip(&self) -> &'static Chip {
        self.chip
    }

    fn rx_desc(&self, i: usize) -> *mut RxDesc {
        // SAFETY: `mem` is valid for 'a; `i` < RX_RING_LEN (array index is bounds-checked).
        unsafe { &raw mut (*self.mem.as_ptr()).rx_desc[i] }
    }

    fn tx_desc(&self, i: usize) -> *mut TxDesc {
        // SAFETY: as in `rx_desc`.
        unsafe { &raw mut (*self.mem.as_ptr()).tx_desc[i] }
    }

    fn rx_buf(&self, i: usize) -> *mut [u8; RX_BUF_LEN] {
        // SAFETY: as in `rx_desc`.
        unsafe { &raw mut (*self.mem.as_ptr()).rx_buf[i] }
    }

    fn tx_buf(&self, i: usize) -> *mut [u8; TX_BUF_LEN] {
        // SAFETY: as in `rx_desc`.
        unsafe { &raw mut (*self.mem.as_ptr()).tx_buf[i] }
    }

    /// Move `tx_clean` past every descriptor the card has finished.
    fn reclaim_tx(&mut self) {
        while self.tx_clean != self.tx_tail {
            let d = self.tx_desc(self.tx_clean);
            // SAFETY: the card writes DD into this descriptor; volatile sees its write.
            let status = unsafe { (&raw const (*d).status).read_volatile() };
            if status & DESC_DD == 0 {
                break;
            }
            self.tx_clean = (self.tx_clean + 1) % TX_RING_LEN;
        }
    }

    fn tx_ring_full(&self) -> bool {
        (self.tx_tail + 1) % TX_RING_LEN == self.tx_clean
    }

    /// Give RX descriptor `i` back to the card: its status is cleared now, RDT moves once per
    /// [`RX_RETURN_BATCH`] descriptors.
    fn recycle_rx(&mut self, i: usize) {
        let d = self.rx_desc(i);
        // SAFETY: descriptor `i` is ours (DD set, not yet returned) until RDT moves onto it.
        unsafe { (&raw mut (*d).status).write_volatile(0) };
        self.rx_next = (i + 1) % RX_RING_LEN;
        if self.rx_next.is_multiple_of(RX_RETURN_BATCH) {
            dma_barrier();
            self.regs.write32(RDT, i as u32);
        }
    }
}

impl<R: Mmio, D: Dma> Nic for E1000<'_, R, D> {
    fn name(&self) -> &'static str {
        self.chip.name
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    fn link_up(&mut self) -> bool {
        self.regs.read32(STATUS) & STATUS_LU != 0
    }

    fn can_transmit(&mut self) -> bool {
        if !self.is_open {
            return false;
        }
        self.reclaim_tx();
        !self.tx_ring_full()
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
        if self.tx_ring_full() {
            return Err(NicError::Busy);
        }
        let i = self.tx_tail;
        let buf = self.tx_buf(i);
        // SAFETY: TX buffer `i` is not owned by the card (its descriptor is past TDT), and
        // nothing else refers to it while the slice lives.
        let frame = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), TX_BUF_LEN) };
        fill(&mut frame[..len]);
        let sent = len.max(MIN_FRAME_LEN);
        frame[len..sent].fill(0);

        let addr = self.dma.phys_addr(buf.cast());
        let d = self.tx_desc(i);
        let desc = TxDesc {
            addr,
            len: sent as u16,
            cso: 0,
            cmd: TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS,
            status: 0,
            css: 0,
            special: 0,
        };
        // SAFETY: descriptor `i` is ours until TDT moves past it.
        unsafe { d.write_volatile(desc) };
        dma_barrier();
        self.tx_tail = (i + 1) % TX_RING_LEN;
        self.regs.write32(TDT, self.tx_tail as u32);
        Ok(())
    }

    fn receive_with(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        if !self.is_open {
            return false;
        }
        // At most one ring's worth of bad descriptors per call, so a call always ends.
        for _ in 0..RX_RING_LEN {
            let i = self.rx_next;
            let d = self.rx_desc(i);
            // SAFETY: the card writes this descriptor; volatile sees its writes.
            let status = unsafe { (&raw const (*d).status).read_volatile() };
            if status & DESC_DD == 0 {
                return false;
            }
            dma_barrier();
            // SAFETY: DD is set, so the card is done with descriptor `i` and its buffer.
            let (len, errors) = unsafe {
                (
                    (&raw const (*d).len).read_volatile(),
                    (&raw const (*d).errors).read_volatile(),
                )
            };
            let end_of_frame = status & RXD_EOP != 0;
            let good = !self.rx_discarding
                && end_of_frame
                && errors & RXD_ERR_FRAME == 0
                && len != 0
                && usize::from(len) <= RX_BUF_LEN;
            self.rx_discarding = !end_of_frame;
            if good {
                // SAFETY: the buffer is ours until `recycle_rx`; `len` was bounds-checked.
                let frame = unsafe {
                    core::slice::from_raw_parts(self.rx_buf(i).cast::<u8>(), usize::from(len))
                };
                f(frame);
            }
            self.recycle_rx(i);
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
        self.regs.write32(RCTL, 0);
        self.regs.write32(TCTL, 0);
        self.regs.write32(IMC, !0);
        // A reset stops all DMA for good; it completes on its own within microseconds.
        let ctrl = self.regs.read32(CTRL);
        self.regs.write32(CTRL, ctrl | CTRL_RST);
        self.is_open = false;
    }
}

impl<R: Mmio, D: Dma> Drop for E1000<'_, R, D> {
    fn drop(&mut self) {
        self.close();
    }
}

/// Stop RX/TX, mask interrupts and reset the MAC; wait for the reset to finish.
fn reset(regs: &mut impl Mmio, delay: &mut impl Delay) -> Result<(), NicError> {
    regs.write32(IMC, !0);
    regs.write32(RCTL, 0);
    regs.write32(TCTL, 0);
    regs.read32(STATUS); // flush the posted writes
    delay.delay_us(1000); // let DMA in flight finish before the reset
    let ctrl = regs.read32(CTRL);
    regs.write32(CTRL, ctrl | CTRL_RST);
    delay.delay_us(1000);
    let mut polls = 0;
    while regs.read32(CTRL) & CTRL_RST != 0 {
        polls += 1;
        if polls > RESET_POLLS {
            return Err(NicError::Timeout);
        }
        delay.delay_us(100);
    }
    regs.write32(IMC, !0); // a reset leaves interrupts masked, but be explicit
    regs.read32(ICR); // reading ICR clears any pending cause
    Ok(())
}

/// The MAC from RAL0/RAH0 (the card loads it there from the EEPROM at reset; QEMU always
/// does), else from EEPROM words 0-2.
fn read_mac(
    regs: &mut impl Mmio,
    chip: &Chip,
    delay: &mut impl Delay,
) -> Result<MacAddress, NicError> {
    let [a, b, c, d] = regs.read32(RAL0).to_le_bytes();
    let [e, f, _, _] = regs.read32(RAH0).to_le_bytes();
    let mac = [a, b, c, d, e, f];
    if is_usable_mac(&mac) {
        return Ok(mac);
    }
    let (done_bit, addr_shift) = EepromLayout::of(chip).eerd_bits().ok_or(NoMac)?;
    let mut mac = [0u8; 6];
    for (word, pair) in mac.chunks_exact_mut(2).enumerate() {
        let value = read_eeprom_word(regs, word as u32, done_bit, addr_shift, delay)?;
        pair.copy_from_slice(&value.to_le_bytes());
    }
    if is_usable_mac(&mac) {
        Ok(mac)
    } else {
        Err(NoMac)
    }
}

use NicError::NoMacAddress as NoMac;

fn read_eeprom_word(
    regs: &mut impl Mmio,
    word: u32,
    done_bit: u32,
    addr_shift: u32,
    delay: &mut impl Delay,
) -> Result<u16, NicError> {
    regs.write32(EERD, (word << addr_shift) | EERD_START);
    for _ in 0..EEPROM_POLLS {
        let value = regs.read32(EERD);
        if value & done_bit != 0 {
            return Ok((value >> EERD_DATA_SHIFT) as u16);
        }
        delay.delay_us(5);
    }
    Err(NicError::Timeout)
}
