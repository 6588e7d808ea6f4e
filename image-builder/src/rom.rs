//! The PCI option ROM form: stage1/rom.s's header and code, a PCI 3.0 device list, and the
//! runtime image packed as one LZ4 block (by `lz4`, our own slow but thorough encoder, after
//! `branch_filter`), which the ROM's boot entry vector unpacks to 0x8000. By default the image is the first stage
//! (runtime/src/chain.rs: DHCP, then netloader.pxe from the TFTP server), which keeps a ROM
//! under 56 KiB; `standalone` packs the whole loader instead.
//!
//! The field offsets mirror the table at the top of stage1/rom.s.

use std::fmt;
use std::str::FromStr;

use netloader_drivers::registry::{self, Driver};

/// The ROM header, PCI data structure, PnP header and code, before the builder fills them in.
pub static ROM_HEADER_TEMPLATE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rom_header.bin"));

/// The largest ROM a legacy header can declare: its size byte counts 512-byte units.
pub const MAX_ROM_LEN: usize = 255 * 512;
/// The most SeaBIOS (QEMU 7.2, `-machine pc`, standard VGA) copies into the option ROM area
/// beside the VGA BIOS (measured: 122 KiB copied, 123 KiB refused).
pub const SEABIOS_WITH_VGA_ROM_LEN: usize = 122 * 1024;
/// Most boards' NIC flash is 64 KiB, and VirtualBox refuses ROMs over 56 KiB.
pub const SMALL_ROM_LEN: usize = 56 * 1024;

const FIELD_SIZE: usize = 0x02;
const FIELD_PAYLOAD_OFFSET: usize = 0x08;
const FIELD_PAYLOAD_LEN: usize = 0x0c;
const FIELD_IMAGE_LEN: usize = 0x10;
const FIELD_PCIR: usize = 0x18;
const FIELD_PNP: usize = 0x1a;
const PCIR_VENDOR: usize = 0x04;
const PCIR_DEVICE: usize = 0x06;
const PCIR_DEVICE_LIST: usize = 0x08;
const PCIR_IMAGE_LEN: usize = 0x10;
const PCIR_LEN: usize = 0x1c;
const PNP_LEN: usize = 32;
const PNP_CHECKSUM: usize = 0x09;

/// A PCI vendor:device pair, written `8086:100e`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciId {
    pub vendor: u16,
    pub device: u16,
}

impl FromStr for PciId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let hex = |part: &str| u16::from_str_radix(part.trim_start_matches("0x"), 16);
        let parsed = text
            .split_once(':')
            .and_then(|(v, d)| Some((hex(v).ok()?, hex(d).ok()?)));
        match parsed {
            Some((vendor, device)) if vendor != 0 && vendor != 0xffff && device != 0 => {
                Ok(PciId { vendor, device })
            }
            _ => Err(format!(
                "`{text}` is not a PCI ID: write vendor:device in hex, e.g. 8086:100e"
            )),
        }
    }
}

impl fmt::Display for PciId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor, self.device)
    }
}

/// The driver a ROM is made for (`--nic`): a driver of the registry (drivers/src/registry.rs)
/// for a PCI card. Its PCI IDs go into the ROM's header, and the ROM carries it alone.
#[derive(Clone, Copy)]
pub struct NicFamily(&'static Driver);

impl NicFamily {
    /// The family of the registry driver called `name`, if a ROM can be made for it.
    pub fn named(name: &str) -> Option<NicFamily> {
        registry::named(name)
            .filter(|driver| driver.is_pci())
            .map(NicFamily)
    }

    /// Every family a ROM can be made for, in the registry's order.
    pub fn all() -> impl Iterator<Item = NicFamily> {
        registry::DRIVERS
            .iter()
            .filter(|driver| driver.is_pci())
            .map(NicFamily)
    }

    pub fn driver(self) -> &'static Driver {
        self.0
    }

    /// The runtime carrying this family's driver only: the whole loader (`standalone`), or
    /// the first stage that starts netloader.pxe.
    pub fn runtime_image(self, standalone: bool) -> &'static [u8] {
        let runtime = crate::stage1::rom_runtime(self.0.name)
            .expect("build.rs builds a ROM runtime for every PCI driver of the registry");
        if standalone {
            runtime.standalone
        } else {
            runtime.first_stage
        }
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// The ID a ROM for this family declares unless told otherwise: the driver's first.
    pub fn primary_id(self) -> PciId {
        let id = self.0.pci_ids[0];
        PciId {
            vendor: id.vendor_id,
            device: id.device_id,
        }
    }

    /// The PCI 3.0 device list for a ROM declaring `primary`: that device first, then the
    /// family's other devices under the same vendor ID (the list cannot name other vendors).
    pub fn device_list(self, primary: PciId) -> Vec<u16> {
        let mut list = vec![primary.device];
        for id in self.0.pci_ids {
            if id.vendor_id == primary.vendor && !list.contains(&id.device_id) {
                list.push(id.device_id);
            }
        }
        list
    }
}

impl Default for NicFamily {
    /// The registry's first PCI driver (e1000).
    fn default() -> Self {
        NicFamily::all()
            .next()
            .expect("the registry has a PCI driver")
    }
}

