//! Boot time: QEMU start -> the test kernel's entry, for every netloader form and NIC, beside
//! iPXE (Debian's `ipxe-qemu` ROMs, QEMU's own NIC ROMs) on the same card and payload in the
//! same run; and the size of every image.
//!
//! Run: `cargo run --release -p netloader-tests --bin boot_bench [-- --runs 3 --nics e1000,rtl8139 --forms iso,rom --embedded]`
//! or, for what inflating while streaming costs: `... --bin boot_bench -- --unzip [--runs 3 --nics e1000]`
//!
//! `--runtimes 64,32` boots the floppy, ISO and USB forms (and `--unzip`'s ISO) once with each
//! BIOS runtime (`netloader build --runtime`), interleaved, on the same 64-bit CPU (QEMU's
//! default); the default is the image builder's default runtime alone. The pxe and rom forms
//! are run with the default runtime only.
//!
//! Payload: the Multiboot test kernel (ELF32 variant, which iPXE's Multiboot loader takes too)
//! and a 1 MiB module, from QEMU's built-in TFTP server (user networking, restrict=on). Kernel
//! entry is the test kernel's first serial line, `MB BEGIN`, stamped on the host as it arrives
//! on QEMU's stdout (`-serial stdio`), counted from spawning QEMU; the boot is stopped there.
//!
//! - netloader floppy / iso / usb / rom: the DHCP boot file is the config (`set timeout=0`), the
//!   realistic default; `--embedded` embeds it in the image instead (no boot file).
//! - netloader rom: our ROM as the card's `romfile=` (made for the card's family), bootindex=1.
//! - netloader pxe: the card's iPXE ROM boots `-boot n`, DHCPs and chainloads netloader.pxe,
//!   which finds its config by the per-host lookup (`netloader.cfg/default`, after the MAC and
//!   IP names miss). This includes iPXE's own banner, DHCP and ProxyDHCP wait.
//! - iPXE: `-boot n`, DHCP boot file `boot.ipxe` = `kernel` + `module` + `boot`.
//!
//! `--unzip`: the ISO with a 30 MB module (text-like, with random stretches: it compresses to
//! ~40%) served plain, gzip -6 and xz -6 (netloader inflates it as it arrives), and iPXE with
//! the plain module; the time to kernel entry and the load time (config read -> files loaded,
//! from netloader's lines), each against the plain module through netloader.
//!
//! `--firmware ovmf`: UEFI (QEMU q35 with OVMF, as tests/src/ovmf.rs boots it), the test kernel
//! and a 32 MiB module over QEMU's TFTP, for e1000 and virtio-net-pci: netloader.efi booted by
//! the firmware's PXE (`bootfile=netloader.efi`, its config by the per-host lookup) and from the
//! ISO (its ESP; the DHCP boot file is the config), against iPXE's EFI build (the EFI driver of
//! Debian's efi-e1000.rom / efi-virtio.rom, which OVMF runs as the card's network boot: iPXE's
//! own stack). iPXE's EFI build cannot boot a Multiboot kernel, so the common mark is "files
//! loaded": netloader's `boot: 1 module(s)` line, and iPXE's script (`imgfetch` kernel and
//! module, then `echo`) printing on the firmware's console, which OVMF copies to COM1. netloader
//! also shows its kernel entry; both show the module's TFTP throughput from the wire (QEMU's
//! `filter-dump`, read request to last ACK, as `bench` times it). netloader's card: the
//! firmware's interface (SNP): OVMF's VirtioNetDxe on virtio-net, iPXE's EFI driver on e1000.
//!
//! A benchmark: it prints figures (median of `--runs`) and asserts nothing about them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netloader::efi::NicPolicy;
use netloader::forms::{self, Form};
use netloader::rom::RomOptions;
use netloader_tests::kernels::{self, Variant};
use netloader_tests::qemu::{nic_family, work_dir};
use netloader_tests::timed_serial::{self, TimedRun};

