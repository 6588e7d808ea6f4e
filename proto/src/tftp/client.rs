//! The sans-IO read client: packets in, packets out, timers driven by the caller's clock.
//!
//! The caller owns the UDP socket and the clock (a `u64` of milliseconds from any fixed
//! origin). One transfer:
//!
//! ```text
//! let mut client = TftpClient::new("boot/kernel", Options::for_mtu(1500))?;
//! let t = client.start(now, &mut out)?;            // send out[..t.len] to server:t.port (69)
//! loop {
//!     // for each datagram from the server's IP address:
//!     action = client.on_packet(now, src_port, payload, &mut sink, &mut out);
//!     // and whenever now >= client.poll_deadline():
//!     action = client.on_timer(now, &mut out);
//!     if let Some(t) = action.transmit() { send out[..t.len] to server:t.port }
//!     match action { Done(_) => break Ok, Failed { error, .. } => break Err(error), _ => {} }
//! }
//! ```
//!
//! The receive buffer must hold a whole window ([`Options::rx_window_bytes`]), or the
//! blocks that do not fit are lost and cost a retransmission each window.

use super::error::{OptionKind, ProtocolError, SinkError, TftpError};
use super::sink::Sink;
use super::wire::{
    self, DEFAULT_BLKSIZE, HEADER_LEN, MAX_BLKSIZE, MIN_BLKSIZE, OptionList, Packet, error_code,
    option_name,
};

/// The output buffer the caller passes must be at least this long (the longest RRQ
/// with a [`MAX_FILENAME_LEN`] name and all options is about 300 bytes).
pub const TX_BUFFER_LEN: usize = 512;
/// Longest filename accepted.
pub const MAX_FILENAME_LEN: usize = 255;
/// The well-known TFTP port.
pub const TFTP_PORT: u16 = 69;
/// Out-of-order blocks kept while the missing one may still come (a swap of neighbours is
/// the common reordering; more blocks ahead mean a loss). None without the `tftp-reorder`
/// feature: a gap is then asked for at once and the early blocks come again.
pub const HOLD_BLOCKS: usize = if cfg!(feature = "tftp-reorder") { 2 } else { 0 };
/// The largest block kept out of order (a 1500-byte MTU's); larger ones are fetched again.
pub const HOLD_BYTES: usize = 1468;
/// Blocks past a gap that may arrive before the client gives up waiting and asks for the
/// missing one (a gap ACK): the second means loss, not a swap.
const GAP_PATIENCE: u32 = 2;

/// What to ask the server for, and how patient to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Block size to request (RFC 2348); 512 sends no blksize option. Clamped to 8..=65464.
    pub blksize: u16,
    /// Window size to request (RFC 7440); 1 sends no windowsize option.
    pub windowsize: u16,
    /// Ask the server for the file size (RFC 2349) so the sink can refuse early.
    pub want_tsize: bool,
    /// The server's request port (69).
    pub server_port: u16,
    /// First retransmission timeout, in ms; doubles on each retry up to `max_timeout_ms`.
    pub initial_timeout_ms: u64,
    pub max_timeout_ms: u64,
    /// Retransmissions in a row without progress before giving up.
    pub max_retries: u32,
    /// How long a windowed transfer that sees a gap waits for the missing block (reordering),
    /// keeping the blocks that came early, before it asks for a resend; the wait also ends when
    /// a second block past the gap arrives. 0: no waiting and nothing kept (the gap is asked
    /// for at once, the early blocks come again).
    pub reorder_wait_ms: u64,
}

impl Default for Options {
    /// blksize for a 1500-byte MTU, window 16, tsize, 200 ms doubling to 2 s, 8 retries
    /// (about 11 s of silence before giving up), 10 ms of patience for a reordered block.
    fn default() -> Self {
        Options {
            blksize: 1468,
            windowsize: 16,
            want_tsize: true,
            server_port: TFTP_PORT,
            initial_timeout_ms: 200,
            max_timeout_ms: 2000,
            max_retries: 8,
            reorder_wait_ms: 10,
        }
    }
}