impl PartialEq for NicFamily {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for NicFamily {}

impl fmt::Debug for NicFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

impl FromStr for NicFamily {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        NicFamily::named(name).ok_or_else(|| {
            let names: Vec<&str> = NicFamily::all().map(NicFamily::name).collect();
            format!("no option-ROM driver `{name}`: one of {}", names.join(", "))
        })
    }
}

/// `--nic`: the registry's names, each with its family in `--help`.
impl clap::ValueEnum for NicFamily {
    fn value_variants<'a>() -> &'a [Self] {
        static FAMILIES: std::sync::OnceLock<Vec<NicFamily>> = std::sync::OnceLock::new();
        FAMILIES.get_or_init(|| NicFamily::all().collect())
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.name).help(self.0.family))
    }
}

/// What the ROM is made for.
#[derive(Clone, Copy, Debug, Default)]
pub struct RomOptions {
    pub nic: NicFamily,
    /// Overrides the family's primary ID (the one the BIOS matches against the card).
    pub pci_id: Option<PciId>,
    /// The whole loader in the ROM (about 97-101 KiB) instead of the first stage that downloads
    /// netloader.pxe (under 56 KiB).
    pub standalone: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RomError {
    #[error(
        "E-ROM-TOOBIG: the option ROM would be {len} bytes, more than the {MAX_ROM_LEN} a legacy ROM header can declare: build a smaller runtime"
    )]
    TooLarge { len: usize },
    #[error("E-ROM-TEMPLATE: the embedded ROM header is malformed ({what}): rebuild netloader")]
    BadTemplate { what: &'static str },
}

/// The option ROM for these options around this runtime image (`stage1::RUNTIME_IMAGE`, or
/// one with an embedded config).
pub fn build(runtime: &[u8], options: &RomOptions) -> Result<Vec<u8>, RomError> {
    let primary = options.pci_id.unwrap_or(options.nic.primary_id());
    pack(
        ROM_HEADER_TEMPLATE,
        runtime,
        primary,
        &options.nic.device_list(primary),
    )
}

/// Lay out header, device list and packed image; fill in the fields and both checksums.
pub fn pack(
    template: &[u8],
    image: &[u8],
    primary: PciId,
    devices: &[u16],
) -> Result<Vec<u8>, RomError> {
    let bad = |what| RomError::BadTemplate { what };
    let mut rom = template.to_vec();
    let pcir = usize::from(read_u16(&rom, FIELD_PCIR).ok_or(bad("no PCIR pointer"))?);
    let pnp = usize::from(read_u16(&rom, FIELD_PNP).ok_or(bad("no PnP pointer"))?);
    if rom.get(pcir..pcir + 4) != Some(b"PCIR") || rom.get(pnp..pnp + 4) != Some(b"$PnP") {
        return Err(bad("signatures"));
    }
    if rom.len() < (pcir + PCIR_LEN).max(pnp + PNP_LEN).max(FIELD_PNP + 2) {
        return Err(bad("truncated"));
    }
    rom.resize(rom.len().next_multiple_of(2), 0);

    let device_list = rom.len();
    for device in devices.iter().chain(&[0]) {
        rom.extend_from_slice(&device.to_le_bytes());
    }
    let payload_offset = rom.len();
    let mut filtered = image.to_vec();
    branch_filter::encode(&mut filtered);
    let payload = lz4::compress(&filtered);
    rom.extend_from_slice(&payload);
    // One spare byte at least: the last byte is the checksum.
    let len = (rom.len() + 1).next_multiple_of(512);
    if len > MAX_ROM_LEN {
        return Err(RomError::TooLarge { len });
    }
    rom.resize(len, 0);
    let too_large = || RomError::TooLarge { len };

    rom[FIELD_SIZE] = (len / 512) as u8;
    write(
        &mut rom,
        FIELD_PAYLOAD_OFFSET,
        &u16::try_from(payload_offset)
            .map_err(|_| too_large())?
            .to_le_bytes(),
    );
    write(
        &mut rom,
        FIELD_PAYLOAD_LEN,
        &(payload.len() as u32).to_le_bytes(),
    );
    write(
        &mut rom,
        FIELD_IMAGE_LEN,
        &(image.len() as u32).to_le_bytes(),
    );
    write(&mut rom, pcir + PCIR_VENDOR, &primary.vendor.to_le_bytes());
    write(&mut rom, pcir + PCIR_DEVICE, &primary.device.to_le_bytes());
    write(
        &mut rom,
        pcir + PCIR_DEVICE_LIST,
        &((device_list - pcir) as u16).to_le_bytes(),
    );
    write(
        &mut rom,
        pcir + PCIR_IMAGE_LEN,
        &((len / 512) as u16).to_le_bytes(),
    );
    let pnp_sum = sum(&rom[pnp..pnp + PNP_LEN]).wrapping_sub(rom[pnp + PNP_CHECKSUM]);
    rom[pnp + PNP_CHECKSUM] = pnp_sum.wrapping_neg();
    let last = len - 1;
    rom[last] = sum(&rom[..last]).wrapping_neg();
    Ok(rom)
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn write(rom: &mut [u8], at: usize, value: &[u8]) {
    rom[at..at + value.len()].copy_from_slice(value);
}

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |total, &b| total.wrapping_add(b))
}

mod branch_filter;
mod lz4;

#[cfg(test)]
mod tests;
