//! The test kernel checked without netloader: QEMU's own Multiboot loader boots the variants
//! it can load (ELF32, and anything with the address fields), and the report must match the
//! host's view of the modules and command lines. QEMU keeps its MBI strings above 1 MiB, so
//! the 1 MiB variants boot with `mbtest.allow-high-mbi`; the low kernel needs no waiver.

use std::path::PathBuf;

use netloader_tests::kernels::{self, EXIT_FAIL, EXIT_PASS, Report, Variant};
use netloader_tests::qemu::{Outcome, Qemu, work_dir};

/// A module file with pseudo-random bytes of `size` (distinct per name).
fn module(name: &str, size: usize) -> PathBuf {
    let path = work_dir().join(format!("kernel-selftest-{name}.bin"));
    let seed = name
        .bytes()
        .fold(0x9e37_79b9u32, |h, b| h.rotate_left(5) ^ b as u32);
    let bytes: Vec<u8> = (0..size as u32)
        .map(|i| (seed.wrapping_mul(i + 1) >> 11) as u8)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

struct Boot {
    outcome: Outcome,
    report: Report,
}

/// Boot `variant` with QEMU's -kernel; `modules` are (file, arguments after the file name).
fn boot(name: &str, variant: Variant, append: &str, modules: &[(PathBuf, &str)]) -> Boot {
    let initrd: Vec<String> = modules
        .iter()
        .map(|(path, args)| {
            format!("{} {args}", path.display())
                .trim_end()
                .replace(',', ",,")
        })
        .collect();
    let mut qemu = Qemu::new(name, "pc", 128);
    qemu.arg("-kernel")
        .arg(variant.path())
        .args(["-append", append]);
    if !initrd.is_empty() {
        qemu.args(["-initrd", &initrd.join(",")]);
    }
    // No early stop: the kernel must leave QEMU by itself, through isa-debug-exit.
    let outcome = qemu.run(|_| false);
    let report = kernels::parse_report(&outcome.serial);
    outcome.check(report.is_some(), "no complete test-kernel report");
    Boot {
        report: report.unwrap(),
        outcome,
    }
}

impl Boot {
    fn check_exit(&self, expected: i32) {
        let code = self.outcome.exit_code;
        self.outcome.check(
            code == Some(expected),
            &format!("exit status {code:?}, expected {expected}"),
        );
    }

    fn check_pass(&self, variant: Variant, modules: &[(PathBuf, &str)], cmdline_tail: &str) {
        let (outcome, report) = (&self.outcome, &self.report);
        outcome.check(
            report.verdict_pass,
            &format!("verdict fail: {:?}", report.failed_checks()),
        );
        self.check_exit(EXIT_PASS);
        outcome.check(report.variant == variant.name(), "variant name");
        outcome.check(report.magic_ok && report.state_ok, "magic and entry state");
        outcome.check(report.loader.as_deref() == Some("qemu"), "loader name");
        outcome.check(
            report
                .cmdline
                .as_deref()
                .is_some_and(|c| c.ends_with(cmdline_tail)),
            "kernel command line",
        );
        let layout = variant.layout();
        let image = report.image.as_ref().expect("MB IMAGE");
        outcome.check(
            (image.start, image.bss_end) == (layout.load_start, layout.bss_end),
            "kernel extent",
        );
        outcome.check(
            report.module_count == Some(modules.len() as u64),
            "module count",
        );
        outcome.check(report.modules.len() == modules.len(), "module lines");
        for ((path, args), reported) in modules.iter().zip(&report.modules) {
            let bytes = std::fs::read(path).unwrap();
            let expected_cmdline = format!("{} {args}", path.display());
            outcome.check(
                reported.size == bytes.len() as u64,
                &format!("size of module {}", reported.index),
            );
            outcome.check(
                reported.sha256 == kernels::sha256_hex(&bytes),
                &format!("hash of module {}", reported.index),
            );
            outcome.check(
                reported.cmdline == expected_cmdline.trim_end(),
                &format!("cmdline of module {}", reported.index),
            );
        }
    }
}

fn two_modules() -> Vec<(PathBuf, &'static str)> {
    vec![
        (module("big", 300_001), "first arg a"),
        (module("small", 56), ""),
    ]
}

#[test]
fn qemu_boots_the_elf32_variant() {
    let modules = two_modules();
    let append = format!("{} hello=world", kernels::ALLOW_HIGH_MBI);
    let boot = boot("kernel-selftest-elf32", Variant::Elf32, &append, &modules);
    boot.check_pass(Variant::Elf32, &modules, &append);
}

#[test]
fn qemu_boots_the_aout_variant() {
    let modules = vec![
        (module("one", 4096), "only, comma"),
        (module("empty", 0), "zero length"),
    ];
    let append = format!("{} {}", kernels::ALLOW_HIGH_MBI, kernels::expect_modules(2));
    let boot = boot("kernel-selftest-aout", Variant::Aout, &append, &modules);
    boot.check_pass(Variant::Aout, &modules, &append);
}

#[test]
fn qemu_boots_the_elf64_kludge_variant() {
    let modules = two_modules();
    let boot = boot(
        "kernel-selftest-elf64kludge",
        Variant::Elf64Kludge,
        kernels::ALLOW_HIGH_MBI,
        &modules,
    );
    boot.check_pass(Variant::Elf64Kludge, &modules, kernels::ALLOW_HIGH_MBI);
}

/// QEMU always builds its MBI at 0x9000..0xa000, i.e. inside the low kernel (0x8000..0x90000),
/// and loads the kernel over it: the kernel must run, find its own image intact, and fail
/// cleanly on the garbage it gets as MBI (a robustness check of the kernel, and the reason the
/// low variant can only be validated by a loader that relocates, like netloader).
#[test]
fn the_low_variant_runs_and_rejects_the_mbi_qemu_overwrote() {
    let modules = vec![(module("low", 5000), "low module")];
    let boot = boot("kernel-selftest-low", Variant::Low, "low", &modules);
    let report = &boot.report;
    boot.outcome.check(
        report.variant == "low" && report.magic_ok && report.state_ok,
        "variant, magic, state",
    );
    for check in ["segments_flat", "bss_zeroed", "image_intact"] {
        boot.outcome
            .check(report.check(check).is_some_and(|c| c.ok), check);
    }
    let image = report.image.as_ref().expect("MB IMAGE");
    boot.outcome.check(
        (image.start, image.bss_end) == (0x8000, 0x90000),
        "low kernel extent",
    );
    boot.outcome.check(
        report
            .mbi_addr
            .is_some_and(|mbi| (0x8000..0x90000).contains(&mbi)),
        "QEMU's MBI inside the kernel",
    );
    boot.outcome
        .check(!report.verdict_pass, "verdict must be fail");
    boot.check_exit(EXIT_FAIL);
}

/// The kernel can fail: a module count it was told not to expect.
#[test]
fn the_kernel_fails_on_an_unexpected_module_count() {
    let modules = two_modules();
    let append = format!("{} {}", kernels::ALLOW_HIGH_MBI, kernels::expect_modules(3));
    let boot = boot(
        "kernel-selftest-fail-count",
        Variant::Elf32,
        &append,
        &modules,
    );
    boot.outcome
        .check(!boot.report.verdict_pass, "verdict must be fail");
    boot.check_exit(EXIT_FAIL);
    let failed: Vec<&str> = boot
        .report
        .failed_checks()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    boot.outcome.check(
        failed == ["expect_modules"],
        &format!("only expect_modules fails, not {failed:?}"),
    );
}

/// Without the waiver, QEMU's high MBI strings break netloader's promise: the check fails.
#[test]
fn the_kernel_fails_on_a_high_mbi() {
    let boot = boot("kernel-selftest-fail-high-mbi", Variant::Aout, "", &[]);
    boot.outcome
        .check(!boot.report.verdict_pass, "verdict must be fail");
    boot.check_exit(EXIT_FAIL);
    let failed: Vec<&str> = boot
        .report
        .failed_checks()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    boot.outcome.check(
        failed == ["mbi_below_640k"],
        &format!("only mbi_below_640k fails, not {failed:?}"),
    );
}

/// QEMU refuses a 64-bit ELF without the address fields: the file really is ELF64.
#[test]
fn qemu_refuses_the_pure_elf64_variant() {
    let outcome = Qemu::new("kernel-selftest-elf64", "pc", 128)
        .arg("-kernel")
        .arg(Variant::Elf64.path())
        .run(|_| false);
    outcome.check(
        kernels::parse_report(&outcome.serial).is_none(),
        "QEMU must not start an ELF64 kernel",
    );
    outcome.check(outcome.exit_code == Some(1), "QEMU exits with an error");
}

/// On a CPU without long mode the kernel says so and fails, from its 32-bit code.
#[test]
fn the_kernel_fails_cleanly_without_long_mode() {
    let outcome = Qemu::new("kernel-selftest-no-long-mode", "pc", 128)
        .args(["-cpu", "qemu32", "-kernel"])
        .arg(Variant::Aout.path())
        .run(|_| false);
    let report = kernels::parse_report(&outcome.serial);
    outcome.check(
        report
            .as_ref()
            .is_some_and(|r| r.variant == "aout" && !r.verdict_pass),
        "a failing report",
    );
    outcome.check(
        report.is_some_and(|r| r.faults.iter().any(|f| f.contains("no long mode"))),
        "the reason",
    );
    outcome.check(outcome.exit_code == Some(EXIT_FAIL), "exit status 35");
}
