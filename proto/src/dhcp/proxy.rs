//! proxyDHCP (PXE 2.1, "proxyDHCP"): a second server on the network that gives no address,
//! only the boot parameters. Its offer answers the same DISCOVER as the DHCP server's (sent to
//! port 68, usually broadcast) and is recognised by an empty `yiaddr` and option 60
//! `PXEClient`. A PXE client takes its address from the DHCP server and next-server / boot
//! file from the proxy.

use core::net::Ipv4Addr;

use smoltcp::wire::{DhcpOpCode, DhcpPacket};

use super::BootParams;

const OPTION_MESSAGE_TYPE: u8 = 53;
const OPTION_SERVER_IDENTIFIER: u8 = 54;
const OPTION_CLASS_IDENTIFIER: u8 = 60;
const MESSAGE_OFFER: u8 = 2;
const MESSAGE_ACK: u8 = 5;
const DHCP_MAGIC: u32 = 0x6382_5363;

/// A usable proxyDHCP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyAnswer {
    /// Who sent it (option 54, else siaddr).
    pub server: Ipv4Addr,
    pub boot: BootParams,
}

/// Is `payload` (a UDP payload from port 67 to 68, or from 4011) a proxyDHCP OFFER or ACK
/// for the card `mac` that names a boot file? Anything else gives None: a plain DHCP answer
/// (it has an address), another client's, a proxy answer with only a boot menu (no file).
pub fn parse_proxy_answer(payload: &[u8], mac: [u8; 6]) -> Option<ProxyAnswer> {
    let packet = DhcpPacket::new_checked(payload).ok()?;
    if packet.opcode() != DhcpOpCode::Reply
        || packet.magic_number() != DHCP_MAGIC
        || packet.client_hardware_address().0 != mac
        || !packet.your_ip().is_unspecified()
    {
        return None;
    }
    let mut message_type = None;
    let mut server_identifier = None;
    let mut pxe_server = false;
    for option in packet.options() {
        match option.kind {
            OPTION_MESSAGE_TYPE => message_type = option.data.first().copied(),
            OPTION_SERVER_IDENTIFIER => {
                server_identifier = <[u8; 4]>::try_from(option.data).ok().map(Ipv4Addr::from)
            }
            OPTION_CLASS_IDENTIFIER => pxe_server = option.data.starts_with(b"PXEClient"),
            _ => {}
        }
    }
    if !pxe_server || !matches!(message_type, Some(MESSAGE_OFFER | MESSAGE_ACK)) {
        return None;
    }
    let siaddr = packet.server_ip();
    let server = server_identifier
        .or(Some(siaddr))
        .filter(|a| !a.is_unspecified())?;
    let file = payload.get(108..236).unwrap_or(&[]);
    let boot = BootParams::from_answer(
        siaddr,
        file,
        packet.options().map(|o| (o.kind, o.data)),
        Some(server),
    );
    boot.boot_file
        .is_some()
        .then_some(ProxyAnswer { server, boot })
}

