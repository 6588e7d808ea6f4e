//! Round trips against the reference tools (gzip(1) and xz(1) compress, this module
//! decompresses) in random chunkings, hand-built gzip headers that gzip(1) also accepts,
//! corrupt and cut files, places too small, and random bytes (never a panic).

use std::io::Write;
use std::process::{Command, Stdio};
use std::string::ToString;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::test_rng::Rng;
use crate::tftp::SinkError;

/// Runs `tool args` with `input` on stdin; its stdout. gzip and xz-utils are on every Debian
/// system (dpkg itself needs them).
fn run_tool(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{tool} is needed by these tests (apt-get install {tool}): {e}")
        });
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output.stdout
}

fn gzip(data: &[u8], args: &[&str]) -> Vec<u8> {
    let mut all = vec!["-c", "-n"];
    all.extend_from_slice(args);
    run_tool("gzip", &all, data)
}

fn xz(data: &[u8], args: &[&str]) -> Vec<u8> {
    let mut all = vec!["-c", "-T1"];
    all.extend_from_slice(args);
    run_tool("xz", &all, data)
}

/// Test data of `len` bytes: text-like (compresses well, long matches), random (stored
/// blocks), or both in turns.
fn sample(rng: &mut Rng, len: usize, kind: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "kernel ",
        "module ",
        "boot ",
        "netloader ",
        "\n",
        "0x100000 ",
        "initrd ",
        "e820 ",
    ];
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        match kind % 3 {
            0 => data.extend_from_slice(rng.pick(WORDS).as_bytes()),
            1 => data.push(rng.next_u64() as u8),
            _ => {
                if rng.below(2) == 0 {
                    data.extend_from_slice(rng.pick(WORDS).as_bytes());
                } else {
                    data.extend((0..rng.below(64)).map(|_| rng.next_u64() as u8));
                }
            }
        }
    }
    data.truncate(len);
    data
}

/// Chunk sizes as a network delivers them: mostly blocks, some tiny pieces.
fn chunk_len(rng: &mut Rng, max_chunk: usize) -> usize {
    match rng.below(4) {
        0 => 1 + rng.index(8),
        _ => 1 + rng.index(max_chunk),
    }
}

/// Decompresses `file` through the `Sink` interface in random chunks into a place of
/// `capacity` bytes.
fn run(
    file: &[u8],
    capacity: usize,
    scratch: &mut Scratch<'_>,
    rng: &mut Rng,
    max_chunk: usize,
) -> Result<(Summary, Vec<u8>), DecompressError> {
    let mut place = vec![0xAAu8; capacity];
    let mut sink = DecompressSink::new(&mut place, scratch);
    let mut offset = 0;
    while offset < file.len() {
        let end = (offset + chunk_len(rng, max_chunk)).min(file.len());
        if let Err(e) = sink.write_at(offset as u64, &file[offset..end]) {
            let typed = sink.error().expect("a refusal keeps its typed error");
            assert_eq!(e, SinkError::Refused(typed.code()));
            return Err(typed);
        }
        offset = end;
    }
    let summary = sink.finish()?;
    assert_eq!(summary.input_len, file.len() as u64);
    assert_eq!(summary.output_len, sink.output_len());
    let output = sink.output().to_vec();
    // Nothing past the output was touched.
    assert!(place[summary.output_len..].iter().all(|&b| b == 0xAA));
    Ok((summary, output))
}

fn whole(
    file: &[u8],
    capacity: usize,
    scratch: &mut Scratch<'_>,
) -> Result<Summary, DecompressError> {
    let mut rng = Rng::new(1);
    run(file, capacity, scratch, &mut rng, usize::MAX).map(|(s, _)| s)
}

