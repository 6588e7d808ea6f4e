//! The PXE form: the DHCP answer the card's PXE ROM already got (stage1/pxe.s copied it out of
//! PXENV_GET_CACHED_INFO) becomes our lease, so there is no second DHCP exchange.
//!
//! The DHCPACK gives our address, mask and router; the boot server's cached reply, where it
//! parses, gives next-server and the PXELINUX options (it is the answer that named the boot
//! file). The boot file named there is netloader.pxe itself, so it is dropped from the lease:
//! booting it again would loop; the config comes from option 209 or the per-host lookup.

use core::fmt;
use core::net::Ipv4Addr;

use netloader_proto::dhcp::BootParams;
use smoltcp::wire::{DhcpMessageType, DhcpPacket, DhcpRepr, IpCidr, Ipv4Cidr};

use super::{Lease, Net, NetError, packet_file_field};
use crate::boot_info::PxeHandoff;
use crate::{println, time};

/// Why the cached answer cannot be used (the caller falls back to its own DHCP).
pub enum CacheError {
    NoApi,
    NoPacket,
    Unparsable(&'static str),
    NoLink { waited_s: u64 },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::NoApi => write!(
                f,
                "E-PXE-NOAPI: the PXE ROM handed over no valid PXENV+ or !PXE structure (signature or checksum): asking DHCP ourselves"
            ),
            CacheError::NoPacket => {
                write!(f, "E-PXE-NOCACHE: the PXE ROM gave no cached DHCPACK (PXENV_GET_CACHED_INFO): asking DHCP ourselves")
            }
            CacheError::Unparsable(why) => {
                write!(f, "E-PXE-BADCACHE: the PXE ROM's cached DHCPACK is unusable ({why}): asking DHCP ourselves")
            }
            CacheError::NoLink { waited_s } => {
                write!(f, "E-NET-NOLINK: the network card reports no link after {waited_s} s: check the cable and the switch port")
            }
        }
    }
}

/// Address, mask and router from an ACK; the boot parameters from `boot` (the boot server's
/// reply, or the ACK itself).
fn lease_from_packets(ack: &[u8], boot: Option<&[u8]>) -> Result<Lease, CacheError> {
    let packet = DhcpPacket::new_checked(ack).map_err(|_| CacheError::Unparsable("too short"))?;
    let repr = DhcpRepr::parse(&packet).map_err(|_| CacheError::Unparsable("not a DHCP packet"))?;
    if repr.message_type != DhcpMessageType::Ack {
        return Err(CacheError::Unparsable("not a DHCPACK"));
    }
    let address = repr.your_ip;
    if address.is_unspecified() || address.is_broadcast() || address.is_multicast() {
        return Err(CacheError::Unparsable("no client address (yiaddr)"));
    }
    let prefix_len = match repr.subnet_mask {
        Some(mask) => Ipv4Cidr::from_netmask(address, mask).map_err(|_| CacheError::Unparsable("bad subnet mask"))?.prefix_len(),
        None => 24,
    };
    let dhcp_server = repr.server_identifier.unwrap_or(repr.server_ip);
    let reply = boot.and_then(|b| DhcpPacket::new_checked(b).ok()).filter(|p| DhcpRepr::parse(p).is_ok());
    let boot = boot_params(&packet, reply.as_ref(), dhcp_server);
    Ok(Lease { address, prefix_len, router: repr.router, dhcp_server, boot })
}

/// The ACK's boot parameters, overridden by the boot server's reply where it has them (a
/// ProxyDHCP or boot server answer carries next-server and the PXELINUX options, not the ACK).
fn boot_params(ack: &DhcpPacket<&[u8]>, reply: Option<&DhcpPacket<&[u8]>>, dhcp_server: Ipv4Addr) -> BootParams {
    let reply_server = reply.map(|r| r.server_ip()).filter(|a| !a.is_unspecified());
    let reply_file = reply.map(packet_file_field).filter(|f| f.first().is_some_and(|&b| b != 0));
    let options = ack.options().chain(reply.into_iter().flat_map(|r| r.options())).map(|o| (o.kind, o.data));
    BootParams::from_answer(
        reply_server.unwrap_or_else(|| ack.server_ip()),
        reply_file.unwrap_or_else(|| packet_file_field(ack)),
        options,
        Some(dhcp_server),
    )
}

