//! Multiboot 1 (GNU Multiboot Specification 0.6.96): the header a kernel carries
//! ([`Header::find`]) and the information structure a loader hands it ([`MbiBuilder`]).
//!
//! Hand-off: the kernel is entered in 32-bit protected mode, paging off, interrupts off, with
//! `EAX = BOOTLOADER_MAGIC` and `EBX` = the physical address [`MbiBuilder::finish`] returns.

mod header;
mod info;

pub use header::{AddressFields, Header, HeaderError, VideoMode};
pub use info::{INFO_SIZE, MbiBuilder, MbiError, info_flags};

/// The magic a kernel's Multiboot header starts with.
pub const HEADER_MAGIC: u32 = 0x1BAD_B002;

/// The value the loader puts in EAX at entry.
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;

/// The header must lie wholly within this many bytes from the start of the file.
pub const SEARCH_LIMIT: usize = 8192;

/// Bits of the header's `flags` word. Bits 0-15 are requirements (refuse if not met),
/// bits 16-31 are optional features.
pub mod header_flags {
    /// Modules must be loaded at 4 KiB boundaries.
    pub const PAGE_ALIGN_MODULES: u32 = 1 << 0;
    /// `mem_lower`/`mem_upper` (and the memory map if available) must be passed.
    pub const MEMORY_INFO: u32 = 1 << 1;
    /// The video mode table must be passed; the header's video fields are the preference.
    pub const VIDEO_MODE: u32 = 1 << 2;
    /// Use the header's address fields instead of the executable's own headers (a.out kludge).
    pub const ADDRESS_FIELDS: u32 = 1 << 16;
    /// Required bits this loader meets. Bit 2: a VBE linear mode for mode type 0 where one
    /// fits (flags 11 and 12 in the information), else EGA text (flag 12, type 2).
    pub const SUPPORTED_REQUIRED: u32 = PAGE_ALIGN_MODULES | MEMORY_INFO | VIDEO_MODE;
    /// The mask of required bits.
    pub const REQUIRED_MASK: u32 = 0xFFFF;
}
