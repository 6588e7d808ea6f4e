//! The hand-off record stage 2 fills in (stage1/stage2.s, label `boot_info`).

use netloader_proto::memmap::{E820Entry, MemoryMap};

pub const MAGIC: u32 = 0x4942_4c4e; // "NLBI"
const E820_MAX: usize = 128;

#[repr(C)]
pub struct BootInfo {
    pub magic: u32,
    pub version: u16,
    pub form: u8,
    pub drive: u8,
    pub memory_map_source: u8,
    pub a20_method: u8,
    pub e820_count: u16,
    pub conventional_kib: u16,
    _reserved: u16,
    e820: [E820Entry; E820_MAX],
}

/// How the loader came to run; the value is the boot sector's form byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BootForm {
    Floppy,
    Cdrom,
    Disk,
    IsoAsDisk,
    /// A PCI option ROM's boot entry vector (stage1/rom.s).
    OptionRom,
    /// A PXE network boot program, chained from the card's own PXE ROM (stage1/pxe.s).
    Pxe,
    Unknown(u8),
}

impl BootInfo {
    pub fn form(&self) -> BootForm {
        match self.form {
            1 => BootForm::Floppy,
            2 => BootForm::Cdrom,
            3 => BootForm::Disk,
            4 => BootForm::IsoAsDisk,
            5 => BootForm::OptionRom,
            6 => BootForm::Pxe,
            other => BootForm::Unknown(other),
        }
    }

    pub fn memory_map(&self) -> MemoryMap<'_> {
        let count = (self.e820_count as usize).min(E820_MAX);
        MemoryMap::new(&self.e820[..count])
    }

    pub fn memory_map_source(&self) -> &'static str {
        match self.memory_map_source {
            1 => "E820",
            2 => "E801",
            3 => "INT 15h AH=88h",
            _ => "unknown",
        }
    }

    pub fn a20_method(&self) -> &'static str {
        match self.a20_method {
            0 => "already on",
            1 => "BIOS",
            2 => "keyboard controller",
            3 => "port 92h",
            _ => "unknown",
        }
    }
}

impl BootForm {
    pub fn describe(self) -> &'static str {
        match self {
            BootForm::Floppy => "floppy",
            BootForm::Cdrom => "CD (El Torito, no emulation)",
            BootForm::Disk => "USB / hard disk",
            BootForm::IsoAsDisk => "ISO image as a disk (hybrid)",
            BootForm::OptionRom => "PCI option ROM",
            BootForm::Pxe => "PXE network boot program",
            BootForm::Unknown(_) => "unknown",
        }
    }
}
