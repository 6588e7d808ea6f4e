//! Long mode's ways out: into the real-mode thunk and back (`realmode_enter64`), and into
//! the hand-off trampoline (`handoff_leave64`, copied with it).

// The way into the thunk from long mode (arch/realmode.rs has the rest), on the thunk's GDT
// (`realmode_gdtr`): 0x08 32-bit code, 0x10 data, 0x28 64-bit code. Not in the option ROM's
// first stage, which has no thunk, nor in netloader.efi (no BIOS to call).
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
core::arch::global_asm!(
    r#"
    .set RM_CODE32, 0x08
    .set RM_DATA32, 0x10
    .set RM_CODE64, 0x28
    # The block and the saved state: fixed low memory, off the pages of code (a write to a
    # page that holds translated code costs QEMU's TCG a retranslation, each call).
    .set rm_block, {block_at}
    .set rm_save_rsp, rm_block + 0x40
    .set rm_save_cr0, rm_block + 0x48
    .set rm_save_cr3, rm_block + 0x50
    .set rm_save_cr4, rm_block + 0x58
    .set rm_save_efer, rm_block + 0x60
    .set rm_save_gdtr64, rm_block + 0x68
    .set rm_save_idtr64, rm_block + 0x78
    .set rm_save_cs64, rm_block + 0x88
    .set rm_save_ss64, rm_block + 0x8a
    .set rm_save_ds64, rm_block + 0x8c
    .set rm_save_es64, rm_block + 0x8e

    .section .stage2.realmode, "ax"
    .code64
    .globl realmode_enter64
realmode_enter64:
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushfq
    cli
    movq %rsp, rm_save_rsp
    sgdt rm_save_gdtr64
    sidt rm_save_idtr64
    movq %cr0, %rax
    movq %rax, rm_save_cr0
    movq %cr3, %rax
    movq %rax, rm_save_cr3
    movq %cr4, %rax
    movq %rax, rm_save_cr4
    movl $0xc0000080, %ecx
    rdmsr
    movl %eax, rm_save_efer
    movl %edx, rm_save_efer + 4
    movw %cs, rm_save_cs64
    movw %ss, rm_save_ss64
    movw %ds, rm_save_ds64
    movw %es, rm_save_es64
    lgdt realmode_gdtr
    pushq $RM_CODE32
    pushq $1f
    lretq                          # to compatibility mode
    .code32
1:  movl $RM_DATA32, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl %cr0, %eax
    andl $0x7fffffff, %eax         # paging off: long mode ends (identity-mapped code)
    movl %eax, %cr0
    movl %cr4, %eax
    andl $~0xa0, %eax              # PAE, PGE off: the state a 32-bit ROM expects
    movl %eax, %cr4
    movl $0xc0000080, %ecx
    rdmsr
    andl $~0x100, %eax             # EFER.LME off
    wrmsr
    call realmode_call32
    movl $0xc0000080, %ecx         # back up: EFER, CR4, CR3, then paging on
    movl rm_save_efer, %eax
    movl rm_save_efer + 4, %edx
    wrmsr
    movl rm_save_cr4, %eax
    movl %eax, %cr4
    movl rm_save_cr3, %eax
    movl %eax, %cr3
    movl rm_save_cr0, %eax
    movl %eax, %cr0                # long mode active again (compatibility mode)
    ljmpl $RM_CODE64, $2f
    .code64
2:  lgdt rm_save_gdtr64
    lidt rm_save_idtr64
    movw rm_save_ss64, %ss
    movw rm_save_ds64, %ds
    movw rm_save_es64, %es
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movq rm_save_rsp, %rsp
    movzwq rm_save_cs64, %rax
    pushq %rax
    pushq $3f
    lretq                          # the caller's own code segment
3:  popfq
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    cld
    retq
"#,
    block_at = const super::super::realmode::BLOCK_AT,
    options(att_syntax)
);

/// Run the real-mode call the thunk's block describes (arch/realmode.rs).
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
///
/// # Safety
/// The block is filled in, and whatever the call writes is the caller's to vouch for.
pub unsafe fn enter_thunk() {
    // SAFETY: `realmode_enter64` saves and restores every register the ABI asks for (rbx, rbp,
    // r12-r15, rsp, DF clear) and the whole CPU state it changes; the rest is declared
    // clobbered. It pushes onto our stack, so no `nostack`.
    unsafe { core::arch::asm!("call realmode_enter64", clobber_abi("sysv64")) };
}

// The hand-off's way out of long mode (boot/handoff.rs copies it, then its 32-bit part right
// after it). Position-independent; RDI: the block, below 4 GiB.
core::arch::global_asm!(
    super::super::handoff_section!(),
    r#"
    .code64
    .globl handoff_leave64
    .globl handoff_leave64_end
handoff_leave64:
    cli                            # (UEFI ran with interrupts on; the BIOS runtime without)
    lgdt {gdtr_at}(%rdi)           # the block's own GDT
    movl {code_at}(%rdi), %eax     # its 32-bit code selector
    leaq 1f(%rip), %rcx
    pushq %rax
    pushq %rcx
    lretq                          # to compatibility mode
    .code32
1:  movl %cr0, %eax
    andl $0x7fffffff, %eax         # paging off: long mode ends
    movl %eax, %cr0
    movl $0xc0000080, %ecx
    rdmsr
    andl $0xfffffeff, %eax         # EFER.LME off
    wrmsr
    movl %cr4, %eax
    andl $~0xa0, %eax              # PAE, PGE off: a kernel that turns paging on without
    movl %eax, %cr4                # writing CR4 (a non-PAE 32-bit Linux) expects them clear
    movl %edi, %edx                # (rdmsr and wrmsr use EDX); the 32-bit part follows
handoff_leave64_end:
    .code64
"#,
    gdtr_at = const super::super::HANDOFF_GDTR_AT,
    code_at = const super::super::HANDOFF_CODE_SELECTOR_AT,
    options(att_syntax)
);

unsafe extern "C" {
    static handoff_leave64: u8;
    static handoff_leave64_end: u8;
}

/// The hand-off's first part on this platform.
pub fn handoff_leave_code() -> &'static [u8] {
    // SAFETY: the bytes between the two labels above, code the linker keeps whole.
    unsafe {
        let start = &raw const handoff_leave64;
        let len = (&raw const handoff_leave64_end as usize) - (start as usize);
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
        core::arch::asm!("jmp {code}", code = in(reg) code, in("rdi") block, options(noreturn))
    }
}
