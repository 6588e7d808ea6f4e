//! TFTP (RFC 1350 + 2347/2348/2349/7440): packets and the client state machine.
//!
//! - [`wire`]: parse and build RRQ, DATA, ACK, ERROR and OACK packets.
//! - [`TftpClient`]: a sans-IO read client with option negotiation, windows, loss
//!   recovery by short timers and gap ACKs, and no ACK for duplicates (RFC 1123 4.2.3.1).
//! - [`Sink`]: where the caller wants the bytes (and a place to refuse a file too large).

mod client;
mod error;
mod sink;
pub mod wire;

#[cfg(test)]
mod client_tests;

pub use client::{
    Action, MAX_FILENAME_LEN, Options, Stats, Status, TFTP_PORT, TX_BUFFER_LEN, TftpClient,
    Transmit,
};
pub use error::{ERROR_TEXT_CAPACITY, ErrorText, OptionKind, ProtocolError, SinkError, TftpError};
pub use sink::{Sink, SliceSink};
