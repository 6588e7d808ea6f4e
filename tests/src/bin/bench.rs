//! Download throughput: netloader against iPXE (Debian's `ipxe-qemu` ROMs, QEMU's own NIC
//! ROMs) on the same card, the same file and the same server, in one run; by TFTP and by HTTP.
//!
//! Run: `cargo run --release -p netloader-tests --bin bench [-- --size-mib 32 --rtt-ms 1 --nics e1000,rtl8139 --runs 1 --servers qemu,atftpd,http,http-loss --clients netloader,undi,ipxe]`
//! (`--nics`: QEMU device names; by default every card netloader drives that Debian's
//! `ipxe-qemu` has a ROM for: e1000, rtl8139, virtio-net-pci, pcnet, i82557b, ne2k_pci.)
//! (`--runs N`: N transfers per client, interleaved, median shown; `--clients netloader,ipxe`.)
//!
//! Clients: `netloader` (the ISO, its native driver, the default 32-bit runtime), `netloader64`
//! (the same ISO built with `--runtime 64`, for a 32-bit / 64-bit column: both run on QEMU's
//! 64-bit CPU; not in the default set), `undi` (TFTP servers only: netloader.pxe
//! built with `--undi always`, chained from the card's iPXE ROM and driving the card through
//! that ROM's UNDI, its config embedded: `multiboot /big.bin`), `ipxe` (the ROM itself, by a
//! script).
//!
//! HTTP (`http`): nginx in a namespace through the relay, clean and with `--rtt-ms`, and clean
//! with QEMU on the namespace's tap (no relay); netloader's DHCP boot file is
//! `http://192.168.77.1/big.bin`, iPXE's a script that runs `imgfetch` on the same URL, then
//! on `done.txt`. Timed from the wire like TFTP: from the `GET /big.bin`
//! to the server's last segment of the body. `http-loss`: the time from QEMU's start to the
//! test kernel's entry (`MB BEGIN` on the serial line, seen within 25 ms), kernel and a 1 MiB
//! module over HTTP, through the relay with 5% loss, 20% loss, and 1% duplicates + 1%
//! reordering (seeded); netloader's config and iPXE's script (`kernel`, `module`, `boot`)
//! name the same files on the same nginx.
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
use netloader_tests::kernels::{self, Variant};
use netloader_tests::netns::{self, Impairment, TestNet};
use netloader_tests::qemu::{Qemu, work_dir};

const FILE: &str = "big.bin";
const IPXE_SCRIPT: &str = "boot.ipxe";
const IPXE_HTTP_SCRIPT: &str = "http.ipxe";
const IPXE_KERNEL_SCRIPT: &str = "kernel.ipxe";
const KERNEL_CONFIG: &str = "kernel.cfg";
const MODULE: &str = "payload.bin";
const UNDI_PROGRAM: &str = "netloader.pxe";
/// The ISO with the 64-bit runtime, beside the default one.
const ISO64: &str = "netloader64.iso";