#[test]
fn gzip_round_trips_in_any_chunking() {
    let mut rng = Rng::new(0x9219);
    let mut scratch = Scratch::new();
    for (i, len) in [0usize, 1, 100, 4000, 70_000, 300_000]
        .into_iter()
        .enumerate()
    {
        for level in ["-1", "-9"] {
            let data = sample(&mut rng, len, i as u64);
            let file = gzip(&data, &[level]);
            let rounds = if len <= 4000 { 12 } else { 3 };
            for round in 0..rounds {
                // Byte by byte once for the small files, blocks otherwise.
                let max_chunk = if round == 0 && len <= 4000 { 1 } else { 1500 };
                let (summary, output) =
                    run(&file, len + 16, &mut scratch, &mut rng, max_chunk).unwrap();
                assert!(output == data, "len {len} level {level} round {round}");
                assert_eq!(summary.format, Format::Gzip);
                assert_eq!(summary.members, 1);
                assert_eq!(summary.trailing_bytes, 0);
            }
            // A place of exactly the inflated size is enough, however the data arrives (the
            // end of the deflate data may come after the place is full); one byte less is not.
            whole(&file, len, &mut scratch).unwrap();
            for max_chunk in [1, 64, 1500] {
                let (_, output) = run(&file, len, &mut scratch, &mut rng, max_chunk).unwrap();
                assert!(output == data);
            }
            if len > 0 {
                let error = whole(&file, len - 1, &mut scratch).unwrap_err();
                assert_eq!(error.code(), "E-UNZIP-TOOBIG");
                assert!(matches!(
                    error,
                    DecompressError::OutputTooLarge {
                        format: Format::Gzip,
                        needed: None,
                        ..
                    }
                ));
            }
        }
    }
}

/// A gzip member around `deflate` (raw deflate data) with the given optional header parts.
fn gzip_member(
    deflate: &[u8],
    data: &[u8],
    extra: Option<&[u8]>,
    name: Option<&[u8]>,
    comment: Option<&[u8]>,
    header_crc: bool,
) -> Vec<u8> {
    let mut flags = 0u8;
    flags |= if header_crc { 2 } else { 0 };
    flags |= if extra.is_some() { 4 } else { 0 };
    flags |= if name.is_some() { 8 } else { 0 };
    flags |= if comment.is_some() { 16 } else { 0 };
    let mut file = vec![0x1F, 0x8B, 8, flags, 0x78, 0x56, 0x34, 0x12, 0, 3];
    if let Some(extra) = extra {
        file.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        file.extend_from_slice(extra);
    }
    for text in [name, comment].into_iter().flatten() {
        file.extend_from_slice(text);
        file.push(0);
    }
    if header_crc {
        let mut crc = crate::crc32::Crc32::new();
        crc.update(&file);
        file.extend_from_slice(&(crc.value() as u16).to_le_bytes());
    }
    file.extend_from_slice(deflate);
    let mut crc = crate::crc32::Crc32::new();
    crc.update(data);
    file.extend_from_slice(&crc.value().to_le_bytes());
    file.extend_from_slice(&(data.len() as u32).to_le_bytes());
    file
}

/// gzip(1)'s output without its 10-byte header and 8-byte trailer (written with -n: no name).
fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let file = gzip(data, &["-6"]);
    assert_eq!(file[3], 0, "gzip -n writes no optional header parts");
    file[10..file.len() - 8].to_vec()
}

#[test]
fn gzip_header_parts_in_every_combination() {
    let mut rng = Rng::new(0x4EAD);
    let mut scratch = Scratch::new();
    let data = sample(&mut rng, 5000, 2);
    let deflate = raw_deflate(&data);
    let extra: Vec<u8> = (0..300).map(|i| i as u8).collect();
    for parts in 0..16u8 {
        let file = gzip_member(
            &deflate,
            &data,
            (parts & 1 != 0).then_some(&extra[..]),
            (parts & 2 != 0).then_some(&b"vmlinuz-6.1.0"[..]),
            (parts & 4 != 0).then_some(&b"a comment"[..]),
            parts & 8 != 0,
        );
        // The reference tool takes the same file.
        assert!(gzip_decompressed_by_cli(&file) == data, "parts {parts:#b}");
        for _ in 0..6 {
            let (_, output) = run(&file, data.len(), &mut scratch, &mut rng, 40).unwrap();
            assert!(output == data, "parts {parts:#b}");
        }
    }
    // An empty FEXTRA, and a header CRC that is wrong.
    let file = gzip_member(&deflate, &data, Some(&[]), None, None, false);
    whole(&file, data.len(), &mut scratch).unwrap();
    let mut file = gzip_member(&deflate, &data, None, Some(b"x"), None, true);
    file[12] ^= 1;
    let error = whole(&file, data.len(), &mut scratch).unwrap_err();
    assert_eq!(
        error,
        DecompressError::Corrupt {
            format: Format::Gzip,
            offset: 13,
            what: "the header's CRC-16 (FHCRC) is wrong"
        }
    );
}

