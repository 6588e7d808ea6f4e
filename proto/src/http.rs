//! HTTP/1.1 GET for boot files, sans-IO: the runtime owns the TCP connection and the clock,
//! this module turns bytes into decisions.
//!
//! - [`write_get`]: the request (`GET path HTTP/1.1`, `Host:`), keep-alive by default.
//! - [`Exchange`]: one response on a connection: the head (parsed by `httparse`), then the
//!   body into a [`Sink`](crate::tftp::Sink), framed by Content-Length, chunked transfer
//!   coding ([`ChunkedDecoder`]) or the end of the connection; a body longer or shorter than
//!   announced is an error, a redirect is reported with its `Location`.
//! - [`redirect_target`]: where a redirect points, same scheme only, at most
//!   [`MAX_REDIRECTS`] in a row.

mod chunked;
mod client;
mod error;
mod redirect;
mod request;
mod response;

#[cfg(test)]
mod tests;

pub use chunked::{ChunkError, ChunkedDecoder};
pub use client::{Event, Exchange, HEAD_CAPACITY, Stats};
pub use error::{HttpError, ReasonText};
pub use redirect::{MAX_REDIRECTS, RedirectError, UrlText, redirect_target};
pub use request::{REQUEST_CAPACITY, RequestTooLong, write_get};
pub use response::{BodyKind, Head, HeadError, parse_head};
