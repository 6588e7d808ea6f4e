//! The bootable skeleton: every block-device form reaches the (32-bit) runtime on pc and q35 and
//! reports a memory map that matches the machine; the runtime goes back to real mode through
//! its thunk (runtime/src/arch/realmode.rs) and gets the same answers from the BIOS as stage 2
//! did; a CPU without long mode gets a clear message from the 64-bit runtime (`--runtime 64`).

use netloader::forms::{self, Form};
use netloader_tests::qemu::{Outcome, Qemu, work_dir};

/// Printed after the memory map, and after the runtime's calls through the real-mode thunk.
const READY: &str = "netloader: runtime ready (32-bit).";
const MEMORY_MIB: u64 = 96;

/// Each boot gets its own copy: QEMU locks the image files it has open.
fn image(form: Form, boot_name: &str) -> std::path::PathBuf {
    let path = work_dir().join(format!("{boot_name}.{}", form.name()));
    std::fs::write(&path, forms::build(form).unwrap()).unwrap();
    path
}

fn boot(name: &str, machine: &str, drive: &[String]) -> Outcome {
    let outcome = Qemu::new(name, machine, MEMORY_MIB as u32)
        .args(drive)
        .run(|serial| serial.contains(READY) || serial.contains("E-"));
    outcome.check(outcome.contains(READY), "the runtime did not reach Rust");
    outcome
}

/// Sum of the usable bytes the runtime listed above 1 MiB, parsed from lines like
/// `  0x0000100000-0x0005fdffff     97920 KiB usable`.
fn usable_above_1mib(serial: &str) -> u64 {
    serial
        .lines()
        .filter(|l| l.trim_end().ends_with(" usable"))
        .filter_map(|l| {
            let range = l.split_whitespace().next()?;
            let (start, end) = range.split_once('-')?;
            let start = u64::from_str_radix(start.trim_start_matches("0x"), 16).ok()?;
            let end = u64::from_str_radix(end.trim_start_matches("0x"), 16).ok()?;
            (start >= 0x10_0000).then(|| end + 1 - start)
        })
        .sum()
}

fn check_form_and_memory(outcome: &Outcome, form_text: &str) {
    outcome.check(
        outcome.contains(&format!("boot form: {form_text}")),
        &format!("boot form should be '{form_text}'"),
    );
    outcome.check(
        outcome.contains("memory map (E820,"),
        "the memory map should come from E820",
    );
    let usable = usable_above_1mib(&outcome.serial);
    let expected = (MEMORY_MIB - 1) << 20;
    outcome.check(
        usable <= expected && usable + (4 << 20) >= expected,
        &format!(
            "usable RAM above 1 MiB is {usable} bytes; -m {MEMORY_MIB} should give about {expected}"
        ),
    );
    check_thunk(outcome);
}

/// The runtime's calls into real mode and back (INT 12h as INT and as a far call with a word
/// on the stack, the E820 map) answered as stage 2's BIOS calls did.
fn check_thunk(outcome: &Outcome) {
    let stage2_kib = outcome
        .serial
        .lines()
        .find_map(|l| {
            l.split(" KiB conventional")
                .next()
                .filter(|_| l.contains(" KiB conventional"))
        })
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_string);
    outcome.check(stage2_kib.is_some(), "stage 2's conventional memory line");
    let kib = stage2_kib.unwrap();
    let line = outcome
        .serial
        .lines()
        .find(|l| l.starts_with("bios: through the real-mode thunk:"));
    outcome.check(
        line.is_some(),
        "the runtime's line about its real-mode calls",
    );
    let line = line.unwrap();
    outcome.check(
        line.contains(&format!(
            "INT 12h {kib} KiB (by far call {kib} KiB, stage 2 {kib}),"
        )),
        &format!("INT 12h through the thunk, both ways, should say {kib} KiB as in stage 2"),
    );
    let entries = outcome
        .serial
        .lines()
        .find_map(|l| l.strip_prefix("memory map (E820, "))
        .and_then(|rest| rest.split(' ').next())
        .map(str::to_string);
    outcome.check(
        entries.is_some_and(|n| line.contains(&format!(" E820 {n} entries (same as stage 2),"))),
        "the E820 map through the thunk should be stage 2's, entry for entry",
    );
}

fn floppy(machine: &str) {
    let name = format!("floppy-{machine}");
    let path = image(Form::Floppy, &name);
    let drive = [
        "-drive".to_string(),
        format!("file={},format=raw,if=floppy", path.display()),
    ];
    let outcome = boot(&name, machine, &drive);
    check_form_and_memory(&outcome, "floppy");
}

fn iso_as_cdrom(machine: &str) {
    let name = format!("iso-cdrom-{machine}");
    let path = image(Form::Iso, &name);
    let drive = ["-cdrom".to_string(), path.display().to_string()];
    let outcome = boot(&name, machine, &drive);
    check_form_and_memory(&outcome, "CD (El Torito, no emulation)");
}

fn iso_as_disk(machine: &str) {
    let name = format!("iso-disk-{machine}");
    let path = image(Form::Iso, &name);
    let drive = [
        "-drive".to_string(),
        format!("file={},format=raw", path.display()),
    ];
    let outcome = boot(&name, machine, &drive);
    check_form_and_memory(&outcome, "ISO image as a disk (hybrid)");
}

#[test]
fn floppy_pc() {
    floppy("pc");
}
#[test]
fn floppy_q35() {
    floppy("q35");
}
#[test]
fn iso_cdrom_pc() {
    iso_as_cdrom("pc");
}
#[test]
fn iso_cdrom_q35() {
    iso_as_cdrom("q35");
}
#[test]
fn iso_disk_pc() {
    iso_as_disk("pc");
}
#[test]
fn iso_disk_q35() {
    iso_as_disk("q35");
}

#[test]
fn cpu_without_long_mode_gets_a_clear_message() {
    let path = work_dir().join("no-long-mode.floppy");
    let options = forms::Options {
        runtime: forms::Runtime::Bits64,
        ..forms::Options::default()
    };
    std::fs::write(&path, forms::build_with(Form::Floppy, &options).unwrap()).unwrap();
    for cpu in ["qemu32", "pentium3"] {
        let outcome = Qemu::new(&format!("no-long-mode-{cpu}"), "pc", 64)
            .args([
                "-cpu",
                cpu,
                "-drive",
                &format!("file={},format=raw,if=floppy", path.display()),
            ])
            .run(|serial| serial.contains("system halted"));
        outcome.check(
            outcome.contains("E-CPU-NOLONGMODE: this CPU has no 64-bit long mode"),
            &format!("-cpu {cpu} should be refused with E-CPU-NOLONGMODE"),
        );
        outcome.check(
            !outcome.contains("runtime ready"),
            "the runtime must not start",
        );
    }
}

/// A medium stage 1 cannot read (here: the runtime's sector number points past the end of the
/// floppy) ends in E-DISK-READ on the screen and on COM1, after the retries, not in a hang.
#[test]
fn unreadable_medium_is_a_clear_error() {
    let path = image(Form::Floppy, "disk-read-error");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0x1b0..0x1b4].copy_from_slice(&5000u32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let outcome = Qemu::new("disk-read-error", "pc", 64)
        .args([
            "-drive",
            &format!("file={},format=raw,if=floppy", path.display()),
        ])
        .timeout(std::time::Duration::from_secs(30))
        .run(|serial| serial.contains("E-DISK-READ"));
    outcome.check(
        outcome.contains("netloader: E-DISK-READ"),
        "stage 1 reports the read error on COM1",
    );
}
