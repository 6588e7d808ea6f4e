//! The network stack: smoltcp over our NIC, DHCP with the PXE client options, TFTP transfers
//! driven by netloader_proto's sans-IO client, HTTP over smoltcp's TCP (`http.rs`) and DNS
//! for host names (`dns.rs`). The boot code fetches every file through [`Net::fetch`].

mod device;
#[cfg(feature = "http")]
mod dns;
#[cfg(feature = "http")]
mod http;
mod proxy;
pub mod pxe_cache;
#[cfg(not(target_os = "uefi"))]
pub use pxe_cache::from_rom;
#[cfg_attr(not(target_os = "uefi"), allow(unused_imports))]
pub use pxe_cache::{CacheError, Firmware, FirmwareAnswer};

use core::fmt;
use core::net::Ipv4Addr;
use core::ops::Range;
use core::ptr::addr_of_mut;

use netloader_proto::config::FileSource;
use netloader_proto::dhcp::BootParams;
#[cfg(feature = "http")]
use netloader_proto::http::{HttpError, UrlText};
use netloader_proto::memmap::MemoryMap;
use netloader_proto::tftp::{self, Action, Sink, Stats, TftpClient, TftpError, Transmit};
use netloader_proto::url::Host;
#[cfg(feature = "http")]
use netloader_proto::url::{Scheme, Url};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::{dhcpv4, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{DhcpOption, EthernetAddress, HardwareAddress, IpCidr, IpEndpoint};

use crate::{print, println, time};
pub use device::NicDevice;

/// The largest DHCP packet stage1/pxe.s keeps (PACKET_MAX there).
pub const PXE_PACKET_MAX: usize = 1472;

const UDP_RX_SLOTS: usize = 64;
const UDP_RX_BYTES: u64 = 64 * 1024;
const UDP_TX_SLOTS: usize = 8;
const UDP_TX_BYTES: usize = 4 * 1024;
/// TFTP window (RFC 7440): what the UDP receive buffer holds with room to spare.
const TFTP_WINDOW: u16 = 32;
/// First retransmission timeout (doubling to 2 s, 8 retries: about 9 s of silence before
/// giving up). On a LAN an answer takes well under a millisecond, even for a whole window;
/// under loss every lost tail block or ACK costs one timeout, so the first one is short.
const TFTP_FIRST_TIMEOUT_MS: u64 = 100;

/// DHCP, UDP (TFTP), TCP (HTTP), DNS.
static mut SOCKET_STORAGE: [SocketStorage<'static>; 4] = [SocketStorage::EMPTY; 4];
static mut UDP_RX_META: [udp::PacketMetadata; UDP_RX_SLOTS] =
    [udp::PacketMetadata::EMPTY; UDP_RX_SLOTS];
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

/// The TCP receive window: what a web server may send before we read it. 4 MiB where upper
/// memory has 64 MiB or more, else 1 MiB (see docs/benchmarks.md for what the size buys);
/// none without HTTP.
fn tcp_window_bytes(map: &MemoryMap) -> u64 {
    const MIB: u64 = 1024 * 1024;
    if !cfg!(feature = "http") {
        0
    } else if map.upper_kib() as u64 * 1024 >= 64 * MIB {
        4 * MIB
    } else {
        MIB
    }
}

/// A host name from a URL, as reported.
#[cfg(feature = "http")]
pub type HostName = heapless::String<{ netloader_proto::url::MAX_HOST_NAME }>;

/// Upper memory the network takes while files download, at the top of the platform's work area
/// (BIOS: the first run of RAM above 1 MiB, below 4 GiB), from the bottom up: the TCP window,
/// TFTP's UDP receive buffer, and the card's DMA memory (rings, buffers, its driver's state;
/// whole pages). Conventional memory has no room for them. The boot code places no file in
/// any of them ([`buffer_area`]); after the hand-off they are free memory again.
pub struct Areas {
    pub tcp_window: Range<u64>,
    pub udp_rx: Range<u64>,
    pub nic_dma: Range<u64>,
}

pub fn areas(map: &MemoryMap) -> Areas {
    const PAGE: u64 = 4096;
    let work = crate::boot::work_area(map);
    let below = |end: u64, len: u64| end.saturating_sub(len).max(work.start)..end;
    let nic_dma = below(
        work.end & !(PAGE - 1),
        (crate::nic::DMA_AREA_LEN as u64).next_multiple_of(PAGE),
    );
    let udp_rx = below(nic_dma.start, UDP_RX_BYTES);
    let tcp_window = below(udp_rx.start, tcp_window_bytes(map));
    Areas {
        tcp_window,
        udp_rx,
        nic_dma,
    }
}

/// All of [`areas`], for the boot code to keep files out of.
pub fn buffer_area(map: &MemoryMap) -> Range<u64> {
    areas(map).tcp_window.start..crate::boot::work_area(map).end
}

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

/// Why a file could not be fetched ([`Net::fetch`]); each prints as one `E-...` line.
pub enum FetchError {
    /// TFTP (and the network below it).
    Net(NetError),
    /// A path on the boot server, and DHCP named none.
    NoServer { path: heapless::String<128> },
    /// The web server's answer (status, framing, redirects, size).
    #[cfg(feature = "http")]
    Http { url: UrlText, error: HttpError },
    /// A reset answered the connection request.
    #[cfg(feature = "http")]
    Refused { url: UrlText },
    /// The connection was reset during the response.
    #[cfg(feature = "http")]
    Reset { url: UrlText, received: u64 },
    #[cfg(feature = "http")]
    Timeout {
        url: UrlText,
        connecting: bool,
        waited_s: u64,
    },
    #[cfg(feature = "http")]
    DnsNoServer { name: HostName },
    #[cfg(feature = "http")]
    DnsNotFound { name: HostName, server: Ipv4Addr },
    #[cfg(feature = "http")]
    DnsTimeout { name: HostName, server: Ipv4Addr },
    /// A URL this build cannot fetch (the option ROM's first stage has no HTTP or DNS).
    #[cfg_attr(feature = "http", allow(dead_code))]
    NotInThisBuild { what: &'static str },
}

impl From<NetError> for FetchError {
    fn from(e: NetError) -> Self {
        FetchError::Net(e)
    }
}

impl FetchError {
    /// The server says the file does not exist (TFTP error 1, HTTP 404 or 410).
    pub fn is_not_found(&self) -> bool {
        match self {
            FetchError::Net(e) => e.is_not_found(),
            #[cfg(feature = "http")]
            FetchError::Http { error, .. } => matches!(error, HttpError::NotFound { .. }),
            _ => false,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Net(e) => e.fmt(f),
            FetchError::NoServer { path } => write!(
                f,
                "E-DHCP-NOSERVER: the DHCP answer names no TFTP server (next-server or option 66), needed for {path}: check the DHCP server's settings"
            ),
            #[cfg(feature = "http")]
            FetchError::Http { url, error } => {
                write!(f, "{}: {url}: {error}", error.code())?;
                f.write_str(match error {
                    HttpError::NotFound { .. } => ": check the path on the web server",
                    HttpError::Status { .. } => ": check the web server's log",
                    HttpError::BodyShort { .. } => {
                        ": the server or the network broke the transfer off; check the web server's log"
                    }
                    HttpError::BodyLong { .. } => {
                        ": the server's Content-Length is wrong (the file changed while it was sent?)"
                    }
                    HttpError::Redirect(_) => ": check the web server's redirects",
                    HttpError::Sink(_) => ": give the machine more memory or make the file smaller",
                    _ => ": check that a web server (HTTP/1.1) answers there",
                })
            }
            #[cfg(feature = "http")]
            FetchError::Refused { url } => write!(
                f,
                "E-HTTP-REFUSED: {url}: the connection was refused: check that a web server listens on that address and port"
            ),
            #[cfg(feature = "http")]
            FetchError::Reset { url, received } => write!(
                f,
                "E-HTTP-RESET: {url}: the server reset the connection after {received} bytes of the body: check the web server's log"
            ),
            #[cfg(feature = "http")]
            FetchError::Timeout {
                url,
                connecting: true,
                waited_s,
            } => write!(
                f,
                "E-HTTP-TIMEOUT: {url}: no answer to the connection request in {waited_s} s: check the address and that the server is up"
            ),
            #[cfg(feature = "http")]
            FetchError::Timeout { url, waited_s, .. } => write!(
                f,
                "E-HTTP-TIMEOUT: {url}: the server sent nothing for {waited_s} s: check the web server"
            ),
            #[cfg(feature = "http")]
            FetchError::DnsNoServer { name } => write!(
                f,
                "E-DNS-NOSERVER: {name}: the DHCP answer names no DNS server (option 6): write an IP address, or have DHCP name a DNS server"
            ),
            #[cfg(feature = "http")]
            FetchError::DnsNotFound { name, server } => write!(
                f,
                "E-DNS-NOTFOUND: {name} does not resolve: the DNS server {server} knows no IPv4 address for it: check the name"
            ),
            FetchError::NotInThisBuild { what } => write!(
                f,
                "E-NET-UNSUPPORTED: this build of netloader has no {what}: use a tftp:// path with an IP address"
            ),
            #[cfg(feature = "http")]
            FetchError::DnsTimeout { name, server } => write!(
                f,
                "E-DNS-TIMEOUT: {name}: the DNS server {server} did not answer: check the DNS server (DHCP option 6)"
            ),
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
    #[cfg(feature = "http")]
    http: http::Connection,
    #[cfg(feature = "http")]
    dns: dns::Cache,
    /// Upper memory for the TCP receive window ([`areas`]).
    #[cfg(feature = "http")]
    tcp_window: Range<u64>,
}

impl<'n> Net<'n> {
    /// Called once: the sockets live in statics. `map` places the receive buffers ([`areas`]).
    pub fn new(nic: &'n mut dyn netloader_drivers::Nic, map: &MemoryMap) -> Self {
        let mac = nic.mac();
        let mut device = NicDevice::new(nic);
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        let iface = Interface::new(config, &mut device, now());
        let areas = areas(map);
        // SAFETY: `new` runs once; these statics are borrowed here for the rest of the run and
        // touched nowhere else. `udp_rx` is RAM (from the memory map) that the boot code keeps
        // free of files, identity-mapped, used by nothing else.
        let (mut sockets, dhcp, udp) = unsafe {
            let udp_rx_data = core::slice::from_raw_parts_mut(
                areas.udp_rx.start as *mut u8,
                (areas.udp_rx.end - areas.udp_rx.start) as usize,
            );
            let uuid = &mut *addr_of_mut!(PXE_UUID);
            uuid[11..17].copy_from_slice(&mac); // type 0, then a UUID made from the MAC
            let options = &mut *addr_of_mut!(PXE_OPTIONS);
            options[3].data = &*uuid;
            let mut dhcp = dhcpv4::Socket::new();
            dhcp.set_outgoing_options(&options[..PXE_OPTION_COUNT]);
            dhcp.set_parameter_request_list(&PARAMETER_REQUEST_LIST);
            dhcp.set_receive_packet_buffer(&mut *addr_of_mut!(DHCP_PACKET));
            let udp = udp::Socket::new(
                udp::PacketBuffer::new(&mut (&mut *addr_of_mut!(UDP_RX_META))[..], udp_rx_data),
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
            #[cfg(feature = "http")]
            http: http::Connection::default(),
            #[cfg(feature = "http")]
            dns: dns::Cache::default(),
            #[cfg(feature = "http")]
            tcp_window: areas.tcp_window,
        }
    }

    /// A local port for the next transfer or connection (49152-65000, in turn).
    fn ephemeral_port(&mut self) -> u16 {
        let port = self.next_port;
        self.next_port = if port >= 65000 { 49152 } else { port + 1 };
        port
    }

    /// Fetch a file into `sink`, wherever it lives: on the lease's TFTP server, on a TFTP
    /// server by address or name, or on a web server. Prints a progress line and a summary.
    #[allow(clippy::result_large_err)] // no allocator: see FetchError
    pub fn fetch(
        &mut self,
        source: &FileSource<'_>,
        lease: &Lease,
        sink: &mut dyn Sink,
    ) -> Result<(), FetchError> {
        match *source {
            FileSource::Server { path } => {
                let server = lease.boot.tftp_server.ok_or_else(|| FetchError::NoServer {
                    path: truncated(path),
                })?;
                self.tftp_get_from(server, 69, path, sink)?;
            }
            FileSource::Tftp { server, port, path } => {
                let server = self.address_of(server, lease)?;
                self.tftp_get_from(server, port, path, sink)?;
            }
            #[cfg(feature = "http")]
            FileSource::Http { host, port, path } => {
                let url = Url {
                    scheme: Scheme::Http,
                    host,
                    port,
                    path,
                };
                self.http_get(url, lease, sink)?;
            }
            #[cfg(not(feature = "http"))]
            FileSource::Http { .. } => return Err(FetchError::NotInThisBuild { what: "HTTP" }),
        }
        Ok(())
    }

    /// A server's address: as written, or by DNS.
    #[allow(clippy::result_large_err)]
    fn address_of(&mut self, host: Host<'_>, lease: &Lease) -> Result<Ipv4Addr, FetchError> {
        match host {
            Host::Ipv4(octets) => Ok(Ipv4Addr::from(octets)),
            #[cfg(feature = "http")]
            Host::Name(name) => self.resolve(name, lease),
            #[cfg(not(feature = "http"))]
            Host::Name(_) => {
                let _ = lease;
                Err(FetchError::NotInThisBuild { what: "DNS" })
            }
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
    #[cfg(any(feature = "chain", feature = "multiboot2"))]
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
        let port = self.ephemeral_port();
        {
            let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
            socket.close();
            let _ = socket.bind(port);
        }
        let mut out = [0u8; 1500];
        let start = time::now_us();
        let transmit = client.start(start / 1000, &mut out).map_err(fail)?;
        self.send(server, transmit, &out);
        let mut progress = Progress::new("tftp", path, start);
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
            let stats = client.stats();
            progress.update(stats.bytes_received, stats.tsize, false);
        };
        // Let the last ACK (or ERROR) leave before the socket is reused.
        for _ in 0..20 {
            self.poll();
        }
        match &result {
            Ok(stats) => {
                progress.update(stats.bytes_received, stats.tsize, true);
                let elapsed_us = (time::now_us() - start).max(1);
                print!(
                    "\ntftp: {} done: {} bytes in {}.{:03} s, blksize {}, window {}, {} retransmissions, {} duplicates",
                    path,
                    stats.bytes_received,
                    elapsed_us / 1_000_000,
                    elapsed_us / 1000 % 1000,
                    stats.blksize,
                    stats.windowsize,
                    stats.retransmissions,
                    stats.duplicates,
                );
                // The option ROM's first stage fetches one file: the short line is enough.
                if !cfg!(feature = "chain") {
                    print!(
                        ", {} gap ACKs, {} kept out of order",
                        stats.gap_acks, stats.reordered_kept
                    );
                }
                println!();
            }
            Err(_) => progress.end_line(),
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

/// A progress line with the speed, redrawn in place at most every 250 ms (TFTP and HTTP).
struct Progress<'p> {
    protocol: &'static str,
    name: &'p str,
    start_us: u64,
    last_us: u64,
    printed: bool,
}

impl<'p> Progress<'p> {
    fn new(protocol: &'static str, name: &'p str, start_us: u64) -> Self {
        Progress {
            protocol,
            name,
            start_us,
            last_us: start_us,
            printed: false,
        }
    }

    /// `bytes` of `total` (when known) so far; `last` draws it now, whatever the time.
    fn update(&mut self, bytes: u64, total: Option<u64>, last: bool) {
        let now = time::now_us();
        // The option ROM's first stage fetches one small file: the summary line is enough.
        if !last && (now - self.last_us < 250_000 || cfg!(feature = "chain")) {
            return;
        }
        self.last_us = now;
        self.printed = true;
        let elapsed_us = (now - self.start_us).max(1);
        let kib = bytes / 1024;
        let speed_kbs = bytes * 1_000_000 / elapsed_us / 1000;
        let (protocol, name) = (self.protocol, self.name);
        match total.filter(|_| !cfg!(feature = "chain")) {
            Some(total) => print!(
                "\r{protocol}: {name} {kib} / {} KiB, {}.{:03} MB/s",
                total / 1024,
                speed_kbs / 1000,
                speed_kbs % 1000
            ),
            None => print!(
                "\r{protocol}: {name} {kib} KiB, {}.{:03} MB/s",
                speed_kbs / 1000,
                speed_kbs % 1000
            ),
        }
    }

    /// End the line the progress was drawn on, if any (before an error line).
    fn end_line(&self) {
        if self.printed {
            println!();
        }
    }
}
