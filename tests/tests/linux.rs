//! Linux through netloader: our bzImage test kernel (tests/linux-kernel) fetched with its
//! command line and initrd files, entered at its 32-bit entry; it checks the machine state and
//! the zero page on its side and reports (`LX ...`), and every boot here compares that report
//! with what the host put on the server: the command line, the initrd byte for byte (files
//! padded to 4 bytes), where things went, the E820 table netloader printed. Then the files
//! `linux` must refuse, each with its one-line error.

use std::path::{Path, PathBuf};

use netloader::forms::{self, Form};
use netloader_tests::kernels::sha256_hex;
use netloader_tests::linux::{
    EXPECT_INITRD, LinuxReport, parse_report, test_kernel_i586_path, test_kernel_path,
};
use netloader_tests::qemu::{EXIT_PASS, Outcome, Qemu, work_dir};
use netloader_tests::scenario::{self, random_bytes};

const MIB: u64 = 1 << 20;

/// A fresh TFTP root with the test kernel as `/lxtest`, `files` and `boot.cfg` = `config`.
fn tftp_root(name: &str, files: &[(&str, &[u8])], config: &str) -> PathBuf {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(test_kernel_path(), dir.join("lxtest")).unwrap();
    for (file, data) in files {
        std::fs::write(dir.join(file), data).unwrap();
    }
    std::fs::write(dir.join("boot.cfg"), config).unwrap();
    dir
}

fn drive(form: Form, dir: &Path) -> [String; 2] {
    scenario::drive_args(form, &forms::Options::default(), dir)
}

/// Boots `form` with `memory_mib` over `nic`, the DHCP boot file `boot.cfg`; the test kernel
/// ends QEMU itself (isa-debug-exit), a refusal ends on netloader's stop line.
fn boot(name: &str, form: Form, nic: &str, memory_mib: u32, dir: &Path) -> Outcome {
    boot_on(name, "qemu64", form, nic, memory_mib, dir)
}

/// As `boot`, on QEMU's CPU model `cpu`.
fn boot_on(name: &str, cpu: &str, form: Form, nic: &str, memory_mib: u32, dir: &Path) -> Outcome {
    let mut qemu = Qemu::new(name, "pc", memory_mib);
    qemu.args(["-cpu", cpu]).args(drive(form, dir));
    scenario::tftp_network(&mut qemu, nic, dir, "boot.cfg")
        .run(|serial| serial.contains("netloader: stopped."))
}

/// The initrd the kernel must find: the files one after the other, each starting at a
/// multiple of 4 bytes, zeros between (GRUB's `initrd a b`).
fn concatenated(files: &[&[u8]]) -> Vec<u8> {
    let mut all = Vec::new();
    for file in files {
        all.resize(all.len().next_multiple_of(4), 0);
        all.extend_from_slice(file);
    }
    all
}

/// The memory map netloader printed (`  0x...-0x...  N KiB usable`): (base, length, usable).
fn printed_memory_map(serial: &str) -> Vec<(u64, u64, bool)> {
    serial
        .lines()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r').strip_prefix("  0x")?;
            let (start, rest) = line.split_once("-0x")?;
            let (end, rest) = rest.split_once(' ')?;
            let start = u64::from_str_radix(start, 16).ok()?;
            let end = u64::from_str_radix(end, 16).ok()?;
            Some((start, end + 1 - start, rest.trim_end().ends_with("usable")))
        })
        .collect()
}

