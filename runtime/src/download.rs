//! Files land straight in physical memory: a TFTP sink over a range the memory map says is RAM
//! and that nothing of ours occupies. A CRC-32 is kept on the way in (cheap enough not to slow
//! the transfer); a SHA-256 is computed afterwards, only where the config asks for one
//! (under emulation it costs more than the transfer itself).

use netloader_proto::tftp::{Sink, SinkError};
use sha2::{Digest, Sha256};

/// A checked range of physical memory, written front to back.
pub struct MemorySink {
    start: u64,
    capacity: u64,
    len: u64,
    crc: crc::Digest<'static, u32, CrcTable>,
}

/// The option ROM's first stage hashes one small file: the bitwise form spares the ROM a
/// 1 KiB table. Everywhere else the table keeps the CRC off the download's critical path.
#[cfg(feature = "chain")]
type CrcTable = crc::NoTable;
#[cfg(not(feature = "chain"))]
type CrcTable = crc::Table<1>;

/// CRC-32 as zlib, gzip and Ethernet compute it (`crc32` on the command line).
static CRC32: crc::Crc<u32, CrcTable> = crc::Crc::<u32, CrcTable>::new(&crc::CRC_32_ISO_HDLC);

impl MemorySink {
    /// # Safety
    /// `[start, start + capacity)` must be RAM (per the memory map) that nothing else in the
    /// runtime uses, identity-mapped.
    pub unsafe fn new(start: u64, capacity: u64) -> Self {
        MemorySink { start, capacity, len: 0, crc: CRC32.digest() }
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn crc32(&self) -> u32 {
        self.crc.clone().finalize()
    }

    /// SHA-256 of the received bytes, computed now.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.bytes()).into()
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
            return Err(SinkError::TooLarge { needed: size, capacity: self.capacity });
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError> {
        let end = offset.saturating_add(data.len() as u64);
        if end > self.capacity {
            return Err(SinkError::TooLarge { needed: end, capacity: self.capacity });
        }
        // SAFETY: within the range `new` was given (checked just above).
        unsafe {
            core::ptr::copy_nonoverlapping(data.as_ptr(), (self.start + offset) as *mut u8, data.len());
        }
        self.crc.update(data);
        self.len = end;
        Ok(())
    }
}

/// Lower-case hex of a digest, for the console.
pub struct Hex<'a>(pub &'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}
