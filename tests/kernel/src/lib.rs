//! The Multiboot test kernels. Each bin brings its entry: entry.s (Multiboot 1) or entry2.s
//! (Multiboot 2) takes the 32-bit hand-off to long mode (built for i586: stays in 32-bit
//! protected mode); `report` (Multiboot 1) or `report2`
//! (Multiboot 2) checks what the loader gave and prints the `MB ...` or `MB2 ...` report on
//! COM1; then the kernel leaves QEMU through isa-debug-exit (0x10 pass -> exit status 33, 0x11
//! fail -> 35) or, where that device does not exist (Bochs), halts.
#![no_std]

mod mbi;
mod mbi2;
mod memfns;
mod phys;
mod report;
mod report2;
mod serial;
mod sha256;
mod text;

use serial::line;

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
    /// Multiboot 2 only: where the kernel was loaded minus where it was linked, and the load
    /// base address tag it came from (0 without it).
    pub delta: u32,
    pub load_base: u32,
}

/// Called by entry.s in long mode (32-bit mode in the i586 build), on the kernel's own stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_main(magic: u32, mbi: u32, state: &EntryState) -> ! {
    serial::set_prefix("MB");
    serial::init();
    let pass = report::run(magic, mbi, state);
    finish(pass)
}

/// Called by entry2.s in long mode (32-bit mode in the i586 build), on the kernel's own stack.
#[unsafe(no_mangle)]
extern "C" fn kernel2_main(magic: u32, mbi: u32, state: &EntryState) -> ! {
    serial::set_prefix("MB2");
    serial::init();
    let pass = report2::run(magic, mbi, state);
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
    line!();
    line!("FAULT frame={:#x?} cr2={cr2:#x}", words);
    finish(false)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    line!();
    line!("PANIC {info}");
    finish(false)
}

/// The prebuilt core refers to this (it was built with panic=unwind); never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

fn finish(pass: bool) -> ! {
    line!("VERDICT {}", if pass { "pass" } else { "fail" });
    serial::outb(0xf4, if pass { 0x10 } else { 0x11 });
    loop {
        // SAFETY: interrupts are off; halting for good is the point.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
