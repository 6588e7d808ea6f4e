//! DHCP bytes we read: the PXE ROM's cached DHCPACK and boot server reply
//! (`CachedLease::from_packets`), the end of a message in a stale buffer (`message_len`), a
//! dotted-quad server name (`parse_dotted_quad`), `BootParams::from_answer` over a raw
//! option list, and a client's message as `netloader serve` reads it
//! (`request::parse_client_request`). Never a panic; every name kept is non-empty text.
#![no_main]

use core::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use netloader_proto::dhcp::request::parse_client_request;
use netloader_proto::dhcp::{BootParams, CachedLease, message_len};
use netloader_proto::ipv4::parse_dotted_quad;

fuzz_target!(|input: &[u8]| {
    // The first two bytes say where the ACK ends and the reply begins.
    let (ack, reply) = match input {
        [hi, lo, rest @ ..] => {
            rest.split_at(usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len()))
        }
        _ => (input, &[][..]),
    };
    if let Ok(lease) = CachedLease::from_packets(ack, Some(reply)) {
        assert!(!lease.address.is_unspecified() && lease.prefix_len <= 32);
    }
    let _ = CachedLease::from_packets(input, None);
    if let Some(request) = parse_client_request(input) {
        // Borrowed option values lie inside the input.
        assert!(request.class_id.len() < input.len() && request.user_class.len() < input.len());
        let _ = (
            request.architecture(),
            request.has_user_class(b"netloader"),
            request.is_pxe(),
        );
    }
    assert!(message_len(input).is_none_or(|len| len <= input.len()));
    if let Ok(text) = core::str::from_utf8(input) {
        let _ = parse_dotted_quad(text);
    }

    // A raw option list as in a packet: kind, length, value; the file field first.
    let (file, mut rest) = input.split_at(input.len().min(128));
    let mut options = Vec::new();
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        options.push((*kind, &tail[..len]));
        rest = &tail[len..];
    }
    let p = BootParams::from_answer(Ipv4Addr::new(10, 0, 2, 2), file, options, None);
    for name in [
        &p.tftp_server_name,
        &p.boot_file,
        &p.config_file,
        &p.path_prefix,
    ]
    .into_iter()
    .flatten()
    {
        assert!(!name.is_empty() && !name.contains('\0'));
    }
});
