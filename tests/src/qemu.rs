//! Run QEMU under TCG with a timeout, watch its serial log, and report what happened.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const QEMU: &str = "qemu-system-x86_64";

/// The netloader driver family (drivers/src/registry.rs) of QEMU's `-device` NIC model.
pub fn nic_family(device: &str) -> netloader::rom::NicFamily {
    let name = match device {
        "rtl8139" => "rtl8139",
        "pcnet" => "pcnet",
        "ne2k_pci" => "ne2k",
        d if d.starts_with("e1000") => "e1000",
        d if d.starts_with("virtio-net") => "virtio",
        d if d.starts_with("i8255") || d == "i82801" => "eepro100",
        other => panic!("no netloader driver for QEMU's {other}"),
    };
    netloader::rom::NicFamily::named(name)
        .unwrap_or_else(|| panic!("the registry has no option-ROM driver {name}"))
}

/// `isa-debug-exit` turns a byte v written to port 0xf4 into exit status (v << 1) | 1.
pub const EXIT_PASS: i32 = 33;
pub const EXIT_FAIL: i32 = 35;

/// Where boot logs and images of the tests are kept.
pub fn work_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("boot-tests");
    std::fs::create_dir_all(&dir).expect("create the boot test directory");
    dir
}

pub struct Qemu {
    name: String,
    args: Vec<OsString>,
    timeout: Duration,
    /// Descriptors QEMU inherits (a relay's socket for `-netdev dgram,local.type=fd`).
    fds: Vec<std::os::fd::RawFd>,
}

/// How a boot ended.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    /// QEMU's exit status; None when the harness stopped it (pattern seen, or timeout).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub serial: String,
    pub log: PathBuf,
    pub elapsed: Duration,
}

impl Qemu {
    /// A PC with `memory_mib` of RAM, no display, no reboot, isa-debug-exit, TCG only.
    pub fn new(name: &str, machine: &str, memory_mib: u32) -> Self {
        let mut qemu = Qemu {
            name: name.to_string(),
            args: Vec::new(),
            timeout: Duration::from_secs(120),
            fds: Vec::new(),
        };
        qemu.args(["-machine", &format!("{machine},accel=tcg")])
            .args(["-m", &memory_mib.to_string()])
            .args(["-display", "none", "-no-reboot", "-monitor", "none"])
            // No default NIC: a test that wants a network adds one (user mode with
            // restrict=on, or a socket to its own namespace), so nothing leaves the machine.
            .args(["-nic", "none"])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        qemu
    }