const MODULE: &str = "payload.bin";
const MODULE_SIZE: usize = 1 << 20;
const CONFIG: &str = "boot.cfg";
const IPXE_SCRIPT: &str = "boot.ipxe";
const KERNEL_ENTRY: &str = "MB BEGIN";
const MEMORY_MIB: u32 = 128;
const TIMEOUT: Duration = Duration::from_secs(90);
/// The goal: netloader at the test kernel in at most this share of iPXE's time.
const GOAL_RATIO: f64 = 0.2;

#[derive(Clone, Copy, PartialEq)]
enum Client {
    Netloader(Form),
    Ipxe,
}

struct Options {
    runs: usize,
    nics: Vec<String>,
    forms: Vec<Form>,
    embedded: bool,
    unzip: bool,
    ovmf: bool,
    runtimes: Vec<forms::Runtime>,
}

fn options() -> Options {
    let mut options = Options {
        runs: 3,
        nics: vec![],
        forms: vec![],
        embedded: false,
        unzip: false,
        ovmf: false,
        runtimes: vec![forms::Runtime::default()],
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--runs" => options.runs = value().parse().expect("--runs N"),
            "--nics" => options.nics = value().split(',').map(String::from).collect(),
            "--forms" => {
                options.forms = value()
                    .split(',')
                    .map(|name| form_named(name).unwrap_or_else(|| panic!("unknown form {name}")))
                    .collect()
            }
            "--embedded" => options.embedded = true,
            "--unzip" => options.unzip = true,
            "--firmware" => match value().as_str() {
                "ovmf" => options.ovmf = true,
                "bios" => options.ovmf = false,
                other => panic!("--firmware bios|ovmf, not {other}"),
            },
            "--runtimes" => {
                options.runtimes = value()
                    .split(',')
                    .map(|bits| match bits {
                        "32" => forms::Runtime::Bits32,
                        "64" => forms::Runtime::Bits64,
                        other => panic!("--runtimes takes 32 and 64, not {other}"),
                    })
                    .collect()
            }
            other => panic!("unknown option {other}; see the top of tests/src/bin/boot_bench.rs"),
        }
    }
    if options.nics.is_empty() && options.ovmf {
        options.nics = ["e1000", "virtio-net-pci"].map(String::from).to_vec();
    }
    if options.nics.is_empty() {
        options.nics = ["e1000", "rtl8139", "virtio-net-pci"]
            .map(String::from)
            .to_vec();
    }
    if options.forms.is_empty() {
        options.forms = vec![Form::Floppy, Form::Iso, Form::Usb, Form::Rom, Form::Pxe];
    }
    options
}

fn form_named(name: &str) -> Option<Form> {
    [Form::Floppy, Form::Iso, Form::Usb, Form::Rom, Form::Pxe]
        .into_iter()
        .find(|f| f.name() == name)
}

fn config_text() -> String {
    format!(
        "set timeout=0\nmenuentry \"bench\" {{\n  multiboot /kernel\n  module /{MODULE}\n  boot\n}}\n"
    )
}

/// A fresh TFTP root `dir/name` with what every boot fetches: the kernel, a module of
/// `module_size` bytes, and the config (as the DHCP boot file and as `netloader.cfg/default`).
fn kernel_root(dir: &Path, name: &str, module_size: usize) -> PathBuf {
    let root = dir.join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("netloader.cfg")).unwrap();
    std::fs::copy(kernels::path(Variant::Elf32), root.join("kernel")).unwrap();
    std::fs::write(
        root.join(MODULE),
        netloader_tests::scenario::random_bytes(module_size, 0x2545_F491),
    )
    .unwrap();
    std::fs::write(root.join(CONFIG), config_text()).unwrap();
    std::fs::write(root.join("netloader.cfg/default"), config_text()).unwrap();
    root
}

/// The TFTP root: kernel, module, the config under both names, netloader.pxe, the iPXE script.
fn tftp_root(dir: &Path) -> PathBuf {
    let root = kernel_root(dir, "tftp", MODULE_SIZE);
    std::fs::write(root.join("netloader.pxe"), forms::build(Form::Pxe).unwrap()).unwrap();
    std::fs::write(
        root.join(IPXE_SCRIPT),
        format!("#!ipxe\nkernel tftp://${{next-server}}/kernel\nmodule tftp://${{next-server}}/{MODULE}\nboot\n"),
    )
    .unwrap();
    root
}

