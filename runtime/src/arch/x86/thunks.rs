//! 32-bit protected mode's ways out: into the real-mode thunk and back, and into the
//! hand-off trampoline (`handoff_leave32`, copied with it). Paging is off already, so there is
//! no mode to leave but the segments.

/// Run the real-mode call the thunk's block describes (arch/realmode.rs).
///
/// # Safety
/// The block is filled in, and whatever the call writes is the caller's to vouch for.
#[cfg(not(feature = "chain"))]
pub unsafe fn enter_thunk() {
    // SAFETY: `realmode_call32` wants what this platform always is (32-bit protected mode,
    // paging off, flat segments) with interrupts off: the flags are saved and restored around
    // it. It preserves every register (PUSHAD/POPAD), the GDT, IDT and selectors; the
    // direction flag comes back with the flags. It pushes onto our stack, so no `nostack`.
    unsafe {
        core::arch::asm!(
            "pushfd",
            "cli",
            "call realmode_call32",
            "popfd",
            clobber_abi("C")
        )
    };
}

// The hand-off's way out of the runtime's segments (boot/handoff.rs copies it, then its
// 32-bit part right after it). Position-independent; EDX: the block.
core::arch::global_asm!(
    r#"
    .section .text.handoff, "ax"
    .code32
    .globl handoff_leave32
    .globl handoff_leave32_end
handoff_leave32:
    lgdtl {gdtr_at}(%edx)          # the block's own GDT (the low 4 bytes of its base)
    movl {code_at}(%edx), %eax     # its 32-bit code selector
    call 1f
1:  popl %ecx                      # where we run
    addl $(2f - 1b), %ecx
    pushl %eax
    pushl %ecx
    lretl
2:                                 # the 32-bit part follows
handoff_leave32_end:
"#,
    gdtr_at = const super::super::HANDOFF_GDTR_AT,
    code_at = const super::super::HANDOFF_CODE_SELECTOR_AT,
    options(att_syntax)
);

unsafe extern "C" {
    static handoff_leave32: u8;
    static handoff_leave32_end: u8;
}

/// The hand-off's first part on this platform.
pub fn handoff_leave_code() -> &'static [u8] {
    // SAFETY: the bytes between the two labels above, code the linker keeps whole.
    unsafe {
        let start = &raw const handoff_leave32;
        let len = (&raw const handoff_leave32_end as usize) - (start as usize);
        core::slice::from_raw_parts(start, len)
    }
}

/// Jump to the trampoline at `code`, its block at `block`.
///
/// # Safety
/// As `boot::handoff::enter`: the trampoline and its block are in place, nothing of the
/// runtime is needed any more.
pub unsafe fn jump_to_handoff(code: *const u8, block: *const u8) -> ! {
    // SAFETY: passed on to the caller.
    unsafe {
        core::arch::asm!("jmp {code}", code = in(reg) code, in("edx") block, options(noreturn))
    }
}
