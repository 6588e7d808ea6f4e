//! Reads of physical memory by address, for data the loader under test handed over. The
//! kernel identity-maps all of the first 4 GiB, so any address below 4 GiB can be read
//! without faulting; everything else (and address 0) is refused.

use core::ptr::read_volatile;

/// One past the last readable address.
pub const SPACE_END: u64 = 1 << 32;

/// A half-open physical range.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub fn new(start: u64, end: u64) -> Self {
        Range { start, end }
    }

    pub fn with_len(start: u64, len: u64) -> Self {
        Range {
            start,
            end: start.saturating_add(len),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Empty ranges overlap nothing.
    pub fn overlaps(&self, other: &Range) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }
}

pub fn read_u8(addr: u64) -> Option<u8> {
    if addr == 0 || addr >= SPACE_END {
        return None;
    }
    // SAFETY: non-null, below 4 GiB, identity-mapped by the kernel's page tables; a byte has
    // no alignment; reading RAM, ROM or an unassigned hole has no side effect we care about.
    Some(unsafe { read_volatile(addr as *const u8) })
}

pub fn read_u32(addr: u64) -> Option<u32> {
    let mut bytes = [0u8; 4];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = read_u8(addr.checked_add(i as u64)?)?;
    }
    Some(u32::from_le_bytes(bytes))
}

pub fn read_u64(addr: u64) -> Option<u64> {
    let low = read_u32(addr)? as u64;
    let high = read_u32(addr.checked_add(4)?)? as u64;
    Some(low | high << 32)
}

/// The bytes of `range`, if all of it is readable.
pub fn slice(range: Range) -> Option<&'static [u8]> {
    if range.start == 0 || range.end > SPACE_END || range.end < range.start {
        return None;
    }
    // SAFETY: the whole range is non-null and below 4 GiB, which the kernel maps; nothing
    // writes there while the kernel runs (no DMA is set up, interrupts are off).
    Some(unsafe {
        core::slice::from_raw_parts(range.start as *const u8, (range.end - range.start) as usize)
    })
}

/// A NUL-terminated string at `addr`: its bytes without the NUL, or None when there is no NUL
/// within `cap` bytes or the memory cannot be read.
pub fn c_string(addr: u64, cap: u64) -> Option<&'static [u8]> {
    let mut len = 0;
    while len < cap {
        if read_u8(addr.checked_add(len)?)? == 0 {
            return slice(Range::with_len(addr, len));
        }
        len += 1;
    }
    None
}
