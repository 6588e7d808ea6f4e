//! A small LAN for `netloader serve`: the PC to boot (QEMU), the LAN's own DHCP server, and a
//! second host running `netloader serve`, each fenced into network namespaces the test makes.
//!
//! ```text
//!  QEMU (root namespace)            namespace "lan" nl-<pid>-<n>                  namespace "serve"
//!  -netdev socket,udp=127.0.0.1 <-> relay <-> tap ── br0 192.168.77.1 ── veth ── eth0 192.168.77.2
//!                                  (seeded loss)      dnsmasq: addresses only       netloader serve
//!                                                     (or nothing: a "cable")
//! ```
//!
//! The guest's frames go only over loopback to the relay and into the tap, which is a port
//! of the bridge inside the "lan" namespace; serve sees an ordinary Ethernet interface. Both
//! namespaces, and everything started in them, go away on drop.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns::{Impairment, Namespace, Relay, RelayStats, Tap, dnsmasq_command, run_checked};

/// The LAN's own DHCP server (dnsmasq; gives .50-.60).
pub const LAN_DHCP_ADDR: &str = "192.168.77.1";
/// The host running `netloader serve`.
pub const SERVE_ADDR: &str = "192.168.77.2";
/// Its interface, in its namespace.
pub const SERVE_INTERFACE: &str = "eth0";

/// What runs on the LAN.
pub struct LanSetup<'a> {
    /// The `netloader serve` binary (the tests' copy, `tests/src/bin/serve.rs`).
    pub serve: &'a Path,
    /// Its arguments (a folder, --dhcp-range, ...).
    pub serve_args: Vec<OsString>,
    /// A dnsmasq on the LAN giving addresses only (no boot file, no next-server); without it
    /// the LAN is a cable between the PC and serve.
    pub lan_dhcp: bool,
    pub impairment: Impairment,
}

pub struct Lan {
    // Field order is drop order: the relay holds the tap, then serve's host, then the LAN.
    relay: Relay,
    serve: Namespace,
    lan: Namespace,
    pub logs: PathBuf,
}

impl Lan {
    /// Build the LAN and start its servers; logs go to `logs/` (`serve.log`, `dnsmasq.log`).
    pub fn start(setup: &LanSetup<'_>, logs: &Path) -> io::Result<Lan> {
        std::fs::create_dir_all(logs)?;
        let lan = Namespace::create()?;
        let mut serve = Namespace::create()?;
        let n = lan.name().rsplit('-').next().unwrap_or("0").to_string();
        let pid = std::process::id() % 100_000;
        lan.run(&["ip", "link", "add", "br0", "type", "bridge"])?;
        lan.run(&[
            "ip",
            "addr",
            "add",
            &format!("{LAN_DHCP_ADDR}/24"),
            "dev",
            "br0",
        ])?;
        lan.run(&["ip", "link", "set", "br0", "up"])?;

        // serve's host: a veth from the bridge into its own namespace.
        let veth = format!("nlv{pid}x{n}");
        lan.run(&[
            "ip",
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            SERVE_INTERFACE,
            "netns",
            serve.name(),
        ])?;
        lan.run(&["ip", "link", "set", &veth, "master", "br0", "up"])?;
        serve.run(&[
            "ip",
            "addr",
            "add",
            &format!("{SERVE_ADDR}/24"),
            "dev",
            SERVE_INTERFACE,
        ])?;
        serve.run(&["ip", "link", "set", SERVE_INTERFACE, "up"])?;

        // The PC's tap, opened here and moved onto the bridge.
        let tap_name = format!("nlp{pid}x{n}");
        let tap = Tap::open(&tap_name)?;
        run_checked(Command::new("ip").args(["link", "set", &tap_name, "netns", lan.name()]))?;
        lan.run(&["ip", "link", "set", &tap_name, "master", "br0", "up"])?;

        let mut lan = lan;
        if setup.lan_dhcp {
            let mut dnsmasq = dnsmasq_command(&lan, "br0", logs, "dnsmasq", false);
            dnsmasq.arg("--dhcp-range=192.168.77.50,192.168.77.60,255.255.255.0,1h");
            lan.spawn("dnsmasq", dnsmasq, &logs.join("dnsmasq.log"))?;
            lan.wait_for_udp_port(67, Duration::from_secs(10))?;
        }
        let mut command = serve.command(setup.serve);
        command.args(&setup.serve_args);
        serve.spawn("serve", command, &logs.join("serve.log"))?;
        // Every socket is bound before serve starts answering; TFTP's is the last UDP one.
        serve
            .wait_for_udp_port(69, Duration::from_secs(60))
            .map_err(|e| io::Error::other(format!("{e}\n{}", tail(&logs.join("serve.log"), 20))))?;
        let relay = Relay::start(tap, setup.impairment)?;
        Ok(Lan {
            relay,
            serve,
            lan,
            logs: logs.to_path_buf(),
        })
    }

    /// The QEMU `-netdev` argument for the PC.
    pub fn netdev(&self, id: &str) -> String {
        self.relay.netdev(id)
    }

    pub fn stats(&self) -> &RelayStats {
        &self.relay.stats
    }

    /// serve's output so far.
    pub fn serve_log(&self) -> String {
        std::fs::read_to_string(self.logs.join("serve.log")).unwrap_or_default()
    }

    /// serve's log once a line holds `text`, or as it is after `guard` (a hang guard only:
    /// serve writes a transfer's line when the transfer ends, which may come after the guest
    /// has booted, e.g. when the last ACK was lost and serve is still resending).
    pub fn serve_log_with(&self, text: &str, guard: std::time::Duration) -> String {
        let start = std::time::Instant::now();
        loop {
            let log = self.serve_log();
            if log.lines().any(|l| l.contains(text)) || start.elapsed() > guard {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Fail when serve has exited.
    pub fn check_serve_alive(&mut self) -> io::Result<()> {
        self.serve.check_alive()
    }

    pub fn lan(&self) -> &Namespace {
        &self.lan
    }

    /// The servers' last log lines, for failure messages.
    pub fn server_logs(&self) -> String {
        ["serve.log", "dnsmasq.log"]
            .iter()
            .map(|name| {
                format!(
                    "--- {name} (last lines) ---\n{}\n",
                    tail(&self.logs.join(name), 25)
                )
            })
            .collect()
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
