//! The Multiboot 2 boot information (spec 3.6), built into a byte buffer that lies at physical
//! address `base`: `u32 total_size, u32 reserved`, then tags `u32 type, u32 size, data`, each
//! starting 8-byte aligned, ending with the end tag (type 0, size 8). Each call appends one
//! tag; the first error sticks and [`InfoBuilder::finish`] returns it (nothing panics).
//!
//! Layouts follow GRUB's `multiboot2.h` where the spec's text differs from what every loader
//! and kernel uses: the ELF sections tag has 32-bit `num`, `entsize` and `shndx` (the spec
//! shows 16-bit fields; GRUB, Limine and the `multiboot2` crate use 32), the framebuffer tag
//! a 16-bit reserved field after the type.

use core::fmt;

use super::tag;
use crate::memmap::E820Entry;
use crate::vbe::Vbe;
use crate::video::Framebuffer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoError {
    /// The buffer cannot hold every tag asked for (`capacity` bytes).
    BufferTooSmall { capacity: usize },
    /// `base` is not 8-byte aligned, or `base + capacity` reaches past 4 GiB.
    BadBase { base: u64 },
}

impl fmt::Display for InfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InfoError::BufferTooSmall { capacity } => write!(
                f,
                "the Multiboot 2 information does not fit in its {capacity}-byte buffer"
            ),
            InfoError::BadBase { base } => write!(
                f,
                "the Multiboot 2 information cannot start at {base:#x} (8-byte aligned, below 4 GiB)"
            ),
        }
    }
}

/// The APM table (tag 10), as INT 15h AX=5303h reports the 32-bit interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Apm {
    pub version: u16,
    pub cseg: u16,
    pub offset: u32,
    pub cseg_16: u16,
    pub dseg: u16,
    pub flags: u16,
    pub cseg_len: u16,
    pub cseg_16_len: u16,
    pub dseg_len: u16,
}

/// Appends tags into a buffer; see the module docs.
///
/// ```
/// # use netloader_proto::multiboot2::InfoBuilder;
/// let mut buf = [0u8; 256];
/// let mut info = InfoBuilder::new(&mut buf, 0x9000);
/// info.cmdline(b"/kernel arg").module(0x200000, 0x201000, b"/m1 x");
/// let (address, len) = info.finish().unwrap(); // EBX at entry, bytes used
/// # assert_eq!(address, 0x9000);
/// # assert_eq!(len, 8 + 24 + 24 + 8);
/// ```
pub struct InfoBuilder<'a> {
    buf: &'a mut [u8],
    base: u64,
    /// Where the next tag goes (8-byte aligned).
    at: usize,
    error: Option<InfoError>,
}

const ALIGN: usize = 8;

impl<'a> InfoBuilder<'a> {
    /// `base` is the physical address of `buf[0]`.
    pub fn new(buf: &'a mut [u8], base: u64) -> Self {
        let mut b = InfoBuilder {
            buf,
            base,
            at: 8,
            error: None,
        };
        if !base.is_multiple_of(ALIGN as u64) || base + b.buf.len() as u64 > 1 << 32 {
            b.error = Some(InfoError::BadBase { base });
        } else if b.buf.len() < 8 {
            b.fail();
        } else {
            b.buf[..8].fill(0);
        }
        b
    }

    /// Tag 1: the kernel's command line.
    pub fn cmdline(&mut self, cmdline: &[u8]) -> &mut Self {
        self.string_tag(tag::CMDLINE, cmdline)
    }

    /// Tag 2: the loader's name.
    pub fn loader_name(&mut self, name: &[u8]) -> &mut Self {
        self.string_tag(tag::LOADER_NAME, name)
    }

    /// Tag 3: one module at `[start, end)` with its command line.
    pub fn module(&mut self, start: u32, end: u32, cmdline: &[u8]) -> &mut Self {
        if let Some(at) = self.open(tag::MODULE, 16 + cmdline.len() + 1) {
            self.put32(at + 8, start);
            self.put32(at + 12, end);
            self.put_bytes(at + 16, cmdline);
            self.put_bytes(at + 16 + cmdline.len(), &[0]);
        }
        self
    }

    /// Tag 4: `mem_lower` and `mem_upper` in KiB (as Multiboot 1's).
    pub fn basic_meminfo(&mut self, lower_kib: u32, upper_kib: u32) -> &mut Self {
        if let Some(at) = self.open(tag::BASIC_MEMINFO, 16) {
            self.put32(at + 8, lower_kib);
            self.put32(at + 12, upper_kib);
        }
        self
    }

