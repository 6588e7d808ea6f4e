//! The network stack: smoltcp over our NIC, DHCP with the PXE client options, and TFTP
//! transfers driven by netloader_proto's sans-IO client.

mod device;
mod proxy;
pub mod pxe_cache;

use core::fmt;
use core::net::Ipv4Addr;
use core::ptr::addr_of_mut;

use netloader_proto::dhcp::BootParams;
use netloader_proto::tftp::{self, Action, Sink, Stats, TftpClient, TftpError, Transmit};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::{dhcpv4, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{DhcpOption, EthernetAddress, HardwareAddress, IpCidr, IpEndpoint};

use crate::boot_info::PXE_PACKET_MAX;
use crate::{print, println, time};
pub use device::NicDevice;

const UDP_RX_SLOTS: usize = 64;
const UDP_RX_BYTES: usize = 64 * 1024;
const UDP_TX_SLOTS: usize = 8;
const UDP_TX_BYTES: usize = 4 * 1024;
/// TFTP window (RFC 7440): what the UDP receive buffer holds with room to spare.
const TFTP_WINDOW: u16 = 32;
/// First retransmission timeout (doubling to 2 s, 8 retries: about 9 s of silence before
/// giving up). On a LAN an answer takes well under a millisecond, even for a whole window;
/// under loss every lost tail block or ACK costs one timeout, so the first one is short.
const TFTP_FIRST_TIMEOUT_MS: u64 = 100;

static mut SOCKET_STORAGE: [SocketStorage<'static>; 2] = [SocketStorage::EMPTY; 2];
static mut UDP_RX_META: [udp::PacketMetadata; UDP_RX_SLOTS] =
    [udp::PacketMetadata::EMPTY; UDP_RX_SLOTS];
static mut UDP_RX_DATA: [u8; UDP_RX_BYTES] = [0; UDP_RX_BYTES];
static mut UDP_TX_META: [udp::PacketMetadata; UDP_TX_SLOTS] =
    [udp::PacketMetadata::EMPTY; UDP_TX_SLOTS];
static mut UDP_TX_DATA: [u8; UDP_TX_BYTES] = [0; UDP_TX_BYTES];
static mut DHCP_PACKET: [u8; 1500] = [0; 1500];
static mut PXE_UUID: [u8; 17] = [0; 17];
static mut PXE_OPTIONS: [DhcpOption<'static>; 5] = [
    // 60: who we are, so that PXE-aware servers answer (arch 0 = x86 BIOS, UNDI 2.1).
    DhcpOption {
        kind: 60,
        data: b"PXEClient:Arch:00000:UNDI:002001",
    },
    DhcpOption {
        kind: 93,
        data: &[0, 0],
    }, // client system architecture: x86 BIOS
    DhcpOption {
        kind: 94,
        data: &[1, 2, 1],
    }, // network interface: UNDI 2.1
    DhcpOption {
        kind: 97,
        data: &[],
    }, // client machine id, filled in from the MAC
    // 77: the user class, as iPXE sends "iPXE", so that a server (`netloader serve`) can hand
    // netloader its config rather than netloader.pxe. Last, so it can be left out.
    DhcpOption {
        kind: 77,
        data: b"netloader",
    },
];
/// The option ROM's first stage wants netloader.pxe, as any PXE ROM: it sends no user class.
const PXE_OPTION_COUNT: usize = if cfg!(feature = "chain") { 4 } else { 5 };
/// Subnet mask, router, DNS, host name, broadcast, vendor options, class id, TFTP server,
/// boot file, PXELINUX config file and path prefix.
static PARAMETER_REQUEST_LIST: [u8; 11] = [1, 3, 6, 12, 28, 43, 60, 66, 67, 209, 210];

pub fn now() -> Instant {
    Instant::from_micros(time::now_us() as i64)
}

/// What DHCP gave us.
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub router: Option<Ipv4Addr>,
    pub dhcp_server: Ipv4Addr,
    pub boot: BootParams,
}

// One is made per failed boot and printed: the size of the TFTP variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum NetError {
    NoLink {
        waited_s: u64,
    },
    NoDhcpAnswer {
        waited_s: u64,
    },
    Tftp {
        server: Ipv4Addr,
        path: heapless::String<128>,
        error: TftpError,
    },
}

