//! The TFTP server of `netloader serve`: read requests only, with blksize, tsize and
//! windowsize (RFC 2347-2349, 7440), packets parsed and built by `netloader_proto::tftp::wire`
//! (the client's own wire format).
//!
//! Each transfer is a [`Transfer`], a sans-IO state machine (ACKs and timer ticks in, "send
//! these blocks" out), driven by a thread with its own UDP socket (the transfer ID). Files are
//! read block by block as they go out, so any size streams.
//!
//! Loss recovery, without the Sorcerer's Apprentice storm (RFC 1123 4.2.3.1):
//! - An ACK that moves forward starts the next window right after the block it names, so a
//!   client that ACKs the last block before a gap (as netloader does at once on a gap, RFC 7440
//!   section 4) gets the lost block within a round trip.
//! - A duplicate ACK (no progress) restarts the window at most once per block number, and only
//!   when windows are larger than one block. In lock step (window 1: iPXE, PXELINUX, every
//!   RFC 1350 client) a duplicate ACK is never answered: that answer is what doubles every
//!   later packet when the client ACKs duplicates (iPXE does).
//! - Otherwise a short timer resends the window: 100 ms at first (a LAN answers in well under
//!   a millisecond), doubling to 2 s, giving up after 10 tries without progress.

use std::collections::HashSet;
use std::io;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netloader_proto::tftp::wire::{
    self, DEFAULT_BLKSIZE, HEADER_LEN, MAX_BLKSIZE, MIN_BLKSIZE, OptionList, Packet, error_code,
    option_name, parse_decimal,
};

use super::files::{Files, OpenError, Opened};
use super::iface::BoundInterface;

/// The largest window granted (atftpd's limit too); a client asking more gets this.
pub const MAX_WINDOWSIZE: u16 = 64;
pub const FIRST_TIMEOUT_MS: u64 = 100;
pub const MAX_TIMEOUT_MS: u64 = 2000;
/// Timer expiries in a row without progress before the transfer is dropped.
pub const MAX_RETRIES: u32 = 10;

/// What the client asked for and serve granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub blksize: u16,
    pub windowsize: u16,
    /// The options to confirm in an OACK (empty: no OACK, DATA 1 comes first).
    pub oack: Vec<(&'static [u8], u64)>,
}

/// Grant what the client asked for (RFC 2347: never more than asked): blksize up to
/// [`MAX_BLKSIZE`], windowsize up to [`MAX_WINDOWSIZE`], tsize as the file's size. Options
/// serve does not know (timeout, rollover...) are left out of the OACK, which declines them.
pub fn negotiate(options: &OptionList<'_>, size: u64) -> Negotiated {
    let mut granted = Negotiated {
        blksize: DEFAULT_BLKSIZE,
        windowsize: 1,
        oack: Vec::new(),
    };
    for (name, value) in options.iter() {
        let Some(value) = parse_decimal(value) else {
            continue;
        };
        if name.eq_ignore_ascii_case(option_name::BLKSIZE) {
            if value >= u64::from(MIN_BLKSIZE) {
                granted.blksize = value.min(u64::from(MAX_BLKSIZE)) as u16;
                granted
                    .oack
                    .push((option_name::BLKSIZE, u64::from(granted.blksize)));
            }
        } else if name.eq_ignore_ascii_case(option_name::WINDOWSIZE) {
            if value >= 1 {
                granted.windowsize = value.min(u64::from(MAX_WINDOWSIZE)) as u16;
                granted
                    .oack
                    .push((option_name::WINDOWSIZE, u64::from(granted.windowsize)));
            }
        } else if name.eq_ignore_ascii_case(option_name::TSIZE) {
            granted.oack.push((option_name::TSIZE, size));
        }
    }
    granted
}

/// What the transfer wants sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Send {
    Nothing,
    Oack,
    /// DATA for these blocks (1-based counts; the wire number is the count mod 65536).
    Blocks {
        first: u64,
        last: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Send(Send),
    /// The last block is acknowledged.
    Done,
    /// No progress after [`MAX_RETRIES`] timer expiries.
    GiveUp,
}

/// Counters for the log line of a transfer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub blocks_sent: u64,
    /// Windows sent again because the timer ran out.
    pub timeouts: u64,
    /// Windows restarted by a duplicate ACK.
    pub rewinds: u64,
    /// ACKs that moved nothing forward.
    pub duplicate_acks: u64,
}

