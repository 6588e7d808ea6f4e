//! The platform layer: everything that depends on the CPU mode the runtime runs in. The rest
//! of the runtime uses only what this module exports, and no `#[cfg(target_arch)]` appears
//! anywhere else in it.
//!
//! Three platforms, one per runtime:
//!
//! | platform | module | target | entered in |
//! | --- | --- | --- | --- |
//! | x86_64 BIOS | `x86_64/` | `x86_64-unknown-linux-gnu` | long mode, identity-mapped 4 GiB, SSE on (by stage 2) |
//! | x86 BIOS | `x86/` | `i586-unknown-linux-gnu` | 32-bit protected mode, paging off, flat 4 GiB (by stage 2) |
//! | x86_64 UEFI | `x86_64/` and `uefi.rs` | `x86_64-unknown-uefi` | long mode on the firmware's page tables (by the firmware, at `efi_main`) |
//!
//! netloader.efi is the x86_64 platform's UEFI flavour: the same CPU mode, so the same CPUID,
//! TSC, stack switch and way out to the hand-off, but no stage 1 or 2, no IDT of its own (the
//! firmware keeps its interrupt table while boot services run), no real-mode thunk, and the
//! UEFI target's core brings its own memory functions. `uefi.rs` has what differs: the clock
//! calibrated against the firmware's Stall (the firmware owns the PIT), the reset through
//! ResetSystem, and the Multiboot 2 entry that keeps boot services.
//!
//! Beside the CPU, the layer answers what differs between a BIOS PC and UEFI firmware, below
//! and in `keyboard.rs`: the console's `Screen`, the menu's keyboard, the network interface
//! the firmware offers, the ACPI RSDP and APM, and the memory facts of the load plan
//! (`work_area`, `runtime_end`, `firmware_held`). The UEFI side calls into `crate::efi`.
//!
//! What each platform module gives (the interface, re-exported below):
//! - `NAME`, for the banner;
//! - `install_exception_handlers` (its IDT; every vector ends in `exceptions::report`);
//! - `cpuid`, `rdtsc`, `triple_fault`, `on_stack`;
//! - `enter_thunk`: its way into the real-mode thunk (`realmode.rs` has the 32- and 16-bit
//!   part both BIOS platforms share);
//! - `handoff_leave_code` and `jump_to_handoff`: its way out to the hand-off's 32-bit
//!   protected mode (`boot/handoff.rs` has the common part);
//! - `native_code_mode!()`: the assembler mode of its Rust code, for `global_asm!` blocks
//!   that switch modes to end with;
//! - `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp` (the linux-gnu cores expect libc's);
//! - its end of stage 2 (`stage1/stage2_long.s`, `stage1/stage2_x86.s`), assembled after the
//!   common `stage1/stage2.s` (BIOS only).
//!
//! Shared by both BIOS platforms: port I/O (`port`), the clock (`timer`: the TSC or the PIT),
//! the exception report, the real-mode thunk and the BIOS services (`bios`), stage 1.
//! Physical addresses are `u64` everywhere outside this layer; the 32-bit platform reaches
//! the first 4 GiB, which is all the runtime ever uses (the planner places nothing higher).

#[cfg(target_arch = "x86_64")]
#[path = "x86_64/mod.rs"]
mod platform;
#[cfg(target_arch = "x86")]
#[path = "x86/mod.rs"]
mod platform;

#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
pub mod bios;
#[cfg(not(target_os = "uefi"))]
pub mod exceptions;
pub mod keyboard;
pub mod port;
// The option ROM's first stage never calls the BIOS before its hand-off: no thunk there.
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
pub mod realmode;
pub mod timer;
#[cfg(target_os = "uefi")]
pub mod uefi;

pub(crate) use platform::native_code_mode;

/// The screen the console writes on beside COM1: VGA text on a BIOS PC, the firmware's text
/// output in netloader.efi.
#[cfg(not(target_os = "uefi"))]
pub use crate::console::VgaText as Screen;
#[cfg(target_os = "uefi")]
pub use uefi::Screen;

/// The memory the runtime's own areas come from (config, stack, download area, network
/// buffers; boot/plan.rs): on a BIOS the RAM from 1 MiB up to the first hole (below 4 GiB); in
/// netloader.efi the largest block it claimed from the firmware above 1 MiB (src/efi/memory.rs).
#[cfg(not(target_os = "uefi"))]
pub fn work_area(map: &netloader_proto::memmap::MemoryMap) -> core::ops::Range<u64> {
    const MIB: u64 = 1 << 20;
    MIB..(MIB + map.upper_kib() as u64 * 1024).min(netloader_proto::planner::LIMIT)
}
#[cfg(target_os = "uefi")]
pub use uefi::work_area;

/// One past the runtime's last byte in memory (.bss included) where it was loaded at its link
/// address (the BIOS runtimes, from 0x8000: link.ld's `__runtime_end`); `None` where the
/// firmware placed it (netloader.efi: its image is among `firmware_held`).
#[cfg(not(target_os = "uefi"))]
pub fn runtime_end() -> Option<u64> {
    unsafe extern "C" {
        static __runtime_end: u8;
    }
    // A linker symbol: only its address is taken.
    Some(&raw const __runtime_end as u64)
}
#[cfg(target_os = "uefi")]
pub fn runtime_end() -> Option<u64> {
    None
}

/// What the firmware holds until the kernel is entered, which the load plan keeps clear
/// (netloader.efi: boot services' memory and its own image, until ExitBootServices); nothing
/// on a BIOS PC beyond what the memory map reserves.
#[cfg(not(target_os = "uefi"))]
pub fn firmware_held() -> &'static [netloader_proto::memmap::E820Entry] {
    &[]
}
#[cfg(target_os = "uefi")]
pub use uefi::firmware_held;