/// What every good boot of the test kernel shows: the verdict, all of its own checks (entry
/// state and registers, its image intact, the setup header copied exactly, type_of_loader, the
/// command line within cmdline_size, E820, the kernel in RAM, the initrd aligned, below
/// initrd_addr_max and above load + init_size, nothing overlapping, screen_info), and what the
/// host knows: the command line, the initrd's bytes, the E820 table, the entry registers.
fn check_boot(outcome: &Outcome, cmdline: &str, initrd: &[u8], text_screen: bool) -> LinuxReport {
    let report = parse_report(&outcome.serial);
    outcome.check(report.is_some(), "the Linux test kernel printed no report");
    let report = report.unwrap();
    outcome.check_no_failed_checks(&report.failed_checks());
    outcome.check(report.faults.is_empty(), "no fault in the kernel");
    outcome.check(report.verdict_pass, "verdict pass");
    outcome.check(outcome.exit_code == Some(EXIT_PASS), "exit status 33");
    outcome.check(
        report.cmdline.as_deref() == Some(cmdline),
        &format!("the command line {cmdline:?}"),
    );
    let got = report.initrd.as_ref();
    outcome.check(
        got.is_some_and(|i| i.size == initrd.len() as u64 && i.sha256 == sha256_hex(initrd)),
        "the initrd: the files concatenated, each at a 4-byte boundary",
    );
    outcome.check(report.type_of_loader == 0xFF, "type_of_loader 0xFF (no ID)");
    // The 32-bit entry: ESI = the zero page, which lies below 640 KiB with the command line
    // right after it; paging off left no PAE or PGE behind.
    outcome.check(
        report.entry("esi") == Some(report.zero_page)
            && report.zero_page < 0xA_0000
            && report.cmdline_addr == Some(report.zero_page + 0x1000),
        "ESI = the zero page, below 640 KiB, the command line after it",
    );
    outcome.check(
        report.entry("cr4").is_some_and(|cr4| cr4 & 0xA0 == 0),
        "CR4.PAE and CR4.PGE clear",
    );
    outcome.check(
        (0xE_0000..0x10_0000).contains(&report.acpi_rsdp),
        "acpi_rsdp: the RSDP in the BIOS area",
    );
    // The E820 table is the map netloader printed (QEMU's has no neighbours of one type).
    let printed = printed_memory_map(&outcome.serial);
    let given: Vec<(u64, u64, bool)> = report
        .e820
        .iter()
        .map(|e| (e.base, e.len, e.kind == 1))
        .collect();
    outcome.check(
        !printed.is_empty() && given == printed,
        "the E820 table is the BIOS map netloader printed",
    );
    if text_screen {
        outcome.check(
            report.screen("isvga") == Some(1)
                && report.screen("mode") == Some(3)
                && report.screen("cols") == Some(80)
                && report.screen("lines") == Some(25)
                && report.screen("y") == Some(24),
            "screen_info: VGA text 80x25, the cursor on the last line",
        );
    }
    report
}

/// The highest RAM address below 4 GiB in the report's E820 table.
fn ram_top(report: &LinuxReport) -> u64 {
    report
        .e820
        .iter()
        .filter(|e| e.kind == 1 && e.base + e.len <= 1 << 32)
        .map(|e| e.base + e.len)
        .max()
        .unwrap_or(0)
}

/// A CPU without long mode (QEMU's Pentium III) and the test kernel built for i586 (32-bit, with
/// 32-bit paging): the same boot protocol, the same checks, from a floppy over rtl8139.
#[test]
fn lxtest_i586_on_a_pentium_iii_from_floppy_over_rtl8139() {
    let initrd = random_bytes(5003, 43);
    let config = format!(
        "set timeout=0\nmenuentry \"linux\" {{\n  linux /lxtest console=ttyS0 {EXPECT_INITRD}\n  initrd /initrd.img\n}}\n"
    );
    let name = "linux-i586-pentium3-floppy-rtl8139";
    let dir = tftp_root(name, &[("initrd.img", &initrd)], &config);
    std::fs::copy(test_kernel_i586_path(), dir.join("lxtest")).unwrap();
    let outcome = boot_on(name, "pentium3", Form::Floppy, "rtl8139", 128, &dir);
    outcome.check(
        outcome.contains("netloader: runtime ready (32-bit)."),
        "the 32-bit runtime",
    );
    let report = check_boot(
        &outcome,
        &format!("BOOT_IMAGE=/lxtest console=ttyS0 {EXPECT_INITRD}"),
        &initrd,
        true,
    );
    outcome.check(
        report.load_address == 16 * MIB,
        "the kernel at its pref_address (16 MiB)",
    );
}

/// Two initrd files of odd sizes on one line, a quoted argument, 128 MiB: the kernel at its
/// pref_address, the initrd as high as memory allows.
#[test]
fn lxtest_with_two_initrd_files_from_iso_over_e1000() {
    let one = random_bytes(1001, 41);
    let two = random_bytes(70_003, 42);
    let config = format!(
        "set timeout=0\nmenuentry \"linux\" {{\n  linux /lxtest console=ttyS0 {EXPECT_INITRD} \"quoted arg\" x=1\n  initrd /one.img /two.img\n}}\n"
    );
    let name = "linux-iso-e1000";
    let dir = tftp_root(name, &[("one.img", &one), ("two.img", &two)], &config);
    let outcome = boot(name, Form::Iso, "e1000", 128, &dir);
    let kernel = std::fs::read(test_kernel_path()).unwrap();
    outcome.check(
        outcome.downloaded("/lxtest", &kernel)
            && outcome.downloaded("/one.img", &one)
            && outcome.downloaded("/two.img", &two),
        "every file reported as fetched (size, CRC-32)",
    );
    let report = check_boot(
        &outcome,
        &format!("BOOT_IMAGE=/lxtest console=ttyS0 {EXPECT_INITRD} quoted arg x=1"),
        &concatenated(&[&one, &two]),
        true,
    );
    outcome.check(
        report.load_address == 16 * MIB && report.kernel_alignment == 2 * MIB,
        "the kernel at its pref_address (16 MiB), kernel_alignment 2 MiB",
    );
    // As high as it goes: above it are only netloader's own areas while it loads (the network
    // buffers, 4 MiB + 64 KiB on this machine; the config area, 1 MiB; the stack, 256 KiB),
    // free again once the kernel runs. (Collected first right above the kernel, at 16 MiB.)
    let initrd = report.initrd.clone().unwrap();
    let top = ram_top(&report);
    outcome.check(
        initrd.addr + initrd.size <= top && top - (initrd.addr + initrd.size) < 6 * MIB,
        "the initrd at the top of memory, below netloader's own areas",
    );
}

