//! Linux kernels for the boot tests: our own bzImage-format test kernel (tests/linux-kernel,
//! built by build.rs) and a parser for the report it prints on COM1; Debian's real kernel, Xen
//! and busybox fetched as packages; and a cpio "newc" builder for initrds.
//!
//! # The test kernel's report
//!
//! One fact per line, each starting with `LX `, after an empty line:
//!
//! ```text
//! LX BEGIN lxtest
//! LX ENTRY cs=0x10 ds=0x18 es=0x18 ss=0x18 fs=0x18 gs=0x18 eflags=0x46 cr0=0x11 cr4=0x0 esi=0x14000 ebp=0x0 edi=0x0 ebx=0x0
//! LX LOAD address=0x100000 file_end=0x105390 init_end=0x131000 sha256=<hex of the loaded image>
//! LX BOOTPARAMS addr=0x14000 version=0x20f type_of_loader=0xb0 loadflags=0x81 code32_start=0x100000 kernel_alignment=0x200000 initrd_addr_max=0x7fffffff cmdline_size=2048 acpi_rsdp=0x0
//! LX CMDLINE addr=0x20000 "..."          (or none | addr=0x... unterminated)
//! LX E820 count=7
//! LX E820 base=0x0 len=0x9fc00 type=1     (one per entry)
//! LX INITRD addr=0x7fdf000 size=13 sha256=<hex>   (or none)
//! LX OVERLAP <piece> <piece>              (only when two pieces overlap)
//! LX SCREEN isvga=0x1 mode=3 cols=80 lines=25 points=16 x=0 y=2
//! LX LFB base=0x... size=.. width=.. height=.. depth=.. pitch=.. red=8/16 ... (VESA only)
//! LX CHECK <name> ok|fail <detail>        (one per check, as made)
//! LX FAULT ... / LX PANIC ... / LX FATAL ...  (only if the kernel itself broke)
//! LX VERDICT pass|fail                    (always last)
//! ```
//!
//! The checks: `entry_state` (CS=0x10, DS=ES=SS=0x18, CR0.PE=1, PG=0, IF=0, VM=0),
//! `entry_registers` (EBP=EDI=EBX=0), `image_intact` (the loaded image matches the hash
//! build.rs stored), `header_copied` (the zero page's setup header is the file's but for the
//! fields a loader writes), `header_exact` (nothing after the header's end was copied; the
//! sentinel is clear), `type_of_loader` (non-zero), `entry_address` (code32_start is where the
//! kernel runs), `load_aligned` (a multiple of the kernel_alignment the zero page gives, or
//! 0x100000), `cmdline` (terminated within cmdline_size), `e820` (2 to 128 entries, RAM above
//! 1 MiB), `kernel_in_ram` (load address + init_size inside one RAM entry); with an initrd,
//! `initrd_aligned` (4 KiB), `initrd_below_max` (initrd_addr_max, 4 GiB), `initrd_above_kernel`
//! (at or above load + init_size), `initrd_in_ram`; without one, `expect_initrd` (fails with
//! `lxtest.expect-initrd` on the command line); `no_overlap` (zero page, command line, initrd,
//! kernel) and `screen` (VGA text 80x25 mode 3, or a VESA framebuffer). The verdict passes when
//! no check failed; the kernel then writes 0x10 (pass) or 0x11 (fail) to isa-debug-exit (QEMU
//! exit status 33 or 35).
//!
//! Under QEMU's own `-kernel` the 16-bit setup code of the test kernel builds the zero page
//! (QEMU runs the setup code, as the kernel's own setup would); through netloader, the loader
//! builds it and enters at code32_start.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::kernels::{Check, MmapEntry, field, number, unquote};

/// The test kernel as a bzImage (protocol 2.15, relocatable, kernel_alignment 2 MiB,
/// min_alignment 4 KiB, pref_address 16 MiB, cmdline_size 2048, initrd_addr_max 0x7FFFFFFF).
pub fn test_kernel_path() -> &'static Path {
    Path::new(env!("NETLOADER_LINUX_TEST_KERNEL"))
}

/// The same test kernel built for i586 (a 32-bit kernel, with 32-bit paging: for CPUs without
/// long mode), the same bzImage header.
pub fn test_kernel_i586_path() -> &'static Path {
    Path::new(env!("NETLOADER_LINUX_TEST_KERNEL_I586"))
}

/// Command-line word: fail unless an initrd arrives.
pub const EXPECT_INITRD: &str = "lxtest.expect-initrd";

