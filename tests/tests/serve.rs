//! `netloader serve` on a LAN in network namespaces (`netloader_tests::lan`): the LAN's own
//! DHCP server (dnsmasq, addresses only) and a second host running serve, with PCs in QEMU:
//!
//! 1. the stock iPXE ROM as a plain PXE client gets netloader.pxe from serve (proxyDHCP), and a
//!    netloader ISO with no config gets its config; both boot the test kernel, module hashes
//!    checked; no answer of serve carries an address (serve's log and the capture);
//! 2. serve with `--dhcp-range` on a cable with no other server, through the seeded relay
//!    with 5% loss, serving the quick form (`--kernel`, `--module`), a 1 MiB module
//!    byte-exact;
//! 3. PXELINUX (Debian's pxelinux.0, ldlinux.c32, mboot.c32) served by serve boots the
//!    Multiboot test kernel: serve is a standard PXE server, not only netloader's;
//! 4. serve refuses to start when it would answer on several interfaces, or when port 67 is
//!    taken (dnsmasq holds it).
//!
//! Root only (namespaces, tap): each test is `#[ignore]`d for a plain `cargo test`, and
//! `scripts/test` runs them when it is root (as CI is).

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netloader::forms::{self, Form};
use netloader_tests::kernels::{Variant, parse_report, sha256_hex};
use netloader_tests::lan::{Lan, LanSetup, SERVE_ADDR};
use netloader_tests::netns::{self, Impairment, Namespace, dnsmasq_command};
use netloader_tests::pcap;
use netloader_tests::qemu::{Outcome, Qemu, work_dir};
use netloader_tests::scenario::{self, KERNEL_ARGS, Module};

fn serve_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_serve"))
}

