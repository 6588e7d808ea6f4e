//! Long mode's exception table: every vector runs on its own stack (IST 1), because the
//! prebuilt core uses the red zone, which an exception frame pushed onto the running stack
//! would overwrite. The stubs end in `arch::exceptions::report`.

use core::ptr::addr_of;
use x86_64::VirtAddr;
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::structures::tss::TaskStateSegment;

const TSS_SELECTOR: u16 = 0x30;
const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut IST_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut TSS: TaskStateSegment = TaskStateSegment::new();
static mut IDT: InterruptDescriptorTable = InterruptDescriptorTable::new();

unsafe extern "C" {
    /// The TSS slot of stage 2's GDT (stage1/stage2.s).
    static mut gdt_tss: [u64; 2];
    /// Exception entry stubs, 32 of them, each `STUB_SIZE` bytes apart (below).
    static exception_stubs: u8;
}

/// What the entry stubs push, lowest address first.
#[repr(C)]
struct ExceptionFrame {
    regs: [u64; 15], // r15 .. rax, as pushed by the common stub
    vector: u64,
    error_code: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

/// Install the IDT and the TSS. Interrupts stay off: drivers poll.
pub fn install() {
    // SAFETY: runs once, single-threaded, before anything else uses these statics; the GDT slot
    // belongs to the runtime and the TSS/IDT live for the whole run.
    unsafe {
        let tss = &raw mut TSS;
        // `new_truncate` throughout: our addresses are low and canonical, and the checked
        // forms would link a panic path into the option ROM for nothing.
        (*tss).interrupt_stack_table[0] =
            VirtAddr::new_truncate(addr_of!(IST_STACK.0) as u64 + IST_STACK_SIZE as u64);
        let base = tss as u64;
        let limit = (core::mem::size_of::<TaskStateSegment>() - 1) as u64;
        // Available 64-bit TSS (type 9), present.
        let low = (limit & 0xffff)
            | ((base & 0xff_ffff) << 16)
            | (0x89 << 40)
            | (((limit >> 16) & 0xf) << 48)
            | (((base >> 24) & 0xff) << 56);
        let gdt = &raw mut gdt_tss;
        (*gdt)[0] = low;
        (*gdt)[1] = base >> 32;
        load_tss(SegmentSelector(TSS_SELECTOR));

        let idt = &raw mut IDT;
        let stubs = addr_of!(exception_stubs) as u64;
        for vector in 0..32u8 {
            if matches!(vector, 9 | 15 | 22..=27 | 31) {
                continue; // reserved or obsolete: the crate's IDT does not expose them
            }
            let addr = VirtAddr::new_truncate(stubs + vector as u64 * STUB_SIZE);
            let options = match vector {
                0 => (*idt).divide_error.set_handler_addr(addr),
                1 => (*idt).debug.set_handler_addr(addr),
                2 => (*idt).non_maskable_interrupt.set_handler_addr(addr),
                3 => (*idt).breakpoint.set_handler_addr(addr),
                4 => (*idt).overflow.set_handler_addr(addr),
                5 => (*idt).bound_range_exceeded.set_handler_addr(addr),
                6 => (*idt).invalid_opcode.set_handler_addr(addr),
                7 => (*idt).device_not_available.set_handler_addr(addr),
                8 => (*idt).double_fault.set_handler_addr(addr),
                10 => (*idt).invalid_tss.set_handler_addr(addr),
                11 => (*idt).segment_not_present.set_handler_addr(addr),
                12 => (*idt).stack_segment_fault.set_handler_addr(addr),
                13 => (*idt).general_protection_fault.set_handler_addr(addr),
                14 => (*idt).page_fault.set_handler_addr(addr),
                16 => (*idt).x87_floating_point.set_handler_addr(addr),
                17 => (*idt).alignment_check.set_handler_addr(addr),
                18 => (*idt).machine_check.set_handler_addr(addr),
                19 => (*idt).simd_floating_point.set_handler_addr(addr),
                20 => (*idt).virtualization.set_handler_addr(addr),
                21 => (*idt).cp_protection_exception.set_handler_addr(addr),
                28 => (*idt).hv_injection_exception.set_handler_addr(addr),
                29 => (*idt).vmm_communication_exception.set_handler_addr(addr),
                _ => (*idt).security_exception.set_handler_addr(addr),
            };
            options.set_stack_index(0);
        }
        (*idt).load_unsafe();
    }
}

const STUB_SIZE: u64 = 16;

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
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    and rsp, -16
    call netloader_exception
2:
    cli
    hlt
    jmp 2b
"#
);

#[unsafe(no_mangle)]
extern "C" fn netloader_exception(frame: &ExceptionFrame) -> ! {
    let _ = (frame.regs, frame.cs, frame.rflags, frame.ss);
    crate::arch::exceptions::report(&crate::arch::exceptions::Fault {
        vector: frame.vector,
        error_code: frame.error_code,
        ip: frame.rip,
        sp: frame.rsp,
        cr2: x86_64::registers::control::Cr2::read_raw(),
    })
}
