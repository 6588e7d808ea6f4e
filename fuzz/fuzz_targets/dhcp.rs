//! DHCP bytes we read: the PXE ROM's cached DHCPACK and boot server reply
//! (`CachedLease::from_packets`), and `BootParams::from_answer` over a raw option list.
//! Never a panic; every name kept is non-empty text.
#![no_main]

use core::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use netloader_proto::dhcp::{BootParams, CachedLease};

fuzz_target!(|input: &[u8]| {
    // The first two bytes say where the ACK ends and the reply begins.
    let (ack, reply) = match input {
        [hi, lo, rest @ ..] => rest.split_at(usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len())),
        _ => (input, &[][..]),
    };
    if let Ok(lease) = CachedLease::from_packets(ack, Some(reply)) {
        assert!(!lease.address.is_unspecified() && lease.prefix_len <= 32);
    }
    let _ = CachedLease::from_packets(input, None);

    // A raw option list as in a packet: kind, length, value; the file field first.
    let (file, mut rest) = input.split_at(input.len().min(128));
    let mut options = Vec::new();
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        options.push((*kind, &tail[..len]));
        rest = &tail[len..];
    }
    let p = BootParams::from_answer(Ipv4Addr::new(10, 0, 2, 2), file, options, None);
    for name in [&p.tftp_server_name, &p.boot_file, &p.config_file, &p.path_prefix].into_iter().flatten() {
        assert!(!name.is_empty() && !name.contains('\0'));
    }
});
