//! Real servers for boot tests and benchmarks, fenced into a network namespace.
//!
//! Layout of one [`TestNet`]:
//!
//! ```text
//!  QEMU (root namespace)                 test process                 namespace nl-<pid>-<n>
//!  -netdev dgram,local.type=fd     <-->  Relay (UDP on 127.0.0.1)  <-->  tap nlt<pid>x<n> 192.168.77.1/24
//!                                        seeded delay/loss/dups          dnsmasq (DHCP only), atftpd (TFTP)
//!                                                                        nginx, http_faults (HTTP), DNS
//! ```
//!
//! QEMU's end of the loopback link is a UDP socket the relay makes and passes in by file
//! descriptor ([`TestNet::netdev`], [`crate::qemu::Qemu::pass_fd`]), with a 16 MiB receive
//! buffer (SO_RCVBUFFORCE, root): QEMU's own socket gets the default ~208 KiB, which a TCP
//! burst overflows while the guest's ring is full, dropping ~10% of a clean HTTP transfer.
//!
//! The guest's frames travel only over loopback (QEMU <-> relay) and into the tap device,
//! which lives in a namespace the test made: nothing can reach any other network. The tap is
//! opened by the test process (TUNSETIFF) and then moved into the namespace, so the relay
//! holds its file descriptor while the servers see an ordinary interface. The kernel here has
//! no `tc netem`, so delay, loss and duplication are made by the relay, with a seeded random
//! generator so every impaired run can be replayed.
//!
//! Everything is torn down on drop: relay threads stopped, server processes killed, the
//! namespace deleted (the tap goes with its file descriptor).
//!
//! atftpd: Debian's `atftpd` package would start a system-wide service when installed, so
//! [`atftpd_install`] fetches it with `apt-get download` and unpacks it with `dpkg -x` under
//! `target/tools/atftpd` once (with `libwrap0` too when the system lacks it).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The server side of the namespace's network (DHCP, TFTP); the guest gets .50-.60.
pub const SERVER_ADDR: &str = "192.168.77.1";

/// Network namespaces and tap devices need root (CAP_NET_ADMIN).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The reason every root-only test carries in `#[ignore = ...]`: a plain `cargo test` lists it
/// as ignored; `scripts/test` runs it (`--include-ignored`) when it is root, as CI is.
pub const NEEDS_ROOT: &str =
    "needs root (network namespaces, tap devices): scripts/test runs it as root";

