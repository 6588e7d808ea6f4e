//! `netloader serve`'s TFTP against atftpd through a lossy link: the same netloader client
//! (the ISO, e1000) fetches the same file through the same seeded relay, once from atftpd in a
//! namespace (dnsmasq naming the file, `netloader_tests::netns`) and once from serve on a LAN
//! (`netloader_tests::lan`, with the LAN's dnsmasq for the address), runs interleaved.
//!
//! Run (root: namespaces and taps): `cargo run --release -p netloader-tests --bin serve_bench
//! [-- --size-mib 1 --loss 0.05 --runs 3 --seed 5]`. Each run uses seed + its number for the
//! relay, the same for both servers. Times come from the wire (QEMU's `filter-dump`): from the
//! read request for the file to the client's last ACK. This is a benchmark: it prints figures
//! and asserts nothing about them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netloader::forms::{self, Form};
use netloader_tests::lan::{Lan, LanSetup};
use netloader_tests::netns::{self, Impairment, Servers, TestNet};
use netloader_tests::pcap::{TftpTransfer, tftp_transfer};
use netloader_tests::qemu::{Qemu, work_dir};

const FILE: &str = "big.bin";

struct Options {
    size: usize,
    loss: f64,
    runs: u64,
    seed: u64,
}

fn options() -> Options {
    let mut options = Options {
        size: 1 << 20,
        loss: 0.05,
        runs: 3,
        seed: 5,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        match pair[0].as_str() {
            "--size-mib" => options.size = value.parse::<usize>().expect("--size-mib N") << 20,
            "--loss" => options.loss = value.parse().expect("--loss 0.05"),
            "--runs" => options.runs = value.parse::<u64>().expect("--runs N").max(1),
            "--seed" => options.seed = value.parse().expect("--seed N"),
            other => panic!("unknown option {other}; see the top of tests/src/bin/serve_bench.rs"),
        }
    }
    options
}

/// The `serve` binary of this package, next to this one.
fn serve_binary() -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    let serve = me.with_file_name("serve");
    assert!(
        serve.exists(),
        "{} is missing: cargo build --release -p netloader-tests --bins",
        serve.display()
    );
    serve
}

/// Boot the ISO on `netdev` and time the download of `requested` from the capture.
fn run(name: &str, netdev: &str, iso: &Path, requested: &str) -> Option<TftpTransfer> {
    let pcap = work_dir().join(format!("{name}.pcap"));
    let _ = std::fs::remove_file(&pcap);
    let outcome = Qemu::new(name, "pc", 256)
        .timeout(Duration::from_secs(300))
        .args(["-netdev", netdev])
        .args(["-device", "e1000,netdev=n0"])
        .args([
            "-object",
            &format!("filter-dump,id=f0,netdev=n0,file={}", pcap.display()),
        ])
        .arg("-cdrom")
        .arg(iso)
        .run(|serial| serial.contains("netloader: stopped."));
    let transfer = std::fs::read(&pcap)
        .ok()
        .and_then(|bytes| tftp_transfer(&bytes, requested));
    if transfer.is_none() || outcome.timed_out {
        eprintln!(
            "  {name}: no complete transfer (timed out: {}); logs: {} {}",
            outcome.timed_out,
            outcome.log.display(),
            pcap.display()
        );
    }
    transfer
}

fn median(mut seconds: Vec<f64>) -> Option<f64> {
    if seconds.is_empty() {
        return None;
    }
    seconds.sort_by(f64::total_cmp);
    Some(seconds[seconds.len() / 2])
}

fn main() {
    let options = options();
    if !netns::is_root() {
        eprintln!("serve_bench needs root (network namespaces and tap devices)");
        std::process::exit(2);
    }
    let dir = work_dir().join("serve-bench");
    let root = dir.join("tftp");
    std::fs::create_dir_all(root.join("netloader.cfg")).unwrap();
    std::fs::write(
        root.join(FILE),
        netloader_tests::scenario::random_bytes(options.size, 0x5e7e),
    )
    .unwrap();
    // For serve: the netloader client gets this config and fetches the file as its kernel (it
    // is not one: the loader stops after the download, which is all that is timed).
    std::fs::write(
        root.join("netloader.cfg/default"),
        format!("set timeout=0\nmenuentry bench {{\n  multiboot /{FILE}\n}}\n"),
    )
    .unwrap();
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let serve = serve_binary();

    let mut atftpd = Vec::new();
    let mut ours = Vec::new();
    let mut options_seen = (String::new(), String::new());
    for run_number in 0..options.runs {
        let impairment = Impairment {
            loss: options.loss,
            seed: options.seed + run_number,
            ..Impairment::NONE
        };
        let servers = Servers {
            impairment,
            ..Servers::new(FILE)
        };
        let net = TestNet::start_servers(&root, &servers, &dir.join("atftpd-servers"))
            .unwrap_or_else(|e| panic!("namespace with atftpd: {e}"));
        let a = run(
            &format!("serve-bench-atftpd-{run_number}"),
            &net.netdev("n0"),
            &iso,
            FILE,
        );
        drop(net);
        let setup = LanSetup {
            serve: &serve,
            serve_args: vec![OsString::from(&root)],
            lan_dhcp: true,
            impairment,
        };
        let lan = Lan::start(&setup, &dir.join("serve-servers"))
            .unwrap_or_else(|e| panic!("LAN with serve: {e}"));
        let s = run(
            &format!("serve-bench-serve-{run_number}"),
            &lan.netdev("n0"),
            &iso,
            &format!("/{FILE}"),
        );
        drop(lan);
        let figure = |t: &Option<TftpTransfer>| {
            t.as_ref()
                .map_or("failed".to_string(), |t| format!("{:.2} s", t.seconds))
        };
        eprintln!(
            "  run {run_number} (seed {}): atftpd {}, serve {}",
            impairment.seed,
            figure(&a),
            figure(&s)
        );
        if let Some(t) = &a {
            options_seen.0 = t.options.clone();
            atftpd.push(t.seconds);
        }
        if let Some(t) = &s {
            options_seen.1 = t.options.clone();
            ours.push(t.seconds);
        }
    }

    let size = options.size;
    println!(
        "TFTP download of {} MiB by netloader (ISO, e1000) through the seeded relay, {:.0}% loss each way, {} runs (median); timed from the wire.",
        size >> 20,
        options.loss * 100.0,
        options.runs
    );
    println!();
    println!("| server | median s | MB/s | runs ok | OACK |");
    println!("| --- | --- | --- | --- | --- |");
    let row = |label: &str, seconds: &[f64], oack: &str| {
        let m = median(seconds.to_vec());
        println!(
            "| {label} | {} | {} | {}/{} | {oack} |",
            m.map_or("-".into(), |m| format!("{m:.2}")),
            m.map_or("-".into(), |m| format!("{:.2}", size as f64 / m / 1e6)),
            seconds.len(),
            options.runs
        );
        m
    };
    let a = row("atftpd 0.8", &atftpd, &options_seen.0);
    let s = row("netloader serve", &ours, &options_seen.1);
    if let (Some(a), Some(s)) = (a, s) {
        println!();
        println!("serve / atftpd speed: {:.2}x", a / s);
    }
}
