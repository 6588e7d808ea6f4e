//! `--form pxe`: QEMU's own NIC ROM (iPXE, from ipxe-qemu) boots from the network (`-boot n`,
//! no disks), fetches netloader.pxe by TFTP and chainloads it as a PXE network boot program.
//! netloader must take the ROM's cached DHCP reply (no DHCP of its own: the capture shows no
//! client DHCP packet after the ROM fetched netloader.pxe), unload the ROM's PXE stack, find
//! its config by the per-host lookup (not boot netloader.pxe again) and boot the Multiboot test
//! kernel with its modules, all hashes compared.

use std::path::{Path, PathBuf};

use netloader::forms::{self, Form};
use netloader_tests::kernels::Variant;
use netloader_tests::qemu::{Outcome, Qemu, work_dir};
use netloader_tests::scenario::{self, Module, check_report, modules};

/// A TFTP root with netloader.pxe, the kernel, the modules and netloader.cfg/default.
fn tftp_root(name: &str, variant: Variant, modules: &[Module]) -> PathBuf {
    let dir = scenario::tftp_root(name, variant, modules, "netloader.cfg/default");
    std::fs::write(dir.join("netloader.pxe"), forms::build(Form::Pxe).unwrap()).unwrap();
    dir
}

/// Network boot only: the NIC's ROM is the boot device; the traffic is captured.
fn boot(name: &str, nic: &str, dir: &Path) -> (Outcome, PathBuf) {
    let capture = dir.join("capture.pcap");
    let _ = std::fs::remove_file(&capture);
    let outcome = scenario::pxe_qemu(name, nic, dir)
        .args([
            "-object".into(),
            format!("filter-dump,id=f0,netdev=n0,file={}", capture.display()),
        ])
        // The test kernel ends QEMU itself (isa-debug-exit), with its verdict as the status.
        .run(|serial| serial.contains("netloader: stopped."));
    (outcome, capture)
}

/// Client DHCP packets (port 68 -> 67) after the ROM's TFTP read request for netloader.pxe.
fn dhcp_after_nbp_download(capture: &Path) -> Option<usize> {
    let pcap = std::fs::read(capture).ok()?;
    let packets = netloader_tests::pcap::udp_datagrams(&pcap);
    let rrq = packets.iter().position(|d| {
        d.destination_port == 69 && d.payload.windows(13).any(|w| w == b"netloader.pxe")
    })?;
    Some(
        packets[rrq..]
            .iter()
            .filter(|d| d.source_port == 68 && d.destination_port == 67)
            .count(),
    )
}

fn chainload(nic: &str, variant: Variant, module_count: usize) {
    let name = format!("pxe-{nic}-{}", variant.name());
    let mods = modules(module_count);
    let dir = tftp_root(&name, variant, &mods);
    let (outcome, capture) = boot(&name, nic, &dir);
    outcome.check(
        outcome.contains("boot form: PXE network boot program"),
        "entered through the PXE entry",
    );
    outcome.check(
        outcome.contains("pxe: API !PXE (PXENV+ valid, !PXE valid"),
        "found and validated both PXE structures",
    );
    outcome.check(
        outcome.contains("UNDI_SHUTDOWN ok, UNLOAD_STACK ok, STOP_UNDI ok"),
        "unloaded the ROM's PXE stack",
    );
    outcome.check(
        outcome.contains("dhcp: using the PXE ROM's cached reply from 10.0.2.2"),
        "used the cached reply",
    );
    outcome.check(
        !outcome.contains("dhcp: asking for an address"),
        "no DHCP exchange of its own",
    );
    outcome.check(
        outcome.contains("dhcp: address 10.0.2.15/24"),
        "the ROM's address",
    );
    outcome.check(
        outcome.contains("is this loader itself"),
        "did not take netloader.pxe for a config or kernel",
    );
    outcome.check(
        outcome.contains("config: found netloader.cfg/default on 10.0.2.2"),
        "per-host lookup found default",
    );
    match dhcp_after_nbp_download(&capture) {
        Some(count) => outcome.check(
            count == 0,
            &format!("{count} client DHCP packet(s) after the ROM fetched netloader.pxe"),
        ),
        None => outcome.check(false, "the capture shows no read request for netloader.pxe"),
    }
    check_report(&outcome, variant, &mods);
}

#[test]
fn ipxe_rom_chainloads_netloader_pxe_over_e1000() {
    chainload("e1000", Variant::Elf32, 3);
}

#[test]
fn ipxe_rom_chainloads_netloader_pxe_over_virtio() {
    chainload("virtio-net-pci", Variant::Elf64, 2);
}

#[test]
fn ipxe_rom_chainloads_netloader_pxe_over_rtl8139() {
    chainload("rtl8139", Variant::Low, 1);
}