fn gzip_decompressed_by_cli(file: &[u8]) -> Vec<u8> {
    run_tool("gzip", &["-dc"], file)
}

#[test]
fn gzip_header_errors() {
    let mut scratch = Scratch::new();
    let data = b"netloader".repeat(100);
    let file = gzip(&data, &[]);
    let mut bad_method = file.clone();
    bad_method[2] = 7;
    assert_eq!(
        whole(&bad_method, 10_000, &mut scratch).unwrap_err(),
        DecompressError::Corrupt {
            format: Format::Gzip,
            offset: 2,
            what: "compression method is not deflate"
        }
    );
    let mut reserved = file.clone();
    reserved[3] = 0x20;
    assert!(matches!(
        whole(&reserved, 10_000, &mut scratch),
        Err(DecompressError::Corrupt { offset: 3, .. })
    ));
}

#[test]
fn gzip_members_in_a_row_and_trailing_bytes() {
    let mut rng = Rng::new(0x3E3B);
    let mut scratch = Scratch::new();
    let parts: Vec<Vec<u8>> = (0..3)
        .map(|i| sample(&mut rng, 20_000 + i * 777, i as u64))
        .collect();
    let mut file = Vec::new();
    let mut data = Vec::new();
    for part in &parts {
        file.extend_from_slice(&gzip(part, &[]));
        data.extend_from_slice(part);
    }
    // gzip(1) agrees that members in a row are their concatenation.
    assert!(gzip_decompressed_by_cli(&file) == data);
    for _ in 0..5 {
        let (summary, output) = run(&file, data.len(), &mut scratch, &mut rng, 1500).unwrap();
        assert!(output == data);
        assert_eq!((summary.members, summary.trailing_bytes), (3, 0));
    }
    // Trailing bytes after the last member are ignored and counted: zeros (padding by a
    // block device or a tar), text, a lone byte that could have begun a member.
    for (tail, counted) in [
        (&[0u8; 512][..], 512),
        (b"garbage\n", 8),
        (&[0x1F][..], 1),
        (&[0x1F, 0][..], 2),
    ] {
        let mut padded = file.clone();
        padded.extend_from_slice(tail);
        let (summary, output) = run(&padded, data.len(), &mut scratch, &mut rng, 1500).unwrap();
        assert!(output == data);
        assert_eq!((summary.members, summary.trailing_bytes), (3, counted));
    }
    // A second member that begins but breaks off is cut short, not trailing.
    let mut cut = file.clone();
    cut.extend_from_slice(&gzip(b"more", &[])[..12]);
    assert!(matches!(
        whole(&cut, data.len() + 4, &mut scratch),
        Err(DecompressError::Truncated {
            format: Format::Gzip,
            ..
        })
    ));
}

#[test]
fn gzip_corrupt_and_cut_files_are_refused() {
    let mut rng = Rng::new(0xC0EE);
    let mut scratch = Scratch::new();
    let data = sample(&mut rng, 50_000, 2);
    let file = gzip(&data, &[]);
    let n = file.len();

    // The trailer: CRC-32, then ISIZE.
    let mut bad_crc = file.clone();
    bad_crc[n - 8] ^= 0x40;
    let error = whole(&bad_crc, data.len(), &mut scratch).unwrap_err();
    assert_eq!(error.code(), "E-GZIP-CRC");
    let mut bad_size = file.clone();
    bad_size[n - 1] ^= 1;
    let error = whole(&bad_size, data.len(), &mut scratch).unwrap_err();
    assert_eq!(error.code(), "E-GZIP-CORRUPT");

    // Cut anywhere after the magic: cut short (the first two bytes alone are a plain file).
    for _ in 0..40 {
        let len = 2 + rng.index(n - 2);
        let error = run(&file[..len], data.len(), &mut scratch, &mut rng, 1500).unwrap_err();
        assert_eq!(
            error,
            DecompressError::Truncated {
                format: Format::Gzip,
                input_len: len as u64
            }
        );
    }

    // Any damage to the deflate data: refused, never a different output passed as good.
    for _ in 0..60 {
        let mut damaged = file.clone();
        let at = 10 + rng.index(n - 18);
        damaged[at] ^= 1 << rng.below(8);
        match run(&damaged, data.len() + 1000, &mut scratch, &mut rng, 1500) {
            Ok((_, output)) => assert!(output == data, "damage at {at} passed as good"),
            Err(e) => assert!(
                [
                    "E-GZIP-CORRUPT",
                    "E-GZIP-CRC",
                    "E-GZIP-TRUNCATED",
                    "E-UNZIP-TOOBIG"
                ]
                .contains(&e.code()),
                "{e:?}"
            ),
        }
    }
}

