//! The driver registry: one table, [`DRIVERS`], of every NIC driver, read by the runtime (which
//! cards it can open), the ROM builder (`--nic`, the PCI IDs in a ROM's header) and the docs.
//!
//! Adding a driver is one file plus one line here: the file (`drivers/src/<name>.rs`) ends with
//! its `pub const DRIVER: Driver`, a name, a family, its PCI ID table and an `open` function of
//! the one [`OpenFn`] signature, and that constant goes into [`DRIVERS`]. Nothing else names
//! drivers: the runtime's card discovery, its "no driver" message and its DMA memory, the
//! option ROM builds (one runtime per driver, `image-builder/build.rs`), `netloader build
//! --nic` and the README's card table (checked by a test) all follow the table.
//!
//! How a card is found: the runtime scans the PCI bus and takes the first network function
//! whose ID is in some carried driver's [`Driver::pci_ids`]; when there is none, it asks each
//! driver with a [`Driver::find`] hook (a card that no bus lists: an ISA card at fixed ports, a
//! card offered by the PXE ROM's UNDI API). Either way the result is a [`Found`] card, which
//! the driver's [`Driver::open`] turns into a running [`Nic`].
//!
//! Memory: one card is driven at a time, so every driver takes its buffers, and keeps its own
//! state, in one [`DmaArena`] as large as the largest carried driver needs ([`Driver::dma_len`],
//! [`pool_len`]), handed out once: from a static [`DmaPool`], or a [`DmaRegion`] the platform
//! sets aside.

mod pool;
#[cfg(test)]
mod tests;

use core::fmt;

pub use pool::{DmaArena, DmaPool, DmaRegion};

use crate::hw::Delay;
use crate::{Nic, NicError};

/// Every driver netloader has. The first one a ROM is built for unless `--nic` says otherwise
/// is the first in this list.
pub const DRIVERS: &[Driver] = &[
    crate::e1000::DRIVER,
    crate::rtl8139::DRIVER,
    crate::virtio::DRIVER,
    crate::pcnet::DRIVER,
    crate::eepro100::DRIVER,
    // netloader.efi's: the firmware's interface while boot services run, for a card no native
    // driver took. Only UEFI builds carry it (a BIOS has no SNP to offer); before ne2k, so that
    // a UEFI PC's card is asked for through the firmware before ISA ports are probed.
    #[cfg(target_os = "uefi")]
    crate::snp::DRIVER,
    crate::ne2k::DRIVER,
    // A PXE ROM's stack: BIOS only (a UEFI firmware's network stack is its SNP).
    #[cfg(not(target_os = "uefi"))]
    crate::undi::DRIVER,
];

/// One driver: what the runtime, the ROM builder and the docs need to know about it.
#[derive(Clone, Copy)]
pub struct Driver {
    /// Short name: `netloader build --form rom --nic NAME`, and how an option ROM's runtime is
    /// built with this driver alone (`NETLOADER_DRIVER=NAME`, see `runtime/src/nic.rs`).
    pub name: &'static str,
    /// The cards it drives, for people: "Intel e1000/e1000e (8254x, 8257x)".
    pub family: &'static str,
    /// The PCI vendor:device IDs it handles. The first is what an option ROM for this driver
    /// declares unless told otherwise (`--pci-id`); the others with the same vendor go into the
    /// ROM's PCI 3.0 device list. Empty for a driver of cards that are not on a PCI bus.
    pub pci_ids: &'static [PciId],
    /// For cards no bus lists (ISA, the PXE ROM's UNDI, UEFI's SNP): look for one, after the PCI scan found
    /// no card with a driver. `None` for PCI-only drivers.
    pub find: Option<FindFn>,
    /// Bytes of [`DmaPool`] the driver's `open` takes at most (see [`dma_len`]).
    pub dma_len: usize,
    /// Bring the card up.
    pub open: OpenFn,
}

