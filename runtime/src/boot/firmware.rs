//! What the BIOS leaves in memory for an OS to find, read where the specs say it lies.

use netloader_proto::acpi::{Rsdp, find_rsdp};

/// The ACPI RSDP: the first KiB of the EBDA (its segment is the BIOS data area's word at
/// 0x40E), then 0xE0000-0xFFFFF.
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
