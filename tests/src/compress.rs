//! Compressed files for the boot tests and benchmarks, made by the reference tools (gzip(1) and
//! xz(1), from `scripts/install-deps`), so that netloader's decoders are checked against what
//! users serve.

use std::io::Write;
use std::process::{Command, Stdio};

/// `tool args` with `data` on stdin: its stdout. Fails the test, saying what to install, when
/// the tool is missing.
fn run(tool: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{tool} is missing ({e}): install it (Debian: apt-get install gzip xz-utils); scripts/install-deps does")
        });
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "{tool} {args:?} failed");
    output.stdout
}

/// gzip(1) at `level` (1-9), no name or time stamp in the header (the same bytes every run).
pub fn gzip(data: &[u8], level: u8) -> Vec<u8> {
    run("gzip", &["-c", "-n", &format!("-{level}")], data)
}

/// xz(1) with `args` (a preset such as `-6`, filters...), one thread (the same bytes every run).
pub fn xz(data: &[u8], args: &[&str]) -> Vec<u8> {
    let mut all = vec!["-c", "-T1"];
    all.extend_from_slice(args);
    run("xz", &all, data)
}
