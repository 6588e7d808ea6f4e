//! The boot scenario most tests share: a TFTP root holding the Multiboot test kernel, a few
//! modules of seeded random bytes and a config naming them; and the check of the kernel's
//! report against what the host put there (every module's size, SHA-256 and command line).

use std::path::{Path, PathBuf};

use netloader::forms::{self, Form};

use crate::kernels::{self, EXIT_PASS, Variant, parse_report, sha256_hex};
use crate::qemu::{Outcome, Qemu, work_dir};

/// Deterministic pseudo-random bytes (xorshift), so a failing boot can be replayed exactly.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

pub struct Module {
    pub name: String,
    pub data: Vec<u8>,
    /// As written in the config (no quoting used); the kernel receives the module's path, a
    /// space and these ([`module_cmdline`]).
    pub args: &'static str,
}

/// `count` modules of different sizes and command lines (one of them empty).
pub fn modules(count: usize) -> Vec<Module> {
    let args = ["first module", "", "x=1 y=2", "--flag"];
    (0..count)
        .map(|i| Module {
            name: format!("mod{i}"),
            data: random_bytes(1000 + i * 37_123, i as u64 + 7),
            args: args[i % args.len()],
        })
        .collect()
}

/// Modules of the given sizes (for tests that need large ones).
pub fn modules_sized(sizes: &[usize]) -> Vec<Module> {
    let args = ["first module", "x=1 y=2", "--flag"];
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| Module {
            name: format!("mod{i}"),
            data: random_bytes(size, i as u64 + 11),
            args: args[i % args.len()],
        })
        .collect()
}

/// The kernel's arguments in the config, and the command line the kernel must receive: its
/// path first, then the arguments (README, "Command lines").
pub const KERNEL_ARGS: &str = "console=ttyS0 \"quoted arg\"";
pub const KERNEL_CMDLINE: &str = "/kernel console=ttyS0 quoted arg";

/// The command line a module must receive: its path, then its arguments.
pub fn module_cmdline(module: &Module) -> String {
    cmdline_at(&format!("/{}", module.name), module.args)
}

/// A command line as netloader passes it: the path as the config writes it (a URL too),
/// then the arguments.
fn cmdline_at(path: &str, args: &str) -> String {
    if args.is_empty() {
        path.to_string()
    } else {
        format!("{path} {args}")
    }
}

/// A one-entry config booting `/kernel` with `modules`, no menu wait.
pub fn config(modules: &[Module]) -> String {
    let mut config =
        format!("set timeout=0\nmenuentry \"test kernel\" {{\n  multiboot /kernel {KERNEL_ARGS}\n");
    for m in modules {
        config += &format!("  module /{} {}\n", m.name, m.args);
    }
    config + "  boot\n}\n"
}

/// A fresh TFTP root `work_dir()/name` with the kernel, the modules, and the config at
/// `config_path` (relative; `netloader.cfg/` exists for the per-host names).
pub fn tftp_root(name: &str, variant: Variant, modules: &[Module], config_path: &str) -> PathBuf {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("netloader.cfg")).unwrap();
    std::fs::copy(kernels::path(variant), dir.join("kernel")).unwrap();
    for m in modules {
        std::fs::write(dir.join(&m.name), &m.data).unwrap();
    }
    write(&dir, config_path, config(modules).as_bytes());
    dir
}

/// A PC that boots from the network only (`-boot n`, no disks): the card `device` (a QEMU
/// `-device` value without `netdev=`, e.g. `e1000` or `vmxnet3,romfile=...`) with its PXE ROM,
/// on QEMU's user network (restrict=on) serving `dir` by TFTP, boot file netloader.pxe.
pub fn pxe_qemu(name: &str, device: &str, dir: &Path) -> Qemu {
    let mut qemu = Qemu::new(name, "pc", 128);
    qemu.args(["-boot", "n"]);
    tftp_network(&mut qemu, device, dir, "netloader.pxe");
    qemu
}

