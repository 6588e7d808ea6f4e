//! Linux kernels under QEMU's own loader (`-kernel -initrd -append`): a probe, not a test
//! (nothing here runs in the suite; tests/tests/linux.rs and real_kernels.rs boot the same
//! kernels through netloader). It shows that the test kernel's checks can fail (damaged
//! copies), and prints what the kernels cost under QEMU's loader.
//!
//! Run: `cargo run --release -p netloader-tests --bin linux_probe [-- --real] [--xen] [--runs N]`
//!
//! - Always: our test kernel (tests/linux-kernel) with a 1 MiB initrd and a command line; its
//!   report must pass and agree with the host (command line, initrd SHA-256, load address).
//! - `--real`: Debian's kernel (`linux-image-amd64`'s package of the day) with an initramfs of
//!   Debian's static busybox whose /init prints a marker and the command line and powers off:
//!   the download sizes, proto's view of the bzImage header, the time to the marker.
//! - `--xen`: Debian's Xen (`xen-4.17-amd64.gz`): inflated through proto's decompressing sink
//!   (checked against gzip(1)), and where its Multiboot 1 and 2 headers are.
//!
//! Packages are fetched with `apt-get download` into target/tools (never installed).

use std::ffi::OsString;
use std::process::Command;
use std::time::Duration;

use netloader_proto::decompress::{DecompressSink, Scratch};
use netloader_proto::linux::BzImage;
use netloader_proto::linux::placement::KernelPlan;
use netloader_tests::kernels::sha256_hex;
use netloader_tests::linux::{self, INIT_MARKER};
use netloader_tests::qemu::work_dir;
use netloader_tests::timed_serial;

const MEMORY_MIB: u32 = 256;
const TIMEOUT: Duration = Duration::from_secs(300);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1usize);
    let mut ok = probe_test_kernel(runs);
    ok &= probe_test_kernel_catches_faults();
    if args.iter().any(|a| a == "--real") {
        ok &= probe_debian_kernel(runs);
    }
    if args.iter().any(|a| a == "--xen") {
        ok &= probe_xen();
    }
    if !ok {
        std::process::exit(1);
    }
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn probe_test_kernel(runs: usize) -> bool {
    let dir = work_dir();
    let initrd: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let initrd_path = dir.join("linux-probe-initrd.bin");
    std::fs::write(&initrd_path, &initrd).unwrap();
    let cmdline = format!("console=ttyS0 {} probe=\"a b\"", linux::EXPECT_INITRD);
    let mut ok = true;
    for run in 0..runs {
        let extra: Vec<OsString> = vec![
            "-kernel".into(),
            linux::test_kernel_path().into(),
            "-initrd".into(),
            initrd_path.clone().into(),
            "-append".into(),
            cmdline.clone().into(),
        ];
        let timed = timed_serial::run(
            "linux-probe-lxtest",
            128,
            &extra,
            "LX VERDICT",
            Duration::from_secs(60),
            &dir,
        );
        let serial: String = timed.lines.iter().map(|l| l.text.clone() + "\n").collect();
        let Some(report) = linux::parse_report(&serial) else {
            println!("lxtest: no complete report (log: {})", timed.log.display());
            return false;
        };
        let agrees = report.verdict_pass
            && report.cmdline.as_deref() == Some(cmdline.as_str())
            && report.initrd.as_ref().map(|i| i.sha256.as_str()) == Some(&sha256_hex(&initrd))
            && report.load_address == 0x10_0000;
        ok &= agrees;
        println!(
            "lxtest run {run}: verdict {}, host agrees: {agrees}; QEMU start -> LX BEGIN {}, -> verdict {}; zero page {:#x}, type_of_loader {:#x}, initrd at {:#x}, {} E820 entries",
            if report.verdict_pass { "pass" } else { "fail" },
            seconds(timed.first("LX BEGIN")),
            seconds(timed.marker_at),
            report.zero_page,
            report.type_of_loader,
            report.initrd.as_ref().map_or(0, |i| i.addr),
            report.e820.len()
        );
        for check in report.failed_checks() {
            println!("  failed: {} {}", check.name, check.detail);
        }
    }
    ok
}

