//! TFTP download throughput: netloader against iPXE (Debian's `ipxe-qemu` ROMs, QEMU's own NIC
//! ROMs) on the same card, the same file and the same server, in one run.
//!
//! Run: `cargo run --release -p netloader-tests --bin bench [-- --size-mib 32 --rtt-ms 1 --nics e1000,rtl8139 --runs 1 --servers qemu,atftpd --clients netloader,undi,ipxe]`
//! (`--runs N`: N transfers per client, interleaved, median shown; `--clients netloader,ipxe`.)
//!
//! Clients: `netloader` (the ISO, its native driver), `undi` (netloader.pxe built with
//! `--undi always`, chained from the card's iPXE ROM and driving the card through that ROM's
//! UNDI, its config embedded: `multiboot /big.bin`), `ipxe` (the ROM itself, by a script).
//!
//! Servers: (a) QEMU's built-in TFTP server (user networking, restrict=on); (b) atftpd in a
//! network namespace through the delay relay of `netloader_tests::netns` (root only; skipped
//! with a note otherwise). Both clients are timed the same way, from the wire: QEMU's
//! `filter-dump` writes every frame of the card to a pcap file, and the transfer time is from
//! the read request for the file to the client's last ACK of it. iPXE prints nothing to the
//! serial port, so its script fetches `done.txt` afterwards; that read request (not the script
//! text, which names it too) in the capture ends its run. This is a benchmark: it prints figures and asserts nothing about them.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use netloader::forms::{self, Form};
use netloader_tests::netns::{self, Impairment, TestNet};
use netloader_tests::qemu::{Qemu, work_dir};

const FILE: &str = "big.bin";
const IPXE_SCRIPT: &str = "boot.ipxe";

#[derive(Clone, Copy, PartialEq)]
enum Client {
    Netloader,
    /// netloader.pxe through the card's PXE ROM's UNDI.
    Undi,
    Ipxe,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Netloader => "netloader",
            Client::Undi => "undi",
            Client::Ipxe => "ipxe",
        }
    }

    /// What DHCP names as the boot file for this client.
    fn boot_file(self) -> &'static str {
        match self {
            Client::Netloader => FILE,
            Client::Undi => UNDI_PROGRAM,
            Client::Ipxe => IPXE_SCRIPT,
        }
    }
}

const UNDI_PROGRAM: &str = "netloader.pxe";

/// One timed transfer, read from the capture.
type Transfer = netloader_tests::pcap::TftpTransfer;

fn mb_per_s(transfer: &Transfer, size: usize) -> f64 {
    size as f64 / transfer.seconds / 1e6
}

/// Whether the last bytes of a growing file hold `needle` (cheap to poll every 25 ms).
fn tail_contains(path: &Path, needle: &[u8]) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(length) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    let _ = file.seek(SeekFrom::Start(length.saturating_sub(4096)));
    let mut tail = Vec::new();
    let _ = file.read_to_end(&mut tail);
    tail.windows(needle.len()).any(|w| w == needle)
}

