//! Which network interface `netloader serve` answers on, and its sockets: every socket is
//! bound to that interface (SO_BINDTODEVICE), so nothing is answered on any other, and the
//! start fails with one clear line when it would answer on several or when a port is taken.

use std::ffi::OsString;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, connect, listen, setsockopt,
    socket, sockopt,
};

/// One interface as the system reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub name: String,
    pub up: bool,
    pub loopback: bool,
    /// IPv4 addresses with their prefix lengths.
    pub addrs: Vec<(Ipv4Addr, u8)>,
}

/// The interfaces of this machine (of this network namespace).
pub fn list() -> io::Result<Vec<InterfaceInfo>> {
    let mut interfaces: Vec<InterfaceInfo> = Vec::new();
    for entry in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
        let index = match interfaces
            .iter()
            .position(|i| i.name == entry.interface_name)
        {
            Some(index) => index,
            None => {
                interfaces.push(InterfaceInfo {
                    name: entry.interface_name.clone(),
                    up: entry.flags.contains(InterfaceFlags::IFF_UP),
                    loopback: entry.flags.contains(InterfaceFlags::IFF_LOOPBACK),
                    addrs: Vec::new(),
                });
                interfaces.len() - 1
            }
        };
        let address = entry
            .address
            .as_ref()
            .and_then(|a| a.as_sockaddr_in())
            .map(|a| a.ip());
        let mask = entry
            .netmask
            .as_ref()
            .and_then(|a| a.as_sockaddr_in())
            .map(|a| a.ip());
        if let (Some(address), Some(mask)) = (address, mask) {
            interfaces[index]
                .addrs
                .push((address, u32::from(mask).count_ones() as u8));
        }
    }
    Ok(interfaces)
}

/// The interface and address serve answers from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    pub name: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Chosen {
    pub fn netmask(&self) -> Ipv4Addr {
        netmask(self.prefix)
    }
}

pub fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0))
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::from(netmask(prefix));
    u32::from(a) & mask == u32::from(b) & mask
}

fn describe(interface: &InterfaceInfo) -> String {
    let addrs: Vec<String> = interface
        .addrs
        .iter()
        .map(|(a, p)| format!("{a}/{p}"))
        .collect();
    format!("{} {}", interface.name, addrs.join(" "))
}

/// Pick the interface (`requested`, or the only candidate) and its address (the one whose
/// subnet holds `range`, in full DHCP). Err is the one line to print.
pub fn choose(
    all: &[InterfaceInfo],
    requested: Option<&str>,
    range: Option<(Ipv4Addr, Ipv4Addr)>,
) -> Result<Chosen, String> {
    let interface = match requested {
        Some(name) => {
            let Some(interface) = all.iter().find(|i| i.name == name) else {
                let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
                return Err(format!(
                    "E-SERVE-INTERFACE: there is no network interface {name} (there are: {}): check --interface",
                    names.join(", ")
                ));
            };
            if !interface.up {
                return Err(format!(
                    "E-SERVE-INTERFACE: {name} is down: bring it up (ip link set {name} up) and connect the cable"
                ));
            }
            interface
        }
        None => {
            let candidates: Vec<&InterfaceInfo> = all
                .iter()
                .filter(|i| i.up && !i.loopback && !i.addrs.is_empty())
                .collect();
            match candidates.as_slice() {
                [one] => *one,
                [] => {
                    return Err("E-SERVE-INTERFACE: no network interface is up with an IPv4 address: connect one and give it an address, then name it with --interface".to_string());
                }
                several => {
                    let list: Vec<String> = several.iter().map(|i| describe(i)).collect();
                    return Err(format!(
                        "E-SERVE-INTERFACE: serve would answer on several interfaces ({}): name the one the PCs to boot are on with --interface",
                        list.join("; ")
                    ));
                }
            }
        }
    };
    let name = &interface.name;
    let Some(&(first_addr, first_prefix)) = interface.addrs.first() else {
        return Err(format!(
            "E-SERVE-NOADDR: {name} has no IPv4 address: give it one (e.g. ip addr add 192.168.0.1/24 dev {name})"
        ));
    };
    let (addr, prefix) = match range {
        None => (first_addr, first_prefix),
        Some((low, high)) => {
            let Some(&(addr, prefix)) = interface
                .addrs
                .iter()
                .find(|(a, p)| same_subnet(*a, low, *p) && same_subnet(*a, high, *p))
            else {
                return Err(format!(
                    "E-SERVE-RANGE: {low}-{high} is not inside the subnet of {} : choose a range there",
                    describe(interface)
                ));
            };
            if (u32::from(low)..=u32::from(high)).contains(&u32::from(addr)) {
                return Err(format!(
                    "E-SERVE-RANGE: {low}-{high} holds serve's own address {addr}: leave it out of the range"
                ));
            }
            (addr, prefix)
        }
    };
    Ok(Chosen {
        name: name.clone(),
        addr,
        prefix,
    })
}

