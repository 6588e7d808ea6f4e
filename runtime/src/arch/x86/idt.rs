//! 32-bit protected mode's exception table: 32 interrupt gates on stage 2's code selector.
//! There is no red zone in the i386 ABI, so the handlers run on whatever stack was in use. The
//! stubs end in `arch::exceptions::report`.

use core::ptr::addr_of;

/// Stage 2's flat 32-bit code selector (stage1/stage2.s).
const CODE_SELECTOR: u16 = 0x08;
const VECTORS: usize = 32;
const STUB_SIZE: u32 = 16;

static mut IDT: [u64; VECTORS] = [0; VECTORS];

unsafe extern "C" {
    /// Exception entry stubs, 32 of them, each `STUB_SIZE` bytes apart (below).
    static exception_stubs: u8;
}

/// What the entry stubs and the CPU push, lowest address first.
#[repr(C)]
struct ExceptionFrame {
    regs: [u32; 8], // edi, esi, ebp, esp, ebx, edx, ecx, eax (PUSHAD)
    vector: u32,
    error_code: u32,
    eip: u32,
    cs: u32,
    eflags: u32,
}

/// Install the IDT. Interrupts stay off: drivers poll.
pub fn install() {
    let stubs = addr_of!(exception_stubs) as u32;
    // SAFETY: runs once, single-threaded, before anything else uses the table, which lives
    // for the whole run; every gate points at its stub in the runtime's code.
    unsafe {
        let idt = &mut *(&raw mut IDT);
        for (vector, gate) in idt.iter_mut().enumerate() {
            let handler = stubs + vector as u32 * STUB_SIZE;
            // Present, DPL 0, 32-bit interrupt gate (type 0xE).
            *gate = u64::from(handler & 0xffff)
                | u64::from(CODE_SELECTOR) << 16
                | 0x8e << 40
                | u64::from(handler >> 16) << 48;
        }
        let mut pointer = [0u8; 6];
        pointer[..2].copy_from_slice(&((VECTORS * 8 - 1) as u16).to_le_bytes());
        pointer[2..].copy_from_slice(&(idt.as_ptr() as u32).to_le_bytes());
        core::arch::asm!("lidt [{}]", in(reg) pointer.as_ptr(), options(nostack));
    }
}

// One stub per vector, 16 bytes apart. Vectors without a CPU error code push a zero, so the
// frame has one shape.
core::arch::global_asm!(
    r#"
    .section .text.exceptions, "ax"
    .p2align 4
    .globl exception_stubs
exception_stubs:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .p2align 4
    .if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
    .else
    push 0
    .endif
    push \v
    jmp exception_common
    .endr

exception_common:
    pushad
    mov eax, esp
    and esp, -16
    sub esp, 12
    push eax
    call netloader_exception
2:
    cli
    hlt
    jmp 2b
"#
);

#[unsafe(no_mangle)]
extern "C" fn netloader_exception(frame: &ExceptionFrame) -> ! {
    let cr2: u32;
    // SAFETY: reading CR2 has no side effects.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    let _ = (frame.regs, frame.cs, frame.eflags);
    // No privilege change: the CPU pushed no ESP; the faulting code's ESP is just above EFLAGS.
    let sp =
        (frame as *const ExceptionFrame as usize + core::mem::size_of::<ExceptionFrame>()) as u64;
    crate::arch::exceptions::report(&crate::arch::exceptions::Fault {
        vector: frame.vector.into(),
        error_code: frame.error_code.into(),
        ip: frame.eip.into(),
        sp,
        cr2: cr2.into(),
    })
}
