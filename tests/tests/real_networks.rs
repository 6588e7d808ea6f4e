//! Full Multiboot boots against real servers, and through a lossy, disordered network.
//!
//! Each test builds a network namespace (see `netloader_tests::netns`) with a chosen set of
//! servers: dnsmasq for DHCP (and TFTP), a second dnsmasq as proxyDHCP, atftpd, tftp-hpa. The
//! guest reaches it through a seeded relay that can drop, duplicate and reorder frames, so
//! every impaired run replays the same way. The test kernel hashes every module it received
//! and the test compares with the host's. Root only (namespaces, tap): each test is
//! `#[ignore]`d for a plain `cargo test`, and `scripts/test` runs them when it is root (as CI
//! is). Faults (a server gone mid-transfer) are made by the relay at a TFTP block the test
//! names, never at a moment on the clock.

use std::time::Duration;

use netloader::forms::{self, Form};
use netloader_tests::kernels::{Variant, parse_report};
use netloader_tests::netns::{
    self, DhcpServer, Fault, FaultAction, Impairment, Servers, TestNet, TftpServer,
};
use netloader_tests::qemu::{Outcome, Qemu, work_dir};
use netloader_tests::scenario::{self, Module};

/// How the guest starts netloader.
#[derive(Clone, Copy, PartialEq)]
enum Medium {
    Iso,
    /// The e1000's option ROM (two stages: it fetches netloader.pxe).
    Rom,
}