impl Net<'_> {
    /// On the PXE form, the ROM's cached answer; otherwise, or when that is unusable (said on
    /// the console), our own DHCP exchange.
    pub fn lease(&mut self, pxe: Option<&PxeHandoff>, link_timeout_s: u64) -> Result<Lease, NetError> {
        let Some(pxe) = pxe else { return self.dhcp(link_timeout_s) };
        describe(pxe);
        let mut lease = match self.pxe_cached_lease(pxe, link_timeout_s) {
            Ok(lease) => lease,
            Err(CacheError::NoLink { waited_s }) => return Err(NetError::NoLink { waited_s }),
            Err(e) => {
                println!("{e}");
                self.dhcp(link_timeout_s)?
            }
        };
        // The server that sent the ROM here names this very program as the boot file.
        if let Some(file) = lease.boot.boot_file.take() {
            println!("dhcp: the boot file {file:?} is this loader itself: looking for the config instead");
        }
        Ok(lease)
    }

    /// The lease the PXE ROM got, applied to the interface with no DHCP traffic of ours.
    fn pxe_cached_lease(&mut self, pxe: &PxeHandoff, link_timeout_s: u64) -> Result<Lease, CacheError> {
        if pxe.api == 0 {
            return Err(CacheError::NoApi);
        }
        let ack = pxe.dhcp_ack().ok_or(CacheError::NoPacket)?;
        let lease = lease_from_packets(ack, pxe.cached_reply())?;
        self.wait_for_link(link_timeout_s)?;
        // Our own DHCP client must stay silent: take its socket out of the set.
        self.sockets.remove(self.dhcp);
        let cidr = Ipv4Cidr::new(lease.address, lease.prefix_len);
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            let _ = addrs.push(IpCidr::Ipv4(cidr));
        });
        if let Some(router) = lease.router {
            let _ = self.iface.routes_mut().add_default_ipv4_route(router);
        }
        println!("dhcp: using the PXE ROM's cached reply from {} (no DHCP DISCOVER sent)", lease.dhcp_server);
        Ok(lease)
    }

    fn wait_for_link(&mut self, timeout_s: u64) -> Result<(), CacheError> {
        let start = time::now_ms();
        while !self.device.nic().link_up() {
            if time::now_ms() - start > timeout_s * 1000 {
                return Err(CacheError::NoLink { waited_s: timeout_s });
            }
            time::delay_us(1000);
        }
        Ok(())
    }
}

/// What stage1/pxe.s did with the ROM, for the log.
pub fn describe(pxe: &PxeHandoff) {
    let api = match pxe.api {
        1 => "!PXE",
        2 => "PXENV+",
        _ => "none",
    };
    println!(
        "pxe: API {api} (PXENV+ {}, !PXE {}, version {:#x}), cached DHCPACK {} bytes, boot server reply {} bytes",
        if pxe.found & 1 != 0 { "valid" } else { "invalid" },
        if pxe.found & 6 != 0 { "valid" } else { "invalid" },
        pxe.pxenv_version,
        pxe.dhcp_ack().map_or(0, <[u8]>::len),
        pxe.cached_reply().map_or(0, <[u8]>::len),
    );
    if pxe.api != 0 {
        println!(
            "pxe: unloaded the ROM's stack: UNDI_SHUTDOWN {}, UNLOAD_STACK {}, STOP_UNDI {}",
            Status(pxe.undi_shutdown_status),
            Status(pxe.unload_stack_status),
            Status(pxe.stop_undi_status)
        );
    }
}

struct Status(u16);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => write!(f, "ok"),
            0xffff => write!(f, "not called"),
            0xfffe => write!(f, "failed"),
            status => write!(f, "failed (status {status:#x})"),
        }
    }
}
