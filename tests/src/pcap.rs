//! UDP datagrams out of the pcap files QEMU's `filter-dump` writes (Ethernet, IPv4), for tests
//! that check what went over the wire.

use std::net::Ipv4Addr;

/// One UDP datagram of a capture.
#[derive(Clone, Debug)]
pub struct Datagram {
    /// When it was captured, in seconds (host clock).
    pub time: f64,
    pub source: Ipv4Addr,
    pub source_port: u16,
    pub destination: Ipv4Addr,
    pub destination_port: u16,
    pub payload: Vec<u8>,
}

/// The UDP datagrams in `pcap`, in order; anything else (and a cut last record) is skipped.
pub fn udp_datagrams(pcap: &[u8]) -> Vec<Datagram> {
    let mut datagrams = Vec::new();
    let mut at = 24; // the file header
    while let Some(header) = pcap.get(at..at + 16) {
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let time = f64::from(word(0)) + f64::from(word(4)) / 1e6;
        let len = word(8) as usize;
        let Some(frame) = pcap.get(at + 16..at + 16 + len) else {
            break;
        };
        at += 16 + len;
        if frame.len() < 42 || frame[12..14] != [0x08, 0x00] || frame[23] != 17 {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let Some(udp) = frame.get(14 + ihl..) else {
            continue;
        };
        if udp.len() < 8 {
            continue;
        }
        let port = |i: usize| u16::from_be_bytes([udp[i], udp[i + 1]]);
        let address = |i: usize| Ipv4Addr::new(frame[i], frame[i + 1], frame[i + 2], frame[i + 3]);
        datagrams.push(Datagram {
            time,
            source: address(26),
            source_port: port(0),
            destination: address(30),
            destination_port: port(2),
            payload: udp[8..].to_vec(),
        });
    }
    datagrams
}

/// DHCP answers in a capture: datagrams from port 67 or 4011 to port 68.
pub fn dhcp_answers(pcap: &[u8]) -> Vec<Datagram> {
    udp_datagrams(pcap)
        .into_iter()
        .filter(|d| matches!(d.source_port, 67 | 4011) && d.destination_port == 68)
        .collect()
}

/// One TFTP download seen on the wire.
#[derive(Clone, Debug)]
pub struct TftpTransfer {
    /// From the read request for the file to the requester's last ACK.
    pub seconds: f64,
    /// The server's OACK, e.g. "blksize=1428 tsize=33554432" (empty: none).
    pub options: String,
}

/// The download of `file` (or `/file`) in a capture: timed from its read request to the last ACK sent
/// from the requesting port.
pub fn tftp_transfer(pcap: &[u8], file: &str) -> Option<TftpTransfer> {
    let request = format!("\0\x01{file}\0").into_bytes();
    let rooted = format!("\0\x01/{file}\0").into_bytes();
    let (mut start, mut end, mut client_port, mut options) = (None, None, None, String::new());
    for d in udp_datagrams(pcap) {
        let asked = d.payload.starts_with(&request) || d.payload.starts_with(&rooted);
        if start.is_none() && asked {
            (start, client_port) = (Some(d.time), Some(d.source_port));
        } else if client_port == Some(d.source_port) && d.payload.starts_with(&[0, 4]) {
            end = Some(d.time);
        } else if start.is_some() && options.is_empty() && d.payload.starts_with(&[0, 6]) {
            let fields: Vec<String> = d.payload[2..]
                .split(|&b| b == 0)
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            options = fields
                .chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| format!("{}={}", c[0], c[1]))
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    Some(TftpTransfer {
        seconds: end? - start?,
        options,
    })
}

/// TCP ports, sequence number and payload of an Ethernet/IPv4/TCP frame; None for anything
/// else.
fn tcp_segment(frame: &[u8]) -> Option<(u16, u16, u32, &[u8])> {
    if frame.get(12..14)? != [0x08, 0x00] || *frame.get(23)? != 6 {
        return None;
    }
    let ip_header = usize::from(frame.get(14)? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]));
    let tcp = frame.get(14 + ip_header..14 + total)?;
    let source = u16::from_be_bytes([*tcp.first()?, *tcp.get(1)?]);
    let destination = u16::from_be_bytes([*tcp.get(2)?, *tcp.get(3)?]);
    let sequence = u32::from_be_bytes(tcp.get(4..8)?.try_into().ok()?);
    let data_offset = usize::from(tcp.get(12)? >> 4) * 4;
    Some((source, destination, sequence, tcp.get(data_offset..)?))
}

/// An HTTP download of `file` (from a server on port 80) in a capture, in the same shape as a
/// TFTP one: from the `GET /file` to the server's last segment with data on that connection;
/// `options` counts the segments the server sent again.
pub fn http_transfer(pcap: &[u8], file: &str) -> Option<TftpTransfer> {
    let request = format!("GET /{file} ");
    let (mut start, mut end, mut client_port) = (None, None, None);
    let (mut highest, mut resent) = (None::<u32>, 0);
    let mut at = 24; // the file header
    while let Some(header) = pcap.get(at..at + 16) {
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let time = f64::from(word(0)) + f64::from(word(4)) / 1e6;
        let len = word(8) as usize;
        let Some(frame) = pcap.get(at + 16..at + 16 + len) else {
            break;
        };
        at += 16 + len;
        let Some((source, destination, sequence, payload)) = tcp_segment(frame) else {
            continue;
        };
        if start.is_none() && destination == 80 && payload.starts_with(request.as_bytes()) {
            (start, client_port) = (Some(time), Some(source));
        } else if start.is_some()
            && source == 80
            && Some(destination) == client_port
            && !payload.is_empty()
        {
            end = Some(time);
            match highest {
                Some(h) if (sequence.wrapping_sub(h) as i32) < 0 => resent += 1,
                _ => highest = Some(sequence),
            }
        }
    }
    Some(TftpTransfer {
        seconds: end? - start?,
        options: format!("{resent} segments resent"),
    })
}

/// The `yiaddr` of a DHCP message (bytes 16..20), if it is long enough to have one.
pub fn yiaddr(dhcp: &[u8]) -> Option<Ipv4Addr> {
    let b = dhcp.get(16..20)?;
    Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_gives_nothing() {
        assert!(udp_datagrams(&[]).is_empty());
        assert!(udp_datagrams(&[0xff; 100]).is_empty());
        assert_eq!(yiaddr(&[0; 10]), None);
        assert!(tftp_transfer(&[], "f").is_none());
        assert!(tftp_transfer(&[0xff; 100], "f").is_none());
    }
}
