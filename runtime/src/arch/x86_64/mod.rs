//! The 64-bit platform. BIOS: stage 2 enters long mode (identity-mapped 4 GiB in 2 MiB pages,
//! SSE on) and calls the runtime built for `x86_64-unknown-linux-gnu`. UEFI (netloader.efi,
//! `x86_64-unknown-uefi`): the firmware starts it in long mode; no stage 2, IDT, thunk or
//! memory functions of ours there (see `super`, and `super::uefi` for what differs).

#[cfg(not(target_os = "uefi"))]
mod idt;
#[cfg(not(target_os = "uefi"))]
mod memfns;
mod thunks;

#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
pub use thunks::enter_thunk;
pub use thunks::{handoff_leave_code, jump_to_handoff};

/// How the banner names this platform.
pub const NAME: &str = "64-bit";

/// Assembler mode of the Rust code, to end a `global_asm!` block that switched modes with.
macro_rules! native_code_mode {
    () => {
        "\n    .code64\n"
    };
}
pub(crate) use native_code_mode;

// Stage 2, the common 16-bit path, then this platform's end of it.
#[cfg(not(target_os = "uefi"))]
core::arch::global_asm!(
    concat!(
        include_str!("../../../../stage1/stage2.s"),
        include_str!("../../../../stage1/stage2_long.s")
    ),
    options(att_syntax)
);

#[cfg(not(target_os = "uefi"))]
pub fn install_exception_handlers() {
    idt::install();
}

/// CPUID leaf `leaf`: EAX, EBX, ECX, EDX. Every x86-64 CPU has the instruction.
pub fn cpuid(leaf: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid(leaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// The time stamp counter (only where CPUID reports one: `super::cpu_has_tsc`).
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; every x86-64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// An empty IDT, then an exception: the CPU cannot deliver it and resets (a triple fault).
pub fn triple_fault() {
    // SAFETY: that is the point; nothing runs after it.
    unsafe {
        let empty = [0u8; 10];
        core::arch::asm!("lidt [{}]", "int3", in(reg) empty.as_ptr());
    }
}

/// See `super::on_stack`.
///
/// # Safety
/// As `super::on_stack`.
pub unsafe fn on_stack<F: FnOnce()>(stack_top: u64, f: F) {
    // System V explicitly: the argument in RDI on every target (extern "C" is the Microsoft
    // x64 convention on UEFI, which takes RCX and writes 32 bytes above the new stack's top).
    extern "sysv64" fn run<F: FnOnce()>(f: &mut Option<F>) {
        if let Some(f) = f.take() {
            f()
        }
    }
    let mut f = Some(f);
    // SAFETY: the caller gives a free stack; RSP is kept in R12 (callee-saved, so `run`
    // leaves it alone) and restored after the call. The call is aligned as the ABI wants (the
    // new top is 16-byte aligned); everything `run` may clobber is declared.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {run}",
            "mov rsp, r12",
            top = in(reg) stack_top,
            run = sym run::<F>,
            in("rdi") &mut f,
            out("r12") _,
            clobber_abi("sysv64"),
        );
    }
}