    /// Tag 6: the BIOS memory map, entries of 24 bytes (version 0). Entries whose ACPI 3.0
    /// attributes say "ignore" are left out, as in the Multiboot 1 information.
    pub fn memory_map(&mut self, entries: &[E820Entry]) -> &mut Self {
        let kept = || entries.iter().filter(|e| e.acpi_attributes & 1 == 1);
        if let Some(at) = self.open(tag::MMAP, 16 + 24 * kept().count()) {
            self.put32(at + 8, 24);
            self.put32(at + 12, 0);
            for (i, e) in kept().enumerate() {
                let p = at + 16 + 24 * i;
                self.put64(p, e.base);
                self.put64(p + 8, e.length);
                self.put32(p + 16, e.kind);
                self.put32(p + 20, 0);
            }
        }
        self
    }

    /// Tag 7: the VBE information of the mode set.
    pub fn vbe(&mut self, vbe: &Vbe) -> &mut Self {
        if let Some(at) = self.open(tag::VBE, 16 + 512 + 256) {
            self.put16(at + 8, vbe.mode);
            self.put16(at + 10, vbe.interface_seg);
            self.put16(at + 12, vbe.interface_off);
            self.put16(at + 14, vbe.interface_len);
            self.put_bytes(at + 16, vbe.control_info);
            self.put_bytes(at + 16 + 512, vbe.mode_info);
        }
        self
    }

    /// Tag 8: the framebuffer (or EGA text).
    pub fn framebuffer(&mut self, fb: &Framebuffer) -> &mut Self {
        let color_info = fb.model.multiboot_color_info();
        let size = 32 + color_info.map_or(0, |c| c.len());
        if let Some(at) = self.open(tag::FRAMEBUFFER, size) {
            self.put64(at + 8, fb.address);
            self.put32(at + 16, fb.pitch);
            self.put32(at + 20, fb.width);
            self.put32(at + 24, fb.height);
            self.put_bytes(at + 28, &[fb.bpp, fb.model.multiboot_type(), 0, 0]);
            if let Some(info) = color_info {
                self.put_bytes(at + 32, &info);
            }
        }
        self
    }

    /// Tag 9: the ELF section headers (`headers` holds `num` entries of `entsize` bytes, their
    /// `sh_addr` already pointing where the sections are). `num` 0 for a kernel without.
    pub fn elf_sections(
        &mut self,
        num: u32,
        entsize: u32,
        shndx: u32,
        headers: &[u8],
    ) -> &mut Self {
        if let Some(at) = self.open(tag::ELF_SECTIONS, 20 + headers.len()) {
            self.put32(at + 8, num);
            self.put32(at + 12, entsize);
            self.put32(at + 16, shndx);
            self.put_bytes(at + 20, headers);
        }
        self
    }

    /// Tag 10: the APM interface.
    pub fn apm(&mut self, apm: &Apm) -> &mut Self {
        if let Some(at) = self.open(tag::APM, 28) {
            self.put16(at + 8, apm.version);
            self.put16(at + 10, apm.cseg);
            self.put32(at + 12, apm.offset);
            self.put16(at + 16, apm.cseg_16);
            self.put16(at + 18, apm.dseg);
            self.put16(at + 20, apm.flags);
            self.put16(at + 22, apm.cseg_len);
            self.put16(at + 24, apm.cseg_16_len);
            self.put16(at + 26, apm.dseg_len);
        }
        self
    }

    /// Tag 14: a copy of the ACPI 1.0 RSDP (its first 20 bytes).
    pub fn acpi_old(&mut self, rsdp: &[u8]) -> &mut Self {
        self.bytes_tag(tag::ACPI_OLD, rsdp)
    }

    /// Tag 15: a copy of the ACPI 2.0+ RSDP (XSDP, `length` bytes).
    pub fn acpi_new(&mut self, rsdp: &[u8]) -> &mut Self {
        self.bytes_tag(tag::ACPI_NEW, rsdp)
    }

    /// Tag 16: the DHCP ACK the loader used, as it came off the wire (the BOOTP message).
    pub fn network(&mut self, dhcp_ack: &[u8]) -> &mut Self {
        self.bytes_tag(tag::NETWORK, dhcp_ack)
    }

    /// Tag 11: the 32-bit EFI system table (a 32-bit UEFI's).
    pub fn efi32_system_table(&mut self, address: u32) -> &mut Self {
        if let Some(at) = self.open(tag::EFI32, 12) {
            self.put32(at + 8, address);
        }
        self
    }