fn args(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

/// How the PC starts.
enum Pc<'a> {
    /// No disk: the NIC's own ROM (QEMU's iPXE) boots from the network.
    PxeRom,
    /// The netloader ISO.
    Iso(&'a Path),
}

/// Boot one PC on `lan` with MAC `mac`; the card's frames are captured to `<name>.pcap`.
fn boot(name: &str, lan: &Lan, pc: Pc<'_>, mac: &str, timeout: Duration) -> (Outcome, Vec<u8>) {
    let capture = work_dir().join(format!("{name}.pcap"));
    let _ = std::fs::remove_file(&capture);
    let mut qemu = Qemu::new(name, "pc", 128);
    qemu.timeout(timeout)
        .args(["-netdev", &lan.netdev("n0")])
        .args(["-device", &format!("e1000,netdev=n0,mac={mac}")])
        .args([
            "-object",
            &format!("filter-dump,id=f0,netdev=n0,file={}", capture.display()),
        ]);
    match pc {
        Pc::PxeRom => qemu.args(["-boot", "n"]),
        Pc::Iso(iso) => qemu.arg("-cdrom").arg(iso),
    };
    let outcome = qemu.run(|serial| serial.contains("netloader: stopped."));
    let pcap = std::fs::read(&capture).unwrap_or_default();
    (outcome, pcap)
}

/// The kernel's report against `modules`, with the servers' logs when it is missing.
fn check_report(outcome: &Outcome, modules: &[Module], lan: &Lan) {
    outcome.check(
        parse_report(&outcome.serial).is_some(),
        &format!("the test kernel printed no report\n{}", lan.server_logs()),
    );
    scenario::check_report(outcome, Variant::Elf32, modules);
}

/// Every DHCP answer from serve in the capture has yiaddr 0; returns how many there were.
fn serve_answers_without_address(outcome: &Outcome, pcap: &[u8]) -> usize {
    let serve: Ipv4Addr = SERVE_ADDR.parse().unwrap();
    let answers: Vec<_> = pcap::dhcp_answers(pcap)
        .into_iter()
        .filter(|d| d.source == serve)
        .collect();
    for answer in &answers {
        outcome.check(
            pcap::yiaddr(&answer.payload) == Some(Ipv4Addr::UNSPECIFIED),
            &format!(
                "serve answered from port {} with address {:?}",
                answer.source_port,
                pcap::yiaddr(&answer.payload)
            ),
        );
    }
    answers.len()
}

/// proxyDHCP beside the LAN's DHCP server: a PXE ROM and a netloader ISO, one after the other.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn proxy_dhcp_boots_a_pxe_rom_and_a_netloader_iso() {
    let name = "serve-proxy";
    netns::require_root(name);
    let mods = scenario::modules_sized(&[40_000, 300_000]);
    let dir = scenario::tftp_root(
        &format!("{name}/tftp"),
        Variant::Elf32,
        &mods,
        "netloader.cfg/default",
    );
    let setup = LanSetup {
        serve: serve_binary(),
        serve_args: vec![dir.into_os_string()],
        lan_dhcp: true,
        impairment: Impairment::NONE,
    };
    let lan = Lan::start(&setup, &work_dir().join(name).join("servers"))
        .unwrap_or_else(|e| panic!("{name}: could not set up the LAN: {e}"));

    // The PXE ROM: netloader.pxe from serve, the address from the LAN's dnsmasq.
    let (rom, rom_pcap) = boot(
        &format!("{name}-rom"),
        &lan,
        Pc::PxeRom,
        "52:54:00:00:13:01",
        Duration::from_secs(120),
    );
    rom.check(
        rom.contains("boot form: PXE network boot program"),
        &format!("netloader.pxe did not start\n{}", lan.server_logs()),
    );
    rom.check(
        rom.contains("dhcp: using the PXE ROM's cached reply from 192.168.77."),
        "netloader.pxe took the ROM's cached answers",
    );
    rom.check(
        rom.contains("dhcp: address 192.168.77.5"),
        "the address is dnsmasq's",
    );
    rom.check(
        rom.contains("netloader.cfg/default") && rom.contains(SERVE_ADDR),
        "the config came from serve",
    );
    check_report(&rom, &mods, &lan);
    let rom_answers = serve_answers_without_address(&rom, &rom_pcap);
    rom.check(rom_answers >= 1, "serve's proxy answers are in the capture");

    // The ISO: netloader with no config; serve hands it the config as its boot file.
    let iso_path = work_dir().join(name).join("netloader.iso");
    std::fs::write(&iso_path, forms::build(Form::Iso).unwrap()).unwrap();
    let (iso, iso_pcap) = boot(
        &format!("{name}-iso"),
        &lan,
        Pc::Iso(&iso_path),
        "52:54:00:00:13:02",
        Duration::from_secs(120),
    );
    iso.check(
        iso.contains("dhcp: address 192.168.77.5"),
        "the address is dnsmasq's",
    );
    iso.check(
        iso.contains(&format!("dhcp: proxyDHCP {SERVE_ADDR}")),
        &format!("serve's proxy answer was not used\n{}", lan.server_logs()),
    );
    check_report(&iso, &mods, &lan);
    let iso_answers = serve_answers_without_address(&iso, &iso_pcap);
    iso.check(iso_answers >= 1, "serve's proxy answers are in the capture");

    // serve's log: each client, what it is and what it got; never an address.
    let log = lan.serve_log();
    let said = |text: &str| log.lines().any(|l| l.contains(text));
    rom.check(
        said("52:54:00:00:13:01 PXE x86 BIOS (arch 0): proxy OFFER (no address): boot file netloader.pxe from 192.168.77.2"),
        &format!("serve's log of the PXE ROM\n{log}"),
    );
    iso.check(
        said("52:54:00:00:13:02 netloader (x86 BIOS): proxy OFFER (no address): boot file netloader.cfg/default from 192.168.77.2"),
        &format!("serve's log of the netloader client\n{log}"),
    );
    rom.check(
        said("tftp: 192.168.77.5") && said(" netloader.pxe: "),
        "serve logged the transfer of netloader.pxe",
    );
    let with_address = log
        .lines()
        .filter(|l| {
            l.starts_with("dhcp: ") && (l.contains(": OFFER 192.") || l.contains(": ACK 192."))
        })
        .count();
    rom.check(
        with_address == 0,
        &format!("serve logged an address given in proxy mode\n{log}"),
    );
    eprintln!("{name}: serve answered {rom_answers} + {iso_answers} times, never with an address");
}

