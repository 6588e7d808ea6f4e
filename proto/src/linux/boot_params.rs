//! The zero page (`struct boot_params`, Documentation/arch/x86/zero-page.rst) built in a 4 KiB
//! buffer the caller owns.

use super::header::{CAN_USE_HEAP, offset};
use super::placement::KernelLoad;
use super::{BzImage, LinuxError, ZERO_PAGE_LEN};
use crate::memmap::E820Entry;
use crate::video::{ColorModel, Framebuffer};

/// Zero-page offsets outside the setup header.
mod at {
    pub const ORIG_X: usize = 0x00;
    pub const ORIG_Y: usize = 0x01;
    pub const EXT_MEM_K: usize = 0x02;
    pub const ORIG_VIDEO_MODE: usize = 0x06;
    pub const ORIG_VIDEO_COLS: usize = 0x07;
    pub const ORIG_VIDEO_LINES: usize = 0x0E;
    pub const ORIG_VIDEO_IS_VGA: usize = 0x0F;
    pub const ORIG_VIDEO_POINTS: usize = 0x10;
    pub const LFB_WIDTH: usize = 0x12;
    pub const LFB_HEIGHT: usize = 0x14;
    pub const LFB_DEPTH: usize = 0x16;
    pub const LFB_BASE: usize = 0x18;
    pub const LFB_SIZE: usize = 0x1C;
    pub const LFB_LINELENGTH: usize = 0x24;
    /// red size, red pos, green size, green pos, blue size, blue pos, rsvd size, rsvd pos.
    pub const COLOUR_FIELDS: usize = 0x26;
    pub const CAPABILITIES: usize = 0x36;
    pub const EXT_LFB_BASE: usize = 0x3A;
    pub const ACPI_RSDP_ADDR: usize = 0x70;
    /// struct efi_info: signature, systab, memdesc_size, memdesc_version, memmap,
    /// memmap_size, systab_hi, memmap_hi (u32 each).
    pub const EFI_INFO: usize = 0x1C0;
    pub const ALT_MEM_K: usize = 0x1E0;
    pub const E820_ENTRIES: usize = 0x1E8;
    pub const E820_TABLE: usize = 0x2D0;
}

/// Entries the zero page's E820 table holds.
pub const E820_MAX: usize = 128;
/// orig_video_isVGA for a VGA text mode, and for a VESA linear framebuffer (VIDEO_TYPE_VLFB).
const VIDEO_TYPE_VGA_TEXT: u8 = 1;
const VIDEO_TYPE_VLFB: u8 = 0x23;
/// screen_info.capabilities: lfb_base has 32 more bits in ext_lfb_base.
const VIDEO_CAPABILITY_64BIT_BASE: u32 = 1 << 1;

/// What a kernel started from UEFI learns of the firmware (zero page `efi_info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EfiInfo {
    pub system_table: u64,
    /// Where the EFI memory map lies, and its length in bytes.
    pub memory_map: u64,
    pub memory_map_size: u32,
    pub descriptor_size: u32,
    pub descriptor_version: u32,
}

/// Where the loader's text cursor was (column, row from 0), for a text screen: the kernel's
/// console goes on from there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextCursor {
    pub x: u8,
    pub y: u8,
}

/// The zero page being built. Every setter writes straight into the page.
pub struct ZeroPage<'p> {
    page: &'p mut [u8; ZERO_PAGE_LEN],
    cmdline_size: u32,
}

impl<'p> ZeroPage<'p> {
    /// Zeroes `page` and copies the kernel's setup header into it (0x1F1 to `0x202 +
    /// byte[0x201]`, exactly: a longer copy would set the sentinel-checked fields after it),
    /// then writes type_of_loader.
    pub fn new(
        page: &'p mut [u8; ZERO_PAGE_LEN],
        kernel: &BzImage<'_>,
        type_of_loader: u8,
    ) -> Self {
        page.fill(0);
        let header = kernel.setup_header_bytes();
        page[offset::SETUP_SECTS..offset::SETUP_SECTS + header.len()].copy_from_slice(header);
        page[offset::TYPE_OF_LOADER] = type_of_loader;
        ZeroPage {
            page,
            cmdline_size: kernel.header().cmdline_size,
        }
    }

