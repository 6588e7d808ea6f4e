//! The Multiboot 1 test kernel. entry.s takes the 32-bit hand-off to long mode; `report`
//! checks what the loader gave and prints the `MB ...` report on COM1; then the kernel leaves
//! QEMU through isa-debug-exit (0x10 pass -> exit status 33, 0x11 fail -> 35) or, where that
//! device does not exist (Bochs), halts.
#![no_std]

mod mbi;
mod memfns;
mod phys;
mod report;
mod serial;
mod sha256;
mod text;

use serial::line;

core::arch::global_asm!(include_str!("entry.s"), options(att_syntax));

/// What entry.s recorded before it changed anything (layout documented there).
#[repr(C)]
pub struct EntryState {
    pub eax: u32,
    pub ebx: u32,
    pub cr0: u32,
    pub eflags: u32,
    pub selectors: [u32; 6],
    pub limits: [u32; 6],
    pub limit_ok: u32,
    pub base_ok: u32,
    pub high_reads_ok: u32,
    pub a20: u32,
    pub bss_nonzero_at: u32,
}

/// Called by entry.s in long mode, on the kernel's own stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_main(magic: u32, mbi: u32, state: &EntryState) -> ! {
    serial::init();
    let pass = report::run(magic, mbi, state);
    finish(pass)
}

/// Any CPU exception (entry.s points the whole IDT here). `frame` is the interrupted stack:
/// the first word is the error code for vectors that push one, else RIP.
#[unsafe(no_mangle)]
extern "C" fn kernel_fault(frame: *const u64) -> ! {
    let cr2: u64;
    // SAFETY: reading CR2 has no side effect.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    // SAFETY: `frame` is the kernel's own stack, where the CPU just pushed at least 5 words.
    let words = unsafe { core::slice::from_raw_parts(frame, 6) };
    line!("\nMB FAULT frame={:#x?} cr2={cr2:#x}", words);
    finish(false)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    line!("\nMB PANIC {info}");
    finish(false)
}

/// The prebuilt core refers to this (it was built with panic=unwind); never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

fn finish(pass: bool) -> ! {
    line!("MB VERDICT {}", if pass { "pass" } else { "fail" });
    serial::outb(0xf4, if pass { 0x10 } else { 0x11 });
    loop {
        // SAFETY: interrupts are off; halting for good is the point.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
