//! Host tests of serve's DHCP answers: messages built as the clients build them, answers read
//! back with dhcproto and with the runtime's own proxyDHCP parser.

use std::path::PathBuf;

use netloader_proto::test_rng::Rng;

use dhcproto::Decodable;

use super::*;
use crate::serve::files::Extra;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

fn files_with_default_config() -> Arc<Files> {
    let mut files = Files::new(None);
    files.add(
        "netloader.cfg/default",
        Extra::Bytes(Arc::from(&b"set timeout=0\n"[..])),
    );
    files.add("netloader.pxe", Extra::Path(PathBuf::from("/nonexistent")));
    Arc::new(files)
}

fn plan() -> BootPlan {
    BootPlan {
        files: files_with_default_config(),
        bios_boot_file: "netloader.pxe".into(),
    }
}

fn proxy() -> DhcpService {
    DhcpService::new(SERVER, Mode::Proxy, plan())
}

fn full() -> DhcpService {
    DhcpService::new(
        SERVER,
        Mode::Full {
            leases: Leases::new(
                Ipv4Addr::new(192, 168, 77, 100),
                Ipv4Addr::new(192, 168, 77, 101),
            ),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
        },
        plan(),
    )
}

/// What kind of client builds the request.
#[derive(Clone, Copy)]
enum Who {
    /// A PXE ROM of this architecture (options 60, 93, 94, 97).
    Pxe(u16),
    /// The netloader runtime: a PXE client with option 77 "netloader".
    Netloader,
    /// A laptop: no PXE options.
    Plain,
}

fn request(who: Who, kind: MessageType, mac: [u8; 6]) -> Message {
    let mut m = Message::new_with_id(
        0x1234_5678,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &mac,
    );
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    let arch = match who {
        Who::Pxe(arch) => Some(arch),
        Who::Netloader => Some(0),
        Who::Plain => None,
    };
    if let Some(arch) = arch {
        opts.insert(DhcpOption::ClassIdentifier(
            format!("PXEClient:Arch:{arch:05}:UNDI:002001").into_bytes(),
        ));
        opts.insert(DhcpOption::ClientSystemArchitecture(arch.into()));
        opts.insert(DhcpOption::ClientNetworkInterface(1, 2, 1));
        opts.insert(DhcpOption::ClientMachineIdentifier(vec![0; 17]));
    }
    if let Who::Netloader = who {
        opts.insert(DhcpOption::UserClass(NETLOADER_USER_CLASS.to_vec()));
    }
    m
}

fn handle(service: &mut DhcpService, message: &Message, port: Port) -> Outcome {
    let from = match port {
        Port::Dhcp => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, DHCP_CLIENT_PORT),
        Port::BootServer => SocketAddrV4::new(Ipv4Addr::new(192, 168, 77, 51), DHCP_CLIENT_PORT),
    };
    service.handle(&message.to_vec().unwrap(), port, from, Instant::now())
}

fn reply(outcome: &Outcome) -> Message {
    let reply = outcome.reply.as_ref().expect("an answer");
    assert!(reply.bytes.len() >= MIN_MESSAGE_LEN);
    Message::from_bytes(&reply.bytes).unwrap()
}

/// The `file` field as text (dhcproto keeps the NUL padding).
fn fname(message: &Message) -> String {
    let bytes = message.fname().unwrap_or_default();
    String::from_utf8_lossy(bytes)
        .trim_end_matches('\0')
        .to_string()
}

fn option_bytes(message: &Message, code: u8) -> Option<Vec<u8>> {
    let option = message.opts().get(OptionCode::from(code))?;
    let mut bytes = Vec::new();
    option
        .encode(&mut dhcproto::Encoder::new(&mut bytes))
        .ok()?;
    Some(bytes[2..].to_vec())
}