/// What the firmware has for an OS (Multiboot 2's and Linux's boot information): the ACPI
/// RSDP and the APM BIOS's protected-mode interface. The option ROM's first stage boots no
/// kernel (and has no thunk for APM).
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
#[cfg_attr(
    not(any(feature = "multiboot2", feature = "linux")),
    allow(unused_imports)
)]
pub use bios::{apm, rsdp};
#[cfg(target_os = "uefi")]
pub use uefi::{apm, rsdp};

/// The network interface the firmware offers (UEFI's Simple Network Protocol, the registry's
/// `snp` driver), for a card no native driver takes, and the firmware's hold on the cards: on
/// UEFI a card with a native driver is taken from the firmware's drivers first (and given back
/// when the driver does not start), with the DMA memory the firmware's interface then needs.
/// None of it on a BIOS PC, whose runtimes find their card by PCI probe (or drive a PXE ROM's
/// UNDI) and own every card.
#[cfg(target_os = "uefi")]
pub use uefi::{
    FIRMWARE_NIC_DMA_LEN, firmware_snp_offered, give_card_back_to_firmware,
    take_card_from_firmware, take_firmware_snp,
};
#[cfg(not(target_os = "uefi"))]
pub const FIRMWARE_NIC_DMA_LEN: usize = 0;
#[cfg(not(target_os = "uefi"))]
pub fn firmware_snp_offered() -> bool {
    false
}
#[cfg(not(target_os = "uefi"))]
pub fn take_firmware_snp() -> Option<&'static mut dyn netloader_drivers::snp::SnpApi> {
    None
}
#[cfg(not(target_os = "uefi"))]
pub fn take_card_from_firmware(_card: &netloader_drivers::registry::Found) -> bool {
    true
}
#[cfg(not(target_os = "uefi"))]
pub fn give_card_back_to_firmware(
    _card: &netloader_drivers::registry::Found,
    _error: &netloader_drivers::registry::OpenError,
) -> bool {
    false
}
pub use platform::{NAME, handoff_leave_code, jump_to_handoff};

/// Where the hand-off's block keeps the GDTR operand (a 16-bit limit, then the base) and the
/// 32-bit code selector, which the platform's way out reads (boot/handoff.rs asserts them).
pub const HANDOFF_GDTR_AT: usize = 32;
pub const HANDOFF_CODE_SELECTOR_AT: usize = 80;

/// The section of the hand-off's code (`boot/handoff.rs` and the platform's way out): ELF's
/// flags for the BIOS runtimes, COFF's for netloader.efi (a PE image).
#[cfg(not(target_os = "uefi"))]
macro_rules! handoff_section {
    () => {
        ".section .text.handoff, \"ax\"\n"
    };
}
#[cfg(target_os = "uefi")]
macro_rules! handoff_section {
    () => {
        ".section .text, \"xr\"\n"
    };
}
pub(crate) use handoff_section;

// Stage 1 is assembled by rustc itself (no external assembler); link.ld places it. These
// pieces are 16-bit code, the same for every BIOS platform; stage 2 comes with the platform.
#[cfg(not(target_os = "uefi"))]
core::arch::global_asm!(
    include_str!("../../../stage1/bootsector.s"),
    options(att_syntax)
);
#[cfg(not(target_os = "uefi"))]
core::arch::global_asm!(include_str!("../../../stage1/rom.s"), options(att_syntax));
#[cfg(not(target_os = "uefi"))]
core::arch::global_asm!(include_str!("../../../stage1/pxe.s"), options(att_syntax));

/// Does the CPU have a time stamp counter (CPUID leaf 1, EDX bit 4)?
pub fn cpu_has_tsc() -> bool {
    platform::cpuid(1)[3] & (1 << 4) != 0
}

/// The time stamp counter; only where `cpu_has_tsc`.
pub fn rdtsc() -> u64 {
    platform::rdtsc()
}

/// Reset the machine: the firmware's ResetSystem on UEFI.
#[cfg(target_os = "uefi")]
pub fn reset() -> ! {
    uefi::reset()
}

/// Reset the machine: the keyboard controller's reset line, else a triple fault.
#[cfg(not(target_os = "uefi"))]
pub fn reset() -> ! {
    // SAFETY: pulsing the reset line (8042 command 0xFE) is what it is for.
    unsafe {
        let mut status = port::Port::<u8>::new(0x64);
        for _ in 0..100_000 {
            if status.read() & 2 == 0 {
                break;
            }
        }
        status.write(0xfe);
    }
    crate::time::delay_us(100_000);
    platform::triple_fault();
    halt_forever()
}

/// Stop for good: interrupts off, halt.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: CLI and HLT only stop this CPU, which is what is asked.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Runs `f` on the stack that ends at `stack_top` instead of the current one, then comes back:
/// for work whose frames the boot stack cannot carry (main.rs runs everything from the network
/// card on so; boot/fetch.rs builds the decompressors' ~43 KB state on its way to upper memory).
///
/// # Safety
/// `stack_top` is 16-byte aligned and ends memory below 4 GiB that nothing else uses while
/// `f` runs, large enough for `f`'s frames.
pub unsafe fn on_stack<F: FnOnce()>(stack_top: u64, f: F) {
    assert!(stack_top.is_multiple_of(16) && stack_top <= 1 << 32);
    // SAFETY: passed on to the caller.
    unsafe { platform::on_stack(stack_top, f) }
}