/// A driver's own search for a card that no bus lists: its model name and where it is.
pub type FindFn = fn(&mut dyn Machine) -> Option<(&'static str, Location)>;

/// Reset and start `card`, taking buffers and the driver's state from `dma`; the card is
/// driven through the returned [`Nic`] until [`Nic::close`]. On failure the card is left
/// stopped. The PCI command register already has I/O and memory decoding and bus mastering on.
pub type OpenFn = fn(
    card: &Found,
    machine: &mut dyn Machine,
    dma: DmaArena,
) -> Result<&'static mut dyn Nic, OpenError>;

impl Driver {
    /// The PCI ID entry for `vendor_id:device_id`, if this driver handles that card.
    pub fn pci_id(&self, vendor_id: u16, device_id: u16) -> Option<&'static PciId> {
        self.pci_ids
            .iter()
            .find(|id| id.vendor_id == vendor_id && id.device_id == device_id)
    }

    /// Whether an option ROM can be built for it: a ROM is found by the BIOS through a PCI ID.
    pub fn is_pci(&self) -> bool {
        !self.pci_ids.is_empty()
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A PCI vendor:device pair a driver handles, with the chip's name and what else the driver
/// needs to know about that chip (`data`, its own code; as Linux's `driver_data`), so that a
/// driver keeps one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciId {
    pub vendor_id: u16,
    pub device_id: u16,
    pub name: &'static str,
    pub data: u16,
}

impl PciId {
    pub const fn new(vendor_id: u16, device_id: u16, name: &'static str) -> Self {
        Self::with_data(vendor_id, device_id, name, 0)
    }

    pub const fn with_data(vendor_id: u16, device_id: u16, name: &'static str, data: u16) -> Self {
        PciId {
            vendor_id,
            device_id,
            name,
            data,
        }
    }
}

/// The driver of `drivers` that handles PCI ID `vendor_id:device_id`, and its ID entry (the
/// first driver in table order, should two claim one ID).
pub fn match_pci(
    drivers: &[Driver],
    vendor_id: u16,
    device_id: u16,
) -> Option<(&Driver, &'static PciId)> {
    drivers
        .iter()
        .find_map(|driver| Some((driver, driver.pci_id(vendor_id, device_id)?)))
}

/// The driver called `name`.
pub fn named(name: &str) -> Option<&'static Driver> {
    DRIVERS.iter().find(|driver| driver.name == name)
}

/// What the runtime lends a driver besides the card's own registers. A firmware service a
/// driver needs (the PXE API for UNDI) becomes one more method here, with a default of "not
/// available".
pub trait Machine {
    /// A busy-wait of at least the given microseconds.
    fn delay(&mut self) -> &mut dyn Delay;

    /// Whether the firmware offers a network interface (UEFI's Simple Network Protocol).
    fn offers_snp(&mut self) -> bool {
        false
    }

    /// The firmware's network interface, handed out once (netloader.efi; see `snp`).
    fn take_snp(&mut self) -> Option<&'static mut dyn crate::snp::SnpApi> {
        None
    }
}

/// A card some driver will open.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    pub driver: &'static Driver,
    /// The chip or card model, e.g. "82540EM".
    pub model: &'static str,
    pub location: Location,
}

/// Where a card was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Pci(PciFunction),
    /// At fixed I/O ports (an ISA card), found by its driver's probe.
    Ports(u16),
    /// Offered by firmware rather than found on a bus (the PXE ROM's UNDI driver).
    Firmware(&'static str),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Pci(function) => function.name().fmt(f),
            Location::Ports(base) => write!(f, "I/O port {base:#x}"),
            Location::Firmware(what) => f.write_str(what),
        }
    }
}

/// How messages name a PCI function, "10ec:8029 at PCI 00:03.0": one formatting (the option
/// ROM's first stage counts its bytes) for a card found and for the cards listed when none
/// has a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciName {
    pub vendor_id: u16,
    pub device_id: u16,
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl fmt::Display for PciName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:04x} at PCI {:02x}:{:02x}.{}",
            self.vendor_id, self.device_id, self.bus, self.device, self.function
        )
    }
}

/// A PCI function as the runtime's bus scan saw it, with its decoded base address registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciFunction {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
    pub vendor_id: u16,
    pub device_id: u16,
    /// BAR 0-5; a 64-bit memory BAR fills its slot and leaves the next `None`.
    pub bars: [Option<Bar>; 6],
}

/// One base address register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bar {
    Io(u16),
    Memory(u64),
}