/// First line of every root-only test: such a test run without root (`--include-ignored` by
/// hand) fails with the reason instead of passing without having run.
pub fn require_root(test: &str) {
    assert!(
        is_root(),
        "{test}: {NEEDS_ROOT}; run it as root (sudo -E cargo test ...) or leave it ignored"
    );
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

pub fn run_checked(command: &mut Command) -> io::Result<()> {
    let output = command.stdin(Stdio::null()).output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

// ---------------------------------------------------------------------------------------
// atftpd, unpacked from Debian's package into target/tools/atftpd

/// An unpacked atftpd: the binary and the library path it needs.
#[derive(Clone, Debug)]
pub struct Atftpd {
    pub binary: PathBuf,
    pub library_path: PathBuf,
}

/// Download and unpack atftpd (and libwrap0 if missing) once; later calls reuse the folder.
pub fn atftpd_install() -> io::Result<Atftpd> {
    let mut packages = vec!["atftpd"];
    if !Path::new("/usr/lib/x86_64-linux-gnu/libwrap.so.0").exists()
        && !Path::new("/lib/x86_64-linux-gnu/libwrap.so.0").exists()
    {
        packages.push("libwrap0");
    }
    let root = unpacked_debs("atftpd", &packages, "usr/sbin/atftpd")?;
    Ok(Atftpd {
        binary: root.join("usr/sbin/atftpd"),
        library_path: root.join("usr/lib/x86_64-linux-gnu"),
    })
}

/// tftp-hpa's `in.tftpd`, unpacked from Debian's `tftpd-hpa` the same way as atftpd (the
/// package would start a system service if installed).
pub fn tftpd_hpa_install() -> io::Result<PathBuf> {
    Ok(unpacked_debs("tftpd-hpa", &["tftpd-hpa"], "usr/sbin/in.tftpd")?.join("usr/sbin/in.tftpd"))
}

/// nginx, unpacked from Debian's `nginx` package (the one that holds the binary; installing it
/// would start a system service). Its libraries (pcre2, ssl, zlib, crypt) are in the base
/// system.
pub fn nginx_install() -> io::Result<PathBuf> {
    Ok(unpacked_debs("nginx", &["nginx"], "usr/sbin/nginx")?.join("usr/sbin/nginx"))
}

/// `target/tools/<name>`: Debian `packages` fetched with `apt-get download` and unpacked with
/// `dpkg -x` (never installed: the server packages would start system services), once; later
/// calls reuse the folder. `binary` (relative) must exist afterwards. Safe to race between
/// threads and processes: each unpacks into its own temporary folder and the first rename wins.
pub fn unpacked_debs(name: &str, packages: &[&str], binary: &str) -> io::Result<PathBuf> {
    unpacked_deb_files(name, packages, binary, &[])
}

/// [`unpacked_debs`], unpacking only the files `only` names (relative paths, as `binary`; all
/// of them when empty): a kernel package unpacks to 400 MB for the one 8 MB file a test boots.
pub fn unpacked_deb_files(
    name: &str,
    packages: &[&str],
    binary: &str,
    only: &[&str],
) -> io::Result<PathBuf> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let tools = target_dir().join("tools");
    let root = tools.join(name);
    if root.join(binary).exists() {
        return Ok(root);
    }
    std::fs::create_dir_all(&tools)?;
    let scratch = tools.join(format!("{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(scratch.join("root"))?;
    eprintln!(
        "netns: fetching {packages:?} with apt-get download into {}",
        scratch.display()
    );
    run_checked(
        Command::new("apt-get")
            .arg("download")
            .args(packages)
            .current_dir(&scratch),
    )?;
    for entry in std::fs::read_dir(&scratch)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "deb") && only.is_empty() {
            run_checked(
                Command::new("dpkg")
                    .arg("-x")
                    .arg(&path)
                    .arg(scratch.join("root")),
            )?;
        } else if path.extension().is_some_and(|e| e == "deb") {
            // The data archive's members are named `./path`; a missing one is reported by the
            // check of `binary` below (tar's own complaint is not needed).
            let script = "deb=\"$1\"; dir=\"$2\"; shift 2; \
                          dpkg-deb --fsys-tarfile \"$deb\" | tar -x -C \"$dir\" \"$@\" 2>/dev/null; true";
            run_checked(
                Command::new("sh")
                    .args(["-c", script, "sh"])
                    .arg(&path)
                    .arg(scratch.join("root"))
                    .args(only.iter().map(|f| format!("./{f}"))),
            )?;
        }
    }
    match std::fs::rename(scratch.join("root"), &root) {
        Ok(()) => {}
        Err(_) if root.join(binary).exists() => {} // another process won the race
        Err(e) => return Err(e),
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if !root.join(binary).exists() {
        return Err(io::Error::other(format!(
            "{packages:?} unpacked, but {binary} is missing"
        )));
    }
    Ok(root)
}

// ---------------------------------------------------------------------------------------
// The namespace and the processes living in it

/// A network namespace with the server processes started in it; deleted on drop.
pub struct Namespace {
    name: String,
    children: Vec<(String, Child)>,
}

impl Namespace {
    /// Create `nl-<pid>-<n>` with its loopback up.
    pub fn create() -> io::Result<Namespace> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "nl-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        run_checked(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Namespace {
            name,
            children: Vec::new(),
        };
        ns.run(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl Into<OsString>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name])
            .arg(program.into());
        command
    }

    /// Run a short command inside the namespace and fail on a non-zero status.
    pub fn run(&self, args: &[&str]) -> io::Result<()> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::other("empty command"))?;
        run_checked(self.command(program).args(rest))
    }

    /// Start a long-lived process in the namespace, its output going to `log`; killed on drop.
    pub fn spawn(&mut self, what: &str, mut command: Command, log: &Path) -> io::Result<()> {
        let out = File::create(log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        self.children.push((what.to_string(), child));
        Ok(())
    }

    /// Fail when a started process has already exited (bad options, port taken...).
    pub fn check_alive(&mut self) -> io::Result<()> {
        for (what, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!("{what} exited early ({status})")));
            }
        }
        Ok(())
    }

    /// Kill the started process named `what` (as given to [`Namespace::spawn`]), e.g. to take
    /// a server away mid-transfer. False when there is none.
    pub fn kill(&mut self, what: &str) -> bool {
        let Some(index) = self.children.iter().position(|(w, _)| w == what) else {
            return false;
        };
        let (_, mut child) = self.children.remove(index);
        let _ = child.kill();
        let _ = child.wait();
        true
    }

    /// Wait until something in the namespace listens on UDP `port`.
    pub fn wait_for_udp_port(&mut self, port: u16, timeout: Duration) -> io::Result<()> {
        self.wait_for_port("-Hlun", port, timeout)
    }

    /// Wait until something in the namespace listens on TCP `port`.
    pub fn wait_for_tcp_port(&mut self, port: u16, timeout: Duration) -> io::Result<()> {
        self.wait_for_port("-Hltn", port, timeout)
    }

    fn wait_for_port(&mut self, ss_flags: &str, port: u16, timeout: Duration) -> io::Result<()> {
        let start = Instant::now();
        let needle = format!(":{port} ");
        loop {
            self.check_alive()?;
            let output = self.command("ss").args([ss_flags]).output()?;
            if String::from_utf8_lossy(&output.stdout).contains(&needle) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(io::Error::other(format!(
                    "nothing listens on port {port} ({ss_flags}) in {}",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------------------------------
// The tap device

/// A tap device opened by this process (IFF_TAP | IFF_NO_PI: one read = one Ethernet frame).
/// It is not persistent: it disappears when the file is closed.
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    pub fn open(name: &str) -> io::Result<Tap> {
        if name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::other(format!(
                "interface name {name} is too long"
            )));
        }
        let file = File::options()
            .read(true)
            .write(true)
            .open("/dev/net/tun")?;
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
            *slot = byte as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes one ifreq, which lives for the whole call.
        let result = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut request) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        // Non-blocking: the relay reads until the tap is empty and only then waits in poll(2),
        // one system call per frame fewer at full speed (the relay shares the host's cores with
        // QEMU and the servers, and the benchmarks measure the guest, not the relay).
        // SAFETY: F_SETFL on a descriptor this function owns; no pointers involved.
        let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tap {
            file,
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Wait up to `timeout` for a frame to read.
    fn readable(&self, timeout: Duration) -> bool {
        let mut poll = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut poll, 1, timeout.as_millis() as libc::c_int) };
        ready > 0 && poll.revents & libc::POLLIN != 0
    }
}

// ---------------------------------------------------------------------------------------
// The relay between QEMU's UDP socket netdev and the tap

/// What the relay does to frames, per direction. Seeded: the same seed gives the same drops.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    /// Added to each frame in each direction (round trip = 2 × this).
    pub one_way_delay: Duration,
    /// Probability that a frame is dropped.
    pub loss: f64,
    /// Probability that a frame is sent twice.
    pub duplicate: f64,
    pub seed: u64,
}

