//! Calls into real mode and back: `INT n` or a far call (the PXE API's entry) with a register
//! set, from either BIOS platform.
//!
//! The way down and up, each layer its own piece of code:
//! - the platform's way in (`super::platform::enter_thunk`). Long mode
//!   (`x86_64/thunks.rs`, `realmode_enter64`): saves RSP, CR0/CR3/CR4, EFER, GDTR, IDTR and
//!   the segment selectors, loads the thunk's own GDT, goes through compatibility mode to
//!   32-bit protected mode (paging off, EFER.LME off, CR4.PAE/PGE off so that a ROM which
//!   turns on paging of its own finds the classic state), calls `realmode_call32`, then
//!   restores all of it in the reverse order and returns to the caller's code segment. 32-bit
//!   protected mode (`x86/thunks.rs`): the flags saved, interrupts off, `realmode_call32`.
//! - `realmode_call32` (32-bit protected mode, paging off): 16-bit protected mode (64 KiB
//!   segments, so the hidden limits suit real mode), real mode with CS = 0, the real-mode stack
//!   below 0x7C00 and the BIOS's interrupt vectors (IDTR = 0:3FF), the call itself, then back
//!   to 32-bit protected mode with the caller's GDT, IDT and selectors.
//! - the call: the words of `stack` pushed in order, then for `INT n` the flags image and a far
//!   call through the vector at 0:4n (what the INT instruction does), for a far call just the
//!   far call; registers in and out through `Block`.
//!
//! A20 stays as it is. Interrupts stay off, in real mode too, unless the caller sets IF in
//! `Registers::flags` (the UNDI driver does: a PXE ROM may count BIOS timer ticks while it
//! waits); they are off again before the way back up. The code and its data live in stage 2's
//! section (below 64 KiB, CS = 0 in real mode); its block and saved state, the bounce buffer
//! and the real-mode stack are fixed (docs/architecture.md, "Memory below 1 MiB").

use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};

/// The bounce buffer: parameter blocks and data the BIOS or a ROM reads and writes.
pub const BOUNCE_AT: usize = 0x0800;
pub const BOUNCE_LEN: usize = 0x0800;
/// Top of the real-mode stack (it grows down from here, over stage 1's old stack).
const STACK_TOP: u16 = 0x7c00;
/// The most words `far_call` pushes.
pub const MAX_STACK_WORDS: usize = 8;

/// The carry flag: most BIOS services report failure in it.
pub const FLAG_CARRY: u16 = 0x0001;
/// The interrupt flag: set it to run the call with interrupts enabled.
pub const FLAG_INTERRUPTS: u16 = 0x0200;

/// A real-mode address, segment:offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FarPtr {
    pub segment: u16,
    pub offset: u16,
}

impl FarPtr {
    /// As stored in memory by x86 code (offset in the low half).
    pub fn from_u32(value: u32) -> FarPtr {
        FarPtr {
            segment: (value >> 16) as u16,
            offset: value as u16,
        }
    }

    pub fn to_u32(self) -> u32 {
        (u32::from(self.segment) << 16) | u32::from(self.offset)
    }
}

/// The registers a real-mode call takes and gives back (32-bit forms: E820 needs them).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
    pub esi: u32,
    pub edi: u32,
    pub ebp: u32,
    pub ds: u16,
    pub es: u16,
    /// FLAGS: in, what the call starts with (only IF is honoured besides the arithmetic
    /// flags); out, what it returned (IF as it was inside).
    pub flags: u16,
}

impl Registers {
    pub fn carry(&self) -> bool {
        self.flags & FLAG_CARRY != 0
    }
}

/// What the real-mode code reads and writes, at BLOCK_AT (offsets used by the code below).
#[repr(C)]
struct Block {
    regs: Registers,
    /// 1: `INT vector`; 0: far call to `target`.
    is_int: u8,
    vector: u8,
    target: u32,
    word_count: u16,
    words: [u16; MAX_STACK_WORDS],
}

// The offsets the real-mode code below uses.
const _: () = assert!(core::mem::offset_of!(Registers, ds) == 28);
const _: () = assert!(core::mem::offset_of!(Registers, es) == 30);
const _: () = assert!(core::mem::offset_of!(Registers, flags) == 32);
const _: () = assert!(core::mem::offset_of!(Block, is_int) == 36);
const _: () = assert!(core::mem::offset_of!(Block, vector) == 37);
const _: () = assert!(core::mem::offset_of!(Block, target) == 40);
const _: () = assert!(core::mem::offset_of!(Block, word_count) == 44);
const _: () = assert!(core::mem::offset_of!(Block, words) == 46);

/// The block, then the state the thunk saves (0xAC bytes in all).
pub(super) const BLOCK_AT: usize = 0x0700;

