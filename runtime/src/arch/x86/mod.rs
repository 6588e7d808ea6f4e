//! The 32-bit BIOS platform: stage 2 stays in 32-bit protected mode (paging off, flat 4 GiB
//! segments, the FPU initialised) and calls the runtime built for `i586-unknown-linux-gnu`
//! (Pentium baseline: no SSE, no CMOV). It runs where long mode does not exist.

mod idt;
mod memfns;
mod thunks;

#[cfg(not(feature = "chain"))]
pub use thunks::enter_thunk;
pub use thunks::{handoff_leave_code, jump_to_handoff};

/// How the banner names this platform.
pub const NAME: &str = "32-bit";

/// Assembler mode of the Rust code, to end a `global_asm!` block that switched modes with.
macro_rules! native_code_mode {
    () => {
        "\n    .code32\n"
    };
}
pub(crate) use native_code_mode;

// Stage 2, the common 16-bit path, then this platform's end of it.
core::arch::global_asm!(
    concat!(
        include_str!("../../../../stage1/stage2.s"),
        include_str!("../../../../stage1/stage2_x86.s")
    ),
    options(att_syntax)
);

pub fn install_exception_handlers() {
    idt::install();
}

/// CPUID leaf `leaf`: EAX, EBX, ECX, EDX.
pub fn cpuid(leaf: u32) -> [u32; 4] {
    // (Stage 2 refuses a CPU without CPUID: E-CPU-OLD.)
    let r = core::arch::x86::__cpuid(leaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// The time stamp counter (only where CPUID reports one: `super::cpu_has_tsc`).
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; the caller checked that the CPU has it.
    unsafe { core::arch::x86::_rdtsc() }
}

/// An empty IDT, then an exception: the CPU cannot deliver it and resets (a triple fault).
pub fn triple_fault() {
    // SAFETY: that is the point; nothing runs after it.
    unsafe {
        let empty = [0u8; 6];
        core::arch::asm!("lidt [{}]", "int3", in(reg) empty.as_ptr());
    }
}

/// See `super::on_stack`.
///
/// # Safety
/// As `super::on_stack`.
pub unsafe fn on_stack<F: FnOnce()>(stack_top: u64, f: F) {
    extern "C" fn run<F: FnOnce()>(f: &mut Option<F>) {
        if let Some(f) = f.take() {
            f()
        }
    }
    let mut f = Some(f);
    // SAFETY: the caller gives a free stack below 4 GiB; ESP is kept in EDI (callee-saved,
    // so `run` leaves it alone) and restored after the call. `run` takes its argument on the
    // stack; the new top is 16-byte aligned, so ESP is too at the call, as the ABI wants;
    // everything `run` may clobber is declared.
    unsafe {
        core::arch::asm!(
            "mov edi, esp",
            "mov esp, {top}",
            "sub esp, 12",
            "push {f}",
            "call {run}",
            "mov esp, edi",
            top = in(reg) stack_top as u32,
            f = in(reg) &mut f,
            run = sym run::<F>,
            out("edi") _,
            clobber_abi("C"),
        );
    }
}