/// Boot the ISO (or the ROM) on an e1000 against `servers`, with `fault` armed in the relay
/// before the guest starts. Returns the outcome, the servers' logs and the relay's counts.
fn boot_with(
    name: &str,
    medium: Medium,
    servers: &Servers,
    modules: &[Module],
    timeout: Duration,
    stop_when: impl Fn(&str) -> bool,
    fault: Option<Fault>,
) -> (Outcome, String, [u64; 4]) {
    netns::require_root(name);
    let dir = work_dir().join(name);
    let root = scenario::tftp_root(&format!("{name}/tftp"), Variant::Elf32, modules, "boot.cfg");
    let (image, boot_args) = match medium {
        Medium::Iso => {
            let iso = dir.join("netloader.iso");
            std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
            let args = vec!["-cdrom".to_string(), iso.display().to_string()];
            (iso, args)
        }
        Medium::Rom => {
            // netloader.pxe finds the config by the per-host lookup.
            std::fs::copy(root.join("boot.cfg"), root.join("netloader.cfg/default")).unwrap();
            std::fs::write(root.join("netloader.pxe"), forms::build(Form::Pxe).unwrap()).unwrap();
            let rom = dir.join("netloader.rom");
            std::fs::write(&rom, forms::build(Form::Rom).unwrap()).unwrap();
            (rom, Vec::new())
        }
    };
    let device = match medium {
        Medium::Iso => "e1000,netdev=n0".to_string(),
        Medium::Rom => format!("e1000,netdev=n0,romfile={},bootindex=1", image.display()),
    };
    let net = TestNet::start_servers(&root, servers, &dir.join("servers"))
        .unwrap_or_else(|e| panic!("{name}: could not set up the namespace and its servers: {e}"));
    let netdev = net.netdev("n0");
    let qemu_fd = net.qemu_fd();
    if let Some(fault) = fault {
        net.arm(fault);
    }
    let outcome = Qemu::new(name, "pc", 128)
        .timeout(timeout)
        .args(["-no-reboot"])
        .args(boot_args)
        .args(["-netdev", &netdev])
        .pass_fd(qemu_fd)
        .args(["-device", &device])
        .run(stop_when);
    let stats = net.stats();
    use std::sync::atomic::Ordering::Relaxed;
    let counts = [
        stats.to_server.load(Relaxed) + stats.to_guest.load(Relaxed),
        stats.dropped.load(Relaxed),
        stats.duplicated.load(Relaxed),
        stats.reordered.load(Relaxed),
    ];
    let logs = net.server_logs();
    drop(net);
    eprintln!(
        "{name}: {:.1} s; relay: {} frames, {} dropped, {} duplicated, {} reordered",
        outcome.elapsed.as_secs_f64(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    (outcome, logs, counts)
}

fn boot(name: &str, servers: &Servers, modules: &[Module]) -> (Outcome, String, [u64; 4]) {
    boot_with(
        name,
        Medium::Iso,
        servers,
        modules,
        // A guard against hangs, not a speed check: 20% loss takes ~50 s beside other boots.
        Duration::from_secs(180),
        |serial| serial.contains("netloader: stopped."),
        None,
    )
}

/// The kernel's report (see `scenario::check_report`), with the servers' logs on the way
/// when the kernel never reported.
fn check_report(outcome: &Outcome, modules: &[Module], servers: &str) {
    outcome.check(
        parse_report(&outcome.serial).is_some(),
        &format!("the test kernel printed no report\n{servers}"),
    );
    scenario::check_report(outcome, Variant::Elf32, modules);
}

/// (retransmissions, duplicates, blocks kept out of order) summed over the `tftp: ... done:`
/// lines.
fn tftp_counts(serial: &str) -> (u64, u64, u64) {
    let mut totals = (0, 0, 0);
    for line in serial
        .lines()
        .filter(|l| l.starts_with("tftp: ") && l.contains(" done: "))
    {
        let number_before = |word: &str| -> u64 {
            line.split(", ")
                .find_map(|part| part.strip_suffix(word))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0)
        };
        totals.0 += number_before(" retransmissions");
        totals.1 += number_before(" duplicates");
        totals.2 += number_before(" kept out of order");
    }
    totals
}

const SMALL: [usize; 3] = [40_000, 300_000, 1_000_000];

fn full_boot(name: &str, tftp: TftpServer) {
    let mods = scenario::modules_sized(&SMALL);
    let servers = Servers {
        tftp,
        ..Servers::new("boot.cfg")
    };
    let (outcome, logs, _) = boot(name, &servers, &mods);
    outcome.check(
        outcome.contains("dhcp: address 192.168.77."),
        &format!("no lease from dnsmasq\n{logs}"),
    );
    check_report(&outcome, &mods, &logs);
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn multiboot_from_dnsmasq_dhcp_and_tftp() {
    full_boot("rn-dnsmasq-tftp", TftpServer::Dnsmasq);
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn multiboot_from_dnsmasq_and_tftp_hpa() {
    full_boot("rn-tftp-hpa", TftpServer::TftpHpa);
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn multiboot_from_dnsmasq_and_atftpd_windowed() {
    full_boot("rn-atftpd", TftpServer::Atftpd);
}

/// One dnsmasq gives the address only; a second dnsmasq, as proxyDHCP, names the server and
/// the boot file. The loader must take the address from the first and the boot file from the
/// proxy.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn proxy_dhcp_names_the_boot_file() {
    let name = "rn-proxy";
    let mods = scenario::modules_sized(&SMALL[..2]);
    let servers = Servers {
        dhcp: DhcpServer::AddressesOnly,
        proxy_boot_file: Some("boot.cfg".into()),
        ..Servers::new("unused")
    };
    let (outcome, logs, _) = boot(name, &servers, &mods);
    outcome.check(
        outcome.contains("dhcp: address 192.168.77."),
        &format!("no lease\n{logs}"),
    );
    outcome.check(
        outcome.contains("dhcp: proxyDHCP 192.168.77.1"),
        &format!("the proxy's answer was not used\n{logs}"),
    );
    outcome.check(
        outcome.contains("config: found boot.cfg") || outcome.contains("tftp: boot.cfg done"),
        "the proxy's boot file was fetched",
    );
    check_report(&outcome, &mods, &logs);
}

/// The option ROM behind a proxyDHCP: the ROM's first stage takes its address from one
/// dnsmasq and netloader.pxe's name and server from the proxy, and hands both answers to
/// netloader.pxe, which sends no DHCP of its own and finds its config per host.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn option_rom_hands_its_proxy_dhcp_lease_to_netloader_pxe() {
    let name = "rn-rom-proxy";
    let mods = scenario::modules_sized(&SMALL[..2]);
    let servers = Servers {
        dhcp: DhcpServer::AddressesOnly,
        proxy_boot_file: Some("netloader.pxe".into()),
        ..Servers::new("unused")
    };
    let (outcome, logs, _) = boot_with(
        name,
        Medium::Rom,
        &servers,
        &mods,
        Duration::from_secs(120),
        |serial| serial.contains("netloader: stopped."),
        None,
    );
    outcome.check(
        outcome.contains("boot form: PCI option ROM"),
        "started from the ROM",
    );
    outcome.check(
        outcome.contains("dhcp: proxyDHCP 192.168.77.1"),
        &format!("the first stage used no proxy answer\n{logs}"),
    );
    outcome.check(
        outcome.contains("chain: starting netloader.pxe"),
        &format!("netloader.pxe not started\n{logs}"),
    );
    outcome.check(
        outcome.serial.lines().any(|l| {
            l.starts_with("pxe: started by netloader's option ROM")
                && !l.ends_with("proxyDHCP answer (0 bytes)")
        }),
        "the proxy's answer was not handed over",
    );
    outcome.check(
        outcome.contains("dhcp: using the PXE ROM's cached reply from 192.168.77."),
        "netloader.pxe asked DHCP again",
    );
    outcome.check(
        outcome
            .serial
            .matches("dhcp: asking for an address")
            .count()
            == 1,
        "two DHCP exchanges",
    );
    outcome.check(
        outcome.contains("config: found netloader.cfg/default"),
        "no per-host config",
    );
    check_report(&outcome, &mods, &logs);
}

/// Larger modules, so that the loss hits many blocks.
const LOSSY: [usize; 3] = [100_000, 700_000, 1_500_000];

fn lossy_boot(name: &str, impairment: Impairment, reorder: f64) -> (u64, u64, u64) {
    let mods = scenario::modules_sized(&LOSSY);
    let servers = Servers {
        impairment,
        reorder,
        ..Servers::new("boot.cfg")
    };
    let (outcome, logs, counts) = boot(name, &servers, &mods);
    check_report(&outcome, &mods, &logs);
    let (retransmissions, duplicates, kept) = tftp_counts(&outcome.serial);
    eprintln!(
        "{name}: {:.1} s to the kernel's verdict, {retransmissions} retransmissions, {duplicates} duplicates reported; relay dropped {}",
        outcome.elapsed.as_secs_f64(),
        counts[1]
    );
    if impairment.loss > 0.0 {
        outcome.check(
            retransmissions > 0,
            "loss was injected, the done lines report no retransmission",
        );
    }
    (retransmissions, duplicates, kept)
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn five_percent_loss() {
    let impairment = Impairment {
        loss: 0.05,
        seed: 5,
        ..Impairment::NONE
    };
    lossy_boot("rn-loss5", impairment, 0.0);
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn twenty_percent_loss() {
    let impairment = Impairment {
        loss: 0.20,
        seed: 20,
        ..Impairment::NONE
    };
    lossy_boot("rn-loss20", impairment, 0.0);
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn duplicates_and_reordering() {
    let impairment = Impairment {
        duplicate: 0.01,
        seed: 101,
        ..Impairment::NONE
    };
    let (_, duplicates, kept) = lossy_boot("rn-dup-reorder", impairment, 0.01);
    assert!(
        duplicates > 0,
        "duplicated frames were sent, the done lines report no duplicate"
    );
    // A swapped pair inside a window: the early block is kept, the late one completes it.
    assert!(
        kept > 0,
        "frames were swapped, the done lines report no block kept out of order"
    );
}

/// The TFTP server goes away while the 8 MiB module is on its way: the relay cuts the path just
/// before DATA block 3000 of it (a point the test names, so it lands mid-module on any
/// machine). One clear line naming the file, the server and the block, the stop message, and
/// after 30 s the machine restarts (`-no-reboot`: QEMU exits).
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn tftp_server_gone_mid_transfer() {
    let name = "rn-server-gone";
    // Block 3000 at 512 bytes per block is past the end of the kernel and the config, and
    // before the end of the module at any block size up to 2 KiB.
    const CUT_AT: u16 = 3000;
    let mods = scenario::modules_sized(&[8 << 20]);
    let servers = Servers::new("boot.cfg");
    let fault = Fault {
        block: CUT_AT,
        action: FaultAction::CutPath,
    };
    let (outcome, logs, _) = boot_with(
        name,
        Medium::Iso,
        &servers,
        &mods,
        Duration::from_secs(180),
        |_| false, // until QEMU exits by itself (the restart, with -no-reboot)
        Some(fault),
    );
    let expected = format!(
        "E-TFTP-TIMEOUT: /mod0 from 192.168.77.1: timed out waiting for DATA block {CUT_AT} after "
    );
    outcome.check(
        outcome.serial.lines().any(|l| l.starts_with(&expected)),
        &format!("no line starting \"{expected}\"\n{logs}"),
    );
    outcome.check(
        outcome.contains("netloader: stopped. Press a key to try again (again by itself in 30 s)."),
        "the stop message",
    );
    outcome.check(
        outcome.contains("netloader: restarting."),
        "the restart message after 30 s",
    );
    outcome.check(
        !outcome.timed_out && outcome.exit_code.is_some(),
        "QEMU must exit by itself: the restart after 30 s",
    );
    outcome.check(!outcome.contains("MB BEGIN"), "the kernel must not start");
}

/// No DHCP server at all: DISCOVERs on the PXE timetable (0, 4, 12, 28 s), then
/// E-DHCP-TIMEOUT at 60 s.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn no_dhcp_server() {
    let name = "rn-no-dhcp";
    let servers = Servers {
        dhcp: DhcpServer::Nothing,
        tftp: TftpServer::Nothing,
        ..Servers::new("unused")
    };
    let (outcome, _, _) = boot_with(
        name,
        Medium::Iso,
        &servers,
        &[],
        Duration::from_secs(240), // a hang guard: the timetable itself takes 60 s
        |serial| serial.contains("netloader: stopped."),
        None,
    );
    let retries = outcome
        .serial
        .matches("dhcp: no answer yet, asking again")
        .count();
    outcome.check(
        retries == 3,
        &format!("expected 3 further DISCOVERs (at 4, 12, 28 s), saw {retries}"),
    );
    for wait in ["waiting 8 s", "waiting 16 s", "waiting 32 s"] {
        outcome.check(outcome.contains(wait), wait);
    }
    outcome.check(
        outcome.contains("E-DHCP-TIMEOUT: no DHCP server answered in 60 s"),
        "the timeout line",
    );
}

#[test]
fn done_line_counts_are_summed() {
    let serial = "tftp: a done: 10 bytes in 0.1 s, blksize 1468, window 32, 3 retransmissions, 1 duplicates, 0 gap ACKs, 2 kept out of order\n\
                  tftp: b done: 10 bytes in 0.1 s, blksize 1468, window 32, 2 retransmissions, 0 duplicates, 1 gap ACKs, 1 kept out of order\n";
    assert_eq!(tftp_counts(serial), (5, 1, 3));
}