impl Impairment {
    pub const NONE: Impairment = Impairment {
        one_way_delay: Duration::ZERO,
        loss: 0.0,
        duplicate: 0.0,
        seed: 1,
    };

    /// Only a delay: `rtt / 2` each way.
    pub fn round_trip(rtt: Duration) -> Impairment {
        Impairment {
            one_way_delay: rtt / 2,
            ..Impairment::NONE
        }
    }

    /// Does this leave every frame as it is (no delay, loss or duplicate)?
    pub fn is_none(&self) -> bool {
        self.one_way_delay.is_zero() && self.loss == 0.0 && self.duplicate == 0.0
    }
}

/// Counts of what the relay saw, for reports.
#[derive(Default, Debug)]
pub struct RelayStats {
    pub to_server: AtomicU64,
    pub to_guest: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    /// Frames held back and sent after the next one.
    pub reordered: AtomicU64,
}

/// A fault the relay makes at a point in the transfer that the test names, never at a moment
/// on the wall clock: the first time a TFTP DATA frame with block number `block` travels
/// toward the guest, `action` happens before that frame is forwarded. Pick a block number
/// that only the file under test reaches (larger than every other file's block count at 512
/// bytes per block), so the fault lands inside that file whatever the block size.
pub struct Fault {
    pub block: u16,
    pub action: FaultAction,
}

pub enum FaultAction {
    /// From that frame on, nothing passes in either direction: the server has gone away
    /// without a word (as if killed, or its cable pulled), and every retransmission is lost.
    CutPath,
    /// Run this first (for example, truncate the file being served), then go on as usual.
    Run(Box<dyn FnOnce() + Send>),
}

/// What the relay shares between its two directions for a [`Fault`].
#[derive(Default)]
struct FaultState {
    pending: Mutex<Option<Fault>>,
    cut: AtomicBool,
}

impl FaultState {
    /// Called for every frame toward the guest: fires the pending fault when `frame` is its
    /// DATA block.
    fn check(&self, frame: &[u8]) {
        let Some(block) = tftp_data_block(frame) else {
            return;
        };
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.as_ref().is_some_and(|fault| fault.block == block) {
            match pending.take().map(|fault| fault.action) {
                Some(FaultAction::CutPath) => self.cut.store(true, Ordering::SeqCst),
                Some(FaultAction::Run(action)) => action(),
                None => {}
            }
        }
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }
}

/// The block number of a TFTP DATA packet (opcode 3) in an Ethernet frame carrying IPv4/UDP,
/// from a port other than DHCP's and DNS's.
fn tftp_data_block(frame: &[u8]) -> Option<u16> {
    let be16 = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]))
    };
    if be16(12)? != 0x0800 || *frame.get(23)? != 17 {
        return None;
    }
    let udp = 14 + usize::from(frame.get(14)? & 0x0F) * 4;
    if matches!(be16(udp)?, 53 | 67 | 68) || be16(udp + 8)? != 3 {
        return None;
    }
    be16(udp + 10)
}

/// xorshift64*: small, seeded, good enough to pick frames.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How many copies of a frame to send (0 = dropped), counted in `stats`.
fn copies(rng: &mut Rng, impairment: &Impairment, stats: &RelayStats) -> usize {
    if impairment.loss > 0.0 && rng.unit() < impairment.loss {
        stats.dropped.fetch_add(1, Ordering::Relaxed);
        return 0;
    }
    if impairment.duplicate > 0.0 && rng.unit() < impairment.duplicate {
        stats.duplicated.fetch_add(1, Ordering::Relaxed);
        return 2;
    }
    1
}

