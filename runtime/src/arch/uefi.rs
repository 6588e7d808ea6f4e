//! The x86_64 platform's UEFI flavour (netloader.efi): what differs from the BIOS runtime on
//! the same CPU mode. The firmware's own services come from `crate::efi`.

use super::timer::Calibration;

/// How long the TSC is measured against the firmware's Stall.
const CALIBRATION_WINDOW_MS: u64 = 10;

/// TSC ticks per millisecond against boot services' Stall (the firmware owns the PIT there, or
/// the machine has none), over 10 ms. Without boot services, none (`timer::init` then assumes
/// 1 GHz).
pub fn calibrate_tsc() -> Calibration {
    let Some(boot) = crate::efi::boot_services() else {
        return Calibration {
            per_ms: 0,
            tries: 0,
            uncertainty_ppm: 0,
        };
    };
    let start = super::rdtsc();
    // SAFETY: Stall busy-waits the given microseconds; nothing else.
    let _ = unsafe { (boot.stall)((CALIBRATION_WINDOW_MS * 1000) as usize) };
    Calibration {
        per_ms: (super::rdtsc() - start) / CALIBRATION_WINDOW_MS,
        tries: 1,
        uncertainty_ppm: 0,
    }
}

/// Ends the run: ResetSystem while the firmware is there (cold, as the BIOS forms' reset).
pub fn reset() -> ! {
    let runtime = crate::efi::system_table().runtime_services;
    if !runtime.is_null() {
        // SAFETY: runtime services stay callable after ExitBootServices (identity-mapped: we
        // never call SetVirtualAddressMap).
        unsafe {
            ((*runtime).reset_system)(
                uefi_raw::table::runtime::ResetType::COLD,
                uefi_raw::Status::SUCCESS,
                0,
                core::ptr::null(),
            )
        }
    }
    super::halt_forever()
}

/// Multiboot 2's entry for a kernel that kept the firmware's boot services on a 64-bit UEFI
/// (header tags 7 and 9): a jump in long mode, on the firmware's page tables, GDT and
/// interrupt state, with EAX = the magic and EBX = the boot information (the spec: "the rest
/// of the machine state as UEFI's boot services left it").
///
/// # Safety
/// Everything is in place and nothing is left to copy; the card is closed.
pub unsafe fn enter_efi64(entry: u32, magic: u32, info: u32) -> ! {
    // SAFETY: the caller's promise; the kernel takes the machine from here.
    unsafe {
        core::arch::asm!(
            "mov ebx, {info:e}",
            "jmp {entry}",
            entry = in(reg) u64::from(entry),
            info = in(reg) info,
            in("eax") magic,
            options(noreturn)
        )
    }
}
