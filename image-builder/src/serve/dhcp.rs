//! The DHCP side of `netloader serve`, without sockets: a received message in, the reply (if
//! any) and a log line out. Messages are parsed and written with `dhcproto`.
//!
//! - **proxyDHCP** (default, PXE 2.1): beside the network's own DHCP server, answer only PXE
//!   clients (option 60 `PXEClient`): a DISCOVER on port 67 gets a broadcast OFFER, a REQUEST
//!   on port 4011 (firmwares that ask the boot server there, iPXE among them) a unicast ACK.
//!   Both carry the boot server (siaddr, option 54), the boot file, option 60 and option 43
//!   (discovery control 8: "boot the file named here, no boot server discovery"), and never an
//!   address: `yiaddr` stays 0 (the only builder of these replies, [`DhcpService::boot_reply`],
//!   takes no address).
//! - **full DHCP** (`--dhcp-range A-B`, a direct cable with no other server): addresses from
//!   [`Leases`], renewals, NAK of a request for an address that is not the client's, and the
//!   same boot parameters for PXE clients.
//!
//! What a client gets depends on what it is: a netloader runtime (option 77 user class
//! `netloader`, sent by netloader booted from floppy, ISO, USB or the standalone ROM) gets its
//! config as the boot file; a PXE ROM gets the boot program for its architecture (option 93,
//! [`BOOT_PROGRAMS`]): `netloader.pxe` for BIOS, `netloader.efi` for x64 UEFI (built in once
//! netloader has its UEFI application; until then the served folder's own, if it has one).
//! UEFI firmware (EDK2's PXE driver, iPXE) takes the proxy OFFER and may then ask the boot
//! server on port 4011: both get the same boot file.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use dhcproto::Encodable;
use dhcproto::v4::{
    DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode, UnknownOption,
};
use netloader_proto::dhcp::request::{ClientMessage, ClientRequest, parse_client_request};

use super::files::{CONFIG_DIR, Files};
use super::leases::{LEASE_TIME, Leases, Verdict};

pub const DHCP_SERVER_PORT: u16 = 67;
pub const DHCP_CLIENT_PORT: u16 = 68;
/// The PXE boot server port ("BINL"): the REQUEST after a proxy OFFER may come here.
pub const PXE_BOOT_SERVER_PORT: u16 = 4011;

/// The user class (option 77) the netloader runtime sends, as iPXE sends "iPXE".
pub const NETLOADER_USER_CLASS: &[u8] = b"netloader";

/// PXELINUX's config file option, honoured by netloader too.
const OPTION_CONFIG_FILE: u8 = 209;
/// Option 43 for PXE clients: sub-option 6 (PXE_DISCOVERY_CONTROL) = 8, "download the boot
/// file named in this answer" (no boot server menu, no multicast discovery), then the end.
const PXE_VENDOR_OPTIONS: [u8; 4] = [6, 1, 8, 255];
/// BOOTP's minimum message size; some PXE ROMs drop shorter answers.
const MIN_MESSAGE_LEN: usize = 300;
/// The `file` field holds 128 bytes with the terminating NUL.
pub const MAX_BOOT_FILE_LEN: usize = 127;

/// A boot program serve hands to PXE ROMs of some architectures.
pub struct BootProgram {
    /// Option 93 values (RFC 4578 and the IANA registry).
    pub arches: &'static [u16],
    pub platform: &'static str,
    /// Its name on the server.
    pub file: &'static str,
    /// Builds it (from this very binary); None: it does not exist yet, and such clients get
    /// no answer, with a log line that says why.
    pub build: Option<fn() -> anyhow::Result<Vec<u8>>>,
}

fn build_pxe() -> anyhow::Result<Vec<u8>> {
    crate::forms::build(crate::forms::Form::Pxe)
}

fn build_efi() -> anyhow::Result<Vec<u8>> {
    crate::forms::build(crate::forms::Form::Efi)
}

/// The architecture switch: one line per boot program.
pub const BOOT_PROGRAMS: &[BootProgram] = &[
    BootProgram {
        arches: &[0],
        platform: "x86 BIOS",
        file: "netloader.pxe",
        build: Some(build_pxe),
    },
    // netloader's UEFI application (crate::efi::BUILT_IN).
    BootProgram {
        arches: &[7, 9],
        platform: "x64 UEFI",
        file: crate::efi::FILE_NAME,
        build: Some(build_efi),
    },
];