/// The image of `form` for `nic` (the ROM is per family), with the config embedded or not,
/// carrying `runtime` (floppy, ISO and USB).
fn image(form: Form, nic: &str, embedded: bool, runtime: forms::Runtime) -> Vec<u8> {
    let options = forms::Options {
        config: embedded.then(|| config_text().into_bytes()),
        runtime,
        ..Default::default()
    };
    match form {
        // The ROM's first stage starts netloader.pxe; an embedded config needs the whole
        // loader in the ROM.
        Form::Rom => forms::rom(
            &options,
            &RomOptions {
                nic: nic_family(nic),
                standalone: embedded,
                ..RomOptions::default()
            },
        )
        .unwrap(),
        // netloader.pxe finds its config on the server (the ROM's DHCP names netloader.pxe).
        Form::Pxe => forms::build(Form::Pxe).unwrap(),
        _ => forms::build_with(form, &options).unwrap(),
    }
}

/// QEMU arguments for one client on one card.
fn qemu_args(
    client: Client,
    nic: &str,
    root: &Path,
    image: &Path,
    embedded: bool,
) -> Vec<OsString> {
    let boot_file = match client {
        Client::Ipxe => Some(IPXE_SCRIPT),
        Client::Netloader(Form::Pxe) => Some("netloader.pxe"),
        Client::Netloader(Form::Rom) if !embedded => Some("netloader.pxe"),
        Client::Netloader(_) if embedded => None,
        Client::Netloader(_) => Some(CONFIG),
    };
    let boot_file = boot_file
        .map(|f| format!(",bootfile={f}"))
        .unwrap_or_default();
    let netdev = format!("user,id=n0,restrict=on,tftp={}{boot_file}", root.display());
    let image = image.display();
    let mut args: Vec<String> = vec!["-netdev".into(), netdev];
    let device = match client {
        Client::Netloader(Form::Rom) => format!("{nic},netdev=n0,romfile={image},bootindex=1"),
        _ => format!("{nic},netdev=n0"),
    };
    args.extend(["-device".into(), device]);
    match client {
        Client::Ipxe | Client::Netloader(Form::Pxe) => {
            args.extend(["-boot".into(), "order=n".into()])
        }
        Client::Netloader(Form::Floppy) => args.extend([
            "-drive".into(),
            format!("file={image},format=raw,if=floppy"),
        ]),
        Client::Netloader(Form::Iso) => args.extend(["-cdrom".into(), image.to_string()]),
        Client::Netloader(Form::Usb) => {
            args.extend(["-drive".into(), format!("file={image},format=raw")])
        }
        Client::Netloader(Form::Rom) => {}
        // Not among the forms benchmarked: netloader has no UEFI application yet.
        Client::Netloader(Form::Efi) => {
            panic!("BIOS forms only here; netloader.efi: --firmware ovmf")
        }
    }
    args.into_iter().map(OsString::from).collect()
}

fn median(mut times: Vec<Duration>) -> Option<Duration> {
    times.sort();
    times.get(times.len() / 2).copied()
}

fn seconds(time: Option<Duration>) -> String {
    time.map_or("failed".into(), |t| format!("{:.2}", t.as_secs_f64()))
}

/// How a row names one netloader image: the form, and the runtime where it is not the default.
fn label(form: Form, runtime: forms::Runtime) -> String {
    match runtime {
        forms::Runtime::Bits32 => format!("{} 32-bit", form.name()),
        forms::Runtime::Bits64 => format!("{} 64-bit", form.name()),
    }
}

/// Where the time of one netloader boot went: firmware and stage 1 up to the runtime's first
/// line, then the runtime's phases, read from its log lines.
fn phases(run: &TimedRun) -> String {
    let marks = [
        ("runtime", "netloader "),
        ("card up", "nic: MAC"),
        ("lease", "dhcp: address"),
        ("config read", "boot: entry"),
        ("files loaded", "boot: 1 module"),
        ("kernel", KERNEL_ENTRY),
    ];
    let mut out = Vec::new();
    for (label, text) in marks {
        if let Some(at) = run.first(text) {
            out.push(format!("{label} {:.2}", at.as_secs_f64()));
        }
    }
    out.join(", ")
}

