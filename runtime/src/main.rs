//! netloader's runtime: the 64-bit no_std program stage 1 starts. It owns the machine from here
//! until it hands a kernel over.
#![no_std]
#![no_main]

mod arch;
mod boot_info;
mod console;
mod download;
mod net;
mod nic;
mod pci;
mod time;

use boot_info::BootInfo;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Called by stage 2 (stage1/stage2.s) in long mode, interrupts off, on the boot stack.
#[unsafe(no_mangle)]
extern "C" fn netloader_main(boot: &'static BootInfo) -> ! {
    console::init();
    arch::exceptions::init();
    println!("netloader {VERSION}");
    if boot.magic != boot_info::MAGIC {
        println!("E-BOOTINFO: the hand-off record from stage 1 is damaged (magic {:#x}).", boot.magic);
        arch::halt_forever();
    }
    println!("boot form: {} (BIOS drive {:#04x})", boot.form().describe(), boot.drive);
    println!("A20: {}", boot.a20_method());
    let map = boot.memory_map();
    println!(
        "memory map ({}, {} entries, {} KiB conventional):",
        boot.memory_map_source(),
        map.entries().len(),
        boot.conventional_kib
    );
    for entry in map.entries() {
        println!("  {entry}");
    }
    println!(
        "memory: lower {} KiB, upper {} KiB, total usable {} MiB",
        map.lower_kib(),
        map.upper_kib(),
        map.total_ram() / (1024 * 1024)
    );
    println!("netloader: runtime ready (64-bit).");
    let tsc_khz = time::init();
    println!("timer: TSC at {} MHz", tsc_khz / 1000);

    if let Err(error) = network_boot(&map) {
        stop(&error);
    }
    arch::halt_forever()
}

/// From the card to the boot: everything that needs the network.
fn network_boot(map: &netloader_proto::memmap::MemoryMap) -> Result<(), Failure> {
    let mut card = nic::open_first().map_err(Failure::Nic)?;
    let nic = card.nic();
    let mac = nic.mac();
    println!(
        "nic: MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    let mut net = net::Net::new(nic);
    let lease = net.dhcp(20).map_err(Failure::Net)?;
    println!(
        "dhcp: address {}/{} from {}, router {:?}",
        lease.address, lease.prefix_len, lease.dhcp_server, lease.router
    );
    let boot = &lease.boot;
    println!(
        "dhcp: tftp server {:?}, boot file {:?}, config {:?}, prefix {:?}",
        boot.tftp_server,
        boot.boot_file.as_deref(),
        boot.config_file.as_deref(),
        boot.path_prefix.as_deref()
    );
    let server = boot.tftp_server.ok_or(Failure::NoServer)?;
    let file = boot.boot_file.as_deref().ok_or(Failure::NoBootFile)?;
    // The scratch area: the RAM from 1 MiB up to the first hole.
    let start = 0x10_0000u64;
    let capacity = map.upper_kib() as u64 * 1024;
    // SAFETY: [1 MiB, 1 MiB + upper memory) is RAM by the memory map and the runtime lives
    // below 640 KiB.
    let mut sink = unsafe { download::MemorySink::new(start, capacity) };
    net.tftp_get(server, file, &mut sink).map_err(Failure::Net)?;
    println!("file: {} {} bytes at {:#x} sha256 {}", file, sink.len(), sink.start(), download::Hex(&sink.sha256()));
    net.close();
    Err(Failure::NothingToBoot)
}

/// Why the network boot stopped.
enum Failure {
    Nic(nic::NoCard),
    Net(net::NetError),
    NoServer,
    NoBootFile,
    NothingToBoot,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Failure::Nic(e) => write!(f, "{e}"),
            Failure::Net(e) => write!(f, "{e}"),
            Failure::NoServer => write!(f, "E-DHCP-NOSERVER: the DHCP answer names no TFTP server (next-server or option 66): check the DHCP server's settings"),
            Failure::NoBootFile => write!(f, "E-DHCP-NOFILE: the DHCP answer names no boot file (file field or option 67): check the DHCP server's settings"),
            Failure::NothingToBoot => write!(f, "E-BOOT-NOTHING: the boot file was downloaded, but booting it is not implemented yet"),
        }
    }
}

/// Say why we stopped, on both consoles, then wait.
fn stop(failure: &Failure) -> ! {
    println!("{failure}");
    println!("netloader: stopped.");
    arch::halt_forever()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("\nE-PANIC: {info}");
    println!("This is a netloader bug: please report it with this screen.");
    arch::halt_forever()
}

/// The prebuilt core refers to this (it was built with panic=unwind); never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}
