//! Why an HTTP download failed, as far as the bytes tell (the runtime adds the connection's
//! own failures: refused, reset, timeout, DNS).

use core::fmt;

use super::chunked::ChunkError;
use super::redirect::RedirectError;
use super::response::HeadError;
use crate::tftp::SinkError;

/// The start of a reason phrase, for the report.
pub type ReasonText = heapless::String<40>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// 404 or 410.
    NotFound {
        status: u16,
    },
    /// Any other status that is neither success nor a redirect we follow.
    Status {
        status: u16,
        reason: ReasonText,
    },
    /// The head is not HTTP, or says something we cannot follow.
    BadHead(HeadError),
    /// The head did not end within [`super::HEAD_CAPACITY`] bytes.
    HeadTooLarge,
    BadChunk(ChunkError),
    /// The connection closed before the body's end (`announced` is None for chunked bodies).
    BodyShort {
        announced: Option<u64>,
        received: u64,
    },
    /// Bytes came after the announced end of the body.
    BodyLong {
        announced: u64,
    },
    /// The connection closed before any response.
    NoResponse,
    Redirect(RedirectError),
    Sink(SinkError),
}

impl HttpError {
    /// The stable code of the one-line report.
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::NotFound { .. } => "E-HTTP-NOTFOUND",
            HttpError::Status { .. } => "E-HTTP-STATUS",
            HttpError::BadHead(_)
            | HttpError::HeadTooLarge
            | HttpError::BadChunk(_)
            | HttpError::NoResponse => "E-HTTP-BADRESPONSE",
            HttpError::BodyShort { .. } => "E-HTTP-SHORT",
            HttpError::BodyLong { .. } => "E-HTTP-LONG",
            HttpError::Redirect(_) => "E-HTTP-REDIRECT",
            HttpError::Sink(SinkError::TooLarge { .. }) => "E-HTTP-TOOBIG",
            HttpError::Sink(_) => "E-HTTP-SINK",
        }
    }
}

/// What happened, without the code (the runtime writes `CODE: URL: this: what to check`).
impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::NotFound { status } => write!(f, "not found (HTTP {status})"),
            HttpError::Status { status, reason } => {
                write!(f, "the server answered HTTP {status} {reason}")
            }
            HttpError::BadHead(HeadError::Malformed(why)) => {
                write!(f, "not an HTTP response ({why})")
            }
            HttpError::BadHead(HeadError::TooManyHeaders) => {
                f.write_str("the response has too many header lines")
            }
            HttpError::BadHead(HeadError::BadContentLength) => {
                f.write_str("the response has a bad Content-Length")
            }
            HttpError::BadHead(HeadError::UnsupportedEncoding) => {
                f.write_str("the response uses a transfer coding other than chunked")
            }
            HttpError::HeadTooLarge => write!(
                f,
                "the response head is longer than {} bytes",
                super::HEAD_CAPACITY
            ),
            HttpError::BadChunk(e) => write!(f, "bad chunked body ({e:?})"),
            HttpError::BodyShort {
                announced: Some(n),
                received,
            } => write!(
                f,
                "the connection closed after {received} of the {n} bytes announced"
            ),
            HttpError::BodyShort {
                announced: None,
                received,
            } => write!(
                f,
                "the connection closed after {received} bytes, before the last chunk"
            ),
            HttpError::BodyLong { announced } => write!(
                f,
                "the server sent more than the {announced} bytes it announced"
            ),
            HttpError::NoResponse => f.write_str("the connection closed before a response"),
            HttpError::Redirect(e) => write!(f, "{e}"),
            HttpError::Sink(SinkError::TooLarge { needed, capacity }) => write!(
                f,
                "the file needs {needed} bytes, only {capacity} are free for it"
            ),
            HttpError::Sink(SinkError::Refused(why)) => write!(f, "refused: {why}"),
        }
    }
}
