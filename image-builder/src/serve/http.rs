//! The HTTP/1.1 server of `netloader serve`: GET and HEAD of the same files as TFTP, for any
//! client (netloader's HTTP client, iPXE, curl). Request heads are parsed by `httparse`;
//! the rest is small enough to keep here:
//! - persistent connections (HTTP/1.1 by default, HTTP/1.0 with `Connection: keep-alive`),
//!   pipelined requests answered in order;
//! - `Content-Length` on every response, the body streamed from the file, none for HEAD;
//! - 404 for what is not there (folders included: no listings), 405 with `Allow` for other
//!   methods, 400 for a malformed head or an HTTP/1.1 request without `Host`, 431 for a head
//!   over 16 KiB, 501 for a request body in a transfer coding, 505 for HTTP/2 and later;
//! - `Range` is ignored (RFC 9110 allows it): the whole file comes with 200.
//!
//! One thread per connection; an idle connection is closed after 60 s.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::files::{Files, OpenError, Opened};

/// The longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// The longest request body read (and thrown away: GET and HEAD need none).
const MAX_BODY: u64 = 64 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct HttpServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub port: u16,
}

impl HttpServer {
    pub fn start(listener: TcpListener, files: Arc<Files>) -> io::Result<HttpServer> {
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("http".into())
                .spawn(move || accept(listener, files, stop))?
        };
        Ok(HttpServer {
            stop,
            thread: Some(thread),
            port,
        })
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept(listener: TcpListener, files: Arc<Files>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let files = files.clone();
                let _ = std::thread::Builder::new()
                    .name("http-connection".into())
                    .spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
                        let _ = stream.set_nodelay(true);
                        let _ = connection(&stream, peer, &files);
                        lingering_close(&stream);
                    });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                println!("http: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// What a request asks for, once its head is read.
struct Request {
    method: String,
    path: String,
    /// HTTP/1.x minor version.
    minor: u8,
    keep_alive: bool,
    body_len: u64,
}

/// A failure that ends the connection after one response.
struct Refusal {
    status: u16,
    why: &'static str,
}

/// Close after the last response without losing it: a close with unread input resets the
/// connection, and the reset can overtake the response (RFC 9112 9.6). So stop sending, then
/// read what the client still sends, for a short while.
fn lingering_close(stream: &TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = io::copy(&mut stream.take(1 << 20), &mut io::sink());
}

/// Serve requests on one connection until it closes or asks to.
fn connection(stream: &TcpStream, peer: SocketAddr, files: &Files) -> io::Result<()> {
    let mut stream = stream;
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let head = match read_head(&mut stream, &mut buffer)? {
            Some(head_len) => head_len,
            None => return Ok(()), // closed between requests
        };
        let parsed = parse_head(&buffer[..head]);
        buffer.drain(..head);
        let request = match parsed {
            Ok(request) => request,
            Err(refusal) => {
                println!("http: {} bad request: {}", peer.ip(), refusal.why);
                respond_error(&mut stream, refusal.status, refusal.why, false, true)?;
                return Ok(());
            }
        };
        // GET and HEAD carry no body; one that comes anyway is read and dropped.
        if request.body_len > MAX_BODY {
            respond_error(&mut stream, 413, "request body too large", false, true)?;
            return Ok(());
        }
        skip_body(&mut stream, &mut buffer, request.body_len)?;
        let keep_alive = request.keep_alive;
        let head_only = request.method == "HEAD";
        if request.method != "GET" && !head_only {
            println!(
                "http: {} {} {}: 405",
                peer.ip(),
                request.method,
                request.path
            );
            respond_error(
                &mut stream,
                405,
                "only GET and HEAD are served",
                head_only,
                !keep_alive,
            )?;
        } else {
            match files.open(&request.path) {
                Ok(file) => {
                    respond_file(&mut stream, &file, head_only, &request)?;
                    println!(
                        "http: {} {} {}: 200, {} bytes",
                        peer.ip(),
                        request.method,
                        request.path,
                        if head_only { 0 } else { file.size }
                    );
                }
                Err(e) => {
                    println!(
                        "http: {} {} {}: {e}",
                        peer.ip(),
                        request.method,
                        request.path
                    );
                    let (status, why) = match e {
                        OpenError::Access(_) => (403, "the file cannot be read"),
                        OpenError::BadName | OpenError::NotFound => (404, "not found"),
                    };
                    respond_error(&mut stream, status, why, head_only, !keep_alive)?;
                }
            }
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Read until `buffer` holds a whole head; its length, or None when the peer closed with
/// nothing pending.
fn read_head(stream: &mut &TcpStream, buffer: &mut Vec<u8>) -> io::Result<Option<usize>> {
    loop {
        // Blank lines before a request are allowed (RFC 9112 2.2).
        while buffer.starts_with(b"\r\n") {
            buffer.drain(..2);
        }
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(end + 4));
        }
        if buffer.len() > MAX_HEAD {
            respond_error(stream, 431, "request head over 16 KiB", false, true)?;
            return Ok(None);
        }
        let mut chunk = [0u8; 4096];
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None); // idle too long
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn skip_body(stream: &mut &TcpStream, buffer: &mut Vec<u8>, len: u64) -> io::Result<()> {
    let buffered = (len as usize).min(buffer.len());
    buffer.drain(..buffered);
    let rest = len - buffered as u64;
    io::copy(&mut stream.take(rest), &mut io::sink())?;
    Ok(())
}

fn parse_head(head: &[u8]) -> Result<Request, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let bad = |why| Refusal { status: 400, why };
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad("incomplete request head")),
        Err(httparse::Error::Version) => {
            return Err(Refusal {
                status: 505,
                why: "only HTTP/1.0 and HTTP/1.1 are served",
            });
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal {
                status: 431,
                why: "more than 64 header fields",
            });
        }
        Err(_) => return Err(bad("malformed request head")),
    }
    let method = parsed.method.unwrap_or("").to_string();
    let target = parsed.path.unwrap_or("");
    let minor = parsed.version.unwrap_or(0);
    let mut host = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut body_len: Option<u64> = None;
    for header in parsed.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("");
        if header.name.eq_ignore_ascii_case("host") {
            host = true;
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive_token |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let len = value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|_| value.trim().bytes().all(|b| b.is_ascii_digit()))
                .ok_or(bad("invalid Content-Length"))?;
            if body_len.is_some_and(|l| l != len) {
                return Err(bad("conflicting Content-Length fields"));
            }
            body_len = Some(len);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal {
                status: 501,
                why: "request bodies in a transfer coding are not accepted",
            });
        }
    }
    if minor >= 1 && !host {
        return Err(bad("HTTP/1.1 request without Host"));
    }
    let path = request_path(target).ok_or(bad("the request target is not a path"))?;
    Ok(Request {
        method,
        path,
        minor,
        keep_alive: if minor >= 1 {
            !close
        } else {
            keep_alive_token && !close
        },
        body_len: body_len.unwrap_or(0),
    })
}

