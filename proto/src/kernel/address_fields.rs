//! Placing an image by its Multiboot header's address fields (flag bit 16, the "a.out
//! kludge"): one contiguous load plus bss. Rules in the parent module's docs.

use core::fmt;

use super::Placement;
use crate::elf::ADDRESS_LIMIT;
use crate::multiboot::AddressFields;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressFieldsError {
    /// All five fields are zero and the file is not ELF: nothing says where it goes.
    AllZero,
    /// `load_addr > header_addr` (the spec requires `load_addr <= header_addr`).
    LoadAfterHeader { load_addr: u32, header_addr: u32 },
    /// `header_addr - load_addr` is more than the header's file offset: the load would start
    /// before the file does.
    StartBeforeFile {
        header_offset: usize,
        header_addr: u32,
        load_addr: u32,
    },
    /// `load_end_addr < load_addr`.
    LoadEndBeforeLoad { load_addr: u32, load_end_addr: u32 },
    /// The bytes to load run past the end of the file.
    LoadBeyondFile {
        start_offset: usize,
        size: u64,
        file_len: usize,
    },
    /// The load (to the end of the file) reaches past 4 GiB.
    Above4GiB { load_addr: u32, size: u64 },
    /// `bss_end_addr` is below the end of the loaded bytes.
    BssBeforeLoadEnd { load_end: u64, bss_end_addr: u32 },
    /// `entry_addr` lies outside the loaded bytes.
    EntryOutsideImage { entry: u32, start: u64, end: u64 },
}

impl fmt::Display for AddressFieldsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Multiboot address fields (flag 16): ")?;
        match *self {
            AddressFieldsError::AllZero => {
                write!(f, "all zero in a file that is not ELF: no load address")
            }
            AddressFieldsError::LoadAfterHeader {
                load_addr,
                header_addr,
            } => write!(
                f,
                "load_addr {load_addr:#x} is above header_addr {header_addr:#x}"
            ),
            AddressFieldsError::StartBeforeFile {
                header_offset,
                header_addr,
                load_addr,
            } => {
                write!(
                    f,
                    "load_addr {load_addr:#x} is {:#x} bytes below header_addr {header_addr:#x}, \
                     but the header is at file offset {header_offset:#x}",
                    header_addr - load_addr
                )
            }
            AddressFieldsError::LoadEndBeforeLoad {
                load_addr,
                load_end_addr,
            } => write!(
                f,
                "load_end_addr {load_end_addr:#x} is below load_addr {load_addr:#x}"
            ),
            AddressFieldsError::LoadBeyondFile {
                start_offset,
                size,
                file_len,
            } => write!(
                f,
                "loading {size:#x} bytes from file offset {start_offset:#x} runs past the end \
                 of the file ({file_len:#x} bytes)"
            ),
            AddressFieldsError::Above4GiB { load_addr, size } => {
                write!(f, "{size:#x} bytes at {load_addr:#x} reach past 4 GiB")
            }
            AddressFieldsError::BssBeforeLoadEnd {
                load_end,
                bss_end_addr,
            } => write!(
                f,
                "bss_end_addr {bss_end_addr:#x} is below the end of the loaded bytes {load_end:#x}"
            ),
            AddressFieldsError::EntryOutsideImage { entry, start, end } => write!(
                f,
                "entry_addr {entry:#x} lies outside the loaded bytes {start:#x}-{end:#x}"
            ),
        }
    }
}

/// The single placement and the entry address that `fields` describe for `file`, whose
/// Multiboot header is at `header_offset`.
pub(crate) fn place(
    fields: &AddressFields,
    header_offset: usize,
    file: &[u8],
) -> Result<(Placement, u32), AddressFieldsError> {
    if fields.all_zero() {
        return Err(AddressFieldsError::AllZero);
    }
    let AddressFields {
        header_addr,
        load_addr,
        load_end_addr,
        bss_end_addr,
        entry_addr,
    } = *fields;
    let Some(header_distance) = header_addr.checked_sub(load_addr) else {
        return Err(AddressFieldsError::LoadAfterHeader {
            load_addr,
            header_addr,
        });
    };
    let Some(start_offset) = header_offset.checked_sub(header_distance as usize) else {
        return Err(AddressFieldsError::StartBeforeFile {
            header_offset,
            header_addr,
            load_addr,
        });
    };
    let size = if load_end_addr == 0 {
        file.len().saturating_sub(start_offset) as u64
    } else {
        match load_end_addr.checked_sub(load_addr) {
            Some(size) => size as u64,
            None => {
                return Err(AddressFieldsError::LoadEndBeforeLoad {
                    load_addr,
                    load_end_addr,
                });
            }
        }
    };
    let file_end = start_offset as u64 + size; // both below 2^64 / 2: no overflow
    if file_end > file.len() as u64 {
        return Err(AddressFieldsError::LoadBeyondFile {
            start_offset,
            size,
            file_len: file.len(),
        });
    }
    let load_end = load_addr as u64 + size;
    if load_end > ADDRESS_LIMIT {
        return Err(AddressFieldsError::Above4GiB { load_addr, size });
    }
    let mem_end = match bss_end_addr {
        0 => load_end,
        bss if (bss as u64) < load_end => {
            return Err(AddressFieldsError::BssBeforeLoadEnd {
                load_end,
                bss_end_addr,
            });
        }
        bss => bss as u64,
    };
    if !(load_addr as u64..load_end).contains(&(entry_addr as u64)) {
        return Err(AddressFieldsError::EntryOutsideImage {
            entry: entry_addr,
            start: load_addr as u64,
            end: load_end,
        });
    }
    let placement = Placement {
        file_range: start_offset..file_end as usize, // <= file.len()
        dest: load_addr as u64,
        mem_size: mem_end - load_addr as u64,
    };
    Ok((placement, entry_addr))
}
