//! CPUs without long mode (issue 15): the 32-bit runtime (runtime/src/arch/x86, built for
//! i586) boots QEMU's `pentium`, `pentium2` and `pentium3` to the 32-bit test kernels (the
//! Multiboot 1 and 2 kernels built from the same sources for i586), byte-exact; a `pentium`
//! without a TSC keeps time with the PIT; a 486 gets E-CPU-OLD. For comparison, the 64-bit
//! runtime (`--runtime 64`) on a 64-bit CPU boots the same kernel with the same modules. One
//! boot checks many facts: the runtime, its clock, every module's hash and command line, the
//! kernel's own checks.
//!
//! And the check QEMU cannot make (its TCG does not always fault on SSE where the CPU model
//! has none): no instruction of any 32-bit runtime image needs more than a Pentium has.

use std::path::Path;

use iced_x86::{CpuidFeature, Decoder, DecoderOptions, Instruction};
use netloader::forms::{self, Form, Runtime};
use netloader::rom::{NicFamily, RomOptions};
use netloader_tests::kernels::Variant;
use netloader_tests::kernels2::{Mb2Variant, check_mb2_report};
use netloader_tests::qemu::{Outcome, Qemu, work_dir};
use netloader_tests::scenario::{self, KERNEL_ARGS, check_report, modules};

const READY_32: &str = "netloader: runtime ready (32-bit).";
const READY_64: &str = "netloader: runtime ready (64-bit).";

/// `form` with `runtime` written beside the TFTP root, as QEMU arguments.
fn drive(form: Form, runtime: Runtime, dir: &Path) -> [String; 2] {
    let options = forms::Options {
        runtime,
        ..forms::Options::default()
    };
    scenario::drive_args(form, &options, dir)
}

/// Boot `cpu` from `drive`, `nic` on QEMU's network serving `dir` (DHCP boot file
/// `boot.cfg`), until the test kernel ends QEMU or the loader stops.
fn boot(name: &str, cpu: &str, drive: [String; 2], nic: &str, dir: &Path) -> Outcome {
    let mut qemu = Qemu::new(name, "pc", 128);
    qemu.args(["-cpu", cpu]).args(drive);
    scenario::tftp_network(&mut qemu, nic, dir, "boot.cfg")
        // Stage 2's refusal ends in "system halted" (stage1/stage2.s, `fatal`): wait for the
        // whole message, not its first bytes.
        .run(|serial| serial.contains("netloader: stopped.") || serial.contains("system halted"))
}

/// The runtime that ran, and its clock.
fn check_runtime(outcome: &Outcome, ready: &str, clock: &str) {
    outcome.check(outcome.contains(ready), ready);
    outcome.check(outcome.contains(clock), clock);
}

/// Multiboot 1 with three modules on `cpu`; the report must match the host's files.
fn multiboot1(name: &str, cpu: &str, form: Form, runtime: Runtime, nic: &str) -> Outcome {
    let mods = modules(3);
    let dir = scenario::tftp_root(name, Variant::I586, &mods, "boot.cfg");
    let outcome = boot(name, cpu, drive(form, runtime, &dir), nic, &dir);
    check_report(&outcome, Variant::I586, &mods);
    outcome
}

#[test]
fn pentium_floppy_e1000_multiboot1() {
    let outcome = multiboot1(
        "old-pentium-floppy-e1000",
        "pentium",
        Form::Floppy,
        Runtime::Bits32,
        "e1000",
    );
    check_runtime(&outcome, READY_32, "timer: TSC at ");
    outcome.check(
        outcome.contains("boot form: floppy"),
        "started from the floppy",
    );
}

/// A Pentium-class CPU without a TSC (CPUID leaf 1 says so): the clock is PIT channel 2,
/// and every wait (DHCP, TFTP) still ends.
#[test]
fn pentium_without_tsc_usb_virtio_keeps_time_with_the_pit() {
    let outcome = multiboot1(
        "old-pentium-notsc-usb-virtio",
        "pentium,-tsc",
        Form::Usb,
        Runtime::Bits32,
        "virtio-net-pci",
    );
    check_runtime(
        &outcome,
        READY_32,
        "timer: PIT at 1.19 MHz (this CPU has no TSC)",
    );
}

