//! From a DHCP lease to a running kernel: the config, the kernel and its modules, the
//! Multiboot information, the hand-off.
//!
//! Memory plan (everything checked against the E820 map):
//! - the config lives in the last MiB of upper memory (`config_area`), so its text stays valid
//!   while modules arrive;
//! - the kernel file is downloaded to the upper half of upper memory (`scratch`), parsed, and
//!   its segments copied to their addresses; segments that would land on the runtime (below
//!   1 MiB) are staged in high memory and copied by the trampoline at hand-off;
//! - modules follow the kernel (and the staged bytes), each page-aligned;
//! - the trampoline and the Multiboot information go to free conventional memory that no
//!   kernel byte lands on.

pub(crate) mod handoff;

use core::fmt::Write;
use core::net::Ipv4Addr;
use core::ops::Range;

use netloader_proto::config::{Config, FileLine, FileSource, MenuEntry};
use netloader_proto::kernel::{Format, KernelError, KernelImage};
use netloader_proto::memmap::MemoryMap;
use netloader_proto::multiboot::{Header, HeaderError, MbiBuilder};

use crate::download::{Hex, MemorySink};
use crate::net::{Lease, Net};
use crate::println;

pub type Failure = heapless::String<384>;

/// A failure line: `fail!("E-CODE: ...", args)`.
macro_rules! fail {
    ($($arg:tt)*) => {{
        let mut message = $crate::boot::Failure::new();
        let _ = core::fmt::Write::write_fmt(&mut message, format_args!($($arg)*));
        message
    }};
}
pub(crate) use fail;

const MIB: u64 = 1024 * 1024;
const PAGE: u64 = 4096;
const CONFIG_AREA: u64 = MIB;
const CMDLINE_MAX: usize = 8 * 1024;

static mut CMDLINE: [u8; CMDLINE_MAX] = [0; CMDLINE_MAX];

unsafe extern "C" {
    static __runtime_end: u8;
}

fn align_up(value: u64, to: u64) -> u64 {
    value.div_ceil(to) * to
}

fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end && a.start < a.end && b.start < b.end
}

struct Layout {
    /// Upper memory: [1 MiB, end of the first RAM run).
    upper: Range<u64>,
    config_area: Range<u64>,
    scratch: Range<u64>,
    /// Conventional memory the runtime does not use, and below it the free page area.
    low_candidates: [Range<u64>; 2],
}

impl Layout {
    fn new(map: &MemoryMap) -> Result<Layout, Failure> {
        // The kernel runs in 32-bit mode and the Multiboot information holds 32-bit addresses:
        // nothing of ours goes above 4 GiB, even where RAM runs on past it.
        // Its top holds the network's receive buffers while files download (net/mod.rs).
        let upper = MIB..crate::net::buffer_area(map).start;
        if upper.end - upper.start < 8 * MIB {
            return Err(fail!(
                "E-MEM-LOW: only {} KiB of memory above 1 MiB: netloader needs at least 8 MiB",
                map.upper_kib()
            ));
        }
        let config_area = upper.end - CONFIG_AREA..upper.end;
        let scratch =
            align_up(upper.start + (upper.end - upper.start) / 2, PAGE)..config_area.start;
        // A linker symbol: only its address is taken.
        let runtime_end = align_up(&raw const __runtime_end as u64, PAGE);
        let conventional_end = (map.lower_kib() as u64 * 1024) & !(PAGE - 1);
        Ok(Layout {
            upper,
            config_area,
            scratch,
            low_candidates: [
                runtime_end..conventional_end.max(runtime_end),
                0x1000..0x7000,
            ],
        })
    }
}