/// A small machine (24 MiB: the kernel lands inside the download area its file came to), one
/// initrd file, and `mem=` on the command line: the initrd stays below it, as high as it goes.
/// `set gfxpayload=800x600x32`: screen_info describes the VBE linear mode netloader set.
#[test]
fn lxtest_with_mem_limit_and_a_vbe_mode_on_a_small_machine_from_floppy_over_rtl8139() {
    let one = random_bytes(5 * 4096 + 3, 43);
    let config = format!(
        "set timeout=0\nset gfxpayload=800x600x32\nmenuentry \"linux\" {{\n  linux /lxtest console=ttyS0 {EXPECT_INITRD} mem=20M\n  initrd /one.img\n}}\n"
    );
    let name = "linux-floppy-rtl8139";
    let dir = tftp_root(name, &[("one.img", &one)], &config);
    let outcome = boot(name, Form::Floppy, "rtl8139", 24, &dir);
    let report = check_boot(
        &outcome,
        &format!("BOOT_IMAGE=/lxtest console=ttyS0 {EXPECT_INITRD} mem=20M"),
        &one,
        false,
    );
    // QEMU's standard VGA: 800x600 in 32 bits is x8r8g8b8; the base is where netloader said.
    let base = report.lfb("base").unwrap_or(0);
    outcome.check(
        report.screen("isvga") == Some(0x23)
            && report.lfb("width") == Some(800)
            && report.lfb("height") == Some(600)
            && report.lfb("depth") == Some(32)
            && report.lfb("pitch") == Some(3200)
            && report.lfb("size") == Some((3200u64 * 600).div_ceil(0x10000))
            && report.lfb_colours == "red=8/16 green=8/8 blue=8/0 rsvd=8/24"
            && outcome.contains(&format!("800x600x32 at {base:#x}")),
        "screen_info: the VESA linear framebuffer netloader set (VIDEO_TYPE_VLFB)",
    );
    let initrd = report.initrd.clone().unwrap();
    outcome.check(
        report.load_address == 16 * MIB,
        "the kernel at its pref_address",
    );
    outcome.check(
        initrd.addr + initrd.size.next_multiple_of(4096) == 20 * MIB,
        "the initrd ends at mem= (20 MiB), the highest it may",
    );
}

/// Files `linux` refuses, each with its code: a bzImage of boot protocol 2.04 (before 2.06),
/// and a file that is no bzImage at all. The kernel never starts.
#[test]
fn linux_refuses_old_and_foreign_kernels() {
    let mut old = std::fs::read(test_kernel_path()).unwrap();
    old[0x206..0x208].copy_from_slice(&0x0204u16.to_le_bytes());
    let foreign = random_bytes(8192, 44);
    let cases: [(&str, &[u8], &str); 2] = [
        (
            "old",
            &old,
            "E-KERNEL-LINUX-OLD: /old: Linux boot protocol 2.04 is older than 2.06: netloader boots Linux 2.6.22 and newer (boot protocol 2.06) through the 32-bit entry",
        ),
        (
            "foreign",
            &foreign,
            "E-KERNEL-LINUX-FORMAT: /foreign: not a Linux kernel: no boot sector signature 0xAA55 at 0x1FE: `linux` boots bzImage files (vmlinuz); use `multiboot` or `multiboot2` for other kernels",
        ),
    ];
    for (file, data, expected) in cases {
        let config =
            format!("set timeout=0\nmenuentry \"linux\" {{\n  linux /{file} console=ttyS0\n}}\n");
        let name = format!("linux-refuses-{file}");
        let dir = tftp_root(&name, &[(file, data)], &config);
        let outcome = boot(&name, Form::Iso, "rtl8139", 128, &dir);
        outcome.check(
            outcome.contains(expected),
            &format!("expected `{expected}`"),
        );
        outcome.check(outcome.contains("netloader: stopped."), "the loader stops");
        outcome.check(!outcome.contains("LX BEGIN"), "the kernel must not start");
    }
}