#[test]
fn plain_files_pass_through_unchanged() {
    let mut rng = Rng::new(0x91A1);
    let mut scratch = Scratch::new();
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x1F],
        vec![0x1F, 0x00, 1, 2, 3],
        vec![0xFD],
        vec![0xFD, b'7', b'z', b'X', b'Z'],
        vec![0xFD, b'7', b'z', b'X', b'Z', 0x01, 9, 9],
        b"\x7fELF and so on".to_vec(),
    ];
    cases.push(sample(&mut rng, 100_000, 1));
    for case in cases {
        for _ in 0..4 {
            let (summary, output) = run(&case, case.len(), &mut scratch, &mut rng, 700).unwrap();
            assert!(output == case);
            assert_eq!(summary.format, Format::Plain);
            assert_eq!(summary.members, 0);
        }
        if !case.is_empty() {
            let error = whole(&case, case.len() - 1, &mut scratch).unwrap_err();
            assert_eq!(
                error,
                DecompressError::OutputTooLarge {
                    format: Format::Plain,
                    capacity: case.len() as u64 - 1,
                    needed: Some(case.len() as u64)
                }
            );
        }
    }
}

/// The dictionary an xz file declares (it must have one).
fn xz_dictionary_size(file: &[u8]) -> usize {
    match super::xz_dictionary_size(file) {
        XzDictionary::Size(size) => size as usize,
        other => panic!("no dictionary size: {other:?}"),
    }
}

#[test]
fn formats_are_told_by_their_first_bytes() {
    let cases: [(&[u8], Option<Format>); 10] = [
        (b"", None),
        (&[0x1F], None),
        (&[0x1F, 0x8B], Some(Format::Gzip)),
        (&[0x1F, 0x8B, 8, 0], Some(Format::Gzip)),
        (&[0x1F, 0x00], Some(Format::Plain)),
        (&[0xFD, b'7', b'z', b'X', b'Z'], None),
        (&[0xFD, b'7', b'z', b'X', b'Z', 0], Some(Format::Xz)),
        (&[0xFD, b'7', b'z', b'X', b'Z', 1], Some(Format::Plain)),
        (b"\x7fELF", Some(Format::Plain)),
        (b"set timeout=0", Some(Format::Plain)),
    ];
    for (prefix, format) in cases {
        assert_eq!(Format::detect(prefix), format, "{prefix:02x?}");
    }
}

#[test]
fn the_dictionary_size_is_read_before_the_data() {
    let mut rng = Rng::new(0xD1C);
    let data = sample(&mut rng, 20_000, 2);
    // Presets, explicit sizes (2^n and 3 x 2^(n-1)), a BCJ filter before LZMA2, and block
    // headers that carry their sizes (xz writes them when it splits blocks for threads).
    let cases: [(&[&str], u64); 6] = [
        (&["-0"], 256 << 10),
        (&["-6"], 8 << 20),
        (&["--lzma2=preset=0,dict=3MiB"], 3 << 20),
        (&["--x86", "--lzma2=preset=0,dict=64KiB"], 64 << 10),
        (&["--delta=dist=2", "--lzma2=preset=0,dict=4KiB"], 4 << 10),
        (&["-0", "-T2", "--block-size=5000"], 256 << 10),
    ];
    for (args, size) in cases {
        let file = xz(&data, args);
        let sizes_given = file[12 + 1] & 0xC0 == 0xC0;
        assert_eq!(sizes_given, args.contains(&"-T2"));
        assert_eq!(
            super::xz_dictionary_size(&file),
            XzDictionary::Size(size),
            "{args:?}"
        );
        // Every shorter prefix that holds the block header says the same; shorter ones ask
        // for more.
        let header_end = 12 + (usize::from(file[12]) + 1) * 4;
        for cut in 0..header_end {
            assert_eq!(
                super::xz_dictionary_size(&file[..cut]),
                XzDictionary::NeedMore,
                "{args:?} cut at {cut}"
            );
        }
        assert_eq!(
            super::xz_dictionary_size(&file[..header_end]),
            XzDictionary::Size(size)
        );
    }
    // An empty stream has no block; other files are not read.
    assert_eq!(
        super::xz_dictionary_size(&xz(b"", &[])),
        XzDictionary::Size(0)
    );
    assert_eq!(
        super::xz_dictionary_size(&gzip(&data, &[])),
        XzDictionary::Unknown
    );
    // A damaged block header: a filter that runs past it, LZMA2 properties out of range.
    let mut file = xz(&data, &["-0"]);
    let header_len = (usize::from(file[12]) + 1) * 4;
    let mut damaged = file.clone();
    damaged[12 + 1] = 0x03; // four filters
    assert_eq!(super::xz_dictionary_size(&damaged), XzDictionary::Unknown);
    let props = (12..12 + header_len)
        .find(|&at| file[at] == 0x21 && file[at + 1] == 1)
        .unwrap()
        + 2;
    file[props] = 41;
    assert_eq!(super::xz_dictionary_size(&file), XzDictionary::Unknown);
    // Random bytes behind the magic number never panic.
    for _ in 0..2000 {
        let mut bytes = vec![0xFD, b'7', b'z', b'X', b'Z', 0];
        bytes.extend((0..rng.index(80)).map(|_| rng.below(256) as u8));
        let _ = super::xz_dictionary_size(&bytes);
    }
}

