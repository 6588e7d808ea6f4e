//! Host tests of the TFTP server's transfer logic: option negotiation, scripted exchanges, and
//! whole transfers to the runtime's own client (netloader_proto's) and to a lock-step client
//! that ACKs every copy it gets (as iPXE does), over a simulated network with seeded loss,
//! duplication and delay, on a simulated clock (so the figures are exact and replayable).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use netloader_proto::test_rng::Rng;
use netloader_proto::tftp::{self, Sink, SinkError, TftpClient};

use super::*;

fn options(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (name, value) in pairs {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    bytes
}

fn negotiated(pairs: &[(&str, &str)], size: u64) -> Negotiated {
    let bytes = options(pairs);
    negotiate(&OptionList::new_checked(&bytes).unwrap(), size)
}

#[test]
fn options_are_granted_never_above_what_was_asked() {
    let n = negotiated(
        &[("BLKSIZE", "1432"), ("tsize", "0"), ("windowsize", "32")],
        5000,
    );
    assert_eq!((n.blksize, n.windowsize), (1432, 32));
    assert_eq!(
        n.oack,
        vec![
            (option_name::BLKSIZE, 1432),
            (option_name::TSIZE, 5000),
            (option_name::WINDOWSIZE, 32)
        ]
    );
    let n = negotiated(&[("blksize", "100000"), ("windowsize", "1000")], 1);
    assert_eq!((n.blksize, n.windowsize), (MAX_BLKSIZE, MAX_WINDOWSIZE));
    // Invalid values and unknown options are declined (left out of the OACK).
    let n = negotiated(
        &[
            ("blksize", "7"),
            ("windowsize", "0"),
            ("timeout", "1"),
            ("tsize", "x"),
        ],
        1,
    );
    assert_eq!((n.blksize, n.windowsize), (512, 1));
    assert!(n.oack.is_empty());
    assert!(negotiated(&[], 0).oack.is_empty());
}

fn blocks(first: u64, last: u64) -> Step {
    Step::Send(Send::Blocks { first, last })
}

const NOTHING: Step = Step::Send(Send::Nothing);

#[test]
fn windows_follow_acks_and_a_gap_ack_restarts_at_once() {
    // 10 blocks of 8 bytes and an empty 11th; window 4.
    let n = negotiated(&[("blksize", "8"), ("windowsize", "4")], 80);
    let mut t = Transfer::new(80, &n);
    assert_eq!(t.start(0), Send::Oack);
    assert_eq!(t.on_ack(1, 1), NOTHING, "before ACK 0 only ACK 0 counts");
    assert_eq!(t.on_ack(0, 1), blocks(1, 4));
    assert_eq!(t.on_ack(4, 2), blocks(5, 8));
    // Block 5 was lost: the client ACKs 4 again on the gap; the window restarts once.
    assert_eq!(t.on_ack(4, 3), blocks(5, 8));
    assert_eq!(
        t.on_ack(4, 3),
        NOTHING,
        "a second duplicate is left to the timer"
    );
    // Block 7 lost in the resent window: ACK 6 moves forward and restarts at 7.
    assert_eq!(t.on_ack(6, 4), blocks(7, 10));
    assert_eq!(t.on_ack(10, 5), blocks(11, 11));
    assert_eq!(t.block_range(11), (80, 0));
    assert_eq!(t.block_range(10), (72, 8));
    // A stale ACK from the past is ignored.
    assert_eq!(t.on_ack(3, 6), NOTHING);
    assert_eq!(t.on_ack(11, 6), Step::Done);
    assert_eq!(t.stats.rewinds, 1);
}

#[test]
fn lock_step_never_answers_a_duplicate_ack() {
    let n = negotiated(&[], 2000);
    let mut t = Transfer::new(2000, &n);
    assert_eq!(t.start(0), Send::Blocks { first: 1, last: 1 });
    assert_eq!(t.on_ack(1, 1), blocks(2, 2));
    for _ in 0..5 {
        assert_eq!(t.on_ack(1, 2), NOTHING);
    }
    // The timer resends: 100 ms after the last send, then 200, 400 ...
    assert_eq!(t.on_timer(50), NOTHING);
    assert_eq!(t.on_timer(101), blocks(2, 2));
    assert_eq!(t.deadline(), 301);
    assert_eq!(t.on_ack(2, 150), blocks(3, 3));
    assert_eq!(t.deadline(), 250, "progress resets the timer to 100 ms");
    assert_eq!(t.on_ack(3, 160), blocks(4, 4));
    assert_eq!(t.on_ack(4, 170), Step::Done); // 2000 = 3 * 512 + 464
}

#[test]
fn gives_up_after_the_retries() {
    let n = negotiated(&[("tsize", "0")], 10);
    let mut t = Transfer::new(10, &n);
    assert_eq!(t.start(0), Send::Oack);
    let mut now = 0;
    for _ in 0..MAX_RETRIES {
        now = t.deadline();
        assert_eq!(t.on_timer(now), Step::Send(Send::Oack));
    }
    assert_eq!(t.on_timer(t.deadline()), Step::GiveUp);
    assert!(now < 20_000);
}

// ---------------------------------------------------------------------------------------
// Whole transfers over a simulated network

struct VecSink(Vec<u8>);

impl Sink for VecSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SinkError> {
        assert_eq!(offset, self.0.len() as u64);
        self.0.extend_from_slice(data);
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Network {
    one_way_ms: u64,
    loss: f64,
    duplicate: f64,
    seed: u64,
}

impl Network {
    fn unit(rng: &mut Rng) -> f64 {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// How many copies of a packet arrive.
    fn copies(&self, rng: &mut Rng) -> usize {
        if Self::unit(rng) < self.loss {
            0
        } else if Self::unit(rng) < self.duplicate {
            2
        } else {
            1
        }
    }
}

/// Which client the server talks to.
enum Client {
    /// netloader's own (netloader_proto::tftp), with this window.
    Netloader(Box<TftpClient>, VecSink),
    /// RFC 1350 in lock step, with the Sorcerer's Apprentice bug: every DATA it gets, even a
    /// copy, is ACKed; a 1 s timer resends the last ACK.
    Naive {
        received: Vec<u8>,
        next: u64,
        deadline: u64,
        done: bool,
    },
}

/// The outcome of a simulated transfer.
struct Run {
    data: Vec<u8>,
    /// Simulated milliseconds until the client had the whole file.
    client_done_ms: u64,
    data_packets_sent: u64,
    stats: Stats,
}

fn file_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 997) as u8).collect()
}