/// Full DHCP on a cable (no other server), 5% loss both ways, the quick form.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn full_dhcp_on_a_cable_through_five_percent_loss() {
    let name = "serve-cable-loss5";
    netns::require_root(name);
    let mods = scenario::modules_sized(&[1 << 20, 30_000]);
    // The quick form reads the files where they are: one folder of them, no config.
    let files = work_dir().join(name).join("files");
    let _ = std::fs::remove_dir_all(&files);
    std::fs::create_dir_all(&files).unwrap();
    std::fs::copy(
        netloader_tests::kernels::path(Variant::Elf32),
        files.join("kernel"),
    )
    .unwrap();
    let mut serve_args = args(&["--dhcp-range", "192.168.77.100-192.168.77.110", "--kernel"]);
    serve_args.push(files.join("kernel").into_os_string());
    // The quick form's --cmdline is split on white space and each word quoted: the kernel
    // gets the words joined by one space (KERNEL_ARGS without its quotes).
    serve_args.extend(args(&["--cmdline", &KERNEL_ARGS.replace('"', "")]));
    for m in &mods {
        std::fs::write(files.join(&m.name), &m.data).unwrap();
        serve_args.push("--module".into());
        serve_args.push(files.join(&m.name).into_os_string());
        serve_args.extend(m.args.split_whitespace().map(OsString::from));
    }
    let setup = LanSetup {
        serve: serve_binary(),
        serve_args,
        lan_dhcp: false,
        impairment: Impairment {
            loss: 0.05,
            seed: 13,
            ..Impairment::NONE
        },
    };
    let lan = Lan::start(&setup, &work_dir().join(name).join("servers"))
        .unwrap_or_else(|e| panic!("{name}: could not set up the cable: {e}"));
    let iso_path = work_dir().join(name).join("netloader.iso");
    std::fs::write(&iso_path, forms::build(Form::Iso).unwrap()).unwrap();
    // A hang guard only: a DISCOVER or ACK lost on the way costs the PXE retry (4 s, 8 s).
    let (outcome, _) = boot(
        name,
        &lan,
        Pc::Iso(&iso_path),
        "52:54:00:00:13:03",
        Duration::from_secs(180),
    );
    outcome.check(
        outcome.contains("dhcp: address 192.168.77.1") && !outcome.contains("dhcp: proxyDHCP"),
        &format!("no lease from serve\n{}", lan.server_logs()),
    );
    check_report(&outcome, &mods, &lan);
    outcome.check(
        outcome.downloaded("/mod0", &mods[0].data),
        "the 1 MiB module arrived whole (size and CRC-32)",
    );
    // serve logs the module when its transfer ends for serve: at the last ACK, or, when that
    // ACK was lost on the cable (the guest has booted by then), after its ~13 s of resends.
    let log = lan.serve_log_with(" /mod0: ", Duration::from_secs(60));
    outcome.check(
        log.lines()
            .any(|l| l.contains("52:54:00:00:13:03 netloader (x86 BIOS): ACK 192.168.77.1")),
        &format!("serve's log of the lease\n{log}"),
    );
    let dropped = lan
        .stats()
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    let mod0 = log.lines().find(|l| l.contains(" /mod0: ")).unwrap_or("");
    let all_sent = mod0.contains(&format!("{} bytes in", 1 << 20))
        || mod0.contains("every block sent, the last ACK never came");
    outcome.check(
        all_sent && mod0.contains("window 32"),
        &format!("serve's line for the 1 MiB module: {mod0}"),
    );
    eprintln!(
        "{name}: {:.1} s to the kernel's verdict; relay dropped {dropped} frames; serve: {mod0}",
        outcome.elapsed.as_secs_f64()
    );
    outcome.check(
        dropped > 0,
        "the relay dropped nothing: the test checks little",
    );
}