#[test]
fn a_bios_pxe_rom_gets_netloader_pxe_and_no_address() {
    let mut service = proxy();
    let outcome = handle(
        &mut service,
        &request(Who::Pxe(0), MessageType::Discover, MAC),
        Port::Dhcp,
    );
    let offer = reply(&outcome);
    assert_eq!(outcome.reply.as_ref().unwrap().to, BROADCAST);
    assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
    assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(offer.siaddr(), SERVER);
    assert_eq!(offer.xid(), 0x1234_5678);
    assert_eq!(offer.chaddr(), MAC);
    assert_eq!(fname(&offer), "netloader.pxe");
    assert_eq!(option_bytes(&offer, 54).unwrap(), SERVER.octets());
    assert_eq!(option_bytes(&offer, 60).unwrap(), b"PXEClient");
    assert_eq!(option_bytes(&offer, 43).unwrap(), PXE_VENDOR_OPTIONS);
    assert_eq!(option_bytes(&offer, 97).unwrap(), [0; 17]);
    assert_eq!(option_bytes(&offer, 209).unwrap(), b"netloader.cfg/default");
    let log = outcome.log.unwrap();
    assert!(
        log.contains("52:54:00:12:34:56 PXE x86 BIOS (arch 0): proxy OFFER (no address)"),
        "{log}"
    );

    // Its REQUEST on 67 is the network's DHCP server's business; on 4011 it is ours.
    let req = request(Who::Pxe(0), MessageType::Request, MAC);
    assert!(handle(&mut service, &req, Port::Dhcp).reply.is_none());
    let outcome = handle(&mut service, &req, Port::BootServer);
    let ack = reply(&outcome);
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(fname(&ack), "netloader.pxe");
    assert_eq!(
        outcome.reply.unwrap().to,
        SocketAddrV4::new(Ipv4Addr::new(192, 168, 77, 51), DHCP_CLIENT_PORT)
    );
}

#[test]
fn the_runtime_takes_the_answer_to_a_netloader_client_as_its_proxy_answer() {
    let mut service = proxy();
    let outcome = handle(
        &mut service,
        &request(Who::Netloader, MessageType::Discover, MAC),
        Port::Dhcp,
    );
    let bytes = outcome.reply.unwrap().bytes;
    let answer = netloader_proto::dhcp::proxy::parse_proxy_answer(&bytes, MAC)
        .expect("the runtime's proxyDHCP parser accepts it");
    assert_eq!(answer.server, SERVER);
    assert_eq!(answer.boot.tftp_server, Some(SERVER));
    assert_eq!(
        answer.boot.boot_file.as_deref(),
        Some("netloader.cfg/default")
    );
    assert_eq!(
        answer.boot.config_file.as_deref(),
        Some("netloader.cfg/default")
    );
    assert!(
        outcome
            .log
            .unwrap()
            .contains("netloader (x86 BIOS): proxy OFFER")
    );
    // Not for another card.
    assert!(netloader_proto::dhcp::proxy::parse_proxy_answer(&bytes, [0; 6]).is_none());

    // Its REQUEST to the network's DHCP server gets the same answer as an ACK: a second
    // chance when the OFFER was lost. A PXE ROM's REQUEST on 67 gets nothing.
    let outcome = handle(
        &mut service,
        &request(Who::Netloader, MessageType::Request, MAC),
        Port::Dhcp,
    );
    let bytes = outcome.reply.unwrap().bytes;
    assert_eq!(
        Message::from_bytes(&bytes).unwrap().opts().msg_type(),
        Some(MessageType::Ack)
    );
    let answer = netloader_proto::dhcp::proxy::parse_proxy_answer(&bytes, MAC).unwrap();
    assert_eq!(
        answer.boot.boot_file.as_deref(),
        Some("netloader.cfg/default")
    );
    assert!(outcome.log.unwrap().contains("proxy ACK (no address)"));
    assert!(
        handle(
            &mut service,
            &request(Who::Pxe(0), MessageType::Request, MAC),
            Port::Dhcp
        )
        .reply
        .is_none()
    );
}