/// One read transfer, sans IO. Times are milliseconds from any fixed origin.
#[derive(Clone, Debug)]
pub struct Transfer {
    blksize: u64,
    window: u64,
    size: u64,
    /// The number of the last block (the short one, possibly empty).
    last_block: u64,
    oack_pending: bool,
    /// The highest block the client acknowledged.
    acked: u64,
    /// The highest block sent so far.
    sent_up_to: u64,
    /// The acknowledged block at which a duplicate ACK last restarted the window.
    rewound_at: Option<u64>,
    timeout_ms: u64,
    deadline: u64,
    retries: u32,
    pub stats: Stats,
}

impl Transfer {
    pub fn new(size: u64, negotiated: &Negotiated) -> Transfer {
        let blksize = u64::from(negotiated.blksize);
        Transfer {
            blksize,
            window: u64::from(negotiated.windowsize.max(1)),
            size,
            last_block: size / blksize + 1,
            oack_pending: !negotiated.oack.is_empty(),
            acked: 0,
            sent_up_to: 0,
            rewound_at: None,
            timeout_ms: FIRST_TIMEOUT_MS,
            deadline: 0,
            retries: 0,
            stats: Stats::default(),
        }
    }

    /// The first packet(s): the OACK, or the first window.
    pub fn start(&mut self, now: u64) -> Send {
        self.deadline = now + self.timeout_ms;
        if self.oack_pending {
            Send::Oack
        } else {
            self.window_from(1, now)
        }
    }

    /// When [`Transfer::on_timer`] wants to be called.
    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    /// Bytes in block `block` and where they start in the file.
    pub fn block_range(&self, block: u64) -> (u64, usize) {
        let offset = (block - 1) * self.blksize;
        let len = self.size.saturating_sub(offset).min(self.blksize);
        (offset, len as usize)
    }

    pub fn blksize(&self) -> u16 {
        self.blksize as u16
    }

    pub fn window(&self) -> u16 {
        self.window as u16
    }

    fn window_from(&mut self, first: u64, now: u64) -> Send {
        let last = (first + self.window - 1).min(self.last_block);
        self.sent_up_to = self.sent_up_to.max(last);
        self.stats.blocks_sent += last + 1 - first;
        self.deadline = now + self.timeout_ms;
        Send::Blocks { first, last }
    }

    /// An ACK with wire number `block`.
    pub fn on_ack(&mut self, block: u16, now: u64) -> Step {
        if self.oack_pending {
            if block != 0 {
                return Step::Send(Send::Nothing);
            }
            self.oack_pending = false;
            self.progress(now);
            return Step::Send(self.window_from(1, now));
        }
        // The ACK names a block between the last acknowledged one and the last one sent
        // (16-bit numbers roll over; anything else is stale or foreign).
        let forward = u64::from(block.wrapping_sub(self.acked as u16));
        if forward == 0 {
            self.stats.duplicate_acks += 1;
            if self.window > 1
                && self.sent_up_to > self.acked
                && self.rewound_at != Some(self.acked)
            {
                self.rewound_at = Some(self.acked);
                self.stats.rewinds += 1;
                return Step::Send(self.window_from(self.acked + 1, now));
            }
            return Step::Send(Send::Nothing);
        }
        if forward > self.sent_up_to - self.acked {
            self.stats.duplicate_acks += 1;
            return Step::Send(Send::Nothing);
        }
        self.acked += forward;
        self.progress(now);
        if self.acked == self.last_block {
            return Step::Done;
        }
        Step::Send(self.window_from(self.acked + 1, now))
    }

    fn progress(&mut self, now: u64) {
        self.retries = 0;
        self.timeout_ms = FIRST_TIMEOUT_MS;
        self.rewound_at = None;
        self.deadline = now + self.timeout_ms;
    }

    /// Call when `now` passed [`Transfer::deadline`]: resend, doubling the timer.
    pub fn on_timer(&mut self, now: u64) -> Step {
        if now < self.deadline {
            return Step::Send(Send::Nothing);
        }
        self.retries += 1;
        if self.retries > MAX_RETRIES {
            return Step::GiveUp;
        }
        self.timeout_ms = (self.timeout_ms * 2).min(MAX_TIMEOUT_MS);
        self.deadline = now + self.timeout_ms;
        if self.oack_pending {
            return Step::Send(Send::Oack);
        }
        self.stats.timeouts += 1;
        Step::Send(self.window_from(self.acked + 1, now))
    }

