//! Host tests of the HTTP server on loopback: raw requests, byte for byte, and curl as an
//! independent client.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use super::*;
use crate::serve::files::Extra;

fn big_file() -> Vec<u8> {
    (0..300_000u32).map(|i| (i ^ (i >> 9)) as u8).collect()
}

fn server(name: &str) -> (HttpServer, PathBuf) {
    let dir = std::env::temp_dir().join(format!("netloader-http-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("kernel"), big_file()).unwrap();
    std::fs::write(dir.join("sub/a b.txt"), b"spaced\n").unwrap();
    let mut files = Files::new(Some(dir.clone()));
    files.add(
        "netloader.cfg/default",
        Extra::Bytes(Arc::from(&b"set timeout=0\n"[..])),
    );
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    (HttpServer::start(listener, Arc::new(files)).unwrap(), dir)
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read one response; HEAD responses have no body whatever their Content-Length says.
fn read_response(reader: &mut BufReader<TcpStream>, head_only: bool) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 "), "status line {line:?}");
    let status = line[9..12].parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end_matches("\r\n");
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if !head_only {
        let len: usize = response.header("content-length").unwrap().parse().unwrap();
        response.body = vec![0; len];
        reader.read_exact(&mut response.body).unwrap();
    }
    response
}

fn connect(server: &HttpServer) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

/// After the last response, the server closes the connection.
fn closed(reader: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    matches!(reader.read_to_end(&mut rest), Ok(0))
}

#[test]
fn get_head_keep_alive_and_pipelining() {
    let (server, dir) = server("basic");
    let (mut stream, mut reader) = connect(&server);
    // Three requests in one write: answered in order on the same connection.
    stream
        .write_all(
            b"GET /kernel HTTP/1.1\r\nHost: x\r\n\r\n\
              HEAD /kernel HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /netloader.cfg/default?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
        )
        .unwrap();
    let get = read_response(&mut reader, false);
    assert_eq!(get.status, 200);
    assert_eq!(get.body, big_file());
    assert!(get.header("date").unwrap().ends_with(" GMT"));
    assert_eq!(get.header("connection"), None);
    let head = read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("300000"));
    let config = read_response(&mut reader, false);
    assert_eq!(config.body, b"set timeout=0\n");

    // Percent escapes, an absolute-form target, then Connection: close.
    stream
        .write_all(b"GET /sub/a%20b.txt HTTP/1.1\r\nHost: x\r\n\r\nGET http://x/sub/a%20b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader, false).body, b"spaced\n");
    let last = read_response(&mut reader, false);
    assert_eq!(last.body, b"spaced\n");
    assert_eq!(last.header("connection"), Some("close"));
    assert!(closed(&mut reader));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn errors_have_their_status_and_keep_the_connection_when_they_can() {
    let (server, dir) = server("errors");
    let (mut stream, mut reader) = connect(&server);
    for (request, status) in [
        (&b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"[..], 404),
        (b"GET /sub HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (
            b"POST /kernel HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            405,
        ),
    ] {
        stream.write_all(request).unwrap();
        let response = read_response(&mut reader, false);
        assert_eq!(
            response.status,
            status,
            "{}",
            String::from_utf8_lossy(request)
        );
        if status == 405 {
            assert_eq!(response.header("allow"), Some("GET, HEAD"));
        }
    }
    // The connection is still good after them.
    stream
        .write_all(b"HEAD /kernel HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader, true).status, 200);

    // Errors that end the connection.
    for (request, status) in [
        (&b"GET /kernel HTTP/1.1\r\n\r\n"[..], 400),
        (
            b"GET /kernel HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            501,
        ),
        (
            b"GET /kernel HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
            400,
        ),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /kernel HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ] {
        let (mut stream, mut reader) = connect(&server);
        stream.write_all(request).unwrap();
        let response = read_response(&mut reader, false);
        assert_eq!(
            response.status,
            status,
            "{}",
            String::from_utf8_lossy(request)
        );
        assert!(closed(&mut reader), "{}", String::from_utf8_lossy(request));
    }
    let (mut stream, mut reader) = connect(&server);
    let mut huge = b"GET /kernel HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
    let _ = stream.write_all(&huge);
    assert_eq!(read_response(&mut reader, false).status, 431);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let (server, dir) = server("http10");
    let (mut stream, mut reader) = connect(&server);
    stream
        .write_all(b"GET /sub/a%20b.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let kept = read_response(&mut reader, false);
    assert_eq!(kept.header("connection"), Some("keep-alive"));
    stream
        .write_all(b"GET /sub/a%20b.txt HTTP/1.0\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader, false).body, b"spaced\n");
    assert!(closed(&mut reader));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn curl_fetches_two_files_over_one_connection() {
    let (server, dir) = server("curl");
    let out = dir.join("out");
    let base = format!("http://127.0.0.1:{}", server.port);
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--verbose"])
        .arg(format!("{base}/kernel"))
        .arg("--output")
        .arg(out.join("kernel"))
        .arg(format!("{base}/netloader.cfg/default"))
        .arg("--output")
        .arg(out.join("config"))
        .arg("--create-dirs")
        .output()
        .expect("curl (scripts/install-deps installs it)");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert_eq!(std::fs::read(out.join("kernel")).unwrap(), big_file());
    assert_eq!(
        std::fs::read(out.join("config")).unwrap(),
        b"set timeout=0\n"
    );
    assert!(
        log.contains("Re-using existing connection") || log.contains("Reusing existing"),
        "{log}"
    );
    // And a 404 is a failure for curl --fail.
    let status = Command::new("curl")
        .args(["--silent", "--fail", "--output", "/dev/null"])
        .arg(format!("{base}/nothing"))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(22));
    std::fs::remove_dir_all(dir).unwrap();
}
