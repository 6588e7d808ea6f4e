//! Host tests of the HTTP parts: examples, then properties over seeded random splits and
//! bytes (every response delivered in random pieces gives the same body; garbage never
//! panics).

use std::string::String;
use std::vec::Vec;

use super::*;
use crate::test_rng::Rng;
use crate::tftp::{SinkError, SliceSink};
use crate::url::{Host, Url};

fn request(host: Host<'_>, port: u16, path: &str) -> String {
    let mut out = [0u8; REQUEST_CAPACITY];
    let len = write_get(&mut out, host, port, path).unwrap();
    String::from_utf8(out[..len].to_vec()).unwrap()
}

#[test]
fn request_line_and_host() {
    assert_eq!(
        request(Host::Ipv4([10, 0, 0, 9]), 80, "/boot/kernel"),
        "GET /boot/kernel HTTP/1.1\r\nHost: 10.0.0.9\r\nUser-Agent: netloader\r\nAccept: */*\r\n\r\n"
    );
    let text = request(Host::Name("boot.test"), 8080, "/my kernel\"#1?a=b%20c");
    assert!(
        text.starts_with("GET /my%20kernel%22%231?a=b%20c HTTP/1.1\r\nHost: boot.test:8080\r\n")
    );
    assert!(request(Host::Name("h"), 80, "é").starts_with("GET /%C3%A9 "));
    let mut small = [0u8; 20];
    assert_eq!(
        write_get(&mut small, Host::Name("h"), 80, "/k"),
        Err(RequestTooLong)
    );
}

fn head(text: &str) -> Result<Option<(Head<'_>, usize)>, HeadError> {
    parse_head(text.as_bytes())
}

