//! The Multiboot information structure (MBI) and what hangs off it, built into a byte buffer
//! that the caller copies to physical address `base`.
//!
//! Layout: the 116-byte info structure first (at the first 8-byte aligned physical address in
//! the buffer), the module array right after it, then the strings and the memory map. While
//! building, strings and the map grow down from the end of the buffer so that the module
//! array stays contiguous whatever order the calls come in; [`MbiBuilder::finish`] moves
//! them down next to the module array and fixes their addresses.
//!
//! Alignment: the info structure, the module array and the memory map start at 8-byte aligned
//! addresses. The spec asks only for 4, but the map holds 64-bit fields and 8 costs nothing.

use core::fmt;

use crate::memmap::E820Entry;
use crate::vbe::Vbe;
use crate::video::Framebuffer;

/// Size of the info structure up to and including the framebuffer fields (spec 0.6.96).
pub const INFO_SIZE: usize = 116;

/// The info structure's `flags` bits this builder sets.
pub mod info_flags {
    pub const MEMORY: u32 = 1 << 0;
    pub const BOOT_DEVICE: u32 = 1 << 1;
    pub const CMDLINE: u32 = 1 << 2;
    pub const MODULES: u32 = 1 << 3;
    pub const MEMORY_MAP: u32 = 1 << 6;
    pub const BOOT_LOADER_NAME: u32 = 1 << 9;
    pub const VBE: u32 = 1 << 11;
    pub const FRAMEBUFFER: u32 = 1 << 12;
}

/// Offsets of the info structure's fields.
mod field {
    pub const FLAGS: usize = 0;
    pub const MEM_LOWER: usize = 4;
    pub const MEM_UPPER: usize = 8;
    pub const CMDLINE: usize = 16;
    pub const MODS_COUNT: usize = 20;
    pub const MODS_ADDR: usize = 24;
    pub const MMAP_LENGTH: usize = 44;
    pub const MMAP_ADDR: usize = 48;
    pub const BOOT_LOADER_NAME: usize = 64;
    pub const VBE_CONTROL_INFO: usize = 72;
    pub const VBE_MODE_INFO: usize = 76;
    pub const VBE_MODE: usize = 80;
    pub const FRAMEBUFFER: usize = 88;
}

const MODULE_ENTRY_SIZE: usize = 16;
const MMAP_ENTRY_SIZE: usize = 24;
/// The `size` field of a memory map entry: the bytes after it.
const MMAP_ENTRY_SIZE_FIELD: u32 = 20;
const ALIGN: u32 = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MbiError {
    /// The buffer cannot hold everything asked for (`capacity` bytes).
    BufferTooSmall { capacity: usize },
    /// `base + buffer length` goes past 4 GiB: the kernel could not reach it.
    AddressOverflow { base: u32, len: usize },
}

impl fmt::Display for MbiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MbiError::BufferTooSmall { capacity } => write!(
                f,
                "the Multiboot information (command lines, modules, memory map) does not fit \
                 in its {capacity}-byte buffer"
            ),
            MbiError::AddressOverflow { base, len } => write!(
                f,
                "Multiboot information buffer at {base:#x} ({len} bytes) reaches past 4 GiB"
            ),
        }
    }
}

/// Builds a Multiboot 1 information structure. Each call records what it adds; the first
/// error sticks and is returned by [`finish`](Self::finish) (nothing panics).
///
/// ```
/// # use netloader_proto::multiboot::MbiBuilder;
/// let mut buf = [0u8; 1024];
/// let mut mbi = MbiBuilder::new(&mut buf, 0x9000);
/// mbi.memory(639, 130048).cmdline(b"/kernel arg").module(0x200000, 0x201000, b"/initrd");
/// let address = mbi.finish().unwrap(); // EBX at entry
/// let used = mbi.used_len(); // copy buf[..used] to 0x9000
/// # assert_eq!(address, 0x9000);
/// # assert!(used < 1024);
/// ```
pub struct MbiBuilder<'a> {
    buf: &'a mut [u8],
    base: u32,
    /// Offset of the info structure in `buf`.
    info: usize,
    /// End of the info structure plus module array.
    front: usize,
    /// Start of the strings and memory map (they grow down from the end).
    back: usize,
    modules: u32,
    error: Option<MbiError>,
    finished: Option<usize>,
}

