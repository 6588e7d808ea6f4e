//! CRC-32 as zlib, gzip and Ethernet compute it (reflected, polynomial 0xEDB88320, register
//! pre- and post-inverted), sliced by 4 bytes. Used where files arrive: the runtime's download
//! sink (the CRC shown after a transfer) and the gzip trailer check of [`crate::decompress`].
//!
//! By hand rather than a crate: the `crc` crate's table is byte-at-a-time, and under emulation
//! (TCG) the cost is counted in guest instructions per byte, on every byte of every file. Here
//! a loop pass reads two 32-bit words, writes them (fused with the copy where the bytes are
//! copied anyway, [`copy_and_update`]) and folds each in with four table lookups: ~4.6
//! instructions a byte on a 32-bit CPU, where the loop before it, which LLVM compiled to byte
//! loads and stores, took 8.6 (a third of all the instructions an HTTP download ran per frame).
//! Four tables, not eight: slicing by 8 saves no lookup, and the 4 KiB more did not fit the
//! standalone option ROM.

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

    /// Folds `data` in, 8 bytes per loop pass.
    pub fn update(&mut self, data: &[u8]) {
        let t = &TABLES;
        let mut steps = data.chunks_exact(8);
        for step in &mut steps {
            let (low, high) = words(step);
            self.register = step_8(t, self.register, low, high);
        }
        for &byte in steps.remainder() {
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
    let mut to = destination.chunks_exact_mut(8);
    let mut from = source.chunks_exact(8);
    for (to, from) in (&mut to).zip(&mut from) {
        let (low, high) = words(from);
        to[..4].copy_from_slice(&low.to_le_bytes());
        to[4..].copy_from_slice(&high.to_le_bytes());
        register = step_8(t, register, low, high);
    }
    for (to, &byte) in to.into_remainder().iter_mut().zip(from.remainder()) {
        *to = byte;
        register = step_byte(t, register, byte);
    }
    crc.register = register;
}

/// An 8-byte step's two little-endian words (one 32-bit load each).
fn words(step: &[u8]) -> (u32, u32) {
    let word = |at: usize| {
        let mut bytes = [0; 4];
        bytes.copy_from_slice(&step[at..at + 4]);
        u32::from_le_bytes(bytes)
    };
    (word(0), word(4))
}

/// Tables for slicing by 4: `TABLES[0]` is the byte-at-a-time table, `TABLES[k][b]` the CRC of
/// byte `b` followed by `k` zero bytes.
static TABLES: Tables = tables();

type Tables = [[u32; 256]; 4];

const fn tables() -> Tables {
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

/// Folds 8 bytes, given as two little-endian words, into `crc`. Inlined: as a call, the
/// 32-bit C convention's stack traffic costs as much as the step.
#[inline(always)]
const fn step_8(t: &Tables, crc: u32, low: u32, high: u32) -> u32 {
    step_word(t, step_word(t, crc, low), high)
}

#[inline(always)]
const fn step_word(t: &Tables, crc: u32, word: u32) -> u32 {
    let v = crc ^ word;
    t[3][(v & 0xFF) as usize]
        ^ t[2][((v >> 8) & 0xFF) as usize]
        ^ t[1][((v >> 16) & 0xFF) as usize]
        ^ t[0][(v >> 24) as usize]
}

const fn step_byte(t: &Tables, crc: u32, byte: u8) -> u32 {
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

/// The standard check value, CRC-32 of "123456789" (one 8-byte step and a byte), checked at
/// compile time through both steps, and bit by bit.
const _: () = {
    let t = &tables();
    let crc = step_8(
        t,
        !0,
        u32::from_le_bytes(*b"1234"),
        u32::from_le_bytes(*b"5678"),
    );
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
