//! Host throughput of the decompressing sink (a benchmark, not a test: it prints, it asserts
//! only that the output is right).
//!
//! ```sh
//! cargo run --release -p netloader-proto --example decompress_speed [FILE]
//! ```
//!
//! FILE (default: 32 MiB of generated data, text-like words with short random runs between them) is compressed
//! with gzip(1) -6 and xz(1) -6, then decompressed fed in TFTP-sized pieces (1428 bytes, what
//! QEMU's server grants) and in one piece. MB/s are of decompressed output.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use netloader_proto::decompress::{DecompressSink, Scratch};

fn compress(tool: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output.stdout
}

fn generated(len: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let words: [&[u8]; 6] = [
        b"kernel ",
        b"module ",
        b"0x100000 ",
        b"boot\n",
        b"e820 ",
        b"mov ",
    ];
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        if next() % 4 != 0 {
            data.extend_from_slice(words[(next() % 6) as usize]);
        } else {
            let run = next() % 16;
            data.extend((0..run).map(|_| next() as u8));
        }
    }
    data.truncate(len);
    data
}

fn main() {
    let data = match std::env::args_os().nth(1) {
        Some(path) => std::fs::read(&path).expect("read FILE"),
        None => generated(32 << 20),
    };
    let mut dictionary = vec![0u8; 8 << 20];
    let mut output = vec![0u8; data.len()];
    println!("input: {} bytes", data.len());
    for (name, tool, args) in [
        ("gzip -6", "gzip", &["-c", "-n", "-6"][..]),
        ("xz -6", "xz", &["-c", "-6", "-T1"][..]),
    ] {
        let file = compress(tool, args, &data);
        for chunk in [1428, usize::MAX] {
            let mut scratch = Scratch::with_xz_dictionary(&mut dictionary);
            let start = Instant::now();
            let mut sink = DecompressSink::new(&mut output, &mut scratch);
            for piece in file.chunks(chunk.min(file.len()).max(1)) {
                sink.push(piece).expect("decompress");
            }
            let summary = sink.finish().expect("finish");
            let seconds = start.elapsed().as_secs_f64();
            assert!(sink.output() == data, "output differs");
            println!(
                "{name:8} {:>9} -> {:>9} bytes, pieces of {:>7}: {:6.1} MB/s",
                file.len(),
                summary.output_len,
                if chunk == usize::MAX {
                    "all".to_string()
                } else {
                    chunk.to_string()
                },
                data.len() as f64 / seconds / 1e6
            );
        }
    }
}