impl<'a> MbiBuilder<'a> {
    /// `base` is the physical address `buf[0]` will be copied to.
    pub fn new(buf: &'a mut [u8], base: u32) -> Self {
        let len = buf.len();
        let info = align_pad(base, 0);
        let mut b = MbiBuilder {
            buf,
            base,
            info,
            front: info,
            back: len,
            modules: 0,
            error: None,
            finished: None,
        };
        if base as u64 + len as u64 > 1 << 32 {
            b.error = Some(MbiError::AddressOverflow { base, len });
            return b;
        }
        // Room for the structure, padded so the module array is 8-byte aligned too.
        let end = info + INFO_SIZE + align_pad(base, info + INFO_SIZE);
        match b.buf.get_mut(info..end) {
            Some(s) => {
                s.fill(0);
                b.front = end;
            }
            None => b.fail(),
        }
        b
    }

    /// `mem_lower` and `mem_upper` in KiB (flag bit 0).
    pub fn memory(&mut self, lower_kib: u32, upper_kib: u32) -> &mut Self {
        self.set(field::MEM_LOWER, lower_kib);
        self.set(field::MEM_UPPER, upper_kib);
        self.add_flags(info_flags::MEMORY);
        self
    }

    /// The BIOS memory map (flag bit 6), one 24-byte entry per E820 entry. Entries whose ACPI
    /// 3.0 attributes say "ignore" (bit 0 clear) are left out. No flag when none remains.
    pub fn memory_map(&mut self, entries: &[E820Entry]) -> &mut Self {
        let count = entries
            .iter()
            .filter(|e| e.acpi_attributes & 1 == 1)
            .count();
        if count == 0 {
            return self;
        }
        let Some(at) = self.alloc_back(count * MMAP_ENTRY_SIZE, ALIGN) else {
            return self;
        };
        let mut pos = at;
        for e in entries.iter().filter(|e| e.acpi_attributes & 1 == 1) {
            self.put32(pos, MMAP_ENTRY_SIZE_FIELD);
            self.put64(pos + 4, e.base);
            self.put64(pos + 12, e.length);
            self.put32(pos + 20, e.kind);
            pos += MMAP_ENTRY_SIZE;
        }
        self.set(field::MMAP_LENGTH, (count * MMAP_ENTRY_SIZE) as u32);
        self.set(field::MMAP_ADDR, self.address(at));
        self.add_flags(info_flags::MEMORY_MAP);
        self
    }

    /// The kernel's command line (flag bit 2). GRUB passes the kernel's path first
    /// (`/kernel arg1 arg2`); the caller decides.
    pub fn cmdline(&mut self, cmdline: &[u8]) -> &mut Self {
        if let Some(at) = self.string(cmdline) {
            self.set(field::CMDLINE, self.address(at));
            self.add_flags(info_flags::CMDLINE);
        }
        self
    }

    /// One module loaded at `[start, end)` with its command line (flag bit 3).
    pub fn module(&mut self, start: u32, end: u32, cmdline: &[u8]) -> &mut Self {
        let Some(string) = self.string(cmdline) else {
            return self;
        };
        let Some(at) = self.alloc_front(MODULE_ENTRY_SIZE) else {
            return self;
        };
        if self.modules == 0 {
            self.set(field::MODS_ADDR, self.address(at));
        }
        self.put32(at, start);
        self.put32(at + 4, end);
        self.put32(at + 8, self.address(string));
        self.put32(at + 12, 0);
        self.modules += 1;
        self.set(field::MODS_COUNT, self.modules);
        self.add_flags(info_flags::MODULES);
        self
    }