fn main() {
    let options = options();
    let dir = work_dir().join("boot-bench");
    std::fs::create_dir_all(&dir).unwrap();
    if options.unzip {
        return unzip_bench(&options, &dir);
    }
    if options.ovmf {
        return ovmf_bench(&options, &dir);
    }
    let root = tftp_root(&dir);

    println!(
        "QEMU start -> test kernel entry (`{KERNEL_ENTRY}` on serial), seconds, median of {} runs; kernel (ELF32) + {} MiB module over QEMU's TFTP.",
        options.runs,
        MODULE_SIZE >> 20
    );
    println!(
        "netloader's config: {}; pxe: per-host lookup, iPXE's DHCP included.",
        if options.embedded {
            "embedded in the image"
        } else {
            "the DHCP boot file"
        }
    );
    println!();
    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    let mut timelines = Vec::new();
    for nic in &options.nics {
        let ipxe_args = qemu_args(Client::Ipxe, nic, &root, Path::new(""), false);
        let mut forms_args = Vec::new();
        for &form in &options.forms {
            for &runtime in &options.runtimes {
                let default = runtime == forms::Runtime::default();
                if !default && matches!(form, Form::Pxe | Form::Rom) {
                    continue; // netloader.pxe on the server is the default runtime's
                }
                let bytes = image(form, nic, options.embedded, runtime);
                let name = label(form, runtime).replace(' ', "-");
                let path = dir.join(format!("netloader-{nic}-{name}.{}", form.name()));
                sizes.push((label(form, runtime), form, nic.clone(), bytes.len()));
                std::fs::write(&path, bytes).unwrap();
                forms_args.push((
                    form,
                    label(form, runtime),
                    qemu_args(Client::Netloader(form), nic, &root, &path, options.embedded),
                ));
            }
        }
        // Interleaved (iPXE, every form; again) so drift in host load spreads over all.
        let mut ipxe_times = Vec::new();
        let mut form_times: Vec<Vec<Duration>> = vec![Vec::new(); forms_args.len()];
        for round in 0..options.runs {
            let run = timed_serial::run(
                &format!("ipxe-{nic}-{round}"),
                MEMORY_MIB,
                &ipxe_args,
                KERNEL_ENTRY,
                TIMEOUT,
                &dir,
            );
            report_failure(&run);
            ipxe_times.extend(run.marker_at);
            for (i, (_, label, args)) in forms_args.iter().enumerate() {
                let name = format!("{}-{nic}-{round}", label.replace(' ', "-"));
                let run = timed_serial::run(&name, MEMORY_MIB, args, KERNEL_ENTRY, TIMEOUT, &dir);
                report_failure(&run);
                form_times[i].extend(run.marker_at);
                if round == 0 {
                    timelines.push(format!("{label} {nic}: {}", phases(&run)));
                }
            }
        }
        let ipxe = median(ipxe_times);
        for ((_, label, _), times) in forms_args.iter().zip(form_times) {
            let complete = times.len() == options.runs;
            let netloader = median(times).filter(|_| complete);
            rows.push((label.clone(), nic.clone(), netloader, ipxe));
        }
    }

    println!("| form | NIC | netloader s | iPXE s | netloader / iPXE | goal <= {GOAL_RATIO}x |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (label, nic, netloader, ipxe) in &rows {
        let (ratio, goal) = match (netloader, ipxe) {
            (Some(n), Some(i)) => {
                let r = n.as_secs_f64() / i.as_secs_f64();
                (
                    format!("{r:.2}x"),
                    if r <= GOAL_RATIO { "met" } else { "not met" },
                )
            }
            _ => ("-".into(), "-"),
        };
        println!(
            "| {label} | {nic} | {} | {} | {ratio} | {goal} |",
            seconds(*netloader),
            seconds(*ipxe)
        );
    }
    println!();
    println!("Image sizes (bytes):");
    println!();
    println!("| form | NIC | bytes |");
    println!("| --- | --- | --- |");
    for (label, form, nic, len) in &sizes {
        // Only the ROM differs per card; the others are listed once.
        if *form == Form::Rom || nic == &options.nics[0] {
            let nic = if *form == Form::Rom {
                nic.as_str()
            } else {
                "any"
            };
            println!("| {label} | {nic} | {len} |");
        }
    }
    println!();
    println!(
        "Where the time went (first run, seconds from QEMU start at each phase's first line):"
    );
    println!();
    for line in timelines {
        println!("- {line}");
    }
    println!();
    println!("Timestamped serial logs: {}", dir.display());
}