    /// Tag 12: the 64-bit EFI system table.
    pub fn efi64_system_table(&mut self, address: u64) -> &mut Self {
        if let Some(at) = self.open(tag::EFI64, 16) {
            self.put64(at + 8, address);
        }
        self
    }

    /// Tag 17: the EFI memory map as `GetMemoryMap` wrote it (`descriptors` holds whole
    /// descriptors of `descriptor_size` bytes), with the descriptor version.
    pub fn efi_memory_map(
        &mut self,
        descriptor_size: u32,
        descriptor_version: u32,
        descriptors: &[u8],
    ) -> &mut Self {
        if let Some(at) = self.open(tag::EFI_MMAP, 16 + descriptors.len()) {
            self.put32(at + 8, descriptor_size);
            self.put32(at + 12, descriptor_version);
            self.put_bytes(at + 16, descriptors);
        }
        self
    }

    /// Tag 18: the boot services were not terminated (the kernel asked to keep them, header
    /// tag 7).
    pub fn efi_boot_services(&mut self) -> &mut Self {
        self.open(tag::EFI_BS, 8);
        self
    }

    /// Tag 19: the 32-bit EFI image handle.
    pub fn efi32_image_handle(&mut self, handle: u32) -> &mut Self {
        if let Some(at) = self.open(tag::EFI32_IH, 12) {
            self.put32(at + 8, handle);
        }
        self
    }

    /// Tag 20: the 64-bit EFI image handle.
    pub fn efi64_image_handle(&mut self, handle: u64) -> &mut Self {
        if let Some(at) = self.open(tag::EFI64_IH, 16) {
            self.put64(at + 8, handle);
        }
        self
    }

    /// Tag 21: the physical address the image was loaded at.
    pub fn load_base_addr(&mut self, address: u32) -> &mut Self {
        if let Some(at) = self.open(tag::LOAD_BASE_ADDR, 12) {
            self.put32(at + 8, address);
        }
        self
    }

    /// Appends the end tag and writes the total size. Returns the physical address (for EBX)
    /// and the bytes used; calling it again returns the same.
    pub fn finish(&mut self) -> Result<(u32, usize), InfoError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let end = self.at + 8;
        let total = self.total();
        if total == 0 {
            // Not finished yet: append the end tag.
            if self.open(tag::END, 8).is_none() {
                return Err(self.error.unwrap_or(InfoError::BufferTooSmall {
                    capacity: self.buf.len(),
                }));
            }
            self.put32(0, end as u32);
        }
        Ok((self.base as u32, self.total() as usize))
    }

    fn total(&self) -> u32 {
        self.get32(0)
    }

    fn string_tag(&mut self, tag_type: u32, s: &[u8]) -> &mut Self {
        if let Some(at) = self.open(tag_type, 8 + s.len() + 1) {
            self.put_bytes(at + 8, s);
            self.put_bytes(at + 8 + s.len(), &[0]);
        }
        self
    }

    fn bytes_tag(&mut self, tag_type: u32, bytes: &[u8]) -> &mut Self {
        if let Some(at) = self.open(tag_type, 8 + bytes.len()) {
            self.put_bytes(at + 8, bytes);
        }
        self
    }

    /// Reserves a tag of `size` bytes (header included), zeroed up to the next 8-byte
    /// boundary, and writes its type and size. None after an error, or once finished.
    fn open(&mut self, tag_type: u32, size: usize) -> Option<usize> {
        if self.error.is_some() || self.total() != 0 {
            return None;
        }
        let at = self.at;
        let end = at.checked_add(size)?.checked_next_multiple_of(ALIGN)?;
        let fits = u32::try_from(size).is_ok() && end <= self.buf.len();
        if !fits {
            self.fail();
            return None;
        }
        self.buf[at..end].fill(0);
        self.put32(at, tag_type);
        self.put32(at + 4, size as u32);
        self.at = end;
        Some(at)
    }

    fn fail(&mut self) {
        self.error.get_or_insert(InfoError::BufferTooSmall {
            capacity: self.buf.len(),
        });
    }

    fn get32(&self, at: usize) -> u32 {
        match self.buf.get(at..at + 4) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    fn put_bytes(&mut self, at: usize, bytes: &[u8]) {
        if let Some(s) = self.buf.get_mut(at..at + bytes.len()) {
            s.copy_from_slice(bytes);
        }
    }

    fn put16(&mut self, at: usize, v: u16) {
        self.put_bytes(at, &v.to_le_bytes());
    }

    fn put32(&mut self, at: usize, v: u32) {
        self.put_bytes(at, &v.to_le_bytes());
    }

    fn put64(&mut self, at: usize, v: u64) {
        self.put_bytes(at, &v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests;