#[test]
fn pxelinux_gets_no_netloader_config() {
    let mut service = DhcpService::new(
        SERVER,
        Mode::Proxy,
        BootPlan {
            files: files_with_default_config(),
            bios_boot_file: "pxelinux.0".into(),
        },
    );
    let offer = reply(&handle(
        &mut service,
        &request(Who::Pxe(0), MessageType::Discover, MAC),
        Port::Dhcp,
    ));
    assert_eq!(fname(&offer), "pxelinux.0");
    assert_eq!(option_bytes(&offer, 209), None);
}

/// UEFI PXE clients get the built-in netloader.efi even where the folder has none; an
/// architecture without a boot program and a client that is no PXE client are not answered,
/// and that is said once.
#[test]
fn uefi_clients_get_the_built_in_program_others_are_not_answered_and_said_once() {
    let mut service = proxy();
    for (n, who) in [Who::Pxe(7), Who::Pxe(9), Who::Pxe(11), Who::Plain]
        .into_iter()
        .enumerate()
    {
        let message = request(who, MessageType::Discover, [0x52, 0x54, 0, 0, 0, n as u8]);
        let first = handle(&mut service, &message, Port::Dhcp);
        let log = first.log.clone().expect("said what happened");
        match who {
            Who::Pxe(arch @ (7 | 9)) => {
                assert_eq!(fname(&reply(&first)), "netloader.efi");
                assert!(
                    log.contains(&format!(
                        "PXE x64 UEFI (arch {arch}): proxy OFFER (no address): boot file netloader.efi"
                    )),
                    "{log}"
                );
                continue;
            }
            Who::Pxe(_) => assert!(log.contains("no boot program for arch 11"), "{log}"),
            _ => assert!(log.contains("not a PXE client"), "{log}"),
        }
        assert!(first.reply.is_none());
        let again = handle(&mut service, &message, Port::Dhcp);
        assert!(again.reply.is_none() && again.log.is_none());
    }
}

/// A UEFI PXE client (arch 7 as EDK2 sends it, 9 as some firmwares do) gets the folder's
/// netloader.efi in the proxy OFFER and again in the boot server's ACK on port 4011, never
/// with an address or a netloader config; in full DHCP with its address.
#[test]
fn uefi_clients_get_netloader_efi_from_the_folder_on_67_and_4011() {
    let mut files = Files::new(None);
    files.add(
        "netloader.efi",
        Extra::Bytes(Arc::from(&b"MZ stand-in"[..])),
    );
    let files = Arc::new(files);
    let plan = || BootPlan {
        files: files.clone(),
        bios_boot_file: "netloader.pxe".into(),
    };
    let mut service = DhcpService::new(SERVER, Mode::Proxy, plan());
    for arch in [7, 9] {
        let outcome = handle(
            &mut service,
            &request(Who::Pxe(arch), MessageType::Discover, MAC),
            Port::Dhcp,
        );
        let offer = reply(&outcome);
        assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(offer.siaddr(), SERVER);
        assert_eq!(fname(&offer), "netloader.efi");
        assert_eq!(option_bytes(&offer, 60).unwrap(), b"PXEClient");
        assert_eq!(option_bytes(&offer, 43).unwrap(), PXE_VENDOR_OPTIONS);
        assert_eq!(option_bytes(&offer, 209), None, "no netloader config");
        let log = outcome.log.unwrap();
        assert!(
            log.contains(&format!(
                "PXE x64 UEFI (arch {arch}): proxy OFFER (no address): boot file netloader.efi from 192.168.77.2"
            )),
            "{log}"
        );
        let req = request(Who::Pxe(arch), MessageType::Request, MAC);
        assert!(handle(&mut service, &req, Port::Dhcp).reply.is_none());
        let outcome = handle(&mut service, &req, Port::BootServer);
        let ack = reply(&outcome);
        assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
        assert_eq!(ack.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(fname(&ack), "netloader.efi");
        assert!(
            outcome
                .log
                .unwrap()
                .contains("boot server ACK on port 4011 (no address): boot file netloader.efi"),
        );
    }
    let mut service = DhcpService::new(
        SERVER,
        Mode::Full {
            leases: Leases::new(
                Ipv4Addr::new(192, 168, 77, 100),
                Ipv4Addr::new(192, 168, 77, 101),
            ),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
        },
        plan(),
    );
    let offer = reply(&handle(
        &mut service,
        &request(Who::Pxe(7), MessageType::Discover, MAC),
        Port::Dhcp,
    ));
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(192, 168, 77, 100));
    assert_eq!(fname(&offer), "netloader.efi");
}

