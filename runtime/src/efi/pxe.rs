//! The DHCP answer of the firmware's PXE boot: when netloader.efi was started by the
//! firmware's PXE (or by `netloader serve`), the PXE Base Code protocol on the device it was
//! loaded from holds the DHCPACK and the boot server's answer (the proxyDHCP offer, or the
//! port-4011 reply). They become the lease as a PXE ROM's cached packets do on the BIOS PXE
//! form (net/pxe_cache.rs; the packets are parsed by netloader_proto, tested there).
//!
//! Copied out before the network card is opened: opening SNP exclusively stops the firmware's
//! network stack, PXE Base Code included.

use core::ptr::addr_of_mut;

use netloader_proto::dhcp::message_len;
use uefi_raw::protocol::network::pxe::{PxeBaseCodeMode, PxeBaseCodeProtocol};

use crate::net::{CacheError, Firmware, FirmwareAnswer};
use crate::println;

/// `EFI_PXE_BASE_CODE_PACKET`: a BOOTP/DHCP message of up to 1472 bytes.
const PACKET: usize = 1472;

static mut ACK: [u8; PACKET] = [0; PACKET];
static mut REPLY: [u8; PACKET] = [0; PACKET];

/// The firmware's answer, when its PXE started us; `None` when started from a disk (then
/// netloader asks DHCP itself).
pub fn firmware_answer() -> Option<FirmwareAnswer<'static>> {
    let image = super::loaded_image()?;
    // SAFETY: the PXE Base Code GUID names PxeBaseCodeProtocol.
    let pxe = unsafe {
        super::protocol::<PxeBaseCodeProtocol>(image.device_handle, &PxeBaseCodeProtocol::GUID)
    }?;
    // SAFETY: the protocol and its mode stay valid while it is installed (until the card is
    // opened, after this).
    let mode: &PxeBaseCodeMode = unsafe { &*(*pxe).mode };
    let received = |b: uefi_raw::Boolean| bool::from(b);
    println!(
        "pxe: the firmware's PXE Base Code: started {}, DHCPACK {}, proxy offer {}, boot server reply {}",
        received(mode.started),
        received(mode.dhcp_ack_received),
        received(mode.proxy_offer_received),
        received(mode.pxe_reply_received)
    );
    let packets = if !received(mode.dhcp_ack_received) {
        Err(CacheError::NoPacket(Firmware::UefiPxe))
    } else {
        // SAFETY: written here only, once, before anything reads them; read-only afterwards.
        let (ack, reply) = unsafe { (&mut *addr_of_mut!(ACK), &mut *addr_of_mut!(REPLY)) };
        let ack = copy(ack, mode.dhcp_ack.as_ref());
        // The boot server's answer: a port-4011 reply names the boot file most precisely,
        // else the proxyDHCP offer; without either the ACK itself carries the boot options.
        let boot = if received(mode.pxe_reply_received) {
            Some(&mode.pxe_reply)
        } else if received(mode.proxy_offer_received) {
            Some(&mode.proxy_offer)
        } else {
            None
        };
        let reply = boot.map(|packet| copy(reply, packet.as_ref()));
        Ok((ack, reply))
    };
    Some(FirmwareAnswer {
        firmware: Firmware::UefiPxe,
        packets,
    })
}

/// The message in a 1472-byte packet buffer (its end found by the options' end, as for a PXE
/// ROM's buffer).
fn copy<'a>(to: &'a mut [u8; PACKET], packet: &[u8; PACKET]) -> &'a [u8] {
    to.copy_from_slice(packet);
    let len = message_len(&to[..]).unwrap_or(PACKET);
    &to[..len]
}
