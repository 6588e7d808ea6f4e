//! Broken payloads served over TFTP: each boot must end in one clear error line (code, what
//! failed, what to check) with the kernel never started (`MB BEGIN` absent), or, for the large
//! but valid config, boot normally.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use netloader::forms::{self, Form};
use netloader_tests::kernels::{self, Variant};
use netloader_tests::netns::{self, Fault, FaultAction, Impairment, TestNet};
use netloader_tests::qemu::{Outcome, Qemu};
use netloader_tests::scenario::{self, check_report, random_bytes, tftp_root};

/// The ISO, QEMU user networking (restrict=on) with `tftp=dir`, the config as the DHCP boot file.
fn boot(name: &str, dir: &Path, mem_mib: u32) -> Outcome {
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let mut qemu = Qemu::new(name, "pc", mem_mib);
    qemu.args(["-cdrom".into(), iso.display().to_string()]);
    scenario::tftp_network(&mut qemu, "e1000", dir, "boot.cfg")
        .run(|serial| serial.contains("netloader: stopped."))
}

/// `expected` appears (the error line), and the kernel never ran.
fn expect_error(outcome: &Outcome, expected: &str) {
    outcome.check(
        outcome.contains(expected),
        &format!("expected `{expected}`"),
    );
    outcome.check(outcome.contains("netloader: stopped."), "the loader stops");
    outcome.check(!outcome.contains("MB BEGIN"), "the kernel must not start");
}

/// A TFTP root whose boot.cfg boots `/broken` (written by the caller).
fn root_with_broken_kernel(name: &str, kernel: &[u8]) -> std::path::PathBuf {
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    std::fs::write(dir.join("broken"), kernel).unwrap();
    std::fs::write(
        dir.join("boot.cfg"),
        "set timeout=0\nmenuentry \"x\" {\n  multiboot /broken\n}\n",
    )
    .unwrap();
    dir
}

fn u32_at(f: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(f[at..at + 4].try_into().unwrap())
}

fn u16_at(f: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(f[at..at + 2].try_into().unwrap())
}

/// The test kernel's ELF32 and the file offset of its first PT_LOAD program header.
fn elf32_and_first_load() -> (Vec<u8>, usize) {
    let elf = std::fs::read(kernels::path(Variant::Elf32)).unwrap();
    assert_eq!(&elf[..5], b"\x7fELF\x01", "the test kernel is ELF32");
    let (phoff, phentsize, phnum) = (
        u32_at(&elf, 0x1c) as usize,
        u16_at(&elf, 0x2a) as usize,
        u16_at(&elf, 0x2c) as usize,
    );
    let load = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&ph| u32_at(&elf, ph) == 1)
        .expect("a PT_LOAD");
    (elf, load)
}

// ELF32 program header fields.
const P_OFFSET: usize = 4;
const P_PADDR: usize = 12;
const P_FILESZ: usize = 16;

#[test]
fn truncated_elf() {
    let (elf, load) = elf32_and_first_load();
    let cut = u32_at(&elf, load + P_OFFSET) as usize + u32_at(&elf, load + P_FILESZ) as usize / 2;
    let dir = root_with_broken_kernel("hostile-truncated", &elf[..cut]);
    let outcome = boot("hostile-truncated", &dir, 128);
    expect_error(&outcome, "E-KERNEL-FORMAT: /broken: ");
    outcome.check(
        outcome.contains("check that it is a Multiboot kernel"),
        "what to check",
    );
}

#[test]
fn program_header_pointing_outside_the_file() {
    let (mut elf, load) = elf32_and_first_load();
    let past_the_end = elf.len() as u32 + 0x1000;
    elf[load + P_OFFSET..load + P_OFFSET + 4].copy_from_slice(&past_the_end.to_le_bytes());
    let dir = root_with_broken_kernel("hostile-phdr-offset", &elf);
    let outcome = boot("hostile-phdr-offset", &dir, 128);
    expect_error(&outcome, "E-KERNEL-FORMAT: /broken: ");
}

fn kernel_loaded_at(name: &str, paddr: u32) -> Outcome {
    let (mut elf, load) = elf32_and_first_load();
    elf[load + P_PADDR..load + P_PADDR + 4].copy_from_slice(&paddr.to_le_bytes());
    let dir = root_with_broken_kernel(name, &elf);
    boot(name, &dir, 128)
}

#[test]
fn segment_over_the_hole_below_1_mib() {
    let outcome = kernel_loaded_at("hostile-paddr-hole", 0xA0000);
    expect_error(
        &outcome,
        "E-KERNEL-NORAM: /broken: a segment wants 0xa0000-",
    );
    outcome.check(
        outcome.contains("not usable RAM on this machine"),
        "what is wrong",
    );
}

#[test]
fn segment_past_the_end_of_ram() {
    let outcome = kernel_loaded_at("hostile-paddr-top", 128 * 1024 * 1024 - 0x10000);
    expect_error(
        &outcome,
        "E-KERNEL-NORAM: /broken: a segment wants 0x7ff0000-",
    );
    let outcome = kernel_loaded_at("hostile-paddr-4g", 0xfff0_0000);
    expect_error(
        &outcome,
        "E-KERNEL-NORAM: /broken: a segment wants 0xfff00000-",
    );
}