#[test]
fn xz_round_trips_with_a_lent_dictionary() {
    let mut rng = Rng::new(0x7A);
    let mut dictionary = vec![0u8; 1 << 20];
    let mut scratch = Scratch::with_xz_dictionary(&mut dictionary);
    assert_eq!(scratch.xz_dictionary_len(), 1 << 20);
    let options: [&[&str]; 5] = [
        &["-0"],
        &["-1", "--check=crc32"],
        &["-0", "--check=none"],
        &["--x86", "--lzma2=preset=0"],
        &["--delta=dist=4", "--lzma2=preset=0,dict=64KiB"],
    ];
    for (i, len) in [0usize, 5, 3000, 200_000].into_iter().enumerate() {
        for args in options {
            let data = sample(&mut rng, len, i as u64);
            let file = xz(&data, args);
            // (An empty file has no block, so no dictionary size.)
            assert!(len == 0 || xz_dictionary_size(&file) <= 1 << 20);
            for round in 0..3 {
                let max_chunk = if round == 0 && len <= 3000 { 1 } else { 1500 };
                let (summary, output) =
                    run(&file, len + 3, &mut scratch, &mut rng, max_chunk).unwrap();
                assert!(output == data, "len {len} {args:?}");
                assert_eq!((summary.format, summary.members), (Format::Xz, 1));
            }
            whole(&file, len, &mut scratch).unwrap();
            for max_chunk in [1, 64, 1500] {
                let (_, output) = run(&file, len, &mut scratch, &mut rng, max_chunk).unwrap();
                assert!(output == data);
            }
            if len > 0 {
                let error = whole(&file, len - 1, &mut scratch).unwrap_err();
                assert_eq!(error.code(), "E-UNZIP-TOOBIG", "len {len} {args:?}");
            }
        }
    }
}

#[test]
fn xz_streams_in_a_row_with_padding() {
    let mut rng = Rng::new(0x7A7A);
    let mut dictionary = vec![0u8; 256 << 10];
    let mut scratch = Scratch::with_xz_dictionary(&mut dictionary);
    let a = sample(&mut rng, 10_000, 0);
    let b = sample(&mut rng, 7_000, 2);
    let mut file = xz(&a, &["-0"]);
    file.extend_from_slice(&[0; 8]);
    file.extend_from_slice(&xz(&b, &["-0"]));
    file.extend_from_slice(&[0; 4]);
    let data = [&a[..], &b[..]].concat();
    // xz(1) reads the same file the same way.
    assert!(run_tool("xz", &["-dc"], &file) == data);
    for _ in 0..5 {
        let (summary, output) = run(&file, data.len(), &mut scratch, &mut rng, 900).unwrap();
        assert!(output == data);
        assert_eq!(summary.members, 2);
    }
    // Padding that is not a multiple of 4, and garbage after a stream: refused, as xz(1) does.
    let mut odd = file.clone();
    odd.push(0);
    assert_eq!(
        whole(&odd, data.len(), &mut scratch).unwrap_err().code(),
        "E-XZ-CORRUPT"
    );
    let mut garbage = file.clone();
    garbage.extend_from_slice(b"junk");
    assert_eq!(
        whole(&garbage, data.len(), &mut scratch)
            .unwrap_err()
            .code(),
        "E-XZ-CORRUPT"
    );
}