/// The `--unzip` module: 30 MB, text-like with random stretches (compresses to ~40%).
const UNZIP_MODULE_SIZE: usize = 30_000_000;

/// `--unzip`: one TFTP root per way of serving the module (`plain`, `gzip`, `xz`), each with
/// the kernel, its module file and its `boot.cfg`; `plain` also has the iPXE script.
fn unzip_roots(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    use netloader_tests::compress::{gzip, xz};
    let noise = netloader_tests::scenario::random_bytes(UNZIP_MODULE_SIZE, 0x2545_F491);
    let module: Vec<u8> = noise
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (i / 4096) % 3 == 0 {
                b
            } else {
                b"netloader "[i % 10]
            }
        })
        .collect();
    let ways: [(&str, &str, Vec<u8>); 3] = [
        ("plain", "payload.bin", module.clone()),
        ("gzip", "payload.bin.gz", gzip(&module, 6)),
        ("xz", "payload.bin.xz", xz(&module, &["-6"])),
    ];
    ways.into_iter()
        .map(|(way, file, bytes)| {
            let root = dir.join(format!("unzip-{way}"));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).unwrap();
            std::fs::copy(kernels::path(Variant::Elf32), root.join("kernel")).unwrap();
            println!("- {way}: {file}, {} bytes", bytes.len());
            std::fs::write(root.join(file), bytes).unwrap();
            let config = format!(
                "set timeout=0\nmenuentry \"bench\" {{\n  multiboot /kernel\n  module /{file}\n  boot\n}}\n"
            );
            std::fs::write(root.join(CONFIG), config).unwrap();
            std::fs::write(
                root.join(IPXE_SCRIPT),
                format!("#!ipxe\nkernel tftp://${{next-server}}/kernel\nmodule tftp://${{next-server}}/{file}\nboot\n"),
            )
            .unwrap();
            (way, root)
        })
        .collect()
}

/// Seconds from netloader's `boot: entry` line (the config read) to `boot: 1 module` (the
/// kernel and the module in memory): the load alone, without firmware, card and DHCP.
fn load_time(run: &TimedRun) -> Option<Duration> {
    Some(run.first("boot: 1 module")? - run.first("boot: entry")?)
}