fn download(
    net: &mut Net,
    lease: &Lease,
    line: &FileLine,
    region: Range<u64>,
) -> Result<MemorySink, Failure> {
    let path = line.source.path();
    // SAFETY: every region handed here lies in upper memory (RAM by the map) that the plan
    // reserves for this file.
    let mut sink = unsafe { MemorySink::new(region.start, region.end - region.start) };
    net.fetch(&line.source, lease, &mut sink)
        .map_err(|e| fail!("{e}"))?;
    println!(
        "file: {} {} bytes at {:#x} crc32 {:08x}",
        path,
        sink.len(),
        sink.start(),
        sink.crc32()
    );
    if let Some(expected) = line.sha256 {
        let digest = sink.sha256();
        if expected != digest {
            return Err(fail!(
                "E-HASH-MISMATCH: {} has sha256 {}, the config (line {}) expects {}: the file on the server is not the one the config names",
                line.source,
                Hex(&digest),
                line.line,
                Hex(&expected)
            ));
        }
        println!("file: {path}: sha256 matches the config");
    }
    Ok(sink)
}

/// Boot the config's default entry. Returns only on failure.
pub fn boot_config(
    net: &mut Net,
    lease: &Lease,
    map: &MemoryMap,
    config: &Config,
    name: &str,
) -> Failure {
    let index = crate::menu::choose(config);
    let Some(entry) = config.entry(index) else {
        return fail!("E-CONFIG-ENTRY: {name} has no entry {index}");
    };
    println!("boot: entry {} \"{}\"", index, entry.title);
    match boot_entry(net, lease, map, &entry, None) {
        Ok(never) => match never {},
        Err(failure) => failure,
    }
}