    pub fn arg(&mut self, arg: impl Into<OsString>) -> &mut Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(&mut self, args: I) -> &mut Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Let QEMU inherit `fd` (it stays close-on-exec for every other child of this process).
    pub fn pass_fd(&mut self, fd: std::os::fd::RawFd) -> &mut Self {
        self.fds.push(fd);
        self
    }

    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Boot until QEMU exits, `stop_when(serial)` holds, or the timeout passes.
    pub fn run(&self, stop_when: impl Fn(&str) -> bool) -> Outcome {
        require_qemu();
        let log = work_dir().join(format!("{}.log", self.name));
        let _ = std::fs::remove_file(&log);
        let mut serial_arg = OsString::from("file:");
        serial_arg.push(&log);
        let start = Instant::now();
        let mut command = Command::new(QEMU);
        // A relay's netdev (`dgram,...,local.type=fd,local.str=N`) names the socket QEMU must
        // inherit: pass it even where the caller did not say so with `pass_fd`.
        let mut fds = self.fds.clone();
        fds.extend(
            self.args
                .iter()
                .filter_map(|arg| inherited_fd(&arg.to_string_lossy())),
        );
        // SAFETY: runs in the child between fork and exec; fcntl is async-signal-safe and
        // the closure allocates nothing.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                for &fd in &fds {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = command
            .args(&self.args)
            .arg("-serial")
            .arg(serial_arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start QEMU");
        let (exit_code, timed_out) = loop {
            if let Some(status) = child.try_wait().expect("wait for QEMU") {
                break (status.code(), false);
            }
            if stop_when(&read_log(&log)) {
                stop(&mut child);
                break (None, false);
            }
            if start.elapsed() > self.timeout {
                stop(&mut child);
                break (None, true);
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use std::io::Read;
            let _ = pipe.read_to_string(&mut stderr);
        }
        let mut serial = read_log(&log);
        if !stderr.trim().is_empty() {
            serial.push_str("\n[qemu stderr] ");
            serial.push_str(&stderr);
        }
        Outcome {
            name: self.name.clone(),
            exit_code,
            timed_out,
            serial,
            log,
            elapsed: start.elapsed(),
        }
    }
}

/// The descriptor a `-netdev dgram,...,local.type=fd,local.str=N` argument hands to QEMU.
fn inherited_fd(arg: &str) -> Option<std::os::fd::RawFd> {
    if !arg.contains("local.type=fd") {
        return None;
    }
    arg.split(',')
        .find_map(|part| part.strip_prefix("local.str="))
        .and_then(|n| n.parse().ok())
}

fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn require_qemu() {
    if Command::new(QEMU).arg("--version").output().is_err() {
        panic!(
            "{QEMU} is missing: install it (Debian: apt-get install qemu-system-x86); the README's test command does this"
        );
    }
}

impl Outcome {
    /// The last lines of the serial log, for failure messages.
    pub fn tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.serial.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Fail the test with the log's tail when `condition` is false.
    #[track_caller]
    pub fn check(&self, condition: bool, what: &str) {
        if !condition {
            panic!(
                "boot '{}': {what}\n(exit code {:?}, timed out: {}, {:.1} s; serial log kept at {})\n--- last lines of the serial log ---\n{}\n---",
                self.name,
                self.exit_code,
                self.timed_out,
                self.elapsed.as_secs_f64(),
                self.log.display(),
                self.tail(40)
            );
        }
    }

    /// Fail the test when a test kernel reported failed checks, naming each with its detail.
    #[track_caller]
    pub fn check_no_failed_checks(&self, failed: &[&crate::kernels::Check]) {
        let failed: Vec<String> = failed
            .iter()
            .map(|c| format!("{} {}", c.name, c.detail))
            .collect();
        self.check(
            failed.is_empty(),
            &format!("kernel checks failed: {failed:?}"),
        );
    }

    pub fn contains(&self, text: &str) -> bool {
        self.serial.contains(text)
    }

    /// Did netloader report `file` as downloaded whole: `file: NAME SIZE bytes at 0x... crc32 X`
    /// with the size and CRC-32 of `data`?
    pub fn downloaded(&self, file: &str, data: &[u8]) -> bool {
        let head = format!("file: {file} {} bytes at 0x", data.len());
        let tail = format!(" crc32 {:08x}", crc32(data));
        self.serial
            .lines()
            .any(|l| l.starts_with(&head) && l.ends_with(&tail))
    }
}

impl Outcome {
    /// Did netloader report `file` as fetched whole and inflated: `file: NAME SIZE bytes crc32
    /// X, FORMAT inflated to N bytes at 0x...`, with the size and CRC-32 of `fetched` (the file
    /// on the server) and the length of `inflated`? (`format`: gzip or xz.)
    pub fn inflated(&self, file: &str, fetched: &[u8], format: &str, inflated: &[u8]) -> bool {
        let head = format!(
            "file: {file} {} bytes crc32 {:08x}, {format} inflated to {} bytes at 0x",
            fetched.len(),
            crc32(fetched),
            inflated.len()
        );
        self.serial.lines().any(|l| l.starts_with(&head))
    }
}

/// CRC-32 as zlib computes it, which is what netloader prints for every file.
pub fn crc32(data: &[u8]) -> u32 {
    crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(data)
}

#[cfg(test)]
mod tests {
    use super::inherited_fd;

    #[test]
    fn relay_netdev_names_the_descriptor_to_pass() {
        assert_eq!(
            inherited_fd("dgram,id=n0,local.type=fd,local.str=17"),
            Some(17)
        );
        assert_eq!(inherited_fd("user,id=n0,restrict=on"), None);
        assert_eq!(inherited_fd("-cdrom"), None);
    }
}