/// Swaps a frame with the next one, with a seeded probability (its own generator, so the
/// loss pattern of a seed stays the same with or without reordering).
struct Reorderer {
    probability: f64,
    rng: Rng,
    held: Option<Vec<u8>>,
    stats: Arc<RelayStats>,
}

impl Reorderer {
    fn new(probability: f64, seed: u64, stats: Arc<RelayStats>) -> Reorderer {
        Reorderer {
            probability,
            rng: Rng::new(seed),
            held: None,
            stats,
        }
    }

    fn pass(&mut self, frame: &[u8], send: &mut dyn FnMut(&[u8])) {
        if self.held.is_none() && self.probability > 0.0 && self.rng.unit() < self.probability {
            self.held = Some(frame.to_vec());
            self.stats.reordered.fetch_add(1, Ordering::Relaxed);
            return;
        }
        send(frame);
        self.flush(send);
    }

    /// Send the held frame, if any (also when no next frame came in time).
    fn flush(&mut self, send: &mut dyn FnMut(&[u8])) {
        if let Some(held) = self.held.take() {
            send(&held);
        }
    }
}

/// Where one direction's frames finally go (the tap, or QEMU's socket).
type FrameSink = Box<dyn FnMut(&[u8]) + Send>;

/// One direction's output: immediate, or through a FIFO delay line on its own thread (the
/// delay is the same for every frame, so deadlines come in order).
enum Output {
    Direct(FrameSink),
    Delayed(mpsc::Sender<(Instant, Vec<u8>)>),
}

impl Output {
    fn new(delay: Duration, mut sink: FrameSink, threads: &mut Vec<JoinHandle<()>>) -> Output {
        if delay.is_zero() {
            return Output::Direct(sink);
        }
        let (sender, receiver) = mpsc::channel::<(Instant, Vec<u8>)>();
        threads.push(std::thread::spawn(move || {
            // Ends when the reading side drops the sender.
            while let Ok((due, frame)) = receiver.recv() {
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                sink(&frame);
            }
        }));
        Output::Delayed(sender)
    }

    fn send(&mut self, frame: &[u8], delay: Duration) {
        match self {
            Output::Direct(sink) => sink(frame),
            Output::Delayed(line) => {
                let _ = line.send((Instant::now() + delay, frame.to_vec()));
            }
        }
    }
}

/// Receive buffer of both loopback sockets: a whole TCP burst (window) fits with room.
const LOOPBACK_RCVBUF: libc::c_int = 16 << 20;

/// SO_RCVBUFFORCE (root: beyond net.core.rmem_max), else SO_RCVBUF (capped by the system).
fn enlarge_receive_buffer(socket: &UdpSocket, bytes: libc::c_int) {
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: a valid socket, an int option value that lives for the call.
        let result = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result == 0 {
            return;
        }
    }
}

/// Forwards Ethernet frames between QEMU (`-netdev dgram` on a socket passed in) and a tap.
pub struct Relay {
    stop: Arc<AtomicBool>,
    fault: Arc<FaultState>,
    threads: Vec<JoinHandle<()>>,
    pub stats: Arc<RelayStats>,
    /// QEMU's end: bound, connected to the relay, handed to QEMU by file descriptor.
    qemu_socket: UdpSocket,
}

impl Relay {
    pub fn start(tap: Tap, impairment: Impairment) -> io::Result<Relay> {
        Relay::start_with(tap, impairment, 0.0)
    }

