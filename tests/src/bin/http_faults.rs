//! A small web server for the HTTP boot tests: it serves the files of one folder the ways a
//! real server should (Content-Length, chunked, until close, redirects) and the ways a
//! broken one does (a reset or a close at a known byte count, more bytes than announced, a
//! head and then silence), chosen by the path. Faults happen at byte counts the test names,
//! never at a time. Started by the tests inside their network namespace:
//!
//! `http_faults <root> <address:port>`
//!
//! | path | answer |
//! | --- | --- |
//! | `/file/NAME` | 200, Content-Length, keep-alive |
//! | `/chunked/NAME` | 200, chunked (seeded chunk sizes, some with extensions, a trailer) |
//! | `/close/NAME` | 200, no length, the connection closes after the body |
//! | `/redirect/K/PATH` | 302 to `/redirect/K-1/PATH` (absolute URL when K is even, a path when odd); at 0 to `/PATH` |
//! | `/loop` | 301 to `/loop` |
//! | `/https/PATH` | 302 to `https://<address>/PATH` |
//! | `/reset/N/NAME` | 200 announcing the whole file, N bytes of it, then a reset (RST) |
//! | `/short/N/NAME` | 200 announcing the whole file, N bytes of it, then a close (FIN) |
//! | `/long/NAME` | 200 announcing the file, the file and 100 bytes more |
//! | `/stall/NAME` | 200 announcing the file, then nothing, the connection held open |
//! | `/status/CODE` | that status, a short body |
//! | anything else | 404 |

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(root), Some(address)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: http_faults <root> <address:port>");
        std::process::exit(2);
    };
    let root = PathBuf::from(root);
    let listener = TcpListener::bind(address).unwrap_or_else(|e| {
        eprintln!("http_faults: cannot listen on {address}: {e}");
        std::process::exit(1);
    });
    eprintln!("http_faults: serving {} on {address}", root.display());
    for stream in listener.incoming().flatten() {
        let root = root.clone();
        let address = address.clone();
        std::thread::spawn(move || serve(stream, &root, &address));
    }
}

/// Requests on one connection, one after the other, until it closes or a fault ends it.
fn serve(stream: TcpStream, root: &Path, address: &str) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // The header lines, up to the empty one.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.trim_end().is_empty() {
                break;
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
        eprintln!("http_faults: {}", request_line.trim_end());
        if !answer(&mut out, &mut reader, root, address, &path) {
            return;
        }
    }
}

fn head(out: &mut TcpStream, status: &str, headers: &[String]) -> bool {
    let mut text = format!("HTTP/1.1 {status}\r\nServer: http_faults\r\n");
    for h in headers {
        text += h;
        text += "\r\n";
    }
    text += "\r\n";
    out.write_all(text.as_bytes()).is_ok()
}

fn file(root: &Path, name: &str) -> Option<Vec<u8>> {
    if name.contains("..") {
        return None;
    }
    std::fs::read(root.join(name)).ok()
}

fn not_found(out: &mut TcpStream) -> bool {
    head(out, "404 Not Found", &["Content-Length: 9".into()]) && out.write_all(b"not found").is_ok()
}