impl Options {
    /// Bytes of UDP payload the caller's receive buffer must hold so that a whole window
    /// of DATA packets fits (for smoltcp: the payload storage of the socket's rx buffer;
    /// its metadata ring needs `windowsize` slots). A smaller buffer drops blocks.
    pub fn rx_window_bytes(&self) -> usize {
        usize::from(self.windowsize.max(1)) * (usize::from(self.blksize) + HEADER_LEN)
    }

    /// The defaults, with the largest block whose DATA packet fits one IPv4 frame of
    /// `mtu` bytes without fragmentation (IPv4 20 + UDP 8 + TFTP 4 bytes of headers).
    pub fn for_mtu(mtu: u16) -> Self {
        let blksize = mtu.saturating_sub(20 + 8 + HEADER_LEN as u16);
        Options {
            blksize: blksize.clamp(MIN_BLKSIZE, MAX_BLKSIZE),
            ..Options::default()
        }
    }
}

/// A datagram to send: the first `len` bytes of the caller's output buffer, to the
/// server's address at `port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub len: usize,
    pub port: u16,
}

/// What the caller must do after an event.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to send; keep polling.
    Wait,
    /// Send this datagram and keep polling.
    Send(Transmit),
    /// The whole file is in the sink: send this final ACK. The transfer is over; if the
    /// caller keeps feeding packets for a moment, a resent last block is ACKed again.
    Done(Transmit),
    /// The transfer failed: send the datagram if there is one (an ERROR or final ACK for
    /// the server), then report `error`.
    Failed {
        send: Option<Transmit>,
        error: TftpError,
    },
}

impl Action {
    /// The datagram to send, whatever the outcome.
    pub fn transmit(&self) -> Option<Transmit> {
        match *self {
            Action::Wait => None,
            Action::Send(t) | Action::Done(t) => Some(t),
            Action::Failed { send, .. } => send,
        }
    }
}

/// Where the transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    NotStarted,
    Running,
    Done,
    Failed(TftpError),
}

/// Counters for the runtime to print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes_received: u64,
    pub blocks_received: u64,
    /// ACKs sent, including retransmitted and gap ACKs.
    pub acks_sent: u64,
    /// RRQs and ACKs resent because the timer ran out.
    pub retransmissions: u64,
    /// DATA blocks received again (already stored); they never trigger an ACK.
    pub duplicates: u64,
    /// DATA blocks ahead of the next expected one (a block was lost or reordered).
    pub out_of_order: u64,
    /// ACKs sent on a gap (after the reorder wait), to restart the server's window.
    pub gap_acks: u64,
    /// Out-of-order blocks kept and used once the missing block came (no resend needed).
    pub reordered_kept: u64,
    /// Packets from a port other than the server's transfer ID.
    pub stray_packets: u64,
    /// Unparseable packets from the server that were ignored.
    pub malformed: u64,
    /// The server refused the options with ERROR 8 and the request was sent again without.
    pub options_refused: bool,
    /// Negotiated values (512 / 1 / None until the server answers).
    pub blksize: u16,
    pub windowsize: u16,
    pub tsize: Option<u64>,
}

impl core::fmt::Display for Stats {
    /// One line for the console.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} bytes in {} blocks (blksize {}, window {}",
            self.bytes_received, self.blocks_received, self.blksize, self.windowsize
        )?;
        if let Some(tsize) = self.tsize {
            write!(f, ", tsize {tsize}")?;
        }
        if self.options_refused {
            f.write_str(", options refused")?;
        }
        write!(
            f,
            "); {} retransmissions, {} duplicates, {} out of order, {} gap ACKs, {} stray",
            self.retransmissions,
            self.duplicates,
            self.out_of_order,
            self.gap_acks,
            self.stray_packets
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// RRQ sent; the first answer fixes the server's port.
    Requesting {
        with_options: bool,
    },
    Transferring,
    Done,
    Failed(TftpError),
}