    /// Like [`Relay::start`], and with probability `reorder` a frame is held back and sent
    /// just after the next one in its direction (or after 50 ms when no other comes).
    pub fn start_with(tap: Tap, impairment: Impairment, reorder: f64) -> io::Result<Relay> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        enlarge_receive_buffer(&socket, LOOPBACK_RCVBUF);
        let relay_addr = socket.local_addr()?;
        let qemu_socket = UdpSocket::bind("127.0.0.1:0")?;
        enlarge_receive_buffer(&qemu_socket, LOOPBACK_RCVBUF);
        qemu_socket.connect(relay_addr)?;
        let qemu_addr = qemu_socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RelayStats::default());
        let fault = Arc::new(FaultState::default());
        let tap = Arc::new(tap);
        let mut threads = Vec::new();
        let delay = impairment.one_way_delay;

        // QEMU -> tap
        {
            let (stop, stats, socket) = (stop.clone(), stats.clone(), socket.try_clone()?);
            let fault = fault.clone();
            let tap_out = tap.clone();
            let mut out = Output::new(
                delay,
                Box::new(move |frame: &[u8]| {
                    let _ = (&tap_out.file).write(frame);
                }),
                &mut threads,
            );
            threads.push(std::thread::spawn(move || {
                let mut rng = Rng::new(impairment.seed);
                let mut reorderer =
                    Reorderer::new(reorder, impairment.seed ^ 0x0DE7, stats.clone());
                let mut buffer = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((len, from)) = socket.recv_from(&mut buffer) else {
                        reorderer.flush(&mut |f| out.send(f, delay));
                        continue;
                    };
                    if from != qemu_addr {
                        continue; // only QEMU's frames go to the namespace
                    }
                    stats.to_server.fetch_add(1, Ordering::Relaxed);
                    if fault.is_cut() {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    for _ in 0..copies(&mut rng, &impairment, &stats) {
                        reorderer.pass(&buffer[..len], &mut |f| out.send(f, delay));
                    }
                }
            }));
        }
        // tap -> QEMU
        {
            let (stop, stats, socket) = (stop.clone(), stats.clone(), socket.try_clone()?);
            let fault = fault.clone();
            let tap_in = tap.clone();
            let mut out = Output::new(
                delay,
                Box::new(move |frame: &[u8]| {
                    let _ = socket.send_to(frame, qemu_addr);
                }),
                &mut threads,
            );
            threads.push(std::thread::spawn(move || {
                let mut rng = Rng::new(impairment.seed ^ 0x5555_5555);
                let mut reorderer =
                    Reorderer::new(reorder, impairment.seed ^ 0x0DE8, stats.clone());
                let mut buffer = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let len = match (&tap_in.file).read(&mut buffer) {
                        Ok(len) => len,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            if !tap_in.readable(Duration::from_millis(50)) {
                                reorderer.flush(&mut |f| out.send(f, delay));
                            }
                            continue;
                        }
                        Err(_) => continue,
                    };
                    stats.to_guest.fetch_add(1, Ordering::Relaxed);
                    fault.check(&buffer[..len]);
                    if fault.is_cut() {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    for _ in 0..copies(&mut rng, &impairment, &stats) {
                        reorderer.pass(&buffer[..len], &mut |f| out.send(f, delay));
                    }
                }
            }));
        }
        Ok(Relay {
            stop,
            fault,
            threads,
            stats,
            qemu_socket,
        })
    }

    /// Arm `fault` (before the guest starts, so it cannot be missed); one at a time.
    pub fn arm(&self, fault: Fault) {
        *self.fault.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault);
    }

    /// The QEMU `-netdev` argument that connects a card to this relay; QEMU must inherit
    /// [`Relay::qemu_fd`] ([`crate::qemu::Qemu::pass_fd`]).
    pub fn netdev(&self, id: &str) -> String {
        format!("dgram,id={id},local.type=fd,local.str={}", self.qemu_fd())
    }

    /// The socket QEMU uses, by number (close-on-exec: only a QEMU told to keep it has it).
    pub fn qemu_fd(&self) -> RawFd {
        self.qemu_socket.as_raw_fd()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The readers end within one poll period; their delay lines end when they drop.
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Everything together

/// A namespace with dnsmasq (DHCP only, boot file named) and atftpd (TFTP with windowsize)
/// on 192.168.77.1, reached by QEMU through a relay (or its tap, [`Servers::direct`]). Torn
/// down on drop.
pub struct TestNet {
    // Field order is drop order: stop the relay (it holds the tap) before the namespace.
    link: Link,
    namespace: Namespace,
    pub logs: PathBuf,
}

/// How QEMU reaches the namespace.
enum Link {
    Relay(Relay),
    Direct(Tap),
}

/// The DHCP side of a [`TestNet`].
#[derive(Clone, Debug)]
pub enum DhcpServer {
    /// dnsmasq giving addresses and naming the boot file: `dhcp-boot=<file>,,192.168.77.1`.
    WithBootFile(String),
    /// dnsmasq giving addresses only: no boot file, no next-server (a proxy may add them).
    AddressesOnly,
    /// No DHCP server at all.
    Nothing,
}

/// The TFTP side of a [`TestNet`], all on 192.168.77.1:69.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TftpServer {
    /// atftpd 0.8 (grants RFC 7440 windowsize).
    Atftpd,
    /// dnsmasq's own TFTP server in the DHCP dnsmasq (`enable-tftp`, `tftp-root`).
    Dnsmasq,
    /// tftp-hpa: `in.tftpd -L -s <root> -a 192.168.77.1:69`.
    TftpHpa,
    Nothing,
}

/// What runs in the namespace; see [`TestNet::start_servers`].
#[derive(Clone, Debug)]
pub struct Servers {
    pub dhcp: DhcpServer,
    /// A second dnsmasq as proxyDHCP (`dhcp-range=192.168.77.0,proxy`) naming this boot file.
    pub proxy_boot_file: Option<String>,
    pub tftp: TftpServer,
    pub impairment: Impairment,
    /// Probability that the relay swaps a frame with the next one (each direction).
    pub reorder: f64,
    /// nginx on 192.168.77.1:80 serving the root (keep-alive, Content-Length).
    pub nginx: bool,
    /// The `http_faults` test server (its binary) on 192.168.77.1:8080 serving the root.
    pub http_faults: Option<PathBuf>,
    /// DNS in the DHCP dnsmasq: it answers `boot.test` with 192.168.77.1 and nothing else
    /// under `.test` (NXDOMAIN), and names itself as the DNS server (option 6).
    pub dns: bool,
    /// More options for the DHCP dnsmasq to send, as `--dhcp-option` takes them
    /// (e.g. `210,http://192.168.77.1/pxe/`).
    pub dhcp_options: Vec<String>,
    /// IPv6 router advertisements (fd77::/64) from the DHCP dnsmasq. iPXE waits ~13 s for
    /// one before it boots when none comes (QEMU's user networking sends one).
    pub ipv6_ra: bool,
    /// QEMU opens the namespace's tap itself (`-netdev tap,fd=`): no relay, so no impairment,
    /// no faults, no relay statistics. For the benchmarks' clean runs, where the relay's
    /// system calls (a read and a send per frame, on a thread of its own) would share the
    /// host's cores with QEMU and the server and set a ceiling for every client alike.
    pub direct: bool,
}