/// 70 MiB on a 64 MiB machine: refused from the announced tsize, before any data (a sparse
/// file, so the test stays fast; the transfer itself would take minutes under TCG).
#[test]
fn module_larger_than_free_ram_is_refused_from_its_tsize() {
    let name = "hostile-big-module";
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    let size = 70 * 1024 * 1024;
    std::fs::File::create(dir.join("big"))
        .unwrap()
        .set_len(size)
        .unwrap();
    std::fs::write(
        dir.join("boot.cfg"),
        "set timeout=0\nmenuentry \"x\" {\n  multiboot /kernel\n  module /big\n}\n",
    )
    .unwrap();
    let outcome = boot(name, &dir, 64);
    expect_error(&outcome, "E-MODULE-TOOBIG: /big: it does not fit in the ");
    // The refusal names the size the server announced: nothing was downloaded first.
    outcome.check(
        outcome.contains(&format!("file needs {size} bytes")),
        "refused from the tsize",
    );
    outcome.check(!outcome.contains("tftp: /big done"), "no transfer of /big");
}

/// A module that changes size on the server during its transfer: atftpd (in a network
/// namespace of the test's own) announces the size it sees at the request (tsize), then reads
/// the file as it sends. The relay resizes the file just before it forwards DATA block 1000 of
/// the module (a point in the transfer, not a moment: block 1000 is past the end of the kernel
/// and the config, and far from the module's end at any block size).
fn module_resized_during_transfer(name: &str, initial: u64, resized: u64) -> Outcome {
    netns::require_root(name);
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    let module = dir.join("big");
    std::fs::write(&module, random_bytes(initial as usize, 99)).unwrap();
    std::fs::write(
        dir.join("boot.cfg"),
        "set timeout=0\nmenuentry \"x\" {\n  multiboot /kernel\n  module /big\n}\n",
    )
    .unwrap();
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let net = TestNet::start(&dir, "boot.cfg", Impairment::NONE, &dir.join("servers"))
        .unwrap_or_else(|e| panic!("{name}: could not set up the namespace: {e}"));
    let resized_at_block = Arc::new(AtomicBool::new(false));
    let done = resized_at_block.clone();
    net.arm(Fault {
        block: 1000,
        action: FaultAction::Run(Box::new(move || {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&module)
                .unwrap();
            file.set_len(resized).unwrap();
            done.store(true, Ordering::SeqCst);
        })),
    });
    let outcome = Qemu::new(name, "pc", 256)
        .args(["-cdrom".into(), iso.display().to_string()])
        .args(["-netdev".into(), net.netdev("n0")])
        .args(["-device", "e1000,netdev=n0"])
        .run(|serial| serial.contains("netloader: stopped."));
    outcome.check(
        resized_at_block.load(Ordering::SeqCst),
        &format!("the file was resized at block 1000\n{}", net.server_logs()),
    );
    outcome.check(
        !outcome.contains("tftp: /big done"),
        "the loader must not accept the file",
    );
    outcome
}

/// The file shrank: fewer bytes than announced. The loader refuses what it got (a half-loaded
/// module must not reach the kernel).
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn file_shorter_than_its_tsize() {
    let (initial, resized) = (4 << 20, 2 << 20);
    let outcome = module_resized_during_transfer("hostile-tsize-short", initial, resized);
    expect_error(
        &outcome,
        &format!(
            "E-TFTP-SIZE: /big from 192.168.77.1: received {resized} bytes but the server announced tsize {initial}"
        ),
    );
}

/// The file grew: more bytes than announced. Refused as soon as the data passes the tsize.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn file_longer_than_its_tsize() {
    let (initial, resized) = (2 << 20, 4 << 20);
    let outcome = module_resized_during_transfer("hostile-tsize-long", initial, resized);
    expect_error(
        &outcome,
        &format!("but the server announced tsize {initial}"),
    );
    outcome.check(
        outcome.contains("E-TFTP-SIZE: /big from 192.168.77.1: received "),
        "the code and the file",
    );
}

const BOOT_ENTRY: &str =
    "menuentry \"test kernel\" {\n  multiboot /kernel console=ttyS0 \"quoted arg\"\n  boot\n}\n";

#[test]
fn config_of_ten_thousand_lines_boots() {
    let name = "hostile-cfg-10k";
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    let mut config = String::from("set timeout=0\n");
    for i in 0..5_000 {
        config += &format!("# comment line {i}\necho line {i}\n");
    }
    config += BOOT_ENTRY;
    assert!(config.lines().count() > 10_000);
    std::fs::write(dir.join("boot.cfg"), config).unwrap();
    let outcome = boot(name, &dir, 128);
    check_report(&outcome, Variant::Elf32, &[]);
}

#[test]
fn config_error_on_line_9999_is_named() {
    let name = "hostile-cfg-9999";
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    let mut config = String::from("set timeout=0\n");
    for i in 2..9_999 {
        config += &format!("# comment line {i}\n");
    }
    config += "linux16 /vmlinuz\n";
    config += BOOT_ENTRY;
    std::fs::write(dir.join("boot.cfg"), config).unwrap();
    let outcome = boot(name, &dir, 128);
    expect_error(
        &outcome,
        "E-CONFIG-SYNTAX: boot.cfg: line 9999, column 1: unknown command \"linux16\"",
    );
}

/// A 100 KiB kernel command line: more than the loader's 8 KiB, refused with the line named.
#[test]
fn command_line_of_100_kib_is_refused() {
    let name = "hostile-cmdline";
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    let argument = "x".repeat(100 * 1024);
    std::fs::write(
        dir.join("boot.cfg"),
        format!("set timeout=0\nmenuentry \"x\" {{\n  multiboot /kernel {argument}\n}}\n"),
    )
    .unwrap();
    let outcome = boot(name, &dir, 128);
    expect_error(
        &outcome,
        &format!(
            "E-CONFIG-CMDLINE: the command line of /kernel (line 3) is {} bytes; at most 8192: shorten it in the config",
            "/kernel ".len() + argument.len()
        ),
    );
}