/// PXELINUX from Debian's packages, unpacked once into target/tools/pxelinux.
fn pxelinux_files() -> PathBuf {
    netns::unpacked_debs(
        "pxelinux",
        &["pxelinux", "syslinux-common"],
        "usr/lib/PXELINUX/pxelinux.0",
    )
    .unwrap_or_else(|e| panic!("apt-get download pxelinux syslinux-common: {e}"))
}

/// The iPXE ROM loads pxelinux.0 from serve; PXELINUX reads pxelinux.cfg/default and runs
/// mboot.c32, which loads the test kernel and its modules by TFTP from serve.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn pxelinux_served_by_serve_boots_the_multiboot_kernel() {
    let name = "serve-pxelinux";
    netns::require_root(name);
    let mods = scenario::modules_sized(&[40_000, 200_000]);
    let dir = scenario::tftp_root(&format!("{name}/tftp"), Variant::Elf32, &mods, "kernel.cfg");
    let syslinux = pxelinux_files();
    std::fs::copy(
        syslinux.join("usr/lib/PXELINUX/pxelinux.0"),
        dir.join("pxelinux.0"),
    )
    .unwrap();
    for module in ["ldlinux.c32", "mboot.c32", "libcom32.c32"] {
        std::fs::copy(
            syslinux.join("usr/lib/syslinux/modules/bios").join(module),
            dir.join(module),
        )
        .unwrap();
    }
    // mboot.c32: the kernel, then each module after "---"; like GRUB Legacy, it puts each
    // file's name first in its command line.
    let mut append = format!("kernel {}", KERNEL_ARGS.replace('"', ""));
    for m in &mods {
        append += &format!(" --- {} {}", m.name, m.args);
    }
    std::fs::create_dir_all(dir.join("pxelinux.cfg")).unwrap();
    std::fs::write(
        dir.join("pxelinux.cfg/default"),
        format!("SERIAL 0 115200\nDEFAULT mb\nPROMPT 0\nLABEL mb\n  KERNEL mboot.c32\n  APPEND {append}\n"),
    )
    .unwrap();
    let mut serve_args = vec![dir.into_os_string()];
    serve_args.extend(args(&["--bios-boot-file", "pxelinux.0"]));
    let setup = LanSetup {
        serve: serve_binary(),
        serve_args,
        lan_dhcp: true,
        impairment: Impairment::NONE,
    };
    let lan = Lan::start(&setup, &work_dir().join(name).join("servers"))
        .unwrap_or_else(|e| panic!("{name}: could not set up the LAN: {e}"));
    let (outcome, pcap) = boot(
        name,
        &lan,
        Pc::PxeRom,
        "52:54:00:00:13:04",
        Duration::from_secs(120),
    );
    let report = parse_report(&outcome.serial);
    outcome.check(
        report.is_some(),
        &format!("the test kernel printed no report\n{}", lan.server_logs()),
    );
    let report = report.unwrap();
    outcome.check(report.magic_ok, "Multiboot magic");
    outcome.check(
        report
            .loader
            .as_deref()
            .is_some_and(|l| l.contains("SYSLINUX") || l.contains("PXELINUX")),
        &format!(
            "booted by PXELINUX, not netloader: loader {:?}",
            report.loader
        ),
    );
    outcome.check(
        report.cmdline.as_deref() == Some(&*format!("kernel {}", KERNEL_ARGS.replace('"', ""))),
        &format!("kernel command line {:?}", report.cmdline),
    );
    outcome.check(report.modules.len() == mods.len(), "module count");
    for (got, want) in report.modules.iter().zip(&mods) {
        outcome.check(
            got.size == want.data.len() as u64 && got.sha256 == sha256_hex(&want.data),
            &format!("size and SHA-256 of {}", want.name),
        );
        outcome.check(
            got.cmdline == format!("{} {}", want.name, want.args),
            &format!("command line of {}: {:?}", want.name, got.cmdline),
        );
    }
    outcome.check(
        report.verdict_pass,
        &format!(
            "the kernel's verdict; failed checks: {:?}",
            report.failed_checks()
        ),
    );
    let log = lan.serve_log();
    outcome.check(
        log.contains("52:54:00:00:13:04 PXE x86 BIOS (arch 0): proxy OFFER (no address): boot file pxelinux.0 from 192.168.77.2"),
        &format!("serve's log\n{log}"),
    );
    for file in [
        "pxelinux.0",
        "ldlinux.c32",
        "pxelinux.cfg/default",
        "mboot.c32",
        "kernel",
        "mod1",
    ] {
        outcome.check(
            log.lines().any(|l| {
                l.starts_with("tftp: ")
                    && l.contains(&format!(" {file}: "))
                    && l.contains(" bytes in ")
            }),
            &format!("serve did not log sending {file}\n{log}"),
        );
    }
    outcome.check(
        serve_answers_without_address(&outcome, &pcap) >= 1,
        "serve's answers in the capture",
    );
}