/// A TFTP read ("get") of one file. See the module docs for how to drive it.
#[derive(Debug, Clone)]
pub struct TftpClient {
    filename: [u8; MAX_FILENAME_LEN],
    filename_len: usize,
    options: Options,
    phase: Phase,
    /// The server's transfer ID (source port of its first answer).
    server_tid: Option<u16>,
    blksize: u16,
    windowsize: u16,
    tsize: Option<u64>,
    /// In-order blocks received: a 64-bit count, so block numbers may wrap on the wire.
    received: u64,
    bytes: u64,
    /// The block count last ACKed; a window ends `windowsize` blocks after it.
    last_acked: u64,
    /// Set when an ACK for `received` was sent because of a gap (or timer), so later
    /// out-of-order blocks of the same window do not trigger the same ACK again.
    gap_acked_at: Option<u64>,
    deadline: Option<u64>,
    timeout_ms: u64,
    retries: u32,
    /// When the final ACK was last sent (to tell a resent last block from a copy).
    final_ack_at: u64,
    /// A gap was seen and not yet ACKed: stop waiting for the missing block at this time.
    gap_deadline: Option<u64>,
    /// Blocks past the gap that arrived while waiting.
    gap_ahead: u32,
    /// Out-of-order blocks kept: (block count, length) and the bytes.
    held: [Option<(u64, usize)>; HOLD_BLOCKS],
    held_data: [[u8; HOLD_BYTES]; HOLD_BLOCKS],
    stats: Stats,
}

impl TftpClient {
    /// A client for `filename` (sent as is, `octet` mode). Fails if the name is empty,
    /// contains NUL or is longer than [`MAX_FILENAME_LEN`].
    pub fn new(filename: &str, options: Options) -> Result<Self, TftpError> {
        let name = filename.as_bytes();
        if name.is_empty() || name.len() > MAX_FILENAME_LEN || name.contains(&0) {
            return Err(TftpError::InvalidFilename);
        }
        let mut stored = [0u8; MAX_FILENAME_LEN];
        stored[..name.len()].copy_from_slice(name);
        let options = Options {
            blksize: options.blksize.clamp(MIN_BLKSIZE, MAX_BLKSIZE),
            windowsize: options.windowsize.max(1),
            initial_timeout_ms: options.initial_timeout_ms.max(1),
            max_timeout_ms: options
                .max_timeout_ms
                .max(options.initial_timeout_ms.max(1)),
            ..options
        };
        Ok(TftpClient {
            filename: stored,
            filename_len: name.len(),
            options,
            phase: Phase::Idle,
            server_tid: None,
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            tsize: None,
            received: 0,
            bytes: 0,
            last_acked: 0,
            gap_acked_at: None,
            deadline: None,
            timeout_ms: options.initial_timeout_ms.max(1),
            retries: 0,
            final_ack_at: 0,
            gap_deadline: None,
            gap_ahead: 0,
            held: [None; HOLD_BLOCKS],
            held_data: [[0; HOLD_BYTES]; HOLD_BLOCKS],
            stats: Stats {
                blksize: DEFAULT_BLKSIZE,
                windowsize: 1,
                ..Stats::default()
            },
        })
    }

    /// Writes the read request into `out` (at least [`TX_BUFFER_LEN`] bytes) and arms the
    /// timer. Send it to the server's request port ([`Options::server_port`]).
    pub fn start(&mut self, now: u64, out: &mut [u8]) -> Result<Transmit, TftpError> {
        if out.len() < TX_BUFFER_LEN {
            return Err(TftpError::BufferTooSmall);
        }
        let with_options = self.wants_options();
        self.phase = Phase::Requesting { with_options };
        self.restart_timer(now);
        self.request(out, with_options)
    }

