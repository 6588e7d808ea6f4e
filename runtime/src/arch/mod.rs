//! The x86 edge: stage 1 assembly, the memory functions core expects, exception handling.

pub mod exceptions;
mod memfns;

// Stage 1 is assembled by rustc itself (no external assembler); link.ld places it.
core::arch::global_asm!(include_str!("../../../stage1/bootsector.s"), options(att_syntax));
core::arch::global_asm!(include_str!("../../../stage1/stage2.s"), options(att_syntax));
core::arch::global_asm!(include_str!("../../../stage1/rom.s"), options(att_syntax));
core::arch::global_asm!(include_str!("../../../stage1/pxe.s"), options(att_syntax));

/// Stop for good: interrupts off, halt.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
