//! From a DHCP lease to a running kernel: find the config (or a kernel), choose an entry, and
//! boot it by its protocol. One module per protocol (multiboot.rs, ...) over the shared memory
//! plan (plan.rs, on `netloader_proto::planner`) and the hand-off (handoff.rs); every file
//! arrives through fetch.rs (inflated there when compressed); this file holds what they
//! share: finding what to boot, downloads, failures.

mod failure;
mod fetch;
pub(crate) mod handoff;
#[cfg(feature = "linux")]
mod linux;
mod multiboot;
#[cfg(all(feature = "multiboot2", not(feature = "chain")))]
mod multiboot2;
mod plan;
mod video;

use core::fmt::Write;

use netloader_proto::config::{
    Config, FileLine, FileSource, Kind, MenuEntry, PER_HOST_DIR, per_host_names,
};
use netloader_proto::decompress::Format;
use netloader_proto::memmap::MemoryMap;
use netloader_proto::multiboot::Header;
use netloader_proto::planner::Use;

pub use failure::Failure;
pub(crate) use failure::fail;
pub(crate) use plan::{Layout, work_area};

use crate::download::{Hex, MemorySink};
use crate::net::{Lease, Net};
use crate::println;
use fetch::{Destination, Fetched, FileSink};
use plan::{CONFIG_AREA, Planner};

/// The longest command line: a buffer of this size on the stack holds one at a time.
const CMDLINE_MAX: usize = 8 * 1024;

/// What every protocol module works with.
pub(crate) struct Session<'a, 'n> {
    pub net: &'a mut Net<'n>,
    pub lease: &'a Lease,
    pub map: &'a MemoryMap<'a>,
    pub layout: Layout,
}

impl Session<'_, '_> {
    /// Downloads a kernel file into the download area (see plan.rs), inflated if it is
    /// compressed.
    fn download_kernel(&mut self, line: &FileLine) -> Result<MemorySink, Failure> {
        let area = self.layout.scratch.clone();
        self.fetch(line, Destination::Area(area), "E-TFTP-TOOBIG")
    }

    /// Downloads a file to a place the planner finds for it (`what`, above `min`).
    fn download_planned(
        &mut self,
        plan: &mut Planner,
        line: &FileLine,
        what: Use,
        min: u64,
    ) -> Result<MemorySink, Failure> {
        let destination = Destination::Planned { plan, what, min };
        self.fetch(line, destination, "E-MODULE-TOOBIG")
    }

    /// Fetches `line`'s file into `destination` (inflated unless it is `--nounzip` or an
    /// initrd file), prints what arrived and checks its SHA-256 where the config gives one.
    /// `too_large`: the code for a file that finds no room.
    fn fetch(
        &mut self,
        line: &FileLine,
        destination: Destination,
        too_large: &'static str,
    ) -> Result<MemorySink, Failure> {
        let sink = FileSink::new(destination, !line.nounzip, line.sha256.is_some());
        let fetched = self.fetch_source(&line.source, sink, too_large)?;
        self.report(line, &fetched)?;
        Ok(fetched.memory)
    }

    /// The one place a boot's files are fetched: `source` (TFTP or HTTP: `Net::fetch`) into
    /// `sink`.
    fn fetch_source(
        &mut self,
        source: &FileSource,
        mut sink: FileSink,
        too_large: &'static str,
    ) -> Result<Fetched, Failure> {
        let path = source.path();
        if let Err(e) = self.net.fetch(source, self.lease, &mut sink) {
            let refusal = sink.refusal();
            sink.abandon();
            return Err(match refusal {
                Some(refusal) => refusal.failure(path, too_large),
                None => e.into(),
            });
        }
        sink.finish()
            .map_err(|refusal| refusal.failure(path, too_large))
    }

    /// Prints what arrived (the file as fetched; for a compressed file also what it inflated
    /// to), and checks its SHA-256 where the config gives one.
    fn report(&self, line: &FileLine, fetched: &Fetched) -> Result<(), Failure> {
        let path = line.source.path();
        print_fetched(path, fetched);
        if let (Some(expected), Some(digest)) = (line.sha256, fetched.sha256) {
            if expected != digest {
                // A path on the boot server names its server; a URL names its own.
                let mut origin = heapless::String::<600>::new();
                let _ = match (line.source, self.lease.boot.tftp_server) {
                    (FileSource::Server { path }, Some(server)) => {
                        write!(origin, "{path} from {server}")
                    }
                    (source, _) => write!(origin, "{source}"),
                };
                return Err(fail!(
                    "E-HASH-MISMATCH",
                    "{origin} has sha256 {}, the config (line {}) expects {}: the file on the server is not the one the config names",
                    Hex(&digest),
                    line.line,
                    Hex(&expected)
                ));
            }
            println!("file: {path}: sha256 matches the config");
        }
        Ok(())
    }
}