impl Bar {
    /// Decode a BAR from its register (`low`) and, for a 64-bit memory BAR, the next register
    /// (`high`, asked for only then). `None` for an unassigned (zero) BAR.
    pub fn decode(low: u32, high: impl FnOnce() -> u32) -> Option<Bar> {
        if low & 1 == 1 {
            let port = (low & 0xFFFC) as u16;
            return (port != 0).then_some(Bar::Io(port));
        }
        let mut base = u64::from(low & 0xFFFF_FFF0);
        if (low >> 1) & 3 == 2 {
            base |= u64::from(high()) << 32;
        }
        (base != 0).then_some(Bar::Memory(base))
    }

    /// Whether a BAR register value is the lower half of a 64-bit memory BAR.
    pub fn is_64bit(low: u32) -> bool {
        low & 1 == 0 && (low >> 1) & 3 == 2
    }
}

impl PciFunction {
    pub fn name(&self) -> PciName {
        PciName {
            vendor_id: self.vendor_id,
            device_id: self.device_id,
            bus: self.bus,
            device: self.device,
            function: self.function,
        }
    }

    /// The first I/O BAR, whatever its index.
    pub fn io_bar(&self) -> Result<u16, OpenError> {
        self.bars
            .iter()
            .find_map(|bar| match bar {
                Some(Bar::Io(port)) => Some(*port),
                _ => None,
            })
            .ok_or(OpenError::NoIoBar)
    }

    /// Memory BAR `index`, `len` bytes long, which must lie in the runtime's identity map
    /// (0..4 GiB on a BIOS, see [`crate::hw::IDENTITY_MAP_END`]).
    pub fn memory_bar(&self, index: usize, len: usize) -> Result<usize, OpenError> {
        let mapped = |base: u64| {
            base.checked_add(len as u64)
                .is_some_and(|end| end <= crate::hw::IDENTITY_MAP_END)
        };
        match self.bars.get(index).copied().flatten() {
            Some(Bar::Memory(base)) if mapped(base) => Ok(base as usize),
            Some(Bar::Memory(base)) => Err(OpenError::BarAbove4Gib(base)),
            _ => Err(OpenError::NoMemoryBar(index)),
        }
    }
}

impl Found {
    /// The PCI function of a card found on the PCI bus.
    pub fn pci(&self) -> Result<&PciFunction, OpenError> {
        match &self.location {
            Location::Pci(function) => Ok(function),
            _ => Err(OpenError::Nic(NicError::UnsupportedDevice)),
        }
    }
}

