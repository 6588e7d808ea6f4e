//! The hand-off: a small position-independent trampoline, copied to free low memory, leaves
//! long mode, copies the kernel segments that had to wait (those over the runtime itself),
//! and enters the kernel the way Multiboot 1 says: 32-bit protected mode, paging off, flat
//! segments, A20 on, interrupts off, EAX = 0x2BADB002, EBX = the information structure.

use core::ops::Range;

/// One deferred copy: `len` bytes from `src` to `dst`, then `zero` zero bytes.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Copy {
    pub src: u32,
    pub dst: u32,
    pub len: u32,
    pub zero: u32,
}

#[repr(C)]
struct Block {
    mbi: u32,
    entry: u32,
    count: u32,
    _pad: u32,
}

/// Bytes the trampoline needs at the start of its area: code, then the block and the copies.
pub const CODE_BYTES: u64 = 256;
pub const MAX_COPIES: usize = 32;
pub const AREA_HEADER_BYTES: u64 = CODE_BYTES + 16 + 16 * MAX_COPIES as u64;

unsafe extern "C" {
    static handoff_start: u8;
    static handoff_end: u8;
}

core::arch::global_asm!(
    r#"
    .section .text.handoff, "ax"
    .code64
    .globl handoff_start
    .globl handoff_end
handoff_start:                     # EDI: the block, below 4 GiB
    leaq 1f(%rip), %rax
    pushq $0x08                    # 32-bit code segment of stage 2's GDT
    pushq %rax
    lretq                          # to compatibility mode
    .code32
1:  movl %cr0, %eax
    andl $0x7fffffff, %eax         # paging off: long mode ends
    movl %eax, %cr0
    movl $0xc0000080, %ecx
    rdmsr
    andl $0xfffffeff, %eax         # EFER.LME off
    wrmsr
    movl %edi, %edx                # (rdmsr and wrmsr use EDX)
    movl $0x10, %eax               # flat data segments
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl 8(%edx), %ebp             # copies: no stack from here on (it may be overwritten)
    leal 16(%edx), %ebx
    cld
2:  testl %ebp, %ebp
    jz 3f
    movl 0(%ebx), %esi
    movl 4(%ebx), %edi
    movl 8(%ebx), %ecx
    rep movsb
    movl 12(%ebx), %ecx
    xorl %eax, %eax
    rep stosb
    addl $16, %ebx
    decl %ebp
    jmp 2b
3:  movl 4(%edx), %ecx
    movl 0(%edx), %ebx
    movl $0x2badb002, %eax
    jmp *%ecx
handoff_end:
    .code64
"#,
    options(att_syntax)
);

/// Jump to the kernel. `area` is low memory that no kernel byte lands on, at least
/// AREA_HEADER_BYTES long; the MBI may follow it.
///
/// # Safety
/// Everything is in place: segments loaded (or listed in `copies`), modules, the MBI at `mbi`;
/// the NIC is closed. Nothing of the runtime is needed after this.
pub unsafe fn enter(area: Range<u64>, copies: &[Copy], mbi: u32, entry: u32) -> ! {
    assert!(copies.len() <= MAX_COPIES && area.end - area.start >= AREA_HEADER_BYTES);
    // SAFETY: the caller guarantees `area` is free low memory; the trampoline is copied there
    // byte for byte (it is position-independent), then the block and the copy list.
    unsafe {
        let start = &raw const handoff_start;
        let len = (&raw const handoff_end as usize) - (start as usize);
        assert!(len as u64 <= CODE_BYTES);
        let code = area.start as *mut u8;
        core::ptr::copy_nonoverlapping(start, code, len);
        let block = (area.start + CODE_BYTES) as *mut Block;
        block.write(Block {
            mbi,
            entry,
            count: copies.len() as u32,
            _pad: 0,
        });
        let list = (area.start + CODE_BYTES + 16) as *mut Copy;
        core::ptr::copy_nonoverlapping(copies.as_ptr(), list, copies.len());
        core::arch::asm!("jmp {code}", code = in(reg) code, in("rdi") block, options(noreturn));
    }
}