/// `A-B`: the addresses full DHCP hands out.
pub fn parse_range(text: &str) -> Result<(Ipv4Addr, Ipv4Addr), String> {
    let parse = |s: &str| {
        s.trim()
            .parse::<Ipv4Addr>()
            .map_err(|_| format!("E-SERVE-RANGE: {s:?} is not an IPv4 address (write A-B, e.g. 192.168.0.100-192.168.0.150)"))
    };
    let (low, high) = text.split_once('-').ok_or_else(|| {
        format!(
            "E-SERVE-RANGE: {text:?} is not a range (write A-B, e.g. 192.168.0.100-192.168.0.150)"
        )
    })?;
    let (low, high) = (parse(low)?, parse(high)?);
    if u32::from(low) > u32::from(high) {
        return Err(format!("E-SERVE-RANGE: {low}-{high} ends before it starts"));
    }
    Ok((low, high))
}

/// The chosen interface, for making sockets on it.
#[derive(Clone, Debug)]
pub struct BoundInterface {
    pub name: String,
    pub addr: Ipv4Addr,
}

/// What a socket is for, to name it in an error.
fn port_hint(port: u16) -> &'static str {
    match port {
        67 | 68 => " (a DHCP server: dnsmasq, dhcpd, kea, or a proxyDHCP like pixiecore?)",
        69 => " (a TFTP server: tftpd-hpa, atftpd, dnsmasq with enable-tftp?)",
        4011 => " (a PXE boot server: dnsmasq in proxy mode, pixiecore?)",
        80 => " (a web server? or pick another with --http-port)",
        _ => "",
    }
}

fn bind_error(kind: &str, port: u16, interface: &str, errno: Errno) -> io::Error {
    let text = match errno {
        Errno::EADDRINUSE => format!(
            "E-SERVE-PORT: {kind} port {port} on {interface} is taken by another program{}: stop it, or serve from another machine",
            port_hint(port)
        ),
        Errno::EACCES | Errno::EPERM => format!(
            "E-SERVE-PERMISSION: binding {kind} port {port} on {interface} needs root (or the capabilities CAP_NET_BIND_SERVICE and CAP_NET_RAW): run netloader serve with sudo"
        ),
        Errno::ENODEV => format!("E-SERVE-INTERFACE: the interface {interface} went away"),
        other => format!("E-SERVE-PORT: cannot bind {kind} port {port} on {interface}: {other}"),
    };
    io::Error::other(text)
}

impl BoundInterface {
    /// A socket of `ty` bound to this interface at `local`.
    fn socket(&self, ty: SockType, local: SocketAddrV4) -> io::Result<OwnedFd> {
        let fd = socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, None)?;
        let kind = if ty == SockType::Stream { "TCP" } else { "UDP" };
        setsockopt(&fd, sockopt::BindToDevice, &OsString::from(&self.name))
            .map_err(|e| bind_error(kind, local.port(), &self.name, e))?;
        if ty == SockType::Stream {
            // A restarted serve may take its port again while old connections linger.
            setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        }
        bind(fd.as_raw_fd(), &SockaddrIn::from(local))
            .map_err(|e| bind_error(kind, local.port(), &self.name, e))?;
        Ok(fd)
    }

    /// UDP `port` on any address of the interface (broadcasts included), allowed to
    /// broadcast. No SO_REUSEADDR: a port another program holds is an error, not shared.
    pub fn udp(&self, port: u16) -> io::Result<UdpSocket> {
        let fd = self.socket(
            SockType::Datagram,
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port),
        )?;
        let socket = UdpSocket::from(fd);
        socket.set_broadcast(true)?;
        Ok(socket)
    }

    /// A new port on our address, connected to `client`: one TFTP transfer.
    pub fn transfer_socket(&self, client: SocketAddrV4) -> io::Result<UdpSocket> {
        let fd = self.socket(SockType::Datagram, SocketAddrV4::new(self.addr, 0))?;
        connect(fd.as_raw_fd(), &SockaddrIn::from(client))?;
        Ok(UdpSocket::from(fd))
    }

    /// TCP `port` on our address.
    pub fn tcp_listener(&self, port: u16) -> io::Result<TcpListener> {
        let fd = self.socket(SockType::Stream, SocketAddrV4::new(self.addr, port))?;
        listen(&fd, Backlog::new(64).unwrap_or(Backlog::MAXCONN))?;
        Ok(TcpListener::from(fd))
    }
}