/// Set while a `RealMode` exists.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The right to call into real mode and to use the bounce buffer; one at a time (the thunk's
/// block, its stack and the buffer are single fixed places). Dropping it gives it back.
pub struct RealMode {
    /// Not Send: the thunk runs on this CPU with interrupts off.
    _single: PhantomData<*mut ()>,
}

impl RealMode {
    /// Take the thunk; `None` while someone else holds it.
    pub fn take() -> Option<RealMode> {
        TAKEN
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then_some(RealMode {
                _single: PhantomData,
            })
    }

    /// The bounce buffer, reachable from real mode at [`RealMode::bounce_ptr`].
    pub fn bounce(&mut self) -> &mut [u8; BOUNCE_LEN] {
        // SAFETY: BOUNCE_AT..+BOUNCE_LEN is reserved for this buffer (architecture.md's memory
        // table), identity-mapped RAM, and `self` is its only user (TAKEN).
        unsafe { &mut *(BOUNCE_AT as *mut [u8; BOUNCE_LEN]) }
    }

    /// The real-mode address of byte `offset` of the bounce buffer.
    pub fn bounce_ptr(offset: usize) -> FarPtr {
        FarPtr {
            segment: (BOUNCE_AT >> 4) as u16,
            offset: offset as u16,
        }
    }

    /// `INT vector` in real mode with `regs`; `regs` holds the results afterwards.
    ///
    /// # Safety
    /// The BIOS service, with these registers, writes no memory the runtime owns other than
    /// the bounce buffer, and returns (with IRET).
    pub unsafe fn int(&mut self, vector: u8, regs: &mut Registers) {
        // SAFETY: passed on to the caller.
        unsafe { self.call(true, vector, FarPtr::default(), &[], regs) }
    }

    /// A far call to `target` in real mode, with `stack` pushed first (in this order, so the
    /// last word is nearest the return address), and `regs`; `regs` holds the results.
    /// This is how the PXE API is entered (!PXE: segment, offset, opcode; RETF).
    ///
    /// # Safety
    /// `target` is real-mode code that returns with RETF and, with these registers and stack
    /// words, writes no memory the runtime owns other than the bounce buffer.
    pub unsafe fn far_call(&mut self, target: FarPtr, stack: &[u16], regs: &mut Registers) {
        // SAFETY: passed on to the caller.
        unsafe { self.call(false, 0, target, stack, regs) }
    }

    unsafe fn call(
        &mut self,
        is_int: bool,
        vector: u8,
        target: FarPtr,
        stack: &[u16],
        regs: &mut Registers,
    ) {
        assert!(stack.len() <= MAX_STACK_WORDS);
        let mut words = [0u16; MAX_STACK_WORDS];
        words[..stack.len()].copy_from_slice(stack);
        // SAFETY: the block is the thunk's (BLOCK_AT, reserved in architecture.md's memory
        // table), and `self` makes us its only user; `enter_thunk` runs the call it describes
        // and restores the CPU state it changes. Memory the call writes is the caller's
        // promise.
        unsafe {
            let block = BLOCK_AT as *mut Block;
            block.write(Block {
                regs: *regs,
                is_int: is_int as u8,
                vector,
                target: target.to_u32(),
                word_count: stack.len() as u16,
                words,
            });
            super::platform::enter_thunk();
            *regs = (*block).regs;
        }
    }
}

impl Drop for RealMode {
    fn drop(&mut self) {
        TAKEN.store(false, Ordering::Release);
    }
}

