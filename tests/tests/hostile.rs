//! Broken payloads served over TFTP: each boot must end in one clear error line (code, what
//! failed, what to check) with the kernel never started (`MB BEGIN` absent), or, for the large
//! but valid config, boot normally.

use std::net::UdpSocket;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netloader::forms::{self, Form};
use netloader_tests::kernels::{self, Variant};
use netloader_tests::qemu::{Outcome, Qemu};
use netloader_tests::scenario::{check_report, tftp_root};

/// The ISO, QEMU user networking with `tftp=dir`, the config as the DHCP boot file. With
/// `restrict` off, the guest reaches the host's loopback as 10.0.2.2 (for our own server).
fn boot(name: &str, dir: &Path, mem_mib: u32, restrict: bool) -> Outcome {
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build_with(Form::Iso, &forms::Options { config: None }).unwrap()).unwrap();
    let restrict = if restrict { "on" } else { "off" };
    Qemu::new(name, "pc", mem_mib)
        .args(["-cdrom".into(), iso.display().to_string()])
        .args(["-netdev".into(), format!("user,id=n0,restrict={restrict},tftp={},bootfile=boot.cfg", dir.display())])
        .args(["-device", "e1000,netdev=n0"])
        .run(|serial| serial.contains("netloader: stopped."))
}

/// `expected` appears (the error line), and the kernel never ran.
fn expect_error(outcome: &Outcome, expected: &str) {
    outcome.check(outcome.contains(expected), &format!("expected `{expected}`"));
    outcome.check(outcome.contains("netloader: stopped."), "the loader stops");
    outcome.check(!outcome.contains("MB BEGIN"), "the kernel must not start");
}

/// A TFTP root whose boot.cfg boots `/broken` (written by the caller).
fn root_with_broken_kernel(name: &str, kernel: &[u8]) -> std::path::PathBuf {
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    std::fs::write(dir.join("broken"), kernel).unwrap();
    std::fs::write(dir.join("boot.cfg"), "set timeout=0\nmenuentry \"x\" {\n  multiboot /broken\n}\n").unwrap();
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
    let (phoff, phentsize, phnum) = (u32_at(&elf, 0x1c) as usize, u16_at(&elf, 0x2a) as usize, u16_at(&elf, 0x2c) as usize);
    let load = (0..phnum).map(|i| phoff + i * phentsize).find(|&ph| u32_at(&elf, ph) == 1).expect("a PT_LOAD");
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
    let outcome = boot("hostile-truncated", &dir, 128, true);
    expect_error(&outcome, "E-KERNEL-FORMAT: /broken: ");
    outcome.check(outcome.contains("check that it is a Multiboot kernel"), "what to check");
}

#[test]
fn program_header_pointing_outside_the_file() {
    let (mut elf, load) = elf32_and_first_load();
    let past_the_end = elf.len() as u32 + 0x1000;
    elf[load + P_OFFSET..load + P_OFFSET + 4].copy_from_slice(&past_the_end.to_le_bytes());
    let dir = root_with_broken_kernel("hostile-phdr-offset", &elf);
    let outcome = boot("hostile-phdr-offset", &dir, 128, true);
    expect_error(&outcome, "E-KERNEL-FORMAT: /broken: ");
}

fn kernel_loaded_at(name: &str, paddr: u32) -> Outcome {
    let (mut elf, load) = elf32_and_first_load();
    elf[load + P_PADDR..load + P_PADDR + 4].copy_from_slice(&paddr.to_le_bytes());
    let dir = root_with_broken_kernel(name, &elf);
    boot(name, &dir, 128, true)
}

#[test]
fn segment_over_the_hole_below_1_mib() {
    let outcome = kernel_loaded_at("hostile-paddr-hole", 0xA0000);
    expect_error(&outcome, "E-KERNEL-NORAM: /broken: a segment wants 0xa0000-");
    outcome.check(outcome.contains("not usable RAM on this machine"), "what is wrong");
}

#[test]
fn segment_past_the_end_of_ram() {
    let outcome = kernel_loaded_at("hostile-paddr-top", 128 * 1024 * 1024 - 0x10000);
    expect_error(&outcome, "E-KERNEL-NORAM: /broken: a segment wants 0x7ff0000-");
    let outcome = kernel_loaded_at("hostile-paddr-4g", 0xfff0_0000);
    expect_error(&outcome, "E-KERNEL-NORAM: /broken: a segment wants 0xfff00000-");
}

/// 70 MiB on a 64 MiB machine: refused from the announced tsize, before any data (a sparse
/// file, so the test stays fast; the transfer itself would take minutes under TCG).
#[test]
fn module_larger_than_free_ram_is_refused_from_its_tsize() {
    let name = "hostile-big-module";
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    let size = 70 * 1024 * 1024;
    std::fs::File::create(dir.join("big")).unwrap().set_len(size).unwrap();
    std::fs::write(dir.join("boot.cfg"), "set timeout=0\nmenuentry \"x\" {\n  multiboot /kernel\n  module /big\n}\n").unwrap();
    let start = Instant::now();
    let outcome = boot(name, &dir, 64, true);
    expect_error(&outcome, "E-MODULE-TOOBIG: /big: it does not fit in the ");
    // The refusal names the size the server announced: nothing was downloaded first.
    outcome.check(outcome.contains(&format!("file needs {size} bytes")), "refused from the tsize");
    outcome.check(!outcome.contains("tftp: /big done"), "no transfer of /big");
    outcome.check(start.elapsed() < Duration::from_secs(90), "refused quickly");
}

