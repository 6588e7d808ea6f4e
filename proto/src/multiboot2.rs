//! Multiboot 2 (GNU Multiboot2 Specification 2.0): the header a kernel carries
//! ([`Header::find`]) and what netloader can meet of it.
//!
//! Hand-off: 32-bit protected mode, paging off, interrupts off, flat segments, with
//! `EAX = BOOTLOADER_MAGIC` and `EBX` = the physical address of the boot information.

mod header;
mod image;
mod info;

pub use crate::vbe::Vbe;
pub use header::{
    AddressTag, ConsoleTag, EfiTag, Firmware, FramebufferTag, Header, HeaderError, Preference,
    RelocatableTag, Requests, Unsupported,
};
pub use image::{Image, ImageError};
pub use info::{Apm, InfoBuilder, InfoError};

/// The magic a kernel's Multiboot 2 header starts with.
pub const HEADER_MAGIC: u32 = 0xE852_50D6;

/// The value the loader puts in EAX at entry.
pub const BOOTLOADER_MAGIC: u32 = 0x36D7_6289;

/// The header must lie wholly within this many bytes from the start of the file.
pub const SEARCH_LIMIT: usize = 32768;

/// The header's architecture field for 32-bit x86.
pub const ARCH_I386: u32 = 0;

/// Boot information tag types (spec 3.6).
pub mod tag {
    pub const END: u32 = 0;
    pub const CMDLINE: u32 = 1;
    pub const LOADER_NAME: u32 = 2;
    pub const MODULE: u32 = 3;
    pub const BASIC_MEMINFO: u32 = 4;
    pub const BOOTDEV: u32 = 5;
    pub const MMAP: u32 = 6;
    pub const VBE: u32 = 7;
    pub const FRAMEBUFFER: u32 = 8;
    pub const ELF_SECTIONS: u32 = 9;
    pub const APM: u32 = 10;
    pub const EFI32: u32 = 11;
    pub const EFI64: u32 = 12;
    pub const SMBIOS: u32 = 13;
    pub const ACPI_OLD: u32 = 14;
    pub const ACPI_NEW: u32 = 15;
    pub const NETWORK: u32 = 16;
    pub const EFI_MMAP: u32 = 17;
    pub const EFI_BS: u32 = 18;
    pub const EFI32_IH: u32 = 19;
    pub const EFI64_IH: u32 = 20;
    pub const LOAD_BASE_ADDR: u32 = 21;

    /// The types a kernel may require (information request tag): every one the spec defines
    /// but SMBIOS, as GRUB. Those that cannot exist here (EFI on a BIOS, a boot device for a
    /// kernel that came over the network, VBE in text mode) are understood and left out, as
    /// the spec allows.
    pub fn understood(tag_type: u32) -> bool {
        tag_type <= LOAD_BASE_ADDR && tag_type != SMBIOS
    }
}