/// `serve` in a namespace of its own, to its end; (status, output).
fn serve_once(ns: &Namespace, extra: &[&str]) -> (Option<i32>, String) {
    let dir = work_dir().join("serve-refusals");
    std::fs::create_dir_all(dir.join("netloader.cfg")).unwrap();
    std::fs::write(dir.join("netloader.cfg/default"), "").unwrap();
    let output = ns
        .command(serve_binary())
        .arg(&dir)
        .args(extra)
        .output()
        .expect("run serve");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn refuses_several_interfaces_and_a_taken_port() {
    let name = "serve-refusals";
    netns::require_root(name);
    let mut ns = Namespace::create().unwrap();
    // Two interfaces with addresses (veth pairs: this kernel has no dummy devices).
    for (dev, peer, addr) in [("d0", "p0", "10.13.0.1/24"), ("d1", "p1", "10.14.0.1/24")] {
        ns.run(&[
            "ip", "link", "add", dev, "type", "veth", "peer", "name", peer,
        ])
        .unwrap();
        ns.run(&["ip", "addr", "add", addr, "dev", dev]).unwrap();
        ns.run(&["ip", "link", "set", dev, "up"]).unwrap();
        ns.run(&["ip", "link", "set", peer, "up"]).unwrap();
    }
    let (status, text) = serve_once(&ns, &[]);
    assert_eq!(status, Some(1), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("E-SERVE-INTERFACE"))
        .unwrap_or("");
    assert!(
        line.contains("serve would answer on several interfaces")
            && line.contains("d0 10.13.0.1/24")
            && line.contains("d1 10.14.0.1/24"),
        "{text}"
    );

    // dnsmasq answers DHCP on d0: port 67 is taken there.
    let logs = work_dir().join(name);
    let mut dnsmasq = dnsmasq_command(&ns, "d0", &logs, "dnsmasq", false);
    dnsmasq.arg("--dhcp-range=10.13.0.50,10.13.0.60,255.255.255.0,1h");
    ns.spawn("dnsmasq", dnsmasq, &logs.join("dnsmasq.log"))
        .unwrap();
    ns.wait_for_udp_port(67, Duration::from_secs(10)).unwrap();
    let (status, text) = serve_once(&ns, &["--interface", "d0"]);
    assert_eq!(status, Some(1), "{text}");
    assert!(
        text.lines().any(|l| l
            .starts_with("netloader: E-SERVE-PORT: UDP port 67 on d0 is taken by another program")),
        "{text}"
    );
    // No other interface is touched: naming one that does not exist says so.
    let (status, text) = serve_once(&ns, &["--interface", "eth7"]);
    assert_eq!(status, Some(1));
    assert!(
        text.contains("E-SERVE-INTERFACE: there is no network interface eth7"),
        "{text}"
    );
}
