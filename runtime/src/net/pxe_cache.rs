//! The DHCP answer the firmware already got becomes our lease, so there is no second DHCP
//! exchange: on the PXE form the card's PXE ROM's (stage1/pxe.s copied it out of
//! PXENV_GET_CACHED_INFO); for netloader.efi started by the firmware's PXE, UEFI's PXE Base
//! Code's (`Mode.DhcpAck` and `ProxyOffer`/`PxeReply`, copied by src/efi/pxe.rs).
//!
//! The DHCPACK gives our address, mask and router; the boot server's cached reply, where it
//! parses, gives next-server and the PXELINUX options (it is the answer that named the boot
//! file). The boot file named there is netloader.pxe itself, so it is dropped from the lease:
//! booting it again would loop; the config comes from option 209 or the per-host lookup.

use core::fmt;

use netloader_proto::dhcp::CachedLease;
use smoltcp::wire::{IpCidr, Ipv4Cidr};

use super::{Lease, Net, NetError};
#[cfg(not(target_os = "uefi"))]
use crate::boot_info::PxeHandoff;
use crate::{println, time};

/// Which firmware got the answer (the messages name it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// A BIOS PXE ROM (PXENV_GET_CACHED_INFO).
    PxeRom,
    /// UEFI's PXE Base Code protocol.
    #[cfg_attr(not(target_os = "uefi"), allow(dead_code))]
    UefiPxe,
}

/// The DHCP answer a firmware got before netloader ran: the DHCPACK, and the boot server's
/// reply (proxyDHCP or port 4011) where there is one.
pub struct FirmwareAnswer<'a> {
    pub firmware: Firmware,
    pub packets: Result<(&'a [u8], Option<&'a [u8]>), CacheError>,
}

/// Why the cached answer cannot be used (the caller falls back to its own DHCP).
pub enum CacheError {
    NoApi,
    NoPacket(Firmware),
    Unparsable(Firmware, &'static str),
    NoLink { waited_s: u64 },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::NoApi => write!(
                f,
                "E-PXE-NOAPI: the PXE ROM handed over no valid PXENV+ or !PXE structure (signature or checksum): asking DHCP ourselves"
            ),
            CacheError::NoPacket(Firmware::PxeRom) => {
                write!(
                    f,
                    "E-PXE-NOCACHE: the PXE ROM gave no cached DHCPACK (PXENV_GET_CACHED_INFO): asking DHCP ourselves"
                )
            }
            CacheError::NoPacket(Firmware::UefiPxe) => {
                write!(
                    f,
                    "E-PXE-NOCACHE: the firmware's PXE Base Code holds no DHCPACK (Mode.DhcpAckReceived is false): asking DHCP ourselves"
                )
            }
            CacheError::Unparsable(firmware, why) => {
                write!(
                    f,
                    "E-PXE-BADCACHE: {} cached DHCPACK is unusable ({why}): asking DHCP ourselves",
                    firmware.owner()
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

impl Firmware {
    /// "the PXE ROM's", as the messages say it.
    fn owner(self) -> &'static str {
        match self {
            Firmware::PxeRom => "the PXE ROM's",
            Firmware::UefiPxe => "the firmware's PXE Base Code's",
        }
    }
}

/// Address, mask and router from an ACK; the boot parameters from `boot` (the boot server's
/// reply, or the ACK itself). The parsing is netloader_proto's, tested there on hostile bytes.
fn lease_from_packets(
    firmware: Firmware,
    ack: &[u8],
    boot: Option<&[u8]>,
) -> Result<Lease, CacheError> {
    let lease = CachedLease::from_packets(ack, boot)
        .map_err(|e| CacheError::Unparsable(firmware, e.as_str()))?;
    Ok(Lease {
        address: lease.address,
        prefix_len: lease.prefix_len,
        router: lease.router,
        dhcp_server: lease.dhcp_server,
        boot: lease.boot,
    })
}

impl Net<'_> {
    /// The firmware's answer where it has one (the PXE form, netloader.efi by PXE);
    /// otherwise, or when that is unusable (said on the console), our own DHCP exchange.
    pub fn lease(
        &mut self,
        answer: Option<FirmwareAnswer>,
        link_timeout_s: u64,
    ) -> Result<Lease, NetError> {
        let Some(answer) = answer else {
            return self.dhcp(link_timeout_s);
        };
        let mut lease = match self.cached_lease(answer, link_timeout_s) {
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

    /// The lease the firmware got, applied to the interface with no DHCP traffic of ours.
    fn cached_lease(
        &mut self,
        answer: FirmwareAnswer,
        link_timeout_s: u64,
    ) -> Result<Lease, CacheError> {
        let (ack, reply) = answer.packets?;
        let lease = lease_from_packets(answer.firmware, ack, reply)?;
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
            "dhcp: using {} cached reply from {} (no DHCP DISCOVER sent)",
            answer.firmware.owner(),
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

/// The PXE form's answer: what the ROM handed stage 1 (described on the console).
#[cfg(not(target_os = "uefi"))]
pub fn from_rom(pxe: &PxeHandoff) -> FirmwareAnswer<'_> {
    describe(pxe);
    let packets = if pxe.api == 0 {
        Err(CacheError::NoApi)
    } else {
        match pxe.dhcp_ack() {
            Some(ack) => Ok((ack, pxe.cached_reply())),
            None => Err(CacheError::NoPacket(Firmware::PxeRom)),
        }
    };
    FirmwareAnswer {
        firmware: Firmware::PxeRom,
        packets,
    }
}

/// What stage1/pxe.s did with the ROM, for the log.
#[cfg(not(target_os = "uefi"))]
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
#[cfg(not(target_os = "uefi"))]
pub struct Status(pub u16);

#[cfg(not(target_os = "uefi"))]
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
