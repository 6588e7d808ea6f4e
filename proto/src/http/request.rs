//! The request: `GET <path> HTTP/1.1`, `Host:`, nothing the server could misread.

use crate::url::Host;

/// Room for the longest request this writes: a 255-byte host, a path of up to ~1.9 KiB once
/// encoded, and the fixed lines.
pub const REQUEST_CAPACITY: usize = 2560;

/// The output buffer is too small for the request (an extremely long path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestTooLong;

struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), RequestTooLong> {
        let end = self.len + bytes.len();
        self.out
            .get_mut(self.len..end)
            .ok_or(RequestTooLong)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

impl core::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.bytes(s.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

/// May this byte stand in a request target as it is (RFC 3986: unreserved, sub-delims, `:`,
/// `@`, `/`, `?`, and `%` of an escape the user wrote)?
fn plain_in_target(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&byte)
}

/// Writes `GET <path> HTTP/1.1` with `Host:` (the port only when not 80) into `out`; returns
/// its length. Bytes a request line cannot carry (spaces, quotes, controls, non-ASCII, `#`)
/// are percent-encoded; everything else goes as written. HTTP/1.1 keeps the connection open
/// by default, so the files of one entry share it.
pub fn write_get(
    out: &mut [u8],
    host: Host<'_>,
    port: u16,
    path: &str,
) -> Result<usize, RequestTooLong> {
    use core::fmt::Write as _;
    let mut w = Writer { out, len: 0 };
    w.bytes(b"GET ")?;
    if !path.starts_with('/') {
        w.bytes(b"/")?;
    }
    for &byte in path.as_bytes() {
        if plain_in_target(byte) {
            w.bytes(&[byte])?;
        } else {
            write!(w, "%{byte:02X}").map_err(|_| RequestTooLong)?;
        }
    }
    write!(w, " HTTP/1.1\r\nHost: {host}").map_err(|_| RequestTooLong)?;
    if port != crate::url::HTTP_PORT {
        write!(w, ":{port}").map_err(|_| RequestTooLong)?;
    }
    w.bytes(b"\r\nUser-Agent: netloader\r\nAccept: */*\r\n\r\n")?;
    Ok(w.len)
}