#[test]
fn heads() {
    let (h, len) = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nbody")
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.status, h.body, h.keep_alive, len),
        (200, BodyKind::Length(12), true, 39)
    );
    let (h, _) = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((h.body, h.keep_alive), (BodyKind::Chunked, false));
    let (h, _) = head("HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
    assert_eq!((h.body, h.keep_alive), (BodyKind::UntilClose, false));
    let (h, _) = head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.keep_alive);
    let (h, _) = head("HTTP/1.1 302 Found\r\nLocation:  /x/y \r\nContent-Length: 5\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((h.status, h.location), (302, Some("/x/y")));
    let (h, _) = head("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.body, BodyKind::Length(0));
    let (h, _) = head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((h.body, h.keep_alive), (BodyKind::Chunked, false));
    assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Len"), Ok(None));
    assert_eq!(
        head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        Err(HeadError::BadContentLength)
    );
    assert_eq!(
        head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
        Err(HeadError::BadContentLength)
    );
    assert_eq!(
        head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        Err(HeadError::UnsupportedEncoding)
    );
    assert!(matches!(
        head("SSH-2.0-OpenSSH\r\n\r\n"),
        Err(HeadError::Malformed(_))
    ));
}

/// `body` in chunks of the sizes `rng` picks, with extensions and a trailer now and then.
fn chunked(body: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let size = (1 + rng.index(3000)).min(body.len() - at);
        let digits = if rng.below(2) == 0 {
            std::format!("{size:x}")
        } else {
            std::format!("{size:X}")
        };
        out.extend_from_slice(digits.as_bytes());
        if rng.below(4) == 0 {
            out.extend_from_slice(b";name=\"va;lue\"");
        }
        out.extend_from_slice(if rng.below(8) == 0 { b"\n" } else { b"\r\n" });
        out.extend_from_slice(&body[at..at + size]);
        out.extend_from_slice(b"\r\n");
        at += size;
    }
    out.extend_from_slice(b"0\r\n");
    if rng.below(2) == 0 {
        out.extend_from_slice(b"X-Trailer: 1\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Feed `input` to `exchange` in random pieces; returns the last event.
fn feed(
    exchange: &mut Exchange,
    input: &[u8],
    sink: &mut SliceSink<'_>,
    rng: &mut Rng,
) -> Result<Event, HttpError> {
    let mut at = 0;
    let mut event = Event::More;
    while at < input.len() {
        let piece = (1 + rng.index(2000)).min(input.len() - at);
        let (used, e) = exchange.on_bytes(&input[at..at + piece], sink)?;
        event = e;
        if e == Event::Redirect {
            return Ok(e);
        }
        assert_eq!(used, piece, "all bytes used");
        at += piece;
    }
    Ok(event)
}

fn random_body(rng: &mut Rng) -> Vec<u8> {
    let len = rng.index(20_000);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn every_framing_in_random_pieces_gives_the_body() {
    let mut rng = Rng::new(0x4854_5450);
    for round in 0..600 {
        let body = random_body(&mut rng);
        let (head, framed) = match round % 3 {
            0 => (
                std::format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()),
                body.clone(),
            ),
            1 => (
                String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
                chunked(&body, &mut rng),
            ),
            _ => (
                String::from("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"),
                body.clone(),
            ),
        };
        let interim = if rng.below(5) == 0 {
            "HTTP/1.1 100 Continue\r\n\r\n"
        } else {
            ""
        };
        let mut input = Vec::from(interim.as_bytes());
        input.extend_from_slice(head.as_bytes());
        input.extend_from_slice(&framed);
        let mut buf = std::vec![0u8; 20_000];
        let mut sink = SliceSink::new(&mut buf);
        let mut exchange = Exchange::new();
        let mut event = feed(&mut exchange, &input, &mut sink, &mut rng).unwrap();
        if round % 3 == 2 {
            assert_eq!(event, Event::More);
            event = exchange.on_close().unwrap();
            assert_eq!(event, Event::Done { keep_alive: false });
        } else {
            assert_eq!(event, Event::Done { keep_alive: true }, "round {round}");
        }
        assert_eq!(sink.data(), &body[..]);
        assert_eq!(exchange.stats().received, body.len() as u64);
    }
}

fn run(response: &[u8]) -> (Result<Event, HttpError>, Vec<u8>) {
    let mut buf = std::vec![0u8; 1000];
    let mut sink = SliceSink::new(&mut buf);
    let mut exchange = Exchange::new();
    let result = exchange
        .on_bytes(response, &mut sink)
        .and_then(|(_, event)| match event {
            Event::More => exchange.on_close(),
            e => Ok(e),
        });
    let data = sink.data().to_vec();
    (result, data)
}

#[test]
fn short_long_and_status_errors() {
    let (r, data) = run(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
    assert_eq!(
        r,
        Err(HttpError::BodyShort {
            announced: Some(10),
            received: 5
        })
    );
    assert_eq!(data, b"12345");
    let (r, _) = run(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n12345");
    assert_eq!(r, Err(HttpError::BodyLong { announced: 3 }));
    let (r, _) = run(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n");
    assert_eq!(
        r,
        Err(HttpError::BodyShort {
            announced: None,
            received: 5
        })
    );
    let (r, _) = run(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    assert_eq!(r, Err(HttpError::BadChunk(ChunkError::BadSize)));
    let (r, _) = run(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n123\r\n");
    assert_eq!(r, Err(HttpError::BadChunk(ChunkError::MissingCrlf)));
    let (r, _) = run(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n");
    assert_eq!(r, Err(HttpError::BadChunk(ChunkError::SizeOverflow)));
    let (r, _) = run(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r, Err(HttpError::NotFound { status: 404 }));
    let (r, _) = run(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
    assert!(
        matches!(r, Err(HttpError::Status { status: 503, ref reason }) if reason == "Service Unavailable")
    );
    let (r, _) = run(b"HTTP/1.1 301 Moved\r\n\r\n");
    assert_eq!(
        r,
        Err(HttpError::Redirect(RedirectError::NoLocation {
            status: 301
        }))
    );
    let (r, _) = run(b"");
    assert_eq!(r, Err(HttpError::NoResponse));
    let (r, _) = run(b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n");
    assert!(matches!(
        r,
        Err(HttpError::Sink(SinkError::TooLarge { needed: 2000, .. }))
    ));
    let mut long_head = Vec::from(&b"HTTP/1.1 200 OK\r\n"[..]);
    while long_head.len() < HEAD_CAPACITY + 10 {
        long_head.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaa\r\n");
    }
    let (r, _) = run(&long_head);
    assert!(matches!(
        r,
        Err(HttpError::HeadTooLarge) | Err(HttpError::BadHead(HeadError::TooManyHeaders))
    ));
    for e in [HttpError::NoResponse, HttpError::BodyLong { announced: 1 }] {
        assert!(e.code().starts_with("E-HTTP-") && !std::format!("{e}").is_empty());
    }
}

#[test]
fn redirect_is_reported_with_its_location() {
    let mut buf = [0u8; 10];
    let mut sink = SliceSink::new(&mut buf);
    let mut exchange = Exchange::new();
    let response = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://b.test/k2\r\nContent-Length: 4\r\n\r\nbody";
    let (used, event) = exchange.on_bytes(response, &mut sink).unwrap();
    assert_eq!(event, Event::Redirect);
    assert_eq!(used, response.len() - 4);
    assert_eq!(exchange.location(), Some("http://b.test/k2"));
}

#[test]
fn redirect_targets() {
    let current = Url::parse("http://a.test:8080/dir/file?q=1").unwrap();
    let mut out = UrlText::new();
    let mut target =
        |location: &str| redirect_target(&current, location, &mut out).map(|u| std::format!("{u}"));
    assert_eq!(target("http://b.test/x").as_deref(), Ok("http://b.test/x"));
    assert_eq!(
        target("/other#frag").as_deref(),
        Ok("http://a.test:8080/other")
    );
    assert_eq!(
        target("sibling").as_deref(),
        Ok("http://a.test:8080/dir/sibling")
    );
    assert_eq!(target("//c.test/y").as_deref(), Ok("http://c.test/y"));
    assert_eq!(target("https://a.test/x"), Err(RedirectError::OtherScheme));
    assert_eq!(target("tftp://a.test/x"), Err(RedirectError::OtherScheme));
    assert!(matches!(
        target("http://bad_host/x"),
        Err(RedirectError::BadLocation(_))
    ));
    let long = std::format!("/{}", "a".repeat(600));
    assert_eq!(target(&long), Err(RedirectError::TooLong));
}

/// Random bytes, and valid responses with random bytes flipped, in random pieces: no panic,
/// and whatever reaches the sink is in order (SliceSink checks bounds).
#[test]
fn garbage_never_panics() {
    let mut rng = Rng::new(0x0BAD_F00D);
    let seeds: [&[u8]; 3] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n0123456789012345678901234567890123456789",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na;x\r\n0123456789\r\n0\r\n\r\n",
        b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n",
    ];
    for _ in 0..20_000 {
        let mut input = seeds[rng.index(3)].to_vec();
        for _ in 0..rng.index(4) {
            let at = rng.index(input.len());
            input[at] = rng.next_u64() as u8;
        }
        if rng.below(4) == 0 {
            input = (0..rng.index(200)).map(|_| rng.next_u64() as u8).collect();
        }
        let mut buf = [0u8; 64];
        let mut sink = SliceSink::new(&mut buf);
        let mut exchange = Exchange::new();
        let _ = feed(&mut exchange, &input, &mut sink, &mut rng);
        let _ = exchange.on_close();
        let _ = exchange.location();
    }
    let mut decoder = ChunkedDecoder::new();
    for _ in 0..20_000 {
        let input: Vec<u8> = (0..rng.index(50))
            .map(|_| b"0123456789abcdefxX;\r\n "[rng.index(22)])
            .collect();
        if decoder.decode(&input).is_err() || decoder.is_done() {
            decoder = ChunkedDecoder::new();
        }
    }
}

/// The body goes through whatever sink the caller gives: here the decompressing one, so a
/// gzip file served chunked, in random pieces, lands inflated (what the boot code will do
/// with compressed kernels over HTTP).
#[test]
fn a_gzip_body_streams_through_the_decompressing_sink() {
    use crate::decompress::{DecompressSink, Scratch};
    use std::io::Write;
    let mut rng = Rng::new(0x6721_9000);
    let text: Vec<u8> = (0..60_000u32)
        .flat_map(|i| std::format!("line {i} of a kernel-ish file\n").into_bytes())
        .take(300_000)
        .collect();
    let mut child = std::process::Command::new("gzip")
        .args(["-c", "-n"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip (scripts/install-deps installs it)");
    let mut stdin = child.stdin.take().unwrap();
    let input = text.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let gz = child.wait_with_output().unwrap().stdout;
    writer.join().unwrap().unwrap();
    assert!(gz.len() < text.len() / 4);

    let mut response = Vec::from(&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..]);
    response.extend_from_slice(&chunked(&gz, &mut rng));
    let mut output = std::vec![0u8; 400_000];
    let mut scratch = Scratch::new();
    let mut sink = DecompressSink::new(&mut output, &mut scratch);
    let mut exchange = Exchange::new();
    let mut at = 0;
    let mut event = Event::More;
    while at < response.len() {
        let piece = (1 + rng.index(3000)).min(response.len() - at);
        let (used, e) = exchange
            .on_bytes(&response[at..at + piece], &mut sink)
            .unwrap();
        assert_eq!(used, piece);
        event = e;
        at += piece;
    }
    assert_eq!(event, Event::Done { keep_alive: true });
    sink.finish().unwrap();
    assert_eq!(sink.output(), &text[..]);
    assert_eq!(exchange.stats().received, gz.len() as u64);
}