/// Answers one request; false when the connection must end.
fn answer(
    out: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    root: &Path,
    address: &str,
    path: &str,
) -> bool {
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
    let length = |data: &[u8]| format!("Content-Length: {}", data.len());
    match parts.as_slice() {
        ["file", ..] => {
            let Some(data) = file(root, &parts[1..].join("/")) else {
                return not_found(out);
            };
            head(out, "200 OK", &[length(&data)]) && out.write_all(&data).is_ok()
        }
        ["chunked", ..] => {
            let Some(data) = file(root, &parts[1..].join("/")) else {
                return not_found(out);
            };
            if !head(out, "200 OK", &["Transfer-Encoding: chunked".into()]) {
                return false;
            }
            let mut body = Vec::new();
            let mut seed = 0x2545_F491_4F6C_DD1Du64;
            let mut at = 0;
            while at < data.len() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let size = (1 + (seed % 6000) as usize).min(data.len() - at);
                let extension = if seed.is_multiple_of(5) {
                    ";ext=\"x\""
                } else {
                    ""
                };
                body.extend_from_slice(format!("{size:x}{extension}\r\n").as_bytes());
                body.extend_from_slice(&data[at..at + size]);
                body.extend_from_slice(b"\r\n");
                at += size;
            }
            body.extend_from_slice(b"0\r\nX-Checked: yes\r\n\r\n");
            out.write_all(&body).is_ok()
        }
        ["close", ..] => {
            let Some(data) = file(root, &parts[1..].join("/")) else {
                return not_found(out);
            };
            let _ =
                head(out, "200 OK", &["Connection: close".into()]) && out.write_all(&data).is_ok();
            false
        }
        ["redirect", count, rest] => {
            let count: u32 = count.parse().unwrap_or(0);
            let location = if count == 0 {
                format!("/{rest}")
            } else if count.is_multiple_of(2) {
                format!("http://{address}/redirect/{}/{rest}", count - 1)
            } else {
                format!("/redirect/{}/{rest}", count - 1)
            };
            head(
                out,
                "302 Found",
                &[format!("Location: {location}"), "Content-Length: 5".into()],
            ) && out.write_all(b"moved").is_ok()
        }
        ["loop"] => head(
            out,
            "301 Moved Permanently",
            &["Location: /loop".into(), "Content-Length: 0".into()],
        ),
        ["https", ..] => head(
            out,
            "302 Found",
            &[
                format!("Location: https://{address}/{}", parts[1..].join("/")),
                "Content-Length: 0".into(),
            ],
        ),
        ["reset", n, name] | ["short", n, name] => {
            let Some(data) = file(root, name) else {
                return not_found(out);
            };
            let n = n.parse::<usize>().unwrap_or(0).min(data.len());
            let _ = head(out, "200 OK", &[length(&data)]) && out.write_all(&data[..n]).is_ok();
            let _ = out.flush();
            if parts[0] == "reset" {
                // Wait until the client has acknowledged every byte sent (SIOCOUTQ: bytes
                // not yet acknowledged), so the reset comes after exactly N body bytes.
                loop {
                    let mut unacked: libc::c_int = 0;
                    // SAFETY: a valid socket and an int for the answer.
                    let result =
                        unsafe { libc::ioctl(out.as_raw_fd(), libc::TIOCOUTQ, &mut unacked) };
                    if result != 0 || unacked == 0 {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                // SO_LINGER with a zero timeout: close() sends RST instead of FIN.
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                // SAFETY: a valid socket and a linger struct that lives for the call.
                unsafe {
                    libc::setsockopt(
                        out.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&linger as *const libc::linger).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    );
                }
            } else {
                let _ = out.shutdown(std::net::Shutdown::Write);
                // Keep reading until the client goes, so the close is a FIN, not a reset.
                let mut sink = Vec::new();
                let _ = std::io::Read::read_to_end(reader, &mut sink);
            }
            false
        }
        ["long", ..] => {
            let Some(mut data) = file(root, &parts[1..].join("/")) else {
                return not_found(out);
            };
            let announced = length(&data);
            data.extend_from_slice(&[b'x'; 100]);
            // One write: the extra bytes travel with the body's last ones.
            head_and_body(out, "200 OK", &[announced], &data)
        }
        ["stall", ..] => {
            let Some(data) = file(root, &parts[1..].join("/")) else {
                return not_found(out);
            };
            let _ = head(out, "200 OK", &[length(&data)]);
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(reader, &mut sink);
            false
        }
        ["status", code] => {
            let body = format!("status {code}");
            head(
                out,
                &format!("{code} Test Status"),
                &[length(body.as_bytes())],
            ) && out.write_all(body.as_bytes()).is_ok()
        }
        _ => not_found(out),
    }
}

fn head_and_body(out: &mut TcpStream, status: &str, headers: &[String], body: &[u8]) -> bool {
    let mut text = format!("HTTP/1.1 {status}\r\nServer: http_faults\r\n");
    for h in headers {
        text += h;
        text += "\r\n";
    }
    text += "\r\n";
    let mut all = text.into_bytes();
    all.extend_from_slice(body);
    out.write_all(&all).is_ok()
}
