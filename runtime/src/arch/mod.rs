//! The x86 edge: stage 1 assembly, the memory functions core expects, exception handling, and
//! calls into real mode (the BIOS, a PXE ROM) and back. netloader.efi has none of these but
//! the stack switch and the halt: the firmware loaded it, keeps its interrupt table while boot
//! services run, and the UEFI target's core brings its own memory functions.

#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
pub mod bios;
#[cfg(not(target_os = "uefi"))]
pub mod exceptions;
#[cfg(not(target_os = "uefi"))]
mod memfns;
// The option ROM's first stage never leaves long mode before its hand-off: no thunk there.
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
pub mod realmode;

// Stage 1 is assembled by rustc itself (no external assembler); link.ld places it.
#[cfg(not(target_os = "uefi"))]
core::arch::global_asm!(
    include_str!("../../../stage1/bootsector.s"),
    options(att_syntax)
);
#[cfg(not(target_os = "uefi"))]
core::arch::global_asm!(
    include_str!("../../../stage1/stage2.s"),
    options(att_syntax)
);
#[cfg(not(target_os = "uefi"))]
core::arch::global_asm!(include_str!("../../../stage1/rom.s"), options(att_syntax));
#[cfg(not(target_os = "uefi"))]
core::arch::global_asm!(include_str!("../../../stage1/pxe.s"), options(att_syntax));

/// Reset the machine: the firmware's ResetSystem on UEFI.
#[cfg(target_os = "uefi")]
pub fn reset() -> ! {
    crate::efi::reset()
}

/// Reset the machine: the keyboard controller's reset line, else a triple fault.
#[cfg(not(target_os = "uefi"))]
pub fn reset() -> ! {
    // SAFETY: pulsing the reset line (8042 command 0xFE) is what it is for.
    unsafe {
        let mut status = x86_64::instructions::port::Port::<u8>::new(0x64);
        for _ in 0..100_000 {
            if status.read() & 2 == 0 {
                break;
            }
        }
        status.write(0xfe);
    }
    crate::time::delay_us(100_000);
    // SAFETY: an empty IDT makes the next exception a triple fault, which resets the CPU.
    unsafe {
        let empty = x86_64::structures::DescriptorTablePointer {
            limit: 0,
            base: x86_64::VirtAddr::zero(),
        };
        x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3");
    }
    halt_forever()
}

/// Stop for good: interrupts off, halt.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Runs `f` on the stack that ends at `stack_top` instead of the current one, then comes back:
/// for work whose frames the boot stack cannot carry (main.rs runs everything from the network
/// card on so; boot/fetch.rs builds the decompressors' ~43 KB state on its way to upper memory).
///
/// # Safety
/// `stack_top` is 16-byte aligned and ends identity-mapped memory that nothing else uses while
/// `f` runs, large enough for `f`'s frames.
pub unsafe fn on_stack<F: FnOnce()>(stack_top: u64, f: F) {
    // System V explicitly: the argument in RDI on every target (extern "C" is the Microsoft
    // x64 convention on UEFI, which takes RCX and writes 32 bytes above the new stack's top).
    extern "sysv64" fn run<F: FnOnce()>(f: &mut Option<F>) {
        if let Some(f) = f.take() {
            f()
        }
    }
    assert!(stack_top.is_multiple_of(16));
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