type Queue = BinaryHeap<Reverse<(u64, u64, bool, Vec<u8>)>>;

/// Packets in flight: (arrival ms, sequence, to the server?, bytes), earliest first.
struct Wire {
    queue: Queue,
    sequence: u64,
    rng: Rng,
    net: Network,
}

impl Wire {
    fn send(&mut self, now: u64, to_server: bool, bytes: Vec<u8>) {
        for _ in 0..self.net.copies(&mut self.rng) {
            self.sequence += 1;
            self.queue.push(Reverse((
                now + self.net.one_way_ms,
                self.sequence,
                to_server,
                bytes.clone(),
            )));
        }
    }
}

/// Put what the transfer wants sent on the wire; returns the DATA packets sent.
fn server_send(
    link: &mut Wire,
    now: u64,
    what: &Send,
    t: &Transfer,
    file: &[u8],
    negotiated: &Negotiated,
) -> u64 {
    match *what {
        Send::Nothing => 0,
        Send::Oack => {
            let mut buf = vec![0u8; 512];
            let len = wire::build_oack(&mut buf, &negotiated.oack).unwrap();
            buf.truncate(len);
            link.send(now, false, buf);
            0
        }
        Send::Blocks { first, last } => {
            for block in first..=last {
                let (offset, len) = t.block_range(block);
                let mut buf = vec![0u8; len + 4];
                let data = &file[offset as usize..offset as usize + len];
                let n = wire::build_data(&mut buf, block as u16, data).unwrap();
                buf.truncate(n);
                link.send(now, false, buf);
            }
            last + 1 - first
        }
    }
}