    /// Handles one datagram from the server's address, received from `from_port`.
    /// `out` must be at least [`TX_BUFFER_LEN`] bytes.
    pub fn on_packet<S: Sink + ?Sized>(
        &mut self,
        now: u64,
        from_port: u16,
        bytes: &[u8],
        sink: &mut S,
        out: &mut [u8],
    ) -> Action {
        if matches!(self.phase, Phase::Idle | Phase::Failed(_)) {
            return Action::Wait;
        }
        if let Some(tid) = self.server_tid
            && tid != from_port
        {
            return self.stray(from_port, bytes, out);
        }
        let packet = match Packet::parse(bytes) {
            Ok(packet) => packet,
            Err(e) => {
                self.stats.malformed += 1;
                // Before the transfer a bad answer will not get better by waiting.
                if let Phase::Requesting { .. } = self.phase {
                    return self.fail_replying(
                        out,
                        from_port,
                        error_code::ILLEGAL_OPERATION,
                        b"Malformed packet",
                        TftpError::Protocol(ProtocolError::Malformed(e)),
                    );
                }
                return Action::Wait;
            }
        };
        match self.phase {
            Phase::Requesting { with_options } => {
                self.on_answer(now, from_port, with_options, packet, sink, out)
            }
            Phase::Transferring => self.on_transfer_packet(now, from_port, packet, sink, out),
            Phase::Done => self.on_packet_after_done(now, from_port, packet, out),
            Phase::Idle | Phase::Failed(_) => Action::Wait,
        }
    }

    /// Retransmits or gives up once the clock has passed [`Self::poll_deadline`];
    /// does nothing before. `out` must be at least [`TX_BUFFER_LEN`] bytes.
    pub fn on_timer(&mut self, now: u64, out: &mut [u8]) -> Action {
        if self.phase == Phase::Transferring && self.gap_deadline.is_some_and(|g| now >= g) {
            // The missing block did not come in time: ask for it.
            return self.gap_ack(out);
        }
        let Some(deadline) = self.deadline else {
            return Action::Wait;
        };
        if now < deadline {
            return Action::Wait;
        }
        match self.phase {
            Phase::Requesting { with_options } => {
                if self.retries >= self.options.max_retries {
                    return self.fail(
                        None,
                        TftpError::NoResponse {
                            attempts: self.retries + 1,
                        },
                    );
                }
                self.back_off(now);
                match self.request(out, with_options) {
                    Ok(t) => Action::Send(t),
                    Err(error) => self.fail(None, error),
                }
            }
            Phase::Transferring => {
                if self.retries >= self.options.max_retries {
                    let error = TftpError::Timeout {
                        block: self.received + 1,
                        attempts: self.retries,
                    };
                    let port = self.server_tid.unwrap_or(self.options.server_port);
                    let send = self.error_packet(out, port, error_code::NOT_DEFINED, b"Timed out");
                    return self.fail(send, error);
                }
                self.back_off(now);
                // The server restarts its window after this block, so blocks still in
                // flight from the old window must not trigger the same ACK again.
                self.gap_acked_at = Some(self.received);
                self.ack_received(out)
            }
            Phase::Idle | Phase::Done | Phase::Failed(_) => Action::Wait,
        }
    }