/// The lease's boot parameters with the proxy's winning where it has them (PXE: the proxy
/// names the boot server and file; the DHCP server only gave the address).
pub fn combine(lease: BootParams, proxy: &BootParams) -> BootParams {
    BootParams {
        tftp_server: proxy.tftp_server.or(lease.tftp_server),
        tftp_server_name: proxy.tftp_server_name.clone().or(lease.tftp_server_name),
        boot_file: proxy.boot_file.clone().or(lease.boot_file),
        config_file: proxy.config_file.clone().or(lease.config_file),
        path_prefix: proxy.path_prefix.clone().or(lease.path_prefix),
        // The network's settings come from its DHCP server; the proxy's only fill a gap.
        dns_server: lease.dns_server.or(proxy.dns_server),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    /// A BOOTREPLY as dnsmasq's proxy mode sends it (see tests/tests/real_networks.rs).
    fn reply(
        yiaddr: [u8; 4],
        siaddr: [u8; 4],
        file: &[u8],
        options: &[&[u8]],
    ) -> std::vec::Vec<u8> {
        let mut p = std::vec![0u8; 240];
        p[0] = 2; // BOOTREPLY
        p[1] = 1;
        p[2] = 6;
        p[16..20].copy_from_slice(&yiaddr);
        p[20..24].copy_from_slice(&siaddr);
        p[28..34].copy_from_slice(&MAC);
        p[108..108 + file.len()].copy_from_slice(file);
        p[236..240].copy_from_slice(&DHCP_MAGIC.to_be_bytes());
        for option in options {
            p.extend_from_slice(option);
        }
        p.push(255);
        p
    }

    const OFFER: &[u8] = &[53, 1, 2];
    const SERVER: &[u8] = &[54, 4, 192, 168, 77, 2];
    const PXE: &[u8] = &[60, 9, b'P', b'X', b'E', b'C', b'l', b'i', b'e', b'n', b't'];

    #[test]
    fn dnsmasq_proxy_offer_is_recognised() {
        let p = reply(
            [0; 4],
            [192, 168, 77, 1],
            b"boot.cfg\0",
            &[OFFER, SERVER, PXE],
        );
        let answer = parse_proxy_answer(&p, MAC).unwrap();
        assert_eq!(answer.server, Ipv4Addr::new(192, 168, 77, 2));
        assert_eq!(
            answer.boot.tftp_server,
            Some(Ipv4Addr::new(192, 168, 77, 1))
        );
        assert_eq!(answer.boot.boot_file.as_deref(), Some("boot.cfg"));
    }

    #[test]
    fn without_siaddr_the_proxy_itself_serves() {
        let p = reply(
            [0; 4],
            [0; 4],
            b"",
            &[OFFER, SERVER, PXE, &[67, 4, b'a', b'.', b'c', b'f']],
        );
        let answer = parse_proxy_answer(&p, MAC).unwrap();
        assert_eq!(
            answer.boot.tftp_server,
            Some(Ipv4Addr::new(192, 168, 77, 2))
        );
        assert_eq!(answer.boot.boot_file.as_deref(), Some("a.cf"));
    }

    #[test]
    fn plain_offers_and_others_are_not_proxy_answers() {
        // An address offered: the DHCP server's answer.
        assert!(
            parse_proxy_answer(
                &reply([192, 168, 77, 50], [0; 4], b"x", &[OFFER, SERVER, PXE]),
                MAC
            )
            .is_none()
        );
        // Not for us.
        assert!(
            parse_proxy_answer(&reply([0; 4], [0; 4], b"x", &[OFFER, SERVER, PXE]), [1; 6])
                .is_none()
        );
        // No PXEClient class.
        assert!(parse_proxy_answer(&reply([0; 4], [0; 4], b"x", &[OFFER, SERVER]), MAC).is_none());
        // A NAK, or a boot menu without a file.
        assert!(
            parse_proxy_answer(
                &reply([0; 4], [0; 4], b"x", &[&[53, 1, 6], SERVER, PXE]),
                MAC
            )
            .is_none()
        );
        assert!(
            parse_proxy_answer(&reply([0; 4], [0; 4], b"", &[OFFER, SERVER, PXE]), MAC).is_none()
        );
        // A request (BOOTREQUEST) echoed back.
        let mut request = reply([0; 4], [0; 4], b"x", &[OFFER, SERVER, PXE]);
        request[0] = 1;
        assert!(parse_proxy_answer(&request, MAC).is_none());
    }

    #[test]
    fn proxy_wins_where_it_has_values() {
        let lease = BootParams::from_answer(
            Ipv4Addr::UNSPECIFIED,
            b"",
            [(209u8, &b"lease.cfg"[..])],
            Some(Ipv4Addr::new(10, 0, 0, 1)),
        );
        let proxy = BootParams::from_answer(Ipv4Addr::new(10, 0, 0, 9), b"boot.cfg", [], None);
        let both = combine(lease, &proxy);
        assert_eq!(both.tftp_server, Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(both.boot_file.as_deref(), Some("boot.cfg"));
        assert_eq!(both.config_file.as_deref(), Some("lease.cfg"));
    }

    #[test]
    fn truncated_and_garbage_never_panic() {
        let good = reply([0; 4], [1, 2, 3, 4], b"f", &[OFFER, SERVER, PXE]);
        for len in 0..good.len() {
            let _ = parse_proxy_answer(&good[..len], MAC);
        }
        let mut rng = crate::test_rng::Rng::new(0x2545_f491);
        for _ in 0..5_000 {
            let mut p = good.clone();
            for _ in 0..8 {
                let seed = rng.next_u64() as u32;
                let at = seed as usize % p.len();
                p[at] = (seed >> 8) as u8;
            }
            let _ = parse_proxy_answer(&p, MAC);
        }
    }
}
