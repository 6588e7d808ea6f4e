//! A DHCP client's message as a server reads it (`netloader serve`): the fields and options
//! that decide the answer, validated once. Every option value is checked for its length here,
//! so hostile bytes give None or a sound request, never a panic.
//!
//! (The host tool writes its answers with `dhcproto`, whose decoder asserts option lengths
//! with `debug_assert!` and indexes `chaddr` by the message's own `hlen`: fine for trusted
//! input, not for a server's socket.)

use core::net::Ipv4Addr;

use smoltcp::wire::{DhcpOpCode, DhcpPacket};

const OPTION_REQUESTED_IP: u8 = 50;
const OPTION_MESSAGE_TYPE: u8 = 53;
const OPTION_SERVER_IDENTIFIER: u8 = 54;
const OPTION_CLASS_IDENTIFIER: u8 = 60;
const OPTION_USER_CLASS: u8 = 77;
const OPTION_CLIENT_ARCH: u8 = 93;
const OPTION_CLIENT_MACHINE_ID: u8 = 97;
const DHCP_MAGIC: u32 = 0x6382_5363;
/// The BOOTP fields and the magic cookie come before the options.
const OPTIONS_START: usize = 240;
/// The BOOTP `flags` bit asking for a broadcast answer.
const FLAG_BROADCAST: u16 = 0x8000;

/// The DHCP message types a client sends (RFC 2131, 2132).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    Discover,
    Request,
    Decline,
    Release,
    Inform,
}

impl ClientMessage {
    fn from_code(code: u8) -> Option<ClientMessage> {
        Some(match code {
            1 => ClientMessage::Discover,
            3 => ClientMessage::Request,
            4 => ClientMessage::Decline,
            7 => ClientMessage::Release,
            8 => ClientMessage::Inform,
            _ => return None,
        })
    }
}

/// What a server needs from a client's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientRequest<'a> {
    pub message: ClientMessage,
    pub xid: u32,
    /// The client asks for a broadcast answer.
    pub broadcast: bool,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub mac: [u8; 6],
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54: the server the client chose.
    pub server_id: Option<Ipv4Addr>,
    /// Option 60 (empty when absent).
    pub class_id: &'a [u8],
    /// Option 77 as sent (empty when absent).
    pub user_class: &'a [u8],
    /// Option 93: the first architecture the client names.
    pub arch: Option<u16>,
    /// Option 97 as sent.
    pub machine_id: Option<&'a [u8]>,
}

impl ClientRequest<'_> {
    /// Option 60 starts with `PXEClient` (PXE ROMs, and netloader).
    pub fn is_pxe(&self) -> bool {
        self.class_id.starts_with(b"PXEClient")
    }

    /// The architecture: option 93, else the digits of `PXEClient:Arch:xxxxx` in option 60
    /// (PXE 2.1 clients send both; older ones only the class).
    pub fn architecture(&self) -> Option<u16> {
        self.arch.or_else(|| {
            let digits = self.class_id.strip_prefix(b"PXEClient:Arch:")?.get(..5)?;
            core::str::from_utf8(digits).ok()?.parse().ok()
        })
    }

    /// Does option 77 name `class`? As iPXE sends it (the bare name) or as RFC 3004 writes
    /// it (a list of length-prefixed names).
    pub fn has_user_class(&self, class: &[u8]) -> bool {
        if self.user_class == class {
            return true;
        }
        let mut rest = self.user_class;
        while let Some((&len, tail)) = rest.split_first() {
            let Some(name) = tail.get(..usize::from(len)) else {
                return false;
            };
            if name == class {
                return true;
            }
            rest = &tail[usize::from(len)..];
        }
        false
    }
}

fn ipv4(data: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(data).ok().map(Ipv4Addr::from)
}

/// The options after the magic cookie, as (code, value), up to END or the first one cut short.
/// (smoltcp's iterator borrows the packet view; these borrow the caller's bytes.)
fn options(payload: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = payload.get(OPTIONS_START..).unwrap_or(&[]);
    core::iter::from_fn(move || {
        loop {
            match rest {
                [0, tail @ ..] => rest = tail,
                [255, ..] | [] => return None,
                [kind, len, tail @ ..] if usize::from(*len) <= tail.len() => {
                    let (data, after) = tail.split_at(usize::from(*len));
                    rest = after;
                    return Some((*kind, data));
                }
                _ => {
                    rest = &[];
                    return None;
                }
            }
        }
    })
}