/// A name for option 93 values, for the log.
pub fn arch_name(arch: u16) -> &'static str {
    match arch {
        0 => "x86 BIOS",
        6 => "x86 UEFI",
        7 | 9 => "x64 UEFI",
        10 => "ARM32 UEFI",
        11 => "ARM64 UEFI",
        15 => "x86 UEFI HTTP",
        16 => "x64 UEFI HTTP",
        19 => "ARM64 UEFI HTTP",
        _ => "unknown architecture",
    }
}

/// Which port a message came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    Dhcp,
    BootServer,
}

/// Who asks, from the options of its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub mac: [u8; 6],
    /// Option 93, else the digits of `PXEClient:Arch:xxxxx` in option 60.
    pub arch: Option<u16>,
    /// Option 60 starts with `PXEClient`.
    pub pxe: bool,
    /// Option 77 says `netloader`.
    pub netloader: bool,
}

impl Client {
    pub fn of(request: &ClientRequest<'_>) -> Client {
        Client {
            mac: request.mac,
            arch: request.architecture(),
            pxe: request.is_pxe(),
            netloader: request.has_user_class(NETLOADER_USER_CLASS),
        }
    }

    /// "netloader (x86 BIOS)", "PXE x64 UEFI (arch 7)", "DHCP client".
    fn describe(&self) -> String {
        let arch = self.arch.unwrap_or(0);
        if self.netloader {
            format!("netloader ({})", arch_name(arch))
        } else if self.pxe {
            format!("PXE {} (arch {arch})", arch_name(arch))
        } else {
            "DHCP client".to_string()
        }
    }
}

/// The MAC as `52:54:00:12:34:56`.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What serve hands a client to boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boot {
    /// The boot file, and the netloader config to name in option 209 (for netloader
    /// clients and netloader.pxe).
    File {
        name: String,
        config: Option<String>,
    },
    /// A PXE client serve has nothing for; why, for the log.
    Refuse(String),
    /// Not a PXE or netloader client: an address (full DHCP) and nothing to boot.
    Nothing,
}

/// How boot files are chosen.
pub struct BootPlan {
    pub files: Arc<Files>,
    /// For BIOS PXE ROMs: netloader.pxe unless `--bios-boot-file` names another.
    pub bios_boot_file: String,
}

impl BootPlan {
    /// The config for `mac`, or `netloader.cfg/default` (the client's TFTP error then names
    /// it) when there is none.
    fn config(&self, mac: [u8; 6], ip: Option<Ipv4Addr>) -> String {
        self.files
            .config_for(mac, ip)
            .unwrap_or_else(|| format!("{CONFIG_DIR}/default"))
    }

    pub fn boot_for(&self, client: &Client, ip: Option<Ipv4Addr>) -> Boot {
        if client.netloader {
            let config = self.config(client.mac, ip);
            return Boot::File {
                name: config.clone(),
                config: Some(config),
            };
        }
        if !client.pxe {
            return Boot::Nothing;
        }
        let arch = client.arch.unwrap_or(0);
        let Some(program) = BOOT_PROGRAMS.iter().find(|p| p.arches.contains(&arch)) else {
            return Boot::Refuse(format!(
                "no boot program for arch {arch} ({})",
                arch_name(arch)
            ));
        };
        if arch == 0 {
            let name = self.bios_boot_file.clone();
            // netloader.pxe reads option 209 from the ROM's cached answer; PXELINUX would read
            // it too, and take our config for its own.
            let config = (name == program.file).then(|| self.config(client.mac, ip));
            return Boot::File { name, config };
        }
        if program.build.is_none() && !self.files.exists(program.file) {
            return Boot::Refuse(not_built_in(program));
        }
        Boot::File {
            name: program.file.to_string(),
            config: None,
        }
    }
}

/// Proxy or full DHCP.
pub enum Mode {
    Proxy,
    Full { leases: Leases, netmask: Ipv4Addr },
}

/// A reply to send.
#[derive(Debug)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub to: SocketAddrV4,
}

/// The result of one received message.
#[derive(Debug, Default)]
pub struct Outcome {
    pub reply: Option<Reply>,
    pub log: Option<String>,
}

impl Outcome {
    fn log(line: String) -> Outcome {
        Outcome {
            reply: None,
            log: Some(line),
        }
    }
}

pub struct DhcpService {
    server: Ipv4Addr,
    mode: Mode,
    plan: BootPlan,
    /// (MAC, what) already said, so retried DISCOVERs do not repeat a refusal.
    said: HashSet<([u8; 6], String)>,
}