#[derive(Clone, Copy, PartialEq)]
enum Client {
    Netloader,
    /// The ISO with the 64-bit runtime (`--runtime 64`).
    Netloader64,
    /// netloader.pxe through the card's PXE ROM's UNDI (TFTP servers only).
    Undi,
    Ipxe,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Netloader => "netloader",
            Client::Netloader64 => "netloader64",
            Client::Undi => "undi",
            Client::Ipxe => "ipxe",
        }
    }

    /// The ISO this client boots (`iso` is the default one; the 64-bit one lies beside it), or
    /// None for a client that boots from the network.
    fn iso(self, iso: &Path) -> Option<PathBuf> {
        match self {
            Client::Netloader => Some(iso.to_path_buf()),
            Client::Netloader64 => Some(iso.with_file_name(ISO64)),
            Client::Undi | Client::Ipxe => None,
        }
    }

    /// What DHCP names as the boot file for this client, on a TFTP server.
    fn tftp_boot_file(self) -> &'static str {
        match self {
            Client::Netloader | Client::Netloader64 => FILE,
            Client::Undi => UNDI_PROGRAM,
            Client::Ipxe => IPXE_SCRIPT,
        }
    }
}

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
    /// A namespace with nginx behind the relay.
    Nginx(&'a TestNet),
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
    let boot_file = client.tftp_boot_file();
    let netdev = match server {
        Server::Qemu(root) => format!(
            "user,id=n0,restrict=on,tftp={},bootfile={boot_file}",
            root.display()
        ),
        Server::Atftpd(net) | Server::Nginx(net) => net.netdev("n0"),
    };
    let mut qemu = Qemu::new(&name, "pc", 256);
    if let Server::Atftpd(net) | Server::Nginx(net) = server {
        qemu.pass_fd(net.qemu_fd());
    }
    qemu.timeout(Duration::from_secs(600))
        .args(["-netdev", &netdev])
        .args(["-device", &format!("{nic},netdev=n0")])
        .args([
            "-object",
            &format!("filter-dump,id=dump0,netdev=n0,file={}", pcap.display()),
        ]);
    match client.iso(iso) {
        Some(iso) => qemu.args(["-cdrom", iso.to_str().unwrap()]),
        None => qemu.args(["-boot", "order=n"]),
    };
    let outcome = match client {
        Client::Netloader | Client::Netloader64 | Client::Undi => {
            qemu.run(|serial| serial.contains("netloader: stopped."))
        }
        Client::Ipxe => qemu.run(|_| {
            tail_contains(&pcap, b"\0\x01done.txt\0") || tail_contains(&pcap, b"GET /done.txt ")
        }),
    };
    if client == Client::Undi && !outcome.contains("nic: the card through its PXE ROM's UNDI") {
        eprintln!(
            "  {name}: netloader.pxe did not drive the card through UNDI; log: {}",
            outcome.log.display()
        );
        return None;
    }
    let transfer = std::fs::read(&pcap).ok().and_then(|bytes| match server {
        Server::Nginx(_) => netloader_tests::pcap::http_transfer(&bytes, FILE),
        _ => netloader_tests::pcap::tftp_transfer(&bytes, FILE),
    });
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
        options.nics = [
            "e1000",
            "rtl8139",
            "virtio-net-pci",
            "pcnet",
            "i82557b",
            "ne2k_pci",
        ]
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
    let (undi, undi_ratio) = match &results.undi {
        Some(undi) => (figure(undi, Client::Undi), ratio(undi)),
        None => ("not run".to_string(), "-".to_string()),
    };
    let bits = match (&results.netloader, &results.netloader64) {
        (Some(n), Some(n64)) => format!("{:.2}x", n64.seconds / n.seconds),
        _ => "-".to_string(),
    };
    let opts = |t: &Option<Transfer>| t.as_ref().map_or(String::new(), |t| t.options.clone());
    println!(
        "| {nic} | {server} | {} | {} | {undi} | {} | {} | {bits} | {undi_ratio} | {} | {} |",
        figure(&results.netloader, Client::Netloader),
        figure(&results.netloader64, Client::Netloader64),
        figure(&results.ipxe, Client::Ipxe),
        ratio(&results.netloader),
        opts(&results.netloader),
        opts(&results.ipxe)
    );
}

/// The median transfer of each client on one card and server (`undi`: `None` where that
/// client does not run, on HTTP).
struct Results {
    netloader: Option<Transfer>,
    netloader64: Option<Transfer>,
    undi: Option<Option<Transfer>>,
    ipxe: Option<Transfer>,
}

