//! The network path on every supported card: PCI scan, driver, DHCP from QEMU's user-mode
//! server (restrict=on: nothing leaves the guest's network), TFTP of the DHCP boot file into
//! memory, and a SHA-256 of what arrived, compared with the host's.

use netloader::forms::{self, Form};
use netloader_tests::qemu::{Qemu, work_dir};
use netloader_tests::scenario::random_bytes;

fn download(nic: &str, machine: &str, size: usize) {
    let name = format!("net-{nic}-{machine}-{}k", size / 1024);
    let dir = work_dir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let data = random_bytes(size, size as u64 ^ nic.len() as u64);
    let file = "payload.bin";
    std::fs::write(dir.join(file), &data).unwrap();
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();

    let outcome = Qemu::new(&name, machine, 128)
        .args(["-cdrom", iso.to_str().unwrap()])
        .args([
            "-netdev",
            &format!(
                "user,id=n0,restrict=on,tftp={},bootfile={file}",
                dir.display()
            ),
        ])
        .args(["-device", &format!("{nic},netdev=n0")])
        .run(|serial| serial.contains("netloader: stopped."));
    outcome.check(
        outcome.contains("dhcp: address 10.0.2.15/24"),
        "no DHCP lease",
    );
    outcome.check(
        outcome.downloaded(file, &data),
        &format!("expected `file: {file} {size} bytes ... crc32` matching the host's"),
    );
    // Random bytes are neither a kernel nor a config: the loader must say so, not boot them.
    let refused = if size > 1 << 20 {
        "E-BOOTFILE: payload.bin is"
    } else {
        "E-CONFIG-SYNTAX: payload.bin:"
    };
    outcome.check(
        outcome.contains(refused),
        "random bytes must be refused, neither kernel nor config",
    );
}

#[test]
fn e1000_1mib_and_32mib() {
    download("e1000", "pc", 1 << 20);
    download("e1000", "pc", 32 << 20);
}

#[test]
fn e1000e_1mib_and_32mib() {
    download("e1000e", "q35", 1 << 20);
    download("e1000e", "q35", 32 << 20);
}

#[test]
fn rtl8139_1mib_and_32mib() {
    download("rtl8139", "pc", 1 << 20);
    download("rtl8139", "pc", 32 << 20);
}

#[test]
fn virtio_1mib_and_32mib() {
    download("virtio-net-pci", "pc", 1 << 20);
    download("virtio-net-pci", "q35", 32 << 20);
}

#[test]
fn no_card_is_a_clear_error() {
    let name = "net-no-card";
    let iso = work_dir().join(format!("{name}.iso"));
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let outcome = Qemu::new(name, "pc", 64)
        .args(["-cdrom", iso.to_str().unwrap()])
        .run(|serial| serial.contains("netloader: stopped."));
    outcome.check(
        outcome.contains("E-NIC-NONE: no network card found"),
        "expected E-NIC-NONE",
    );
}

#[test]
fn missing_boot_file_names_file_and_server() {
    let name = "net-missing-file";
    let dir = work_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let outcome = Qemu::new(name, "pc", 64)
        .args(["-cdrom", iso.to_str().unwrap()])
        .args([
            "-netdev",
            &format!(
                "user,id=n0,restrict=on,tftp={},bootfile=nothere.bin",
                dir.display()
            ),
        ])
        .args(["-device", "e1000,netdev=n0"])
        .run(|serial| serial.contains("netloader: stopped."));
    outcome.check(
        outcome.contains("E-TFTP-NOTFOUND: nothere.bin from 10.0.2.2"),
        "expected E-TFTP-NOTFOUND naming the file and the server",
    );
}

/// Cards without a driver are named with their PCI IDs, so the user knows what was seen: a
/// DEC Tulip and a vmxnet3 without its option ROM (so no firmware driver either).
#[test]
fn unsupported_cards_are_listed_with_their_ids() {
    let name = "net-unsupported";
    let iso = work_dir().join(format!("{name}.iso"));
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let outcome = Qemu::new(name, "pc", 64)
        .args(["-cdrom", iso.to_str().unwrap()])
        .args([
            "-netdev",
            "user,id=n0,restrict=on",
            "-device",
            "tulip,netdev=n0",
        ])
        .args([
            "-netdev",
            "user,id=n1,restrict=on",
            "-device",
            "vmxnet3,netdev=n1,romfile=",
        ])
        .run(|serial| serial.contains("netloader: stopped."));
    outcome.check(
        outcome.contains("E-NIC-UNSUPPORTED: no driver for the network cards found (1011:0019 at "),
        "tulip listed",
    );
    outcome.check(outcome.contains(", 15ad:07b0 at "), "vmxnet3 listed");
    outcome.check(
        outcome.contains(&format!(
            "): this netloader drives {}",
            netloader::registry::families(netloader::registry::DRIVERS).as_str()
        )),
        "the families this netloader drives, from the registry",
    );
}

/// The cable pulled (QEMU's `set_link off` before the loader looks): it waits for link, says
/// so, and gives up with E-NET-NOLINK after 20 s instead of hanging.
#[test]
fn no_link_is_a_clear_error() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let name = "net-no-link";
    let dir = work_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let monitor = dir.join("monitor.sock");
    let _ = std::fs::remove_file(&monitor);
    let socket = monitor.clone();
    // QEMU starts paused (-S): the cable is pulled before the guest runs its first
    // instruction, then `cont` starts it, so the loader can only ever see the link down.
    let unplug = std::thread::spawn(move || {
        for _ in 0..6000 {
            if let Ok(mut stream) = UnixStream::connect(&socket) {
                stream.write_all(b"set_link n0 off\ncont\n").unwrap();
                // Hold the connection until QEMU has read both commands: each answer ends
                // with a new prompt (the greeting has one, so three in all).
                let mut seen = String::new();
                let mut buffer = [0u8; 512];
                while seen.matches("(qemu)").count() < 3 {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
                    }
                }
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    });
    let outcome = Qemu::new(name, "pc", 64)
        .arg("-S")
        .args(["-cdrom", iso.to_str().unwrap()])
        .args([
            "-netdev",
            &format!("user,id=n0,restrict=on,tftp={}", dir.display()),
            "-device",
            "e1000,netdev=n0",
        ])
        .args([
            "-monitor".to_string(),
            format!("unix:{},server,nowait", monitor.display()),
        ])
        .run(|serial| serial.contains("netloader: stopped."));
    outcome.check(
        unplug.join().unwrap(),
        "the monitor took the set_link command",
    );
    outcome.check(
        outcome.contains("net: waiting for link..."),
        "it says it waits for link",
    );
    outcome.check(
        outcome.contains("E-NET-NOLINK: the network card reports no link after 20 s"),
        "expected E-NET-NOLINK",
    );
}
