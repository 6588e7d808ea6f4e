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

/// The console's screen: the firmware's text output while boot services run
/// (`crate::efi::screen`), nothing after.
pub struct Screen;

impl Screen {
    pub const fn new() -> Self {
        Screen
    }

    /// Finds the firmware's text output.
    pub fn init(&mut self) {
        crate::efi::screen::init();
    }

    pub fn write_str(&mut self, s: &str) {
        crate::efi::screen::write(s);
    }

    /// No VGA text screen netloader wrote on: the start of an 80x25 screen's last row, where
    /// an unwritten VGA text screen's cursor is (a kernel's screen_info gets it).
    pub fn cursor(&self) -> (u8, u8) {
        (0, 24)
    }
}

/// The firmware's interface, `snp`, needs this much DMA memory when a native driver took the
/// main pool and did not start.
pub const FIRMWARE_NIC_DMA_LEN: usize = netloader_drivers::snp::DRIVER.dma_len;

/// A card with a native driver: taken from the firmware's drivers (`crate::efi::pci`).
pub fn take_card_from_firmware(card: &netloader_drivers::registry::Found) -> bool {
    crate::efi::pci::take_card(card)
}

/// A taken card whose native driver did not start: back to the firmware's drivers.
pub fn give_card_back_to_firmware(
    card: &netloader_drivers::registry::Found,
    error: &netloader_drivers::registry::OpenError,
) -> bool {
    crate::efi::pci::give_back(card, error)
}

pub fn firmware_snp_offered() -> bool {
    crate::efi::snp::offered()
}

pub fn take_firmware_snp() -> Option<&'static mut dyn netloader_drivers::snp::SnpApi> {
    crate::efi::snp::take()
}

/// The largest block netloader.efi claimed from the firmware above 1 MiB (src/efi/memory.rs).
pub fn work_area(_map: &netloader_proto::memmap::MemoryMap) -> core::ops::Range<u64> {
    crate::efi::memory::work_area()
}

/// What the firmware holds until ExitBootServices, netloader.efi's image included.
pub fn firmware_held() -> &'static [netloader_proto::memmap::E820Entry] {
    crate::efi::memory::firmware_ranges()
}

/// The ACPI RSDP from the firmware's configuration table (a UEFI PC need not have one in the
/// BIOS areas).
pub fn rsdp() -> Option<netloader_proto::acpi::Rsdp> {
    crate::efi::rsdp()
}

/// No APM BIOS on UEFI.
pub fn apm() -> Option<netloader_proto::multiboot2::Apm> {
    None
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
