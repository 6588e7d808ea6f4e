//! `decompress::DecompressSink` on arbitrary files in arbitrary pieces: never a panic, never a
//! write past the place it was given, and a summary that matches what was written.
//!
//! Input: `[piece seed u8][capacity u16 LE][file...]`. The place holds `capacity` bytes (so
//! "output larger than its place" is reached too); the seed cuts the file into pieces of 1 to
//! 256 bytes. The xz dictionary is 64 KiB (a file asking for more is refused: also a path).
//! The file's first bytes also go through what a loader reads before the data (its format, the
//! xz dictionary it needs): never a panic, and a longer prefix never takes back an answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::decompress::{
    DecompressSink, Format, Scratch, XzDictionary, xz_dictionary_size,
};
use netloader_proto::tftp::Sink;

fuzz_target!(|input: &[u8]| {
    let [seed, c0, c1, file @ ..] = input else {
        return;
    };
    let capacity = u16::from_le_bytes([*c0, *c1]) as usize;
    let cut = (usize::from(*seed) * 4).min(file.len());
    if let Some(format) = Format::detect(&file[..cut]) {
        assert_eq!(Format::detect(file), Some(format));
    }
    match xz_dictionary_size(&file[..cut]) {
        XzDictionary::NeedMore => {}
        known => assert_eq!(xz_dictionary_size(file), known),
    }
    let mut dictionary = vec![0u8; 64 << 10];
    let mut scratch = Scratch::with_xz_dictionary(&mut dictionary);
    let mut place = vec![0x5Au8; capacity + 64];
    let mut sink = DecompressSink::new(&mut place[..capacity], &mut scratch);
    let mut offset = 0usize;
    let mut state = u32::from(*seed) | 1;
    while offset < file.len() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let end = (offset + 1 + (state >> 24) as usize).min(file.len());
        if sink.write_at(offset as u64, &file[offset..end]).is_err() {
            assert!(sink.error().is_some());
            break;
        }
        offset = end;
    }
    // (finish writes the first bytes of a file too short to name its format.)
    if let Ok(summary) = sink.finish() {
        assert_eq!(summary.output_len, sink.output_len());
        assert_eq!(summary.input_len, file.len() as u64);
    }
    assert!(sink.output_len() <= capacity);
    assert!(place[capacity..].iter().all(|&b| b == 0x5A));
});
