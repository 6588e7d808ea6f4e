//! TFTP: `Packet::parse` on the whole input, then a client fed the input cut into packets
//! (each with its length, a source port and a time step). Never a panic; whatever the client
//! sends parses; the sink never receives bytes past the size it allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::tftp::wire::Packet;
use netloader_proto::tftp::{Action, Options, SliceSink, TX_BUFFER_LEN, TftpClient};

const SERVER_PORT: u16 = 50000;

fuzz_target!(|input: &[u8]| {
    if let Ok(
        Packet::Oack(options) | Packet::Rrq(netloader_proto::tftp::wire::Request { options, .. }),
    ) = Packet::parse(input)
    {
        for (_, value) in options.iter() {
            let _ = netloader_proto::tftp::wire::parse_decimal(value);
        }
    }
    let Some((&mode, mut rest)) = input.split_first() else {
        return;
    };
    let options = Options {
        blksize: if mode & 1 == 0 { 512 } else { 1468 },
        windowsize: if mode & 2 == 0 { 1 } else { 16 },
        want_tsize: mode & 4 != 0,
        ..Options::default()
    };
    let Ok(mut client) = TftpClient::new("fuzz/file", options) else {
        return;
    };
    let mut file = [0u8; 8192];
    let mut sink = SliceSink::new(&mut file);
    let mut out = [0u8; TX_BUFFER_LEN];
    let mut now = 0u64;
    if client.start(now, &mut out).is_err() {
        return;
    }
    // Each packet: [len_hi, len_lo, flags] then `len` bytes (cut short at the end).
    while let [hi, lo, flags, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (packet, next) = tail.split_at(len);
        rest = next;
        now += u64::from(flags >> 2) * 50;
        let port = if flags & 1 == 0 { SERVER_PORT } else { 4321 };
        let action = client.on_packet(now, port, packet, &mut sink, &mut out);
        if let Some(t) = action.transmit() {
            assert!(Packet::parse(&out[..t.len]).is_ok());
        }
        if let Action::Done(_) | Action::Failed { .. } = action {
            break;
        }
        if flags & 2 != 0 {
            let _ = client.on_timer(now, &mut out);
        }
    }
    assert!(sink.len() <= 8192);
});