#[test]
fn xz_refusals_name_what_is_missing() {
    let mut rng = Rng::new(0xD1C7);
    let data = sample(&mut rng, 30_000, 2);

    // No dictionary lent at all.
    let file = xz(&data, &["-0"]);
    let error = whole(&file, data.len(), &mut Scratch::new()).unwrap_err();
    assert_eq!(
        error,
        DecompressError::DictionaryTooSmall {
            needed: None,
            have: 0
        }
    );

    // A dictionary smaller than the stream's: the size it needs is named.
    let file = xz(&data, &["--lzma2=preset=0,dict=512KiB"]);
    let needed = xz_dictionary_size(&file);
    assert_eq!(needed, 512 << 10);
    let mut small = vec![0u8; needed - 1];
    let error = whole(
        &file,
        data.len(),
        &mut Scratch::with_xz_dictionary(&mut small),
    )
    .unwrap_err();
    assert_eq!(
        error,
        DecompressError::DictionaryTooSmall {
            needed: Some(needed as u64),
            have: needed as u64 - 1
        }
    );
    assert_eq!(error.code(), "E-XZ-DICT");
    let mut exact = vec![0u8; needed];
    whole(
        &file,
        data.len(),
        &mut Scratch::with_xz_dictionary(&mut exact),
    )
    .unwrap();

    // SHA-256 checks are not built in.
    let mut dictionary = vec![0u8; 1 << 20];
    let mut scratch = Scratch::with_xz_dictionary(&mut dictionary);
    let file = xz(&data, &["-0", "--check=sha256"]);
    let error = whole(&file, data.len(), &mut scratch).unwrap_err();
    assert_eq!(
        error,
        DecompressError::Unsupported {
            what: "check type",
            value: 10
        }
    );

    // Damage: a content check that fails, a cut stream, any flipped bit.
    let file = xz(&data, &["-0"]);
    let n = file.len();
    let mut bad_check = file.clone();
    // The CRC-64 sits just before the index (which starts with a zero byte) at the end of
    // the block; find it from the footer's backward size.
    let backward = (u32::from_le_bytes(file[n - 8..n - 4].try_into().unwrap()) as usize + 1) * 4;
    let index = n - 12 - backward;
    bad_check[index - 1] ^= 0x80;
    let error = whole(&bad_check, data.len(), &mut scratch).unwrap_err();
    assert_eq!(error.code(), "E-XZ-CRC", "{error:?}");
    for _ in 0..30 {
        let len = 6 + rng.index(n - 6);
        let error = run(&file[..len], data.len(), &mut scratch, &mut rng, 900).unwrap_err();
        assert_eq!(error.code(), "E-XZ-TRUNCATED", "cut at {len}: {error:?}");
    }
    for _ in 0..40 {
        let mut damaged = file.clone();
        let at = 6 + rng.index(n - 6);
        damaged[at] ^= 1 << rng.below(8);
        match run(&damaged, data.len() + 1000, &mut scratch, &mut rng, 900) {
            Ok((_, output)) => assert!(output == data, "damage at {at} passed as good"),
            // An xz code (E-XZ-...), or the place too small.
            Err(e) => {
                assert!(e.code().split('-').nth(1) == Some("XZ") || e.code() == "E-UNZIP-TOOBIG")
            }
        }
    }
}

