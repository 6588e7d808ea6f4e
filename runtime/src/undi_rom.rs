//! UNDI from a card's option ROM, when netloader was not started by that ROM (floppy, CD, USB,
//! its own option ROM): the card has no native driver, but its PXE ROM, shadowed by the BIOS
//! at C000-EFFF, carries an UNDI loader (PXE 2.1, the "UNDI ROM ID" structure) that installs
//! the ROM's PXE stack into base memory we give it. This is iPXE's `undirom`/`undiload`.
//!
//! The load comes before anything reads the memory map: the stack takes base memory (below
//! the BIOS's free-base-memory mark, which is lowered) and a ROM like iPXE also moves its
//! driver to high memory that it hides from E820, so the map is read again afterwards.

use netloader_drivers::undi;

use crate::arch::realmode::{FarPtr, RealMode, Registers};
use crate::boot_info::BootInfo;
use crate::pxe_stack::{KeptStack, ThunkPxe};
use crate::{nic, pci, println};

/// Where the BIOS shadows option ROMs, and their alignment.
const ROM_AREA: core::ops::Range<usize> = 0xc0000..0xf0000;
const ROM_ALIGN: usize = 0x800;
/// The BIOS data area's free base memory in KiB (what INT 12h returns).
const BDA_BASE_KIB: usize = 0x413;

unsafe extern "C" {
    /// The end of the runtime's memory (link.ld); only its address is taken.
    static __runtime_end: u8;
}

/// A PXE ROM's UNDI loader, for one PCI card.
struct UndiRom {
    segment: u16,
    loader: u16,
    code_size: u16,
    data_size: u16,
}

/// Bytes of the BIOS's shadowed ROM area; `None` outside it.
fn rom_bytes(at: usize, len: usize) -> Option<&'static [u8]> {
    (at >= ROM_AREA.start && at + len <= ROM_AREA.end).then(|| {
        // SAFETY: the option ROM area (C0000-EFFFF), identity-mapped, read only; nothing of
        // the runtime lives there.
        unsafe { core::slice::from_raw_parts(at as *const u8, len) }
    })
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// The option ROM for PCI `vendor:device` that carries an UNDI loader.
fn find_rom(vendor: u16, device: u16) -> Option<UndiRom> {
    ROM_AREA.step_by(ROM_ALIGN).find_map(|at| {
        let header = rom_bytes(at, 0x1a)?;
        if header[..2] != [0x55, 0xaa] {
            return None;
        }
        let len = usize::from(header[2]) * 512;
        let (rom_id, pcir) = (
            usize::from(u16_at(header, 0x16)),
            usize::from(u16_at(header, 0x18)),
        );
        let pcir = rom_bytes(at + pcir, 8).filter(|_| pcir != 0 && pcir + 8 <= len)?;
        if &pcir[..4] != b"PCIR" || u16_at(pcir, 4) != vendor || u16_at(pcir, 6) != device {
            return None;
        }
        // The UNDI ROM ID: "UNDI", its length, a checksum over it, ..., the loader's offset,
        // the stack, data and code sizes.
        let id = rom_bytes(at + rom_id, 0x16).filter(|_| rom_id != 0 && rom_id + 0x16 <= len)?;
        let id_len = usize::from(id[4]);
        let whole = rom_bytes(at + rom_id, id_len).filter(|_| id_len >= 0x16)?;
        if &id[..4] != b"UNDI" || whole.iter().fold(0u8, |s, b| s.wrapping_add(*b)) != 0 {
            return None;
        }
        Some(UndiRom {
            segment: (at >> 4) as u16,
            loader: u16_at(id, 10).filter_nonzero()?,
            data_size: u16_at(id, 14),
            code_size: u16_at(id, 16),
        })
    })
}

trait NonZero: Sized {
    fn filter_nonzero(self) -> Option<Self>;
}

impl NonZero for u16 {
    fn filter_nonzero(self) -> Option<u16> {
        (self != 0).then_some(self)
    }
}

