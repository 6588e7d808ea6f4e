//! One response on a connection, sans-IO: bytes in (as TCP delivers them, in any pieces),
//! body bytes out to a [`Sink`], in order.
//!
//! ```text
//! let len = write_get(&mut out, host, port, path)?;   // send out[..len]
//! let mut exchange = Exchange::new();
//! loop {
//!     // bytes from the connection:
//!     let (consumed, event) = exchange.on_bytes(bytes, &mut sink)?;
//!     // the server closed its side (FIN):
//!     let event = exchange.on_close()?;
//!     match event { More => {}, Done { keep_alive } => break, Redirect => exchange.location() }
//! }
//! ```

use super::chunked::ChunkedDecoder;
use super::error::{HttpError, ReasonText};
use super::redirect::{RedirectError, is_redirect};
use super::response::{BodyKind, parse_head};
use crate::tftp::Sink;

/// The longest response head kept (status line and headers); nginx sends ~250 bytes.
pub const HEAD_CAPACITY: usize = 4096;

/// What the caller does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Keep reading.
    More,
    /// The whole body is in the sink. With `keep_alive` the connection may carry the next
    /// request; otherwise close it.
    Done { keep_alive: bool },
    /// A redirect: follow [`Exchange::location`] on a new exchange (this connection is not
    /// reused: its body was not read).
    Redirect,
}

/// For the progress line and the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub status: u16,
    /// Content-Length, when the server sent one.
    pub announced: Option<u64>,
    /// Body bytes written to the sink.
    pub received: u64,
    pub chunked: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Head,
    Body(BodyKind),
    Done { keep_alive: bool },
    Redirect,
    Failed,
}

#[derive(Clone, Debug)]
pub struct Exchange {
    head: [u8; HEAD_CAPACITY],
    head_len: usize,
    phase: Phase,
    keep_alive: bool,
    decoder: ChunkedDecoder,
    location: core::ops::Range<usize>,
    stats: Stats,
}

impl Default for Exchange {
    fn default() -> Self {
        Self::new()
    }
}

