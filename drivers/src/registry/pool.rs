//! The DMA memory every driver takes its buffers and state from: a static pool or a region
//! the platform sets aside, handed out once (an atomic flag, not a convention), then carved up
//! by a bump allocator that never gives the same bytes twice. Nothing is ever given back: the
//! runtime drives one card, and the card keeps writing into its buffers until it is closed,
//! right before the hand-off.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use zerocopy::FromZeros;

use super::OpenError;

/// `LEN` bytes of memory for one card's buffers and driver, in a `static` (zeroed: .bss). It
/// is not aligned itself (the bump allocator aligns each piece, and [`super::dma_len`] counts
/// the padding), so that it takes no more room than the largest driver needs; conventional
/// memory is tight.
pub struct DmaPool<const LEN: usize> {
    taken: AtomicBool,
    memory: UnsafeCell<[u8; LEN]>,
}

// SAFETY: the memory is reached only through the one `DmaArena` that `take` hands out, once.
unsafe impl<const LEN: usize> Sync for DmaPool<LEN> {}

impl<const LEN: usize> DmaPool<LEN> {
    pub const fn new() -> Self {
        DmaPool {
            taken: AtomicBool::new(false),
            memory: UnsafeCell::new([0; LEN]),
        }
    }

    /// The whole pool, the first time; `None` ever after.
    pub fn take(&'static self) -> Option<DmaArena> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(DmaArena {
            next: self.memory.get().cast::<u8>(),
            left: LEN,
        })
    }
}

impl<const LEN: usize> Default for DmaPool<LEN> {
    fn default() -> Self {
        Self::new()
    }
}

/// DMA memory the platform finds at run time (the runtime: the top of its network area in
/// upper memory, where large rings have room), handed out once, as a [`DmaPool`] is.
pub struct DmaRegion {
    taken: AtomicBool,
}

impl DmaRegion {
    pub const fn new() -> Self {
        DmaRegion {
            taken: AtomicBool::new(false),
        }
    }

    /// The `len` bytes at `start`, the first time; `None` ever after.
    ///
    /// # Safety
    /// `start..start + len` is RAM at the same address for the card as for the CPU, which
    /// nothing else in the program reads or writes from now on (for as long as it runs).
    pub unsafe fn take(&'static self, start: *mut u8, len: usize) -> Option<DmaArena> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(DmaArena {
            next: start,
            left: len,
        })
    }
}

impl Default for DmaRegion {
    fn default() -> Self {
        Self::new()
    }
}

/// The pool's memory, handed out front to back.
#[derive(Debug)]
pub struct DmaArena {
    next: *mut u8,
    left: usize,
}

impl DmaArena {
    /// Room for a `T`, aligned: where it goes.
    fn claim<T>(&mut self) -> Result<*mut T, OpenError> {
        let padding = self.next.align_offset(core::mem::align_of::<T>());
        let needed = padding
            .checked_add(core::mem::size_of::<T>())
            .ok_or(OpenError::DmaMemory)?;
        if needed > self.left {
            return Err(OpenError::DmaMemory);
        }
        // SAFETY: `padding` <= `needed` <= `left`, so the result stays inside the pool.
        let at = unsafe { self.next.add(padding) };
        // SAFETY: as above, for `needed` bytes.
        self.next = unsafe { self.next.add(needed) };
        self.left -= needed;
        Ok(at.cast::<T>())
    }

    /// A zeroed `T` (a driver's buffers), for as long as the program runs.
    pub fn zeroed<T: FromZeros>(&mut self) -> Result<&'static mut T, OpenError> {
        let at = self.claim::<T>()?;
        // SAFETY: `at` is aligned, in the pool, and no other reference reaches those bytes
        // (the pool is handed out once, and `claim` never hands out bytes twice); all-zero
        // bytes are a valid `T` (`FromZeros`).
        unsafe {
            at.cast::<u8>().write_bytes(0, core::mem::size_of::<T>());
            Ok(&mut *at)
        }
    }

    /// A driver's own error, kept (the failed open needs the memory no more) for
    /// [`OpenError::Driver`].
    pub fn keep_error<E: core::fmt::Display + 'static>(self, error: E) -> OpenError {
        match self.keep(error) {
            Ok(error) => OpenError::Driver(error),
            Err(no_room) => no_room,
        }
    }

    /// Move `value` (a driver's state) into the pool for good. It is never dropped: the card
    /// is stopped by [`crate::Nic::close`], not by a destructor.
    pub fn keep<T>(mut self, value: T) -> Result<&'static mut T, OpenError> {
        let at = self.claim::<T>()?;
        // SAFETY: as in `zeroed`; `write` does not read the old (zero) bytes.
        unsafe {
            at.write(value);
            Ok(&mut *at)
        }
    }
}
