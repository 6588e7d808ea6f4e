//! netloader's runtime: the no_std program stage 1 starts (64-bit or 32-bit), or, built for
//! x86_64-unknown-uefi, netloader.efi, which the firmware starts (src/efi/); `arch` is the
//! platform layer. It owns the machine from here until it hands a kernel over.
#![no_std]
#![no_main]
// The option ROM's first stage uses the network half only: the rest is compiled but unused.
// netloader.efi drives the firmware's interface: the PCI glue and the BIOS paths (VGA text,
// the PXE ROM's answer) are compiled but unused there.
#![cfg_attr(
    any(feature = "chain", target_os = "uefi"),
    allow(dead_code, unused_imports)
)]
// Failures are fixed-size strings (there is no allocator), returned once per boot: their size
// costs nothing that matters, and boxing them is not possible.
#![allow(clippy::result_large_err)]
// `&mut *(&raw mut STATIC)` is how edition 2024 borrows a `static mut` (the `static_mut_refs`
// lint refuses `&mut STATIC`); clippy's deref_addrof suggestion would not compile.
#![allow(clippy::deref_addrof)]

mod arch;
mod boot;
#[cfg(not(target_os = "uefi"))]
mod boot_info;
#[cfg(feature = "chain")]
mod chain;
mod console;
mod download;
#[cfg(target_os = "uefi")]
mod efi;
mod embedded;
mod menu;
mod net;
mod nic;
mod pci;
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
mod pxe_stack;
mod time;
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
mod undi_rom;

#[cfg(not(target_os = "uefi"))]
use boot_info::BootInfo;
use console::OrNone;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Called by stage 2 (stage1/stage2.s) in the platform's mode (arch), interrupts off, on the boot stack (16 KiB
/// in .bss, enough for these first steps): everything from the network card to the hand-off
/// runs on the larger stack the layout sets aside in upper memory (boot/plan.rs), since
/// conventional memory has no room for it.
#[cfg(not(target_os = "uefi"))]
#[unsafe(no_mangle)]
extern "C" fn netloader_main(boot: &'static mut BootInfo) -> ! {
    console::init();
    arch::exceptions::init();
    println!("netloader {VERSION}");
    if boot.magic != boot_info::MAGIC {
        println!(
            "E-BOOTINFO: the hand-off record from stage 1 is damaged (magic {:#x}).",
            boot.magic
        );
        arch::halt_forever();
    }
    println!(
        "boot form: {} (BIOS drive {:#04x})",
        boot.form().describe(),
        boot.drive
    );
    println!("A20: {}", boot.a20_method());
    match time::init() {
        time::Source::Tsc(clock) => println!(
            "timer: TSC at {} MHz (measured against the PIT {} time(s), to {} ppm)",
            clock.per_ms / 1000,
            clock.tries,
            clock.uncertainty_ppm
        ),
        time::Source::Pit => println!("timer: PIT at 1.19 MHz (this CPU has no TSC)"),
    }
    #[cfg(not(feature = "chain"))]
    arch::bios::report_through_thunk(boot);
    // A PXE ROM's stack left resident is driven through UNDI or unloaded now, and on the other
    // forms a card without a native driver may get its option ROM's UNDI loaded: both change
    // the memory map, so this comes before anything reads it.
    #[cfg(not(feature = "chain"))]
    let kept = if !nic::UNDI_CARRIED {
        None
    } else if boot.form() == boot_info::BootForm::Pxe {
        pxe_stack::settle(boot)
    } else {
        undi_rom::load(boot)
    };
    let boot: &'static BootInfo = boot;
    let map = boot.memory_map();
    println!(
        "memory map ({}, {} entries, {} KiB conventional):",
        boot.memory_map_source(),
        map.entries().len(),
        boot.conventional_kib
    );
    // The option ROM's first stage leaves the list to netloader.pxe, which prints it again.
    if !cfg!(feature = "chain") {
        for entry in map.entries() {
            println!("  {entry}");
        }
    }
    println!(
        "memory: lower {} KiB, upper {} KiB, total usable {} MiB",
        map.lower_kib(),
        map.upper_kib(),
        map.total_ram() / (1024 * 1024)
    );
    println!("netloader: runtime ready ({}).", arch::NAME);

    let failure = match boot::Layout::new(&map) {
        Ok(layout) => {
            let mut failure = None;
            // SAFETY: the layout's stack is upper memory that nothing else uses while the
            // runtime runs (the load plan reserves it as netloader's own), 16-byte aligned.
            unsafe {
                arch::on_stack(layout.stack.end, || {
                    let pxe = boot.pxe().filter(|_| {
                        boot.form() == boot_info::BootForm::Pxe && !cfg!(feature = "chain")
                    });
                    let answer = pxe.map(net::from_rom);
                    failure = Some(network_boot(
                        &map,
                        answer,
                        boot.conventional_kib,
                        #[cfg(not(feature = "chain"))]
                        kept,
                    ));
                })
            };
            failure.unwrap_or_else(|| boot::Failure::new("E-PANIC", format_args!("no boot ran")))
        }
        Err(failure) => failure,
    };
    stop(&failure)
}