/// Transfer `file` with the server logic to `client` over `net`; panics if it never ends.
fn simulate(file: &[u8], mut client: Client, rrq_options: &[(&str, &str)], net: Network) -> Run {
    let size = file.len() as u64;
    let negotiated = negotiated(rrq_options, size);
    let mut transfer = Transfer::new(size, &negotiated);
    let mut link = Wire {
        queue: BinaryHeap::new(),
        sequence: 0,
        rng: Rng::new(net.seed),
        net,
    };
    let mut out = vec![0u8; tftp::TX_BUFFER_LEN];
    let mut data_packets = 0;
    // The transfer starts when the RRQ arrives (the listener is not simulated; the RRQ and
    // the client's options are given).
    let mut now = 0;
    if let Client::Netloader(c, _) = &mut client {
        let _ = c.start(now, &mut out).unwrap();
    }
    let first = transfer.start(now);
    data_packets += server_send(&mut link, now, &first, &transfer, file, &negotiated);
    let mut server_done = false;
    let mut client_done_ms = None;
    loop {
        let client_deadline = match &client {
            Client::Netloader(c, _) => c.poll_deadline(),
            Client::Naive { deadline, done, .. } => (!done).then_some(*deadline),
        };
        let server_deadline = (!server_done).then(|| transfer.deadline());
        let packet_at = link.queue.peek().map(|Reverse((at, ..))| *at);
        let Some(next) = [client_deadline, server_deadline, packet_at]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = next;
        assert!(now < 600_000, "the simulated transfer never ended");
        if packet_at == Some(now) {
            let Reverse((_, _, to_server, bytes)) = link.queue.pop().unwrap();
            if to_server {
                if server_done {
                    continue;
                }
                let step = match Packet::parse(&bytes) {
                    Ok(Packet::Ack { block }) => transfer.on_ack(block, now),
                    _ => NOTHING,
                };
                match step {
                    Step::Done => server_done = true,
                    Step::GiveUp => panic!("server gave up"),
                    Step::Send(what) => {
                        data_packets +=
                            server_send(&mut link, now, &what, &transfer, file, &negotiated)
                    }
                }
            } else {
                match &mut client {
                    Client::Netloader(c, sink) => {
                        let action = c.on_packet(now, 69, &bytes, sink, &mut out);
                        if let Some(t) = action.transmit() {
                            link.send(now, true, out[..t.len].to_vec());
                        }
                        match action {
                            tftp::Action::Done(_) => {
                                client_done_ms.get_or_insert(now);
                            }
                            tftp::Action::Failed { error, .. } => {
                                panic!("client failed: {error:?}")
                            }
                            _ => {}
                        }
                    }
                    Client::Naive {
                        received,
                        next,
                        deadline,
                        done,
                    } => {
                        if let Ok(Packet::Data { block, data }) = Packet::parse(&bytes) {
                            if block == (*next + 1) as u16 {
                                *next += 1;
                                received.extend_from_slice(data);
                                if data.len() < 512 {
                                    *done = true;
                                    client_done_ms.get_or_insert(now);
                                }
                            }
                            // The bug: every copy is ACKed.
                            let mut ack = vec![0u8; 4];
                            wire::build_ack(&mut ack, block).unwrap();
                            link.send(now, true, ack);
                            *deadline = now + 1000;
                        }
                    }
                }
            }
            continue;
        }
        if server_deadline == Some(now) {
            match transfer.on_timer(now) {
                Step::GiveUp => {
                    // Only acceptable when the client has it all (its last ACKs were lost).
                    assert!(client_done_ms.is_some(), "server gave up mid-transfer");
                    server_done = true;
                }
                Step::Done => server_done = true,
                Step::Send(what) => {
                    data_packets += server_send(&mut link, now, &what, &transfer, file, &negotiated)
                }
            }
        }
        if client_deadline == Some(now) {
            match &mut client {
                Client::Netloader(c, _) => {
                    let action = c.on_timer(now, &mut out);
                    if let Some(t) = action.transmit() {
                        link.send(now, true, out[..t.len].to_vec());
                    }
                    if let tftp::Action::Failed { error, .. } = action {
                        panic!("client failed: {error:?}");
                    }
                }
                Client::Naive { next, deadline, .. } => {
                    let mut ack = vec![0u8; 4];
                    wire::build_ack(&mut ack, *next as u16).unwrap();
                    link.send(now, true, ack);
                    *deadline = now + 1000;
                }
            }
        }
        if server_done && client_done_ms.is_some() {
            break;
        }
    }
    let data = match client {
        Client::Netloader(_, sink) => sink.0,
        Client::Naive { received, .. } => received,
    };
    Run {
        data,
        client_done_ms: client_done_ms.expect("the client never finished"),
        data_packets_sent: data_packets,
        stats: transfer.stats,
    }
}

fn netloader_client(window: u16) -> Client {
    let options = tftp::Options {
        blksize: 1432,
        windowsize: window,
        initial_timeout_ms: 100,
        ..tftp::Options::default()
    };
    Client::Netloader(
        Box::new(TftpClient::new("file", options).unwrap()),
        VecSink(Vec::new()),
    )
}

