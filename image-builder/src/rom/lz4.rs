//! An LZ4 block encoder that trades time for size: hash chains searched deep, with lazy
//! matching (a match is deferred when the next position has a longer one). The ROM is built
//! once and its flash is small, so every byte counts; stage1/rom.s decodes the standard block
//! format, and the tests check the output with lz4_flex's independent decoder.

const MIN_MATCH: usize = 4;
const MAX_OFFSET: usize = 65_535;
/// The format's end rules: the last 5 bytes are literals, the last match starts 12 or more
/// bytes before the end.
const LAST_LITERALS: usize = 5;
const MATCH_START_LIMIT: usize = 12;
const HASH_BITS: u32 = 16;
/// Candidates examined per position: deep enough to find nearly every long match.
const CHAIN_DEPTH: usize = 4096;
const NONE: u32 = u32::MAX;

/// Compress `input` as one LZ4 block.
pub fn compress(input: &[u8]) -> Vec<u8> {
    let mut matcher = Matcher::new(input);
    let mut out = Vec::with_capacity(input.len() / 2);
    let mut anchor = 0;
    let mut at = 0;
    let last_start = input.len().saturating_sub(MATCH_START_LIMIT);
    while at < last_start {
        let (mut len, mut offset) = matcher.longest(at);
        if len < MIN_MATCH {
            at += 1;
            continue;
        }
        // Lazy: while the next position starts a longer match, emit this byte as a literal.
        while at + 1 < last_start {
            let (next_len, next_offset) = matcher.longest(at + 1);
            if next_len <= len {
                break;
            }
            at += 1;
            (len, offset) = (next_len, next_offset);
        }
        emit_sequence(&mut out, &input[anchor..at], Some((offset, len)));
        at += len;
        anchor = at;
    }
    emit_sequence(&mut out, &input[anchor..], None);
    out
}

/// One sequence: token, literal count, literals, then (unless last) offset and match length.
fn emit_sequence(out: &mut Vec<u8>, literals: &[u8], copy: Option<(usize, usize)>) {
    let match_code = copy.map_or(0, |(_, len)| len - MIN_MATCH);
    out.push(((literals.len().min(15) as u8) << 4) | match_code.min(15) as u8);
    emit_length(out, literals.len());
    out.extend_from_slice(literals);
    if let Some((offset, _)) = copy {
        out.extend_from_slice(&(offset as u16).to_le_bytes());
        emit_length(out, match_code);
    }
}

/// The 255-continued remainder of a 4-bit length field that says 15.
fn emit_length(out: &mut Vec<u8>, len: usize) {
    if len < 15 {
        return;
    }
    let mut rest = len - 15;
    while rest >= 255 {
        out.push(255);
        rest -= 255;
    }
    out.push(rest as u8);
}

/// Hash chains over every position: `head[hash]` is the newest position with that hash,
/// `previous[p]` the one before `p`.
struct Matcher<'a> {
    input: &'a [u8],
    head: Vec<u32>,
    previous: Vec<u32>,
    /// Positions below this are in the chains.
    inserted: usize,
}

impl<'a> Matcher<'a> {
    fn new(input: &'a [u8]) -> Self {
        Matcher {
            input,
            head: vec![NONE; 1 << HASH_BITS],
            previous: vec![NONE; input.len()],
            inserted: 0,
        }
    }

    fn hash(&self, at: usize) -> usize {
        let word = u32::from_le_bytes(self.input[at..at + 4].try_into().unwrap());
        (word.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    }

    /// The longest earlier match for the bytes at `at` (length, offset); (0, 0) if none.
    /// Callers keep `at + MATCH_START_LIMIT <= input.len()`, so four bytes can be hashed.
    fn longest(&mut self, at: usize) -> (usize, usize) {
        while self.inserted < at {
            let hash = self.hash(self.inserted);
            self.previous[self.inserted] = self.head[hash];
            self.head[hash] = self.inserted as u32;
            self.inserted += 1;
        }
        let max_len = self.input.len() - LAST_LITERALS - at;
        let (mut best_len, mut best_offset) = (0, 0);
        let mut candidate = self.head[self.hash(at)];
        let mut depth = 0;
        while candidate != NONE && depth < CHAIN_DEPTH {
            let from = candidate as usize;
            if at - from > MAX_OFFSET {
                break;
            }
            if self.input[from + best_len] == self.input[at + best_len] {
                let len = self.input[from..]
                    .iter()
                    .zip(&self.input[at..at + max_len])
                    .take_while(|(a, b)| a == b)
                    .count();
                if len > best_len {
                    (best_len, best_offset) = (len, at - from);
                    if len == max_len {
                        break;
                    }
                }
            }
            candidate = self.previous[from];
            depth += 1;
        }
        if best_len < MIN_MATCH {
            (0, 0)
        } else {
            (best_len, best_offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(input: &[u8]) -> Vec<u8> {
        let packed = compress(input);
        let mut unpacked = vec![0; input.len()];
        let len = lz4_flex::block::decompress_into(&packed, &mut unpacked).unwrap();
        assert_eq!(len, input.len());
        assert_eq!(unpacked, input);
        packed
    }

    #[test]
    fn round_trips_edge_cases() {
        for input in [
            &b""[..],
            b"a",
            b"abcdefghijkl",
            b"abcdefghijklm",
            &[0; 13],
            &[7; 100_000],
        ] {
            round_trip(input);
        }
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog. "
            .iter()
            .cycle()
            .take(70_000)
            .copied()
            .collect();
        assert!(round_trip(&text).len() < 1_000);
    }

    #[test]
    fn round_trips_mixed_data_with_far_matches() {
        let mut state = 99u64;
        let mut data = Vec::new();
        for round in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 300) as usize;
            if round % 3 == 0 && data.len() > 70_000 {
                let from = data.len() - 65_535 + (state % 1000) as usize;
                data.extend_from_slice(&data.clone()[from..from + len]);
            } else {
                data.extend((0..len).map(|i| (state >> (i % 56)) as u8));
            }
        }
        round_trip(&data);
    }

    #[test]
    fn packs_the_runtime_at_least_as_well_as_lz4_flex() {
        let runtime = crate::stage1::RUNTIME_IMAGE;
        let ours = round_trip(runtime);
        assert!(ours.len() <= lz4_flex::block::compress(runtime).len());
    }
}