    /// The loader's name (flag bit 9), e.g. `b"netloader 0.1.0"`.
    pub fn boot_loader_name(&mut self, name: &[u8]) -> &mut Self {
        if let Some(at) = self.string(name) {
            self.set(field::BOOT_LOADER_NAME, self.address(at));
            self.add_flags(info_flags::BOOT_LOADER_NAME);
        }
        self
    }

    /// The VBE information of the mode set (flag bit 11): copies of the controller and mode
    /// information blocks, the mode, the protected-mode interface.
    pub fn vbe(&mut self, vbe: &Vbe) -> &mut Self {
        let Some(control) = self.alloc_back(512, ALIGN) else {
            return self;
        };
        self.put_bytes(control, vbe.control_info);
        let Some(mode) = self.alloc_back(256, ALIGN) else {
            return self;
        };
        self.put_bytes(mode, vbe.mode_info);
        self.set(field::VBE_CONTROL_INFO, self.address(control));
        self.set(field::VBE_MODE_INFO, self.address(mode));
        let words = [
            vbe.mode,
            vbe.interface_seg,
            vbe.interface_off,
            vbe.interface_len,
        ];
        for (i, word) in words.iter().enumerate() {
            self.set_bytes(field::VBE_MODE + 2 * i, &word.to_le_bytes());
        }
        self.add_flags(info_flags::VBE);
        self
    }

    /// The framebuffer (flag bit 12): a linear mode, or EGA text.
    pub fn framebuffer(&mut self, fb: &Framebuffer) -> &mut Self {
        let f = field::FRAMEBUFFER;
        self.set_bytes(f, &fb.address.to_le_bytes());
        self.set(f + 8, fb.pitch);
        self.set(f + 12, fb.width);
        self.set(f + 16, fb.height);
        self.set_bytes(f + 20, &[fb.bpp, fb.model.multiboot_type()]);
        self.set_bytes(f + 22, &fb.model.multiboot_color_info().unwrap_or([0; 6]));
        self.add_flags(info_flags::FRAMEBUFFER);
        self
    }