impl Servers {
    /// dnsmasq for DHCP naming `boot_file`, atftpd for TFTP, no impairment.
    pub fn new(boot_file: &str) -> Servers {
        Servers {
            dhcp: DhcpServer::WithBootFile(boot_file.to_string()),
            proxy_boot_file: None,
            tftp: TftpServer::Atftpd,
            impairment: Impairment::NONE,
            reorder: 0.0,
            nginx: false,
            http_faults: None,
            dns: false,
            dhcp_options: Vec::new(),
            ipv6_ra: false,
            direct: false,
        }
    }
}

/// The port of the `http_faults` server.
pub const FAULTS_PORT: u16 = 8080;

/// The dnsmasq options both of ours share: DHCP on the tap only, log every exchange; DNS
/// only when `dns` (see [`Servers::dns`]).
pub fn dnsmasq_command(
    namespace: &Namespace,
    tap_name: &str,
    logs: &Path,
    tag: &str,
    dns: bool,
) -> Command {
    let mut dnsmasq = namespace.command("dnsmasq");
    dnsmasq.args([
        "--no-daemon",
        "--conf-file=/dev/null",
        "--bind-interfaces",
        "--log-dhcp",
    ]);
    if dns {
        // No upstream, no /etc/hosts: only what is named here; NXDOMAIN for the rest of .test.
        dnsmasq
            .args(["--port=53", "--no-resolv", "--no-hosts", "--local=/test/"])
            .arg(format!("--address=/boot.test/{SERVER_ADDR}"))
            .arg(format!("--dhcp-option=6,{SERVER_ADDR}"));
    } else {
        dnsmasq.arg("--port=0");
    }
    dnsmasq
        .arg(format!("--interface={tap_name}"))
        .arg(format!(
            "--dhcp-leasefile={}",
            logs.join(format!("{tag}.leases")).display()
        ))
        .arg("--pid-file=")
        .arg("--user=root");
    dnsmasq
}

impl TestNet {
    /// Serve `tftp_root` by TFTP and name `boot_file` in DHCP. Logs go to `logs/`.
    pub fn start(
        tftp_root: &Path,
        boot_file: &str,
        impairment: Impairment,
        logs: &Path,
    ) -> io::Result<TestNet> {
        let servers = Servers {
            impairment,
            ..Servers::new(boot_file)
        };
        TestNet::start_servers(tftp_root, &servers, logs)
    }