impl NetError {
    /// The server said the file does not exist (TFTP error 1).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            NetError::Tftp {
                error: TftpError::Server { code: 1, .. },
                ..
            }
        )
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::NoLink { waited_s } => write!(
                f,
                "E-NET-NOLINK: the network card reports no link after {waited_s} s: check the cable and the switch port"
            ),
            NetError::NoDhcpAnswer { waited_s } => write!(
                f,
                "E-DHCP-TIMEOUT: no DHCP server answered in {waited_s} s (4 DISCOVERs, PXE timing): check that a DHCP server serves this network"
            ),
            NetError::Tftp {
                server,
                path,
                error,
            } => {
                write!(f, "{}: {path} from {server}: {error}", error.code())?;
                match error {
                    TftpError::Server { code: 1, .. } => {
                        write!(f, ": check the path on the TFTP server")
                    }
                    TftpError::NoResponse { .. } => {
                        write!(f, ": check that a TFTP server runs on {server}")
                    }
                    TftpError::Timeout { .. } => write!(f, ": the server stopped answering"),
                    // The file changed on the server while it was sent (or the server
                    // misreports sizes): what arrived is not one whole file, so it is dropped.
                    TftpError::SizeMismatch { .. } => write!(
                        f,
                        ": the file changed on the server during the transfer, or the server reports a wrong size"
                    ),
                    _ => Ok(()),
                }
            }
        }
    }
}

pub struct Net<'n> {
    device: NicDevice<'n>,
    iface: Interface,
    sockets: SocketSet<'static>,
    dhcp: SocketHandle,
    udp: SocketHandle,
    next_port: u16,
    /// The DHCPACK of the lease, as received: the option ROM's first stage hands it on.
    dhcp_ack: heapless::Vec<u8, PXE_PACKET_MAX>,
}

impl<'n> Net<'n> {
    /// Called once: the sockets live in statics.
    pub fn new(nic: &'n mut dyn netloader_drivers::Nic) -> Self {
        let mac = nic.mac();
        let mut device = NicDevice::new(nic);
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        let iface = Interface::new(config, &mut device, now());
        // SAFETY: `new` runs once; these statics are borrowed here for the rest of the run and
        // touched nowhere else.
        let (mut sockets, dhcp, udp) = unsafe {
            let uuid = &mut *addr_of_mut!(PXE_UUID);
            uuid[11..17].copy_from_slice(&mac); // type 0, then a UUID made from the MAC
            let options = &mut *addr_of_mut!(PXE_OPTIONS);
            options[3].data = &*uuid;
            let mut dhcp = dhcpv4::Socket::new();
            dhcp.set_outgoing_options(&options[..PXE_OPTION_COUNT]);
            dhcp.set_parameter_request_list(&PARAMETER_REQUEST_LIST);
            dhcp.set_receive_packet_buffer(&mut *addr_of_mut!(DHCP_PACKET));
            let udp = udp::Socket::new(
                udp::PacketBuffer::new(
                    &mut (&mut *addr_of_mut!(UDP_RX_META))[..],
                    &mut (&mut *addr_of_mut!(UDP_RX_DATA))[..],
                ),
                udp::PacketBuffer::new(
                    &mut (&mut *addr_of_mut!(UDP_TX_META))[..],
                    &mut (&mut *addr_of_mut!(UDP_TX_DATA))[..],
                ),
            );
            let mut sockets = SocketSet::new(&mut (&mut *addr_of_mut!(SOCKET_STORAGE))[..]);
            let dhcp = sockets.add(dhcp);
            let udp = sockets.add(udp);
            (sockets, dhcp, udp)
        };
        let next_port = 49152 + (time::now_us() % 8192) as u16;
        let _ = &mut sockets;
        Net {
            device,
            iface,
            sockets,
            dhcp,
            udp,
            next_port,
            dhcp_ack: heapless::Vec::new(),
        }
    }

    fn poll(&mut self) {
        self.iface.poll(now(), &mut self.device, &mut self.sockets);
    }