/// A parsed `LX` report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinuxReport {
    /// `LX ENTRY` fields by name (cs, ds, ..., esi, ebp, edi, ebx).
    pub entry: Vec<(String, u64)>,
    pub load_address: u64,
    /// One past the loaded file bytes, and load address + init_size.
    pub file_end: u64,
    pub init_end: u64,
    pub image_sha256: String,
    pub zero_page: u64,
    pub type_of_loader: u64,
    pub kernel_alignment: u64,
    pub acpi_rsdp: u64,
    pub cmdline_addr: Option<u64>,
    pub cmdline: Option<String>,
    pub e820: Vec<MmapEntry>,
    pub initrd: Option<InitrdReport>,
    /// `LX SCREEN` fields by name.
    pub screen: Vec<(String, u64)>,
    /// `LX LFB` (a VESA framebuffer): its numeric fields by name, and the colour fields as
    /// written (`red=8/16 green=8/8 blue=8/0 rsvd=8/24`, size/position).
    pub lfb: Vec<(String, u64)>,
    pub lfb_colours: String,
    pub checks: Vec<Check>,
    pub faults: Vec<String>,
    pub verdict_pass: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitrdReport {
    pub addr: u64,
    pub size: u64,
    pub sha256: String,
}

impl LinuxReport {
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    pub fn failed_checks(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }

    pub fn entry(&self, name: &str) -> Option<u64> {
        self.entry.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }

    pub fn screen(&self, name: &str) -> Option<u64> {
        self.screen.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }

    pub fn lfb(&self, name: &str) -> Option<u64> {
        self.lfb.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }
}

/// `key=number` words, in order.
fn numbers(text: &str) -> Vec<(String, u64)> {
    text.split(' ')
        .filter_map(|word| {
            let (key, value) = word.split_once('=')?;
            Some((key.to_string(), number(value)?))
        })
        .collect()
}

