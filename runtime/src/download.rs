//! Files land straight in physical memory: a TFTP sink over a range the memory map says is RAM
//! and that nothing of ours occupies. A CRC-32 is kept on the way in, in the same pass as the
//! copy (see [`copy_and_crc`]); a SHA-256 is computed afterwards, only where the config asks
//! for one (under emulation it costs more than the transfer itself).

use netloader_proto::tftp::{Sink, SinkError};
use sha2::{Digest, Sha256};

/// A checked range of physical memory, written front to back.
pub struct MemorySink {
    start: u64,
    capacity: u64,
    len: u64,
    /// The running CRC-32 register (pre- and post-inverted, as zlib).
    crc: u32,
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
            crc: !0,
        }
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// CRC-32 as zlib, gzip and Ethernet compute it (`crc32` on the command line).
    pub fn crc32(&self) -> u32 {
        !self.crc
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
        self.crc = copy_and_crc(destination, data, self.crc);
        self.len = end;
        Ok(())
    }
}

/// CRC-32 (reflected, polynomial 0xEDB88320) tables for slicing by 4: `CRC_TABLES[0]` is the
/// byte-at-a-time table, `CRC_TABLES[k][b]` the CRC of byte `b` followed by `k` zero bytes.
static CRC_TABLES: [[u32; 256]; 4] = crc_tables();

const fn crc_tables() -> [[u32; 256]; 4] {
    let mut tables = [[0u32; 256]; 4];
    let mut byte = 0;
    while byte < 256 {
        tables[0][byte] = crc_byte_bitwise(0, byte as u8);
        byte += 1;
    }
    let mut byte = 0;
    while byte < 256 {
        let mut k = 1;
        while k < 4 {
            let previous = tables[k - 1][byte];
            tables[k][byte] = (previous >> 8) ^ tables[0][(previous & 0xFF) as usize];
            k += 1;
        }
        byte += 1;
    }
    tables
}

/// Copy `source` into `destination` (same length) and fold it into the CRC-32 register `crc`,
/// 4 bytes per step in one pass. Under emulation (TCG) this is what a block costs, more than
/// the network: the byte-wise CRC and the `rep movsb` memcpy each took ~7 us per 1428-byte
/// block; both together now take a fraction of that.
fn copy_and_crc(destination: &mut [u8], source: &[u8], mut crc: u32) -> u32 {
    // The option ROM's first stage fetches one small file: bit by bit, it spares the ROM the
    // 4 KiB of tables (which do not compress).
    if cfg!(feature = "chain") {
        destination.copy_from_slice(source);
        return source
            .iter()
            .fold(crc, |crc, &byte| crc_byte_bitwise(crc, byte));
    }
    let t = &CRC_TABLES;
    let mut words = destination.chunks_exact_mut(4).zip(source.chunks_exact(4));
    for (to, from) in &mut words {
        let word = [from[0], from[1], from[2], from[3]];
        to.copy_from_slice(&word);
        crc = crc_word(t, crc, word);
    }
    let done = source.len() - source.len() % 4;
    for (to, &byte) in destination[done..].iter_mut().zip(&source[done..]) {
        *to = byte;
        crc = crc_byte(t, crc, byte);
    }
    crc
}

const fn crc_word(t: &[[u32; 256]; 4], crc: u32, word: [u8; 4]) -> u32 {
    let v = crc ^ u32::from_le_bytes(word);
    t[3][(v & 0xFF) as usize]
        ^ t[2][((v >> 8) & 0xFF) as usize]
        ^ t[1][((v >> 16) & 0xFF) as usize]
        ^ t[0][(v >> 24) as usize]
}

const fn crc_byte(t: &[[u32; 256]; 4], crc: u32, byte: u8) -> u32 {
    t[0][((crc ^ byte as u32) & 0xFF) as usize] ^ (crc >> 8)
}

const fn crc_byte_bitwise(crc: u32, byte: u8) -> u32 {
    let mut crc = crc ^ byte as u32;
    let mut bit = 0;
    while bit < 8 {
        crc = if crc & 1 != 0 {
            0xEDB8_8320 ^ (crc >> 1)
        } else {
            crc >> 1
        };
        bit += 1;
    }
    crc
}

/// The standard check value, CRC-32 of "123456789" (two words and a byte), checked at compile
/// time through both steps, and bit by bit.
const _: () = {
    let t = &crc_tables();
    let crc = crc_word(t, !0, *b"1234");
    let crc = crc_word(t, crc, *b"5678");
    let crc = crc_byte(t, crc, b'9');
    assert!(!crc == 0xCBF4_3926);
    let mut crc = !0;
    let mut at = 0;
    while at < 9 {
        crc = crc_byte_bitwise(crc, b"123456789"[at]);
        at += 1;
    }
    assert!(!crc == 0xCBF4_3926);
};

/// Lower-case hex of a digest, for the console.
pub struct Hex<'a>(pub &'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}
