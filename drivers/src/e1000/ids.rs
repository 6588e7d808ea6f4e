//! The Intel PCI IDs this driver handles: chips that keep the 8254x legacy register set and
//! legacy descriptors. IDs from the Intel manuals / public ID lists (vendor 0x8086).

use crate::registry::PciId;

/// How the chip's EEPROM Read register (EERD) is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EepromLayout {
    /// 82540/82541/82545/82546/82547: DONE is bit 4, the word address starts at bit 8.
    Legacy,
    /// 82571 and later PCIe parts (82572/82573/82574/82583): DONE is bit 1, address at bit 2.
    Pcie,
    /// 82544: no EERD; the MAC comes only from RAL/RAH (loaded from the EEPROM at reset).
    None,
}

impl EepromLayout {
    /// (DONE bit, address shift)
    pub(crate) fn eerd_bits(self) -> Option<(u32, u32)> {
        match self {
            EepromLayout::Legacy => Some((1 << 4, 8)),
            EepromLayout::Pcie => Some((1 << 1, 2)),
            EepromLayout::None => None,
        }
    }

    /// The layout of a chip in [`SUPPORTED_IDS`] (kept in its `data`).
    pub fn of(chip: &Chip) -> Self {
        match chip.data {
            1 => EepromLayout::Pcie,
            2 => EepromLayout::None,
            _ => EepromLayout::Legacy,
        }
    }
}

/// One supported chip: its registry entry, with its [`EepromLayout`] in `data`.
pub type Chip = PciId;

pub const INTEL_VENDOR_ID: u16 = 0x8086;

const fn chip(device_id: u16, name: &'static str, eeprom: EepromLayout) -> Chip {
    let data = match eeprom {
        EepromLayout::Legacy => 0,
        EepromLayout::Pcie => 1,
        EepromLayout::None => 2,
    };
    PciId::with_data(INTEL_VENDOR_ID, device_id, name, data)
}

use EepromLayout::{Legacy, None as NoEerd, Pcie};

/// Every device ID `E1000::open` accepts. QEMU: `e1000` = 0x100E, `e1000-82545em` = 0x100F,
/// `e1000e` = 0x10D3. Bochs: 0x100E.
/// The 82540EM comes first: QEMU's and Bochs' `e1000`, and what an option ROM declares
/// unless `--pci-id` says otherwise.
pub const SUPPORTED_IDS: &[Chip] = &[
    chip(0x100E, "82540EM", Legacy),
    chip(0x1008, "82544EI copper", NoEerd),
    chip(0x1009, "82544EI fiber", NoEerd),
    chip(0x100C, "82544GC copper", NoEerd),
    chip(0x100D, "82544GC LOM", NoEerd),
    chip(0x1015, "82540EM LOM", Legacy),
    chip(0x1016, "82540EP LOM", Legacy),
    chip(0x1017, "82540EP", Legacy),
    chip(0x101E, "82540EP LP", Legacy),
    chip(0x100F, "82545EM copper", Legacy),
    chip(0x1011, "82545EM fiber", Legacy),
    chip(0x1026, "82545GM copper", Legacy),
    chip(0x1027, "82545GM fiber", Legacy),
    chip(0x1028, "82545GM serdes", Legacy),
    chip(0x1010, "82546EB copper", Legacy),
    chip(0x1012, "82546EB fiber", Legacy),
    chip(0x101D, "82546EB quad copper", Legacy),
    chip(0x1079, "82546GB copper", Legacy),
    chip(0x107A, "82546GB fiber", Legacy),
    chip(0x107B, "82546GB serdes", Legacy),
    chip(0x1099, "82546GB quad copper", Legacy),
    chip(0x1013, "82541EI", Legacy),
    chip(0x1018, "82541EI mobile", Legacy),
    chip(0x1014, "82541ER LOM", Legacy),
    chip(0x1078, "82541ER", Legacy),
    chip(0x1076, "82541GI", Legacy),
    chip(0x1077, "82541GI mobile", Legacy),
    chip(0x107C, "82541GI LF", Legacy),
    chip(0x1019, "82547EI", Legacy),
    chip(0x101A, "82547EI mobile", Legacy),
    chip(0x1075, "82547GI", Legacy),
    chip(0x105E, "82571EB copper", Pcie),
    chip(0x105F, "82571EB fiber", Pcie),
    chip(0x1060, "82571EB serdes", Pcie),
    chip(0x107D, "82572EI copper", Pcie),
    chip(0x107E, "82572EI fiber", Pcie),
    chip(0x107F, "82572EI serdes", Pcie),
    chip(0x10B9, "82572EI", Pcie),
    chip(0x108B, "82573V", Pcie),
    chip(0x108C, "82573E", Pcie),
    chip(0x109A, "82573L", Pcie),
    chip(0x10D3, "82574L", Pcie),
    chip(0x10F6, "82574LA", Pcie),
    chip(0x150C, "82583V", Pcie),
];

/// The chip for a PCI vendor/device pair, if this driver handles it.
pub fn probe(vendor_id: u16, device_id: u16) -> Option<&'static Chip> {
    if vendor_id != INTEL_VENDOR_ID {
        return None;
    }
    SUPPORTED_IDS.iter().find(|c| c.device_id == device_id)
}