impl Exchange {
    pub fn new() -> Self {
        Exchange {
            head: [0; HEAD_CAPACITY],
            head_len: 0,
            phase: Phase::Head,
            keep_alive: false,
            decoder: ChunkedDecoder::new(),
            location: 0..0,
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Has any byte of the response arrived? (A kept-alive connection the server had closed
    /// fails before that; the request can be sent again on a new one.)
    pub fn has_started(&self) -> bool {
        self.head_len > 0 || self.phase != Phase::Head
    }

    /// The redirect's target as sent, after [`Event::Redirect`].
    pub fn location(&self) -> Option<&str> {
        if self.phase != Phase::Redirect {
            return None;
        }
        let bytes = self.head.get(self.location.clone())?;
        core::str::from_utf8(bytes).ok()
    }

    /// Takes bytes from the connection. Returns how many were used and what to do next; all
    /// of `input` is used unless the event is `Redirect` (the rest is the redirect's body,
    /// which nobody reads). Bytes after the end of the body are an error
    /// ([`HttpError::BodyLong`]): no request was sent that they could answer.
    pub fn on_bytes<S: Sink + ?Sized>(
        &mut self,
        input: &[u8],
        sink: &mut S,
    ) -> Result<(usize, Event), HttpError> {
        let result = self.step(input, sink);
        if result.is_err() {
            self.phase = Phase::Failed;
        }
        result
    }

    /// The server closed its side of the connection (no more bytes will come).
    pub fn on_close(&mut self) -> Result<Event, HttpError> {
        let received = self.stats.received;
        let result = match self.phase {
            Phase::Head if self.head_len == 0 => Err(HttpError::NoResponse),
            Phase::Head => Err(HttpError::BadHead(super::HeadError::Malformed(
                "the connection closed inside the head",
            ))),
            Phase::Body(BodyKind::UntilClose) => {
                self.phase = Phase::Done { keep_alive: false };
                Ok(Event::Done { keep_alive: false })
            }
            Phase::Body(BodyKind::Length(n)) => Err(HttpError::BodyShort {
                announced: Some(n),
                received,
            }),
            Phase::Body(BodyKind::Chunked) => Err(HttpError::BodyShort {
                announced: None,
                received,
            }),
            Phase::Done { .. } => Ok(Event::Done { keep_alive: false }),
            Phase::Redirect => Ok(Event::Redirect),
            Phase::Failed => Err(HttpError::NoResponse),
        };
        if result.is_err() {
            self.phase = Phase::Failed;
        }
        result
    }

    fn step<S: Sink + ?Sized>(
        &mut self,
        input: &[u8],
        sink: &mut S,
    ) -> Result<(usize, Event), HttpError> {
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or(&[]);
            match self.phase {
                Phase::Head => {
                    let Some((consumed, next)) = self.take_head(rest, sink)? else {
                        return Ok((input.len(), Event::More));
                    };
                    used += consumed;
                    if next == Event::Redirect {
                        return Ok((used, Event::Redirect));
                    }
                }
                Phase::Body(kind) => {
                    if rest.is_empty() {
                        return Ok((used, Event::More));
                    }
                    used += self.take_body(kind, rest, sink)?;
                }
                Phase::Done { keep_alive } => {
                    if !rest.is_empty() {
                        return Err(HttpError::BodyLong {
                            announced: self.stats.announced.unwrap_or(self.stats.received),
                        });
                    }
                    return Ok((used, Event::Done { keep_alive }));
                }
                Phase::Redirect => return Ok((used, Event::Redirect)),
                Phase::Failed => return Err(HttpError::NoResponse),
            }
        }
    }

    /// Adds bytes to the head; once it is complete, acts on it and returns how many bytes of
    /// `input` it took. None: all of `input` went into an incomplete head.
    fn take_head<S: Sink + ?Sized>(
        &mut self,
        input: &[u8],
        sink: &mut S,
    ) -> Result<Option<(usize, Event)>, HttpError> {
        let before = self.head_len;
        let room = HEAD_CAPACITY - before;
        let take = input.len().min(room);
        self.head[before..before + take].copy_from_slice(&input[..take]);
        self.head_len += take;
        let parsed = parse_head(&self.head[..self.head_len]).map_err(HttpError::BadHead)?;
        let Some((head, len)) = parsed else {
            if self.head_len == HEAD_CAPACITY {
                return Err(HttpError::HeadTooLarge);
            }
            return Ok(None);
        };
        let consumed = len - before;
        self.stats.status = head.status;
        if (100..200).contains(&head.status) {
            // An interim answer (100 Continue, 103 Early Hints): the real one follows.
            self.head_len = 0;
            return Ok(Some((consumed, Event::More)));
        }
        if is_redirect(head.status) {
            let Some(location) = head.location else {
                return Err(HttpError::Redirect(RedirectError::NoLocation {
                    status: head.status,
                }));
            };
            let start = location.as_ptr() as usize - self.head.as_ptr() as usize;
            self.location = start..start + location.len();
            self.phase = Phase::Redirect;
            return Ok(Some((consumed, Event::Redirect)));
        }
        if head.status == 404 || head.status == 410 {
            return Err(HttpError::NotFound {
                status: head.status,
            });
        }
        if !(200..300).contains(&head.status) {
            let mut reason = ReasonText::new();
            for c in head.reason.chars() {
                if reason.push(c).is_err() {
                    break;
                }
            }
            return Err(HttpError::Status {
                status: head.status,
                reason,
            });
        }
        self.keep_alive = head.keep_alive;
        match head.body {
            BodyKind::Length(n) => {
                self.stats.announced = Some(n);
                sink.size_hint(n).map_err(HttpError::Sink)?;
                self.phase = if n == 0 {
                    Phase::Done {
                        keep_alive: self.keep_alive,
                    }
                } else {
                    Phase::Body(head.body)
                };
            }
            BodyKind::Chunked => {
                self.stats.chunked = true;
                self.phase = Phase::Body(head.body);
            }
            BodyKind::UntilClose => self.phase = Phase::Body(head.body),
        }
        Ok(Some((consumed, Event::More)))
    }

    /// Body bytes to the sink; returns how many of `input` were used (all but what follows
    /// the end of the body).
    fn take_body<S: Sink + ?Sized>(
        &mut self,
        kind: BodyKind,
        input: &[u8],
        sink: &mut S,
    ) -> Result<usize, HttpError> {
        match kind {
            BodyKind::Length(n) => {
                let left = n - self.stats.received;
                let take = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                self.write(sink, &input[..take])?;
                if self.stats.received == n {
                    self.phase = Phase::Done {
                        keep_alive: self.keep_alive,
                    };
                }
                Ok(take)
            }
            BodyKind::Chunked => {
                let (consumed, data) = self.decoder.decode(input).map_err(HttpError::BadChunk)?;
                self.write(sink, data)?;
                if self.decoder.is_done() {
                    self.phase = Phase::Done {
                        keep_alive: self.keep_alive,
                    };
                }
                Ok(consumed)
            }
            BodyKind::UntilClose => {
                self.write(sink, input)?;
                Ok(input.len())
            }
        }
    }

    fn write<S: Sink + ?Sized>(&mut self, sink: &mut S, data: &[u8]) -> Result<(), HttpError> {
        if data.is_empty() {
            return Ok(());
        }
        sink.write_at(self.stats.received, data)
            .map_err(HttpError::Sink)?;
        self.stats.received += data.len() as u64;
        Ok(())
    }
}