    /// Packs the structure and returns its physical address (for EBX). Afterwards
    /// [`used_len`](Self::used_len) says how many bytes of the buffer to copy (the rest is
    /// zeroed). Calling it again returns the same address.
    pub fn finish(&mut self) -> Result<u32, MbiError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.finished.is_none() {
            self.compact();
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.address(self.info)),
        }
    }

    /// Bytes of the buffer in use: after `finish`, everything the kernel needs lies in
    /// `buf[..used_len()]`; before it, the whole buffer.
    pub fn used_len(&self) -> usize {
        self.finished.unwrap_or(self.buf.len())
    }

    /// Moves the back region (strings, memory map) down next to the module array by a
    /// multiple of 8 (keeping the map aligned) and shifts the addresses that point into it.
    fn compact(&mut self) {
        let len = self.buf.len();
        let gap = self.back - self.front;
        let shift = gap - gap % ALIGN as usize;
        if shift > 0 {
            self.buf.copy_within(self.back..len, self.back - shift);
            let moved = |v: u32| v.wrapping_sub(shift as u32);
            for (flag, off) in [
                (info_flags::CMDLINE, field::CMDLINE),
                (info_flags::MEMORY_MAP, field::MMAP_ADDR),
                (info_flags::BOOT_LOADER_NAME, field::BOOT_LOADER_NAME),
                (info_flags::VBE, field::VBE_CONTROL_INFO),
                (info_flags::VBE, field::VBE_MODE_INFO),
            ] {
                if self.get(field::FLAGS) & flag != 0 {
                    let v = moved(self.get(off));
                    self.set(off, v);
                }
            }
            let mods = self.info + INFO_SIZE + align_pad(self.base, self.info + INFO_SIZE);
            for i in 0..self.modules as usize {
                let string = mods + i * MODULE_ENTRY_SIZE + 8;
                let v = moved(self.get32(string));
                self.put32(string, v);
            }
        }
        let end = len - shift;
        // The padding between the module array and the moved region, and what was left behind.
        if let Some(gap) = self.buf.get_mut(self.front..self.back - shift) {
            gap.fill(0);
        }
        if let Some(tail) = self.buf.get_mut(end..) {
            tail.fill(0);
        }
        self.back -= shift;
        self.finished = Some(end);
    }

    /// Copies `s` plus a NUL into the back region.
    fn string(&mut self, s: &[u8]) -> Option<usize> {
        let at = self.alloc_back(s.len().checked_add(1)?, 1)?;
        self.buf.get_mut(at..at + s.len())?.copy_from_slice(s);
        self.put_byte(at + s.len(), 0);
        Some(at)
    }

    fn alloc_front(&mut self, size: usize) -> Option<usize> {
        let at = self.front;
        match at.checked_add(size) {
            Some(end) if self.error.is_none() && self.finished.is_none() && end <= self.back => {
                self.front = end;
                Some(at)
            }
            _ => {
                self.fail();
                None
            }
        }
    }

    /// Takes `size` bytes below the back region, the start aligned to `align` in physical
    /// memory.
    fn alloc_back(&mut self, size: usize, align: u32) -> Option<usize> {
        let fits = self.error.is_none() && self.finished.is_none();
        let at = self.back.checked_sub(size).filter(|_| fits).map(|at| {
            let misalign = (self.base as usize).wrapping_add(at) % align as usize;
            at.saturating_sub(misalign)
        });
        match at {
            Some(at) if at >= self.front => {
                self.back = at;
                Some(at)
            }
            _ => {
                self.fail();
                None
            }
        }
    }

    fn fail(&mut self) {
        self.error.get_or_insert(MbiError::BufferTooSmall {
            capacity: self.buf.len(),
        });
    }

    fn address(&self, offset: usize) -> u32 {
        // base + buf.len() <= 4 GiB was checked in new(); offsets are within buf.
        self.base.wrapping_add(offset as u32)
    }

    fn add_flags(&mut self, bits: u32) {
        let v = self.get(field::FLAGS) | bits;
        self.set(field::FLAGS, v);
    }

    /// Writes a field of the info structure (nothing once an error is recorded).
    fn set(&mut self, field: usize, v: u32) {
        if self.error.is_none() {
            self.put32(self.info + field, v);
        }
    }

    /// Writes bytes into the info structure (nothing once an error is recorded).
    fn set_bytes(&mut self, field: usize, bytes: &[u8]) {
        if self.error.is_none() {
            self.put_bytes(self.info + field, bytes);
        }
    }

    fn put_bytes(&mut self, at: usize, bytes: &[u8]) {
        if let Some(s) = self.buf.get_mut(at..at + bytes.len()) {
            s.copy_from_slice(bytes);
        }
    }

    fn get(&self, field: usize) -> u32 {
        self.get32(self.info + field)
    }

    fn get32(&self, at: usize) -> u32 {
        match self.buf.get(at..at + 4) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    fn put_byte(&mut self, at: usize, v: u8) {
        if let Some(b) = self.buf.get_mut(at) {
            *b = v;
        }
    }

    fn put32(&mut self, at: usize, v: u32) {
        if let Some(s) = self.buf.get_mut(at..at + 4) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    }

    fn put64(&mut self, at: usize, v: u64) {
        if let Some(s) = self.buf.get_mut(at..at + 8) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// Bytes to add to `offset` so that `base + offset` is 8-byte aligned.
fn align_pad(base: u32, offset: usize) -> usize {
    let misalign = (base as usize).wrapping_add(offset) % ALIGN as usize;
    (ALIGN as usize - misalign) % ALIGN as usize
}

#[cfg(test)]
mod tests;