fn boot_entry(
    net: &mut Net,
    lease: &Lease,
    map: &MemoryMap,
    entry: &MenuEntry,
    downloaded: Option<MemorySink>,
) -> Result<core::convert::Infallible, Failure> {
    let kernel_line = &entry.kernel;
    let layout = Layout::new(map)?;
    let kernel_file = match downloaded {
        Some(sink) => sink,
        None => download(net, lease, kernel_line, layout.scratch.clone())?,
    };
    let path = kernel_line.source.path();
    let kernel = KernelImage::parse(kernel_file.bytes()).map_err(|e| match e {
        KernelError::Header(HeaderError::UnsupportedFlags(_)) => {
            fail!("E-KERNEL-FLAGS: {path}: {e}: the kernel needs a Multiboot feature netloader does not provide")
        }
        _ => fail!("E-KERNEL-FORMAT: {path}: {e}: check that it is a Multiboot kernel"),
    })?;
    let format = match kernel.format() {
        Format::Elf32 => "ELF32",
        Format::Elf64 => "ELF64",
        Format::AddressFields => "Multiboot address fields",
    };
    println!(
        "kernel: {path}: {format}, entry {:#x}, occupies {:#x}-{:#x}",
        kernel.entry(),
        kernel.extent().start,
        kernel.extent().end
    );

    // Place the segments: high ones now, low ones (over the runtime) staged for the trampoline.
    let mut copies = heapless::Vec::<handoff::Copy, { handoff::MAX_COPIES }>::new();
    let mut low_ranges = heapless::Vec::<Range<u64>, { handoff::MAX_COPIES }>::new();
    let kernel_high_end = kernel
        .placements()
        .map(|p| p.memory().end)
        .filter(|&e| e > MIB)
        .max()
        .unwrap_or(MIB);
    let mut staging = align_up(kernel_high_end.max(MIB), PAGE);
    for placement in kernel.placements() {
        let memory = placement.memory();
        if !map.is_ram(memory.start, memory.end) {
            return Err(fail!(
                "E-KERNEL-NORAM: {path}: a segment wants {:#x}-{:#x}, which is not usable RAM on this machine (see the memory map above)",
                memory.start,
                memory.end
            ));
        }
        let file_bytes = &kernel_file.bytes()[placement.file_range.clone()];
        if memory.start < MIB {
            if memory.end > MIB {
                return Err(fail!(
                    "E-KERNEL-NORAM: {path}: a segment spans {:#x}-{:#x}, across the hole below 1 MiB",
                    memory.start,
                    memory.end
                ));
            }
            let staged = staging..staging + file_bytes.len() as u64;
            if overlaps(&staged, &layout.scratch) {
                return Err(fail!(
                    "E-KERNEL-TOOBIG: {path}: the kernel does not fit in memory beside its download"
                ));
            }
            // SAFETY: `staged` is upper memory below the scratch area; the source is the
            // downloaded file.
            unsafe {
                core::ptr::copy(
                    file_bytes.as_ptr(),
                    staged.start as *mut u8,
                    file_bytes.len(),
                )
            };
            let copy = handoff::Copy {
                src: staged.start as u32,
                dst: memory.start as u32,
                len: file_bytes.len() as u32,
                zero: (placement.mem_size - file_bytes.len() as u64) as u32,
            };
            copies
                .push(copy)
                .map_err(|_| fail!("E-KERNEL-FORMAT: {path}: too many segments below 1 MiB"))?;
            let _ = low_ranges.push(memory.clone());
            staging = align_up(staged.end, PAGE);
        } else {
            if overlaps(&memory, &layout.scratch)
                || overlaps(&memory, &layout.config_area)
                || memory.end > layout.upper.end
            {
                return Err(fail!(
                    "E-KERNEL-TOOBIG: {path}: the segment at {:#x}-{:#x} reaches the loader's download area: give the machine more memory or load the kernel lower",
                    memory.start,
                    memory.end
                ));
            }
            // SAFETY: `memory` is RAM (checked), above the runtime and outside the download
            // areas; the source lies in the scratch area, which does not overlap it.
            unsafe {
                core::ptr::copy(
                    file_bytes.as_ptr(),
                    memory.start as *mut u8,
                    file_bytes.len(),
                );
                core::ptr::write_bytes(
                    (memory.start + file_bytes.len() as u64) as *mut u8,
                    0,
                    (placement.mem_size - file_bytes.len() as u64) as usize,
                );
            }
        }
    }

    // The trampoline and the MBI: free conventional memory no kernel byte lands on.
    let area = layout
        .low_candidates
        .iter()
        .find(|c| c.end > c.start + 8 * 1024 && !low_ranges.iter().any(|r| overlaps(r, c)))
        .cloned()
        .ok_or_else(|| fail!("E-KERNEL-LOWMEM: {path}: the kernel covers all free memory below 640 KiB; no room for the boot information"))?;

    // Modules, page-aligned after the kernel and what was staged.
    let mut next = align_up(staging, PAGE);
    let module_count = entry.module_count();
    let mut loaded = heapless::Vec::<(u32, u32), 256>::new();
    for (i, line) in entry.modules().enumerate() {
        if next >= layout.config_area.start {
            return Err(fail!(
                "E-MODULE-TOOBIG: {}: no memory left for module {} of {}",
                line.source.path(),
                i + 1,
                module_count
            ));
        }
        let sink = download(net, lease, &line, next..layout.config_area.start).map_err(|e| {
            if e.starts_with("E-TFTP-TOOBIG") || e.starts_with("E-HTTP-TOOBIG") {
                fail!(
                    "E-MODULE-TOOBIG: {}: it does not fit in the {} KiB of memory left ({e})",
                    line.source.path(),
                    (layout.config_area.start - next) / 1024
                )
            } else {
                e
            }
        })?;
        let end = sink.start() + sink.len();
        loaded
            .push((sink.start() as u32, end as u32))
            .map_err(|_| fail!("E-MODULE-COUNT: more than 256 modules"))?;
        next = align_up(end.max(next + 1), PAGE);
    }

    // The Multiboot information.
    let mbi_start = align_up(area.start + handoff::AREA_HEADER_BYTES, 16);
    // SAFETY: `area` is free conventional memory (chosen above), identity-mapped.
    let mbi_buf = unsafe {
        core::slice::from_raw_parts_mut(mbi_start as *mut u8, (area.end - mbi_start) as usize)
    };
    let mut mbi = MbiBuilder::new(mbi_buf, mbi_start as u32);
    mbi.memory(map.lower_kib(), map.upper_kib())
        .memory_map(map.entries());
    // SAFETY: CMDLINE is used only here, one command line at a time; the builder copies it.
    let cmdline = unsafe { &mut *(&raw mut CMDLINE) };
    let len = kernel_line.write_cmdline(cmdline).map_err(|e| fail!("E-CONFIG-CMDLINE: the command line of {path} (line {}) is {} bytes; at most {CMDLINE_MAX}: shorten it in the config", kernel_line.line, e.needed))?;
    mbi.cmdline(&cmdline[..len]);
    for (line, (start, end)) in entry.modules().zip(loaded.iter()) {
        let len = line.write_cmdline(cmdline).map_err(|e| fail!("E-CONFIG-CMDLINE: the command line of {} (line {}) is {} bytes; at most {CMDLINE_MAX}: shorten it in the config", line.source.path(), line.line, e.needed))?;
        mbi.module(*start, *end, &cmdline[..len]);
    }
    let mut name = heapless::String::<32>::new();
    let _ = write!(name, "netloader {}", crate::VERSION);
    mbi.boot_loader_name(name.as_bytes());
    let mbi_address = mbi.finish().map_err(|e| fail!("E-MBI: the boot information does not fit below 640 KiB ({e}): shorten the command lines"))?;

    println!(
        "boot: {} module(s), boot information at {:#x}, entering the kernel at {:#x}",
        loaded.len(),
        mbi_address,
        kernel.entry()
    );
    net.close();
    // SAFETY: segments placed or listed in `copies`, modules loaded, MBI built in `area`
    // (which no kernel byte overlaps), the card is closed.
    unsafe { handoff::enter(area.start..mbi_start, &copies, mbi_address, kernel.entry()) }
}