/// The test kernel's checks can fail: copies of it damaged on the host, booted the same way,
/// must fail exactly the checks the damage breaks.
fn probe_test_kernel_catches_faults() -> bool {
    let dir = work_dir();
    let original = std::fs::read(linux::test_kernel_path()).unwrap();
    let initrd_path = dir.join("linux-probe-small-initrd.bin");
    std::fs::write(&initrd_path, vec![0x5A; 40_000]).unwrap();
    let protected_start = (usize::from(original[0x1F1]) + 1) * 512;
    // 1. initrd_addr_max inside the kernel's init_size: QEMU (which ignores init_size) puts
    //    the initrd where the kernel will be; and the header no longer matches the file.
    let mut low_max = original.clone();
    low_max[0x22C..0x230].copy_from_slice(&0x12_FFFFu32.to_le_bytes());
    // 2. A byte of the loaded code changed.
    let mut damaged = original.clone();
    damaged[protected_start + 0x100] ^= 0x01;
    let cases: [(&str, Vec<u8>, &[&str]); 2] = [
        (
            "initrd-in-kernel",
            low_max,
            &["header_copied", "initrd_above_kernel", "no_overlap"],
        ),
        ("damaged-image", damaged, &["image_intact"]),
    ];
    let mut ok = true;
    for (name, file, expected) in cases {
        let path = dir.join(format!("linux-probe-{name}.bzImage"));
        std::fs::write(&path, file).unwrap();
        let extra: Vec<OsString> = vec![
            "-kernel".into(),
            path.into(),
            "-initrd".into(),
            initrd_path.clone().into(),
        ];
        let timed = timed_serial::run(
            &format!("linux-probe-{name}"),
            128,
            &extra,
            "LX VERDICT",
            Duration::from_secs(60),
            &dir,
        );
        let serial: String = timed.lines.iter().map(|l| l.text.clone() + "\n").collect();
        let failed: Vec<String> = linux::parse_report(&serial)
            .map(|r| r.failed_checks().iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let as_expected = failed == expected;
        ok &= as_expected;
        println!("lxtest {name}: failed checks {failed:?}, as expected: {as_expected}");
    }
    ok
}

fn probe_debian_kernel(runs: usize) -> bool {
    let (kernel, busybox) = match (linux::debian_kernel(), linux::busybox_static()) {
        (Ok(k), Ok(b)) => (k, b),
        (k, b) => {
            println!(
                "debian: cannot fetch: {:?} {:?}",
                k.err().map(|e| e.to_string()),
                b.err().map(|e| e.to_string())
            );
            return false;
        }
    };
    let vmlinuz = std::fs::read(&kernel.path).unwrap();
    let busybox_bytes = std::fs::read(&busybox.path).unwrap();
    println!(
        "debian: {} download {}, vmlinuz {} ({}); busybox-static download {}, binary {}",
        kernel.package,
        mib(kernel.download_bytes),
        mib(vmlinuz.len() as u64),
        kernel.path.display(),
        mib(busybox.download_bytes),
        mib(busybox_bytes.len() as u64)
    );
    match BzImage::new_checked(&vmlinuz) {
        Ok(image) => {
            let h = image.header();
            let plan = KernelPlan::new(&image);
            println!(
                "debian: bzImage protocol {}.{:02}, setup_sects {}, relocatable {}, kernel_alignment {:#x}, min_alignment 2^{}, pref_address {}, init_size {}, cmdline_size {}, initrd_addr_max {:#x}, xloadflags {:#x}; planner reserves {} first at {:#x}",
                h.version >> 8,
                h.version & 0xFF,
                h.setup_sects,
                h.relocatable,
                h.kernel_alignment,
                h.min_alignment_log2,
                h.pref_address.map_or("-".into(), |p| format!("{p:#x}")),
                h.init_size.map_or("-".into(), |s| format!("{s:#x}")),
                h.cmdline_size,
                h.initrd_addr_max,
                h.xloadflags,
                mib(plan.size),
                plan.attempts().next().map_or(0, |c| c.min)
            );
        }
        Err(e) => {
            println!("debian: proto refuses vmlinuz: {}: {e}", e.code());
            return false;
        }
    }
    let dir = work_dir();
    let initrd = linux::busybox_initrd(&busybox_bytes);
    let initrd_path = dir.join("linux-probe-busybox.cpio");
    std::fs::write(&initrd_path, &initrd).unwrap();
    let cmdline = "console=ttyS0 panic=-1 quiet netloader.probe=1";
    let mut ok = true;
    for run in 0..runs {
        let extra: Vec<OsString> = vec![
            "-kernel".into(),
            kernel.path.clone().into(),
            "-initrd".into(),
            initrd_path.clone().into(),
            "-append".into(),
            cmdline.into(),
        ];
        let timed = timed_serial::run(
            "linux-probe-debian",
            MEMORY_MIB,
            &extra,
            "LINUX-CMDLINE",
            TIMEOUT,
            &dir,
        );
        let seen_cmdline = timed.lines.iter().find_map(|l| {
            l.text
                .trim_end()
                .strip_prefix("LINUX-CMDLINE ")
                .map(str::to_string)
        });
        let agrees = seen_cmdline.as_deref() == Some(cmdline);
        ok &= agrees && timed.first(INIT_MARKER).is_some();
        println!(
            "debian run {run}: initrd {} (newc cpio); QEMU start -> first kernel line {}, -> /init {}, -> command line {}; /init saw the command line intact: {agrees} (log: {})",
            mib(initrd.len() as u64),
            seconds(timed.lines.first().map(|l| l.at)),
            seconds(timed.first(INIT_MARKER)),
            seconds(timed.marker_at),
            timed.log.display()
        );
    }
    ok
}

fn probe_xen() -> bool {
    let xen = match linux::xen_hypervisor() {
        Ok(x) => x,
        Err(e) => {
            println!("xen: cannot fetch: {e}");
            return false;
        }
    };
    let file = std::fs::read(&xen.path).unwrap();
    let reference = Command::new("gzip")
        .arg("-dc")
        .arg(&xen.path)
        .output()
        .expect("gzip")
        .stdout;
    let mut place = vec![0u8; 16 << 20];
    let mut scratch = Scratch::new();
    let mut sink = DecompressSink::new(&mut place, &mut scratch);
    // In TFTP-sized pieces, as it will arrive.
    let pushed = file.chunks(1428).try_for_each(|piece| sink.push(piece));
    let summary = pushed.and_then(|()| sink.finish());
    let inflated = sink.output().to_vec();
    let same = inflated == reference;
    println!(
        "xen: {} download {}, {} {} -> {:?}; identical to gzip -d: {same}",
        xen.package,
        mib(xen.download_bytes),
        xen.path.display(),
        mib(file.len() as u64),
        summary.map(|s| (s.format, s.output_len, s.members))
    );
    let find = |magic: u32, align: usize, within: usize| {
        (0..within.min(inflated.len().saturating_sub(4)))
            .step_by(align)
            .find(|&at| inflated[at..at + 4] == magic.to_le_bytes())
    };
    println!(
        "xen: ELF {}, Multiboot 1 header at {}, Multiboot 2 header at {}",
        if inflated.starts_with(b"\x7fELF\x01") {
            "32-bit"
        } else {
            "?"
        },
        find(0x1BAD_B002, 4, 8192).map_or("none".into(), |a| format!("{a:#x}")),
        find(0xE852_50D6, 8, 32768).map_or("none".into(), |a| format!("{a:#x}"))
    );
    same
}