    /// Start the chosen servers on 192.168.77.1 serving `tftp_root`. Logs go to `logs/`
    /// (`dnsmasq.log`, `proxy.log`, `atftpd.log` / `tftpd-hpa.log`).
    pub fn start_servers(tftp_root: &Path, servers: &Servers, logs: &Path) -> io::Result<TestNet> {
        std::fs::create_dir_all(logs)?;
        // atftpd refuses every file whose full path holds "..", as target/ paths often do.
        let tftp_root = tftp_root.canonicalize()?;
        let mut namespace = Namespace::create()?;
        let tap_name = format!(
            "nlt{}x{}",
            std::process::id() % 1_000_000,
            &namespace.name().rsplit('-').next().unwrap_or("0")
        );
        let tap = Tap::open(&tap_name)?;
        run_checked(Command::new("ip").args([
            "link",
            "set",
            &tap_name,
            "netns",
            namespace.name(),
        ]))?;
        namespace.run(&[
            "ip",
            "addr",
            "add",
            &format!("{SERVER_ADDR}/24"),
            "dev",
            &tap_name,
        ])?;
        namespace.run(&["ip", "link", "set", &tap_name, "up"])?;

        let dhcp_boot = match &servers.dhcp {
            DhcpServer::WithBootFile(file) => Some(Some(file.as_str())),
            DhcpServer::AddressesOnly => Some(None),
            DhcpServer::Nothing => None,
        };
        if let Some(boot_file) = dhcp_boot {
            let mut dnsmasq = dnsmasq_command(&namespace, &tap_name, logs, "dnsmasq", servers.dns);
            dnsmasq.arg("--dhcp-range=192.168.77.50,192.168.77.60,255.255.255.0,1h");
            if let Some(file) = boot_file {
                dnsmasq.arg(format!("--dhcp-boot={file},,{SERVER_ADDR}"));
            }
            for option in &servers.dhcp_options {
                dnsmasq.arg(format!("--dhcp-option={option}"));
            }
            if servers.ipv6_ra {
                namespace.run(&[
                    "ip",
                    "-6",
                    "addr",
                    "add",
                    "fd77::1/64",
                    "dev",
                    &tap_name,
                    "nodad",
                ])?;
                dnsmasq.args(["--enable-ra", "--dhcp-range=fd77::,ra-only"]);
            }
            if servers.tftp == TftpServer::Dnsmasq {
                dnsmasq
                    .arg("--enable-tftp")
                    .arg(format!("--tftp-root={}", tftp_root.display()));
            }

            namespace.spawn("dnsmasq", dnsmasq, &logs.join("dnsmasq.log"))?;
        }
        if let Some(file) = &servers.proxy_boot_file {
            // Beside the first dnsmasq: both take port 67 (dnsmasq sets SO_REUSEADDR, and
            // broadcasts reach every socket), the proxy also 4011.
            let mut proxy = dnsmasq_command(&namespace, &tap_name, logs, "proxy", false);
            proxy
                .arg("--dhcp-range=192.168.77.0,proxy")
                .arg(format!("--dhcp-boot={file},,{SERVER_ADDR}"))
                .arg(format!("--pxe-service=x86PC,\"netloader\",{file}"));
            namespace.spawn("proxy", proxy, &logs.join("proxy.log"))?;
        }
        match servers.tftp {
            TftpServer::Atftpd => {
                let atftpd = atftpd_install()?;
                let mut tftpd = namespace.command(&atftpd.binary);
                tftpd
                    .env("LD_LIBRARY_PATH", &atftpd.library_path)
                    .args([
                        "--daemon",
                        "--no-fork",
                        "--port",
                        "69",
                        "--bind-address",
                        SERVER_ADDR,
                    ])
                    .args([
                        "--logfile",
                        "-",
                        "--user",
                        "root",
                        "--group",
                        "root",
                        "--verbose=5",
                    ])
                    .arg(&tftp_root);
                namespace.spawn("atftpd", tftpd, &logs.join("atftpd.log"))?;
            }
            TftpServer::TftpHpa => {
                let binary = tftpd_hpa_install()?;
                let mut tftpd = namespace.command(&binary);
                tftpd
                    .args(["-L", "-v", "-v", "-u", "root", "-s"])
                    .arg(&tftp_root)
                    .args(["-a", &format!("{SERVER_ADDR}:69")]);
                namespace.spawn("tftpd-hpa", tftpd, &logs.join("tftpd-hpa.log"))?;
            }
            TftpServer::Dnsmasq | TftpServer::Nothing => {}
        }

        if servers.nginx {
            let nginx = nginx_install()?;
            let config = logs.join("nginx.conf");
            let logs_dir = logs.canonicalize()?;
            std::fs::write(&config, nginx_config(&tftp_root, &logs_dir))?;
            let mut command = namespace.command(&nginx);
            command
                .arg("-p")
                .arg(&logs_dir)
                .arg("-e")
                .arg(logs_dir.join("nginx-error.log"))
                .arg("-c")
                .arg(config.canonicalize()?);
            namespace.spawn("nginx", command, &logs.join("nginx.log"))?;
        }
        if let Some(binary) = &servers.http_faults {
            let mut command = namespace.command(binary);
            command
                .arg(&tftp_root)
                .arg(format!("{SERVER_ADDR}:{FAULTS_PORT}"));
            namespace.spawn("http_faults", command, &logs.join("http_faults.log"))?;
        }

        if dhcp_boot.is_some() {
            namespace.wait_for_udp_port(67, Duration::from_secs(10))?;
        }
        if servers.nginx {
            namespace.wait_for_tcp_port(80, Duration::from_secs(10))?;
        }
        if servers.http_faults.is_some() {
            namespace.wait_for_tcp_port(FAULTS_PORT, Duration::from_secs(10))?;
        }
        if servers.proxy_boot_file.is_some() {
            namespace.wait_for_udp_port(4011, Duration::from_secs(10))?;
        }
        if servers.tftp != TftpServer::Nothing {
            namespace.wait_for_udp_port(69, Duration::from_secs(10))?;
        }
        let link = if servers.direct {
            if !servers.impairment.is_none() || servers.reorder != 0.0 {
                return Err(io::Error::other(
                    "a direct tap cannot impair frames: impairments need the relay",
                ));
            }
            Link::Direct(tap)
        } else {
            Link::Relay(Relay::start_with(tap, servers.impairment, servers.reorder)?)
        };
        Ok(TestNet {
            link,
            namespace,
            logs: logs.to_path_buf(),
        })
    }

    /// Arm a fault in the relay at a TFTP block of the test's choosing (see [`Fault`]).
    pub fn arm(&self, fault: Fault) {
        self.relay().arm(fault);
    }

    fn relay(&self) -> &Relay {
        match &self.link {
            Link::Relay(relay) => relay,
            Link::Direct(_) => panic!("this TestNet has no relay (Servers::direct)"),
        }
    }