fn unzip_bench(options: &Options, dir: &Path) {
    println!(
        "A {} MB module served plain, gzip -6 and xz -6 (netloader inflates it while it streams in), and iPXE with the plain module; ISO, QEMU's TFTP, median of {} runs.",
        UNZIP_MODULE_SIZE / 1_000_000,
        options.runs
    );
    let roots = unzip_roots(dir);
    let isos: Vec<(String, PathBuf)> = options
        .runtimes
        .iter()
        .map(|&runtime| {
            let label = label(Form::Iso, runtime);
            let iso = dir.join(format!("netloader-unzip-{}.iso", label.replace(' ', "-")));
            let options = forms::Options {
                runtime,
                ..forms::Options::default()
            };
            std::fs::write(&iso, forms::build_with(Form::Iso, &options).unwrap()).unwrap();
            (label, iso)
        })
        .collect();
    // Every (runtime, way of serving) pair: the rows of the table.
    let cases: Vec<(String, &PathBuf, &PathBuf)> = isos
        .iter()
        .flat_map(|(label, iso)| {
            roots
                .iter()
                .map(move |(way, root)| (format!("{way}, {label}"), iso, root))
        })
        .collect();
    println!();
    println!(
        "| NIC | module | QEMU start -> kernel entry s | load (config -> files in memory) s | load / plain's | entry / iPXE's |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for nic in &options.nics {
        let mut entry: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
        let mut load: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
        let mut ipxe = Vec::new();
        let ipxe_args = qemu_args(Client::Ipxe, nic, &roots[0].1, Path::new(""), false);
        for round in 0..options.runs {
            let run = timed_serial::run(
                &format!("unzip-ipxe-{nic}-{round}"),
                MEMORY_MIB,
                &ipxe_args,
                KERNEL_ENTRY,
                TIMEOUT,
                dir,
            );
            report_failure(&run);
            ipxe.extend(run.marker_at);
            for (i, (case, iso, root)) in cases.iter().enumerate() {
                let args = qemu_args(Client::Netloader(Form::Iso), nic, root, iso, false);
                let case = case.replace([' ', ','], "-");
                let name = format!("unzip-{case}-{nic}-{round}");
                let run = timed_serial::run(&name, MEMORY_MIB, &args, KERNEL_ENTRY, TIMEOUT, dir);
                report_failure(&run);
                entry[i].extend(run.marker_at);
                load[i].extend(load_time(&run));
            }
        }
        let ipxe = median(ipxe).filter(|_| options.runs > 0);
        for (i, (way, _, _)) in cases.iter().enumerate() {
            // The same runtime's plain module (the first way of each runtime's rows).
            let plain_load = median(load[i - i % roots.len()].clone());
            let (entry, load) = (median(entry[i].clone()), median(load[i].clone()));
            let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
                (Some(a), Some(b)) => format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64()),
                _ => "-".into(),
            };
            println!(
                "| {nic} | {way} | {} | {} | {} | {} |",
                seconds(entry),
                seconds(load),
                ratio(load, plain_load),
                ratio(entry, ipxe)
            );
        }
        println!(
            "| {nic} | plain, iPXE | {} | - | - | 1.00x |",
            seconds(ipxe)
        );
    }
    println!();
    println!("Timestamped serial logs: {}", dir.display());
}

/// `--firmware ovmf`: the module's size (as `bench` downloads), and iPXE's mark on the console.
const OVMF_MODULE_SIZE: usize = 32 << 20;
const IPXE_LOADED: &str = "bench: files loaded";
const IPXE_EFI_SCRIPT: &str = "fetch.ipxe";
/// netloader's line once the kernel and module are in memory (before ExitBootServices).
const NETLOADER_LOADED: &str = "boot: 1 module";

#[derive(Clone, Copy, PartialEq)]
enum EfiClient {
    /// netloader.efi started by the firmware's PXE, built with this `--efi-nic`.
    Pxe(NicPolicy),
    /// netloader.efi from the ISO's ESP (a CD), built with this `--efi-nic`.
    Iso(NicPolicy),
    /// iPXE's EFI build (the card's iPXE EFI ROM), by script.
    Ipxe,
}

impl EfiClient {
    const ALL: [EfiClient; 5] = [
        EfiClient::Ipxe,
        EfiClient::Pxe(NicPolicy::Auto),
        EfiClient::Pxe(NicPolicy::Snp),
        EfiClient::Iso(NicPolicy::Auto),
        EfiClient::Iso(NicPolicy::Snp),
    ];

    fn name(self) -> &'static str {
        match self {
            EfiClient::Pxe(NicPolicy::Auto) => "netloader.efi by PXE",
            EfiClient::Pxe(NicPolicy::Snp) => "netloader.efi by PXE, --efi-nic snp",
            EfiClient::Iso(NicPolicy::Auto) => "netloader.efi from the ISO",
            EfiClient::Iso(NicPolicy::Snp) => "netloader.efi from the ISO, --efi-nic snp",
            EfiClient::Ipxe => "iPXE EFI (imgfetch)",
        }
    }

    /// For file names.
    fn short(self) -> &'static str {
        match self {
            EfiClient::Pxe(NicPolicy::Auto) => "pxe",
            EfiClient::Pxe(NicPolicy::Snp) => "pxe-snp",
            EfiClient::Iso(NicPolicy::Auto) => "iso",
            EfiClient::Iso(NicPolicy::Snp) => "iso-snp",
            EfiClient::Ipxe => "ipxe",
        }
    }
}

