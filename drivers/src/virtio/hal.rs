//! virtio-drivers' `Hal` for the runtime: identity-mapped memory, no IOMMU, and virtqueue pages
//! from a bump allocator over the caller's [`super::VirtioBuffers`].
//!
//! The crate's `Hal` has only associated functions (no `self`), so the pool it allocates from is
//! global. A [`PoolLease`] hands it to one open card at a time.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// Set while a card owns the pool.
static LEASED: AtomicBool = AtomicBool::new(false);
/// Next free byte of the pool and its end (addresses; both 0 when no lease is held).
static NEXT: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);

/// Exclusive use of the DMA page pool, released on drop.
#[derive(Debug)]
pub(crate) struct PoolLease(());

impl PoolLease {
    /// Take the pool over `pages`. `None` if another card holds it.
    ///
    /// The caller keeps `pages` borrowed (and otherwise untouched) until the lease is dropped.
    pub(crate) fn acquire(pages: NonNull<[u8]>) -> Option<PoolLease> {
        if LEASED
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        let start = pages.cast::<u8>().as_ptr() as usize;
        NEXT.store(start, Ordering::Relaxed);
        END.store(start + pages.len(), Ordering::Relaxed);
        Some(PoolLease(()))
    }
}

impl Drop for PoolLease {
    fn drop(&mut self) {
        NEXT.store(0, Ordering::Relaxed);
        END.store(0, Ordering::Relaxed);
        LEASED.store(false, Ordering::Release);
    }
}

/// Bus address = CPU address, which holds in the runtime (identity map of 0..4 GiB, no IOMMU)
/// and in the host tests (the device model dereferences the addresses it is given).
#[derive(Debug)]
pub struct IdentityHal;

// SAFETY: `dma_alloc` returns zeroed, page-aligned memory from the leased pool that no one else
// uses (bump allocation, never handed out twice while the lease lasts); every address is the
// CPU address of the same memory.
unsafe impl Hal for IdentityHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let Some(len) = pages.checked_mul(PAGE_SIZE) else {
            return (0, NonNull::dangling());
        };
        let start = NEXT.load(Ordering::Relaxed);
        let end = END.load(Ordering::Relaxed);
        // A zero physical address makes the crate report `Error::DmaError` (pool exhausted or
        // no lease): a clean failure instead of a panic.
        if start == 0 || !start.is_multiple_of(PAGE_SIZE) || end.saturating_sub(start) < len {
            return (0, NonNull::dangling());
        }
        NEXT.store(start + len, Ordering::Relaxed);
        let ptr = start as *mut u8;
        // SAFETY: `start..start+len` lies in the leased pool (checked above) and was never
        // handed out before under this lease.
        unsafe { ptr.write_bytes(0, len) };
        // SAFETY: `start` is non-zero (checked above).
        (start as PhysAddr, unsafe { NonNull::new_unchecked(ptr) })
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // Bump allocator: the pages come back when the lease ends (the card is closed).
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        // `pci::check_bars_below_4gib` refuses such cards before the transport maps anything
        // (on a BIOS); this only guards against a device changing its BARs under us.
        let end = paddr.saturating_add(size as u64);
        assert!(
            paddr != 0 && end <= crate::hw::IDENTITY_MAP_END,
            "virtio BAR region {paddr:#x}+{size:#x} is outside the identity map"
        );
        // SAFETY: non-zero, checked just above.
        unsafe { NonNull::new_unchecked(paddr as usize as *mut u8) }
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.cast::<u8>().as_ptr() as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
