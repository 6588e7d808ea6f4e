//! What the BIOS has for an OS: the ACPI RSDP, read where the spec says it lies; the APM
//! interface, asked for through the real-mode thunk. netloader.efi: the RSDP from the
//! firmware's configuration table, no APM.

use netloader_proto::acpi::Rsdp;
#[cfg(not(target_os = "uefi"))]
use netloader_proto::acpi::find_rsdp;
use netloader_proto::multiboot2::Apm;

#[cfg(not(target_os = "uefi"))]
use crate::arch::realmode::{FLAG_CARRY, RealMode, Registers};

#[cfg(target_os = "uefi")]
pub fn rsdp() -> Option<Rsdp> {
    crate::efi::rsdp()
}

/// No APM BIOS on UEFI.
#[cfg(target_os = "uefi")]
pub fn apm() -> Option<Apm> {
    None
}

/// The ACPI RSDP: the first KiB of the EBDA (its segment is the BIOS data area's word at
/// 0x40E), then 0xE0000-0xFFFFF.
#[cfg(not(target_os = "uefi"))]
pub fn rsdp() -> Option<Rsdp> {
    // SAFETY: the BIOS data area and the BIOS ROM area lie below 1 MiB, identity-mapped and
    // readable; nothing writes them while we read.
    let (ebda, bios) = unsafe {
        let segment = core::ptr::read_volatile(0x40e as *const u16);
        let ebda = u64::from(segment) << 4;
        let ebda_area = (0x80000..=0x9fc00)
            .contains(&ebda)
            .then(|| core::slice::from_raw_parts(ebda as *const u8, 1024));
        let bios = core::slice::from_raw_parts(0xe0000 as *const u8, 0x20000);
        (ebda_area.map(|area| (area, ebda)), bios)
    };
    ebda.and_then(|(area, base)| find_rsdp(area, base))
        .or_else(|| find_rsdp(bios, 0xe0000))
}

/// The APM BIOS's 32-bit protected-mode interface, as GRUB gets it: INT 15h 5300h (is there
/// APM?), 5304h (disconnect whatever interface is connected), 5303h (connect the 32-bit one).
/// `None` without APM, or when the thunk is busy.
#[cfg(not(target_os = "uefi"))]
pub fn apm() -> Option<Apm> {
    let mut rm = RealMode::take()?;
    let mut call = |eax: u32| {
        let mut regs = Registers {
            eax,
            ..Registers::default()
        };
        // SAFETY: the APM installation check, disconnect and 32-bit connect return registers
        // only (BX = 0: the system BIOS); they write no memory.
        unsafe { rm.int(0x15, &mut regs) };
        (regs.flags & FLAG_CARRY == 0).then_some(regs)
    };
    let check = call(0x5300)?;
    if check.ebx & 0xffff != 0x504d {
        return None; // not "PM": no APM BIOS
    }
    let _ = call(0x5304);
    let connect = call(0x5303)?;
    Some(Apm {
        version: check.eax as u16,
        flags: check.ecx as u16,
        cseg: connect.eax as u16,
        offset: connect.ebx,
        cseg_16: connect.ecx as u16,
        dseg: connect.edx as u16,
        cseg_len: (connect.esi >> 16) as u16,
        cseg_16_len: connect.esi as u16,
        dseg_len: connect.edi as u16,
    })
}