    /// Were all blocks sent and only the final ACK is missing?
    pub fn all_sent(&self) -> bool {
        self.sent_up_to == self.last_block
    }
}

// ---------------------------------------------------------------------------------------
// Sockets

/// The TFTP service: a listener on port 69 and a thread per transfer.
pub struct TftpServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TftpServer {
    /// Serve `files` on `listener` (UDP port 69 of the interface); transfers get sockets on
    /// the same interface.
    pub fn start(
        listener: UdpSocket,
        interface: BoundInterface,
        files: Arc<Files>,
    ) -> io::Result<TftpServer> {
        let stop = Arc::new(AtomicBool::new(false));
        listener.set_read_timeout(Some(Duration::from_millis(200)))?;
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tftp".into())
                .spawn(move || listen(listener, interface, files, stop))?
        };
        Ok(TftpServer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for TftpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn listen(
    listener: UdpSocket,
    interface: BoundInterface,
    files: Arc<Files>,
    stop: Arc<AtomicBool>,
) {
    // Clients whose transfer runs: a retransmitted RRQ must not start a second one.
    let active: Arc<Mutex<HashSet<SocketAddr>>> = Arc::default();
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let (len, client) = match listener.recv_from(&mut buf) {
            Ok(received) => received,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                println!("tftp: receive error on port 69: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let SocketAddr::V4(client) = client else {
            continue;
        };
        if active.lock().unwrap().contains(&SocketAddr::V4(client)) {
            continue;
        }
        let request = match Packet::parse(&buf[..len]) {
            Ok(Packet::Rrq(request)) => request,
            Ok(Packet::Wrq(_)) => {
                refuse(
                    &interface,
                    client,
                    error_code::ACCESS_VIOLATION,
                    "netloader serve is read-only",
                );
                continue;
            }
            _ => continue, // not a request: nothing a port-69 listener answers
        };
        let name = String::from_utf8_lossy(request.filename).into_owned();
        if !request.mode.eq_ignore_ascii_case(b"octet") {
            println!(
                "tftp: {} {name}: mode {} refused (octet only)",
                client.ip(),
                String::from_utf8_lossy(request.mode)
            );
            refuse(
                &interface,
                client,
                error_code::ILLEGAL_OPERATION,
                "only octet mode is served",
            );
            continue;
        }
        let opened = match files.open(&name) {
            Ok(opened) => opened,
            Err(e) => {
                println!("tftp: {} {name}: {e}", client.ip());
                let (code, message) = match e {
                    OpenError::Access(_) => (error_code::ACCESS_VIOLATION, "Access violation"),
                    OpenError::BadName | OpenError::NotFound => {
                        (error_code::FILE_NOT_FOUND, "File not found")
                    }
                };
                refuse(&interface, client, code, message);
                continue;
            }
        };
        let negotiated = negotiate(&request.options, opened.size);
        let socket = match interface.transfer_socket(client) {
            Ok(socket) => socket,
            Err(e) => {
                println!(
                    "tftp: {} {name}: no socket for the transfer: {e}",
                    client.ip()
                );
                continue;
            }
        };
        active.lock().unwrap().insert(SocketAddr::V4(client));
        let active = active.clone();
        let spawned = std::thread::Builder::new()
            .name("tftp-transfer".into())
            .spawn(move || {
                let line = run_transfer(&socket, &opened, &negotiated);
                println!("tftp: {} {name}: {line}", client.ip());
                active.lock().unwrap().remove(&SocketAddr::V4(client));
            });
        if let Err(e) = spawned {
            println!("tftp: cannot start a transfer thread: {e}");
        }
    }
}

/// An ERROR to `client` from a fresh port (as a transfer would answer).
fn refuse(interface: &BoundInterface, client: SocketAddrV4, code: u16, message: &str) {
    let mut buf = [0u8; 128];
    if let (Ok(socket), Ok(len)) = (
        interface.transfer_socket(client),
        wire::build_error(&mut buf, code, message.as_bytes()),
    ) {
        let _ = socket.send(&buf[..len]);
    }
}

fn millis_since(origin: Instant) -> u64 {
    origin.elapsed().as_millis() as u64
}

/// Drive one transfer on its connected socket; returns the log line.
fn run_transfer(socket: &UdpSocket, file: &Opened, negotiated: &Negotiated) -> String {
    let origin = Instant::now();
    let mut transfer = Transfer::new(file.size, negotiated);
    let mut packet = vec![0u8; HEADER_LEN + usize::from(negotiated.blksize)];
    let mut received = vec![0u8; 1024];
    let mut step = Step::Send(transfer.start(0));
    loop {
        match step {
            Step::Done => break,
            Step::GiveUp => {
                let what = if transfer.all_sent() {
                    "every block sent, the last ACK never came (the client may have finished)"
                } else {
                    "the client stopped answering"
                };
                return format!(
                    "dropped after {MAX_RETRIES} timeouts: {what}; {}",
                    counters(&transfer)
                );
            }
            Step::Send(send) => {
                if let Err(why) =
                    send_packets(socket, file, negotiated, &transfer, &send, &mut packet)
                {
                    let mut buf = [0u8; 128];
                    if let Ok(len) =
                        wire::build_error(&mut buf, error_code::NOT_DEFINED, why.as_bytes())
                    {
                        let _ = socket.send(&buf[..len]);
                    }
                    return format!("failed: {why}");
                }
            }
        }
        let now = millis_since(origin);
        let wait = transfer.deadline().saturating_sub(now).max(1);
        let _ = socket.set_read_timeout(Some(Duration::from_millis(wait)));
        step = match socket.recv(&mut received) {
            Ok(len) => match Packet::parse(&received[..len]) {
                Ok(Packet::Ack { block }) => transfer.on_ack(block, millis_since(origin)),
                Ok(Packet::Error { code, message }) => {
                    return format!(
                        "the client ended it: error {code} ({})",
                        String::from_utf8_lossy(message)
                    );
                }
                _ => Step::Send(Send::Nothing),
            },
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                transfer.on_timer(millis_since(origin))
            }
            // ICMP port unreachable: the client is gone.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return "the client's port closed (ICMP port unreachable)".to_string();
            }
            Err(e) => return format!("receive error: {e}"),
        };
    }
    let seconds = origin.elapsed().as_secs_f64();
    format!(
        "{} bytes in {seconds:.2} s ({:.2} MB/s), {}",
        file.size,
        file.size as f64 / seconds.max(1e-6) / 1e6,
        counters(&transfer)
    )
}

