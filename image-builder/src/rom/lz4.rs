//! An LZ4 block encoder that trades time for size: hash chains searched deep, and an optimal
//! parse (the cheapest sequence of literals and matches by the format's exact byte costs,
//! found by dynamic programming over the positions). The ROM is built once and its flash is
//! small, so every byte counts; stage1/rom.s decodes the standard block format, and the tests
//! check the output with lz4_flex's independent decoder.

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
/// A match this long is taken as it is, without searching the positions it covers: long runs
/// (zeroed buffers) would otherwise cost a deep search at every byte, for nothing.
const TAKE_AT_ONCE: usize = 256;

/// Bytes a 4-bit length field that reaches `len` needs after the token.
fn length_bytes(len: usize) -> u32 {
    if len < 15 {
        0
    } else {
        1 + (len - 15) as u32 / 255
    }
}

/// Compress `input` as one LZ4 block.
pub fn compress(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let last_start = n.saturating_sub(MATCH_START_LIMIT);
    // `boundary[i]`: the cheapest way to encode input[..i] ending with a match (or i = 0):
    // its cost and the match (start, length, offset) that ends there.
    // `pending[i]`: the cheapest way to be at i with literals pending since `start`: input
    // [..start] encoded (a boundary), input[start..i] waiting as the next sequence's literals.
    let mut boundary = vec![(u32::MAX, 0u32, 0u32, 0u16); n + 1];
    let mut pending = vec![(u32::MAX, 0u32); n + 1];
    boundary[0].0 = 0;
    let mut matcher = Matcher::new(input);
    let mut skip_until = 0;
    for at in 0..=n {
        // Literals pending at `at`: start a run here (after a match), or extend the run.
        let mut here = (boundary[at].0, at as u32);
        if at > 0 && pending[at - 1].0 != u32::MAX {
            let (cost, start) = pending[at - 1];
            let run = at - start as usize;
            let extended = cost + 1 + length_bytes(run) - length_bytes(run - 1);
            if extended < here.0 {
                here = (extended, start);
            }
        }
        pending[at] = here;
        if at >= last_start || at < skip_until || here.0 == u32::MAX {
            continue;
        }
        let (longest, offset) = matcher.longest(at);
        if longest < MIN_MATCH {
            continue;
        }
        // A match costs its token, its 2-byte offset and its length bytes; the pending
        // literals' own bytes are already counted in `here`.
        let lengths = if longest >= TAKE_AT_ONCE {
            skip_until = at + longest;
            longest..=longest
        } else {
            MIN_MATCH..=longest
        };
        for len in lengths {
            let cost = here.0 + 1 + 2 + length_bytes(len - MIN_MATCH);
            let end = &mut boundary[at + len];
            if cost < end.0 {
                *end = (cost, at as u32, len as u32, offset as u16);
            }
        }
    }

    // Walk back from the end: the final literals, then match by match.
    let mut sequences = Vec::new();
    let mut at = n;
    loop {
        let start = pending[at].1 as usize;
        if start == 0 {
            break;
        }
        let (_, match_start, len, offset) = boundary[start];
        let match_start = match_start as usize;
        debug_assert_eq!(match_start + len as usize, start);
        sequences.push((match_start, offset as usize, len as usize));
        at = match_start;
    }
    let mut out = Vec::with_capacity(n / 2);
    let mut anchor = 0;
    for &(match_start, offset, len) in sequences.iter().rev() {
        let literal_start = pending[match_start].1 as usize;
        debug_assert_eq!(literal_start, anchor);
        emit_sequence(&mut out, &input[anchor..match_start], Some((offset, len)));
        anchor = match_start + len;
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
