//! Host tests of the client: scripted exchanges packet by packet, and a simulated
//! RFC 7440 server on a lossy, duplicating, reordering network.

use std::collections::VecDeque;
use std::vec;
use std::vec::Vec;

use super::wire::{self, Packet};
use super::*;

const SERVER_TID: u16 = 50000;

/// A sink over a Vec with a capacity, recording the tsize hint.
struct VecSink {
    data: Vec<u8>,
    capacity: u64,
    hint: Option<u64>,
}

impl VecSink {
    fn new(capacity: u64) -> Self {
        VecSink {
            data: Vec::new(),
            capacity,
            hint: None,
        }
    }
}

impl Sink for VecSink {
    fn size_hint(&mut self, size: u64) -> Result<(), SinkError> {
        self.hint = Some(size);
        if size > self.capacity {
            return Err(SinkError::TooLarge {
                needed: size,
                capacity: self.capacity,
            });
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError> {
        assert_eq!(offset, self.data.len() as u64, "writes must be in order");
        let end = offset + data.len() as u64;
        if end > self.capacity {
            return Err(SinkError::TooLarge {
                needed: end,
                capacity: self.capacity,
            });
        }
        self.data.extend_from_slice(data);
        Ok(())
    }
}

fn test_file(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn opts(blksize: u16, windowsize: u16, want_tsize: bool) -> Options {
    Options {
        blksize,
        windowsize,
        want_tsize,
        ..Options::default()
    }
}

fn data(block: u16, bytes: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; bytes.len() + 4];
    let len = wire::build_data(&mut buf, block, bytes).unwrap();
    buf.truncate(len);
    buf
}

fn oack(options: &[(&[u8], u64)]) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let len = wire::build_oack(&mut buf, options).unwrap();
    buf.truncate(len);
    buf
}

fn error(code: u16, message: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let len = wire::build_error(&mut buf, code, message).unwrap();
    buf.truncate(len);
    buf
}

// ---------------------------------------------------------------------------------------
// Scripted exchanges: the test plays the server one packet at a time.

struct Script {
    client: TftpClient,
    sink: VecSink,
    out: [u8; TX_BUFFER_LEN],
    now: u64,
}

/// What the client sent, decoded for assertions.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Ack(u16),
    Error(u16),
    Rrq { options: usize },
}

impl Script {
    fn new(options: Options) -> Self {
        Self::with_capacity(options, u64::MAX)
    }

    fn with_capacity(options: Options, capacity: u64) -> Self {
        Script {
            client: TftpClient::new("boot/kernel", options).unwrap(),
            sink: VecSink::new(capacity),
            out: [0; TX_BUFFER_LEN],
            now: 1000,
        }
    }

    fn start(&mut self) -> (u16, Sent) {
        let t = self.client.start(self.now, &mut self.out).unwrap();
        (t.port, self.decode(t))
    }

    fn decode(&self, t: Transmit) -> Sent {
        match Packet::parse(&self.out[..t.len]).unwrap() {
            Packet::Ack { block } => Sent::Ack(block),
            Packet::Error { code, .. } => Sent::Error(code),
            Packet::Rrq(r) => {
                assert_eq!(r.filename, b"boot/kernel");
                assert_eq!(r.mode, b"octet");
                Sent::Rrq {
                    options: r.options.iter().count(),
                }
            }
            other => panic!("client sent {other:?}"),
        }
    }

    fn recv_from(&mut self, port: u16, packet: &[u8]) -> Action {
        self.client
            .on_packet(self.now, port, packet, &mut self.sink, &mut self.out)
    }

    fn recv(&mut self, packet: &[u8]) -> Action {
        self.recv_from(SERVER_TID, packet)
    }

    /// Receives a packet that must make the client send exactly one datagram.
    fn expect_send(&mut self, packet: &[u8]) -> (u16, Sent) {
        match self.recv(packet) {
            Action::Send(t) => (t.port, self.decode(t)),
            other => panic!("expected a send, got {other:?}"),
        }
    }

    fn timer_at_deadline(&mut self) -> Action {
        self.now = self.client.poll_deadline().expect("a timer runs");
        self.client.on_timer(self.now, &mut self.out)
    }
}