/// Find what to boot and boot it: the DHCP boot file (a config or a kernel), else the config
/// PXELINUX-style per host. Returns only on failure.
pub fn run(net: &mut Net, lease: &Lease, map: &MemoryMap, mac: [u8; 6]) -> Failure {
    let layout = match Layout::new(map) {
        Ok(layout) => layout,
        Err(failure) => return failure,
    };
    if let Some(text) = crate::embedded::config() {
        println!(
            "config: the one embedded in this image ({} bytes)",
            text.len()
        );
        return boot_config_bytes(net, lease, map, &layout, text, "the embedded config");
    }
    if let Some(file) = lease
        .boot
        .config_file
        .as_deref()
        .or(lease.boot.boot_file.as_deref())
    {
        // SAFETY: the scratch area is upper memory reserved for downloads.
        let mut sink = unsafe {
            MemorySink::new(
                layout.scratch.start,
                layout.scratch.end - layout.scratch.start,
            )
        };
        let source = match FileSource::from_dhcp(file) {
            Ok(source) => source,
            Err(e) => {
                return fail!(
                    "E-DHCP-FILE: the boot file \"{file}\" is not a usable URL ({e}): check the DHCP server's settings"
                );
            }
        };
        if let Err(e) = net.fetch(&source, lease, &mut sink) {
            return fail!("{e}");
        }
        println!(
            "file: {} {} bytes at {:#x} crc32 {:08x}",
            file,
            sink.len(),
            sink.start(),
            sink.crc32()
        );
        if is_multiboot_kernel(sink.bytes()) {
            println!("boot: {file} is a Multiboot kernel: booting it directly");
            // A path on the TFTP server as an absolute one; a URL as it is.
            let slash: &[u8] = match source {
                FileSource::Server { .. } => b"/",
                _ => b"",
            };
            let text = concat::<600>(&[
                b"menuentry \"",
                file.as_bytes(),
                b"\" { multiboot ",
                slash,
                file.trim_start_matches('/').as_bytes(),
                b" }",
            ]);
            let Ok(config) = Config::parse(&text) else {
                return fail!(
                    "E-DHCP-FILE: the boot file name \"{file}\" cannot be used as a path"
                );
            };
            let Some(entry) = config.entry(0) else {
                return fail!("E-DHCP-FILE: \"{file}\"");
            };
            return match boot_entry(net, lease, map, &entry, Some(sink)) {
                Ok(never) => match never {},
                Err(failure) => failure,
            };
        }
        return boot_config_bytes(net, lease, map, &layout, sink.bytes(), file);
    }
    // No boot file: look the config up per host, as PXELINUX does (under option 210's prefix,
    // which may be an http:// URL).
    let prefix = lease.boot.path_prefix.as_deref().unwrap_or("");
    let mut place = heapless::String::<300>::new();
    if netloader_proto::url::scheme_of(prefix).is_some() {
        let _ = place.push_str(prefix);
    } else if let Some(server) = lease.boot.tftp_server {
        let _ = write!(place, "{server}");
    } else {
        return fail!(
            "E-DHCP-NOSERVER: the DHCP answer names no TFTP server (next-server or option 66): check the DHCP server's settings"
        );
    }
    let mut tried = 0;
    for candidate in config_candidates(mac, lease.address) {
        let mut path = heapless::String::<300>::new();
        let _ = write!(path, "{prefix}netloader.cfg/{candidate}");
        let source = match FileSource::from_dhcp(&path) {
            Ok(source) => source,
            Err(e) => {
                return fail!(
                    "E-DHCP-FILE: the path prefix \"{prefix}\" (option 210) does not make a usable URL ({e}): check the DHCP server's settings"
                );
            }
        };
        // SAFETY: the config area is upper memory reserved for the config.
        let mut sink = unsafe { MemorySink::new(layout.config_area.start, CONFIG_AREA) };
        tried += 1;
        match net.fetch(&source, lease, &mut sink) {
            Ok(_) => {
                println!("config: found {path} on {place}");
                let bytes = sink.bytes();
                return match Config::parse(bytes) {
                    Ok(config) => boot_config(net, lease, map, &config, &path),
                    Err(e) => fail!("E-CONFIG-SYNTAX: {path}: {e}"),
                };
            }
            Err(e) if e.is_not_found() => println!("config: no {path}"),
            Err(e) => return fail!("{e}"),
        }
    }
    fail!(
        "E-CONFIG-NONE: no config on {place}: the DHCP answer names no boot file and none of the {tried} per-host names (netloader.cfg/01-<mac>, .../<IP in hex>, .../default) exists"
    )
}

