//! CRC-32 as zlib, gzip and Ethernet compute it (reflected, polynomial 0xEDB88320, register
//! pre- and post-inverted), sliced by 4 bytes. Used where files arrive: the runtime's download
//! sink (the CRC shown after a transfer) and the gzip trailer check of [`crate::decompress`].
//!
//! By hand rather than a crate: the `crc` crate's table is byte-at-a-time, and under emulation
//! (TCG) the per-byte cost is what a 1428-byte TFTP block costs; four table lookups per 4 bytes,
//! fused with the copy where the bytes are copied anyway ([`copy_and_update`]), made both
//! together a fraction of what each took alone.

/// A running CRC-32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc32 {
    /// The register, pre-inverted.
    register: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    pub const fn new() -> Self {
        Crc32 { register: !0 }
    }

    /// Folds `data` in, 4 bytes per step.
    pub fn update(&mut self, data: &[u8]) {
        let t = &TABLES;
        let mut words = data.chunks_exact(4);
        for word in &mut words {
            self.register = step_word(t, self.register, [word[0], word[1], word[2], word[3]]);
        }
        for &byte in words.remainder() {
            self.register = step_byte(t, self.register, byte);
        }
    }

    /// Folds `data` in bit by bit, without the 4 KiB of tables: for builds where size matters
    /// more than speed (the option ROM's first stage, which fetches one small file).
    pub fn update_bitwise(&mut self, data: &[u8]) {
        self.register = data
            .iter()
            .fold(self.register, |crc, &byte| step_bitwise(crc, byte));
    }

    /// The CRC of everything folded in so far.
    pub const fn value(&self) -> u32 {
        !self.register
    }
}

/// Copies `source` into `destination` (same length) and folds it into `crc`, in one pass.
///
/// # Panics
/// When the lengths differ (a caller bug, as for `copy_from_slice`).
pub fn copy_and_update(destination: &mut [u8], source: &[u8], crc: &mut Crc32) {
    assert_eq!(destination.len(), source.len());
    let t = &TABLES;
    let mut register = crc.register;
    let mut words = destination.chunks_exact_mut(4).zip(source.chunks_exact(4));
    for (to, from) in &mut words {
        let word = [from[0], from[1], from[2], from[3]];
        to.copy_from_slice(&word);
        register = step_word(t, register, word);
    }
    let done = source.len() - source.len() % 4;
    for (to, &byte) in destination[done..].iter_mut().zip(&source[done..]) {
        *to = byte;
        register = step_byte(t, register, byte);
    }
    crc.register = register;
}

/// Tables for slicing by 4: `TABLES[0]` is the byte-at-a-time table, `TABLES[k][b]` the CRC of
/// byte `b` followed by `k` zero bytes.
static TABLES: [[u32; 256]; 4] = tables();

const fn tables() -> [[u32; 256]; 4] {
    let mut tables = [[0u32; 256]; 4];
    let mut byte = 0;
    while byte < 256 {
        tables[0][byte] = step_bitwise(0, byte as u8);
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

const fn step_word(t: &[[u32; 256]; 4], crc: u32, word: [u8; 4]) -> u32 {
    let v = crc ^ u32::from_le_bytes(word);
    t[3][(v & 0xFF) as usize]
        ^ t[2][((v >> 8) & 0xFF) as usize]
        ^ t[1][((v >> 16) & 0xFF) as usize]
        ^ t[0][(v >> 24) as usize]
}

const fn step_byte(t: &[[u32; 256]; 4], crc: u32, byte: u8) -> u32 {
    t[0][((crc ^ byte as u32) & 0xFF) as usize] ^ (crc >> 8)
}

const fn step_bitwise(crc: u32, byte: u8) -> u32 {
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
    let t = &tables();
    let crc = step_word(t, !0, *b"1234");
    let crc = step_word(t, crc, *b"5678");
    let crc = step_byte(t, crc, b'9');
    assert!(!crc == 0xCBF4_3926);
    let mut crc = !0;
    let mut at = 0;
    while at < 9 {
        crc = step_bitwise(crc, b"123456789"[at]);
        at += 1;
    }
    assert!(!crc == 0xCBF4_3926);
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use std::vec::Vec;

    #[test]
    fn every_path_agrees_in_any_split() {
        let mut rng = Rng::new(32);
        for _ in 0..200 {
            let data: Vec<u8> = (0..rng.below(300)).map(|_| rng.next_u64() as u8).collect();
            let mut whole = Crc32::new();
            whole.update_bitwise(&data);
            let split = rng.index(data.len() + 1);
            let mut sliced = Crc32::new();
            sliced.update(&data[..split]);
            sliced.update(&data[split..]);
            let mut copied = Crc32::new();
            let mut destination = std::vec![0u8; data.len()];
            copy_and_update(&mut destination[..split], &data[..split], &mut copied);
            copy_and_update(&mut destination[split..], &data[split..], &mut copied);
            assert_eq!(sliced, whole);
            assert_eq!(copied, whole);
            assert_eq!(destination, data);
        }
        let mut check = Crc32::new();
        check.update(b"123456789");
        assert_eq!(check.value(), 0xCBF4_3926);
    }
}