/// For a card without a native driver whose option ROM carries an UNDI loader: load the
/// ROM's PXE stack and start its UNDI. None when there is no such card (or it fails: said).
// Out of line: inlined into its one caller it cost 0.5-1.5 KiB of conventional memory.
#[inline(never)]
pub fn load(boot: &mut BootInfo) -> Option<KeptStack> {
    if nic::any_native_card().is_some() {
        return None;
    }
    let mut found = None;
    pci::scan(|function| {
        if found.is_none() && function.is_network() {
            found = find_rom(function.vendor, function.device).map(|rom| (function, rom));
        }
    });
    let (card, rom) = found?;
    let bus_dev_fn = (u16::from(card.address.bus()) << 8)
        | (u16::from(card.address.device()) << 3)
        | u16::from(card.address.function());
    println!(
        "undi: no native driver for {:04x}:{:04x}; its option ROM at {:04x}:0000 has an UNDI loader",
        card.vendor, card.device, rom.segment
    );
    // Base memory for the stack's code and data, below the free-base-memory mark.
    // SAFETY: the BIOS data area's word at 40:13, identity-mapped.
    let base_kib = unsafe { core::ptr::read_volatile(BDA_BASE_KIB as *const u16) };
    let code_segment = (u32::from(base_kib) << 6) - u32::from(rom.code_size).div_ceil(16);
    let data_segment = code_segment - u32::from(rom.data_size).div_ceil(16);
    let runtime_end = &raw const __runtime_end as usize;
    if (data_segment as usize) << 4 < runtime_end {
        println!(
            "E-UNDI-MEMORY: the card's UNDI needs {} KiB of base memory, and only {} KiB are free above netloader: check the BIOS for a setting that leaves more base memory free",
            (u32::from(rom.code_size) + u32::from(rom.data_size)).div_ceil(1024),
            (usize::from(base_kib) * 1024).saturating_sub(runtime_end) / 1024
        );
        return None;
    }
    let mut rm = RealMode::take()?;
    let loader_block = RealMode::bounce_ptr(0);
    {
        let block = &mut rm.bounce()[..24];
        block.fill(0);
        block[2..4].copy_from_slice(&bus_dev_fn.to_le_bytes());
        block[4..6].copy_from_slice(&0xffffu16.to_le_bytes()); // no ISA PnP card number
        block[6..8].copy_from_slice(&0xffffu16.to_le_bytes()); // no ISA PnP read port
        block[12..14].copy_from_slice(&(data_segment as u16).to_le_bytes());
        block[14..16].copy_from_slice(&(code_segment as u16).to_le_bytes());
    }
    let new_kib = (data_segment >> 6) as u16;
    // SAFETY: lowering 40:13 hides the memory the stack will live in from the BIOS and the
    // ROM (what a PXE ROM does for itself at boot).
    unsafe { core::ptr::write_volatile(BDA_BASE_KIB as *mut u16, new_kib) };
    let mut regs = Registers::default();
    // SAFETY: the ROM's UNDI loader (its UNDI ROM ID checked: signature and checksum) returns
    // with RETF; it installs the stack into the base memory just handed to it (above the
    // runtime, checked above), may move its driver to high memory that it then hides from
    // E820 (the map is read again below), and writes the loader block in the bounce buffer.
    unsafe {
        rm.far_call(
            FarPtr {
                segment: rom.segment,
                offset: rom.loader,
            },
            &[loader_block.segment, loader_block.offset],
            &mut regs,
        )
    };
    let block = &rm.bounce()[..24];
    let status = u16_at(block, 0);
    let bang_pxe = FarPtr {
        offset: u16_at(block, 16),
        segment: u16_at(block, 18),
    };
    if regs.eax as u16 != 0 || bang_pxe.segment == 0 {
        println!(
            "E-UNDI-LOAD: the UNDI loader of the option ROM at {:04x}:0000 failed (status {status:#06x}): the card cannot be used",
            rom.segment
        );
        // SAFETY: 40:13 as it was: nothing was installed.
        unsafe { core::ptr::write_volatile(BDA_BASE_KIB as *mut u16, base_kib) };
        return None;
    }
    let at = (usize::from(bang_pxe.segment) << 4) + usize::from(bang_pxe.offset);
    // SAFETY: the !PXE structure the loader just built in base memory; its EntryPointSP.
    let entry = unsafe { core::ptr::read_unaligned((at + 0x10) as *const u32) };
    let mut api = ThunkPxe::new(rm, FarPtr::from_u32(entry), false);
    if let Err(e) = undi::start_loaded(&mut api, bus_dev_fn, &mut crate::time::Delay) {
        println!("E-UNDI-LOAD: the card's UNDI did not start: {e}: the card cannot be used");
        let _ = undi::unload(&mut api, false);
        // SAFETY: 40:13 as it was: the stack is gone.
        unsafe { core::ptr::write_volatile(BDA_BASE_KIB as *mut u16, base_kib) };
        return None;
    }
    println!(
        "undi: the ROM's stack is loaded at {data_segment:04x}:0000; base memory from {new_kib} KiB is its own until the hand-off"
    );
    if let Some(rm) = api.thunk() {
        crate::pxe_stack::reread_memory_map(rm, boot);
    }
    boot.reserve_base_memory_from(new_kib);
    Some(KeptStack { api, legacy: false })
}