const BROADCAST: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::BROADCAST, DHCP_CLIENT_PORT);

impl DhcpService {
    pub fn new(server: Ipv4Addr, mode: Mode, plan: BootPlan) -> DhcpService {
        DhcpService {
            server,
            mode,
            plan,
            said: HashSet::new(),
        }
    }

    pub fn is_proxy(&self) -> bool {
        matches!(self.mode, Mode::Proxy)
    }

    /// One message from `from`, received on `port`. Messages are read by netloader_proto's
    /// checked view (garbage is dropped, never a panic); answers are written with dhcproto.
    pub fn handle(
        &mut self,
        bytes: &[u8],
        port: Port,
        from: SocketAddrV4,
        now: Instant,
    ) -> Outcome {
        let Some(request) = parse_client_request(bytes) else {
            return Outcome::default();
        };
        let client = Client::of(&request);
        if port == Port::BootServer {
            return self.boot_server(&request, &client, from);
        }
        if !request.giaddr.is_unspecified() {
            return self.once(
                &client,
                "relayed (giaddr set): not answered, serve answers its own link only",
            );
        }
        if self.is_proxy() {
            self.proxy(&request, &client)
        } else {
            self.full(&request, &client, now)
        }
    }

    /// A log line for `client` the first time only.
    fn once(&mut self, client: &Client, what: &str) -> Outcome {
        if self.said.insert((client.mac, what.to_string())) {
            Outcome::log(format!(
                "dhcp: {} {}: {what}",
                mac_text(client.mac),
                client.describe()
            ))
        } else {
            Outcome::default()
        }
    }

    /// Port 4011: answer a PXE client's REQUEST (or INFORM) with the boot parameters, to
    /// where it came from; in either mode, never with an address.
    fn boot_server(
        &mut self,
        message: &ClientRequest<'_>,
        client: &Client,
        from: SocketAddrV4,
    ) -> Outcome {
        if !matches!(
            message.message,
            ClientMessage::Request | ClientMessage::Inform
        ) {
            return Outcome::default();
        }
        match self.plan.boot_for(client, None) {
            Boot::File { name, config } => {
                let reply = self.boot_reply(message, MessageType::Ack, &name, config.as_deref());
                let line = format!(
                    "dhcp: {} {}: boot server ACK on port {PXE_BOOT_SERVER_PORT} (no address): {}",
                    mac_text(client.mac),
                    client.describe(),
                    what_it_gets(self.server, &name, config.as_deref())
                );
                self.send(reply, from, line)
            }
            Boot::Refuse(why) => self.once(client, &format!("not answered: {why}")),
            Boot::Nothing => Outcome::default(),
        }
    }

    /// proxyDHCP on port 67: a DISCOVER gets an OFFER. A REQUEST is the network's DHCP
    /// server's business, except a netloader client's: it gets the same answer again as an
    /// ACK, so that a lost OFFER does not leave it without a boot server (netloader takes a
    /// proxy answer while its DHCP exchange runs, and does no port 4011 exchange; every
    /// other client checks the server identifier of an ACK and ignores ours).
    fn proxy(&mut self, message: &ClientRequest<'_>, client: &Client) -> Outcome {
        let (kind, name) = match message.message {
            ClientMessage::Discover => (MessageType::Offer, "OFFER"),
            ClientMessage::Request if client.netloader => (MessageType::Ack, "ACK"),
            _ => return Outcome::default(),
        };
        match self.plan.boot_for(client, None) {
            Boot::File { name: file, config } => {
                let reply = self.boot_reply(message, kind, &file, config.as_deref());
                let line = format!(
                    "dhcp: {} {}: proxy {name} (no address): {}",
                    mac_text(client.mac),
                    client.describe(),
                    what_it_gets(self.server, &file, config.as_deref())
                );
                self.send(reply, BROADCAST, line)
            }
            Boot::Refuse(why) => self.once(client, &format!("not answered: {why}")),
            Boot::Nothing => self.once(
                client,
                "not a PXE client (no option 60 PXEClient): left to the network's DHCP server",
            ),
        }
    }

