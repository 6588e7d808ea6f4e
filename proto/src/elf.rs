//! ELF32 and ELF64 executables (little endian, x86): the few fields a Multiboot loader needs.
//!
//! [`ElfFile::new_checked`] validates once: the file header, the program header table, every
//! `PT_LOAD` segment and the entry point. After that, [`ElfFile::load_segments`] and
//! [`ElfFile::entry_paddr`] cannot fail.
//!
//! Hand-rolled rather than the `elf` crate: a loader reads the file header and the program
//! headers only (about 100 lines here), and the checks a 32-bit Multiboot hand-off needs (physical
//! addresses below 4 GiB, entry inside a segment, errors that name the program header and the
//! file size) would sit on top of any crate anyway.

use core::fmt;

mod sections;

pub use sections::{SectionError, SectionHeader, SectionLayout, SectionTable};

/// Everything the kernel occupies must end at or below this address: it runs in 32-bit mode.
pub const ADDRESS_LIMIT: u64 = 1 << 32;

const MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const CLASS_32: u8 = 1;
const CLASS_64: u8 = 2;
const DATA_LITTLE_ENDIAN: u8 = 1;
const VERSION_CURRENT: u8 = 1;
const ET_EXEC: u16 = 2;
pub const EM_386: u16 = 3;
pub const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;

/// ELF32 or ELF64, as `e_ident[EI_CLASS]` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Elf32,
    Elf64,
}

impl Class {
    fn file_header_size(self) -> usize {
        match self {
            Class::Elf32 => 52,
            Class::Elf64 => 64,
        }
    }

    fn program_header_size(self) -> usize {
        match self {
            Class::Elf32 => 32,
            Class::Elf64 => 56,
        }
    }
}

/// One `PT_LOAD` program header, already checked against the file and the 4 GiB limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index in the program header table (for messages).
    pub index: u16,
    /// Where its bytes start in the file (meaningless when `file_size` is 0).
    pub file_offset: usize,
    /// How many bytes come from the file; `file_offset + file_size` lies within the file.
    pub file_size: usize,
    /// How many bytes it occupies in memory (>= `file_size`; the rest is zeroed).
    pub mem_size: u64,
    /// Physical load address; `paddr + mem_size <= 4 GiB`.
    pub paddr: u64,
    pub vaddr: u64,
}

/// Why a file is not an executable this loader can place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the ELF file header of its class (or than `e_ident`).
    TooShort {
        len: usize,
        needed: usize,
    },
    /// No `\x7fELF` at the start.
    NotElf,
    UnsupportedClass(u8),
    NotLittleEndian(u8),
    UnsupportedVersion(u8),
    /// `e_type` is not `ET_EXEC` (relocatable objects and PIE/shared objects have no fixed address).
    NotExecutable(u16),
    UnsupportedMachine(u16),
    /// `e_phentsize` is smaller than a program header of this class.
    BadProgramHeaderSize {
        entry_size: u16,
        needed: u16,
    },
    /// The program header table does not fit in the file (or its size overflows).
    ProgramHeadersOutsideFile {
        offset: u64,
        count: u16,
        entry_size: u16,
        file_len: usize,
    },
    NoLoadSegments,
    /// A segment's file bytes lie (partly) outside the file.
    SegmentOutsideFile {
        index: u16,
        offset: u64,
        size: u64,
        file_len: usize,
    },
    /// `p_memsz < p_filesz`.
    SegmentMemorySmallerThanFile {
        index: u16,
        file_size: u64,
        mem_size: u64,
    },
    /// `p_paddr + p_memsz` goes past 4 GiB: unreachable in 32-bit mode.
    SegmentAbove4GiB {
        index: u16,
        paddr: u64,
        mem_size: u64,
    },
    /// `p_vaddr + p_memsz` overflows 64 bits.
    SegmentVirtualOverflow {
        index: u16,
        vaddr: u64,
        mem_size: u64,
    },
    /// `e_entry` lies in no `PT_LOAD` segment's virtual range.
    EntryOutsideSegments {
        entry: u64,
    },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ElfError::TooShort { len, needed } => write!(
                f,
                "file is {len} bytes, shorter than an ELF header ({needed} bytes)"
            ),
            ElfError::NotElf => write!(f, "not an ELF file (no \\x7fELF magic)"),
            ElfError::UnsupportedClass(c) => {
                write!(f, "ELF class {c} is neither ELF32 (1) nor ELF64 (2)")
            }
            ElfError::NotLittleEndian(d) => {
                write!(f, "ELF data encoding {d} is not little endian (1)")
            }
            ElfError::UnsupportedVersion(v) => write!(f, "ELF version {v} is not 1"),
            ElfError::NotExecutable(t) => write!(
                f,
                "ELF type {t} is not an executable (ET_EXEC = 2): link the kernel at a fixed address"
            ),
            ElfError::UnsupportedMachine(m) => write!(
                f,
                "ELF machine {m} is not x86 (EM_386 = 3 or EM_X86_64 = 62)"
            ),
            ElfError::BadProgramHeaderSize { entry_size, needed } => write!(
                f,
                "program header size {entry_size} is smaller than {needed} bytes"
            ),
            ElfError::ProgramHeadersOutsideFile {
                offset,
                count,
                entry_size,
                file_len,
            } => write!(
                f,
                "program header table points outside the file (offset {offset:#x}, {count} \
                 entries of {entry_size} bytes, file {file_len:#x} bytes)"
            ),
            ElfError::NoLoadSegments => write!(f, "ELF file has no PT_LOAD segment"),
            ElfError::SegmentOutsideFile {
                index,
                offset,
                size,
                file_len,
            } => write!(
                f,
                "program header {index} points outside the file (offset {offset:#x}, size \
                 {size:#x}, file {file_len:#x} bytes)"
            ),
            ElfError::SegmentMemorySmallerThanFile {
                index,
                file_size,
                mem_size,
            } => write!(
                f,
                "program header {index} has a memory size ({mem_size:#x}) smaller than its file \
                 size ({file_size:#x})"
            ),
            ElfError::SegmentAbove4GiB {
                index,
                paddr,
                mem_size,
            } => write!(
                f,
                "program header {index} loads at physical {paddr:#x} (size {mem_size:#x}), \
                 beyond 4 GiB: the kernel is entered in 32-bit mode"
            ),
            ElfError::SegmentVirtualOverflow {
                index,
                vaddr,
                mem_size,
            } => write!(
                f,
                "program header {index} has a virtual range that overflows ({vaddr:#x} + \
                 {mem_size:#x})"
            ),
            ElfError::EntryOutsideSegments { entry } => {
                write!(f, "entry point {entry:#x} lies in no PT_LOAD segment")
            }
        }
    }
}

