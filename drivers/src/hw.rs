//! The hardware edge: register access, the DMA address map and delays.
//!
//! Drivers only see these traits, so the host tests can put a model of the chip behind them.
//! The machine implementations ([`MmioRegion`], [`PortRegion`], [`IdentityDma`]) are here too,
//! because they are a few volatile accesses and `in`/`out` instructions.

/// 32-bit memory-mapped registers, addressed by byte offset from the BAR (e1000).
pub trait Mmio {
    fn read32(&mut self, offset: u32) -> u32;
    fn write32(&mut self, offset: u32, value: u32);
}

/// I/O-port registers, addressed by offset from the I/O BAR (rtl8139, pcnet, ne2k, eepro100).
pub trait PortIo {
    fn read8(&mut self, offset: u16) -> u8;
    fn read16(&mut self, offset: u16) -> u16;
    fn read32(&mut self, offset: u16) -> u32;
    fn write8(&mut self, offset: u16, value: u8);
    fn write16(&mut self, offset: u16, value: u16);
    fn write32(&mut self, offset: u16, value: u32);

    /// `buf.len() / 2` 16-bit reads of one port (a data port that streams a block), stored
    /// little-endian into `buf` (even length). The machine does it with one `rep insw`.
    fn read16_into(&mut self, offset: u16, buf: &mut [u8]) {
        for pair in buf.chunks_exact_mut(2) {
            pair.copy_from_slice(&self.read16(offset).to_le_bytes());
        }
    }

    /// `buf.len() / 2` 16-bit writes of `buf`'s little-endian words to one port (`rep outsw`).
    fn write16_from(&mut self, offset: u16, buf: &[u8]) {
        for pair in buf.chunks_exact(2) {
            self.write16(offset, u16::from_le_bytes([pair[0], pair[1]]));
        }
    }

    /// As [`PortIo::read16_into`] with 32-bit reads (`rep insd`; `buf.len()` a multiple of 4).
    fn read32_into(&mut self, offset: u16, buf: &mut [u8]) {
        for quad in buf.chunks_exact_mut(4) {
            quad.copy_from_slice(&self.read32(offset).to_le_bytes());
        }
    }

    /// As [`PortIo::write16_from`] with 32-bit writes (`rep outsd`).
    fn write32_from(&mut self, offset: u16, buf: &[u8]) {
        for quad in buf.chunks_exact(4) {
            self.write32(
                offset,
                u32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]),
            );
        }
    }
}

/// Where the identity map the runtime runs on ends: a card's registers (memory BARs) must lie
/// below it. The BIOS runtime builds its own page tables over 0..4 GiB. netloader.efi runs on
/// the firmware's, which map the whole physical address space (EDK2's DXE IPL maps every
/// address up to the CPU's physical address width, OVMF's 64-bit PCI aperture included, where
/// it puts virtio's 64-bit BARs), and closes the card before the kernel gets the machine.
pub const IDENTITY_MAP_END: u64 = if cfg!(target_os = "uefi") {
    u64::MAX
} else {
    1 << 32
};

/// The bus address a card must be given for memory the CPU sees at `virt`.
/// In the runtime (identity map below 4 GiB, no IOMMU) it is the address itself.
pub trait Dma {
    fn phys_addr(&self, virt: *const u8) -> u64;
}

/// Busy-wait for at least `us` microseconds (the runtime uses its calibrated TSC).
pub trait Delay {
    fn delay_us(&mut self, us: u32);
}

impl<D: Delay + ?Sized> Delay for &mut D {
    fn delay_us(&mut self, us: u32) {
        (**self).delay_us(us)
    }
}

/// Identity mapping: bus address = virtual address.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityDma;

impl Dma for IdentityDma {
    fn phys_addr(&self, virt: *const u8) -> u64 {
        virt as usize as u64
    }
}

/// A memory BAR mapped at `base` (identity-mapped in the runtime).
#[derive(Debug)]
pub struct MmioRegion {
    base: *mut u8,
    len: usize,
}

impl MmioRegion {
    /// # Safety
    /// `base..base+len` must be the card's register BAR, mapped uncached, used by nothing else.
    pub unsafe fn new(base: usize, len: usize) -> Self {
        MmioRegion {
            base: base as *mut u8,
            len,
        }
    }

    fn reg(&self, offset: u32) -> *mut u32 {
        let offset = offset as usize;
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "MMIO offset out of the BAR"
        );
        // SAFETY: in bounds of the BAR by the assert above and the contract of `new`.
        unsafe { self.base.add(offset).cast::<u32>() }
    }
}

impl Mmio for MmioRegion {
    fn read32(&mut self, offset: u32) -> u32 {
        // SAFETY: `reg` checked the offset; device registers need volatile access.
        unsafe { self.reg(offset).read_volatile() }
    }

    fn write32(&mut self, offset: u32, value: u32) {
        // SAFETY: as in `read32`.
        unsafe { self.reg(offset).write_volatile(value) }
    }
}