/// Where a run gets its network.
enum Server<'a> {
    /// QEMU's user networking (restrict=on) serving `dir`.
    Qemu(&'a Path),
    /// A namespace with atftpd behind the relay.
    Atftpd(&'a TestNet),
}

fn run(
    client: Client,
    nic: &str,
    server: &Server,
    dir: &Path,
    iso: &Path,
    label: &str,
) -> Option<Transfer> {
    let name = format!("bench-{label}-{}-{nic}", client.name());
    let pcap = dir.join(format!("{name}.pcap"));
    let _ = std::fs::remove_file(&pcap);
    let boot_file = client.boot_file();
    let netdev = match server {
        Server::Qemu(root) => format!(
            "user,id=n0,restrict=on,tftp={},bootfile={boot_file}",
            root.display()
        ),
        Server::Atftpd(net) => net.netdev("n0"),
    };
    let mut qemu = Qemu::new(&name, "pc", 256);
    qemu.timeout(Duration::from_secs(600))
        .args(["-netdev", &netdev])
        .args(["-device", &format!("{nic},netdev=n0")])
        .args([
            "-object",
            &format!("filter-dump,id=dump0,netdev=n0,file={}", pcap.display()),
        ]);
    match client {
        Client::Netloader => qemu.args(["-cdrom", iso.to_str().unwrap()]),
        Client::Undi | Client::Ipxe => qemu.args(["-boot", "order=n"]),
    };
    let outcome = match client {
        Client::Netloader | Client::Undi => {
            qemu.run(|serial| serial.contains("netloader: stopped."))
        }
        Client::Ipxe => qemu.run(|_| tail_contains(&pcap, b"\0\x01done.txt\0")),
    };
    if client == Client::Undi && !outcome.contains("nic: the card through its PXE ROM's UNDI") {
        eprintln!(
            "  {name}: netloader.pxe did not drive the card through UNDI; log: {}",
            outcome.log.display()
        );
        return None;
    }
    let transfer = std::fs::read(&pcap)
        .ok()
        .and_then(|bytes| netloader_tests::pcap::tftp_transfer(&bytes, FILE));
    if transfer.is_none() || outcome.timed_out {
        eprintln!(
            "  {name}: no complete transfer (timed out: {}); logs: {} {}",
            outcome.timed_out,
            outcome.log.display(),
            pcap.display()
        );
    }
    if transfer.is_some() {
        let _ = std::fs::remove_file(&pcap); // tens of MiB each; kept when a run failed
    }
    transfer
}

struct Options {
    size: usize,
    rtt: Duration,
    nics: Vec<String>,
    /// Transfers per client and server; the table shows the median (runs interleaved:
    /// netloader, iPXE, netloader, ... so that a change in the host's load hits both).
    runs: usize,
    /// Which servers to run: "qemu", "atftpd" (default both).
    servers: Vec<String>,
    /// Which clients to run: "netloader", "ipxe" (default both).
    clients: Vec<String>,
}

fn options() -> Options {
    let mut options = Options {
        size: 32 << 20,
        rtt: Duration::from_millis(1),
        nics: vec![],
        runs: 1,
        servers: vec!["qemu".into(), "atftpd".into()],
        clients: vec!["netloader".into(), "undi".into(), "ipxe".into()],
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        match pair[0].as_str() {
            "--size-mib" => options.size = value.parse::<usize>().expect("--size-mib N") << 20,
            "--rtt-ms" => {
                options.rtt =
                    Duration::from_secs_f64(value.parse::<f64>().expect("--rtt-ms N") / 1e3)
            }
            "--nics" => options.nics = value.split(',').map(String::from).collect(),
            "--runs" => options.runs = value.parse::<usize>().expect("--runs N").max(1),
            "--servers" => options.servers = value.split(',').map(String::from).collect(),
            "--clients" => options.clients = value.split(',').map(String::from).collect(),
            other => panic!("unknown option {other}; see the top of tests/src/bin/bench.rs"),
        }
    }
    if options.nics.is_empty() {
        options.nics = ["e1000", "rtl8139", "virtio-net-pci"]
            .map(String::from)
            .to_vec();
    }
    options
}

fn row(options: &Options, nic: &str, server: &str, results: &Results) {
    let size = options.size;
    let figure = |t: &Option<Transfer>, client: Client| {
        if !options.clients.iter().any(|c| c == client.name()) {
            return "not run".to_string();
        }
        t.as_ref().map_or("failed".to_string(), |t| {
            format!("{:.2}", mb_per_s(t, size))
        })
    };
    let ratio = |ours: &Option<Transfer>| match (ours, &results.ipxe) {
        (Some(n), Some(i)) => format!("{:.2}x", i.seconds / n.seconds),
        _ => "-".to_string(),
    };
    let opts = |t: &Option<Transfer>| t.as_ref().map_or(String::new(), |t| t.options.clone());
    println!(
        "| {nic} | {server} | {} | {} | {} | {} | {} | {} | {} |",
        figure(&results.netloader, Client::Netloader),
        figure(&results.undi, Client::Undi),
        figure(&results.ipxe, Client::Ipxe),
        ratio(&results.netloader),
        ratio(&results.undi),
        opts(&results.netloader),
        opts(&results.ipxe)
    );
}

/// The median transfer of each client on one card and server.
struct Results {
    netloader: Option<Transfer>,
    undi: Option<Transfer>,
    ipxe: Option<Transfer>,
}

fn main() {
    let options = options();
    let dir: PathBuf = work_dir().join("bench");
    let root = dir.join("tftp");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join(FILE),
        netloader_tests::scenario::random_bytes(options.size, 0x2545_F491),
    )
    .unwrap();
    std::fs::write(root.join("done.txt"), "done\n").unwrap();
    // ${next-server} is 10.0.2.2 under QEMU and 192.168.77.1 in the namespace.
    std::fs::write(
        root.join(IPXE_SCRIPT),
        format!("#!ipxe\nimgfetch tftp://${{next-server}}/{FILE}\nimgfetch tftp://${{next-server}}/done.txt\n"),
    )
    .unwrap();
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let undi_options = forms::Options {
        config: Some(
            format!("set timeout=0\nmenuentry bench {{\n  multiboot /{FILE}\n}}\n").into_bytes(),
        ),
        undi: netloader::pxe::UndiPolicy::Always,
    };
    std::fs::write(
        root.join(UNDI_PROGRAM),
        forms::build_with(Form::Pxe, &undi_options).unwrap(),
    )
    .unwrap();

    let size = options.size;
    let rtt_ms = options.rtt.as_secs_f64() * 1e3;
    println!(
        "TFTP download of {} MiB; MB/s = 10^6 bytes per second, timed from the wire (pcap).",
        size >> 20
    );
    println!();
    println!(
        "| NIC | server | netloader MB/s | netloader via UNDI MB/s | iPXE MB/s | netloader / iPXE | via UNDI / iPXE | netloader's options | iPXE's options |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for nic in &options.nics {
        if options.servers.iter().any(|s| s == "qemu") {
            let server = Server::Qemu(&root);
            let results = interleaved(&options, nic, |client| {
                run(client, nic, &server, &dir, &iso, "qemu")
            });
            row(&options, nic, "QEMU built-in", &results);
        }

        if !options.servers.iter().any(|s| s == "atftpd") {
            continue;
        }
        if !netns::is_root() {
            eprintln!("  (atftpd in a namespace skipped: needs root)");
            continue;
        }
        let label = format!("atftpd, {rtt_ms} ms RTT");
        let results = interleaved(&options, nic, |client| {
            let logs = dir.join(format!("servers-{}-{nic}", client.name()));
            let net = TestNet::start(
                &root,
                client.boot_file(),
                Impairment::round_trip(options.rtt),
                &logs,
            )
            .unwrap_or_else(|e| panic!("namespace with atftpd: {e}"));
            run(client, nic, &Server::Atftpd(&net), &dir, &iso, "atftpd")
        });
        row(&options, nic, &label, &results);
    }
}

