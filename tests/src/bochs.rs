//! Run Bochs (Debian's 2.7) as a second, independent PC model: its own BIOS, its own e1000
//! model and its own DHCP/TFTP server (the `vnet` or `slirp` network module), with a timeout and the
//! serial console in a log file, reported as the QEMU harness's [`Outcome`].
//!
//! Debian builds Bochs without a display-less GUI and with its debugger, so Bochs runs with
//! the `term` display under a pseudo-terminal (`script`), and a command file answers the
//! debugger's first prompt with `c` (continue). Bochs has no isa-debug-exit: the caller's
//! stop condition on the serial log ends the run, and the harness kills Bochs.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::qemu::{Outcome, work_dir};

pub const BOCHS: &str = "bochs";
const BIOS: &str = "/usr/share/bochs/BIOS-bochs-latest";
const VGA_BIOS: &str = "/usr/share/bochs/VGABIOS-lgpl-latest";

/// Bochs' built-in networks: each is a DHCP and TFTP server inside Bochs, serving one folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// `vnet`: server 192.168.10.1, guest 192.168.10.15; TFTP grants blksize up to 1432.
    Vnet,
    /// `slirp` with `restricted = 1` (no way out of Bochs): server 10.0.2.2, guest 10.0.2.15;
    /// its TFTP answers any blksize over 512 with 512.
    Slirp,
}

impl Network {
    /// The address the network's DHCP server gives the guest.
    pub fn guest_ip(self) -> &'static str {
        match self {
            Network::Vnet => "192.168.10.15",
            Network::Slirp => "10.0.2.15",
        }
    }

    fn module(self) -> &'static str {
        match self {
            Network::Vnet => "vnet",
            Network::Slirp => "slirp",
        }
    }

    /// The `script=` file: both read `bootfile`; slirp must also be kept inside Bochs.
    fn script(self, bootfile: &str) -> String {
        match self {
            Network::Vnet => format!("# vnet config\nbootfile = {bootfile}\n"),
            Network::Slirp => format!("# slirp config\nrestricted = 1\nbootfile = {bootfile}\n"),
        }
    }
}

/// The network card Bochs emulates (both on its private network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Card {
    /// The Intel 82540EM (PCI), Bochs' default in these tests.
    E1000,
    /// The NE2000 on the PCI bus (an RTL8029, 10ec:8029), in slot 1.
    Ne2kPci,
}

/// What the BIOS boots.
#[derive(Clone, Debug)]
pub enum BootMedium {
    /// An ISO image in an ATAPI CD drive (El Torito).
    Cdrom(PathBuf),
    /// A 1.44 MB floppy image in drive A.
    Floppy(PathBuf),
    /// A disk image as the first ATA hard disk. Bochs wants a flat image to be whole
    /// cylinders of its geometry (16 heads x 63 sectors): the harness boots a copy padded
    /// with zeros, as if the image were written to a larger disk.
    Disk(PathBuf),
}

/// Heads and sectors per track of the ATA disk geometry Bochs is given.
const DISK_HEADS: u64 = 16;
const DISK_SPT: u64 = 63;

/// Copies `image` into `dir` padded to whole 16 x 63 cylinders; returns the copy and its
/// cylinder count.
fn padded_disk(image: &Path, dir: &Path) -> (PathBuf, u64) {
    let mut bytes = std::fs::read(image).expect("read the disk image");
    let cylinder = DISK_HEADS * DISK_SPT * 512;
    let cylinders = (bytes.len() as u64).div_ceil(cylinder);
    bytes.resize((cylinders * cylinder) as usize, 0);
    let copy = dir.join("disk.img");
    std::fs::write(&copy, bytes).expect("write the padded disk image");
    (copy, cylinders)
}

pub struct Bochs {
    name: String,
    medium: BootMedium,
    tftp_root: PathBuf,
    bootfile: String,
    network: Network,
    card: Card,
    memory_mib: u32,
    timeout: Duration,
    cpu_model: String,
}

impl Bochs {
    /// A PC with a long-mode CPU (unless [`Bochs::cpu`] says otherwise) and an e1000 (unless
    /// [`Bochs::card`] says otherwise) on Bochs' private network (vnet unless
    /// [`Bochs::network`] says otherwise), whose TFTP
    /// server serves `tftp_root` and whose DHCP names `bootfile`.
    pub fn new(name: &str, medium: BootMedium, tftp_root: &Path, bootfile: &str) -> Self {
        Bochs {
            name: name.to_string(),
            medium,
            tftp_root: tftp_root.to_path_buf(),
            bootfile: bootfile.to_string(),
            network: Network::Vnet,
            card: Card::E1000,
            memory_mib: 64,
            timeout: Duration::from_secs(300),
            cpu_model: "corei7_sandy_bridge_2600k".into(),
        }
    }

    /// Bochs' CPU model (`cpu: model=`), e.g. `p3_katmai` or `p2_klamath`: CPUs without long
    /// mode, for the 32-bit runtime.
    pub fn cpu(&mut self, model: &str) -> &mut Self {
        self.cpu_model = model.to_string();
        self
    }