/// `file: PATH SIZE bytes at ADDRESS crc32 CRC`: size and CRC-32 of the file as fetched (what
/// `crc32` says of it on the server); a compressed file adds what it inflated to, and where.
fn print_fetched(path: &str, fetched: &Fetched) {
    let memory = &fetched.memory;
    match fetched.format {
        Format::Plain => println!(
            "file: {path} {} bytes at {:#x} crc32 {:08x}",
            fetched.fetched_len,
            memory.start(),
            fetched.crc32
        ),
        compressed => println!(
            "file: {path} {} bytes crc32 {:08x}, {} inflated to {} bytes at {:#x}",
            fetched.fetched_len,
            fetched.crc32,
            compressed.name(),
            memory.len(),
            memory.start()
        ),
    }
}

/// Writes `line`'s command line as Multiboot kernels get it from netloader into `buffer` and
/// returns it (without a NUL): the file's path as written, then its arguments, as GRUB
/// Legacy, iPXE, PXELINUX and QEMU do (see README, "Command lines").
fn cmdline<'b>(line: &FileLine, buffer: &'b mut [u8; CMDLINE_MAX]) -> Result<&'b [u8], Failure> {
    let len = line.path_cmdline().write_into(buffer).map_err(|e| {
        fail!(
            "E-CONFIG-CMDLINE",
            "the command line of {} (line {}) is {} bytes; at most {CMDLINE_MAX}: shorten it in the config",
            line.source.path(),
            line.line,
            e.needed
        )
    })?;
    Ok(&buffer[..len])
}

/// Modules an entry may have.
const MAX_MODULES: usize = 256;

/// Downloads an entry's modules, each page-aligned, above `above`: `(start, end)` of each.
fn load_modules(
    session: &mut Session,
    plan: &mut Planner,
    entry: &MenuEntry,
    above: u64,
) -> Result<heapless::Vec<(u32, u32), MAX_MODULES>, Failure> {
    let mut loaded = heapless::Vec::new();
    for (i, line) in entry.modules().enumerate() {
        if i >= MAX_MODULES {
            return Err(fail!(
                "E-MODULE-COUNT",
                "more than {MAX_MODULES} modules in one entry"
            ));
        }
        let sink = session.download_planned(plan, &line, Use::Module(i as u16), above)?;
        let _ = loaded.push((sink.start() as u32, (sink.start() + sink.len()) as u32));
    }
    Ok(loaded)
}

/// What a kernel started from UEFI is told of the firmware (Multiboot 2's EFI tags, Linux's
/// efi_info).
#[cfg(target_os = "uefi")]
pub(crate) struct EfiHandover {
    pub system_table: u64,
    pub image_handle: u64,
    /// The final memory map (after ExitBootServices), or the current one when boot services
    /// were kept.
    pub map: crate::efi::memory::FinalMap,
    pub boot_services_kept: bool,
}

/// The last step before the hand-off: the card closed and, in netloader.efi, boot services
/// ended (ExitBootServices), unless the kernel asked to keep them (Multiboot 2 header tag 7).
/// Nothing may use the firmware afterwards; the console prints on serial only.
#[cfg(target_os = "uefi")]
pub(crate) fn leave_firmware(
    net: &mut Net,
    keep_boot_services: bool,
) -> Result<EfiHandover, Failure> {
    use crate::efi;
    net.close();
    let map = if keep_boot_services {
        efi::pci::reconnect_taken();
        efi::memory::current_map()?
    } else {
        efi::memory::exit_boot_services()?
    };
    println!(
        "efi: {}, the firmware's memory map has {} descriptors",
        if keep_boot_services {
            "boot services kept (the kernel asked)"
        } else {
            "boot services ended (ExitBootServices)"
        },
        map.bytes.len() / map.descriptor_size.max(1) as usize
    );
    Ok(EfiHandover {
        system_table: efi::system_table_address(),
        image_handle: efi::image_handle() as u64,
        map,
        boot_services_kept: keep_boot_services,
    })
}