/// From the card to the boot: everything that needs the network. `answer`: the DHCP answer
/// the firmware got, where it did (the PXE form; netloader.efi by PXE); `kept`: a PXE ROM's
/// stack left resident for UNDI (BIOS forms). Returns only on failure.
fn network_boot(
    map: &netloader_proto::memmap::MemoryMap,
    answer: Option<net::FirmwareAnswer>,
    #[cfg_attr(not(feature = "chain"), allow(unused_variables))] conventional_kib: u16,
    #[cfg(all(not(feature = "chain"), not(target_os = "uefi")))] kept: Option<pxe_stack::KeptStack>,
) -> boot::Failure {
    #[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
    let nic = match kept {
        // The guard is a constant: a build without UNDI (an option ROM's) links none of it,
        // even where this function is not inlined into the one that knows `kept` is None.
        Some(kept) if nic::UNDI_CARRIED => nic::open_undi(kept),
        _ => nic::open_first(net::areas(map).nic_dma),
    };
    #[cfg(any(feature = "chain", target_os = "uefi"))]
    let nic = nic::open_first(net::areas(map).nic_dma);
    let nic = match nic {
        Ok(nic) => nic,
        Err(e) => return boot::Failure::from_line(e),
    };
    let mac = nic.mac();
    println!(
        "nic: MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    let mut net = net::Net::new(nic, map);
    let lease = match net.lease(answer, 20) {
        Ok(lease) => lease,
        Err(e) => return e.into(),
    };
    println!(
        "dhcp: address {}/{} from {}, router {}",
        lease.address,
        lease.prefix_len,
        lease.dhcp_server,
        OrNone(lease.router)
    );
    let params = &lease.boot;
    println!(
        "dhcp: tftp server {}, boot file {}, config {}, prefix {}",
        OrNone(params.tftp_server),
        OrNone(params.boot_file.as_deref()),
        OrNone(params.config_file.as_deref()),
        OrNone(params.path_prefix.as_deref())
    );
    #[cfg(not(feature = "chain"))]
    let failure = boot::run(&mut net, &lease, map, mac);
    #[cfg(feature = "chain")]
    let failure = chain::run(&mut net, &lease, map, conventional_kib);
    net.close();
    failure
}

/// How long a stopped loader waits before it tries the whole boot again by itself.
const RETRY_AFTER_S: u64 = 30;

/// Say why we stopped, on both consoles; then a key, or the timeout, starts the boot again
/// (through a reset, so every form goes through its BIOS path afresh).
fn stop(failure: &boot::Failure) -> ! {
    println!("{failure}");
    println!(
        "netloader: stopped. Press a key to try again (again by itself in {RETRY_AFTER_S} s)."
    );
    let start = time::now_ms();
    while time::now_ms() - start < RETRY_AFTER_S * 1000 {
        if menu::key_waiting() {
            break;
        }
        core::hint::spin_loop();
    }
    println!("netloader: restarting.");
    arch::reset()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // The option ROM's first stage names only where: without the message, the optimizer drops
    // every panic message's formatting code (the Debug impls behind `unwrap`s in the crates),
    // kilobytes a 56 KiB ROM cannot spare.
    if cfg!(feature = "chain") {
        match info.location() {
            Some(at) => println!("\nE-PANIC at {}:{}", at.file(), at.line()),
            None => println!("\nE-PANIC"),
        }
    } else {
        println!("\nE-PANIC: {info}");
    }
    println!("This is a netloader bug: please report it with this screen.");
    arch::halt_forever()
}

/// The prebuilt core refers to this (it was built with panic=unwind); never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}
