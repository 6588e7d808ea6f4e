//! The PXE form: the DHCP answer the card's PXE ROM already got (stage1/pxe.s copied it out of
//! PXENV_GET_CACHED_INFO) becomes our lease, so there is no second DHCP exchange.
//!
//! The DHCPACK gives our address, mask and router; the boot server's cached reply, where it
//! parses, gives next-server and the PXELINUX options (it is the answer that named the boot
//! file). The boot file named there is netloader.pxe itself, so it is dropped from the lease:
//! booting it again would loop; the config comes from option 209 or the per-host lookup.

use core::fmt;

use netloader_proto::dhcp::CachedLease;
use smoltcp::wire::{IpCidr, Ipv4Cidr};

use super::{Lease, Net, NetError};
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
                write!(
                    f,
                    "E-PXE-NOCACHE: the PXE ROM gave no cached DHCPACK (PXENV_GET_CACHED_INFO): asking DHCP ourselves"
                )
            }
            CacheError::Unparsable(why) => {
                write!(
                    f,
                    "E-PXE-BADCACHE: the PXE ROM's cached DHCPACK is unusable ({why}): asking DHCP ourselves"
                )
            }
            CacheError::NoLink { waited_s } => {
                write!(
                    f,
                    "E-NET-NOLINK: the network card reports no link after {waited_s} s: check the cable and the switch port"
                )
            }
        }
    }
}

/// Address, mask and router from an ACK; the boot parameters from `boot` (the boot server's
/// reply, or the ACK itself). The parsing is netloader_proto's, tested there on hostile bytes.
fn lease_from_packets(ack: &[u8], boot: Option<&[u8]>) -> Result<Lease, CacheError> {
    let lease =
        CachedLease::from_packets(ack, boot).map_err(|e| CacheError::Unparsable(e.as_str()))?;
    Ok(Lease {
        address: lease.address,
        prefix_len: lease.prefix_len,
        router: lease.router,
        dhcp_server: lease.dhcp_server,
        boot: lease.boot,
    })
}

impl Net<'_> {
    /// On the PXE form, the ROM's cached answer; otherwise, or when that is unusable (said on
    /// the console), our own DHCP exchange.
    pub fn lease(
        &mut self,
        pxe: Option<&PxeHandoff>,
        link_timeout_s: u64,
    ) -> Result<Lease, NetError> {
        let Some(pxe) = pxe else {
            return self.dhcp(link_timeout_s);
        };
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
            println!(
                "dhcp: the boot file {file:?} is this loader itself: looking for the config instead"
            );
        }
        Ok(lease)
    }

    /// The lease the PXE ROM got, applied to the interface with no DHCP traffic of ours.
    fn pxe_cached_lease(
        &mut self,
        pxe: &PxeHandoff,
        link_timeout_s: u64,
    ) -> Result<Lease, CacheError> {
        if pxe.api == 0 {
            return Err(CacheError::NoApi);
        }
        let ack = pxe.dhcp_ack().ok_or(CacheError::NoPacket)?;
        let lease = lease_from_packets(ack, pxe.cached_reply())?;
        // Kept as our own DHCPACK would be (Multiboot 2 hands it to the kernel).
        self.dhcp_ack.clear();
        let _ = self.dhcp_ack.extend_from_slice(ack);
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
        println!(
            "dhcp: using the PXE ROM's cached reply from {} (no DHCP DISCOVER sent)",
            lease.dhcp_server
        );
        Ok(lease)
    }

    fn wait_for_link(&mut self, timeout_s: u64) -> Result<(), CacheError> {
        let start = time::now_ms();
        while !self.device.nic().link_up() {
            if time::now_ms() - start > timeout_s * 1000 {
                return Err(CacheError::NoLink {
                    waited_s: timeout_s,
                });
            }
            time::delay_us(1000);
        }
        Ok(())
    }
}

/// What stage1/pxe.s did with the ROM, for the log.
pub fn describe(pxe: &PxeHandoff) {
    if pxe.started_by_netloader_rom() {
        println!(
            "pxe: started by netloader's option ROM, with its DHCPACK ({} bytes) and proxyDHCP answer ({} bytes)",
            pxe.dhcp_ack().map_or(0, <[u8]>::len),
            pxe.cached_reply().map_or(0, <[u8]>::len),
        );
        return;
    }
    let api = match pxe.api {
        1 => "!PXE",
        2 => "PXENV+",
        _ => "none",
    };
    println!(
        "pxe: API {api} (PXENV+ {}, !PXE {}, version {:#x}), cached DHCPACK {} bytes, boot server reply {} bytes",
        if pxe.found & 1 != 0 {
            "valid"
        } else {
            "invalid"
        },
        if pxe.found & 6 != 0 {
            "valid"
        } else {
            "invalid"
        },
        pxe.pxenv_version,
        pxe.dhcp_ack().map_or(0, <[u8]>::len),
        pxe.cached_reply().map_or(0, <[u8]>::len),
    );
    if pxe.stack_kept() {
        println!("pxe: the ROM's stack stays resident: netloader drives the card through it");
    } else if pxe.api != 0 {
        println!(
            "pxe: unloaded the ROM's stack: UNDI_SHUTDOWN {}, UNLOAD_STACK {}, STOP_UNDI {}",
            Status(pxe.undi_shutdown_status),
            Status(pxe.unload_stack_status),
            Status(pxe.stop_undi_status)
        );
    }
}

/// A PXE call's status as stage1/pxe.s records it.
pub struct Status(pub u16);

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