/// The boot loader name every protocol gives.
fn loader_name() -> heapless::String<32> {
    let mut name = heapless::String::new();
    let _ = write!(name, "netloader {}", crate::VERSION);
    name
}

/// The hand-off trampoline and the boot information after it, in conventional memory (the
/// information must stay below 640 KiB), reserved whole and cut down to what was used once the
/// information is built: the lowest free block with room for a large information (16 KiB),
/// else the largest. Low, as QEMU's loader (0x9500) and iPXE ("base memory") put it: the top
/// of conventional memory is where kernels build their real-mode trampoline, and Xen copies the
/// Multiboot information down from there while it reads it (placed there, the information was
/// overwritten and Xen hung before its first line).
fn low_area(plan: &mut Planner, path: &str) -> Result<core::ops::Range<u64>, Failure> {
    const ROOMY: u64 = handoff::AREA_HEADER_BYTES + 16 * 1024;
    let too_small = || {
        fail!(
            "E-KERNEL-LOWMEM",
            "{path}: the kernel covers all free memory below 640 KiB; no room for the boot information"
        )
    };
    let aligned = |block: core::ops::Range<u64>| plan::align_up(block.start, 16)..block.end;
    let lowest_roomy = || {
        let mut from = 0x1000;
        while let Some(block) = plan.free_from(from, 16).filter(|b| b.start < 0xA0000) {
            let block = block.start..block.end.min(0xA0000);
            if block.end - block.start >= ROOMY {
                return Some(block);
            }
            from = block.end;
        }
        None
    };
    let block = lowest_roomy()
        .or_else(|| plan.largest_free(0..0xA0000).map(aligned))
        .filter(|block| block.end > block.start + handoff::AREA_HEADER_BYTES + 4096)
        .ok_or_else(too_small)?;
    plan.reserve(block.clone(), Use::BootInfo)
        .map_err(|_| too_small())?;
    Ok(block)
}

/// Boot the config's default entry. Returns only on failure.
fn boot_config(session: &mut Session, config: &Config, name: &str) -> Failure {
    let index = crate::menu::choose(config);
    let Some(entry) = config.entry(index) else {
        return fail!("E-CONFIG-ENTRY", "{name} has no entry {index}");
    };
    println!("boot: entry {} \"{}\"", index, entry.title);
    match boot_entry(session, &entry, None) {
        Ok(never) => match never {},
        Err(failure) => failure,
    }
}

/// Boot one entry by its protocol; `downloaded` is its kernel file when it is already here.
fn boot_entry(
    session: &mut Session,
    entry: &MenuEntry,
    downloaded: Option<MemorySink>,
) -> Result<core::convert::Infallible, Failure> {
    match entry.kind {
        Kind::Multiboot => multiboot::boot(session, entry, downloaded),
        #[cfg(all(feature = "multiboot2", not(feature = "chain")))]
        Kind::Multiboot2 => multiboot2::boot(session, entry, downloaded),
        #[cfg(not(all(feature = "multiboot2", not(feature = "chain"))))]
        Kind::Multiboot2 => Err(fail!(
            "E-MB2-NOTBUILT",
            "{} (line {}): this netloader was built without Multiboot 2 (a --standalone option ROM has no room for it): start netloader.pxe from the ROM instead (netloader build --form rom without --standalone)",
            entry.kernel.source.path(),
            entry.kernel.line
        )),
        #[cfg(feature = "linux")]
        Kind::Linux => linux::boot(session, entry, downloaded),
        #[cfg(not(feature = "linux"))]
        Kind::Linux => Err(fail!(
            "E-LINUX-NOTBUILT",
            "{} (line {}): this netloader was built without Linux support (a --standalone option ROM has no room for it): start netloader.pxe from the ROM instead (netloader build --form rom without --standalone)",
            entry.kernel.source.path(),
            entry.kernel.line
        )),
    }
}

