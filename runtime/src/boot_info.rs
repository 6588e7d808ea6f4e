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
    /// Layout version 2: what stage1/pxe.s found (zero on the other forms).
    pub pxe: PxeHandoff,
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

pub use crate::net::PXE_PACKET_MAX;

/// What the PXE entry (stage1/pxe.s) learned from the card's PXE ROM before unloading it.
#[repr(C)]
pub struct PxeHandoff {
    /// 0 none, 1 !PXE, 2 PXENV+, 3 netloader's option ROM (its packets, no API).
    pub api: u8,
    /// Bit 0 PXENV+ valid, bit 1 !PXE (from the stack) valid, bit 2 !PXE via PXENV+ valid,
    /// bit 7 started by netloader's own option ROM (which offers no PXE API).
    pub found: u8,
    pub pxenv_version: u16,
    /// 0 success, 0xFFFF not called, else the PXE status.
    pub undi_shutdown_status: u16,
    pub unload_stack_status: u16,
    pub stop_undi_status: u16,
    dhcp_ack_len: u16,
    cached_reply_len: u16,
    _reserved: u16,
    dhcp_ack: [u8; PXE_PACKET_MAX],
    cached_reply: [u8; PXE_PACKET_MAX],
    /// Layout version 3: the API entry stage1/pxe.s used (offset, segment; 0 when none).
    pub entry: u32,
    /// The valid !PXE and PXENV+ structures (offset, segment; 0 when none).
    pub bang_pxe: u32,
    pub pxenv: u32,
    /// The build's UNDI policy: 0 auto, 1 always, 2 never.
    pub undi_policy: u8,
    /// What stage1/pxe.s did with the stack (`PXE_STACK_*`); the runtime updates it.
    pub stack: u8,
    /// Free base memory in KiB (INT 12h) when netloader.pxe started.
    pub base_kib: u16,
}

pub const PXE_STACK_KEPT: u8 = 1;
pub const PXE_STACK_UNDER_US: u8 = 2;
pub const PXE_STACK_POLICY: u8 = 3;
pub const UNDI_POLICY_ALWAYS: u8 = 1;

const _: () = assert!(
    core::mem::offset_of!(BootInfo, pxe) == 3088,
    "BI_PXE in stage1/pxe.s"
);
const _: () = assert!(core::mem::size_of::<PxeHandoff>() == 16 + 2 * PXE_PACKET_MAX + 16);
const _: () = assert!(core::mem::offset_of!(PxeHandoff, entry) == 2960);
const _: () = assert!(core::mem::offset_of!(PxeHandoff, base_kib) == 2974);

impl BootInfo {
    /// The PXE fields, where stage 2 is new enough to have them.
    pub fn pxe(&self) -> Option<&PxeHandoff> {
        (self.version >= 2).then_some(&self.pxe)
    }

    pub fn pxe_mut(&mut self) -> Option<&mut PxeHandoff> {
        (self.version >= 3).then_some(&mut self.pxe)
    }

    /// Put a map read again from the BIOS (after a PXE stack left or came) in place of stage
    /// 2's: `read` fills the table and returns the count; with none, stage 2's map stays (and
    /// `read` must then have written nothing).
    pub fn reread_memory_map(
        &mut self,
        read: impl FnOnce(&mut [E820Entry]) -> usize,
        conventional_kib: u16,
    ) -> usize {
        let count = read(&mut self.e820).min(E820_MAX);
        if count > 0 {
            self.e820_count = count as u16;
            self.conventional_kib = conventional_kib;
        }
        count
    }

    /// Keep the runtime and the payload out of base memory from `kib` KiB up to 640 KiB (a
    /// resident PXE stack's): usable entries there end at `kib`.
    pub fn reserve_base_memory_from(&mut self, kib: u16) {
        let from = u64::from(kib) * 1024;
        let count = (self.e820_count as usize).min(E820_MAX);
        for entry in &mut self.e820[..count] {
            if !entry.is_ram() || entry.end() <= from || entry.end() > 0xa0000 {
                continue;
            }
            if entry.base < from {
                entry.length = from - entry.base;
            } else {
                entry.kind = netloader_proto::memmap::E820_RESERVED;
            }
        }
    }
}

impl PxeHandoff {
    /// The stack stayed resident for the runtime (stage1/pxe.s decided it may).
    pub fn stack_kept(&self) -> bool {
        self.stack == PXE_STACK_KEPT
    }

    /// Started by netloader's option ROM (runtime/src/chain.rs), not by a PXE ROM.
    pub fn started_by_netloader_rom(&self) -> bool {
        self.found & 0x80 != 0
    }

    /// The DHCPACK the PXE ROM cached (PXENV_PACKET_TYPE_DHCP_ACK).
    pub fn dhcp_ack(&self) -> Option<&[u8]> {
        packet(&self.dhcp_ack, self.dhcp_ack_len)
    }

    /// The boot server's reply the PXE ROM cached (PXENV_PACKET_TYPE_CACHED_REPLY).
    pub fn cached_reply(&self) -> Option<&[u8]> {
        packet(&self.cached_reply, self.cached_reply_len)
    }
}

fn packet(buffer: &[u8; PXE_PACKET_MAX], len: u16) -> Option<&[u8]> {
    buffer.get(..len as usize).filter(|p| !p.is_empty())
}