/// Why a card did not open: the one error type of every driver's `open`.
#[derive(Clone, Copy)]
pub enum OpenError {
    /// The driver itself failed (reset or EEPROM timeout, no MAC address, ...).
    Nic(NicError),
    /// The card has no I/O BAR (the BIOS assigned none).
    NoIoBar,
    /// Memory BAR n is missing.
    NoMemoryBar(usize),
    /// A memory BAR lies above 4 GiB, outside the runtime's identity map.
    BarAbove4Gib(u64),
    /// The DMA memory was already handed out, or is too small for this driver: a build bug.
    DmaMemory,
    /// A driver's own reason, kept in the DMA memory its failed open leaves unused
    /// ([`DmaArena::keep_error`]) and written out by its own code, so that a build without that
    /// driver carries none of its messages.
    Driver(&'static dyn fmt::Display),
}

impl PartialEq for OpenError {
    fn eq(&self, other: &Self) -> bool {
        use OpenError::*;
        match (self, other) {
            (Nic(a), Nic(b)) => a == b,
            (NoIoBar, NoIoBar) | (DmaMemory, DmaMemory) => true,
            (NoMemoryBar(a), NoMemoryBar(b)) => a == b,
            (BarAbove4Gib(a), BarAbove4Gib(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Debug for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenError({self})")
    }
}

impl From<NicError> for OpenError {
    fn from(error: NicError) -> Self {
        OpenError::Nic(error)
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Nic(error) => error.fmt(f),
            OpenError::NoIoBar => f.write_str("no I/O BAR assigned"),
            OpenError::NoMemoryBar(index) => write!(f, "no memory BAR{index} assigned"),
            OpenError::BarAbove4Gib(base) => write!(f, "registers above 4 GiB, at {base:#x}"),
            OpenError::DmaMemory => f.write_str("no DMA memory left (a netloader bug)"),
            OpenError::Driver(reason) => reason.fmt(f),
        }
    }
}

/// The DMA bytes a driver needs: its buffers `B`, then its state `S`, each aligned, wherever
/// the memory starts (a [`DmaPool`] is not aligned itself).
pub const fn dma_len<B, S>() -> usize {
    use core::mem::{align_of, size_of};
    align_of::<B>() - 1 + size_of::<B>() + align_of::<S>() - 1 + size_of::<S>()
}

/// The largest [`Driver::dma_len`] of `drivers`: what a [`DmaPool`] for them must hold.
pub const fn pool_len(drivers: &[Driver]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < drivers.len() {
        if drivers[i].dma_len > len {
            len = drivers[i].dma_len;
        }
        i += 1;
    }
    len
}

/// How many drivers of [`DRIVERS`] a build carries: all (`only` is `None`), or the one named.
pub const fn carried_count(only: Option<&str>) -> usize {
    let mut count = 0;
    let mut i = 0;
    while i < DRIVERS.len() {
        if is_carried(&DRIVERS[i], only) {
            count += 1;
        }
        i += 1;
    }
    count
}

/// The drivers a build carries, by value: a build that names one driver (an option ROM's)
/// evaluates this at compile time, so the others' code is never referenced and not linked.
pub const fn carried<const N: usize>(only: Option<&str>) -> [Driver; N] {
    assert!(N > 0, "NETLOADER_DRIVER names no driver of the registry");
    let mut out = [DRIVERS[0]; N];
    let mut n = 0;
    let mut i = 0;
    while i < DRIVERS.len() {
        if is_carried(&DRIVERS[i], only) {
            out[n] = DRIVERS[i];
            n += 1;
        }
        i += 1;
    }
    assert!(n == N, "carried::<N> with the wrong N");
    out
}

const fn is_carried(driver: &Driver, only: Option<&str>) -> bool {
    match only {
        None => true,
        Some(name) => str_eq(driver.name, name),
    }
}

/// Whether `drivers` has the driver called `name` (at compile time: what a build carries).
pub const fn carries(drivers: &[Driver], name: &str) -> bool {
    let mut i = 0;
    while i < drivers.len() {
        if str_eq(drivers[i].name, name) {
            return true;
        }
        i += 1;
    }
    false
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The families of `drivers` as a phrase, "A, B and C" (for "this netloader drives ..."). A
/// `const fn`, so that the runtime keeps the text, not the code that makes it.
pub const fn families(drivers: &[Driver]) -> Phrase {
    let mut phrase = Phrase {
        bytes: [0; PHRASE_CAPACITY],
        len: 0,
    };
    let mut i = 0;
    while i < drivers.len() {
        if i > 0 {
            phrase.push(if i + 1 == drivers.len() {
                " and "
            } else {
                ", "
            });
        }
        phrase.push(drivers[i].family);
        i += 1;
    }
    phrase
}

const PHRASE_CAPACITY: usize = 256;

/// Text made at compile time (see [`families`]).
#[derive(Debug, Clone, Copy)]
pub struct Phrase {
    bytes: [u8; PHRASE_CAPACITY],
    len: usize,
}

impl Phrase {
    const fn push(&mut self, text: &str) {
        let text = text.as_bytes();
        assert!(self.len + text.len() <= PHRASE_CAPACITY, "phrase too long");
        let mut i = 0;
        while i < text.len() {
            self.bytes[self.len + i] = text[i];
            i += 1;
        }
        self.len += text.len();
    }

    pub const fn as_str(&self) -> &str {
        match core::str::from_utf8(self.bytes.split_at(self.len).0) {
            Ok(text) => text,
            Err(_) => panic!("made of whole strings"),
        }
    }

    pub const fn len(&self) -> usize {
        self.len
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The text in an array of its own length (`N` = [`Phrase::len`]), so that a program keeps
    /// only the text's bytes: `const TEXT: [u8; N] = families(..).text()`, then
    /// `core::str::from_utf8(&TEXT)`.
    pub const fn text<const N: usize>(&self) -> [u8; N] {
        assert!(N == self.len, "text::<N> with N other than the length");
        let mut out = [0; N];
        let mut i = 0;
        while i < N {
            out[i] = self.bytes[i];
            i += 1;
        }
        out
    }
}