    pub fn network(&mut self, network: Network) -> &mut Self {
        self.network = network;
        self
    }

    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    pub fn card(&mut self, card: Card) -> &mut Self {
        self.card = card;
        self
    }

    /// The bochsrc for this machine. `ips` with `clock: sync=none` makes guest time follow
    /// the instruction count, so a slow host slows the guest's clock too (no spurious
    /// timeouts inside the guest).
    fn config(&self, dir: &Path, serial_log: &Path, bochs_log: &Path, net_script: &Path) -> String {
        let medium = match &self.medium {
            BootMedium::Cdrom(iso) => {
                format!(
                    "ata0-slave: type=cdrom, path=\"{}\", status=inserted\nboot: cdrom\n",
                    iso.display()
                )
            }
            BootMedium::Floppy(img) => format!(
                "floppya: 1_44=\"{}\", status=inserted\nboot: floppy\n",
                img.display()
            ),
            BootMedium::Disk(img) => {
                let (copy, cylinders) = padded_disk(img, dir);
                format!(
                    "ata0-master: type=disk, mode=flat, path=\"{}\", cylinders={cylinders}, heads={DISK_HEADS}, spt={DISK_SPT}\n\
                     boot: disk\n",
                    copy.display()
                )
            }
        };
        format!(
            "megs: {memory}\n\
             romimage: file={BIOS}\n\
             vgaromimage: file={VGA_BIOS}\n\
             display_library: term\n\
             cpu: model={cpu}, ips=50000000\n\
             clock: sync=none, time0=1\n\
             pci: enabled=1, chipset=i440fx{slot}\n\
             {medium}\
             {card}: enabled=1,{card_type} mac=52:54:00:12:34:56, ethmod={module}, ethdev=\"{tftp}\", script=\"{script}\"\n\
             com1: enabled=1, mode=file, dev=\"{serial}\"\n\
             mouse: enabled=0\n\
             log: \"{log}\"\n\
             panic: action=fatal\n\
             error: action=report\n\
             info: action=report\n",
            memory = self.memory_mib,
            cpu = self.cpu_model,
            slot = match self.card {
                Card::E1000 => "",
                Card::Ne2kPci => ", slot1=ne2k",
            },
            card = match self.card {
                Card::E1000 => "e1000",
                Card::Ne2kPci => "ne2k",
            },
            card_type = match self.card {
                Card::E1000 => "",
                Card::Ne2kPci => " type=pci,",
            },
            tftp = self.tftp_root.display(),
            module = self.network.module(),
            script = net_script.display(),
            serial = serial_log.display(),
            log = bochs_log.display(),
        )
    }

    /// Boot until Bochs exits, `stop_when(serial)` holds, or the timeout passes. Bochs' own
    /// log (BIOS messages, the vnet server's TFTP notes) is kept as `<name>.bochs.log`.
    pub fn run(&self, stop_when: impl Fn(&str) -> bool) -> Outcome {
        require_bochs();
        let dir = work_dir().join(format!("{}.bochs", self.name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the Bochs run directory");
        let log = work_dir().join(format!("{}.log", self.name));
        let bochs_log = work_dir().join(format!("{}.bochs.log", self.name));
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(&bochs_log);
        let net_script = dir.join("net.conf");
        std::fs::write(&net_script, self.network.script(&self.bootfile)).unwrap();
        std::fs::write(
            dir.join("rc"),
            self.config(&dir, &log, &bochs_log, &net_script),
        )
        .unwrap();
        std::fs::write(dir.join("cont"), "c\n").unwrap();

        let start = Instant::now();
        let child = Command::new("script")
            .args(["-qfc", &format!("{BOCHS} -q -f rc -rc cont"), "/dev/null"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start Bochs under script");
        let mut running = Running(child);
        let (exit_code, timed_out) = loop {
            if let Some(status) = running.0.try_wait().expect("wait for Bochs") {
                break (status.code(), false);
            }
            if stop_when(&read_log(&log)) {
                break (None, false);
            }
            if start.elapsed() > self.timeout {
                break (None, true);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        drop(running);
        let mut serial = read_log(&log);
        if exit_code.is_some() {
            serial.push_str("\n[bochs exited; its log: ");
            serial.push_str(&bochs_log.display().to_string());
            serial.push(']');
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

/// Bochs under `script`, killed with its whole process group when dropped (Bochs ignores
/// SIGTERM while it runs, and a panicking test must not leave it spinning).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group this harness
            // created (process_group(0) above); it touches no memory.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.0.wait();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn require_bochs() {
    let found = Command::new("sh")
        .args(["-c", "command -v bochs && command -v script"])
        .output();
    let missing = !found.is_ok_and(|o| o.status.success()) || !Path::new(BIOS).exists();
    if missing {
        panic!(
            "Bochs is missing: install it (Debian: apt-get install bochs bochsbios vgabios bochs-term); \
             scripts/install-deps does this"
        );
    }
}