/// A BOOTREQUEST from an Ethernet card with a DHCP message type a client sends; None for
/// anything else (BOOTP without options, replies, other hardware, garbage).
pub fn parse_client_request(payload: &[u8]) -> Option<ClientRequest<'_>> {
    let packet = DhcpPacket::new_checked(payload).ok()?;
    if packet.opcode() != DhcpOpCode::Request
        || packet.magic_number() != DHCP_MAGIC
        || packet.hardware_type() != smoltcp::wire::ArpHardware::Ethernet
        || packet.hardware_len() != 6
    {
        return None;
    }
    let mut request = ClientRequest {
        message: ClientMessage::Discover,
        xid: packet.transaction_id(),
        broadcast: packet.flags().bits() & FLAG_BROADCAST != 0,
        ciaddr: packet.client_ip(),
        giaddr: packet.relay_agent_ip(),
        mac: packet.client_hardware_address().0,
        requested_ip: None,
        server_id: None,
        class_id: &[],
        user_class: &[],
        arch: None,
        machine_id: None,
    };
    let mut message = None;
    for (kind, data) in options(payload) {
        match kind {
            OPTION_MESSAGE_TYPE => message = data.first().copied(),
            OPTION_REQUESTED_IP => request.requested_ip = ipv4(data),
            OPTION_SERVER_IDENTIFIER => request.server_id = ipv4(data),
            OPTION_CLASS_IDENTIFIER => request.class_id = data,
            OPTION_USER_CLASS => request.user_class = data,
            OPTION_CLIENT_ARCH => {
                request.arch = data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))
            }
            OPTION_CLIENT_MACHINE_ID => request.machine_id = Some(data),
            _ => {}
        }
    }
    request.message = ClientMessage::from_code(message?)?;
    Some(request)
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;
    use crate::test_rng::Rng;

    /// A BOOTREQUEST as a PXE ROM sends it, with `options` after the cookie.
    fn message(options: &[(u8, &[u8])]) -> Vec<u8> {
        let mut p = std::vec![0u8; 236];
        p[0] = 1; // BOOTREQUEST
        p[1] = 1; // Ethernet
        p[2] = 6;
        p[4..8].copy_from_slice(&0xfeed_0013u32.to_be_bytes());
        p[10] = 0x80; // broadcast
        p[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        p.extend_from_slice(&[99, 130, 83, 99]);
        for (kind, data) in options {
            p.push(*kind);
            p.push(data.len() as u8);
            p.extend_from_slice(data);
        }
        p.push(255);
        p
    }

    fn pxe_discover() -> Vec<u8> {
        message(&[
            (53, &[1]),
            (60, b"PXEClient:Arch:00000:UNDI:002001"),
            (93, &[0, 0]),
            (94, &[1, 2, 1]),
            (97, &[0; 17]),
            (77, b"netloader"),
        ])
    }

    #[test]
    fn a_pxe_discover() {
        let bytes = pxe_discover();
        let r = parse_client_request(&bytes).unwrap();
        assert_eq!(r.message, ClientMessage::Discover);
        assert_eq!(r.xid, 0xfeed_0013);
        assert!(r.broadcast && r.is_pxe());
        assert_eq!(r.mac, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(r.architecture(), Some(0));
        assert_eq!(r.machine_id, Some(&[0u8; 17][..]));
        assert!(r.has_user_class(b"netloader"));
        assert!(!r.has_user_class(b"iPXE"));
        assert_eq!((r.requested_ip, r.server_id), (None, None));
    }

    #[test]
    fn a_request_and_the_arch_from_the_class() {
        let bytes = message(&[
            (53, &[3]),
            (50, &[192, 168, 77, 100]),
            (54, &[192, 168, 77, 2]),
            (60, b"PXEClient:Arch:00007:UNDI:003016"),
            (77, b"\x04iPXE\x09netloader"),
        ]);
        let r = parse_client_request(&bytes).unwrap();
        assert_eq!(r.message, ClientMessage::Request);
        assert_eq!(r.requested_ip, Some(Ipv4Addr::new(192, 168, 77, 100)));
        assert_eq!(r.server_id, Some(Ipv4Addr::new(192, 168, 77, 2)));
        assert_eq!(r.architecture(), Some(7));
        assert!(r.has_user_class(b"netloader") && r.has_user_class(b"iPXE"));
    }

    #[test]
    fn refusals_and_odd_values() {
        // No message type (BOOTP), a server's message type, a reply, other hardware.
        assert!(parse_client_request(&message(&[])).is_none());
        assert!(parse_client_request(&message(&[(53, &[2])])).is_none());
        let mut reply = pxe_discover();
        reply[0] = 2;
        assert!(parse_client_request(&reply).is_none());
        let mut token_ring = pxe_discover();
        token_ring[1] = 6;
        assert!(parse_client_request(&token_ring).is_none());
        // Values of the wrong length are dropped, not misread.
        let bytes = message(&[
            (53, &[8]),
            (50, &[1, 2, 3]),
            (54, &[1, 2, 3, 4, 5]),
            (93, &[7]),
        ]);
        let r = parse_client_request(&bytes).unwrap();
        assert_eq!(r.message, ClientMessage::Inform);
        assert_eq!((r.requested_ip, r.server_id, r.arch), (None, None, None));
        let bytes = message(&[(53, &[1]), (77, b"\x20netloader")]);
        assert!(
            !parse_client_request(&bytes)
                .unwrap()
                .has_user_class(b"netloader")
        );
    }

    #[test]
    fn random_and_mutated_messages_never_panic() {
        let mut rng = Rng::new(0x5e7e_0013);
        let seed = pxe_discover();
        let mut parsed = 0;
        for _ in 0..30_000 {
            let mut m = seed.clone();
            for _ in 0..=rng.index(4) {
                match rng.index(3) {
                    0 if !m.is_empty() => {
                        let at = rng.index(m.len());
                        m[at] = rng.next_u64() as u8;
                    }
                    0 | 1 => {
                        let at = 240 + rng.index(m.len().saturating_sub(240).max(1));
                        if at < m.len() {
                            m[at] = rng.next_u64() as u8;
                        }
                    }
                    _ => m.truncate(rng.index(m.len() + 1)),
                }
            }
            if let Some(r) = parse_client_request(&m) {
                parsed += 1;
                let _ = (r.architecture(), r.has_user_class(b"netloader"), r.is_pxe());
            }
        }
        assert!(parsed > 3_000, "only {parsed} mutants parsed");
        for _ in 0..5_000 {
            let len = rng.index(600);
            let m: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Some(r) = parse_client_request(&m) {
                let _ = (r.architecture(), r.has_user_class(b"x"));
            }
        }
    }
}