#[test]
fn arch_from_the_vendor_class_when_option_93_is_missing() {
    let mut message = request(Who::Pxe(7), MessageType::Discover, MAC);
    message
        .opts_mut()
        .remove(OptionCode::ClientSystemArchitecture);
    let bytes = message.to_vec().unwrap();
    let request = parse_client_request(&bytes).unwrap();
    assert_eq!(Client::of(&request).arch, Some(7));
}

#[test]
fn proxy_mode_never_gives_an_address() {
    // Seeded random requests of every kind, on both ports, from every kind of client:
    // whatever serve answers in proxy mode, yiaddr is 0.
    let mut rng = Rng::new(0x5eed_0013);
    let mut service = proxy();
    let kinds = [
        MessageType::Discover,
        MessageType::Request,
        MessageType::Inform,
        MessageType::Release,
        MessageType::Decline,
    ];
    let mut answers = 0;
    for _ in 0..2000 {
        let who = match rng.below(4) {
            0 => Who::Plain,
            1 => Who::Netloader,
            2 => Who::Pxe(0),
            _ => Who::Pxe(rng.below(12) as u16),
        };
        let mac = [0x52, 0x54, 0, 0, rng.below(4) as u8, rng.below(256) as u8];
        let mut message = request(who, kinds[rng.index(kinds.len())], mac);
        if rng.below(2) == 0 {
            message.set_ciaddr(Ipv4Addr::from(rng.next_u64() as u32));
        }
        if rng.below(2) == 0 {
            message
                .opts_mut()
                .insert(DhcpOption::RequestedIpAddress(Ipv4Addr::from(
                    rng.next_u64() as u32,
                )));
        }
        let port = if rng.below(2) == 0 {
            Port::Dhcp
        } else {
            Port::BootServer
        };
        if let Some(reply) = handle(&mut service, &message, port).reply {
            answers += 1;
            assert_eq!(
                Message::from_bytes(&reply.bytes).unwrap().yiaddr(),
                Ipv4Addr::UNSPECIFIED
            );
        }
    }
    assert!(
        answers > 300,
        "only {answers} answers: the test checks little"
    );
}

#[test]
fn garbage_gets_no_answer() {
    let mut rng = Rng::new(99);
    let mut service = full();
    let valid = request(Who::Pxe(0), MessageType::Discover, MAC)
        .to_vec()
        .unwrap();
    for round in 0..3000 {
        let mut bytes = if round % 2 == 0 {
            valid.clone()
        } else {
            (0..rng.index(600)).map(|_| rng.below(256) as u8).collect()
        };
        // Flip some bytes of the valid message, or cut it.
        for _ in 0..rng.below(8) {
            if !bytes.is_empty() {
                let i = rng.index(bytes.len());
                bytes[i] = rng.below(256) as u8;
            }
        }
        if rng.below(4) == 0 {
            bytes.truncate(rng.index(bytes.len() + 1));
        }
        let from = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
        let _ = service.handle(&bytes, Port::Dhcp, from, Instant::now());
    }
}