/// The file path of a request target: origin form (`/a/b?q`) or absolute form
/// (`http://host/a/b`), the query dropped, percent escapes decoded.
fn request_path(target: &str) -> Option<String> {
    let path = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("HTTP://"))
    {
        &rest[rest.find('/')?..]
    } else if target.starts_with('/') {
        target
    } else {
        return None; // "*" or authority form: not for files
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    percent_decode(path)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

fn head_lines(status: u16, len: u64, content_type: &str, close: bool) -> String {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nDate: {}\r\nServer: netloader/{}\r\nContent-Length: {len}\r\nContent-Type: {content_type}\r\n",
        reason(status),
        httpdate::fmt_http_date(SystemTime::now()),
        env!("CARGO_PKG_VERSION"),
    );
    if status == 405 {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head
}

fn respond_error(
    stream: &mut &TcpStream,
    status: u16,
    why: &str,
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    let body = format!("{status} {}: {why}\n", reason(status));
    let mut response = head_lines(
        status,
        body.len() as u64,
        "text/plain; charset=utf-8",
        close,
    );
    response.push_str("\r\n");
    if !head_only {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

fn respond_file(
    stream: &mut &TcpStream,
    file: &Opened,
    head_only: bool,
    request: &Request,
) -> io::Result<()> {
    let mut head = head_lines(
        200,
        file.size,
        "application/octet-stream",
        !request.keep_alive,
    );
    if request.minor == 0 && request.keep_alive {
        head.push_str("Connection: keep-alive\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if head_only {
        return stream.flush();
    }
    let mut chunk = vec![0u8; 64 * 1024];
    let mut offset = 0;
    while offset < file.size {
        let want = chunk.len().min((file.size - offset) as usize);
        let n = file.read_at(&mut chunk[..want], offset)?;
        if n == 0 {
            // The file shrank after its length went out: the client must not take the short
            // body for the file, so the connection ends here.
            return Err(io::Error::other("file changed during the transfer"));
        }
        stream.write_all(&chunk[..n])?;
        offset += n as u64;
    }
    stream.flush()
}

#[cfg(test)]
mod tests;