fn netloader_rrq(window: u16) -> Vec<(&'static str, String)> {
    vec![
        ("blksize", "1432".into()),
        ("tsize", "0".into()),
        ("windowsize", window.to_string()),
    ]
}

fn run_netloader(file: &[u8], window: u16, net: Network) -> Run {
    let rrq = netloader_rrq(window);
    let pairs: Vec<(&str, &str)> = rrq.iter().map(|(n, v)| (*n, v.as_str())).collect();
    simulate(file, netloader_client(window), &pairs, net)
}

const CLEAN: Network = Network {
    one_way_ms: 1,
    loss: 0.0,
    duplicate: 0.0,
    seed: 1,
};

#[test]
fn clean_transfers_are_exact_and_send_each_block_once() {
    for (len, window) in [
        (0, 32),
        (1432, 32),
        (1432 * 64, 32),
        (1_000_000, 32),
        (100_000, 1),
        (3000, 64),
    ] {
        let file = file_bytes(len);
        let run = run_netloader(&file, window, CLEAN);
        assert_eq!(run.data, file, "{len} bytes, window {window}");
        assert_eq!(
            run.data_packets_sent,
            len as u64 / 1432 + 1,
            "{len} bytes, window {window}"
        );
        assert_eq!(run.stats.timeouts + run.stats.rewinds, 0);
    }
}

#[test]
fn block_numbers_roll_over() {
    // 70,000 blocks of 8 bytes: the wire numbers wrap past 65535 to 0.
    let file = file_bytes(8 * 70_000 + 3);
    let client = tftp::Options {
        blksize: 8,
        windowsize: 16,
        initial_timeout_ms: 100,
        ..tftp::Options::default()
    };
    let client = Client::Netloader(
        Box::new(TftpClient::new("file", client).unwrap()),
        VecSink(Vec::new()),
    );
    let run = simulate(
        &file,
        client,
        &[("blksize", "8"), ("windowsize", "16")],
        CLEAN,
    );
    assert_eq!(run.data, file);
}

#[test]
fn five_percent_loss_recovers_in_round_trips_not_seconds() {
    let file = file_bytes(1 << 20);
    let net = Network {
        one_way_ms: 1,
        loss: 0.05,
        duplicate: 0.0,
        seed: 5,
    };
    let run = run_netloader(&file, 32, net);
    assert_eq!(run.data, file);
    eprintln!(
        "1 MiB, 5% loss, 2 ms RTT: {} ms simulated, {} DATA for 733 blocks, {} timeouts, {} window restarts",
        run.client_done_ms, run.data_packets_sent, run.stats.timeouts, run.stats.rewinds
    );
    // Lock step behind a 1 s timer (dnsmasq) needs ~70 s for this; each loss here costs a
    // round trip (gap ACK) or one 100 ms timer.
    assert!(run.client_done_ms < 10_000, "{} ms", run.client_done_ms);
    assert!(
        run.stats.rewinds > 0,
        "some losses were repaired by the client's gap ACK"
    );
}

#[test]
fn heavy_loss_and_duplicates_still_deliver_every_byte() {
    let file = file_bytes(300_000);
    for (seed, loss, duplicate, window) in [
        (20, 0.2, 0.0, 32),
        (3, 0.05, 0.05, 16),
        (4, 0.1, 0.1, 1),
        (6, 0.0, 0.3, 8),
    ] {
        let run = run_netloader(
            &file,
            window,
            Network {
                one_way_ms: 2,
                loss,
                duplicate,
                seed,
            },
        );
        assert_eq!(run.data, file, "seed {seed}");
    }
}

#[test]
fn no_sorcerers_apprentice_with_a_client_that_acks_every_copy() {
    // Duplicated frames and a client that ACKs every copy: a server that answers duplicate
    // ACKs would send every later block twice (or more); ours sends each block about once.
    let file = file_bytes(512 * 2000 + 100);
    let net = Network {
        one_way_ms: 1,
        loss: 0.0,
        duplicate: 0.05,
        seed: 77,
    };
    let naive = Client::Naive {
        received: Vec::new(),
        next: 0,
        deadline: 1000,
        done: false,
    };
    let run = simulate(&file, naive, &[], net);
    assert_eq!(run.data, file);
    let blocks = 2001;
    assert!(
        run.data_packets_sent < blocks + blocks / 20,
        "{} DATA sent for {blocks} blocks",
        run.data_packets_sent
    );
    assert_eq!(run.stats.rewinds, 0);
}