/// netloader.efi built with `policy`, as `--form efi` or the ISO.
fn efi_form(form: Form, policy: NicPolicy) -> Vec<u8> {
    let options = forms::Options {
        efi_nic: policy,
        ..Default::default()
    };
    forms::build_with(form, &options).unwrap()
}

/// The TFTP root of `--firmware ovmf`: kernel, the 32 MiB module, the config (as the DHCP boot
/// file and as `netloader.cfg/default`), netloader.efi and iPXE's fetch-only script.
fn ovmf_root(dir: &Path) -> PathBuf {
    let root = kernel_root(dir, "ovmf-tftp", OVMF_MODULE_SIZE);
    for client in EfiClient::ALL {
        if let EfiClient::Pxe(policy) = client {
            let file = format!("{}.efi", client.short());
            std::fs::write(root.join(file), efi_form(Form::Efi, policy)).unwrap();
        }
    }
    std::fs::write(
        root.join(IPXE_EFI_SCRIPT),
        format!("#!ipxe\nimgfetch tftp://${{next-server}}/kernel\nimgfetch tftp://${{next-server}}/{MODULE}\necho {IPXE_LOADED}\n"),
    )
    .unwrap();
    root
}

/// One OVMF boot of `client` on `nic`: the serial lines (timed) and the module's transfer.
fn ovmf_run(
    client: EfiClient,
    nic: &str,
    root: &Path,
    dir: &Path,
    name: &str,
) -> (TimedRun, Option<netloader_tests::pcap::TftpTransfer>) {
    use netloader_tests::ovmf::{self, Medium, UefiNic};
    let card = match (nic, client) {
        ("e1000", _) => UefiNic::E1000Ipxe,
        ("virtio-net-pci", EfiClient::Ipxe) => UefiNic::VirtioNetIpxe,
        ("virtio-net-pci", _) => UefiNic::VirtioNet,
        (other, _) => panic!("--firmware ovmf benchmarks e1000 and virtio-net-pci, not {other}"),
    };
    let pxe_file = format!("{}.efi", client.short());
    let boot_file = match client {
        EfiClient::Pxe(_) => &pxe_file,
        EfiClient::Iso(_) => CONFIG,
        EfiClient::Ipxe => IPXE_EFI_SCRIPT,
    };
    let pcap = dir.join(format!("{name}.pcap"));
    let _ = std::fs::remove_file(&pcap);
    let mut args = ovmf::firmware_args(name);
    args.extend([
        "-netdev".to_string(),
        format!(
            "user,id=n0,restrict=on,tftp={},bootfile={boot_file}",
            root.display()
        ),
        "-object".to_string(),
        format!("filter-dump,id=dump0,netdev=n0,file={}", pcap.display()),
        "-device".to_string(),
    ]);
    const MAC: &str = "52:54:00:12:34:56";
    if let EfiClient::Iso(policy) = client {
        let iso = dir.join(format!("netloader-ovmf-{}.iso", client.short()));
        if !iso.exists() {
            std::fs::write(&iso, efi_form(Form::Iso, policy)).unwrap();
        }
        args.push(card.card("n0", MAC));
        args.extend(ovmf::boot_drive(&iso, Medium::Cdrom));
    } else {
        args.push(card.device("n0", MAC));
    }
    let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
    let marker = if client == EfiClient::Ipxe {
        IPXE_LOADED
    } else {
        KERNEL_ENTRY
    };
    let run = timed_serial::run_on("q35", name, 256, &args, marker, TIMEOUT * 2, dir);
    if run.marker_at.is_none() {
        eprintln!("  {name}: no `{marker}`; log: {}", run.log.display());
    }
    let transfer = std::fs::read(&pcap)
        .ok()
        .and_then(|bytes| netloader_tests::pcap::tftp_transfer(&bytes, MODULE));
    if transfer.is_some() {
        let _ = std::fs::remove_file(&pcap); // 32 MiB and more; kept when a run failed
    }
    (run, transfer)
}