/// For comparison: the 64-bit runtime on a 64-bit CPU, the same 32-bit kernel and modules.
#[test]
fn sixty_four_bit_runtime_on_a_64_bit_cpu_boots_the_same_kernel() {
    let outcome = multiboot1(
        "old-qemu64-runtime64-floppy-e1000",
        "qemu64",
        Form::Floppy,
        Runtime::Bits64,
        "e1000",
    );
    check_runtime(&outcome, READY_64, "timer: TSC at ");
}

#[test]
fn pentium2_iso_rtl8139_multiboot2() {
    let name = "old-pentium2-iso-rtl8139-mb2";
    let mods = modules(4);
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(Mb2Variant::I586.path(), dir.join("kernel")).unwrap();
    let mut config = format!(
        "set timeout=0\nmenuentry \"mb2 i586\" {{\n  multiboot2 /kernel {KERNEL_ARGS} mbtest.expect-modules={}\n",
        mods.len()
    );
    for m in &mods {
        std::fs::write(dir.join(&m.name), &m.data).unwrap();
        config += &format!("  module2 /{} {}\n", m.name, m.args);
    }
    config += "}\n";
    std::fs::write(dir.join("boot.cfg"), config).unwrap();
    let outcome = boot(
        name,
        "pentium2",
        drive(Form::Iso, Runtime::Bits32, &dir),
        "rtl8139",
        &dir,
    );
    check_runtime(&outcome, READY_32, "timer: TSC at ");
    let report = check_mb2_report(&outcome, Mb2Variant::I586, &mods);
    outcome.check(report.load == Some((0x200000, 0)), "loaded where linked");
    outcome.check(
        report.elf.is_some_and(|(_, entsize, _)| entsize == 40),
        "ELF32 section headers",
    );
}

/// The option ROM's first stage (32-bit too) gets the lease, starts netloader.pxe, which
/// boots the kernel: both hand-offs of the 32-bit platform, from a card's ROM.
#[test]
fn pentium3_option_rom_e1000_chains_netloader_pxe() {
    let name = "old-pentium3-rom-e1000";
    let mods = modules(2);
    let dir = scenario::tftp_root(name, Variant::I586, &mods, "netloader.cfg/default");
    std::fs::write(dir.join("netloader.pxe"), forms::build(Form::Pxe).unwrap()).unwrap();
    let rom = forms::rom(
        &forms::Options::default(),
        &RomOptions {
            nic: NicFamily::named("e1000").unwrap(),
            ..RomOptions::default()
        },
    )
    .unwrap();
    let rom_path = dir.join("netloader.rom");
    std::fs::write(&rom_path, rom).unwrap();
    let outcome = Qemu::new(name, "pc", 128)
        .args(["-cpu", "pentium3"])
        .args([
            "-netdev".into(),
            format!("user,id=n0,restrict=on,tftp={}", dir.display()),
        ])
        .args([
            "-device".into(),
            format!("e1000,netdev=n0,romfile={},bootindex=1", rom_path.display()),
        ])
        // Stage 2's refusal ends in "system halted" (stage1/stage2.s, `fatal`): wait for the
        // whole message, not its first bytes.
        .run(|serial| serial.contains("netloader: stopped.") || serial.contains("system halted"));
    outcome.check(
        outcome.serial.matches(READY_32).count() == 2,
        "the ROM's first stage and netloader.pxe, both 32-bit",
    );
    outcome.check(
        outcome.contains("chain: starting netloader.pxe at 0x7c00"),
        "the first stage started netloader.pxe",
    );
    outcome.check(
        outcome.contains("config: found netloader.cfg/default"),
        "netloader.pxe found its config per host",
    );
    check_report(&outcome, Variant::I586, &mods);
}