/// The card `device` (a QEMU `-device` value without `netdev=`) on QEMU's user network
/// (restrict=on) serving `dir` by TFTP, with `bootfile` as the DHCP boot file.
pub fn tftp_network<'q>(
    qemu: &'q mut Qemu,
    device: &str,
    dir: &Path,
    bootfile: &str,
) -> &'q mut Qemu {
    qemu.args([
        "-netdev".into(),
        format!(
            "user,id=n0,restrict=on,tftp={},bootfile={bootfile}",
            dir.display()
        ),
    ])
    .args(["-device".into(), format!("{device},netdev=n0")])
}

/// `form` built with `options` and written into `dir`, as QEMU's arguments for its drive: a
/// floppy, a CD, or a hard disk for the USB image.
pub fn drive_args(form: Form, options: &forms::Options, dir: &Path) -> [String; 2] {
    let path = dir.join(format!("netloader.{}", form.name()));
    std::fs::write(&path, forms::build_with(form, options).unwrap()).unwrap();
    match form {
        Form::Floppy => [
            "-drive".into(),
            format!("file={},format=raw,if=floppy", path.display()),
        ],
        Form::Iso => ["-cdrom".into(), path.display().to_string()],
        Form::Usb => [
            "-drive".into(),
            format!("file={},format=raw", path.display()),
        ],
        other => panic!("{} is not a drive image", other.name()),
    }
}

/// Write `data` to `dir/relative`.
pub fn write(dir: &Path, relative: &str, data: &[u8]) {
    std::fs::write(dir.join(relative), data).unwrap();
}

/// The test kernel booted with exactly these modules, and QEMU ended with the pass status.
pub fn check_report(outcome: &Outcome, variant: Variant, modules: &[Module]) {
    check_kernel_report(outcome, variant, modules);
    outcome.check(
        outcome.exit_code == Some(EXIT_PASS),
        "exit status 33 (isa-debug-exit: pass)",
    );
}

/// The kernel's report alone (for emulators without isa-debug-exit): magic, command lines,
/// every module's size and SHA-256, all of the kernel's own checks, the pass verdict.
pub fn check_kernel_report(outcome: &Outcome, variant: Variant, modules: &[Module]) {
    let paths: Vec<String> = modules.iter().map(|m| format!("/{}", m.name)).collect();
    check_kernel_report_at(outcome, variant, modules, "/kernel", &paths);
}

/// [`check_report`] for a config that names the kernel and the modules by other paths (URLs):
/// `kernel` and `module_paths` as the config writes them, which the command lines start with.
pub fn check_report_at(
    outcome: &Outcome,
    variant: Variant,
    modules: &[Module],
    kernel: &str,
    module_paths: &[String],
) {
    check_kernel_report_at(outcome, variant, modules, kernel, module_paths);
    outcome.check(
        outcome.exit_code == Some(EXIT_PASS),
        "exit status 33 (isa-debug-exit: pass)",
    );
}

fn check_kernel_report_at(
    outcome: &Outcome,
    variant: Variant,
    modules: &[Module],
    kernel: &str,
    module_paths: &[String],
) {
    let report = parse_report(&outcome.serial);
    outcome.check(report.is_some(), "the test kernel printed no report");
    let report = report.unwrap();
    outcome.check(
        report.variant == variant.name(),
        &format!("variant {} expected", variant.name()),
    );
    outcome.check(report.magic_ok, "Multiboot magic");
    outcome.check(
        report.cmdline.as_deref()
            == Some(cmdline_at(kernel, KERNEL_CMDLINE.trim_start_matches("/kernel ")).as_str()),
        "kernel command line",
    );
    outcome.check(
        report
            .loader
            .as_deref()
            .is_some_and(|l| l.starts_with("netloader ")),
        "boot loader name",
    );
    outcome.check(report.modules.len() == modules.len(), "module count");
    for ((got, want), path) in report.modules.iter().zip(modules).zip(module_paths) {
        outcome.check(
            got.size == want.data.len() as u64,
            &format!("size of {}", want.name),
        );
        outcome.check(
            got.sha256 == sha256_hex(&want.data),
            &format!("sha256 of {}", want.name),
        );
        outcome.check(
            got.cmdline == cmdline_at(path, want.args),
            &format!(
                "command line of {}: its path, then its arguments",
                want.name
            ),
        );
    }
    outcome.check_no_failed_checks(&report.failed_checks());
    outcome.check(report.verdict_pass, "verdict pass");
}