/// A ROM whose structures do not validate: netloader.pxe with its signature constants changed,
/// so neither "PXENV+" nor "!PXE" matches. It must say so, leave the ROM alone, and go on with
/// a DHCP exchange of its own (and still not boot itself).
#[test]
fn without_a_valid_pxe_api_it_falls_back_to_its_own_dhcp() {
    let name = "pxe-noapi";
    let mods = modules(1);
    let dir = tftp_root(name, Variant::Elf32, &mods);
    break_signatures(&dir, &[*b"PXEN", *b"!PXE"]);
    let (outcome, _) = boot(name, "e1000", &dir);
    outcome.check(
        outcome.contains("pxe: API none (PXENV+ invalid, !PXE invalid"),
        "no API found",
    );
    outcome.check(
        outcome.contains("E-PXE-NOAPI"),
        "said why the cached reply is not used",
    );
    outcome.check(
        outcome.contains("dhcp: asking for an address"),
        "its own DHCP",
    );
    outcome.check(
        outcome.contains("is this loader itself"),
        "did not take netloader.pxe for a config or kernel",
    );
    outcome.check(
        outcome.contains("config: found netloader.cfg/default on 10.0.2.2"),
        "per-host lookup found default",
    );
    check_report(&outcome, Variant::Elf32, &mods);
}

/// Change the PXE entry's copy of these 4-byte signature constants, so that they never match.
fn break_signatures(dir: &Path, signatures: &[[u8; 4]]) {
    let mut program = std::fs::read(dir.join("netloader.pxe")).unwrap();
    for signature in signatures {
        let at = program[..0x400]
            .windows(4)
            .position(|w| w == signature)
            .expect("signature constant in the PXE entry");
        program[at] ^= 0x20;
    }
    std::fs::write(dir.join("netloader.pxe"), program).unwrap();
}

/// Without a usable !PXE, the PXENV+ entry (RMEntry: BX = opcode, ES:DI = parameters) does
/// the same work.
#[test]
fn pxenv_plus_entry_alone_is_enough() {
    let name = "pxe-pxenv-only";
    let mods = modules(1);
    let dir = tftp_root(name, Variant::Elf32, &mods);
    break_signatures(&dir, &[*b"!PXE"]);
    let (outcome, capture) = boot(name, "e1000", &dir);
    outcome.check(
        outcome.contains("pxe: API PXENV+ (PXENV+ valid, !PXE invalid, version 0x201)"),
        "PXENV+ used",
    );
    outcome.check(
        outcome.contains("UNDI_SHUTDOWN ok, UNLOAD_STACK ok, STOP_UNDI ok"),
        "unloaded the ROM's PXE stack",
    );
    outcome.check(
        outcome.contains("dhcp: using the PXE ROM's cached reply from 10.0.2.2"),
        "used the cached reply",
    );
    outcome.check(
        dhcp_after_nbp_download(&capture) == Some(0),
        "no client DHCP after the NBP download",
    );
    check_report(&outcome, Variant::Elf32, &mods);
}

/// The same chain against real servers: dnsmasq (DHCP, `dhcp-boot=netloader.pxe`) and atftpd
/// in a network namespace (see `netloader_tests::netns`). Needs root.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn ipxe_rom_chainloads_netloader_pxe_from_dnsmasq_and_atftpd() {
    use netloader_tests::netns::{self, Impairment, TestNet};
    let name = "pxe-dnsmasq";
    netns::require_root(name);
    let mods = modules(2);
    let dir = tftp_root(name, Variant::Elf32, &mods);
    let net = TestNet::start(
        &dir,
        "netloader.pxe",
        Impairment::NONE,
        &work_dir().join(format!("{name}-servers")),
    )
    .unwrap_or_else(|e| panic!("could not set up the namespace with dnsmasq and atftpd: {e}"));
    let outcome = Qemu::new(name, "pc", 128)
        .args(["-boot", "n"])
        .args(["-netdev", &net.netdev("n0")])
        .pass_fd(net.qemu_fd())
        .args(["-device", "e1000,netdev=n0"])
        .run(|serial| serial.contains("netloader: stopped."));
    let servers = net.server_logs();
    drop(net);
    outcome.check(
        outcome.contains("dhcp: using the PXE ROM's cached reply from 192.168.77.1"),
        &format!("cached reply\n{servers}"),
    );
    outcome.check(
        outcome.contains("dhcp: address 192.168.77."),
        "the ROM's address",
    );
    outcome.check(
        !outcome.contains("dhcp: asking for an address"),
        "no DHCP exchange of its own",
    );
    outcome.check(
        outcome.contains("config: found netloader.cfg/default on 192.168.77.1"),
        "per-host lookup on atftpd",
    );
    check_report(&outcome, Variant::Elf32, &mods);
}
