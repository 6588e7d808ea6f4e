//! Host-side stand-ins for the machine: a fake bus-address map, a no-op delay, and a chip
//! model shared between a test and the driver. The chip models live beside their drivers
//! (`e1000::model`, `rtl8139::model`, ...).

use std::cell::{Cell, RefCell, RefMut};
use std::rc::Rc;

use crate::hw::{Delay, Dma, PortIo};

/// A block of host memory that the "card" sees at a made-up bus address, so that a driver
/// that hands the card a virtual address instead of a bus address fails the tests.
#[derive(Debug, Clone, Copy)]
pub struct DmaWindow {
    host_base: usize,
    bus_base: u64,
    len: usize,
}

impl DmaWindow {
    /// The window over `mem` (e.g. the driver's buffer struct), seen by the card at `bus_base`.
    pub fn over<T>(mem: &mut T, bus_base: u64) -> Self {
        DmaWindow {
            host_base: mem as *mut T as usize,
            bus_base,
            len: core::mem::size_of::<T>(),
        }
    }

    /// Host pointer for `len` bytes at bus address `bus`. Panics (fails the test) when the card
    /// is pointed outside the memory it was given.
    pub fn host(&self, bus: u64, len: usize) -> *mut u8 {
        let offset = bus
            .checked_sub(self.bus_base)
            .unwrap_or_else(|| panic!("DMA to bus address {bus:#x} below the window"))
            as usize;
        assert!(
            offset + len <= self.len,
            "DMA of {len} bytes at bus address {bus:#x} runs past the window"
        );
        (self.host_base + offset) as *mut u8
    }

    /// Copy `data` to bus address `bus`.
    pub fn write(&self, bus: u64, data: &[u8]) {
        let dst = self.host(bus, data.len());
        // SAFETY: `host` checked the range lies in the window's memory.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) }
    }

    /// Read `len` bytes from bus address `bus`.
    pub fn read(&self, bus: u64, len: usize) -> std::vec::Vec<u8> {
        let src = self.host(bus, len);
        // SAFETY: `host` checked the range lies in the window's memory.
        unsafe { core::slice::from_raw_parts(src, len) }.to_vec()
    }

    pub fn read_u64(&self, bus: u64) -> u64 {
        u64::from_le_bytes(self.read(bus, 8).try_into().unwrap())
    }

    pub fn read_u16(&self, bus: u64) -> u16 {
        u16::from_le_bytes(self.read(bus, 2).try_into().unwrap())
    }

    pub fn read_u8(&self, bus: u64) -> u8 {
        self.read(bus, 1)[0]
    }
}

impl Dma for DmaWindow {
    fn phys_addr(&self, virt: *const u8) -> u64 {
        let offset = (virt as usize)
            .checked_sub(self.host_base)
            .filter(|&o| o < self.len)
            .expect("driver asked for the bus address of memory outside its buffers");
        self.bus_base + offset as u64
    }
}

/// A delay that returns at once (the models complete resets immediately or after N reads).
#[derive(Debug, Default)]
pub struct NoDelay {
    pub total_us: u64,
}

impl Delay for NoDelay {
    fn delay_us(&mut self, us: u32) {
        self.total_us += u64::from(us);
    }
}

/// A chip model held by both a test (which injects frames and looks at state through
/// [`Shared::get`]) and the driver (which sees its registers through [`PortIo`]). The driver's
/// register accesses are counted, a test's own peeks are not, so tests can pin down what a
/// frame costs.
pub struct Shared<M> {
    model: Rc<RefCell<M>>,
    accesses: Rc<Cell<u64>>,
}

impl<M> Clone for Shared<M> {
    fn clone(&self) -> Self {
        Shared {
            model: self.model.clone(),
            accesses: self.accesses.clone(),
        }
    }
}

impl<M> Shared<M> {
    pub fn new(model: M) -> Self {
        Shared {
            model: Rc::new(RefCell::new(model)),
            accesses: Rc::new(Cell::new(0)),
        }
    }

    pub fn get(&self) -> RefMut<'_, M> {
        self.model.borrow_mut()
    }

    /// The driver's register accesses so far (block transfers count one per element).
    pub fn accesses(&self) -> u64 {
        self.accesses.get()
    }

    fn counted(&self, n: usize) -> RefMut<'_, M> {
        self.accesses.set(self.accesses.get() + n as u64);
        self.model.borrow_mut()
    }
}

impl<M: PortIo> PortIo for Shared<M> {
    fn read8(&mut self, offset: u16) -> u8 {
        self.counted(1).read8(offset)
    }
    fn read16(&mut self, offset: u16) -> u16 {
        self.counted(1).read16(offset)
    }
    fn read32(&mut self, offset: u16) -> u32 {
        self.counted(1).read32(offset)
    }
    fn write8(&mut self, offset: u16, value: u8) {
        self.counted(1).write8(offset, value)
    }
    fn write16(&mut self, offset: u16, value: u16) {
        self.counted(1).write16(offset, value)
    }
    fn write32(&mut self, offset: u16, value: u32) {
        self.counted(1).write32(offset, value)
    }
    fn read16_into(&mut self, offset: u16, buf: &mut [u8]) {
        self.counted(buf.len() / 2).read16_into(offset, buf)
    }
    fn write16_from(&mut self, offset: u16, buf: &[u8]) {
        self.counted(buf.len() / 2).write16_from(offset, buf)
    }
    fn read32_into(&mut self, offset: u16, buf: &mut [u8]) {
        self.counted(buf.len() / 4).read32_into(offset, buf)
    }
    fn write32_from(&mut self, offset: u16, buf: &[u8]) {
        self.counted(buf.len() / 4).write32_from(offset, buf)
    }
}

/// A zeroed `T` on the heap for the rest of the test (driver buffers are too large for the
/// test's stack, and the card model keeps pointing into them).
pub fn leak_zeroed<T: zerocopy::FromZeros>() -> &'static mut T {
    let boxed = std::boxed::Box::<T>::new_zeroed();
    // SAFETY: all-zero bytes are a valid `T` (`FromZeros`).
    std::boxed::Box::leak(unsafe { boxed.assume_init() })
}
