//! Hand-built kernel images for the tests: ELF32/ELF64 executables and Multiboot headers,
//! assembled byte by byte so that every field can be made wrong on purpose.

use std::vec;
use std::vec::Vec;

use crate::multiboot::HEADER_MAGIC;

/// A program header, 64-bit wide; written as ELF32 or ELF64 by [`ElfImage::build`].
#[derive(Clone, Copy, Debug)]
pub struct Phdr {
    pub p_type: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// A `PT_LOAD` header.
pub fn load(offset: u64, vaddr: u64, paddr: u64, filesz: u64, memsz: u64) -> Phdr {
    Phdr {
        p_type: 1,
        offset,
        vaddr,
        paddr,
        filesz,
        memsz,
    }
}

/// An ELF executable with a program header table right after the file header.
#[derive(Clone, Debug)]
pub struct ElfImage {
    pub is_64: bool,
    pub e_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phentsize: u16,
    /// Written to `e_phnum`; defaults to `phdrs.len()` when None.
    pub phnum: Option<u16>,
    pub phdrs: Vec<Phdr>,
    /// Total file length (grown to hold the headers if smaller).
    pub len: usize,
}

impl ElfImage {
    pub fn elf32(entry: u64) -> Self {
        ElfImage {
            is_64: false,
            e_type: 2,
            machine: 3,
            entry,
            phoff: 52,
            phentsize: 32,
            phnum: None,
            phdrs: Vec::new(),
            len: 0x3000,
        }
    }

    pub fn elf64(entry: u64) -> Self {
        ElfImage {
            is_64: true,
            e_type: 2,
            machine: 62,
            entry,
            phoff: 64,
            phentsize: 56,
            phnum: None,
            phdrs: Vec::new(),
            len: 0x3000,
        }
    }

    pub fn with(mut self, phdr: Phdr) -> Self {
        self.phdrs.push(phdr);
        self
    }

    /// The file: headers, then every byte after them set to `(offset & 0xff) as u8` so that
    /// tests can tell which file bytes a placement covers.
    pub fn build(&self) -> Vec<u8> {
        let table_end = self.phoff as usize + self.phdrs.len() * self.phentsize as usize;
        let len = self
            .len
            .max(table_end)
            .max(if self.is_64 { 64 } else { 52 });
        let mut f: Vec<u8> = (0..len).map(|i| i as u8).collect();
        f[..16].fill(0);
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = if self.is_64 { 2 } else { 1 };
        f[5] = 1;
        f[6] = 1;
        put16(&mut f, 16, self.e_type);
        put16(&mut f, 18, self.machine);
        put32(&mut f, 20, 1);
        let phnum = self.phnum.unwrap_or(self.phdrs.len() as u16);
        if self.is_64 {
            put64(&mut f, 24, self.entry);
            put64(&mut f, 32, self.phoff);
            put64(&mut f, 40, 0);
            put32(&mut f, 48, 0);
            put16(&mut f, 52, 64);
            put16(&mut f, 54, self.phentsize);
            put16(&mut f, 56, phnum);
            f[58..64].fill(0);
        } else {
            put32(&mut f, 24, self.entry as u32);
            put32(&mut f, 28, self.phoff as u32);
            put32(&mut f, 32, 0);
            put32(&mut f, 36, 0);
            put16(&mut f, 40, 52);
            put16(&mut f, 42, self.phentsize);
            put16(&mut f, 44, phnum);
            f[46..52].fill(0);
        }
        for (i, ph) in self.phdrs.iter().enumerate() {
            let at = self.phoff as usize + i * self.phentsize as usize;
            f[at..at + self.phentsize as usize].fill(0);
            put32(&mut f, at, ph.p_type);
            if self.is_64 {
                put64(&mut f, at + 8, ph.offset);
                put64(&mut f, at + 16, ph.vaddr);
                put64(&mut f, at + 24, ph.paddr);
                put64(&mut f, at + 32, ph.filesz);
                put64(&mut f, at + 40, ph.memsz);
            } else {
                put32(&mut f, at + 4, ph.offset as u32);
                put32(&mut f, at + 8, ph.vaddr as u32);
                put32(&mut f, at + 12, ph.paddr as u32);
                put32(&mut f, at + 16, ph.filesz as u32);
                put32(&mut f, at + 20, ph.memsz as u32);
            }
        }
        f
    }
}

/// A Multiboot 1 header with a correct checksum; the address fields are written when given
/// (whatever the flags say), then the video fields.
pub fn mb_header(flags: u32, address: Option<[u32; 5]>, video: Option<[u32; 4]>) -> Vec<u8> {
    let checksum = 0u32.wrapping_sub(HEADER_MAGIC).wrapping_sub(flags);
    mb_header_raw(flags, checksum, address, video)
}

pub fn mb_header_raw(
    flags: u32,
    checksum: u32,
    address: Option<[u32; 5]>,
    video: Option<[u32; 4]>,
) -> Vec<u8> {
    let mut h = Vec::new();
    for v in [HEADER_MAGIC, flags, checksum] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    if address.is_some() || video.is_some() {
        for v in address.unwrap_or([0; 5]) {
            h.extend_from_slice(&v.to_le_bytes());
        }
    }
    if let Some(video) = video {
        for v in video {
            h.extend_from_slice(&v.to_le_bytes());
        }
    }
    h
}

/// Writes `bytes` at `offset`, growing the file with zeros if needed.
pub fn put(file: &mut Vec<u8>, offset: usize, bytes: &[u8]) {
    if file.len() < offset + bytes.len() {
        file.resize(offset + bytes.len(), 0);
    }
    file[offset..offset + bytes.len()].copy_from_slice(bytes);
}

/// A zero-filled file of `len` bytes with `header` at `offset`.
pub fn file_with_header(len: usize, offset: usize, header: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; len];
    put(&mut f, offset, header);
    f
}

pub fn put16(f: &mut [u8], at: usize, v: u16) {
    f[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

pub fn put32(f: &mut [u8], at: usize, v: u32) {
    f[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put64(f: &mut [u8], at: usize, v: u64) {
    f[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn get32(f: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(f[at..at + 4].try_into().unwrap())
}

pub use crate::test_rng::Rng;
