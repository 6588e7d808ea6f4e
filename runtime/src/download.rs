//! Files land straight in physical memory: a TFTP sink over a range the memory map says is RAM
//! and that nothing of ours occupies. A CRC-32 is kept on the way in, in the same pass as the
//! copy (see [`copy_and_crc`]); a SHA-256 only where the config asks for one (under emulation
//! it costs more than the transfer itself), by boot/fetch.rs, which also inflates compressed
//! files on the way in.

use netloader_proto::crc32::{self, Crc32};
use netloader_proto::tftp::{Sink, SinkError};

/// A checked range of physical memory, written front to back.
pub struct MemorySink {
    start: u64,
    capacity: u64,
    len: u64,
    crc: Crc32,
}

impl MemorySink {
    /// # Safety
    /// `[start, start + capacity)` must be RAM (per the memory map) that nothing else in the
    /// runtime uses, identity-mapped.
    pub unsafe fn new(start: u64, capacity: u64) -> Self {
        MemorySink {
            start,
            capacity,
            len: 0,
            crc: Crc32::new(),
        }
    }

    /// Memory that already holds `len` bytes of a file (inflated into it as the file arrived),
    /// with `crc` over the file as it was fetched.
    ///
    /// # Safety
    /// As for [`MemorySink::new`], and the first `len` bytes are written.
    #[cfg(feature = "unzip")]
    pub unsafe fn holding(start: u64, len: u64, crc: Crc32) -> Self {
        MemorySink {
            start,
            capacity: len,
            len,
            crc,
        }
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// CRC-32 as zlib, gzip and Ethernet compute it (`crc32` on the command line), of the file
    /// as it was fetched (for a file inflated on the way: of its compressed bytes).
    pub fn crc32(&self) -> u32 {
        self.crc.value()
    }

    /// The received bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `new`'s contract; the first `len` bytes were written by `write_at`.
        unsafe { core::slice::from_raw_parts(self.start as *const u8, self.len as usize) }
    }
}

impl Sink for MemorySink {
    fn size_hint(&mut self, size: u64) -> Result<(), SinkError> {
        if size > self.capacity {
            return Err(SinkError::TooLarge {
                needed: size,
                capacity: self.capacity,
            });
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError> {
        let end = offset.saturating_add(data.len() as u64);
        if end > self.capacity {
            return Err(SinkError::TooLarge {
                needed: end,
                capacity: self.capacity,
            });
        }
        // SAFETY: within the range `new` was given (checked just above), which nothing else
        // refers to while this borrow lives.
        let destination = unsafe {
            core::slice::from_raw_parts_mut((self.start + offset) as *mut u8, data.len())
        };
        copy_and_crc(destination, data, &mut self.crc);
        self.len = end;
        Ok(())
    }
}

/// Copy `source` into `destination` (same length) and fold it into the running CRC-32, in one
/// pass (see [`netloader_proto::crc32`] for why).
fn copy_and_crc(destination: &mut [u8], source: &[u8], crc: &mut Crc32) {
    // The option ROM's first stage fetches one small file: bit by bit, it spares the ROM the
    // 4 KiB of tables (which do not compress).
    if cfg!(feature = "chain") {
        destination.copy_from_slice(source);
        crc.update_bitwise(source);
    } else {
        crc32::copy_and_update(destination, source, crc);
    }
}

/// Lower-case hex of a digest, for the console.
pub struct Hex<'a>(pub &'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}