/// `--runs` transfers by each selected client, alternating netloader, netloader via UNDI and
/// iPXE; the median of each (a failed run counts as failed; a client not selected has none).
/// Every run's figure goes to stderr.
fn interleaved(
    options: &Options,
    nic: &str,
    mut one: impl FnMut(Client) -> Option<Transfer>,
) -> Results {
    let (runs, size) = (options.runs, options.size);
    let mut netloader = Vec::new();
    let mut undi = Vec::new();
    let mut ipxe = Vec::new();
    for _ in 0..runs {
        for (client, results) in [
            (Client::Netloader, &mut netloader),
            (Client::Undi, &mut undi),
            (Client::Ipxe, &mut ipxe),
        ] {
            if !options.clients.iter().any(|c| c == client.name()) {
                continue;
            }
            let transfer = one(client);
            if runs > 1 {
                let figure = transfer.as_ref().map_or("failed".to_string(), |t| {
                    format!("{:.2} MB/s", mb_per_s(t, size))
                });
                eprintln!("  {nic} {}: {figure}", client.name());
            }
            results.push(transfer);
        }
    }
    Results {
        netloader: median(netloader),
        undi: median(undi),
        ipxe: median(ipxe),
    }
}

/// The median transfer by time (the upper one of the middle two for an even count); None if
/// any run failed.
fn median(transfers: Vec<Option<Transfer>>) -> Option<Transfer> {
    let mut transfers: Vec<Transfer> = transfers.into_iter().collect::<Option<_>>()?;
    if transfers.is_empty() {
        return None;
    }
    transfers.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let middle = transfers.len() / 2;
    Some(transfers.swap_remove(middle))
}