/// An I/O BAR starting at port `base`.
#[derive(Debug, Clone, Copy)]
pub struct PortRegion {
    base: u16,
}

impl PortRegion {
    /// # Safety
    /// `base` must be the card's I/O BAR; no one else may use those ports.
    pub unsafe fn new(base: u16) -> Self {
        PortRegion { base }
    }
}

/// `rep outs*` reads from ESI/RSI, which 32-bit x86 cannot name as an asm operand (LLVM keeps
/// ESI for itself): the block swaps its own register into it and back.
#[cfg(target_arch = "x86_64")]
macro_rules! from_source {
    ($instruction:literal) => {
        concat!("xchg {src}, rsi\n", $instruction, "\nmov rsi, {src}")
    };
}
#[cfg(target_arch = "x86")]
macro_rules! from_source {
    ($instruction:literal) => {
        concat!("xchg {src}, esi\n", $instruction, "\nmov esi, {src}")
    };
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
impl PortIo for PortRegion {
    fn read8(&mut self, offset: u16) -> u8 {
        let value: u8;
        // SAFETY: port I/O on the card's own BAR (contract of `new`). Not `nomem`: keeps it
        // ordered with the reads of DMA memory that follow a status check.
        unsafe {
            core::arch::asm!("in al, dx", out("al") value, in("dx") self.base.wrapping_add(offset),
                options(nostack, preserves_flags))
        };
        value
    }

    fn read16(&mut self, offset: u16) -> u16 {
        let value: u16;
        // SAFETY: as in `read8`.
        unsafe {
            core::arch::asm!("in ax, dx", out("ax") value, in("dx") self.base.wrapping_add(offset),
                options(nostack, preserves_flags))
        };
        value
    }

    fn read32(&mut self, offset: u16) -> u32 {
        let value: u32;
        // SAFETY: as in `read8`.
        unsafe {
            core::arch::asm!("in eax, dx", out("eax") value, in("dx") self.base.wrapping_add(offset),
                options(nostack, preserves_flags))
        };
        value
    }

    fn write8(&mut self, offset: u16, value: u8) {
        // SAFETY: as in `read8`. Not `nomem`: a port write can start DMA that reads memory.
        unsafe {
            core::arch::asm!("out dx, al", in("dx") self.base.wrapping_add(offset), in("al") value,
                options(nostack, preserves_flags))
        };
    }

    fn write16(&mut self, offset: u16, value: u16) {
        // SAFETY: as in `write8`.
        unsafe {
            core::arch::asm!("out dx, ax", in("dx") self.base.wrapping_add(offset), in("ax") value,
                options(nostack, preserves_flags))
        };
    }

    fn write32(&mut self, offset: u16, value: u32) {
        // SAFETY: as in `write8`.
        unsafe {
            core::arch::asm!("out dx, eax", in("dx") self.base.wrapping_add(offset), in("eax") value,
                options(nostack, preserves_flags))
        };
    }

    fn read16_into(&mut self, offset: u16, buf: &mut [u8]) {
        // SAFETY: port I/O on the card's own BAR; `rep insw` writes `buf.len() / 2` words at
        // `buf`, which we borrow mutably (DF is clear, as the ABI guarantees).
        unsafe {
            core::arch::asm!("rep insw", in("dx") self.base.wrapping_add(offset),
                inout("rdi") buf.as_mut_ptr() => _, inout("rcx") buf.len() / 2 => _,
                options(nostack, preserves_flags))
        };
    }

    fn write16_from(&mut self, offset: u16, buf: &[u8]) {
        // SAFETY: port I/O on the card's own BAR; `rep outsw` reads `buf.len() / 2` words
        // from `buf`, which we borrow.
        unsafe {
            core::arch::asm!(from_source!("rep outsw"), in("dx") self.base.wrapping_add(offset),
                src = inout(reg) buf.as_ptr() => _, inout("rcx") buf.len() / 2 => _,
                options(nostack, preserves_flags, readonly))
        };
    }

    fn read32_into(&mut self, offset: u16, buf: &mut [u8]) {
        // SAFETY: as in `read16_into`, `buf.len() / 4` dwords.
        unsafe {
            core::arch::asm!("rep insd", in("dx") self.base.wrapping_add(offset),
                inout("rdi") buf.as_mut_ptr() => _, inout("rcx") buf.len() / 4 => _,
                options(nostack, preserves_flags))
        };
    }

    fn write32_from(&mut self, offset: u16, buf: &[u8]) {
        // SAFETY: as in `write16_from`, `buf.len() / 4` dwords.
        unsafe {
            core::arch::asm!(from_source!("rep outsd"), in("dx") self.base.wrapping_add(offset),
                src = inout(reg) buf.as_ptr() => _, inout("rcx") buf.len() / 4 => _,
                options(nostack, preserves_flags, readonly))
        };
    }
}

/// Order the CPU's writes to DMA memory before a doorbell write, and a status read before the
/// data reads that follow it. On x86 this is mostly a compiler barrier; cheap either way.
#[inline]
pub(crate) fn dma_barrier() {
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}