/// A namespace with dnsmasq naming `boot_file` and nginx serving `root`, behind the relay.
fn nginx_net(
    root: &Path,
    boot_file: &str,
    impairment: Impairment,
    reorder: f64,
    link: Link,
    dir: &Path,
    client: Client,
) -> TestNet {
    let servers = netns::Servers {
        impairment,
        reorder,
        direct: link == Link::Tap,
        nginx: true,
        ipv6_ra: true,
        tftp: netns::TftpServer::Nothing,
        ..netns::Servers::new(boot_file)
    };
    let logs = dir.join(format!("servers-http-{}", client.name()));
    TestNet::start_servers(root, &servers, &logs)
        .unwrap_or_else(|e| panic!("namespace with nginx: {e}"))
}

/// How QEMU reaches the namespace: through the relay (which can delay and drop frames), or
/// straight through its tap (no relay thread on the host's cores: what the clients can do
/// when the path does not hold them back).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    Relay,
    Tap,
}

/// What the relay does to the frames of one boot-to-kernel run; `tag` names its logs.
#[derive(Clone, Copy)]
struct Network {
    tag: &'static str,
    impairment: Impairment,
    reorder: f64,
}

/// QEMU start to the test kernel's entry, kernel and 1 MiB module over HTTP, through the
/// relay impaired as `network` says; None when the kernel never started.
fn to_kernel(
    client: Client,
    nic: &str,
    root: &Path,
    dir: &Path,
    iso: &Path,
    network: Network,
) -> Option<f64> {
    let Network {
        tag: label,
        impairment,
        reorder,
    } = network;
    let boot_file = match client {
        Client::Ipxe => format!("http://{}/{IPXE_KERNEL_SCRIPT}", netns::SERVER_ADDR),
        Client::Netloader => format!("http://{}/{KERNEL_CONFIG}", netns::SERVER_ADDR),
        // TFTP only; the 64-bit runtime: compared by boot_bench --runtimes.
        Client::Undi | Client::Netloader64 => return None,
    };
    let net = nginx_net(
        root,
        &boot_file,
        impairment,
        reorder,
        Link::Relay,
        dir,
        client,
    );
    let name = format!("bench-kernel-{label}-{}-{nic}", client.name());
    let mut qemu = Qemu::new(&name, "pc", 256);
    qemu.timeout(Duration::from_secs(300))
        .args(["-netdev", &net.netdev("n0")])
        .pass_fd(net.qemu_fd())
        .args(["-device", &format!("{nic},netdev=n0")]);
    match client.iso(iso) {
        Some(iso) => qemu.args(["-cdrom", iso.to_str().unwrap()]),
        None => qemu.args(["-boot", "order=n"]),
    };
    let outcome =
        qemu.run(|serial| serial.contains("MB BEGIN") || serial.contains("netloader: stopped."));
    if !outcome.contains("MB BEGIN") {
        eprintln!(
            "  {name}: the kernel did not start; log: {}",
            outcome.log.display()
        );
        return None;
    }
    Some(outcome.elapsed.as_secs_f64())
}

/// Rows of the boot-to-kernel table for one card: (card, network, netloader s, iPXE s).
fn kernel_runs(
    options: &Options,
    nic: &str,
    root: &Path,
    dir: &Path,
    iso: &Path,
) -> Vec<(String, String, Option<f64>, Option<f64>)> {
    let cases = [
        ("clean", "clean", Impairment::NONE, 0.0),
        (
            "5% loss",
            "loss5",
            Impairment {
                loss: 0.05,
                seed: 5,
                ..Impairment::NONE
            },
            0.0,
        ),
        (
            "20% loss",
            "loss20",
            Impairment {
                loss: 0.20,
                seed: 20,
                ..Impairment::NONE
            },
            0.0,
        ),
        (
            "1% dup + 1% reorder",
            "dupre",
            Impairment {
                duplicate: 0.01,
                seed: 101,
                ..Impairment::NONE
            },
            0.01,
        ),
    ];
    let mut rows = Vec::new();
    for (label, tag, impairment, reorder) in cases {
        let network = Network {
            tag,
            impairment,
            reorder,
        };
        let mut times = [Vec::new(), Vec::new()];
        for _ in 0..options.runs {
            for (k, client) in [Client::Netloader, Client::Ipxe].into_iter().enumerate() {
                if options.clients.iter().any(|c| c == client.name()) {
                    let t = to_kernel(client, nic, root, dir, iso, network);
                    eprintln!("  {nic} {label} {}: {t:?}", client.name());
                    times[k].push(t);
                }
            }
        }
        let median = |mut v: Vec<Option<f64>>| -> Option<f64> {
            if v.is_empty() || v.iter().any(Option::is_none) {
                return None;
            }
            v.sort_by(|a, b| a.unwrap().total_cmp(&b.unwrap()));
            v[v.len() / 2]
        };
        let [n, i] = times;
        rows.push((nic.to_string(), label.to_string(), median(n), median(i)));
    }
    rows
}