/// A 486 has no CMPXCHG8B (QEMU's has CPUID): stage 2 stops with E-CPU-OLD before any Rust
/// runs. (The 64-bit runtime's E-CPU-NOLONGMODE on 32-bit CPUs: tests/skeleton.rs.)
#[test]
fn a_486_gets_a_clear_message() {
    let name = "old-cpu-486";
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let drive = drive(Form::Floppy, Runtime::Bits32, &dir);
    let outcome = boot(name, "486", drive, "e1000", &dir);
    let message = "E-CPU-OLD: this CPU lacks the Pentium baseline (CPUID, an FPU, CMPXCHG8B).";
    outcome.check(outcome.contains(message), message);
    outcome.check(!outcome.contains("runtime ready"), "no runtime ran");
}

/// Whether `instruction` needs more than a Pentium has: the 386/486 instruction sets, the x87
/// FPU, CPUID, RDTSC, RDMSR/WRMSR and CMPXCHG8B. SSE and SSE2 above all, but MMX and CMOV too
/// (QEMU's `pentium` has no CMOV, and TCG does fault on that one). PAUSE (`core::hint::
/// spin_loop`) is allowed: it is `rep nop`, a NOP on every CPU before the Pentium 4 (Intel SDM).
fn beyond_a_pentium(instruction: &Instruction) -> bool {
    use CpuidFeature as F;
    const PENTIUM: [CpuidFeature; 14] = [
        F::INTEL8086,
        F::INTEL8086_ONLY,
        F::INTEL186,
        F::INTEL286,
        F::INTEL386,
        F::INTEL486,
        F::FPU,
        F::FPU287,
        F::FPU387,
        F::CPUID,
        F::TSC,
        F::MSR,
        F::CX8,
        F::PAUSE,
    ];
    instruction
        .cpuid_features()
        .iter()
        .any(|f| !PENTIUM.contains(f))
}

/// Every instruction in the 32-bit code of every 32-bit runtime image (the whole loader, the
/// option ROM's first stages and standalone loaders) is one a Pentium has.
#[test]
fn thirty_two_bit_runtimes_use_no_instruction_a_pentium_lacks() {
    // The check itself: SSE (MOVAPS), SSE2 (PADDD), CMOV and MMX are caught, a Pentium's own
    // instructions are not.
    let decode = |bytes: &[u8]| Decoder::with_ip(32, bytes, 0, DecoderOptions::NONE).decode();
    for beyond in [
        &[0x0f, 0x28, 0x00][..],
        &[0x66, 0x0f, 0xfe, 0xc1],
        &[0x0f, 0x44, 0xc1],
        &[0x0f, 0x6f, 0xc1],
    ] {
        assert!(beyond_a_pentium(&decode(beyond)), "{beyond:x?}");
    }
    for pentium in [
        &[0xf3, 0xa4][..],
        &[0x0f, 0xc7, 0x0e],
        &[0x0f, 0x31],
        &[0xdb, 0xe3],
    ] {
        assert!(!beyond_a_pentium(&decode(pentium)), "{pentium:x?}");
    }

    let mut checked = 0;
    for netloader::stage1::X86Code {
        name,
        image,
        ranges,
    } in netloader::stage1::x86_code()
    {
        let mut refused = Vec::new();
        for &(start, end) in ranges {
            let base = netloader::stage1::LOAD_ADDRESS + start as u64;
            let mut decoder = Decoder::with_ip(32, &image[start..end], base, DecoderOptions::NONE);
            let mut instruction = Instruction::default();
            while decoder.can_decode() {
                decoder.decode_out(&mut instruction);
                checked += 1;
                if beyond_a_pentium(&instruction) {
                    refused.push(format!(
                        "{:#x}: {:?} ({:?})",
                        instruction.ip(),
                        instruction.code(),
                        instruction.cpuid_features()
                    ));
                }
            }
        }
        assert!(
            refused.is_empty(),
            "{name}: {} instructions a Pentium lacks, the first: {:#?}",
            refused.len(),
            &refused[..refused.len().min(8)]
        );
    }
    // It looked at real code: seven images of tens of thousands of instructions each.
    assert!(checked > 200_000, "only {checked} instructions decoded");
}
