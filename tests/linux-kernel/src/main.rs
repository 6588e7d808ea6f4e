//! The Linux boot protocol test kernel. entry.s takes the 32-bit hand-off (code32_start) to
//! long mode at the kernel's linked address wherever it was loaded; `report` checks the entry
//! state and the zero page and prints the `LX ...` report on COM1; then the kernel leaves QEMU
//! through isa-debug-exit (0x10 pass -> exit status 33, 0x11 fail -> 35) or halts. setup16.s
//! is the 16-bit entry for loaders that run the setup code (QEMU's -kernel).
#![no_std]
#![no_main]

// Shared with the Multiboot test kernel: not every function is used here.
#[allow(dead_code)]
#[path = "../../kernel/src/memfns.rs"]
mod memfns;
#[allow(dead_code)]
#[path = "../../kernel/src/phys.rs"]
mod phys;
mod report;
#[allow(dead_code)]
#[path = "../../kernel/src/serial.rs"]
mod serial;
#[allow(dead_code)]
#[path = "../../kernel/src/sha256.rs"]
mod sha256;
#[allow(dead_code)]
#[path = "../../kernel/src/text.rs"]
mod text;

use serial::line;

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(include_str!("entry.s"), options(att_syntax));
// Built for i586: the 32-bit kernel (entry.s's KERNEL32 parts), for CPUs without long mode.
#[cfg(target_arch = "x86")]
core::arch::global_asm!(
    concat!(".set KERNEL32, 1\n", include_str!("entry.s")),
    options(att_syntax)
);
core::arch::global_asm!(include_str!("setup16.s"), options(att_syntax));

/// What entry.s recorded before it changed anything (layout documented there).
#[repr(C)]
pub struct EntryState {
    pub ebx: u32,
    pub esi: u32,
    pub edi: u32,
    pub ebp: u32,
    pub eflags: u32,
    pub cr0: u32,
    pub cr4: u32,
    /// cs, ds, es, ss, fs, gs.
    pub selectors: [u32; 6],
}

/// Called by entry.s in long mode (32-bit protected mode with paging in the i586 build) at the
/// linked address, on the kernel's own stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_main(state: &EntryState, load_address: u32) -> ! {
    serial::init();
    let pass = report::run(state, load_address.into());
    finish(pass)
}

/// Any CPU exception (entry.s points the whole IDT here). `frame` is the interrupted stack:
/// the first word is the error code for vectors that push one, else RIP (EIP in the 32-bit
/// build).
#[unsafe(no_mangle)]
extern "C" fn kernel_fault(frame: *const usize) -> ! {
    let cr2: usize;
    // SAFETY: reading CR2 has no side effect.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    // SAFETY: `frame` is the kernel's own stack, where the CPU just pushed at least 5 words.
    let words = unsafe { core::slice::from_raw_parts(frame, 6) };
    line!("\nLX FAULT frame={:#x?} cr2={cr2:#x}", words);
    finish(false)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    line!("\nLX PANIC {info}");
    finish(false)
}

/// The prebuilt core refers to this (it was built with panic=unwind); never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

fn finish(pass: bool) -> ! {
    line!("LX VERDICT {}", if pass { "pass" } else { "fail" });
    serial::outb(0xf4, if pass { 0x10 } else { 0x11 });
    loop {
        // SAFETY: interrupts are off; halting for good is the point.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