    /// Encode, pad to BOOTP's minimum size, and log.
    fn send(&self, message: Message, to: SocketAddrV4, line: String) -> Outcome {
        match message.to_vec() {
            Ok(mut bytes) => {
                if bytes.len() < MIN_MESSAGE_LEN {
                    bytes.resize(MIN_MESSAGE_LEN, 0); // pad options after the end
                }
                Outcome {
                    reply: Some(Reply { bytes, to }),
                    log: Some(line),
                }
            }
            Err(e) => Outcome::log(format!("dhcp: cannot encode the answer ({e}): {line}")),
        }
    }

    /// A reply to `request` with the common fields: our server identifier, the client's
    /// transaction, hardware address and flags. `yiaddr` is 0 here.
    fn reply_to(&self, request: &ClientRequest<'_>, kind: MessageType) -> Message {
        let mut reply = Message::new_with_id(
            request.xid,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            request.giaddr,
            &request.mac,
        );
        reply.set_opcode(Opcode::BootReply);
        reply.set_htype(HType::Eth);
        let flags = Flags::default();
        reply.set_flags(if request.broadcast {
            flags.set_broadcast()
        } else {
            flags
        });
        reply.set_secs(0);
        let opts = reply.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::ServerIdentifier(self.server));
        reply
    }

    /// The PXE boot parameters, without an address: next-server, boot file, options 60, 43
    /// and 97 (echoed), and 209 where a netloader config is named.
    fn boot_reply(
        &self,
        request: &ClientRequest<'_>,
        kind: MessageType,
        boot_file: &str,
        config: Option<&str>,
    ) -> Message {
        let mut reply = self.reply_to(request, kind);
        reply.set_flags(Flags::default().set_broadcast());
        self.add_boot(&mut reply, request, boot_file, config);
        reply
    }

    fn add_boot(
        &self,
        reply: &mut Message,
        request: &ClientRequest<'_>,
        boot_file: &str,
        config: Option<&str>,
    ) {
        reply.set_siaddr(self.server);
        reply.set_fname_str(boot_file);
        let opts = reply.opts_mut();
        opts.insert(DhcpOption::ClassIdentifier(b"PXEClient".to_vec()));
        opts.insert(DhcpOption::VendorExtensions(PXE_VENDOR_OPTIONS.to_vec()));
        if let Some(id) = request.machine_id {
            opts.insert(DhcpOption::ClientMachineIdentifier(id.to_vec()));
        }
        if let Some(config) = config {
            opts.insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::from(OPTION_CONFIG_FILE),
                config.as_bytes().to_vec(),
            )));
        }
    }

    fn full(&mut self, message: &ClientRequest<'_>, client: &Client, now: Instant) -> Outcome {
        let Mode::Full { leases, .. } = &mut self.mode else {
            return Outcome::default();
        };
        let requested = message.requested_ip;
        let server_id = message.server_id;
        let ciaddr = Some(message.ciaddr).filter(|a| !a.is_unspecified());
        let mac = mac_text(client.mac);
        match message.message {
            ClientMessage::Discover => match leases.offer(client.mac, requested, now) {
                Some(addr) => self.lease_reply(message, client, MessageType::Offer, addr),
                None => Outcome::log(format!(
                    "dhcp: {mac} {}: no address left in the range: not answered",
                    client.describe()
                )),
            },
            ClientMessage::Request => {
                if let Some(id) = server_id
                    && id != self.server
                {
                    leases.forget_offer(client.mac, now);
                    return Outcome::log(format!(
                        "dhcp: {mac} {}: took the offer of another server ({id})",
                        client.describe()
                    ));
                }
                let Some(addr) = requested.or(ciaddr) else {
                    return Outcome::default();
                };
                let verdict = match leases.request(client.mac, addr, now) {
                    // Selecting after our offer lapsed, or renewing after a restart of serve.
                    Verdict::NoRecord if server_id.is_some() || ciaddr.is_some() => {
                        if leases.adopt(client.mac, addr, now) {
                            Verdict::Ack
                        } else {
                            Verdict::Nak
                        }
                    }
                    verdict => verdict,
                };
                match verdict {
                    Verdict::Ack => self.lease_reply(message, client, MessageType::Ack, addr),
                    Verdict::Nak => self.nak(message, client, addr),
                    Verdict::NoRecord => Outcome::log(format!(
                        "dhcp: {mac} {}: asks for {addr}, which serve never gave it: silent (RFC 2131 4.3.2)",
                        client.describe()
                    )),
                }
            }
            ClientMessage::Release => {
                if let Some(addr) = ciaddr {
                    leases.release(client.mac, addr, now);
                }
                Outcome::log(format!("dhcp: {mac}: released {}", OrNone(ciaddr)))
            }
            ClientMessage::Decline => {
                if let Some(addr) = requested {
                    leases.decline(client.mac, addr, now);
                }
                Outcome::log(format!(
                    "dhcp: {mac}: declined {} (in use by another machine): kept out of the pool",
                    OrNone(requested)
                ))
            }
            ClientMessage::Inform => {
                let Some(addr) = ciaddr else {
                    return Outcome::default();
                };
                let mut reply = self.reply_to(message, MessageType::Ack);
                reply.set_ciaddr(addr);
                let what = self.add_lease_boot(&mut reply, message, client, Some(addr));
                let line = format!("dhcp: {mac} {}: INFORM ACK: {what}", client.describe());
                self.send(reply, SocketAddrV4::new(addr, DHCP_CLIENT_PORT), line)
            }
        }
    }

    /// OFFER or ACK of `addr`, with the boot parameters for PXE and netloader clients.
    fn lease_reply(
        &mut self,
        request: &ClientRequest<'_>,
        client: &Client,
        kind: MessageType,
        addr: Ipv4Addr,
    ) -> Outcome {
        let Mode::Full { netmask, .. } = &self.mode else {
            return Outcome::default();
        };
        let netmask = *netmask;
        let mut reply = self.reply_to(request, kind);
        reply.set_yiaddr(addr);
        reply.set_ciaddr(request.ciaddr);
        let lease_s = LEASE_TIME.as_secs() as u32;
        let opts = reply.opts_mut();
        opts.insert(DhcpOption::SubnetMask(netmask));
        opts.insert(DhcpOption::AddressLeaseTime(lease_s));
        opts.insert(DhcpOption::Renewal(lease_s / 2));
        opts.insert(DhcpOption::Rebinding(lease_s / 8 * 7));
        let what = self.add_lease_boot(&mut reply, request, client, Some(addr));
        let name = if kind == MessageType::Offer {
            "OFFER"
        } else {
            "ACK"
        };
        let line = format!(
            "dhcp: {} {}: {name} {addr}: {what}",
            mac_text(client.mac),
            client.describe()
        );
        // A renewing client has its address: answer it there; else broadcast (we cannot
        // unicast to an address the client does not have yet without writing its ARP entry).
        let to = if request.ciaddr.is_unspecified() {
            BROADCAST
        } else {
            SocketAddrV4::new(request.ciaddr, DHCP_CLIENT_PORT)
        };
        self.send(reply, to, line)
    }

    /// The boot parameters of a full-DHCP answer; says what the client gets, for the log.
    fn add_lease_boot(
        &mut self,
        reply: &mut Message,
        request: &ClientRequest<'_>,
        client: &Client,
        addr: Option<Ipv4Addr>,
    ) -> String {
        match self.plan.boot_for(client, addr) {
            Boot::File { name, config } => {
                self.add_boot(reply, request, &name, config.as_deref());
                what_it_gets(self.server, &name, config.as_deref())
            }
            Boot::Refuse(why) => format!("no boot file: {why}"),
            Boot::Nothing => "an address only (not a PXE client)".to_string(),
        }
    }

    fn nak(&self, request: &ClientRequest<'_>, client: &Client, addr: Ipv4Addr) -> Outcome {
        let mut reply = self.reply_to(request, MessageType::Nak);
        reply.set_flags(Flags::default().set_broadcast());
        let line = format!(
            "dhcp: {} {}: NAK: {addr} is not its address here",
            mac_text(client.mac),
            client.describe()
        );
        self.send(reply, BROADCAST, line)
    }
}

/// Why clients of `program`'s architecture get no answer: it is neither built in nor served.
pub fn not_built_in(program: &BootProgram) -> String {
    format!(
        "{file} is not built into this netloader (it has no {platform} build yet) nor in the served folder: put a {file} there to boot {platform} PXE clients",
        file = program.file,
        platform = program.platform
    )
}

/// "netloader.pxe from 192.168.77.2, config netloader.cfg/default".
fn what_it_gets(server: Ipv4Addr, name: &str, config: Option<&str>) -> String {
    let mut text = format!("boot file {name} from {server}");
    if let Some(config) = config
        && config != name
    {
        let _ = write!(text, ", config {config} (option 209)");
    }
    text
}

struct OrNone<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrNone<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("(none)"),
        }
    }
}

#[cfg(test)]
mod tests;
