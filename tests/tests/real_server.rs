//! Boot against real servers in a network namespace this test creates: dnsmasq for DHCP and
//! atftpd 0.8.0 for TFTP, which grants RFC 7440 windowsize (QEMU's own server does not). The
//! guest reaches them only through a loopback relay into the namespace's tap device (see
//! `netloader_tests::netns`). Needs root for the namespace: the boots are `#[ignore]`d for a
//! plain `cargo test`, and `scripts/test` runs them when it is root (as CI is).

use std::time::Duration;

use netloader::forms::{self, Form};
use netloader_tests::netns::{self, Impairment, TestNet};
use netloader_tests::qemu::{Qemu, work_dir};
use netloader_tests::scenario::random_bytes;

/// The `window N` of the `tftp: <file> done: ...` line.
fn negotiated_window(serial: &str, file: &str) -> Option<u32> {
    let line = serial
        .lines()
        .find(|l| l.starts_with(&format!("tftp: {file} done:")))?;
    let after = line.split("window ").nth(1)?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn boot_from_atftpd(nic: &str, machine: &str, size: usize, impairment: Impairment) {
    let name = format!("real-{nic}-{machine}-{}k", size / 1024);
    netns::require_root(&name);
    let dir = work_dir().join(&name);
    let root = dir.join("tftp");
    std::fs::create_dir_all(&root).unwrap();
    let file = "payload.bin";
    let data = random_bytes(size, 0x5EED ^ size as u64 ^ nic.len() as u64);
    std::fs::write(root.join(file), &data).unwrap();
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();

    let net = TestNet::start(&root, file, impairment, &dir.join("servers"))
        .unwrap_or_else(|e| panic!("could not set up the namespace with dnsmasq and atftpd: {e}"));
    let outcome = Qemu::new(&name, machine, 128)
        .timeout(Duration::from_secs(90))
        .args(["-cdrom", iso.to_str().unwrap()])
        .args(["-netdev", &net.netdev("n0")])
        .pass_fd(net.qemu_fd())
        .args(["-device", &format!("{nic},netdev=n0")])
        .run(|serial| serial.contains("netloader: stopped."));
    let servers = net.server_logs();
    drop(net);

    let expected = format!("file: {file} {size} bytes at 0x... crc32 matching the host's");
    outcome.check(
        outcome.contains("dhcp: address 192.168.77."),
        &format!("no DHCP lease from dnsmasq\n{servers}"),
    );
    outcome.check(
        outcome.downloaded(file, &data),
        &format!("expected the line `{expected}`\n{servers}"),
    );
    let window = negotiated_window(&outcome.serial, file);
    outcome.check(
        window.is_some_and(|w| w >= 8),
        &format!("expected atftpd to grant a window of at least 8, the done line says {window:?}\n{servers}"),
    );
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn e1000_8mib_windowed_from_atftpd() {
    boot_from_atftpd("e1000", "pc", 8 << 20, Impairment::NONE);
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn virtio_8mib_windowed_from_atftpd() {
    boot_from_atftpd("virtio-net-pci", "pc", 8 << 20, Impairment::NONE);
}

/// 1 ms round trip, 1% loss and 1% duplicated frames, seeded: the window must survive both.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn e1000_4mib_through_delay_loss_and_duplicates() {
    let impairment = Impairment {
        one_way_delay: Duration::from_micros(500),
        loss: 0.01,
        duplicate: 0.01,
        seed: 42,
    };
    boot_from_atftpd("e1000", "pc", 4 << 20, impairment);
}

#[test]
fn window_parser_reads_the_done_line() {
    let serial = "tftp: a.bin done: 10 bytes in 0.1 s, blksize 1468, window 32, 0 retransmissions, 0 duplicates\n";
    assert_eq!(negotiated_window(serial, "a.bin"), Some(32));
    assert_eq!(negotiated_window(serial, "b.bin"), None);
    assert_eq!(
        negotiated_window("tftp: a.bin done: window x", "a.bin"),
        None
    );
}