    /// The QEMU `-netdev` argument for this network; QEMU must also inherit
    /// [`TestNet::qemu_fd`] (`Qemu::pass_fd`).
    pub fn netdev(&self, id: &str) -> String {
        match &self.link {
            Link::Relay(relay) => relay.netdev(id),
            Link::Direct(tap) => format!("tap,id={id},fd={},vhost=off", tap.file.as_raw_fd()),
        }
    }

    /// The descriptor QEMU's netdev uses: the relay's socket, or the tap.
    pub fn qemu_fd(&self) -> RawFd {
        match &self.link {
            Link::Relay(relay) => relay.qemu_fd(),
            Link::Direct(tap) => tap.file.as_raw_fd(),
        }
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    pub fn stats(&self) -> &RelayStats {
        &self.relay().stats
    }

    /// The server logs, for failure messages.
    pub fn server_logs(&self) -> String {
        let mut text = String::new();
        for name in [
            "dnsmasq.log",
            "proxy.log",
            "atftpd.log",
            "tftpd-hpa.log",
            "nginx-error.log",
            "http_faults.log",
        ] {
            let Ok(log) = std::fs::read_to_string(self.logs.join(name)) else {
                continue;
            };
            let lines: Vec<&str> = log.lines().collect();
            text.push_str(&format!(
                "--- {name} (last lines) ---\n{}\n",
                lines[lines.len().saturating_sub(15)..].join("\n")
            ));
        }
        text
    }
}

/// nginx on 192.168.77.1:80 serving `root`: one process (no master), keep-alive, logs and
/// temporary folders under `logs` (nothing of the system's is touched).
fn nginx_config(root: &Path, logs: &Path) -> String {
    let logs = logs.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {logs}/nginx.pid;\n\
         error_log {logs}/nginx-error.log info;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log {logs}/nginx-access.log;\n  default_type application/octet-stream;\n\
         \x20 sendfile on;\n  keepalive_requests 1000;\n  keepalive_timeout 120s;\n\
         \x20 client_body_temp_path {logs}/client_temp;\n  proxy_temp_path {logs}/proxy_temp;\n\
         \x20 fastcgi_temp_path {logs}/fastcgi_temp;\n  uwsgi_temp_path {logs}/uwsgi_temp;\n\
         \x20 scgi_temp_path {logs}/scgi_temp;\n\
         \x20 server {{\n    listen {SERVER_ADDR}:80;\n    root {};\n  }}\n}}\n",
        root.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4 (no options) + UDP frame from `port` carrying `payload`.
    fn udp_frame(port: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0u8; 14 + 20 + 8];
        frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        frame[14] = 0x45;
        frame[23] = 17;
        frame[34..36].copy_from_slice(&port.to_be_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn tftp_data_blocks_are_recognised() {
        assert_eq!(
            tftp_data_block(&udp_frame(40000, &[0, 3, 0x12, 0x34, 9])),
            Some(0x1234)
        );
        assert_eq!(
            tftp_data_block(&udp_frame(40000, &[0, 4, 0, 1])),
            None,
            "an ACK"
        );
        assert_eq!(tftp_data_block(&udp_frame(67, &[0, 3, 0, 1])), None, "DHCP");
        assert_eq!(
            tftp_data_block(&udp_frame(40000, &[0, 3, 0])),
            None,
            "truncated"
        );
        let mut tcp = udp_frame(40000, &[0, 3, 0, 1]);
        tcp[23] = 6;
        assert_eq!(tftp_data_block(&tcp), None, "not UDP");
        assert_eq!(tftp_data_block(&[0; 10]), None);
    }

    #[test]
    fn a_fault_fires_once_at_its_block() {
        let state = FaultState::default();
        let fired = Arc::new(AtomicU64::new(0));
        let counter = fired.clone();
        *state.pending.lock().unwrap() = Some(Fault {
            block: 7,
            action: FaultAction::Run(Box::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            })),
        });
        for block in [5u16, 6, 7, 7, 8] {
            state.check(&udp_frame(40000, &[0, 3, (block >> 8) as u8, block as u8]));
        }
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        assert!(!state.is_cut());
        *state.pending.lock().unwrap() = Some(Fault {
            block: 9,
            action: FaultAction::CutPath,
        });
        state.check(&udp_frame(40000, &[0, 3, 0, 8]));
        assert!(!state.is_cut());
        state.check(&udp_frame(40000, &[0, 3, 0, 9]));
        assert!(state.is_cut());
    }

    #[test]
    fn rng_is_seeded_and_in_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let x = a.unit();
            assert_eq!(x, b.unit());
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn loss_rate_is_close_to_asked() {
        let impairment = Impairment {
            loss: 0.1,
            ..Impairment::NONE
        };
        let stats = RelayStats::default();
        let mut rng = Rng::new(3);
        let sent: usize = (0..10_000)
            .map(|_| copies(&mut rng, &impairment, &stats))
            .sum();
        assert!((8_700..9_300).contains(&sent), "{sent}");
    }
}