fn ovmf_bench(options: &Options, dir: &Path) {
    let root = ovmf_root(dir);
    for client in EfiClient::ALL {
        let _ = std::fs::remove_file(dir.join(format!("netloader-ovmf-{}.iso", client.short())));
    }
    println!(
        "OVMF (q35, TCG, 256 MiB), QEMU start -> files loaded / kernel entry, seconds, and the module's TFTP throughput (MB/s, from the wire); median of {} runs; Multiboot test kernel + {} MiB module over QEMU's TFTP.",
        options.runs,
        OVMF_MODULE_SIZE >> 20
    );
    println!();
    println!(
        "| NIC | client | files loaded s | kernel entry s | module MB/s | files loaded / iPXE's | MB/s / iPXE's |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let clients = EfiClient::ALL;
    let mut timelines = Vec::new();
    for nic in &options.nics {
        let mut loaded: Vec<Vec<Duration>> = vec![Vec::new(); clients.len()];
        let mut entry: Vec<Vec<Duration>> = vec![Vec::new(); clients.len()];
        let mut speed: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
        // Interleaved, as above, so drift in host load spreads over every client.
        for round in 0..options.runs {
            for (i, &client) in clients.iter().enumerate() {
                let name = format!("ovmf-{}-{nic}-{round}", client.short());
                let (run, transfer) = ovmf_run(client, nic, &root, dir, &name);
                let mark = if client == EfiClient::Ipxe {
                    IPXE_LOADED
                } else {
                    NETLOADER_LOADED
                };
                loaded[i].extend(run.first(mark));
                if client != EfiClient::Ipxe {
                    entry[i].extend(run.marker_at);
                    if round == 0 {
                        let driver = run
                            .lines
                            .iter()
                            .find(|l| l.text.starts_with("nic: ") && l.text.contains(", driver "))
                            .and_then(|l| l.text.rsplit(", driver ").next())
                            .unwrap_or("?");
                        timelines.push(format!(
                            "{} {nic} (driver {driver}): {}",
                            client.name(),
                            phases(&run)
                        ));
                    }
                }
                speed[i].extend(transfer.map(|t| OVMF_MODULE_SIZE as f64 / t.seconds / 1e6));
            }
        }
        let medians: Vec<(Option<Duration>, Option<Duration>, Option<f64>)> = (0..clients.len())
            .map(|i| {
                let mut mbs = speed[i].clone();
                mbs.sort_by(f64::total_cmp);
                (
                    median(loaded[i].clone()),
                    median(entry[i].clone()),
                    mbs.get(mbs.len() / 2).copied(),
                )
            })
            .collect();
        let (ipxe_loaded, _, ipxe_speed) = medians[0];
        for (client, (loaded, entry, mbs)) in clients.iter().zip(&medians) {
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => format!("{:.2}x", a / b),
                _ => "-".into(),
            };
            println!(
                "| {nic} | {} | {} | {} | {} | {} | {} |",
                client.name(),
                seconds(*loaded),
                if *client == EfiClient::Ipxe {
                    "-".to_string()
                } else {
                    seconds(*entry)
                },
                mbs.map_or("failed".into(), |v| format!("{v:.2}")),
                ratio(
                    loaded.map(|t| t.as_secs_f64()),
                    ipxe_loaded.map(|t| t.as_secs_f64())
                ),
                ratio(*mbs, ipxe_speed),
            );
        }
    }
    println!();
    println!(
        "Where the time went (first run, seconds from QEMU start at each phase's first line):"
    );
    println!();
    for line in timelines {
        println!("- {line}");
    }
    println!();
    println!("Timestamped serial logs: {}", dir.display());
}

fn report_failure(run: &TimedRun) {
    if run.marker_at.is_none() {
        eprintln!(
            "  no `{KERNEL_ENTRY}` within {} s; log: {}",
            TIMEOUT.as_secs(),
            run.log.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_three_is_the_middle() {
        let ms = Duration::from_millis;
        assert_eq!(median(vec![ms(3), ms(1), ms(2)]), Some(ms(2)));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn config_parses_with_the_runtime_parser() {
        forms::check_config(CONFIG, config_text().as_bytes()).unwrap();
    }
}