// The thunk's 32-bit and 16-bit part, shared by both BIOS platforms. Selectors of its own
// GDT: the caller's GDT may be anything (stage 2's today). The platform's way in
// (`super::platform::enter_thunk`) saves its own state at the block's offsets 0x40-0x8F.
core::arch::global_asm!(
    concat!(
        r#"
    .set RM_CODE32, 0x08
    .set RM_DATA32, 0x10
    .set RM_CODE16, 0x18
    .set RM_DATA16, 0x20
    .set RM_STACK_TOP, {stack_top}
    # The block and the saved state: fixed low memory, off the pages of code (a write to a
    # page that holds translated code costs QEMU's TCG a retranslation, each call).
    .set rm_block, {block_at}
    .set rm_save_esp32, rm_block + 0x90
    .set rm_save_gdtr32, rm_block + 0x94
    .set rm_save_idtr32, rm_block + 0x9a
    .set rm_save_cs32, rm_block + 0xa0
    .set rm_save_ss32, rm_block + 0xa2
    .set rm_save_ds32, rm_block + 0xa4
    .set rm_save_es32, rm_block + 0xa6
    .set rm_save_fs32, rm_block + 0xa8
    .set rm_save_gs32, rm_block + 0xaa

    .section .stage2.realmode, "ax"
    .code32
    .globl realmode_call32
realmode_call32:
    pushal
    movl %esp, rm_save_esp32
    sgdtl rm_save_gdtr32
    sidtl rm_save_idtr32
    movw %cs, rm_save_cs32
    movw %ss, rm_save_ss32
    movw %ds, rm_save_ds32
    movw %es, rm_save_es32
    movw %fs, rm_save_fs32
    movw %gs, rm_save_gs32
    lgdtl realmode_gdtr
    ljmpl $RM_CODE16, $1f
    .code16
1:  movw $RM_DATA16, %ax           # 64 KiB limits in the hidden parts, as real mode wants
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl %cr0, %eax
    andl $~1, %eax                 # protection off
    movl %eax, %cr0
    ljmpw $0, $2f
2:  xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movw $RM_STACK_TOP, %sp
    lidtw rm_ivt                   # the BIOS's interrupt vectors
    movw rm_block + 44, %cx        # the stack words, in order
    movw $rm_block + 46, %si
3:  jcxz 4f
    pushw (%si)
    addw $2, %si
    decw %cx
    jmp 3b
4:  cmpb $0, rm_block + 36
    je 5f
    movzbw rm_block + 37, %bx      # INT n: the handler from the vector table, and the flags
    shlw $2, %bx                   # image its IRET pops; it starts with IF and TF clear
    movl (%bx), %eax
    movl %eax, rm_block + 40
    pushw rm_block + 32
    andw $~0x0300, rm_block + 32
5:  movl %cs:rm_block + 0, %eax   # CS = 0: the block stays reachable whatever DS becomes
    movl %cs:rm_block + 4, %ebx
    movl %cs:rm_block + 8, %ecx
    movl %cs:rm_block + 12, %edx
    movl %cs:rm_block + 16, %esi
    movl %cs:rm_block + 20, %edi
    movl %cs:rm_block + 24, %ebp
    movw %cs:rm_block + 28, %ds
    movw %cs:rm_block + 30, %es
    pushw %cs:rm_block + 32
    popfw                          # IF on here if the caller asked for it
    lcallw *%cs:rm_block + 40
    pushfw
    cli
    movl %eax, %cs:rm_block + 0
    movl %ebx, %cs:rm_block + 4
    movl %ecx, %cs:rm_block + 8
    movl %edx, %cs:rm_block + 12
    movl %esi, %cs:rm_block + 16
    movl %edi, %cs:rm_block + 20
    movl %ebp, %cs:rm_block + 24
    movw %ds, %cs:rm_block + 28
    movw %es, %cs:rm_block + 30
    popw %cs:rm_block + 32
    lgdtl %cs:realmode_gdtr              # the callee may have loaded a GDT of its own
    movl %cr0, %eax
    orl $1, %eax                   # protection on
    movl %eax, %cr0
    ljmpl $RM_CODE32, $6f
    .code32
6:  movl $RM_DATA32, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl rm_save_esp32, %esp
    lgdtl rm_save_gdtr32
    lidtl rm_save_idtr32
    movw rm_save_ss32, %ss
    movw rm_save_es32, %es
    movw rm_save_fs32, %fs
    movw rm_save_gs32, %gs
    movzwl rm_save_cs32, %eax
    pushl %eax
    pushl $7f
    movw rm_save_ds32, %ds
    lretl                          # the caller's own code segment
7:  popal
    ret

    .section .stage2.realmode.data, "aw"
    .p2align 3
    .globl realmode_gdtr
rm_gdt:
    .quad 0
    .quad 0x00cf9b000000ffff       # 0x08: 32-bit code, flat (accessed bits preset: the CPU
    .quad 0x00cf93000000ffff       # 0x10: data, flat            would otherwise write them
    .quad 0x00009b000000ffff       # 0x18: 16-bit code, 64 KiB   into this page of code)
    .quad 0x000093000000ffff       # 0x20: 16-bit data, 64 KiB
    .quad 0x00af9b000000ffff       # 0x28: 64-bit code
rm_gdt_end:
    .p2align 3
realmode_gdtr:                     # 6 bytes for LGDT in 16/32-bit code, 10 in 64-bit code
    .word rm_gdt_end - rm_gdt - 1
    .long rm_gdt, 0                # (a 64-bit base in two halves: ELF32 has no 64-bit reloc)
rm_ivt:
    .word 0x3ff
    .long 0
    .text
"#,
        super::native_code_mode!()
    ),
    stack_top = const STACK_TOP,
    block_at = const BLOCK_AT,
    options(att_syntax)
);

const _: () = assert!(core::mem::size_of::<Block>() <= 0x40 && BLOCK_AT + 0xac <= BOUNCE_AT);