/// The local port of a bound socket (tests bind port 0).
pub fn local_port(socket: &UdpSocket) -> u16 {
    match socket.local_addr() {
        Ok(SocketAddr::V4(a)) => a.port(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(name: &str, up: bool, addrs: &[(&str, u8)]) -> InterfaceInfo {
        InterfaceInfo {
            name: name.into(),
            up,
            loopback: name == "lo",
            addrs: addrs
                .iter()
                .map(|(a, p)| (a.parse().unwrap(), *p))
                .collect(),
        }
    }

    #[test]
    fn one_candidate_is_taken_several_are_refused() {
        let lo = interface("lo", true, &[("127.0.0.1", 8)]);
        let eth = interface("eth0", true, &[("192.168.1.5", 24)]);
        let wlan = interface("wlan0", true, &[("10.0.0.3", 24)]);
        let down = interface("eth1", false, &[("172.16.0.1", 16)]);
        let bare = interface("eth2", true, &[]);
        let all = [lo.clone(), eth.clone(), down.clone(), bare.clone()];
        let chosen = choose(&all, None, None).unwrap();
        assert_eq!(
            (chosen.name.as_str(), chosen.addr),
            ("eth0", Ipv4Addr::new(192, 168, 1, 5))
        );
        assert_eq!(chosen.netmask(), Ipv4Addr::new(255, 255, 255, 0));

        let all = [lo.clone(), eth.clone(), wlan.clone()];
        let error = choose(&all, None, None).unwrap_err();
        assert!(
            error.starts_with("E-SERVE-INTERFACE: serve would answer on several interfaces"),
            "{error}"
        );
        assert!(
            error.contains("eth0 192.168.1.5/24") && error.contains("wlan0 10.0.0.3/24"),
            "{error}"
        );
        assert_eq!(choose(&all, Some("wlan0"), None).unwrap().name, "wlan0");

        assert!(
            choose(std::slice::from_ref(&lo), None, None)
                .unwrap_err()
                .contains("no network interface is up")
        );
        let error = choose(&all, Some("eth9"), None).unwrap_err();
        assert!(
            error.contains("no network interface eth9 (there are: lo, eth0, wlan0)"),
            "{error}"
        );
        assert!(
            choose(&[down], Some("eth1"), None)
                .unwrap_err()
                .contains("eth1 is down")
        );
        assert!(
            choose(&[bare], Some("eth2"), None)
                .unwrap_err()
                .starts_with("E-SERVE-NOADDR")
        );
    }

    #[test]
    fn the_range_picks_the_address_and_must_fit() {
        let eth = interface("eth0", true, &[("10.9.0.1", 16), ("192.168.50.1", 24)]);
        let range = parse_range("192.168.50.100-192.168.50.150").unwrap();
        let chosen = choose(std::slice::from_ref(&eth), None, Some(range)).unwrap();
        assert_eq!(chosen.addr, Ipv4Addr::new(192, 168, 50, 1));
        assert_eq!(chosen.prefix, 24);
        let outside = parse_range("192.168.51.10-192.168.51.20").unwrap();
        assert!(
            choose(std::slice::from_ref(&eth), None, Some(outside))
                .unwrap_err()
                .starts_with("E-SERVE-RANGE")
        );
        let over_us = parse_range("192.168.50.1-192.168.50.9").unwrap();
        assert!(
            choose(&[eth], None, Some(over_us))
                .unwrap_err()
                .contains("serve's own address")
        );
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(
            parse_range("10.0.0.5-10.0.0.9"),
            Ok((Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 9)))
        );
        assert!(
            parse_range("10.0.0.9-10.0.0.5")
                .unwrap_err()
                .contains("ends before it starts")
        );
        assert!(parse_range("10.0.0.5").is_err());
        assert!(parse_range("10.0.0.5-x").is_err());
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(32), Ipv4Addr::BROADCAST);
    }

    #[test]
    fn the_system_lists_its_loopback() {
        let all = list().unwrap();
        assert!(
            all.iter()
                .any(|i| i.loopback && i.addrs.contains(&(Ipv4Addr::LOCALHOST, 8)))
        );
    }
}
