//! proxyDHCP: a second server that answers our DISCOVER with boot parameters but no address
//! (PXE 2.1). smoltcp's DHCP socket drops such offers (no `yiaddr`), so the device hands
//! every received frame to a [`Listener`] while DHCP runs; it keeps the first proxy answer
//! for our MAC (`netloader_proto::dhcp::proxy` decides what is one).
//!
//! A proxy answers the same DISCOVER as the DHCP server, so its offer usually is in before
//! the DHCP server's ACK. Only when the lease itself names neither a boot file nor a
//! next-server (nothing to boot from without a proxy) do we wait for one, and only
//! [`PROXY_WAIT_MS`]: servers on the same link answer within milliseconds, and a network
//! without a proxy should not pay more than that.

use netloader_proto::dhcp::proxy::{ProxyAnswer, parse_proxy_answer};
use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, UdpPacket};

use super::PXE_PACKET_MAX;

/// How long to wait after the lease for a proxy answer, when the lease has nothing to boot.
pub const PROXY_WAIT_MS: u64 = 1000;

const DHCP_SERVER_PORT: u16 = 67;
const DHCP_CLIENT_PORT: u16 = 68;
const PXE_BOOT_SERVER_PORT: u16 = 4011;

pub struct Listener {
    mac: [u8; 6],
    listening: bool,
    answer: Option<ProxyAnswer>,
    /// The answer's DHCP message as received (the option ROM's first stage hands it on).
    raw: heapless::Vec<u8, PXE_PACKET_MAX>,
}

impl Listener {
    pub fn new(mac: [u8; 6]) -> Self {
        Listener {
            mac,
            listening: false,
            answer: None,
            raw: heapless::Vec::new(),
        }
    }

    /// Listen from the first DISCOVER on (forgetting any earlier answer).
    pub fn start(&mut self) {
        self.listening = true;
        self.answer = None;
        self.raw.clear();
    }

    /// The kept answer's DHCP message (empty: none, or too long to keep).
    #[cfg(any(feature = "chain", feature = "multiboot2"))]
    pub fn raw_answer(&self) -> &[u8] {
        &self.raw
    }

    /// Stop listening and hand over what was heard.
    pub fn finish(&mut self) -> Option<ProxyAnswer> {
        self.listening = false;
        self.answer.take()
    }

    pub fn heard(&self) -> bool {
        self.answer.is_some()
    }

    /// Look at one received Ethernet frame; keep it when it is the first proxy answer for us.
    pub fn observe(&mut self, frame: &[u8]) {
        if !self.listening || self.answer.is_some() {
            return;
        }
        let Some(payload) = dhcp_reply_payload(frame) else {
            return;
        };
        self.answer = parse_proxy_answer(payload, self.mac);
        if self.answer.is_some() {
            self.raw.clear();
            let _ = self.raw.extend_from_slice(payload);
        }
    }
}

/// The UDP payload of an IPv4 frame from port 67 or 4011 to port 68, checked at each layer.
fn dhcp_reply_payload(frame: &[u8]) -> Option<&[u8]> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    if ethernet.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(ethernet.payload()).ok()?;
    if ip.next_header() != IpProtocol::Udp || ip.frag_offset() != 0 || ip.more_frags() {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    let from_server = matches!(udp.src_port(), DHCP_SERVER_PORT | PXE_BOOT_SERVER_PORT);
    (from_server && udp.dst_port() == DHCP_CLIENT_PORT).then(|| udp.payload())
}