    /// When [`Self::on_timer`] must next be called; `None` when no timer runs.
    pub fn poll_deadline(&self) -> Option<u64> {
        match (self.deadline, self.gap_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Stops the transfer. Returns an ERROR packet for the server when one is talking.
    pub fn cancel(&mut self, out: &mut [u8]) -> Option<Transmit> {
        if !matches!(self.phase, Phase::Requesting { .. } | Phase::Transferring) {
            return None;
        }
        let send = self
            .server_tid
            .and_then(|port| self.error_packet(out, port, error_code::NOT_DEFINED, b"Cancelled"));
        let _ = self.fail(send, TftpError::Cancelled);
        send
    }

    pub fn status(&self) -> Status {
        match self.phase {
            Phase::Idle => Status::NotStarted,
            Phase::Requesting { .. } | Phase::Transferring => Status::Running,
            Phase::Done => Status::Done,
            Phase::Failed(e) => Status::Failed(e),
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The server's transfer ID once it has answered.
    pub fn server_port(&self) -> Option<u16> {
        self.server_tid
    }

    pub fn filename(&self) -> &[u8] {
        self.filename.get(..self.filename_len).unwrap_or(&[])
    }

    // --- request phase ---

    fn wants_options(&self) -> bool {
        self.options.blksize != DEFAULT_BLKSIZE
            || self.options.windowsize > 1
            || self.options.want_tsize
    }

    fn request(&mut self, out: &mut [u8], with_options: bool) -> Result<Transmit, TftpError> {
        let mut list: [(&[u8], u64); 3] = [(b"", 0); 3];
        let mut n = 0;
        if with_options {
            if self.options.blksize != DEFAULT_BLKSIZE {
                list[n] = (option_name::BLKSIZE, u64::from(self.options.blksize));
                n += 1;
            }
            if self.options.windowsize > 1 {
                list[n] = (option_name::WINDOWSIZE, u64::from(self.options.windowsize));
                n += 1;
            }
            if self.options.want_tsize {
                list[n] = (option_name::TSIZE, 0);
                n += 1;
            }
        }
        let filename = self.filename.get(..self.filename_len).unwrap_or(&[]);
        let len = wire::build_rrq(out, filename, list.get(..n).unwrap_or(&[]))
            .map_err(|_| TftpError::BufferTooSmall)?;
        Ok(Transmit {
            len,
            port: self.options.server_port,
        })
    }

    fn on_answer<S: Sink + ?Sized>(
        &mut self,
        now: u64,
        from_port: u16,
        with_options: bool,
        packet: Packet<'_>,
        sink: &mut S,
        out: &mut [u8],
    ) -> Action {
        match packet {
            Packet::Error {
                code: error_code::OPTION_NEGOTIATION,
                ..
            } if with_options => {
                // RFC 2347: the server refused the options; ask again without them.
                self.stats.options_refused = true;
                self.phase = Phase::Requesting {
                    with_options: false,
                };
                self.restart_timer(now);
                match self.request(out, false) {
                    Ok(t) => Action::Send(t),
                    Err(error) => self.fail(None, error),
                }
            }
            Packet::Error { code, message } => self.fail(None, server_error(code, message)),
            Packet::Oack(_) if !with_options => self.fail_replying(
                out,
                from_port,
                error_code::OPTION_NEGOTIATION,
                b"No options were requested",
                TftpError::Protocol(ProtocolError::UnrequestedOack),
            ),
            Packet::Oack(list) => {
                self.server_tid = Some(from_port);
                if let Err(error) = self.negotiate(list) {
                    return self.fail_replying(
                        out,
                        from_port,
                        error_code::OPTION_NEGOTIATION,
                        b"Option value not acceptable",
                        error,
                    );
                }
                if let Some(size) = self.tsize
                    && let Err(e) = sink.size_hint(size)
                {
                    return self.fail_sink(out, e);
                }
                self.phase = Phase::Transferring;
                self.restart_timer(now);
                self.ack_received(out)
            }
            Packet::Data { .. } => {
                // The server ignored the options (RFC 2347): plain RFC 1350 from here on.
                self.server_tid = Some(from_port);
                self.phase = Phase::Transferring;
                self.on_transfer_packet(now, from_port, packet, sink, out)
            }
            Packet::Ack { .. } | Packet::Rrq(_) | Packet::Wrq(_) => {
                self.unexpected(out, from_port, packet)
            }
        }
    }

    /// Applies the OACK: each option must lie within what was requested; a missing
    /// option falls back to the RFC 1350 behaviour.
    fn negotiate(&mut self, list: OptionList<'_>) -> Result<(), TftpError> {
        let blksize = match list.get(option_name::BLKSIZE) {
            None => DEFAULT_BLKSIZE,
            Some(v) => {
                let asked = u64::from(self.options.blksize);
                let offered = in_range(v, u64::from(MIN_BLKSIZE), asked, OptionKind::Blksize)?;
                offered as u16
            }
        };
        let windowsize = match list.get(option_name::WINDOWSIZE) {
            None => 1,
            Some(v) => {
                let asked = u64::from(self.options.windowsize);
                in_range(v, 1, asked, OptionKind::Windowsize)? as u16
            }
        };
        let tsize = match list.get(option_name::TSIZE) {
            None => None,
            Some(v) => Some(in_range(v, 0, u64::MAX, OptionKind::Tsize)?),
        };
        self.blksize = blksize;
        self.windowsize = windowsize;
        self.tsize = tsize;
        self.stats.blksize = blksize;
        self.stats.windowsize = windowsize;
        self.stats.tsize = tsize;
        Ok(())
    }

    // --- transfer phase ---

    fn on_transfer_packet<S: Sink + ?Sized>(
        &mut self,
        now: u64,
        from_port: u16,
        packet: Packet<'_>,
        sink: &mut S,
        out: &mut [u8],
    ) -> Action {
        match packet {
            Packet::Data { block, data } => self.on_data(now, from_port, block, data, sink, out),
            Packet::Error { code, message } => self.fail(None, server_error(code, message)),
            // A resent OACK means our ACK 0 was lost; the timer resends it.
            Packet::Oack(_) => {
                self.stats.duplicates += 1;
                Action::Wait
            }
            Packet::Ack { .. } | Packet::Rrq(_) | Packet::Wrq(_) => {
                self.unexpected(out, from_port, packet)
            }
        }
    }

    fn on_data<S: Sink + ?Sized>(
        &mut self,
        now: u64,
        from_port: u16,
        block: u16,
        data: &[u8],
        sink: &mut S,
        out: &mut [u8],
    ) -> Action {
        let expected = self.received + 1;
        // Distance from the expected block on the 16-bit wire counter: negative means
        // already received, positive means ahead (something in between is missing).
        let distance = block.wrapping_sub(expected as u16) as i16;
        if distance < 0 {
            // Never ACK a duplicate: that is the Sorcerer's Apprentice bug.
            self.stats.duplicates += 1;
            return Action::Wait;
        }
        if distance > 0 {
            return self.on_gap(now, expected + distance as u64, data, out);
        }
        if let Some(failure) = self.store(from_port, data, sink, out) {
            return failure;
        }
        let last = data.len() < usize::from(self.blksize);
        // Blocks kept out of order that now follow on (never after the last block).
        while let Some(slot) = self
            .held
            .iter()
            .position(|h| !last && h.is_some_and(|(b, _)| b == self.received + 1))
        {
            self.held[slot] = None;
            // Only full blocks within the announced size are kept (see `on_gap`).
            let len = usize::from(self.blksize);
            let held = self.held_data[slot].get(..len).unwrap_or(&[]);
            if let Err(e) = sink.write_at(self.bytes, held) {
                return self.fail_sink(out, e);
            }
            self.received += 1;
            self.bytes += len as u64;
            self.stats.blocks_received = self.received;
            self.stats.bytes_received = self.bytes;
            self.stats.reordered_kept += 1;
        }
        let received = self.received;
        for h in self.held.iter_mut() {
            if h.is_some_and(|(b, _)| b <= received) {
                *h = None;
            }
        }
        self.gap_acked_at = None;
        self.gap_deadline = None;
        self.gap_ahead = 0;
        self.restart_timer(now);

        if last {
            return self.finish(now, out);
        }
        if self.received - self.last_acked >= u64::from(self.windowsize) {
            return self.ack_received(out);
        }
        Action::Wait
    }

    /// A block ahead of the expected one (`block` counts from 1, unwrapped): keep it if it
    /// is close, and wait a moment for the missing one before asking the server to resend.
    fn on_gap(&mut self, now: u64, block: u64, data: &[u8], out: &mut [u8]) -> Action {
        self.stats.out_of_order += 1;
        if self.options.reorder_wait_ms == 0 || HOLD_BLOCKS == 0 {
            // No patience: every block ahead is dropped and the gap asked for at once.
            if self.gap_acked_at == Some(self.received) {
                return Action::Wait;
            }
            return self.gap_ack(out);
        }
        let close = block <= self.received + 1 + HOLD_BLOCKS as u64;
        let known = self.held.iter().any(|h| h.is_some_and(|(b, _)| b == block));
        // Only full blocks, and only while the file's announced size leaves room for them: a
        // short last block, or one past the end, comes again.
        let room = self
            .tsize
            .is_none_or(|t| self.bytes + (block - self.received) * u64::from(self.blksize) <= t);
        let fits = data.len() == usize::from(self.blksize) && data.len() <= HOLD_BYTES && room;
        if close
            && !known
            && fits
            && let Some(slot) = self.held.iter().position(Option::is_none)
        {
            self.held[slot] = Some((block, data.len()));
            self.held_data[slot][..data.len()].copy_from_slice(data);
        }
        if self.gap_acked_at == Some(self.received) {
            return Action::Wait;
        }
        self.gap_ahead += 1;
        if self.gap_ahead >= GAP_PATIENCE {
            return self.gap_ack(out);
        }
        if self.gap_deadline.is_none() {
            self.gap_deadline = Some(now.saturating_add(self.options.reorder_wait_ms));
        }
        Action::Wait
    }

    /// ACK the last in-order block now, so the server resends from the gap instead of
    /// waiting for its own timer (RFC 7440 section 4).
    fn gap_ack(&mut self, out: &mut [u8]) -> Action {
        self.gap_deadline = None;
        self.gap_ahead = 0;
        self.gap_acked_at = Some(self.received);
        self.stats.gap_acks += 1;
        self.ack_received(out)
    }

    /// The expected block: checked and written to the sink; counters advanced. Returns the
    /// failure when the block is refused.
    fn store<S: Sink + ?Sized>(
        &mut self,
        from_port: u16,
        data: &[u8],
        sink: &mut S,
        out: &mut [u8],
    ) -> Option<Action> {
        let expected = self.received + 1;
        if data.len() > usize::from(self.blksize) {
            let error = ProtocolError::DataTooLong {
                block: expected,
                len: data.len(),
                blksize: self.blksize,
            };
            return Some(self.fail_replying(
                out,
                from_port,
                error_code::ILLEGAL_OPERATION,
                b"DATA larger than the block size",
                TftpError::Protocol(error),
            ));
        }
        let end = self.bytes + data.len() as u64;
        if let Some(announced) = self.tsize
            && end > announced
        {
            return Some(self.fail_replying(
                out,
                from_port,
                error_code::NOT_DEFINED,
                b"File larger than announced tsize",
                TftpError::SizeMismatch {
                    announced,
                    received: end,
                },
            ));
        }
        if let Err(e) = sink.write_at(self.bytes, data) {
            return Some(self.fail_sink(out, e));
        }
        self.received = expected;
        self.bytes = end;
        self.stats.blocks_received = self.received;
        self.stats.bytes_received = self.bytes;
        None
    }

    /// The short last block arrived: ACK it and check the announced size.
    fn finish(&mut self, now: u64, out: &mut [u8]) -> Action {
        let ack = self.ack_received(out);
        let Action::Send(ack) = ack else { return ack };
        self.deadline = None;
        self.final_ack_at = now;
        match self.tsize {
            Some(announced) if announced != self.bytes => self.fail(
                Some(ack),
                TftpError::SizeMismatch {
                    announced,
                    received: self.bytes,
                },
            ),
            _ => {
                self.phase = Phase::Done;
                Action::Done(ack)
            }
        }
    }

    fn on_packet_after_done(
        &mut self,
        now: u64,
        from_port: u16,
        packet: Packet<'_>,
        out: &mut [u8],
    ) -> Action {
        let Packet::Data { block, .. } = packet else {
            return Action::Wait;
        };
        if block != self.received as u16 {
            return Action::Wait;
        }
        self.stats.duplicates += 1;
        // The server's timer resent the last block: our final ACK was lost, send it again.
        // A copy arriving sooner than our own shortest timeout is a network duplicate,
        // and ACKing it would be the Sorcerer's Apprentice bug again.
        if now.saturating_sub(self.final_ack_at) < self.options.initial_timeout_ms {
            return Action::Wait;
        }
        match wire::build_ack(out, block) {
            Ok(len) => {
                self.final_ack_at = now;
                self.stats.acks_sent += 1;
                Action::Send(Transmit {
                    len,
                    port: from_port,
                })
            }
            Err(_) => Action::Wait,
        }
    }

    // --- packets out, timers, failure ---

    /// ACKs the last in-order block and marks the start of the next window.
    fn ack_received(&mut self, out: &mut [u8]) -> Action {
        let port = self.server_tid.unwrap_or(self.options.server_port);
        match wire::build_ack(out, self.received as u16) {
            Ok(len) => {
                self.last_acked = self.received;
                self.stats.acks_sent += 1;
                Action::Send(Transmit { len, port })
            }
            Err(_) => self.fail(None, TftpError::BufferTooSmall),
        }
    }

    /// A packet from a port that is not the server's TID: tell that port (unless it
    /// sent an ERROR) and otherwise ignore it (RFC 1350 section 4).
    fn stray(&mut self, from_port: u16, bytes: &[u8], out: &mut [u8]) -> Action {
        self.stats.stray_packets += 1;
        if let Ok(Packet::Error { .. }) = Packet::parse(bytes) {
            return Action::Wait;
        }
        match self.error_packet(
            out,
            from_port,
            error_code::UNKNOWN_TRANSFER_ID,
            b"Unknown transfer ID",
        ) {
            Some(t) => Action::Send(t),
            None => Action::Wait,
        }
    }

    fn unexpected(&mut self, out: &mut [u8], from_port: u16, packet: Packet<'_>) -> Action {
        let op = match packet {
            Packet::Rrq(_) => wire::opcode::RRQ,
            Packet::Wrq(_) => wire::opcode::WRQ,
            Packet::Data { .. } => wire::opcode::DATA,
            Packet::Ack { .. } => wire::opcode::ACK,
            Packet::Error { .. } => wire::opcode::ERROR,
            Packet::Oack(_) => wire::opcode::OACK,
        };
        self.fail_replying(
            out,
            from_port,
            error_code::ILLEGAL_OPERATION,
            b"Illegal TFTP operation",
            TftpError::Protocol(ProtocolError::UnexpectedOpcode(op)),
        )
    }

    fn fail_sink(&mut self, out: &mut [u8], e: SinkError) -> Action {
        let port = self.server_tid.unwrap_or(self.options.server_port);
        let send = match e {
            SinkError::TooLarge { .. } => self.error_packet(
                out,
                port,
                error_code::DISK_FULL,
                b"File too large for destination",
            ),
            SinkError::Refused(reason) => {
                self.error_packet(out, port, error_code::NOT_DEFINED, reason.as_bytes())
            }
        };
        self.fail(send, TftpError::Sink(e))
    }

    fn fail_replying(
        &mut self,
        out: &mut [u8],
        port: u16,
        code: u16,
        message: &[u8],
        error: TftpError,
    ) -> Action {
        let send = self.error_packet(out, port, code, message);
        self.fail(send, error)
    }

    fn fail(&mut self, send: Option<Transmit>, error: TftpError) -> Action {
        self.phase = Phase::Failed(error);
        self.deadline = None;
        Action::Failed { send, error }
    }

    fn error_packet(
        &self,
        out: &mut [u8],
        port: u16,
        code: u16,
        message: &[u8],
    ) -> Option<Transmit> {
        let len = wire::build_error(out, code, message)
            .or_else(|_| wire::build_error(out, code, b""))
            .ok()?;
        Some(Transmit { len, port })
    }

    /// Progress was made (or a new phase began): short timeout, fresh retry budget.
    fn restart_timer(&mut self, now: u64) {
        self.retries = 0;
        self.timeout_ms = self.options.initial_timeout_ms;
        self.deadline = Some(now.saturating_add(self.timeout_ms));
    }

    /// A retransmission: double the timeout up to the cap and spend one retry.
    fn back_off(&mut self, now: u64) {
        self.retries += 1;
        self.stats.retransmissions += 1;
        self.timeout_ms = self
            .timeout_ms
            .saturating_mul(2)
            .min(self.options.max_timeout_ms);
        self.deadline = Some(now.saturating_add(self.timeout_ms));
    }
}

fn server_error(code: u16, message: &[u8]) -> TftpError {
    TftpError::Server {
        code,
        message: super::error::ErrorText::new(message),
    }
}

/// Parses an OACK value and checks `min <= value <= max`.
fn in_range(value: &[u8], min: u64, max: u64, option: OptionKind) -> Result<u64, TftpError> {
    let offered = wire::parse_decimal(value)
        .ok_or(TftpError::Protocol(ProtocolError::BadOptionValue(option)))?;
    if offered < min || offered > max {
        return Err(TftpError::OptionRejected {
            option,
            requested: max,
            offered,
        });
    }
    Ok(offered)
}