/// A checked view of an ELF executable.
#[derive(Clone, Copy, Debug)]
pub struct ElfFile<'a> {
    data: &'a [u8],
    class: Class,
    machine: u16,
    entry: u64,
    entry_paddr: u32,
    phoff: usize,
    phnum: u16,
    phentsize: usize,
}

impl<'a> ElfFile<'a> {
    /// True when the file starts with the ELF magic (whether or not it is a valid executable).
    pub fn has_magic(data: &[u8]) -> bool {
        data.get(..4) == Some(&MAGIC[..])
    }

    /// Validates the file header, the program header table, every `PT_LOAD` segment and the
    /// entry point (see the module docs).
    pub fn new_checked(data: &'a [u8]) -> Result<Self, ElfError> {
        if data.len() < 16 {
            return Err(ElfError::TooShort {
                len: data.len(),
                needed: 16,
            });
        }
        if !Self::has_magic(data) {
            return Err(ElfError::NotElf);
        }
        let class = match data[4] {
            CLASS_32 => Class::Elf32,
            CLASS_64 => Class::Elf64,
            other => return Err(ElfError::UnsupportedClass(other)),
        };
        if data[5] != DATA_LITTLE_ENDIAN {
            return Err(ElfError::NotLittleEndian(data[5]));
        }
        if data[6] != VERSION_CURRENT {
            return Err(ElfError::UnsupportedVersion(data[6]));
        }
        let needed = class.file_header_size();
        if data.len() < needed {
            return Err(ElfError::TooShort {
                len: data.len(),
                needed,
            });
        }
        let r = Reader(data);
        let e_type = r.u16(16);
        if e_type != ET_EXEC {
            return Err(ElfError::NotExecutable(e_type));
        }
        // Either machine in either class: ELF64 Multiboot kernels start in 32-bit code too.
        let machine = r.u16(18);
        if machine != EM_386 && machine != EM_X86_64 {
            return Err(ElfError::UnsupportedMachine(machine));
        }
        let (entry, phoff, phentsize, phnum) = match class {
            Class::Elf32 => (r.u32(24) as u64, r.u32(28) as u64, r.u16(42), r.u16(44)),
            Class::Elf64 => (r.u64(24), r.u64(32), r.u16(54), r.u16(56)),
        };
        let min_entry = class.program_header_size() as u16;
        if phentsize < min_entry {
            return Err(ElfError::BadProgramHeaderSize {
                entry_size: phentsize,
                needed: min_entry,
            });
        }
        let outside = ElfError::ProgramHeadersOutsideFile {
            offset: phoff,
            count: phnum,
            entry_size: phentsize,
            file_len: data.len(),
        };
        let table_len = (phnum as u64) * (phentsize as u64); // both u16: cannot overflow u64
        match phoff.checked_add(table_len) {
            Some(end) if end <= data.len() as u64 => {}
            _ => return Err(outside),
        }
        let mut file = ElfFile {
            data,
            class,
            machine,
            entry,
            entry_paddr: 0,
            phoff: phoff as usize, // <= data.len(), checked above
            phnum,
            phentsize: phentsize as usize,
        };
        file.entry_paddr = file.check_segments()?;
        Ok(file)
    }

    pub fn class(&self) -> Class {
        self.class
    }

    pub fn machine(&self) -> u16 {
        self.machine
    }