#[test]
fn random_and_mutated_streams_never_panic() {
    let mut rng = Rng::new(0xF022);
    let mut dictionary = vec![0u8; 64 << 10];
    let mut scratch = Scratch::with_xz_dictionary(&mut dictionary);
    let data = sample(&mut rng, 3000, 2);
    let seeds = [
        gzip(&data, &[]),
        gzip_member(
            &raw_deflate(&data),
            &data,
            Some(b"ex"),
            Some(b"n"),
            Some(b"c"),
            true,
        ),
        xz(&data, &["--lzma2=preset=0,dict=64KiB"]),
        xz(&data, &["--x86", "--lzma2=preset=0,dict=64KiB"]),
    ];
    for _ in 0..1500 {
        let mut file = seeds[rng.index(seeds.len())].clone();
        match rng.below(4) {
            // Random bytes behind a magic number.
            0 => {
                let magic: &[u8] = if rng.below(2) == 0 {
                    &GZIP_MAGIC
                } else {
                    &XZ_MAGIC
                };
                file = magic.to_vec();
                file.extend((0..rng.below(400)).map(|_| rng.next_u64() as u8));
            }
            // A few flipped bytes, a cut, a splice of two files.
            1 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.index(file.len());
                    file[at] = rng.next_u64() as u8;
                }
            }
            2 => file.truncate(rng.index(file.len() + 1)),
            _ => {
                let other = &seeds[rng.index(seeds.len())];
                let at = rng.index(file.len());
                file.truncate(at);
                file.extend_from_slice(&other[rng.index(other.len())..]);
            }
        }
        let capacity = rng.index(5000);
        if let Ok((summary, output)) = run(&file, capacity, &mut scratch, &mut rng, 300) {
            assert!(output.len() <= capacity);
            assert_eq!(summary.output_len, output.len());
        }
    }
}

#[test]
fn sink_contract() {
    let mut scratch = Scratch::new();
    let file = gzip(b"hello", &[]);
    let mut place = [0u8; 4];
    let mut sink = DecompressSink::new(&mut place, &mut scratch);
    assert_eq!(sink.size_hint(1 << 40), Ok(()));
    assert_eq!(sink.format(), None);
    // Out of order: refused, not taken.
    assert!(matches!(
        sink.write_at(3, &file[3..]),
        Err(SinkError::Refused(_))
    ));
    assert_eq!(sink.error(), None);
    sink.write_at(0, &file[..2]).unwrap();
    assert_eq!(sink.format(), Some(Format::Gzip));
    assert_eq!(
        sink.write_at(2, &file[2..]),
        Err(SinkError::Refused("E-UNZIP-TOOBIG"))
    );
    // Once refused, always refused, with the same error.
    let error = sink.error().unwrap();
    assert_eq!(sink.finish(), Err(error));
    assert_eq!(sink.push(b"x"), Err(error));

    // A plain file whose announced size does not fit is refused at its first bytes; a gzip
    // file with the same announcement is not (its output size is unknown).
    let mut place = [0u8; 100];
    let mut sink = DecompressSink::new(&mut place, &mut scratch);
    sink.size_hint(101).unwrap();
    assert_eq!(
        sink.write_at(0, b"plain"),
        Err(SinkError::Refused("E-UNZIP-TOOBIG"))
    );
    assert_eq!(
        sink.error(),
        Some(DecompressError::OutputTooLarge {
            format: Format::Plain,
            capacity: 100,
            needed: Some(101)
        })
    );
    let mut sink = DecompressSink::new(&mut place, &mut scratch);
    sink.size_hint(1 << 20).unwrap();
    sink.write_at(0, &file).unwrap();
    assert_eq!(sink.finish().unwrap().output_len, 5);
}

#[test]
fn every_error_is_one_line_with_a_code_and_advice() {
    let errors = [
        DecompressError::Corrupt {
            format: Format::Gzip,
            offset: 7,
            what: "invalid deflate data",
        },
        DecompressError::Checksum {
            format: Format::Xz,
            expected: 1,
            actual: 2,
        },
        DecompressError::Truncated {
            format: Format::Gzip,
            input_len: 9,
        },
        DecompressError::OutputTooLarge {
            format: Format::Xz,
            capacity: 10,
            needed: None,
        },
        DecompressError::OutputTooLarge {
            format: Format::Plain,
            capacity: 10,
            needed: Some(11),
        },
        DecompressError::DictionaryTooSmall {
            needed: Some(8 << 20),
            have: 4 << 20,
        },
        DecompressError::DictionaryTooSmall {
            needed: None,
            have: 0,
        },
        DecompressError::Unsupported {
            what: "check type",
            value: 10,
        },
    ];
    for error in errors {
        let line = std::format!("{}: /kernel.gz: {error}: {}", error.code(), error.advice());
        assert!(!line.contains('\n'), "{line}");
        assert!(error.code().starts_with("E-"));
    }
    assert_eq!(
        errors[0].to_string(),
        "not a valid gzip file: invalid deflate data (at byte 7)"
    );
}