/// The last complete report (from `LX BEGIN` to `LX VERDICT`) in `serial`; None if there is
/// none. Unknown `LX` lines are skipped.
pub fn parse_report(serial: &str) -> Option<LinuxReport> {
    let lines: Vec<&str> = serial.lines().map(|l| l.trim_end_matches('\r')).collect();
    let begin = lines.iter().rposition(|l| l.starts_with("LX BEGIN "))?;
    let mut report = LinuxReport::default();
    for line in &lines[begin..] {
        let Some(rest) = line.strip_prefix("LX ") else {
            continue;
        };
        let (tag, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        match tag {
            "ENTRY" => report.entry = numbers(rest),
            "LOAD" => {
                report.load_address = number(field(rest, "address")?)?;
                report.file_end = number(field(rest, "file_end")?)?;
                report.init_end = number(field(rest, "init_end")?)?;
                report.image_sha256 = field(rest, "sha256")?.to_string();
            }
            "BOOTPARAMS" => {
                report.zero_page = number(field(rest, "addr")?)?;
                report.type_of_loader = number(field(rest, "type_of_loader")?)?;
                report.kernel_alignment = number(field(rest, "kernel_alignment")?)?;
                report.acpi_rsdp = number(field(rest, "acpi_rsdp")?)?;
            }
            "CMDLINE" if rest != "none" => {
                let (addr, text) = rest.split_once(' ')?;
                report.cmdline_addr = number(addr.strip_prefix("addr=")?);
                report.cmdline = unquote(text);
            }
            "E820" if rest.starts_with("base=") => report.e820.push(MmapEntry {
                base: number(field(rest, "base")?)?,
                len: number(field(rest, "len")?)?,
                kind: number(field(rest, "type")?)? as u32,
            }),
            "INITRD" if rest != "none" => {
                report.initrd = Some(InitrdReport {
                    addr: number(field(rest, "addr")?)?,
                    size: number(field(rest, "size")?)?,
                    sha256: field(rest, "sha256")?.to_string(),
                })
            }
            "SCREEN" => report.screen = numbers(rest),
            "LFB" => {
                report.lfb = numbers(rest);
                report.lfb_colours = rest
                    .split(' ')
                    .filter(|w| w.contains('/'))
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            "CHECK" => {
                let mut parts = rest.splitn(3, ' ');
                let name = parts.next()?.to_string();
                let status = parts.next()?;
                report.checks.push(Check {
                    name,
                    ok: status == "ok",
                    waived: false,
                    detail: parts.next().unwrap_or("").to_string(),
                });
            }
            "FAULT" | "PANIC" | "FATAL" => report.faults.push(line.to_string()),
            "VERDICT" => {
                report.verdict_pass = rest == "pass";
                return Some(report);
            }
            _ => {}
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// cpio "newc" archives (the initramfs format)

/// One archive member.
pub enum CpioEntry<'a> {
    Dir {
        name: &'a str,
    },
    File {
        name: &'a str,
        mode: u32,
        data: &'a [u8],
    },
    /// A character device node (an initramfs needs /dev/console before /init runs, or /init
    /// starts without stdin, stdout and stderr).
    CharDevice {
        name: &'a str,
        major: u32,
        minor: u32,
    },
}

/// A newc archive (magic 070701, ASCII hex headers, names and data padded to 4 bytes), with
/// the TRAILER!!! entry. Every member owned by root, dated 0, inode numbers from 1.
pub fn cpio_newc(entries: &[CpioEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut append = |ino: u32, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]| {
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime
            data.len() as u32,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        out.extend_from_slice(b"070701");
        for value in fields {
            out.extend_from_slice(format!("{value:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    };
    for (i, entry) in entries.iter().enumerate() {
        let ino = i as u32 + 1;
        match *entry {
            CpioEntry::Dir { name } => append(ino, name, 0o040755, (0, 0), &[]),
            CpioEntry::File { name, mode, data } => {
                append(ino, name, 0o100000 | mode, (0, 0), data)
            }
            CpioEntry::CharDevice { name, major, minor } => {
                append(ino, name, 0o020600, (major, minor), &[])
            }
        }
    }
    append(0, "TRAILER!!!", 0, (0, 0), &[]);
    out
}

/// What busybox's /init prints first, then `LINUX-CMDLINE <the kernel's command line>`.
pub const INIT_MARKER: &str = "LINUX-INIT-OK";

/// An initramfs with busybox as /bin/busybox and an /init script that prints
/// [`INIT_MARKER`] and the command line (from /proc/cmdline) on the console, then powers the
/// machine off (QEMU exits with status 0).
pub fn busybox_initrd(busybox: &[u8]) -> Vec<u8> {
    let init = format!(
        "#!/bin/busybox sh\n\
         /bin/busybox mount -t proc proc /proc\n\
         echo {INIT_MARKER}\n\
         echo \"LINUX-CMDLINE $(/bin/busybox cat /proc/cmdline)\"\n\
         /bin/busybox poweroff -f\n"
    );
    cpio_newc(&[
        CpioEntry::Dir { name: "bin" },
        CpioEntry::Dir { name: "dev" },
        CpioEntry::Dir { name: "proc" },
        CpioEntry::CharDevice {
            name: "dev/console",
            major: 5,
            minor: 1,
        },
        CpioEntry::File {
            name: "bin/busybox",
            mode: 0o755,
            data: busybox,
        },
        CpioEntry::File {
            name: "init",
            mode: 0o755,
            data: init.as_bytes(),
        },
    ])
}

// ---------------------------------------------------------------------------------------
// Debian packages: fetched with apt-get download and unpacked into target/tools (never
// installed), as netns.rs does for the servers.

/// A file from an unpacked package, and the package's download size.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub path: PathBuf,
    pub package: String,
    /// The .deb's size as the archive lists it (apt-cache show: Size).
    pub download_bytes: u64,
}

fn apt_cache(args: &[&str]) -> io::Result<String> {
    let output = Command::new("apt-cache").args(args).output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "apt-cache {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The candidate version's `Size:` of `package`.
fn download_size(package: &str) -> io::Result<u64> {
    let show = apt_cache(&["show", "--no-all-versions", package])?;
    show.lines()
        .find_map(|l| l.strip_prefix("Size: ")?.trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("apt-cache show {package}: no Size")))
}

/// Debian's current amd64 kernel: `linux-image-amd64` names the package of the day
/// (`linux-image-<abi>-amd64`), whose `/boot/vmlinuz-<abi>-amd64` is the bzImage.
pub fn debian_kernel() -> io::Result<Fetched> {
    let depends = apt_cache(&["depends", "linux-image-amd64"])?;
    let package = depends
        .lines()
        .find_map(|l| {
            let name = l.trim().strip_prefix("Depends: ")?;
            (name.starts_with("linux-image-") && name.ends_with("-amd64")).then(|| name.to_string())
        })
        .ok_or_else(|| io::Error::other("linux-image-amd64 names no linux-image-*-amd64"))?;
    let abi = package
        .strip_prefix("linux-image-")
        .unwrap_or(&package)
        .to_string();
    let binary = format!("boot/vmlinuz-{abi}");
    // The vmlinuz alone (the package unpacks to 400 MB of modules).
    let root = crate::netns::unpacked_deb_files(&package, &[&package], &binary, &[&binary])?;
    Ok(Fetched {
        path: root.join(binary),
        download_bytes: download_size(&package)?,
        package,
    })
}

/// Debian's statically linked busybox.
pub fn busybox_static() -> io::Result<Fetched> {
    let root = crate::netns::unpacked_debs("busybox-static", &["busybox-static"], "bin/busybox")?;
    Ok(Fetched {
        path: root.join("bin/busybox"),
        package: "busybox-static".into(),
        download_bytes: download_size("busybox-static")?,
    })
}

/// Debian 12's Xen hypervisor: a gzipped ELF32 with Multiboot 1 and 2 headers.
pub fn xen_hypervisor() -> io::Result<Fetched> {
    let package = "xen-hypervisor-4.17-amd64";
    let binary = "boot/xen-4.17-amd64.gz";
    let root = crate::netns::unpacked_debs(package, &[package], binary)?;
    Ok(Fetched {
        path: root.join(binary),
        package: package.into(),
        download_bytes: download_size(package)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "early noise\n\
\n\
LX BEGIN lxtest\n\
LX ENTRY cs=0x10 ds=0x18 es=0x18 ss=0x18 fs=0x18 gs=0x18 eflags=0x46 cr0=0x11 cr4=0x0 esi=0x14000 ebp=0x0 edi=0x0 ebx=0x0\n\
LX CHECK entry_state ok cs=0x10 ds=0x18 es=0x18 ss=0x18 cr0.pe=1 cr0.pg=0 if=0 vm=0\n\
LX LOAD address=0x100000 file_end=0x105390 init_end=0x131000 sha256=02ab\n\
LX BOOTPARAMS addr=0x14000 version=0x20f type_of_loader=0xb0 loadflags=0x81 code32_start=0x100000 kernel_alignment=0x200000 initrd_addr_max=0x7fffffff cmdline_size=2048 acpi_rsdp=0xf5a40\n\
LX CMDLINE addr=0x20000 \"console=ttyS0 \\\"q\\\"\"\n\
LX E820 count=2\n\
LX E820 base=0x0 len=0x9fc00 type=1\n\
LX E820 base=0x100000 len=0x7ee0000 type=1\n\
LX INITRD addr=0x7fdf000 size=13 sha256=0faf\n\
LX SCREEN isvga=0x1 mode=3 cols=80 lines=25 points=16 x=0 y=2\n\
LX LFB base=0xfd000000 size=30 width=800 height=600 depth=32 pitch=3200 red=8/16 green=8/8 blue=8/0 rsvd=8/24\n\
LX CHECK initrd_above_kernel fail 0x7fdf000 >= load + init_size 0x131000\n\
LX VERDICT fail\n";

    #[test]
    fn parses_a_report() {
        let report = parse_report(SAMPLE).unwrap();
        assert_eq!(report.entry("cs"), Some(0x10));
        assert_eq!(report.entry("esi"), Some(0x14000));
        assert_eq!(
            (report.load_address, report.file_end, report.init_end),
            (0x100000, 0x105390, 0x131000)
        );
        assert_eq!(report.image_sha256, "02ab");
        assert_eq!(
            (report.zero_page, report.type_of_loader, report.acpi_rsdp),
            (0x14000, 0xb0, 0xf5a40)
        );
        assert_eq!(report.kernel_alignment, 0x200000);
        assert_eq!(report.cmdline_addr, Some(0x20000));
        assert_eq!(report.cmdline.as_deref(), Some("console=ttyS0 \"q\""));
        assert_eq!(report.e820.len(), 2);
        assert_eq!(report.e820[1].len, 0x7ee0000);
        assert_eq!(
            report.initrd,
            Some(InitrdReport {
                addr: 0x7fdf000,
                size: 13,
                sha256: "0faf".into()
            })
        );
        assert_eq!(report.screen("cols"), Some(80));
        assert_eq!(report.lfb("pitch"), Some(3200));
        assert_eq!(report.lfb_colours, "red=8/16 green=8/8 blue=8/0 rsvd=8/24");
        assert_eq!(report.failed_checks().len(), 1);
        assert!(report.check("entry_state").unwrap().ok);
        assert!(!report.verdict_pass);
        assert_eq!(parse_report("LX BEGIN lxtest\nLX CHECK x ok\n"), None);
    }

    #[test]
    fn cpio_newc_layout() {
        let archive = cpio_newc(&[CpioEntry::File {
            name: "init",
            mode: 0o755,
            data: b"hi",
        }]);
        // Header (110 bytes) + "init\0" padded to 116, data padded to 120; then the trailer.
        let fields = [1, 0o100755, 0, 0, 1, 0, 2, 0, 0, 0, 0, 5, 0];
        let header: String = std::iter::once("070701".to_string())
            .chain(fields.iter().map(|v: &u32| format!("{v:08x}")))
            .collect();
        assert_eq!(header.len(), 110);
        assert_eq!(&archive[..110], header.as_bytes());
        assert_eq!(&archive[110..116], b"init\0\0");
        assert_eq!(&archive[116..120], b"hi\0\0");
        assert_eq!(&archive[120..126], b"070701");
        assert!(archive[120..].windows(10).any(|w| w == b"TRAILER!!!"));
        assert_eq!(archive.len() % 4, 0);
    }
}
