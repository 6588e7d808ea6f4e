//! HTTP/1.1 downloads over smoltcp's TCP: the connection (kept open across the files of one
//! entry while the server allows it), the request, and the response fed to netloader_proto's
//! sans-IO `Exchange`, which writes the body straight into the file's `Sink`.
//!
//! The receive window lives in upper memory (the first part of [`super::areas`]):
//! conventional memory has no room for it (the runtime must end below 0x90000), and a window
//! larger than 64 KiB turns on window scaling in smoltcp by itself. The boot code keeps files
//! out of that area.
// No allocator: a failure is a value with its URL or name in it (a few hundred bytes, on a
// 120 KiB stack), returned along the one path it takes.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use core::fmt::Write as _;
use core::ptr::addr_of_mut;

use netloader_proto::http::{self, Event, Exchange, HttpError, MAX_REDIRECTS, UrlText};
use netloader_proto::tftp::Sink;
use netloader_proto::url::Url;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::wire::IpEndpoint;

use super::{FetchError, Lease, Net, Progress};
use crate::{println, time};

const TX_BYTES: usize = 4 * 1024;
/// No answer to the connection request (SYN) in this long: give up.
const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// No byte of the response in this long: give up. TCP retransmits on its own meanwhile.
const IDLE_TIMEOUT_MS: u64 = 10_000;

static mut TX_DATA: [u8; TX_BYTES] = [0; TX_BYTES];
static mut REQUEST: [u8; http::REQUEST_CAPACITY] = [0; http::REQUEST_CAPACITY];

/// The open connection, if any.
#[derive(Default)]
pub(super) struct Connection {
    socket: Option<SocketHandle>,
    /// Where it goes, while it may carry another request.
    open_to: Option<IpEndpoint>,
}

/// Why one request on one connection ended without a body.
enum Failure {
    /// The server took the connection down before answering (a kept-alive connection it had
    /// closed meanwhile): send the request again on a new one.
    Stale,
    Fatal(FetchError),
}

enum Answer {
    Body,
    Redirect(UrlText),
}