#[test]
fn request_without_options_when_none_wanted() {
    let mut s = Script::new(opts(512, 1, false));
    assert_eq!(s.start(), (69, Sent::Rrq { options: 0 }));
    assert_eq!(
        s.expect_send(&data(1, &[1; 512])),
        (SERVER_TID, Sent::Ack(1))
    );
    match s.recv(&data(2, &[2; 3])) {
        Action::Done(t) => assert_eq!(s.decode(t), Sent::Ack(2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.sink.data.len(), 515);
    assert_eq!(s.client.status(), Status::Done);
    assert_eq!(s.client.poll_deadline(), None);
}

#[test]
fn oack_with_all_options_then_window_acks() {
    let mut s = Script::new(opts(1468, 4, true));
    let t = s.client.start(s.now, &mut s.out).unwrap();
    assert_eq!(
        &s.out[..t.len],
        b"\x00\x01boot/kernel\0octet\0blksize\x001468\0windowsize\x004\0tsize\x000\0"
    );
    let size = 1468 * 5 + 10;
    let reply = oack(&[(b"blksize", 1468), (b"windowsize", 4), (b"tsize", size)]);
    assert_eq!(s.expect_send(&reply), (SERVER_TID, Sent::Ack(0)));
    assert_eq!(s.sink.hint, Some(size));
    let stats = *s.client.stats();
    assert_eq!(
        (stats.blksize, stats.windowsize, stats.tsize),
        (1468, 4, Some(size))
    );
    for block in 1..=3 {
        assert_eq!(s.recv(&data(block, &[0; 1468])), Action::Wait);
    }
    assert_eq!(
        s.expect_send(&data(4, &[0; 1468])),
        (SERVER_TID, Sent::Ack(4))
    );
    assert_eq!(s.recv(&data(5, &[0; 1468])), Action::Wait);
    assert!(matches!(s.recv(&data(6, &[0; 10])), Action::Done(_)));
    assert_eq!(s.sink.data.len() as u64, size);
}

#[test]
fn oack_without_windowsize_falls_back_to_window_one() {
    let mut s = Script::new(opts(1468, 16, false));
    s.start();
    assert_eq!(
        s.expect_send(&oack(&[(b"blksize", 1428)])),
        (SERVER_TID, Sent::Ack(0))
    );
    assert_eq!(s.client.stats().windowsize, 1);
    assert_eq!(s.client.stats().blksize, 1428);
    assert_eq!(
        s.expect_send(&data(1, &[0; 1428])),
        (SERVER_TID, Sent::Ack(1))
    );
    assert_eq!(
        s.expect_send(&data(2, &[0; 1428])),
        (SERVER_TID, Sent::Ack(2))
    );
}

#[test]
fn oack_without_blksize_falls_back_to_512() {
    let mut s = Script::new(opts(1468, 16, false));
    s.start();
    assert_eq!(
        s.expect_send(&oack(&[(b"windowsize", 2)])),
        (SERVER_TID, Sent::Ack(0))
    );
    assert_eq!(s.client.stats().blksize, 512);
    assert_eq!(s.recv(&data(1, &[0; 512])), Action::Wait);
    assert_eq!(
        s.expect_send(&data(2, &[0; 512])),
        (SERVER_TID, Sent::Ack(2))
    );
    // 1468 bytes is now too long for a block.
    let a = s.recv(&data(3, &[0; 1468]));
    assert!(matches!(
        a,
        Action::Failed {
            error: TftpError::Protocol(ProtocolError::DataTooLong { .. }),
            ..
        }
    ));
}

#[test]
fn server_ignoring_options_sends_512_byte_blocks() {
    let mut s = Script::new(Options::default());
    assert_eq!(s.start(), (69, Sent::Rrq { options: 3 }));
    assert_eq!(
        s.expect_send(&data(1, &[7; 512])),
        (SERVER_TID, Sent::Ack(1))
    );
    let stats = *s.client.stats();
    assert_eq!(
        (stats.blksize, stats.windowsize, stats.tsize),
        (512, 1, None)
    );
    assert!(matches!(s.recv(&data(2, &[7; 100])), Action::Done(_)));
    assert_eq!(s.sink.data, vec![7; 612]);
}

#[test]
fn error_8_on_options_retries_without_them() {
    let mut s = Script::new(Options::default());
    s.start();
    let refused = error(8, b"Options not supported");
    // The refusal comes from some port; the TID is not locked to it.
    match s.recv_from(50001, &refused) {
        Action::Send(t) => {
            assert_eq!(t.port, 69);
            assert_eq!(s.decode(t), Sent::Rrq { options: 0 });
        }
        other => panic!("{other:?}"),
    }
    assert!(s.client.stats().options_refused);
    assert_eq!(s.client.server_port(), None);
    match s.recv_from(50002, &data(1, &[1; 20])) {
        Action::Done(t) => assert_eq!((t.port, s.decode(t)), (50002, Sent::Ack(1))),
        other => panic!("{other:?}"),
    }
    // A second ERROR 8 (after options were dropped) is a plain failure.
    let mut s = Script::new(Options::default());
    s.start();
    let _ = s.recv_from(50001, &refused);
    assert!(matches!(
        s.recv_from(50001, &refused),
        Action::Failed {
            send: None,
            error: TftpError::Server { code: 8, .. }
        }
    ));
}

#[test]
fn oack_value_larger_than_requested_is_rejected_with_error_8() {
    let mut s = Script::new(opts(1468, 8, false));
    s.start();
    match s.recv(&oack(&[(b"blksize", 9000)])) {
        Action::Failed {
            send: Some(t),
            error,
        } => {
            assert_eq!((t.port, s.decode(t)), (SERVER_TID, Sent::Error(8)));
            assert_eq!(
                error,
                TftpError::OptionRejected {
                    option: OptionKind::Blksize,
                    requested: 1468,
                    offered: 9000
                }
            );
        }
        other => panic!("{other:?}"),
    }
    let mut s = Script::new(opts(1468, 8, false));
    s.start();
    assert!(matches!(
        s.recv(&oack(&[(b"windowsize", 9)])),
        Action::Failed {
            error: TftpError::OptionRejected {
                option: OptionKind::Windowsize,
                ..
            },
            ..
        }
    ));
    let mut s = Script::new(opts(1468, 8, false));
    s.start();
    assert!(matches!(
        s.recv(&oack(&[(b"blksize", 4)])),
        Action::Failed {
            error: TftpError::OptionRejected { offered: 4, .. },
            ..
        }
    ));
    let mut s = Script::new(opts(1468, 8, false));
    s.start();
    assert!(matches!(
        s.recv(b"\x00\x06blksize\0big\0"),
        Action::Failed {
            error: TftpError::Protocol(ProtocolError::BadOptionValue(_)),
            ..
        }
    ));
}

#[test]
fn duplicates_never_trigger_acks_and_timer_resends_lost_window_ack() {
    let mut s = Script::new(opts(512, 4, false));
    s.start();
    let _ = s.expect_send(&oack(&[(b"windowsize", 4)]));
    for block in 1..=3 {
        assert_eq!(s.recv(&data(block, &[0; 512])), Action::Wait);
    }
    assert_eq!(s.expect_send(&data(4, &[0; 512])).1, Sent::Ack(4));
    // That ACK is lost: the server resends the whole window. No ACK for any of it.
    for block in 1..=4 {
        assert_eq!(s.recv(&data(block, &[0; 512])), Action::Wait);
    }
    assert_eq!(s.client.stats().duplicates, 4);
    // Our own short timer resends ACK 4, with backoff.
    let first = s.now;
    match s.timer_at_deadline() {
        Action::Send(t) => assert_eq!(s.decode(t), Sent::Ack(4)),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.now - first, 200);
    assert_eq!(s.client.poll_deadline(), Some(s.now + 400));
    assert_eq!(s.client.stats().retransmissions, 1);
    assert_eq!(s.client.stats().acks_sent, 3);
}

#[test]
fn lost_block_in_window_is_acked_once_at_once() {
    let mut s = Script::new(opts(512, 8, false));
    s.start();
    let _ = s.expect_send(&oack(&[(b"windowsize", 8)]));
    assert_eq!(s.recv(&data(1, &[0; 512])), Action::Wait);
    assert_eq!(s.recv(&data(2, &[0; 512])), Action::Wait);
    // Block 3 is lost: block 4 may be a swap with 3 (kept, no ACK yet); block 5 means a loss
    // and triggers ACK 2 at once, the rest of the window nothing.
    assert_eq!(s.recv(&data(4, &[0; 512])), Action::Wait);
    assert_eq!(s.expect_send(&data(5, &[0; 512])).1, Sent::Ack(2));
    for block in 6..=8 {
        assert_eq!(s.recv(&data(block, &[0; 512])), Action::Wait);
    }
    assert_eq!(s.client.stats().out_of_order, 5);
    assert_eq!(s.client.stats().gap_acks, 1);
    // The server restarts at 3; the window now ends at 2 + 8 = 10.
    for block in 3..=9 {
        assert_eq!(s.recv(&data(block, &[0; 512])), Action::Wait);
    }
    assert_eq!(s.expect_send(&data(10, &[0; 512])).1, Sent::Ack(10));
}

#[test]
fn lost_block_at_window_end_recovers_by_short_timer() {
    let mut s = Script::new(opts(512, 4, false));
    s.start();
    let _ = s.expect_send(&oack(&[(b"windowsize", 4)]));
    for block in 1..=3 {
        assert_eq!(s.recv(&data(block, &[0; 512])), Action::Wait);
    }
    let before = s.now;
    match s.timer_at_deadline() {
        Action::Send(t) => assert_eq!(s.decode(t), Sent::Ack(3)),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.now - before, 200);
    // Late blocks of the old window (none here) would not re-ACK; the restarted window does.
    for block in 4..=6 {
        assert_eq!(s.recv(&data(block, &[0; 512])), Action::Wait);
    }
    assert_eq!(s.expect_send(&data(7, &[0; 512])).1, Sent::Ack(7));
}

#[test]
fn swapped_blocks_are_kept_without_a_resend() {
    let mut s = Script::new(opts(512, 4, false));
    s.start();
    let _ = s.expect_send(&oack(&[(b"windowsize", 4)]));
    assert_eq!(s.recv(&data(1, &[1; 512])), Action::Wait);
    // 3 before 2: 3 is kept, nothing is sent; 2 then completes 1-3.
    assert_eq!(s.recv(&data(3, &[3; 512])), Action::Wait);
    assert_eq!(s.recv(&data(2, &[2; 512])), Action::Wait);
    assert_eq!(s.client.stats().blocks_received, 3);
    assert_eq!(s.client.stats().gap_acks, 0);
    assert_eq!(s.client.stats().reordered_kept, 1);
    assert_eq!(&s.sink.data[1024..], &[3; 512][..]);
    // The window (4) ends at block 4 as usual, and the gap timer is gone.
    assert_eq!(s.expect_send(&data(4, &[4; 512])).1, Sent::Ack(4));
    assert_eq!(s.client.poll_deadline(), Some(s.now + 200));
}

#[test]
fn a_gap_that_stays_is_acked_after_the_reorder_wait() {
    let mut s = Script::new(opts(512, 4, false));
    s.start();
    let _ = s.expect_send(&oack(&[(b"windowsize", 4)]));
    assert_eq!(s.recv(&data(1, &[1; 512])), Action::Wait);
    assert_eq!(s.recv(&data(2, &[2; 512])), Action::Wait);
    // 3 lost, 4 (the window's last) arrives: wait 10 ms, then ACK 2.
    let before = s.now;
    assert_eq!(s.recv(&data(4, &[4; 512])), Action::Wait);
    match s.timer_at_deadline() {
        Action::Send(t) => assert_eq!(s.decode(t), Sent::Ack(2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.now - before, 10);
    // The resent 3 brings the kept 4 along: one ACK for the window ending at 6 later.
    assert_eq!(s.recv(&data(3, &[3; 512])), Action::Wait);
    assert_eq!(s.client.stats().blocks_received, 4);
    assert_eq!(s.recv(&data(4, &[4; 512])), Action::Wait);
    assert_eq!(s.client.stats().duplicates, 1);
    assert_eq!(s.recv(&data(5, &[5; 512])), Action::Wait);
    assert_eq!(s.expect_send(&data(6, &[6; 512])).1, Sent::Ack(6));
}

#[test]
fn a_short_last_block_is_not_kept() {
    let mut s = Script::new(opts(512, 4, false));
    s.start();
    let _ = s.expect_send(&oack(&[(b"windowsize", 4)]));
    assert_eq!(s.recv(&data(1, &[1; 512])), Action::Wait);
    // The short last block before its neighbour: not kept (it may end the file early).
    assert_eq!(s.recv(&data(3, &[3; 100])), Action::Wait);
    assert_eq!(s.recv(&data(2, &[2; 512])), Action::Wait);
    assert_eq!(s.client.stats().reordered_kept, 0);
    match s.recv(&data(3, &[3; 100])) {
        Action::Done(t) => assert_eq!(s.decode(t), Sent::Ack(3)),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.sink.data.len(), 1124);
}

#[test]
fn no_reorder_wait_acks_a_gap_at_once() {
    let mut s = Script::new(Options {
        reorder_wait_ms: 0,
        ..opts(512, 4, false)
    });
    s.start();
    let _ = s.expect_send(&oack(&[(b"windowsize", 4)]));
    assert_eq!(s.recv(&data(1, &[1; 512])), Action::Wait);
    assert_eq!(s.expect_send(&data(3, &[3; 512])).1, Sent::Ack(1));
    // Nothing was kept: 2 is taken, 3 must come again.
    assert_eq!(s.recv(&data(2, &[2; 512])), Action::Wait);
    assert_eq!(s.client.stats().blocks_received, 2);
    assert_eq!(s.client.stats().reordered_kept, 0);
}

#[test]
fn error_from_server_is_surfaced() {
    let mut s = Script::new(Options::default());
    s.start();
    match s.recv(&error(1, b"File not found")) {
        Action::Failed { send: None, error } => {
            assert_eq!(error.code(), "E-TFTP-NOTFOUND");
            assert_eq!(
                std::format!("{error}"),
                "server error 1 (file not found): File not found"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.client.status(),
        Status::Failed(TftpError::Server { code: 1, .. })
    ));
    // A failed client ignores everything after.
    assert_eq!(s.recv(&data(1, &[0; 4])), Action::Wait);
    assert_eq!(s.client.on_timer(u64::MAX, &mut s.out), Action::Wait);
}

#[test]
fn wrong_source_port_gets_error_5_and_is_ignored() {
    let mut s = Script::new(opts(512, 1, false));
    s.start();
    let _ = s.expect_send(&data(1, &[0; 512]));
    match s.recv_from(50001, &data(2, &[9; 512])) {
        Action::Send(t) => assert_eq!((t.port, s.decode(t)), (50001, Sent::Error(5))),
        other => panic!("{other:?}"),
    }
    // An ERROR from a stray port gets no answer, and garbage gets ERROR 5 too.
    assert_eq!(s.recv_from(50001, &error(5, b"x")), Action::Wait);
    assert!(matches!(s.recv_from(50003, b"\xff"), Action::Send(_)));
    assert_eq!(s.client.stats().stray_packets, 3);
    assert_eq!(s.client.stats().blocks_received, 1);
    assert_eq!(
        s.expect_send(&data(2, &[2; 512])),
        (SERVER_TID, Sent::Ack(2))
    );
}

#[test]
fn tsize_mismatch_is_an_error() {
    // Shorter than announced: the final ACK still goes out, then the error.
    let mut s = Script::new(opts(512, 1, true));
    s.start();
    let _ = s.expect_send(&oack(&[(b"tsize", 1000)]));
    let _ = s.expect_send(&data(1, &[0; 512]));
    match s.recv(&data(2, &[0; 100])) {
        Action::Failed {
            send: Some(t),
            error,
        } => {
            assert_eq!(s.decode(t), Sent::Ack(2));
            assert_eq!(
                error,
                TftpError::SizeMismatch {
                    announced: 1000,
                    received: 612
                }
            );
            assert_eq!(error.code(), "E-TFTP-SIZE");
        }
        other => panic!("{other:?}"),
    }
    // Longer than announced: stopped as soon as it shows.
    let mut s = Script::new(opts(512, 1, true));
    s.start();
    let _ = s.expect_send(&oack(&[(b"tsize", 600)]));
    let _ = s.expect_send(&data(1, &[0; 512]));
    assert!(matches!(
        s.recv(&data(2, &[0; 512])),
        Action::Failed {
            error: TftpError::SizeMismatch {
                announced: 600,
                received: 1024
            },
            ..
        }
    ));
    assert_eq!(s.sink.data.len(), 512);
}

#[test]
fn sink_refusing_a_file_too_big() {
    // From tsize, before any data: ERROR 3 to the server instead of ACK 0.
    let mut s = Script::with_capacity(opts(512, 1, true), 1000);
    s.start();
    match s.recv(&oack(&[(b"tsize", 5000)])) {
        Action::Failed {
            send: Some(t),
            error,
        } => {
            assert_eq!((t.port, s.decode(t)), (SERVER_TID, Sent::Error(3)));
            assert_eq!(
                error,
                TftpError::Sink(SinkError::TooLarge {
                    needed: 5000,
                    capacity: 1000
                })
            );
            assert_eq!(error.code(), "E-TFTP-TOOBIG");
        }
        other => panic!("{other:?}"),
    }
    // Without tsize, during the transfer.
    let mut s = Script::with_capacity(opts(512, 1, true), 1000);
    s.start();
    let _ = s.expect_send(&data(1, &[0; 512]));
    assert!(matches!(
        s.recv(&data(2, &[0; 512])),
        Action::Failed {
            error: TftpError::Sink(SinkError::TooLarge { needed: 1024, .. }),
            ..
        }
    ));
}

#[test]
fn request_times_out_after_retry_budget() {
    let mut s = Script::new(Options {
        max_retries: 4,
        ..Options::default()
    });
    s.start();
    let mut gaps = Vec::new();
    loop {
        let before = s.now;
        match s.timer_at_deadline() {
            Action::Send(t) => {
                assert_eq!(t.port, 69);
                assert!(matches!(s.decode(t), Sent::Rrq { .. }));
                gaps.push(s.now - before);
            }
            Action::Failed { send: None, error } => {
                assert_eq!(error, TftpError::NoResponse { attempts: 5 });
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(gaps, [200, 400, 800, 1600]);
    // Before the deadline, on_timer does nothing.
    let mut s = Script::new(Options::default());
    s.start();
    assert_eq!(s.client.on_timer(s.now + 199, &mut s.out), Action::Wait);
}

#[test]
fn transfer_times_out_naming_the_block() {
    let mut s = Script::new(Options {
        max_retries: 3,
        ..opts(512, 1, false)
    });
    s.start();
    let _ = s.expect_send(&data(1, &[0; 512]));
    let _ = s.expect_send(&data(2, &[0; 512]));
    let mut resent = 0;
    let error = loop {
        match s.timer_at_deadline() {
            Action::Send(t) => {
                assert_eq!(s.decode(t), Sent::Ack(2));
                resent += 1;
            }
            Action::Failed {
                send: Some(t),
                error,
            } => {
                assert_eq!((t.port, s.decode(t)), (SERVER_TID, Sent::Error(0)));
                break error;
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(resent, 3);
    assert_eq!(
        error,
        TftpError::Timeout {
            block: 3,
            attempts: 3
        }
    );
    assert_eq!(
        std::format!("{error}"),
        "timed out waiting for DATA block 3 after 3 retransmissions"
    );
}

#[test]
fn progress_resets_the_retry_budget_and_timeout() {
    let mut s = Script::new(Options {
        max_retries: 2,
        ..opts(512, 1, false)
    });
    s.start();
    let _ = s.expect_send(&data(1, &[0; 512]));
    assert!(matches!(s.timer_at_deadline(), Action::Send(_)));
    assert!(matches!(s.timer_at_deadline(), Action::Send(_)));
    let _ = s.expect_send(&data(2, &[0; 512]));
    assert_eq!(s.client.poll_deadline(), Some(s.now + 200));
    assert!(matches!(s.timer_at_deadline(), Action::Send(_)));
}

#[test]
fn final_ack_is_repeated_when_the_last_block_comes_again() {
    let mut s = Script::new(opts(512, 1, false));
    s.start();
    assert!(matches!(s.recv(&data(1, &[0; 5])), Action::Done(_)));
    // An immediate copy is a network duplicate: no second ACK.
    s.now += 10;
    assert_eq!(s.recv(&data(1, &[0; 5])), Action::Wait);
    // The server's timer resending it later means our ACK was lost.
    s.now += 1000;
    assert_eq!(s.expect_send(&data(1, &[0; 5])), (SERVER_TID, Sent::Ack(1)));
    assert_eq!(s.recv(&data(7, &[0; 5])), Action::Wait);
    assert_eq!(s.sink.data.len(), 5);
}

#[test]
fn cancel_tells_the_server() {
    let mut s = Script::new(opts(512, 1, false));
    s.start();
    let _ = s.expect_send(&data(1, &[0; 512]));
    let t = s.client.cancel(&mut s.out).unwrap();
    assert_eq!((t.port, s.decode(t)), (SERVER_TID, Sent::Error(0)));
    assert_eq!(s.client.status(), Status::Failed(TftpError::Cancelled));
    assert_eq!(s.client.cancel(&mut s.out), None);
}

#[test]
fn bad_arguments() {
    assert_eq!(
        TftpClient::new("", Options::default()).err(),
        Some(TftpError::InvalidFilename)
    );
    assert_eq!(
        TftpClient::new("a\0b", Options::default()).err(),
        Some(TftpError::InvalidFilename)
    );
    let long = "x".repeat(MAX_FILENAME_LEN + 1);
    assert_eq!(
        TftpClient::new(&long, Options::default()).err(),
        Some(TftpError::InvalidFilename)
    );
    let longest = "x".repeat(MAX_FILENAME_LEN);
    let mut c = TftpClient::new(
        &longest,
        Options {
            blksize: 65464,
            windowsize: 65535,
            ..Options::default()
        },
    )
    .unwrap();
    let mut out = [0u8; TX_BUFFER_LEN];
    assert!(c.start(0, &mut out).is_ok());
    let mut c = TftpClient::new("f", Options::default()).unwrap();
    assert_eq!(c.start(0, &mut [0u8; 16]), Err(TftpError::BufferTooSmall));
    assert_eq!(Options::for_mtu(1500).blksize, 1468);
    assert_eq!(Options::default().rx_window_bytes(), 16 * 1472);
}

#[test]
fn unexpected_opcodes_fail_with_error_4() {
    let mut s = Script::new(opts(512, 1, false));
    s.start();
    let _ = s.expect_send(&data(1, &[0; 512]));
    match s.recv(b"\x00\x04\x00\x01") {
        Action::Failed {
            send: Some(t),
            error,
        } => {
            assert_eq!(s.decode(t), Sent::Error(4));
            assert_eq!(
                error,
                TftpError::Protocol(ProtocolError::UnexpectedOpcode(4))
            );
        }
        other => panic!("{other:?}"),
    }
    // Malformed packets during the transfer are ignored and counted.
    let mut s = Script::new(opts(512, 1, false));
    s.start();
    let _ = s.expect_send(&data(1, &[0; 512]));
    assert_eq!(s.recv(b"\x00\x03\x00"), Action::Wait);
    assert_eq!(s.client.stats().malformed, 1);
    // An OACK nobody asked for is refused.
    let mut s = Script::new(opts(512, 1, false));
    s.start();
    assert!(matches!(
        s.recv(&oack(&[(b"blksize", 512)])),
        Action::Failed {
            error: TftpError::Protocol(ProtocolError::UnrequestedOack),
            ..
        }
    ));
}

// ---------------------------------------------------------------------------------------
// Simulation: an RFC 7440 server behind a network that can drop, duplicate and delay.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    Drop,
    Duplicate,
    Delay(u64),
}

/// Which way a packet travels, and its position in that direction's sequence.
#[derive(Clone, Copy, Debug)]
enum Dir {
    ToClient(u64),
    ToServer(u64),
}

struct ServerConfig {
    max_blksize: u16,
    windowsize: bool,
    tsize: bool,
    options: bool,
    /// The server's own retransmission timeout.
    timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_blksize: 1468,
            windowsize: true,
            tsize: true,
            options: true,
            timeout_ms: 1000,
        }
    }
}

struct SimServer {
    file: Vec<u8>,
    config: ServerConfig,
    blksize: usize,
    window: u64,
    /// Highest block ACKed (64-bit).
    base: u64,
    last_block: u64,
    started: bool,
    done: bool,
    deadline: Option<u64>,
    acks_seen: u64,
    /// The OACK sent, until ACK 0 arrives.
    oack: Option<Vec<u8>>,
}

impl SimServer {
    fn new(file: Vec<u8>, config: ServerConfig) -> Self {
        SimServer {
            file,
            config,
            blksize: 512,
            window: 1,
            base: 0,
            last_block: 0,
            started: false,
            done: false,
            deadline: None,
            acks_seen: 0,
            oack: None,
        }
    }

    fn block(&self, n: u64) -> Vec<u8> {
        let start = ((n - 1) as usize * self.blksize).min(self.file.len());
        let end = (start + self.blksize).min(self.file.len());
        data(n as u16, &self.file[start..end])
    }

    fn window_from_base(&mut self, now: u64) -> Vec<Vec<u8>> {
        self.deadline = Some(now + self.config.timeout_ms);
        let end = (self.base + self.window).min(self.last_block);
        (self.base + 1..=end).map(|n| self.block(n)).collect()
    }

    fn on_packet(&mut self, now: u64, bytes: &[u8]) -> Vec<Vec<u8>> {
        match Packet::parse(bytes).unwrap() {
            Packet::Rrq(req) if !self.started => {
                self.started = true;
                let mut granted: Vec<(&[u8], u64)> = Vec::new();
                if self.config.options {
                    for (name, value) in req.options.iter() {
                        let value = wire::parse_decimal(value).unwrap();
                        if name == b"blksize" {
                            self.blksize = value.min(u64::from(self.config.max_blksize)) as usize;
                            granted.push((b"blksize", self.blksize as u64));
                        } else if name == b"windowsize" && self.config.windowsize {
                            self.window = value;
                            granted.push((b"windowsize", value));
                        } else if name == b"tsize" && self.config.tsize {
                            granted.push((b"tsize", self.file.len() as u64));
                        }
                    }
                }
                self.last_block = (self.file.len() / self.blksize) as u64 + 1;
                if granted.is_empty() {
                    return self.window_from_base(now);
                }
                self.deadline = Some(now + self.config.timeout_ms);
                self.oack = Some(oack(&granted));
                vec![oack(&granted)]
            }
            Packet::Rrq(_) => Vec::new(),
            Packet::Ack { block } => {
                self.acks_seen += 1;
                self.oack = None;
                // Map the 16-bit ACK onto the 64-bit count nearest the current base.
                let delta = block.wrapping_sub(self.base as u16) as i16;
                let acked = self.base as i64 + i64::from(delta);
                if acked < self.base as i64 {
                    return Vec::new(); // an old ACK: a good server ignores it
                }
                self.base = acked as u64;
                if self.base >= self.last_block {
                    self.done = true;
                    self.deadline = None;
                    return Vec::new();
                }
                self.window_from_base(now)
            }
            Packet::Error { .. } => {
                self.done = true;
                self.deadline = None;
                Vec::new()
            }
            other => panic!("server got {other:?}"),
        }
    }

    fn on_timer(&mut self, now: u64) -> Vec<Vec<u8>> {
        if let Some(oack) = self.oack.clone() {
            // No ACK 0 yet: resend the OACK.
            self.deadline = Some(now + self.config.timeout_ms);
            return vec![oack];
        }
        self.window_from_base(now)
    }
}

struct Outcome {
    result: Status,
    stats: Stats,
    elapsed_ms: u64,
    received: Vec<u8>,
    server_acks: u64,
}

/// Runs a whole transfer through the simulated network; `fate` decides each packet.
fn simulate(
    file: Vec<u8>,
    options: Options,
    config: ServerConfig,
    mut fate: impl FnMut(Dir, &[u8]) -> Fate,
) -> Outcome {
    const LATENCY: u64 = 1;
    let mut client = TftpClient::new("f", options).unwrap();
    let mut server = SimServer::new(file.clone(), config);
    let mut sink = VecSink::new(u64::MAX);
    let mut out = [0u8; TX_BUFFER_LEN];
    // (delivery time, to client?, bytes), kept in time order.
    let mut queue: VecDeque<(u64, bool, Vec<u8>)> = VecDeque::new();
    let (mut sent_to_client, mut sent_to_server) = (0u64, 0u64);
    let mut now = 0u64;

    let mut push =
        |queue: &mut VecDeque<(u64, bool, Vec<u8>)>, now: u64, to_client: bool, bytes: Vec<u8>| {
            let dir = if to_client {
                sent_to_client += 1;
                Dir::ToClient(sent_to_client)
            } else {
                sent_to_server += 1;
                Dir::ToServer(sent_to_server)
            };
            let copies = match fate(dir, &bytes) {
                Fate::Deliver => vec![now + LATENCY],
                Fate::Drop => vec![],
                Fate::Duplicate => vec![now + LATENCY, now + LATENCY],
                Fate::Delay(ms) => vec![now + LATENCY + ms],
            };
            for at in copies {
                let pos = queue
                    .iter()
                    .position(|(t, _, _)| *t > at)
                    .unwrap_or(queue.len());
                queue.insert(pos, (at, to_client, bytes.clone()));
            }
        };

    let t = client.start(now, &mut out).unwrap();
    push(&mut queue, now, false, out[..t.len].to_vec());
    let started = now;
    let mut finished_at = None;

    for _ in 0..10_000_000 {
        let client_running = client.status() == Status::Running;
        if !client_running && finished_at.is_none() {
            finished_at = Some(now);
        }
        if !client_running && (queue.is_empty() || now > finished_at.unwrap() + 5000) {
            break;
        }
        let next_packet = queue.front().map(|(t, _, _)| *t);
        let next = [
            next_packet,
            client.poll_deadline(),
            server.deadline.filter(|_| !server.done),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        now = now.max(next);
        if let Some((at, to_client, bytes)) = queue.front().cloned()
            && at <= now
        {
            queue.pop_front();
            if to_client {
                let action = client.on_packet(now, SERVER_TID, &bytes, &mut sink, &mut out);
                let send = match action {
                    Action::Wait => None,
                    Action::Send(t) | Action::Done(t) => Some(t),
                    Action::Failed { send, .. } => send,
                };
                if let Some(t) = send {
                    push(&mut queue, now, false, out[..t.len].to_vec());
                }
            } else {
                for reply in server.on_packet(now, &bytes) {
                    push(&mut queue, now, true, reply);
                }
            }
            continue;
        }
        if client.poll_deadline().is_some_and(|d| d <= now) {
            match client.on_timer(now, &mut out) {
                Action::Send(t) | Action::Done(t) => {
                    push(&mut queue, now, false, out[..t.len].to_vec())
                }
                Action::Failed { send: Some(t), .. } => {
                    push(&mut queue, now, false, out[..t.len].to_vec())
                }
                _ => {}
            }
            continue;
        }
        if !server.done && server.deadline.is_some_and(|d| d <= now) {
            for reply in server.on_timer(now) {
                push(&mut queue, now, true, reply);
            }
        }
    }
    Outcome {
        result: client.status(),
        stats: *client.stats(),
        elapsed_ms: finished_at.unwrap_or(now) - started,
        received: sink.data,
        server_acks: server.acks_seen,
    }
}

fn data_block(bytes: &[u8]) -> Option<u16> {
    match Packet::parse(bytes) {
        Ok(Packet::Data { block, .. }) => Some(block),
        _ => None,
    }
}

fn assert_complete(outcome: &Outcome, file: &[u8]) {
    assert_eq!(outcome.result, Status::Done);
    assert_eq!(outcome.received.len(), file.len());
    assert!(outcome.received == file, "content differs");
}

#[test]
fn sim_plain_rfc1350_transfer() {
    let file = test_file(100_000);
    let o = simulate(
        file.clone(),
        opts(512, 1, false),
        ServerConfig::default(),
        |_, _| Fate::Deliver,
    );
    assert_complete(&o, &file);
    assert_eq!(o.stats.blocks_received, 196);
    assert_eq!(o.stats.acks_sent, 196);
    assert_eq!(o.stats.retransmissions, 0);
}

#[test]
fn sim_all_options_window_16() {
    let file = test_file(1_000_000);
    let o = simulate(
        file.clone(),
        Options::default(),
        ServerConfig::default(),
        |_, _| Fate::Deliver,
    );
    assert_complete(&o, &file);
    let blocks = 1_000_000 / 1468 + 1;
    assert_eq!(o.stats.blocks_received, blocks as u64);
    // ACK 0, one per full window, and the final one.
    assert_eq!(o.stats.acks_sent, 1 + (blocks as u64 - 1) / 16 + 1);
    assert_eq!(
        (o.stats.blksize, o.stats.windowsize, o.stats.tsize),
        (1468, 16, Some(1_000_000))
    );
    assert_eq!(
        std::format!("{}", o.stats),
        "1000000 bytes in 682 blocks (blksize 1468, window 16, tsize 1000000); \
         0 retransmissions, 0 duplicates, 0 out of order, 0 gap ACKs, 0 stray"
    );
}

#[test]
fn sim_server_clamping_blksize_without_windowsize() {
    let file = test_file(50_000);
    let config = ServerConfig {
        max_blksize: 1428,
        windowsize: false,
        ..ServerConfig::default()
    };
    let o = simulate(file.clone(), Options::default(), config, |_, _| {
        Fate::Deliver
    });
    assert_complete(&o, &file);
    assert_eq!((o.stats.blksize, o.stats.windowsize), (1428, 1));
}

#[test]
fn sim_server_ignoring_options() {
    let file = test_file(20_000);
    let config = ServerConfig {
        options: false,
        ..ServerConfig::default()
    };
    let o = simulate(file.clone(), Options::default(), config, |_, _| {
        Fate::Deliver
    });
    assert_complete(&o, &file);
    assert_eq!(
        (o.stats.blksize, o.stats.windowsize, o.stats.tsize),
        (512, 1, None)
    );
}

#[test]
fn sim_exact_multiple_of_blksize_ends_with_empty_block() {
    let file = test_file(1468 * 32);
    let o = simulate(
        file.clone(),
        Options::default(),
        ServerConfig::default(),
        |_, _| Fate::Deliver,
    );
    assert_complete(&o, &file);
    assert_eq!(o.stats.blocks_received, 33);
    let file = Vec::new();
    let o = simulate(
        file.clone(),
        Options::default(),
        ServerConfig::default(),
        |_, _| Fate::Deliver,
    );
    assert_complete(&o, &file);
    assert_eq!(o.stats.blocks_received, 1);
}

#[test]
fn sim_lost_data_inside_a_window_recovers_fast() {
    let file = test_file(200_000);
    let mut dropped = false;
    let o = simulate(
        file.clone(),
        Options::default(),
        ServerConfig::default(),
        |dir, bytes| {
            if matches!(dir, Dir::ToClient(_)) && data_block(bytes) == Some(37) && !dropped {
                dropped = true;
                return Fate::Drop;
            }
            Fate::Deliver
        },
    );
    assert_complete(&o, &file);
    assert_eq!(o.stats.gap_acks, 1);
    assert_eq!(o.stats.retransmissions, 0);
    assert!(o.elapsed_ms < 100, "took {} ms", o.elapsed_ms);
}

#[test]
fn sim_lost_data_at_window_end_recovers_by_client_timer() {
    let file = test_file(200_000);
    let mut dropped = false;
    let o = simulate(
        file.clone(),
        Options::default(),
        ServerConfig::default(),
        |dir, bytes| {
            if matches!(dir, Dir::ToClient(_)) && data_block(bytes) == Some(48) && !dropped {
                dropped = true;
                return Fate::Drop;
            }
            Fate::Deliver
        },
    );
    assert_complete(&o, &file);
    assert_eq!(o.stats.retransmissions, 1);
    assert!(o.elapsed_ms < 400, "took {} ms", o.elapsed_ms);
}

#[test]
fn sim_lost_acks_do_not_multiply_acks() {
    let file = test_file(200_000);
    // Drop every 5th packet to the server; the server's own timer is fast, so it resends
    // windows the client already has. Those duplicates must not trigger ACKs.
    let config = ServerConfig {
        timeout_ms: 50,
        ..ServerConfig::default()
    };
    let o = simulate(
        file.clone(),
        Options::default(),
        config,
        |dir, _| match dir {
            Dir::ToServer(n) if n % 5 == 0 => Fate::Drop,
            _ => Fate::Deliver,
        },
    );
    assert_complete(&o, &file);
    assert!(o.stats.duplicates > 0);
    // Every ACK is the window ACK, a gap ACK or a timer retransmission: none from duplicates.
    let windows = (200_000 / 1468 + 1) / 16 + 2;
    assert!(
        o.stats.acks_sent <= windows as u64 + o.stats.retransmissions + o.stats.gap_acks,
        "{:?}",
        o.stats
    );
}

#[test]
fn sim_duplicated_data_costs_no_extra_acks() {
    let file = test_file(300_000);
    let clean = simulate(
        file.clone(),
        Options::default(),
        ServerConfig::default(),
        |_, _| Fate::Deliver,
    );
    let duplicated = simulate(
        file.clone(),
        Options::default(),
        ServerConfig::default(),
        |dir, _| match dir {
            Dir::ToClient(_) => Fate::Duplicate,
            Dir::ToServer(_) => Fate::Deliver,
        },
    );
    assert_complete(&duplicated, &file);
    assert_eq!(duplicated.stats.acks_sent, clean.stats.acks_sent);
    assert_eq!(duplicated.server_acks, clean.server_acks);
    assert_eq!(duplicated.stats.duplicates, clean.stats.blocks_received + 1); // + OACK
}

#[test]
fn sim_reordered_data() {
    let file = test_file(300_000);
    let o = simulate(
        file.clone(),
        Options::default(),
        ServerConfig::default(),
        |dir, _| match dir {
            Dir::ToClient(n) if n % 7 == 3 => Fate::Delay(1),
            _ => Fate::Deliver,
        },
    );
    assert_complete(&o, &file);
    assert!(o.stats.out_of_order > 0);
    assert!(o.elapsed_ms < 1000, "took {} ms", o.elapsed_ms);
}

#[test]
fn sim_random_loss_duplication_and_reordering() {
    let file = test_file(400_000);
    let mut rng = 12345u64;
    let o = simulate(
        file.clone(),
        Options::default(),
        ServerConfig::default(),
        |_, _| match next(&mut rng) % 100 {
            0..=4 => Fate::Drop,
            5..=6 => Fate::Duplicate,
            7..=8 => Fate::Delay(2),
            _ => Fate::Deliver,
        },
    );
    assert_complete(&o, &file);
    std::eprintln!("5% loss: {} ms, {}", o.elapsed_ms, o.stats);
    // 5% loss: recovery by gap ACKs and 200 ms timers, not by 1 s server timeouts.
    assert!(
        o.elapsed_ms < 10_000,
        "took {} ms: {:?}",
        o.elapsed_ms,
        o.stats
    );
}

#[test]
fn sim_block_numbers_wrap_past_65535() {
    // 70 000 blocks of 8 bytes: the wire counter wraps once.
    let len = 8 * 70_000 + 3;
    let file = test_file(len);
    let o = simulate(
        file.clone(),
        opts(8, 16, true),
        ServerConfig::default(),
        |_, _| Fate::Deliver,
    );
    assert_complete(&o, &file);
    assert_eq!(o.stats.blocks_received, 70_001);
    // And with window 1 and a lost block right around the wrap.
    let file = test_file(8 * 65_540);
    let mut dropped = false;
    let o = simulate(
        file.clone(),
        opts(8, 1, false),
        ServerConfig::default(),
        |dir, bytes| {
            if matches!(dir, Dir::ToClient(_)) && data_block(bytes) == Some(0) && !dropped {
                dropped = true;
                return Fate::Drop;
            }
            Fate::Deliver
        },
    );
    assert_complete(&o, &file);
}

#[test]
fn sim_total_loss_times_out() {
    let file = test_file(10_000);
    let mut delivered = 0;
    let o = simulate(
        file,
        Options::default(),
        ServerConfig::default(),
        |dir, _| match dir {
            Dir::ToClient(_) if delivered < 3 => {
                delivered += 1;
                Fate::Deliver
            }
            Dir::ToClient(_) => Fate::Drop,
            Dir::ToServer(_) => Fate::Deliver,
        },
    );
    match o.result {
        Status::Failed(TftpError::Timeout { block, attempts }) => {
            assert_eq!(block, 3);
            assert_eq!(attempts, 8);
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Robustness: random and mutated packets must never panic the client.

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn on_packet_never_panics_on_random_or_mutated_input() {
    let mut rng = 0xdead_beef_cafe_f00du64;
    let seeds: Vec<Vec<u8>> = vec![
        oack(&[(b"blksize", 1468), (b"windowsize", 16), (b"tsize", 5000)]),
        data(1, &[1; 1468]),
        data(2, &[2; 100]),
        error(8, b"no options"),
        error(1, b"not found"),
        b"\x00\x04\x00\x01".to_vec(),
    ];
    let mut buf = [0u8; 1600];
    for round in 0..3000 {
        let mut client = TftpClient::new("f", Options::default()).unwrap();
        let mut sink = VecSink::new(if round % 2 == 0 { u64::MAX } else { 3000 });
        let mut out = [0u8; TX_BUFFER_LEN];
        let mut now = 0;
        let _ = client.start(now, &mut out);
        for _ in 0..20 {
            now += next(&mut rng) % 300;
            let len = if next(&mut rng).is_multiple_of(2) {
                let len = (next(&mut rng) % 64) as usize;
                for b in &mut buf[..len] {
                    let r = next(&mut rng);
                    *b = if r.is_multiple_of(3) {
                        (r >> 8) as u8 % 8
                    } else {
                        (r >> 8) as u8
                    };
                }
                len
            } else {
                let seed = &seeds[(next(&mut rng) % seeds.len() as u64) as usize];
                buf[..seed.len()].copy_from_slice(seed);
                for _ in 0..next(&mut rng) % 4 {
                    let pos = (next(&mut rng) % seed.len() as u64) as usize;
                    buf[pos] = next(&mut rng) as u8;
                }
                seed.len()
            };
            let port = if next(&mut rng).is_multiple_of(8) {
                1234
            } else {
                SERVER_TID
            };
            let action = client.on_packet(now, port, &buf[..len], &mut sink, &mut out);
            if let Action::Send(t) | Action::Done(t) | Action::Failed { send: Some(t), .. } = action
            {
                assert!(Packet::parse(&out[..t.len]).is_ok());
            }
            if next(&mut rng).is_multiple_of(4) {
                let _ = client.on_timer(now, &mut out);
            }
        }
    }
}

#[test]
fn sim_twenty_percent_loss_still_completes() {
    let file = test_file(1 << 20);
    let mut rng = 777u64;
    let o = simulate(
        file.clone(),
        Options::default(),
        ServerConfig::default(),
        |_, _| {
            if next(&mut rng).is_multiple_of(5) {
                Fate::Drop
            } else {
                Fate::Deliver
            }
        },
    );
    assert_complete(&o, &file);
    std::eprintln!("20% loss, 1 MiB: {} ms, {}", o.elapsed_ms, o.stats);
    assert!(o.elapsed_ms < 60_000, "took {} ms", o.elapsed_ms);
}