    /// Wait for link (up to `link_timeout_s`), then DHCP on the PXE timetable: DISCOVER at
    /// 0, 4, 12, 28 s, giving up at 60 s.
    pub fn dhcp(&mut self, link_timeout_s: u64) -> Result<Lease, NetError> {
        let start = time::now_ms();
        let mut said = false;
        while !self.device.nic().link_up() {
            if !said && time::now_ms() - start > 1000 {
                println!("net: waiting for link...");
                said = true;
            }
            if time::now_ms() - start > link_timeout_s * 1000 {
                return Err(NetError::NoLink {
                    waited_s: link_timeout_s,
                });
            }
            time::delay_us(1000);
        }
        println!("dhcp: asking for an address...");
        let start = time::now_ms();
        let schedule_ms = [4_000u64, 8_000, 16_000, 32_000];
        let mut stage = 0;
        self.set_discover_timeout(schedule_ms[0]);
        self.device.proxy.start();
        loop {
            self.poll();
            let elapsed = time::now_ms() - start;
            // The socket re-arms with the configured timeout after each DISCOVER; stepping the
            // configuration just before each resend gives 4, 8, 16, 32 s.
            let boundary: u64 = schedule_ms[..=stage].iter().sum();
            if elapsed + 100 >= boundary {
                stage += 1;
                if stage == schedule_ms.len() {
                    if elapsed >= boundary {
                        return Err(NetError::NoDhcpAnswer {
                            waited_s: boundary / 1000,
                        });
                    }
                    stage -= 1;
                } else {
                    println!(
                        "dhcp: no answer yet, asking again (waiting {} s)",
                        schedule_ms[stage] / 1000
                    );
                    self.set_discover_timeout(schedule_ms[stage]);
                }
            }
            let socket = self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp);
            if let Some(dhcpv4::Event::Configured(config)) = socket.poll() {
                let plain_names_boot = config.packet.as_ref().is_some_and(names_boot_source);
                self.dhcp_ack.clear();
                if let Some(packet) = &config.packet {
                    // smoltcp hands over its whole receive buffer: keep the message only.
                    let buffer: &[u8] = packet.into_inner();
                    if let Some(len) = netloader_proto::dhcp::message_len(buffer) {
                        let _ = self
                            .dhcp_ack
                            .extend_from_slice(&buffer[..len.min(buffer.len())]);
                    }
                }
                let lease = lease_from(&config);
                let cidr = config.address;
                let router = config.router;
                self.iface.update_ip_addrs(|addrs| {
                    addrs.clear();
                    let _ = addrs.push(IpCidr::Ipv4(cidr));
                });
                if let Some(router) = router {
                    let _ = self.iface.routes_mut().add_default_ipv4_route(router);
                }
                return Ok(self.with_proxy_answer(lease, plain_names_boot));
            }
        }
    }

    /// Combine the lease with a proxyDHCP answer: the one heard during discovery, or, when the
    /// lease names nothing to boot from, one that comes within `proxy::PROXY_WAIT_MS`.
    fn with_proxy_answer(&mut self, mut lease: Lease, plain_names_boot: bool) -> Lease {
        if !plain_names_boot && !self.device.proxy.heard() {
            let start = time::now_ms();
            while !self.device.proxy.heard() && time::now_ms() - start < proxy::PROXY_WAIT_MS {
                self.poll();
            }
        }
        if let Some(answer) = self.device.proxy.finish() {
            println!(
                "dhcp: proxyDHCP {}: tftp server {}, boot file {}",
                answer.server,
                crate::console::OrNone(answer.boot.tftp_server),
                crate::console::OrNone(answer.boot.boot_file.as_deref())
            );
            lease.boot = netloader_proto::dhcp::proxy::combine(lease.boot, &answer.boot);
        }
        lease
    }

    /// The DHCP answers our lease came from, as received: the DHCPACK, and the proxyDHCP
    /// answer where one was used (empty when none, or when one did not fit). The option ROM's
    /// first stage hands them to netloader.pxe.
    pub fn raw_answers(&self) -> (&[u8], &[u8]) {
        (&self.dhcp_ack, self.device.proxy.raw_answer())
    }

    fn set_discover_timeout(&mut self, ms: u64) {
        let socket = self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp);
        let mut retry = socket.get_retry_config();
        retry.discover_timeout = Duration::from_millis(ms);
        socket.set_retry_config(retry);
    }

    /// Fetch `path` from `server` into `sink`, with a progress line. Returns the transfer's
    /// statistics.
    pub fn tftp_get_from(
        &mut self,
        server: Ipv4Addr,
        server_port: u16,
        path: &str,
        sink: &mut dyn Sink,
    ) -> Result<Stats, NetError> {
        let fail = |error| NetError::Tftp {
            server,
            path: truncated(path),
            error,
        };
        let mut options = tftp::Options::for_mtu(1500);
        options.windowsize = TFTP_WINDOW;
        options.initial_timeout_ms = TFTP_FIRST_TIMEOUT_MS;
        options.server_port = server_port;
        let mut client = TftpClient::new(path, options).map_err(fail)?;
        let port = self.next_port;
        self.next_port = if self.next_port >= 65000 {
            49152
        } else {
            self.next_port + 1
        };
        {
            let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
            socket.close();
            let _ = socket.bind(port);
        }
        let mut out = [0u8; 1500];
        let start = time::now_us();
        let transmit = client.start(start / 1000, &mut out).map_err(fail)?;
        self.send(server, transmit, &out);
        let mut progress = Progress::new(path, start);
        let result = loop {
            self.poll();
            let mut action = Action::Wait;
            loop {
                // The datagram is handed to the client straight from the socket's buffer; what
                // the client answers goes out once that borrow has ended.
                let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
                let Ok((data, meta)) = socket.recv() else {
                    break;
                };
                if meta.endpoint.addr != smoltcp::wire::IpAddress::Ipv4(server) {
                    continue;
                }
                action = client.on_packet(time::now_ms(), meta.endpoint.port, data, sink, &mut out);
                match action {
                    Action::Wait => {}
                    Action::Send(t) => {
                        self.send(server, t, &out);
                        action = Action::Wait;
                    }
                    _ => break,
                }
            }
            if matches!(action, Action::Wait)
                && client.poll_deadline().is_some_and(|d| time::now_ms() >= d)
            {
                action = client.on_timer(time::now_ms(), &mut out);
            }
            match action {
                Action::Wait => {}
                Action::Send(t) => self.send(server, t, &out),
                Action::Done(t) => {
                    self.send(server, t, &out);
                    break Ok(*client.stats());
                }
                Action::Failed { send, error } => {
                    if let Some(t) = send {
                        self.send(server, t, &out);
                    }
                    break Err(fail(error));
                }
            }
            progress.update(client.stats(), false);
        };
        // Let the last ACK (or ERROR) leave before the socket is reused.
        for _ in 0..20 {
            self.poll();
        }
        if let Ok(stats) = &result {
            progress.update(stats, true);
        } else {
            println!();
        }
        result
    }

    fn send(&mut self, server: Ipv4Addr, transmit: Transmit, out: &[u8]) {
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        let _ = socket.send_slice(
            &out[..transmit.len],
            IpEndpoint::new(server.into(), transmit.port),
        );
        // Egress only: the caller has just drained what came in, and the next `poll` takes
        // what the answer brings. A receive poll here would cost a register read per block.
        self.iface
            .poll_egress(now(), &mut self.device, &mut self.sockets);
    }

    /// Stop the card's DMA: required before the kernel owns memory.
    pub fn close(&mut self) {
        self.device.nic().close();
    }
}

