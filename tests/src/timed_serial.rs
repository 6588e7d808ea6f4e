//! Boot QEMU (TCG) with its serial port on a pipe and timestamp every line as it arrives, for
//! timing boots from the host: QEMU start -> the first line holding a marker.
//!
//! The harness in `qemu.rs` polls a log file every 25 ms, too coarse for a benchmark; here a
//! thread reads QEMU's stdout (`-serial stdio`) and stamps each line when its newline arrives.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::qemu::QEMU;

/// One serial line and when its end arrived, counted from QEMU's start.
#[derive(Clone, Debug)]
pub struct TimedLine {
    pub at: Duration,
    pub text: String,
}

/// A boot stopped at its marker (or at the timeout, or when QEMU ended).
#[derive(Debug)]
pub struct TimedRun {
    pub lines: Vec<TimedLine>,
    /// When the first line holding the marker arrived; None when it never did.
    pub marker_at: Option<Duration>,
    /// The timestamped serial log, kept for reading where the time went.
    pub log: PathBuf,
}

impl TimedRun {
    /// When the first line containing `text` arrived.
    pub fn first(&self, text: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|l| l.text.contains(text))
            .map(|l| l.at)
    }
}

/// The machine of the boot tests (pc, TCG, no display, no default NIC, isa-debug-exit) with
/// `memory_mib` and `extra` arguments; serial on stdout. Stops when a line contains `marker`.
pub fn run(
    name: &str,
    memory_mib: u32,
    extra: &[OsString],
    marker: &str,
    timeout: Duration,
    log_dir: &Path,
) -> TimedRun {
    run_on("pc", name, memory_mib, extra, marker, timeout, log_dir)
}

/// [`run`] on another QEMU machine type (`q35` for OVMF, whose arguments go in `extra`).
pub fn run_on(
    machine: &str,
    name: &str,
    memory_mib: u32,
    extra: &[OsString],
    marker: &str,
    timeout: Duration,
    log_dir: &Path,
) -> TimedRun {
    let start = Instant::now();
    let mut child = Command::new(QEMU)
        .args(["-machine", &format!("{machine},accel=tcg")])
        .args(["-m", &memory_mib.to_string()])
        .args([
            "-display",
            "none",
            "-no-reboot",
            "-monitor",
            "none",
            "-nic",
            "none",
        ])
        .args([
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-serial",
            "stdio",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {QEMU}: {e} (Debian: apt-get install qemu-system-x86)"));
    let stdout = child.stdout.take().expect("QEMU's stdout is piped");
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut bytes = Vec::new();
        // read_until returns as soon as a newline is in: the stamp is the line's arrival.
        while reader.read_until(b'\n', &mut bytes).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&bytes)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            if sender
                .send(TimedLine {
                    at: start.elapsed(),
                    text,
                })
                .is_err()
            {
                break;
            }
            bytes.clear();
        }
    });
    let mut lines = Vec::new();
    let mut marker_at = None;
    while marker_at.is_none() {
        let Some(left) = timeout.checked_sub(start.elapsed()) else {
            break;
        };
        match receiver.recv_timeout(left) {
            Ok(line) => {
                if line.text.contains(marker) {
                    marker_at = Some(line.at);
                }
                lines.push(line);
            }
            Err(_) => break, // timed out, or QEMU closed its stdout (it ended)
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    lines.extend(receiver.try_iter());
    let log = log_dir.join(format!("{name}.log"));
    if let Ok(mut file) = std::fs::File::create(&log) {
        for line in &lines {
            let _ = writeln!(file, "[{:8.3}] {}", line.at.as_secs_f64(), line.text);
        }
    }
    TimedRun {
        lines,
        marker_at,
        log,
    }
}
