//! The response head: status line and headers, parsed by `httparse` (no_std, zero-copy), and
//! what they say about the body (RFC 9112 section 6.3).

/// How the body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// Content-Length (0 for 204 and 304).
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Neither: the body ends when the server closes the connection.
    UntilClose,
}

/// A parsed head; `location` borrows from the bytes it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head<'b> {
    pub status: u16,
    /// The reason phrase as sent (may be empty).
    pub reason: &'b str,
    pub body: BodyKind,
    /// The connection may carry the next request (HTTP/1.1 without `Connection: close`, and a
    /// body that does not end with the connection).
    pub keep_alive: bool,
    pub location: Option<&'b str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not an HTTP/1.x status line and headers (httparse's reason).
    Malformed(&'static str),
    /// More header lines than we keep.
    TooManyHeaders,
    /// Content-Length that is not a number, or several that differ.
    BadContentLength,
    /// A transfer coding other than chunked (gzip, ...), which we cannot undo.
    UnsupportedEncoding,
}

/// Header lines looked at per response; nginx and lighttpd send fewer than 10.
const MAX_HEADERS: usize = 32;

/// Parse the head at the start of `bytes`: `Ok(None)` while it is incomplete, else the head and
/// its length (the body starts there).
pub fn parse_head(bytes: &[u8]) -> Result<Option<(Head<'_>, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(error_text(e))),
    };
    let status = response.code.unwrap_or(0);
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut close = response.version != Some(1);
    let mut location = None;
    for header in response.headers.iter() {
        let value = core::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = parse_length(value).ok_or(HeadError::BadContentLength)?;
            if content_length.is_some_and(|l| l != parsed) {
                return Err(HeadError::BadContentLength);
            }
            content_length = Some(parsed);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only "chunked" (alone, or after "identity") can be undone here.
            for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if coding.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                } else if !coding.eq_ignore_ascii_case("identity") {
                    return Err(HeadError::UnsupportedEncoding);
                }
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            if value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
            {
                close = true;
            } else if value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("keep-alive"))
            {
                close = false;
            }
        } else if header.name.eq_ignore_ascii_case("location") {
            location = Some(value).filter(|v| !v.is_empty());
        }
    }
    let body = if status == 204 || status == 304 || (100..200).contains(&status) {
        BodyKind::Length(0)
    } else if chunked {
        // Transfer-Encoding wins over Content-Length (RFC 9112 6.3); such a response cannot
        // be trusted to leave the connection clean.
        if content_length.is_some() {
            close = true;
        }
        BodyKind::Chunked
    } else {
        content_length.map_or(BodyKind::UntilClose, BodyKind::Length)
    };
    let head = Head {
        status,
        reason: response.reason.unwrap_or(""),
        body,
        keep_alive: !close && body != BodyKind::UntilClose,
        location,
    };
    Ok(Some((head, len)))
}

fn parse_length(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn error_text(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "bad header name",
        httparse::Error::HeaderValue => "bad header value",
        httparse::Error::NewLine => "bad line ending",
        httparse::Error::Status => "bad status code",
        httparse::Error::Token => "bad token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "not HTTP/1.x",
    }
}