fn main() {
    let options = options();
    let mut kernel_rows = Vec::new();
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
    let http = format!("http://{}", netns::SERVER_ADDR);
    std::fs::write(
        root.join(IPXE_HTTP_SCRIPT),
        format!("#!ipxe\nimgfetch {http}/{FILE}\nimgfetch {http}/done.txt\n"),
    )
    .unwrap();
    // The boot-to-kernel runs: the test kernel and a 1 MiB module.
    std::fs::copy(kernels::path(Variant::Elf32), root.join("kernel")).unwrap();
    std::fs::write(
        root.join(MODULE),
        netloader_tests::scenario::random_bytes(1 << 20, 7),
    )
    .unwrap();
    std::fs::write(
        root.join(KERNEL_CONFIG),
        format!("set timeout=0\nmenuentry k {{\n  multiboot {http}/kernel\n  module {http}/{MODULE}\n}}\n"),
    )
    .unwrap();
    std::fs::write(
        root.join(IPXE_KERNEL_SCRIPT),
        format!("#!ipxe\nkernel {http}/kernel\nmodule {http}/{MODULE}\nboot\n"),
    )
    .unwrap();
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let options64 = forms::Options {
        runtime: forms::Runtime::Bits64,
        ..forms::Options::default()
    };
    std::fs::write(
        dir.join(ISO64),
        forms::build_with(Form::Iso, &options64).unwrap(),
    )
    .unwrap();
    let undi_options = forms::Options {
        config: Some(
            format!("set timeout=0\nmenuentry bench {{\n  multiboot /{FILE}\n}}\n").into_bytes(),
        ),
        undi: netloader::pxe::UndiPolicy::Always,
        ..forms::Options::default()
    };
    std::fs::write(
        root.join(UNDI_PROGRAM),
        forms::build_with(Form::Pxe, &undi_options).unwrap(),
    )
    .unwrap();

    let size = options.size;
    let rtt_ms = options.rtt.as_secs_f64() * 1e3;
    println!(
        "Download of {} MiB (TFTP, HTTP); MB/s = 10^6 bytes per second, timed from the wire (pcap).",
        size >> 20
    );
    println!();
    println!(
        "| NIC | server | netloader MB/s | netloader 64-bit MB/s | netloader via UNDI MB/s | iPXE MB/s | netloader / iPXE | 32-bit / 64-bit | via UNDI / iPXE | netloader's options | iPXE's options |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for nic in &options.nics {
        if options.servers.iter().any(|s| s == "qemu") {
            let server = Server::Qemu(&root);
            let results = interleaved(&options, nic, true, |client| {
                run(client, nic, &server, &dir, &iso, "qemu")
            });
            row(&options, nic, "QEMU built-in", &results);
        }

        let wants = |server: &str| options.servers.iter().any(|s| s == server);
        if !wants("atftpd") && !wants("http") && !wants("http-loss") {
            continue;
        }
        if !netns::is_root() {
            eprintln!("  (servers in a namespace skipped: need root)");
            continue;
        }
        if wants("http") {
            for (label, rtt, link) in [
                (
                    "nginx (HTTP), no delay".to_string(),
                    Duration::ZERO,
                    Link::Relay,
                ),
                (
                    "nginx (HTTP), no delay, no relay (QEMU on the tap)".to_string(),
                    Duration::ZERO,
                    Link::Tap,
                ),
                (
                    format!("nginx (HTTP), {rtt_ms} ms RTT"),
                    options.rtt,
                    Link::Relay,
                ),
            ] {
                let results = interleaved(&options, nic, false, |client| {
                    let boot_file = match client {
                        Client::Ipxe => format!("http://{}/{IPXE_HTTP_SCRIPT}", netns::SERVER_ADDR),
                        Client::Netloader | Client::Netloader64 => {
                            format!("http://{}/{FILE}", netns::SERVER_ADDR)
                        }
                        Client::Undi => return None, // TFTP only: not run here
                    };
                    let net = nginx_net(
                        &root,
                        &boot_file,
                        Impairment::round_trip(rtt),
                        0.0,
                        link,
                        &dir,
                        client,
                    );
                    run(client, nic, &Server::Nginx(&net), &dir, &iso, "http")
                });
                row(&options, nic, &label, &results);
            }
        }
        if wants("http-loss") {
            kernel_rows.extend(kernel_runs(&options, nic, &root, &dir, &iso));
        }
        if !wants("atftpd") {
            continue;
        }
        let label = format!("atftpd, {rtt_ms} ms RTT");
        let results = interleaved(&options, nic, true, |client| {
            let logs = dir.join(format!("servers-{}-{nic}", client.name()));
            let net = TestNet::start(
                &root,
                client.tftp_boot_file(),
                Impairment::round_trip(options.rtt),
                &logs,
            )
            .unwrap_or_else(|e| panic!("namespace with atftpd: {e}"));
            run(client, nic, &Server::Atftpd(&net), &dir, &iso, "atftpd")
        });
        row(&options, nic, &label, &results);
    }
    print_kernel_rows(&kernel_rows);
}