    /// `e_entry` as written (a virtual address when the kernel is linked higher-half).
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The physical address to jump to: `e_entry` translated through the first `PT_LOAD`
    /// segment whose virtual range holds it (`p_paddr + e_entry - p_vaddr`), as GRUB and
    /// mboot.c32 do. Equal to `e_entry` when the kernel is linked with vaddr == paddr.
    pub fn entry_paddr(&self) -> u32 {
        self.entry_paddr
    }

    /// The `PT_LOAD` segments in table order (including empty ones).
    pub fn load_segments(&self) -> LoadSegments<'a> {
        LoadSegments {
            file: *self,
            next: 0,
        }
    }

    /// Checks every `PT_LOAD` segment and finds the physical entry address.
    fn check_segments(&self) -> Result<u32, ElfError> {
        let mut any_load = false;
        let mut entry_paddr = None;
        for i in 0..self.phnum {
            let Some(ph) = self.raw_program_header(i) else {
                continue; // unreachable: the table was bounds-checked
            };
            if ph.p_type != PT_LOAD {
                continue;
            }
            any_load = true;
            if ph.filesz > 0 {
                match ph.offset.checked_add(ph.filesz) {
                    Some(end) if end <= self.data.len() as u64 => {}
                    _ => {
                        return Err(ElfError::SegmentOutsideFile {
                            index: i,
                            offset: ph.offset,
                            size: ph.filesz,
                            file_len: self.data.len(),
                        });
                    }
                }
            }
            if ph.memsz < ph.filesz {
                return Err(ElfError::SegmentMemorySmallerThanFile {
                    index: i,
                    file_size: ph.filesz,
                    mem_size: ph.memsz,
                });
            }
            match ph.paddr.checked_add(ph.memsz) {
                Some(end) if end <= ADDRESS_LIMIT && ph.paddr < ADDRESS_LIMIT => {}
                _ => {
                    return Err(ElfError::SegmentAbove4GiB {
                        index: i,
                        paddr: ph.paddr,
                        mem_size: ph.memsz,
                    });
                }
            }
            let Some(vend) = ph.vaddr.checked_add(ph.memsz) else {
                return Err(ElfError::SegmentVirtualOverflow {
                    index: i,
                    vaddr: ph.vaddr,
                    mem_size: ph.memsz,
                });
            };
            if entry_paddr.is_none() && ph.vaddr <= self.entry && self.entry < vend {
                // < paddr + memsz <= 4 GiB, so it fits in u32.
                entry_paddr = Some((ph.paddr + (self.entry - ph.vaddr)) as u32);
            }
        }
        if !any_load {
            return Err(ElfError::NoLoadSegments);
        }
        entry_paddr.ok_or(ElfError::EntryOutsideSegments { entry: self.entry })
    }

    fn raw_program_header(&self, index: u16) -> Option<RawProgramHeader> {
        let start = self
            .phoff
            .checked_add((index as usize).checked_mul(self.phentsize)?)?;
        let bytes = self
            .data
            .get(start..start.checked_add(self.class.program_header_size())?)?;
        let r = Reader(bytes);
        Some(match self.class {
            Class::Elf32 => RawProgramHeader {
                p_type: r.u32(0),
                offset: r.u32(4) as u64,
                vaddr: r.u32(8) as u64,
                paddr: r.u32(12) as u64,
                filesz: r.u32(16) as u64,
                memsz: r.u32(20) as u64,
            },
            Class::Elf64 => RawProgramHeader {
                p_type: r.u32(0),
                offset: r.u64(8),
                vaddr: r.u64(16),
                paddr: r.u64(24),
                filesz: r.u64(32),
                memsz: r.u64(40),
            },
        })
    }
}

/// Iterator over an [`ElfFile`]'s `PT_LOAD` segments.
#[derive(Clone, Debug)]
pub struct LoadSegments<'a> {
    file: ElfFile<'a>,
    next: u16,
}

impl Iterator for LoadSegments<'_> {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        while self.next < self.file.phnum {
            let index = self.next;
            self.next += 1;
            match self.file.raw_program_header(index) {
                Some(ph) if ph.p_type == PT_LOAD => {
                    return Some(Segment {
                        index,
                        // Checked in new_checked; an empty segment's offset may lie anywhere.
                        file_offset: if ph.filesz == 0 {
                            0
                        } else {
                            ph.offset as usize
                        },
                        file_size: ph.filesz as usize,
                        mem_size: ph.memsz,
                        paddr: ph.paddr,
                        vaddr: ph.vaddr,
                    });
                }
                _ => {}
            }
        }
        None
    }
}

/// A program header's fields widened to 64 bits, unchecked.
struct RawProgramHeader {
    p_type: u32,
    offset: u64,
    vaddr: u64,
    paddr: u64,
    filesz: u64,
    memsz: u64,
}

/// Little-endian reads that yield 0 past the end (callers check lengths first; this only
/// guarantees that a mistake cannot panic).
#[derive(Clone, Copy)]
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = at.checked_add(N).and_then(|end| self.0.get(at..end)) {
            out.copy_from_slice(src);
        }
        out
    }

    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.bytes(at))
    }

    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes(at))
    }

    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes(at))
    }
}

#[cfg(test)]
mod tests;
