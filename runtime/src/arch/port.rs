//! Port I/O. `in` and `out` are the same instructions in 32-bit protected mode and in long
//! mode (and under UEFI on the same PCs), so one implementation serves every platform.

use core::marker::PhantomData;

/// A value that fits one port access: u8, u16 or u32.
pub trait PortValue: Copy {
    /// # Safety
    /// As [`Port::read`].
    unsafe fn read_from(port: u16) -> Self;
    /// # Safety
    /// As [`Port::write`].
    unsafe fn write_to(port: u16, value: Self);
}

macro_rules! port_value {
    ($ty:ty, $reg:tt) => {
        impl PortValue for $ty {
            unsafe fn read_from(port: u16) -> $ty {
                let value: $ty;
                // SAFETY: the caller vouches for the port (`Port::read`). Not `nomem`: a read
                // can be the status check that orders later reads of DMA memory.
                unsafe {
                    core::arch::asm!(concat!("in ", $reg, ", dx"), out($reg) value, in("dx") port,
                        options(nostack, preserves_flags))
                };
                value
            }

            unsafe fn write_to(port: u16, value: $ty) {
                // SAFETY: as in `read_from`. Not `nomem`: a write can start DMA from memory.
                unsafe {
                    core::arch::asm!(concat!("out dx, ", $reg), in("dx") port, in($reg) value,
                        options(nostack, preserves_flags))
                };
            }
        }
    };
}

port_value!(u8, "al");
port_value!(u16, "ax");
port_value!(u32, "eax");

/// One I/O port, read and written as `T`.
pub struct Port<T: PortValue> {
    port: u16,
    _width: PhantomData<T>,
}

impl<T: PortValue> Port<T> {
    pub const fn new(port: u16) -> Port<T> {
        Port {
            port,
            _width: PhantomData,
        }
    }

    /// # Safety
    /// Reading this port has no effect the caller did not intend (some device registers
    /// clear on read).
    pub unsafe fn read(&mut self) -> T {
        // SAFETY: passed on to the caller.
        unsafe { T::read_from(self.port) }
    }

    /// # Safety
    /// Writing this value to this port does only what the caller intends (ports drive
    /// devices, and some devices write memory).
    pub unsafe fn write(&mut self, value: T) {
        // SAFETY: passed on to the caller.
        unsafe { T::write_to(self.port, value) }
    }
}
