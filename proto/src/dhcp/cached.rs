//! A lease from DHCP packets someone else received: the PXE ROM's cached DHCPACK and, where it
//! parses, the boot server's cached reply (PXENV_GET_CACHED_INFO). Pure, so the host tests
//! feed it random and mutated packets; the runtime applies the result to its interface.

use core::fmt;
use core::net::Ipv4Addr;

use smoltcp::wire::{DhcpMessageType, DhcpPacket, DhcpRepr, Ipv4Cidr};

use super::BootParams;

/// The BOOTP `file` field: bytes 108..236 of the packet.
const FILE_FIELD: core::ops::Range<usize> = 108..236;

/// Address, mask and router from a DHCPACK, with its boot parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedLease {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub router: Option<Ipv4Addr>,
    pub dhcp_server: Ipv4Addr,
    pub boot: BootParams,
}

/// Why a cached DHCPACK is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CachedAckError {
    TooShort,
    NotDhcp,
    NotAck,
    NoAddress,
    BadMask,
}

impl CachedAckError {
    pub fn as_str(&self) -> &'static str {
        match self {
            CachedAckError::TooShort => "too short",
            CachedAckError::NotDhcp => "not a DHCP packet",
            CachedAckError::NotAck => "not a DHCPACK",
            CachedAckError::NoAddress => "no client address (yiaddr)",
            CachedAckError::BadMask => "bad subnet mask",
        }
    }
}

impl fmt::Display for CachedAckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bytes of the BOOTP `file` field (empty if the packet is shorter, which a checked
/// packet never is).
pub fn file_field<'a>(packet: &DhcpPacket<&'a [u8]>) -> &'a [u8] {
    let bytes: &'a [u8] = packet.into_inner();
    bytes.get(FILE_FIELD).unwrap_or(&[])
}

/// Where the DHCP options start: the BOOTP fields, then the magic cookie.
const OPTIONS_START: usize = 240;

/// The length of the DHCP message at the start of `buffer`, through its END option, when the
/// buffer may hold stale bytes after it (smoltcp keeps the last answer in a fixed buffer).
/// `None` when the options run off the buffer without an END.
pub fn message_len(buffer: &[u8]) -> Option<usize> {
    let mut at = OPTIONS_START;
    loop {
        match *buffer.get(at)? {
            0 => at += 1,
            255 => return Some(at + 1),
            _ => at += 2 + usize::from(*buffer.get(at + 1)?),
        }
    }
}

impl CachedLease {
    /// The lease in `ack`; boot parameters from `ack`, overridden by `reply` (the boot
    /// server's answer) where it has them. A `reply` that does not parse is ignored.
    pub fn from_packets(ack: &[u8], reply: Option<&[u8]>) -> Result<CachedLease, CachedAckError> {
        let packet = DhcpPacket::new_checked(ack).map_err(|_| CachedAckError::TooShort)?;
        let repr = DhcpRepr::parse(&packet).map_err(|_| CachedAckError::NotDhcp)?;
        if repr.message_type != DhcpMessageType::Ack {
            return Err(CachedAckError::NotAck);
        }
        let address = repr.your_ip;
        if address.is_unspecified() || address.is_broadcast() || address.is_multicast() {
            return Err(CachedAckError::NoAddress);
        }
        let prefix_len = match repr.subnet_mask {
            Some(mask) => Ipv4Cidr::from_netmask(address, mask)
                .map_err(|_| CachedAckError::BadMask)?
                .prefix_len(),
            None => 24,
        };
        let dhcp_server = repr.server_identifier.unwrap_or(repr.server_ip);
        let reply = reply
            .and_then(|b| DhcpPacket::new_checked(b).ok())
            .filter(|p| DhcpRepr::parse(p).is_ok());
        let boot = boot_params(&packet, reply.as_ref(), dhcp_server);
        Ok(CachedLease {
            address,
            prefix_len,
            router: repr.router,
            dhcp_server,
            boot,
        })
    }
}

/// The ACK's boot parameters, overridden by the boot server's reply where it has them (a
/// ProxyDHCP or boot server answer carries next-server and the PXELINUX options, not the ACK).
fn boot_params(
    ack: &DhcpPacket<&[u8]>,
    reply: Option<&DhcpPacket<&[u8]>>,
    dhcp_server: Ipv4Addr,
) -> BootParams {
    let reply_server = reply.map(|r| r.server_ip()).filter(|a| !a.is_unspecified());
    let reply_file = reply
        .map(file_field)
        .filter(|f| f.first().is_some_and(|&b| b != 0));
    let options = ack
        .options()
        .chain(reply.into_iter().flat_map(|r| r.options()))
        .map(|o| (o.kind, o.data));
    BootParams::from_answer(
        reply_server.unwrap_or_else(|| ack.server_ip()),
        reply_file.unwrap_or_else(|| file_field(ack)),
        options,
        Some(dhcp_server),
    )
}

#[cfg(test)]
mod tests;