/// A config that arrived in the scratch area: move it to the config area, then boot it.
fn boot_config_bytes(
    net: &mut Net,
    lease: &Lease,
    map: &MemoryMap,
    layout: &Layout,
    bytes: &[u8],
    name: &str,
) -> Failure {
    if bytes.len() as u64 > CONFIG_AREA {
        return fail!(
            "E-BOOTFILE: {name} is {} bytes: neither a Multiboot kernel nor a config (configs are at most 1 MiB)",
            bytes.len()
        );
    }
    // SAFETY: the config area is upper memory reserved for the config; the source (scratch)
    // does not overlap it.
    let text = unsafe {
        core::ptr::copy(
            bytes.as_ptr(),
            layout.config_area.start as *mut u8,
            bytes.len(),
        );
        core::slice::from_raw_parts(layout.config_area.start as *const u8, bytes.len())
    };
    match Config::parse(text) {
        Ok(config) => boot_config(net, lease, map, &config, name),
        Err(e) => fail!(
            "E-CONFIG-SYNTAX: {name}: {e} (the boot file is not a Multiboot kernel, so it was read as a config)"
        ),
    }
}

/// PXELINUX's order: 01-<mac>, the IP in upper-case hex shortened one digit at a time, default.
fn config_candidates(mac: [u8; 6], ip: Ipv4Addr) -> impl Iterator<Item = heapless::String<24>> {
    let mut mac_name = heapless::String::<24>::new();
    let _ = write!(
        mac_name,
        "01-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    let mut hex = heapless::String::<24>::new();
    let o = ip.octets();
    let _ = write!(hex, "{:02X}{:02X}{:02X}{:02X}", o[0], o[1], o[2], o[3]);
    let ips = (1..=8).rev().map(move |len| {
        let mut s = heapless::String::<24>::new();
        let _ = s.push_str(&hex[..len]);
        s
    });
    let mut default = heapless::String::<24>::new();
    let _ = default.push_str("default");
    core::iter::once(mac_name)
        .chain(ips)
        .chain(core::iter::once(default))
}

fn concat<const N: usize>(parts: &[&[u8]]) -> heapless::Vec<u8, N> {
    let mut v = heapless::Vec::new();
    for part in parts {
        let _ = v.extend_from_slice(part);
    }
    v
}

/// Does this file look like a Multiboot kernel?
pub fn is_multiboot_kernel(bytes: &[u8]) -> bool {
    Header::find(bytes).is_ok()
}