impl Net<'_> {
    /// GET `url` into `sink`, following redirects.
    pub(super) fn http_get(
        &mut self,
        url: Url<'_>,
        lease: &Lease,
        sink: &mut dyn Sink,
    ) -> Result<(), FetchError> {
        let mut current = UrlText::new();
        let _ = write!(current, "{url}");
        let mut redirects = 0;
        loop {
            let fail = |error| FetchError::http(&current, error);
            let url = Url::parse(&current)
                .map_err(|e| fail(HttpError::Redirect(http::RedirectError::BadLocation(e))))?;
            let address = self.address_of(url.host, lease)?;
            let endpoint = IpEndpoint::new(address.into(), url.port);
            let mut exchange = Exchange::new();
            let started = time::now_us();
            match self.exchange(&url, endpoint, &mut exchange, sink, started)? {
                Answer::Body => return Ok(()),
                Answer::Redirect(location) => {
                    if redirects == MAX_REDIRECTS {
                        return Err(fail(HttpError::Redirect(http::RedirectError::TooMany)));
                    }
                    redirects += 1;
                    let mut next = UrlText::new();
                    http::redirect_target(&url, &location, &mut next)
                        .map_err(|e| fail(HttpError::Redirect(e)))?;
                    println!("http: {current} redirects to {next}");
                    current = next;
                }
            }
        }
    }

    /// One request, sent again once on a new connection when a kept-alive one turns out to
    /// be closed.
    fn exchange(
        &mut self,
        url: &Url<'_>,
        endpoint: IpEndpoint,
        exchange: &mut Exchange,
        sink: &mut dyn Sink,
        started_us: u64,
    ) -> Result<Answer, FetchError> {
        let reused = self.connect(url, endpoint)?;
        match self.request(url, exchange, sink, reused, started_us) {
            Ok(answer) => Ok(answer),
            Err(Failure::Stale) => {
                println!(
                    "http: the kept-alive connection to {endpoint} was closed; connecting again"
                );
                self.connect(url, endpoint)?;
                match self.request(url, exchange, sink, false, started_us) {
                    Ok(answer) => Ok(answer),
                    Err(Failure::Stale) => Err(FetchError::http_url(url, HttpError::NoResponse)),
                    Err(Failure::Fatal(e)) => Err(e),
                }
            }
            Err(Failure::Fatal(e)) => Err(e),
        }
    }

    fn tcp(&mut self) -> &mut tcp::Socket<'static> {
        let handle = self.tcp_socket();
        self.sockets.get_mut::<tcp::Socket>(handle)
    }

    /// The TCP socket, made on first use (its receive window is the upper-memory area).
    fn tcp_socket(&mut self) -> SocketHandle {
        if let Some(handle) = self.http.socket {
            return handle;
        }
        let area = self.tcp_window.clone();
        // SAFETY: `area` is RAM (from the memory map) that the boot code reserves for this
        // window (boot::Layout leaves it out of every placement), identity-mapped; it is
        // borrowed here once, for the rest of the run. TX_DATA is touched nowhere else.
        let (rx, tx) = unsafe {
            (
                core::slice::from_raw_parts_mut(
                    area.start as *mut u8,
                    (area.end - area.start) as usize,
                ),
                &mut (&mut *addr_of_mut!(TX_DATA))[..],
            )
        };
        let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        socket.set_nagle_enabled(false);
        let handle = self.sockets.add(socket);
        self.http.socket = Some(handle);
        handle
    }

    /// Make sure a connection to `endpoint` is open: the kept-alive one (true), or a new one.
    fn connect(&mut self, url: &Url<'_>, endpoint: IpEndpoint) -> Result<bool, FetchError> {
        if self.http.open_to == Some(endpoint) {
            let socket = self.tcp();
            if socket.state() == tcp::State::Established && socket.recv_queue() == 0 {
                return Ok(true);
            }
        }
        self.drop_connection();
        let port = self.ephemeral_port();
        let handle = self.tcp_socket();
        let context = self.iface.context();
        let socket = self.sockets.get_mut::<tcp::Socket>(handle);
        if socket.connect(context, endpoint, port).is_err() {
            return Err(FetchError::http_url(url, HttpError::NoResponse));
        }
        let start = time::now_ms();
        loop {
            self.poll();
            match self.tcp().state() {
                tcp::State::Established => break,
                tcp::State::SynSent | tcp::State::SynReceived => {}
                // A reset answered the SYN: nothing listens there.
                _ => return Err(FetchError::Refused { url: text_of(url) }),
            }
            if time::now_ms() - start > CONNECT_TIMEOUT_MS {
                self.drop_connection();
                return Err(FetchError::Timeout {
                    url: text_of(url),
                    connecting: true,
                    waited_s: CONNECT_TIMEOUT_MS / 1000,
                });
            }
        }
        self.http.open_to = Some(endpoint);
        Ok(false)
    }

    /// Abort the connection (a reset to the server) and let the reset leave.
    fn drop_connection(&mut self) {
        self.http.open_to = None;
        if self.http.socket.is_some() {
            let socket = self.tcp();
            if socket.state() != tcp::State::Closed {
                socket.abort();
                self.poll();
            }
        }
    }

    fn request(
        &mut self,
        url: &Url<'_>,
        exchange: &mut Exchange,
        sink: &mut dyn Sink,
        reused: bool,
        started_us: u64,
    ) -> Result<Answer, Failure> {
        let fatal = |error| Failure::Fatal(FetchError::http_url(url, error));
        // SAFETY: REQUEST is used only here, one request at a time.
        let out = unsafe { &mut *addr_of_mut!(REQUEST) };
        let Ok(len) = http::write_get(out, url.host, url.port, url.path) else {
            return Err(fatal(HttpError::Redirect(http::RedirectError::TooLong)));
        };
        if self.tcp().send_slice(&out[..len]) != Ok(len) {
            return Err(Failure::Stale);
        }
        let name = text_of(url);
        let mut progress = Progress::new("http", &name, started_us);
        let mut seen = (false, 0);
        let mut last_progress_ms = time::now_ms();
        let outcome = 'transfer: loop {
            self.poll();
            // Everything already received, in as many pieces as the ring buffer holds it.
            let mut event = Event::More;
            while event == Event::More && self.tcp().recv_queue() > 0 {
                let step = self
                    .tcp()
                    .recv(|bytes| match exchange.on_bytes(bytes, sink) {
                        Ok((used, event)) => (used, Ok(event)),
                        Err(e) => (bytes.len(), Err(e)),
                    });
                event = match step {
                    Ok(Ok(event)) => event,
                    Ok(Err(e)) => break 'transfer Err(fatal(e)),
                    Err(_) => break,
                };
            }
            if event == Event::More && !self.tcp().may_recv() {
                let closed_by_reset = self.tcp().state() == tcp::State::Closed;
                if reused && !exchange.has_started() {
                    break Err(Failure::Stale);
                }
                if closed_by_reset {
                    break Err(Failure::Fatal(FetchError::Reset {
                        url: text_of(url),
                        received: exchange.stats().received,
                    }));
                }
                // FIN: the server has said all it will.
                event = match exchange.on_close() {
                    Ok(event) => event,
                    Err(e) => break Err(fatal(e)),
                };
            }
            match event {
                Event::More => {}
                Event::Done { keep_alive } => {
                    // Bytes beyond the body already here: no request asked for them.
                    if self.tcp().recv_queue() > 0 {
                        let stats = exchange.stats();
                        let announced = stats.announced.unwrap_or(stats.received);
                        break Err(fatal(HttpError::BodyLong { announced }));
                    }
                    if !keep_alive {
                        self.drop_connection();
                    }
                    break Ok(Answer::Body);
                }
                Event::Redirect => {
                    let mut location = UrlText::new();
                    let _ = location.push_str(exchange.location().unwrap_or(""));
                    self.drop_connection();
                    break Ok(Answer::Redirect(location));
                }
            }
            let stats = exchange.stats();
            let now_ms = time::now_ms();
            if (exchange.has_started(), stats.received) != seen {
                seen = (exchange.has_started(), stats.received);
                last_progress_ms = now_ms;
            } else if now_ms - last_progress_ms > IDLE_TIMEOUT_MS {
                break Err(Failure::Fatal(FetchError::Timeout {
                    url: text_of(url),
                    connecting: false,
                    waited_s: IDLE_TIMEOUT_MS / 1000,
                }));
            }
            progress.update(stats.received, stats.announced, false);
        };
        let stats = exchange.stats();
        match &outcome {
            Ok(Answer::Body) => {
                progress.update(stats.received, stats.announced, true);
                let elapsed_us = (time::now_us() - started_us).max(1);
                let kbs = stats.received * 1_000_000 / elapsed_us / 1000;
                let framing = if stats.chunked {
                    "chunked"
                } else if stats.announced.is_some() {
                    "content-length"
                } else {
                    "until close"
                };
                println!(
                    "\nhttp: {name} done: {} bytes in {}.{:03} s, {}.{:03} MB/s, HTTP {}, {framing}, {} connection",
                    stats.received,
                    elapsed_us / 1_000_000,
                    elapsed_us / 1000 % 1000,
                    kbs / 1000,
                    kbs % 1000,
                    stats.status,
                    if reused { "kept-alive" } else { "new" },
                );
            }
            Ok(Answer::Redirect(_)) => {}
            Err(_) => {
                self.drop_connection();
                progress.end_line();
            }
        }
        outcome
    }
}

fn text_of(url: &Url<'_>) -> UrlText {
    let mut text = UrlText::new();
    let _ = write!(text, "{url}");
    text
}

impl FetchError {
    fn http(url: &str, error: HttpError) -> FetchError {
        let mut text = UrlText::new();
        let _ = text.push_str(url);
        FetchError::Http { url: text, error }
    }

    fn http_url(url: &Url<'_>, error: HttpError) -> FetchError {
        FetchError::Http {
            url: text_of(url),
            error,
        }
    }
}