#[test]
fn full_dhcp_offers_acks_naks_and_renews() {
    let mut service = full();
    let now = Instant::now();
    let from = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
    let send = |service: &mut DhcpService, m: &Message| {
        service.handle(&m.to_vec().unwrap(), Port::Dhcp, from, now)
    };

    let outcome = send(
        &mut service,
        &request(Who::Netloader, MessageType::Discover, MAC),
    );
    let offer = reply(&outcome);
    let addr = offer.yiaddr();
    assert_eq!(addr, Ipv4Addr::new(192, 168, 77, 100));
    assert_eq!(option_bytes(&offer, 1).unwrap(), [255, 255, 255, 0]);
    assert_eq!(option_bytes(&offer, 51).unwrap(), 3600u32.to_be_bytes());
    assert_eq!(fname(&offer), "netloader.cfg/default");
    assert!(outcome.log.unwrap().contains("OFFER 192.168.77.100"));

    // SELECTING: our server identifier and the offered address.
    let mut req = request(Who::Netloader, MessageType::Request, MAC);
    req.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
    req.opts_mut().insert(DhcpOption::RequestedIpAddress(addr));
    let ack = reply(&send(&mut service, &req));
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr(), addr);

    // Another card asking for that address is refused; it is offered the other one.
    let other = [0x52, 0x54, 0, 0, 0, 0x99];
    let mut foreign = request(Who::Plain, MessageType::Request, other);
    foreign
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(addr));
    let nak = reply(&send(&mut service, &foreign));
    assert_eq!(nak.opts().msg_type(), Some(MessageType::Nak));
    assert_eq!(nak.yiaddr(), Ipv4Addr::UNSPECIFIED);
    let offer = reply(&send(
        &mut service,
        &request(Who::Plain, MessageType::Discover, other),
    ));
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(192, 168, 77, 101));
    assert_eq!(
        fname(&offer),
        "",
        "a laptop gets an address and no boot file"
    );

    // A third card finds the pool empty: no answer, and a line that says so.
    let third = [0x52, 0x54, 0, 0, 0, 0x77];
    let outcome = send(
        &mut service,
        &request(Who::Pxe(0), MessageType::Discover, third),
    );
    assert!(outcome.reply.is_none());
    assert!(outcome.log.unwrap().contains("no address left"));

    // INIT-REBOOT from another network: NAK. From our range, unknown: silent.
    let mut reboot = request(Who::Pxe(0), MessageType::Request, third);
    reboot
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 1, 2, 3)));
    assert_eq!(
        reply(&send(&mut service, &reboot)).opts().msg_type(),
        Some(MessageType::Nak)
    );

    // RENEWING: unicast to the client's address.
    let mut renew = request(Who::Netloader, MessageType::Request, MAC);
    renew.set_ciaddr(addr);
    let outcome = send(&mut service, &renew);
    assert_eq!(
        outcome.reply.as_ref().unwrap().to,
        SocketAddrV4::new(addr, 68)
    );
    assert_eq!(reply(&outcome).opts().msg_type(), Some(MessageType::Ack));

    // The other card took another server's offer: ours is dropped silently.
    let mut elsewhere = request(Who::Plain, MessageType::Request, other);
    elsewhere
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(192, 168, 77, 9)));
    elsewhere
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(
            192, 168, 77, 9,
        )));
    let outcome = send(&mut service, &elsewhere);
    assert!(outcome.reply.is_none());
    // ... so the third card now gets .101.
    let offer = reply(&send(
        &mut service,
        &request(Who::Pxe(0), MessageType::Discover, third),
    ));
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(192, 168, 77, 101));

    // RELEASE frees the first card's address.
    let mut release = request(Who::Netloader, MessageType::Release, MAC);
    release.set_ciaddr(addr);
    assert!(send(&mut service, &release).reply.is_none());
    let fourth = [0x52, 0x54, 0, 0, 0, 0x44];
    let offer = reply(&send(
        &mut service,
        &request(Who::Plain, MessageType::Discover, fourth),
    ));
    assert_eq!(offer.yiaddr(), addr);
}

#[test]
fn relayed_requests_are_left_alone() {
    let mut service = full();
    let mut message = request(Who::Pxe(0), MessageType::Discover, MAC);
    message.set_giaddr(Ipv4Addr::new(10, 0, 0, 1));
    let outcome = handle(&mut service, &message, Port::Dhcp);
    assert!(outcome.reply.is_none());
    assert!(outcome.log.unwrap().contains("relayed"));
}
