//! BIOS services the runtime asks for after stage 2, through the real-mode thunk, and what the
//! BIOS has for an OS: the ACPI RSDP, read where the spec says it lies; the APM interface.

use netloader_proto::acpi::{Rsdp, find_rsdp};
use netloader_proto::memmap::E820Entry;
use netloader_proto::multiboot2::Apm;

use super::realmode::{FLAG_CARRY, FarPtr, RealMode, Registers};

const SMAP: u32 = 0x534d_4150;
const E820_ENTRY_LEN: usize = core::mem::size_of::<E820Entry>();

/// INT 12h: conventional memory in KiB (what the BIOS and any resident ROM have left free).
pub fn conventional_kib(rm: &mut RealMode) -> u16 {
    let mut regs = Registers::default();
    // SAFETY: INT 12h only returns AX.
    unsafe { rm.int(0x12, &mut regs) };
    regs.eax as u16
}

/// INT 12h again, as a far call to its handler with the flags image pushed first (which is
/// all the INT instruction does): the path the PXE API takes, with a word on the stack.
fn conventional_kib_by_far_call(rm: &mut RealMode) -> u16 {
    // SAFETY: the BIOS interrupt vector table is at physical 0, identity-mapped; entry 12h is
    // at 0x48 (never null), read-only here.
    let vector = unsafe { core::ptr::read_volatile((0x12 * 4) as *const u32) };
    let mut regs = Registers::default();
    // SAFETY: the INT 12h handler returns with IRET, which pops the flags word pushed here.
    unsafe { rm.far_call(FarPtr::from_u32(vector), &[0x0002], &mut regs) };
    regs.eax as u16
}

/// INT 15h E820: the memory map, entry by entry, as stage 2 reads it (empty entries skipped;
/// an ACPI 3 attribute word that the BIOS leaves alone means "valid"); `visit` returns false
/// to stop. Returns the number of entries visited, 0 when the BIOS has no E820.
pub fn e820_each(rm: &mut RealMode, mut visit: impl FnMut(usize, E820Entry) -> bool) -> usize {
    let at = RealMode::bounce_ptr(0);
    let mut count = 0;
    let mut continuation = 0;
    loop {
        let buffer = rm.bounce();
        buffer[..E820_ENTRY_LEN].fill(0);
        buffer[20] = 1;
        let mut regs = Registers {
            eax: 0xe820,
            ebx: continuation,
            ecx: E820_ENTRY_LEN as u32,
            edx: SMAP,
            edi: u32::from(at.offset),
            es: at.segment,
            ..Registers::default()
        };
        // SAFETY: E820 writes one entry (at most ECX = 24 bytes) at ES:DI, the bounce buffer.
        unsafe { rm.int(0x15, &mut regs) };
        if regs.carry() || regs.eax != SMAP {
            return count;
        }
        let bytes = &rm.bounce()[..E820_ENTRY_LEN];
        let field = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let entry = E820Entry {
            base: field(0),
            length: field(8),
            kind: u32::from_le_bytes(bytes[16..20].try_into().unwrap()),
            acpi_attributes: u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
        };
        if entry.length != 0 {
            if !visit(count, entry) {
                return count + 1;
            }
            count += 1;
        }
        continuation = regs.ebx;
        if continuation == 0 {
            return count;
        }
    }
}

/// INT 15h E820 into `out` (as many entries as fit). Returns the count.
pub fn e820(rm: &mut RealMode, out: &mut [E820Entry]) -> usize {
    let len = out.len();
    e820_each(rm, |i, entry| {
        out[i] = entry;
        i + 1 < len
    })
    .min(len)
}

/// At start: ask the BIOS again through the thunk for what stage 2 asked it in real mode
/// (INT 12h, the E820 map), and say whether the answers agree. A
/// broken way into real mode and back shows here, at every boot, before anything needs it.
// Out of line: inlined into its one caller it cost 0.5-1.5 KiB of conventional memory.
#[inline(never)]
pub fn report_through_thunk(boot: &crate::boot_info::BootInfo) {
    let Some(mut rm) = RealMode::take() else {
        crate::println!("bios: the real-mode thunk is in use");
        return;
    };
    let started = crate::time::now_us();
    let kib = conventional_kib(&mut rm);
    let kib_far = conventional_kib_by_far_call(&mut rm);
    // Compared entry by entry as they come: this runs on stage 2's small stack.
    let stage2 = boot.memory_map().entries();
    let mut same = true;
    let count = e820_each(&mut rm, |i, entry| {
        same &= stage2.get(i) == Some(&entry);
        true
    });
    let calls = 2 + count.max(1) as u64;
    let per_call = (crate::time::now_us() - started) / calls;
    let agrees = if boot.memory_map_source != 1 {
        "stage 2 used no E820"
    } else if same && count == stage2.len() {
        "same as stage 2"
    } else {
        "DIFFERENT from stage 2"
    };
    crate::println!(
        "bios: through the real-mode thunk: INT 12h {kib} KiB (by far call {kib_far} KiB, stage 2 {}), E820 {count} entries ({agrees}), {per_call} us per call",
        boot.conventional_kib
    );
}

/// The ACPI RSDP: the first KiB of the EBDA (its segment is the BIOS data area's word at
/// 0x40E), then 0xE0000-0xFFFFF.
#[cfg_attr(not(any(feature = "multiboot2", feature = "linux")), allow(dead_code))]
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
#[cfg_attr(not(any(feature = "multiboot2", feature = "linux")), allow(dead_code))]
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