fn truncated(s: &str) -> heapless::String<128> {
    let mut end = s.len().min(128);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut t = heapless::String::new();
    let _ = t.push_str(&s[..end]);
    t
}

fn lease_from(config: &dhcpv4::Config) -> Lease {
    let boot = match &config.packet {
        Some(packet) => BootParams::from_answer(
            packet.server_ip(),
            netloader_proto::dhcp::file_field(packet),
            packet.options().map(|o| (o.kind, o.data)),
            Some(config.server.identifier),
        ),
        None => BootParams::default(),
    };
    Lease {
        address: config.address.address(),
        prefix_len: config.address.prefix_len(),
        router: config.router,
        dhcp_server: config.server.identifier,
        boot,
    }
}

/// Does the DHCP server's own answer name a boot file or a next-server (siaddr, option 66)?
/// If not, only a proxyDHCP can tell us what to boot.
fn names_boot_source(packet: &smoltcp::wire::DhcpPacket<&[u8]>) -> bool {
    let file = netloader_proto::dhcp::file_field(packet)
        .first()
        .is_some_and(|&b| b != 0);
    let options = packet.options().any(|o| o.kind == 66 || o.kind == 67);
    file || options || !packet.server_ip().is_unspecified()
}

/// A progress line, redrawn in place at most every 250 ms.
struct Progress<'p> {
    path: &'p str,
    start_us: u64,
    last_us: u64,
}

impl<'p> Progress<'p> {
    fn new(path: &'p str, start_us: u64) -> Self {
        Progress {
            path,
            start_us,
            last_us: start_us,
        }
    }

    fn update(&mut self, stats: &Stats, last: bool) {
        let now = time::now_us();
        // The option ROM's first stage fetches one small file: the summary line is enough.
        if !last && (now - self.last_us < 250_000 || cfg!(feature = "chain")) {
            return;
        }
        self.last_us = now;
        let elapsed_us = (now - self.start_us).max(1);
        let kib = stats.bytes_received / 1024;
        let speed_kbs = stats.bytes_received * 1_000_000 / elapsed_us / 1000;
        match stats.tsize.filter(|_| !cfg!(feature = "chain")) {
            Some(total) => print!(
                "\rtftp: {} {} / {} KiB, {}.{:03} MB/s",
                self.path,
                kib,
                total / 1024,
                speed_kbs / 1000,
                speed_kbs % 1000
            ),
            None => print!(
                "\rtftp: {} {} KiB, {}.{:03} MB/s",
                self.path,
                kib,
                speed_kbs / 1000,
                speed_kbs % 1000
            ),
        }
        if last {
            println!(
                "\ntftp: {} done: {} bytes in {}.{:03} s, blksize {}, window {}, {} retransmissions, {} duplicates",
                self.path,
                stats.bytes_received,
                elapsed_us / 1_000_000,
                elapsed_us / 1000 % 1000,
                stats.blksize,
                stats.windowsize,
                stats.retransmissions,
                stats.duplicates
            );
        }
    }
}