/// Find what to boot and boot it: the DHCP boot file (a config or a kernel), else the config
/// PXELINUX-style per host. Returns only on failure.
pub fn run(net: &mut Net, lease: &Lease, map: &MemoryMap, mac: [u8; 6]) -> Failure {
    let layout = match Layout::new(map) {
        Ok(layout) => layout,
        Err(failure) => return failure,
    };
    let config_area = layout.config_area.clone();
    let scratch = layout.scratch.clone();
    let mut session = Session {
        net,
        lease,
        map,
        layout,
    };
    if let Some(text) = crate::embedded::config() {
        println!(
            "config: the one embedded in this image ({} bytes)",
            text.len()
        );
        return boot_config_bytes(&mut session, text, "the embedded config");
    }
    if let Some(file) = lease
        .boot
        .config_file
        .as_deref()
        .or(lease.boot.boot_file.as_deref())
    {
        // A compressed kernel is inflated (and told by its inflated header), as in a config.
        let source = match FileSource::from_dhcp(file) {
            Ok(source) => source,
            Err(e) => {
                return fail!(
                    "E-DHCP-FILE",
                    "the boot file \"{file}\" is not a usable URL ({e}): check the DHCP server's settings"
                );
            }
        };
        let sink = FileSink::new(Destination::Area(scratch.clone()), true, false);
        let sink = match session.fetch_source(&source, sink, "E-TFTP-TOOBIG") {
            Ok(fetched) => {
                print_fetched(file, &fetched);
                fetched.memory
            }
            Err(failure) => return failure,
        };
        if let Some(kind) = kernel_kind(sink.bytes()) {
            println!(
                "boot: {file} is a {} kernel: booting it directly",
                kind.command()
            );
            let entry = MenuEntry::direct(kind, file);
            return match boot_entry(&mut session, &entry, Some(sink)) {
                Ok(never) => match never {},
                Err(failure) => failure,
            };
        }
        return boot_config_bytes(&mut session, sink.bytes(), file);
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
            "E-DHCP-NOSERVER",
            "the DHCP answer names no TFTP server (next-server or option 66): check the DHCP server's settings"
        );
    }
    let mut tried = 0;
    for candidate in per_host_names(mac, Some(lease.address.octets())) {
        let mut path = heapless::String::<300>::new();
        let _ = write!(path, "{prefix}{PER_HOST_DIR}/{candidate}");
        let source = match FileSource::from_dhcp(&path) {
            Ok(source) => source,
            Err(e) => {
                return fail!(
                    "E-DHCP-FILE",
                    "the path prefix \"{prefix}\" (option 210) does not make a usable URL ({e}): check the DHCP server's settings"
                );
            }
        };
        // SAFETY: the config area is upper memory reserved for the config.
        let mut sink = unsafe { MemorySink::new(config_area.start, CONFIG_AREA) };
        tried += 1;
        match session.net.fetch(&source, lease, &mut sink) {
            Ok(_) => {
                println!("config: found {path} on {place}");
                let bytes = sink.bytes();
                return match Config::parse(bytes) {
                    Ok(config) => boot_config(&mut session, &config, &path),
                    Err(e) => fail!("E-CONFIG-SYNTAX", "{path}: {e}"),
                };
            }
            Err(e) if e.is_not_found() => println!("config: no {path}"),
            Err(e) => return e.into(),
        }
    }
    fail!(
        "E-CONFIG-NONE",
        "no config on {place}: the DHCP answer names no boot file and none of the {tried} per-host names (netloader.cfg/01-<mac>, .../<IP in hex>, .../default) exists"
    )
}

/// A config that arrived in the scratch area: move it to the config area, then boot it.
fn boot_config_bytes(session: &mut Session, bytes: &[u8], name: &str) -> Failure {
    if bytes.len() as u64 > CONFIG_AREA {
        return fail!(
            "E-BOOTFILE",
            "{name} is {} bytes: neither a Multiboot kernel nor a config (configs are at most 1 MiB)",
            bytes.len()
        );
    }
    let config_area = session.layout.config_area.start;
    // SAFETY: the config area is upper memory reserved for the config; the source (scratch,
    // or the runtime image for an embedded config) does not overlap it.
    let text = unsafe {
        core::ptr::copy(bytes.as_ptr(), config_area as *mut u8, bytes.len());
        core::slice::from_raw_parts(config_area as *const u8, bytes.len())
    };
    match Config::parse(text) {
        Ok(config) => boot_config(session, &config, name),
        Err(e) => fail!(
            "E-CONFIG-SYNTAX",
            "{name}: {e} (the boot file is not a Multiboot kernel, so it was read as a config)"
        ),
    }
}

/// How a boot file that is itself a kernel is booted: by its Multiboot 2 header if it has one
/// (the richer information), else by its Multiboot 1 header.
fn kernel_kind(bytes: &[u8]) -> Option<Kind> {
    if cfg!(feature = "multiboot2") && netloader_proto::multiboot2::Header::find(bytes).is_ok() {
        Some(Kind::Multiboot2)
    } else {
        Header::find(bytes).is_ok().then_some(Kind::Multiboot)
    }
}