/// A tiny TFTP server on the host's loopback that serves `data` in 512-byte blocks (lock
/// step) but announces `tsize` in its OACK: a file that changed size under the server, made
/// deterministic. Returns its port and the thread, which ends on the client's last word.
fn lying_tftp_server(data: Vec<u8>, tsize: u64) -> (u16, JoinHandle<String>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let port = socket.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let deadline = Instant::now() + Duration::from_secs(150);
        let client = loop {
            if Instant::now() > deadline {
                return "no request".to_string();
            }
            if let Ok((n, from)) = socket.recv_from(&mut buf)
                && n > 2
                && buf[..2] == [0, 1]
            {
                break from;
            }
        };
        let oack = [&[0u8, 6][..], b"tsize\0", tsize.to_string().as_bytes(), b"\0"].concat();
        let blocks = data.len() / 512 + 1; // the last one short (maybe empty)
        let packet = |block: usize| -> Vec<u8> {
            if block == 0 {
                return oack.clone();
            }
            let chunk = &data[(block - 1) * 512..(block * 512).min(data.len())];
            [&[0u8, 3][..], &(block as u16).to_be_bytes(), chunk].concat()
        };
        let mut sent = 0; // last packet sent: 0 = OACK, n = DATA block n
        let mut retries = 0;
        socket.send_to(&packet(0), client).unwrap();
        while Instant::now() < deadline && retries < 10 {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) if from == client && n >= 4 && buf[..2] == [0, 4] => {
                    let acked = u16::from_be_bytes([buf[2], buf[3]]) as usize;
                    if acked == sent % 65536 {
                        if sent == blocks {
                            return format!("client acked all {blocks} blocks");
                        }
                        sent += 1;
                        retries = 0;
                        socket.send_to(&packet(sent), client).unwrap();
                    }
                }
                Ok((n, from)) if from == client && n >= 4 && buf[..2] == [0, 5] => {
                    return format!("client error after block {sent}: {}", String::from_utf8_lossy(&buf[4..n]));
                }
                Ok(_) => {}
                Err(_) => {
                    retries += 1;
                    socket.send_to(&packet(sent), client).unwrap();
                }
            }
        }
        format!("gave up at block {sent}")
    });
    (port, thread)
}

fn kernel_with_wrong_tsize(name: &str, announced: impl Fn(u64) -> u64) -> (Outcome, u64, u64, String) {
    let kernel = std::fs::read(kernels::path(Variant::Elf32)).unwrap();
    let real = kernel.len() as u64;
    let tsize = announced(real);
    let (port, server) = lying_tftp_server(kernel, tsize);
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    std::fs::write(dir.join("boot.cfg"), format!("set timeout=0\nmenuentry \"x\" {{\n  multiboot tftp://10.0.2.2:{port}/kernel\n}}\n")).unwrap();
    let outcome = boot(name, &dir, 128, false);
    let log = server.join().unwrap();
    (outcome, real, tsize, log)
}

/// The file shrank: fewer bytes than announced. The client gets the whole short file, then
/// refuses it (a half-loaded kernel must not run).
#[test]
fn file_shorter_than_its_tsize() {
    let (outcome, real, tsize, log) = kernel_with_wrong_tsize("hostile-tsize-short", |real| real + 5000);
    expect_error(&outcome, &format!("E-TFTP-SIZE: /kernel from 10.0.2.2: received {real} bytes but the server announced tsize {tsize}"));
    outcome.check(log.contains("acked all"), &format!("the server saw the whole transfer: {log}"));
}

/// The file grew: more bytes than announced. Refused at the first byte past the tsize, with
/// an ERROR to the server.
#[test]
fn file_longer_than_its_tsize() {
    let (outcome, _real, tsize, log) = kernel_with_wrong_tsize("hostile-tsize-long", |real| real - 3000);
    expect_error(&outcome, &format!("but the server announced tsize {tsize}"));
    outcome.check(outcome.contains("E-TFTP-SIZE: /kernel from 10.0.2.2: received "), "the code and the file");
    outcome.check(log.contains("client error"), &format!("the server got an ERROR: {log}"));
}

const BOOT_ENTRY: &str = "menuentry \"test kernel\" {\n  multiboot /kernel console=ttyS0 \"quoted arg\"\n  boot\n}\n";

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
    let outcome = boot(name, &dir, 128, true);
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
    let outcome = boot(name, &dir, 128, true);
    expect_error(&outcome, "E-CONFIG-SYNTAX: boot.cfg: line 9999, column 1: unknown command \"linux16\"");
}

/// A 100 KiB kernel command line: more than the loader's 8 KiB, refused with the line named.
#[test]
fn command_line_of_100_kib_is_refused() {
    let name = "hostile-cmdline";
    let dir = tftp_root(name, Variant::Elf32, &[], "unused.cfg");
    let argument = "x".repeat(100 * 1024);
    std::fs::write(dir.join("boot.cfg"), format!("set timeout=0\nmenuentry \"x\" {{\n  multiboot /kernel {argument}\n}}\n")).unwrap();
    let outcome = boot(name, &dir, 128, true);
    expect_error(&outcome, &format!("E-CONFIG-CMDLINE: the command line of /kernel (line 3) is {} bytes; at most 8192: shorten it in the config", argument.len()));
}