/// What a transfer's log line says of how it went, whether it ended or was dropped.
fn counters(transfer: &Transfer) -> String {
    let stats = transfer.stats;
    format!(
        "blksize {}, window {}, {} blocks sent for {}, {} timeouts, {} window restarts, {} duplicate ACKs",
        transfer.blksize(),
        transfer.window(),
        stats.blocks_sent,
        transfer.last_block,
        stats.timeouts,
        stats.rewinds,
        stats.duplicate_acks
    )
}

/// Send what `send` names; Err when the file cannot be read as it was announced.
fn send_packets(
    socket: &UdpSocket,
    file: &Opened,
    negotiated: &Negotiated,
    transfer: &Transfer,
    send: &Send,
    packet: &mut [u8],
) -> Result<(), String> {
    match *send {
        Send::Nothing => {}
        Send::Oack => {
            let len = wire::build_oack(packet, &negotiated.oack).map_err(|e| e.to_string())?;
            let _ = socket.send(&packet[..len]);
        }
        Send::Blocks { first, last } => {
            for block in first..=last {
                let (offset, len) = transfer.block_range(block);
                let data = &mut packet[HEADER_LEN..HEADER_LEN + len];
                let read = file
                    .read_at(data, offset)
                    .map_err(|e| format!("read error: {e}"))?;
                if read != len {
                    return Err("the file changed on the server during the transfer".into());
                }
                packet[..2].copy_from_slice(&wire::opcode::DATA.to_be_bytes());
                packet[2..4].copy_from_slice(&(block as u16).to_be_bytes());
                // A full socket buffer blocks here; any other error is as a lost packet.
                let _ = socket.send(&packet[..HEADER_LEN + len]);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