    fn put16(&mut self, at: usize, value: u16) {
        self.page[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }

    fn put32(&mut self, at: usize, value: u32) {
        self.page[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn put64(&mut self, at: usize, value: u64) {
        self.page[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    /// Where the kernel was placed: code32_start moves with it, and kernel_alignment becomes
    /// the alignment actually given (the kernel rounds its address up to kernel_alignment to
    /// find where to decompress, so a smaller one than it asked for must be said).
    pub fn set_kernel(&mut self, load: &KernelLoad) {
        self.put32(offset::CODE32_START, load.entry);
        self.put32(offset::KERNEL_ALIGNMENT, load.alignment);
    }

    /// The command line at physical `address`, `len` bytes before its NUL.
    pub fn set_cmdline(&mut self, address: u32, len: usize) -> Result<(), LinuxError> {
        if len > self.cmdline_size as usize {
            return Err(LinuxError::CmdlineTooLong {
                len,
                max: self.cmdline_size,
            });
        }
        self.put32(offset::CMD_LINE_PTR, address);
        Ok(())
    }

    /// The initrd (all files concatenated) at `address`, `size` bytes; below 4 GiB, as the
    /// 32-bit fields hold (placement keeps it there).
    pub fn set_initrd(&mut self, address: u64, size: u64) -> Result<(), LinuxError> {
        let (Ok(address), Ok(size)) = (u32::try_from(address), u32::try_from(size)) else {
            return Err(LinuxError::Above4GiB { what: "the initrd" });
        };
        self.put32(offset::RAMDISK_IMAGE, address);
        self.put32(offset::RAMDISK_SIZE, size);
        Ok(())
    }

    /// For the 16-bit entry only (the real-mode setup code's heap): heap_end_ptr and
    /// CAN_USE_HEAP. The 32-bit entry skips that code, so netloader leaves both clear there.
    pub fn set_heap_end(&mut self, heap_end_ptr: u16) {
        self.put16(offset::HEAP_END_PTR, heap_end_ptr);
        self.page[offset::LOADFLAGS] |= CAN_USE_HEAP;
    }

    /// The BIOS memory map: usable entries as they are, neighbours of the same type merged
    /// (as GRUB does), entries the BIOS marks "ignore" (ACPI 3.0 attribute bit 0 clear) or
    /// empty left out. Also the legacy sizes (ext_mem_k, alt_mem_k) from the RAM above 1 MiB,
    /// which the kernel reads only when the table is unusable. Returns the entries written.
    pub fn set_e820(&mut self, entries: &[E820Entry], upper_kib: u32) -> Result<usize, LinuxError> {
        let mut count = 0usize;
        let mut last: Option<(u64, u64, u32)> = None;
        let write =
            |page: &mut [u8; ZERO_PAGE_LEN], count: usize, (base, len, kind): (u64, u64, u32)| {
                if count < E820_MAX {
                    let at = at::E820_TABLE + count * 20;
                    page[at..at + 8].copy_from_slice(&base.to_le_bytes());
                    page[at + 8..at + 16].copy_from_slice(&len.to_le_bytes());
                    page[at + 16..at + 20].copy_from_slice(&kind.to_le_bytes());
                }
            };
        for entry in entries {
            if entry.length == 0 || entry.acpi_attributes & 1 == 0 {
                continue;
            }
            match &mut last {
                Some((base, len, kind))
                    if *kind == entry.kind && base.saturating_add(*len) == entry.base =>
                {
                    *len = len.saturating_add(entry.length);
                }
                _ => {
                    if let Some(done) = last {
                        write(self.page, count, done);
                        count += 1;
                    }
                    last = Some((entry.base, entry.length, entry.kind));
                }
            }
        }
        if let Some(done) = last {
            write(self.page, count, done);
            count += 1;
        }
        if count > E820_MAX {
            return Err(LinuxError::TooManyE820 { entries: count });
        }
        self.page[at::E820_ENTRIES] = count as u8;
        self.put16(at::EXT_MEM_K, upper_kib.min(0xFFFF) as u16);
        self.put32(at::ALT_MEM_K, upper_kib);
        Ok(count)
    }

    /// screen_info for the screen the kernel gets: an EGA text mode (VGA text mode 3 with
    /// the framebuffer's columns and lines, 16-line font, the cursor), as GRUB gives it on a
    /// BIOS PC; or a linear framebuffer (VIDEO_TYPE_VLFB; lfb_size in 64 KiB units, as vesafb
    /// reads it; the reserved bits are what the colours leave of a pixel).
    pub fn set_screen(&mut self, fb: &Framebuffer, cursor: TextCursor) {
        let (red, green, blue) = match fb.model {
            ColorModel::EgaText => {
                self.page[at::ORIG_X] = cursor.x;
                self.page[at::ORIG_Y] = cursor.y;
                self.page[at::ORIG_VIDEO_MODE] = 3;
                self.page[at::ORIG_VIDEO_COLS] = fb.width.min(0xFF) as u8;
                self.page[at::ORIG_VIDEO_LINES] = fb.height.min(0xFF) as u8;
                self.page[at::ORIG_VIDEO_IS_VGA] = VIDEO_TYPE_VGA_TEXT;
                self.put16(at::ORIG_VIDEO_POINTS, 16);
                return;
            }
            ColorModel::Rgb { red, green, blue } => (red, green, blue),
        };
        self.page[at::ORIG_VIDEO_IS_VGA] = VIDEO_TYPE_VLFB;
        self.put16(at::LFB_WIDTH, fb.width.min(0xFFFF) as u16);
        self.put16(at::LFB_HEIGHT, fb.height.min(0xFFFF) as u16);
        self.put16(at::LFB_DEPTH, fb.bpp.into());
        self.put32(at::LFB_BASE, fb.address as u32);
        let bytes = u64::from(fb.pitch) * u64::from(fb.height);
        let units = bytes.div_ceil(0x10000);
        self.put32(at::LFB_SIZE, units.min(u32::MAX.into()) as u32);
        self.put16(at::LFB_LINELENGTH, fb.pitch.min(0xFFFF) as u16);
        // (position, size) in the framebuffer type; screen_info wants size, then position.
        let channels = [red, green, blue];
        let used_top = channels
            .iter()
            .map(|&(position, size)| position.saturating_add(size))
            .max()
            .unwrap_or(0);
        let reserved = match fb.bpp.saturating_sub(used_top) {
            0 => (0, 0),
            size => (used_top, size),
        };
        let colours = [red, green, blue, reserved];
        for (i, (position, size)) in colours.into_iter().enumerate() {
            self.page[at::COLOUR_FIELDS + 2 * i] = size;
            self.page[at::COLOUR_FIELDS + 2 * i + 1] = position;
        }
        let high = (fb.address >> 32) as u32;
        if high != 0 {
            self.put32(at::EXT_LFB_BASE, high);
            self.put32(at::CAPABILITIES, VIDEO_CAPABILITY_64BIT_BASE);
        }
    }

    /// The ACPI RSDP's address, where the loader found it (boot protocol 2.14+ kernels read it
    /// instead of searching the BIOS areas themselves; older ones ignore the field).
    pub fn set_acpi_rsdp(&mut self, address: u64) {
        self.put64(at::ACPI_RSDP_ADDR, address);
    }

    /// efi_info for a kernel started from a 64-bit UEFI after ExitBootServices: the system
    /// table and the final EFI memory map (where the loader keeps a copy for the kernel), with
    /// the signature "EL64" that tells the kernel the firmware is 64-bit. The kernel uses them
    /// for runtime services and to rebuild its memory map; the E820 table is still filled
    /// ([`ZeroPage::set_e820`] from the same map) for the code that reads that.
    pub fn set_efi64(&mut self, efi: &EfiInfo) {
        let words = [
            u32::from_le_bytes(*b"EL64"),
            efi.system_table as u32,
            efi.descriptor_size,
            efi.descriptor_version,
            efi.memory_map as u32,
            efi.memory_map_size,
            (efi.system_table >> 32) as u32,
            (efi.memory_map >> 32) as u32,
        ];
        for (i, word) in words.into_iter().enumerate() {
            self.put32(at::EFI_INFO + 4 * i, word);
        }
    }

    /// The finished page.
    pub fn bytes(&self) -> &[u8; ZERO_PAGE_LEN] {
        self.page
    }
}