/// The boot-to-kernel table (`http-loss`).
fn print_kernel_rows(rows: &[(String, String, Option<f64>, Option<f64>)]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "QEMU start to the test kernel's entry, kernel + 1 MiB module over HTTP (nginx), seconds:"
    );
    println!();
    println!("| NIC | network | netloader s | iPXE s | netloader / iPXE time |");
    println!("| --- | --- | --- | --- | --- |");
    let show = |t: &Option<f64>| t.map_or("failed".to_string(), |t| format!("{t:.2}"));
    for (nic, label, n, i) in rows {
        let ratio = match (n, i) {
            (Some(n), Some(i)) => format!("{:.2}", n / i),
            _ => "-".to_string(),
        };
        println!("| {nic} | {label} | {} | {} | {ratio} |", show(n), show(i));
    }
}

/// `--runs` transfers by each selected client, alternating netloader (32-bit, 64-bit), netloader via UNDI (where
/// `with_undi`) and iPXE; the median of each (a failed run counts as failed; a client not
/// selected has none). Every run's figure goes to stderr.
fn interleaved(
    options: &Options,
    nic: &str,
    with_undi: bool,
    mut one: impl FnMut(Client) -> Option<Transfer>,
) -> Results {
    let (runs, size) = (options.runs, options.size);
    let mut netloader = Vec::new();
    let mut netloader64 = Vec::new();
    let mut undi = Vec::new();
    let mut ipxe = Vec::new();
    for _ in 0..runs {
        for (client, results) in [
            (Client::Netloader, &mut netloader),
            (Client::Netloader64, &mut netloader64),
            (Client::Undi, &mut undi),
            (Client::Ipxe, &mut ipxe),
        ] {
            if !options.clients.iter().any(|c| c == client.name())
                || (client == Client::Undi && !with_undi)
            {
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
        netloader64: median(netloader64),
        undi: with_undi.then(|| median(undi)),
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
