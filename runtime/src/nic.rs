//! Find the first network card a carried driver handles (drivers/src/registry.rs), open it, and
//! hand it out as `&mut dyn Nic`.
//!
//! netloader.efi carries every native driver and `snp`, the firmware's network interface, which
//! no PCI probe finds but the firmware offers (its `find` asks the machine,
//! `Machine::take_snp`). A card with a native driver is the firmware's until its drivers let go
//! of it (`arch::take_card_from_firmware`); else, or when the native driver does not start,
//! `snp`.

use core::fmt::Write;
use core::ops::Range;

use netloader_drivers::hw::Delay;
use netloader_drivers::registry::{
    self, DmaArena, DmaPool, DmaRegion, Driver, Found, Location, Machine, OpenError, PciFunction,
    PciName,
};
use netloader_drivers::{Nic, undi};

use crate::{arch, pci, println, time};

/// The one driver an option ROM's runtime carries (`NETLOADER_DRIVER=<name>` when it is built,
/// see image-builder/build.rs); every driver when unset. netloader.efi carries every native
/// driver and the firmware's SNP (the registry leaves UNDI out of UEFI builds and SNP out of
/// the others).
const ONLY: Option<&str> = option_env!("NETLOADER_DRIVER");

/// The drivers this build carries, chosen at compile time: the others are never referenced,
/// so not linked (a ROM carries one driver).
const CARRIED_COUNT: usize = registry::carried_count(ONLY);
const CARRIED_DRIVERS: [Driver; CARRIED_COUNT] = registry::carried(ONLY);
static CARRIED: [Driver; CARRIED_COUNT] = CARRIED_DRIVERS;

/// Whether a carried driver looks for cards no bus lists (known at compile time: a build
/// without one has no use for the search).
const FINDS_CARDS: bool = {
    let mut i = 0;
    let mut any = false;
    while i < CARRIED_COUNT {
        any |= CARRIED_DRIVERS[i].find.is_some();
        i += 1;
    }
    any
};

/// "this netloader drives ...", made at compile time.
const DRIVEN: &str = match core::str::from_utf8(&DRIVEN_TEXT) {
    Ok(text) => text,
    Err(_) => panic!("the families are text"),
};
const DRIVEN_TEXT: [u8; registry::families(&CARRIED_DRIVERS).len()] =
    registry::families(&CARRIED_DRIVERS).text();

/// The DMA memory the card we drive may need (the largest carried driver's): the top of the
/// network's area in upper memory holds it (`net::areas`), where large rings have room.
pub const DMA_AREA_LEN: usize = registry::pool_len(&CARRIED_DRIVERS);

/// That area, handed out once.
static DMA_AREA: DmaRegion = DmaRegion::new();

/// Whether this build carries the UNDI driver (not a ROM's, which carries its card's alone):
/// known at compile time, so a build without it has none of the PXE stack's code.
pub const UNDI_CARRIED: bool = registry::carries(&CARRIED_DRIVERS, undi::DRIVER.name);

/// UNDI's DMA memory, in conventional memory: the PXE ROM's real-mode code reads its transmit
/// buffers by segment and offset. Empty in a build without UNDI.
static UNDI_POOL: DmaPool<UNDI_POOL_LEN> = DmaPool::new();
const UNDI_POOL_LEN: usize = if UNDI_CARRIED {
    undi::DRIVER.dma_len
} else {
    0
};

/// The DMA memory of the firmware's interface when the card's own driver, which took
/// [`DMA_AREA`], did not start and the platform gave the card back to the firmware (the area
/// is never given back: see its docs). Empty where the firmware has no interface (a BIOS).
static FALLBACK_POOL: DmaPool<{ arch::FIRMWARE_NIC_DMA_LEN }> = DmaPool::new();

/// The machine as drivers see it.
struct Runtime {
    delay: time::Delay,
}

impl Machine for Runtime {
    fn delay(&mut self) -> &mut dyn Delay {
        &mut self.delay
    }

    fn offers_snp(&mut self) -> bool {
        arch::firmware_snp_offered()
    }

    fn take_snp(&mut self) -> Option<&'static mut dyn netloader_drivers::snp::SnpApi> {
        arch::take_firmware_snp()
    }
}

/// The native driver this build has for a PCI ID, by name (UNDI, which drives any card with a
/// PXE ROM, is not native).
pub fn native_driver(vendor: u16, device: u16) -> Option<&'static str> {
    registry::match_pci(&CARRIED, vendor, device).map(|(driver, _)| driver.name)
}

/// The native driver of the first network card on the bus that has one.
pub fn any_native_card() -> Option<&'static str> {
    let mut found = None;
    pci::scan(|function| {
        if found.is_none() && function.is_network() {
            found = native_driver(function.vendor, function.device);
        }
    });
    found
}

/// The card a PXE ROM's stack drives, through the registry's UNDI driver: the stack the runtime
/// kept (runtime/src/pxe_stack.rs) or loaded (runtime/src/undi_rom.rs). Before any PCI scan,
/// since that card is the one the ROM booted from and the ROM's memory must be given back.
// Out of line: inlined into its one caller it cost 0.5-1.5 KiB of conventional memory.
#[inline(never)]
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
pub fn open_undi(kept: crate::pxe_stack::KeptStack) -> Result<&'static mut dyn Nic, NoCard> {
    let card = Found {
        driver: &undi::DRIVER,
        model: "UNDI",
        location: Location::Firmware("the PXE ROM"),
    };
    let fail = |error| NoCard::UndiFailed { error };
    if !kept.into_static().is_some_and(undi::offer) {
        return Err(fail(OpenError::Nic(
            netloader_drivers::NicError::UnsupportedDevice,
        )));
    }
    let mut machine = Runtime { delay: time::Delay };
    let dma = UNDI_POOL.take().ok_or_else(|| fail(OpenError::DmaMemory))?;
    let nic = (card.driver.open)(&card, &mut machine, dma).map_err(fail)?;
    println!("nic: the card through its PXE ROM's UNDI, driver undi (polled, IRQ masked)");
    Ok(nic)
}

/// Why no card could be used.
pub enum NoCard {
    /// No network device with a driver; lists what was seen (vendor:device, up to 8).
    NoneSupported { seen: heapless::String<160> },
    /// The card was found but would not start.
    OpenFailed { card: Found, error: OpenError },
    /// The PXE ROM's UNDI would not open the card (the stack is unloaded since).
    #[cfg(not(feature = "chain"))]
    UndiFailed { error: OpenError },
}

impl core::fmt::Display for NoCard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NoCard::NoneSupported { seen } if seen.is_empty() => write!(
                f,
                "E-NIC-NONE: no network card found on the PCI bus{}: check that the card is seated and enabled in the BIOS",
                if FINDS_CARDS {
                    " (nor an ISA NE2000 at its usual ports)"
                } else {
                    ""
                }
            ),
            NoCard::NoneSupported { seen } => write!(
                f,
                "E-NIC-UNSUPPORTED: no driver for the network cards found ({seen}): this netloader drives {DRIVEN}"
            ),
            #[cfg(not(feature = "chain"))]
            NoCard::UndiFailed { error } => write!(
                f,
                "E-UNDI-OPEN: the card could not be opened through its PXE ROM (UNDI): {error}; the ROM's stack is unloaded: use a card this netloader drives itself"
            ),
            NoCard::OpenFailed { card, error } => write!(
                f,
                "E-NIC-OPEN: {}, {}, did not start: {error}",
                card.model, card.location
            ),
        }
    }
}

/// The first card on the PCI bus that a carried driver handles, else the first card a driver
/// finds by itself (not on a bus); opened, its buffers in `dma_area` (`net::areas`: RAM the
/// boot code keeps free of files, identity-mapped, below 4 GiB; at least [`DMA_AREA_LEN`]
/// bytes). Called once.
pub fn open_first(dma_area: Range<u64>) -> Result<&'static mut dyn Nic, NoCard> {
    let mut chosen: Option<Found> = None;
    let mut chosen_at = None;
    let mut seen = heapless::String::<160>::new();
    pci::scan(|function| {
        if !function.is_network() {
            return;
        }
        let name = PciName {
            vendor_id: function.vendor,
            device_id: function.device,
            bus: function.address.bus(),
            device: function.address.device(),
            function: function.address.function(),
        };
        let separator = if seen.is_empty() { "" } else { ", " };
        let _ = write!(seen, "{separator}{name}");
        if chosen.is_some() {
            return;
        }
        if let Some((driver, id)) = registry::match_pci(&CARRIED, function.vendor, function.device)
        {
            chosen = Some(Found {
                driver,
                model: id.name,
                location: Location::Pci(pci_function(&function)),
            });
            chosen_at = Some(function.address);
        }
    });
    // netloader.efi: the card is the firmware's until its drivers let go of it.
    let chosen = chosen.filter(arch::take_card_from_firmware);
    if let (Some(_), Some(address)) = (&chosen, chosen_at) {
        pci::enable_device(address);
    }
    let mut machine = Runtime { delay: time::Delay };
    let card = match chosen {
        Some(card) => card,
        None => found_by_driver(&mut machine).ok_or(NoCard::NoneSupported { seen })?,
    };
    // SAFETY: `dma_area` is as this function's contract says: RAM nothing else uses, at the
    // same address for the card; taken once (`DmaRegion`).
    let dma = unsafe {
        DMA_AREA.take(
            dma_area.start as *mut u8,
            (dma_area.end - dma_area.start) as usize,
        )
    };
    let result = open(card, &mut machine, dma);
    // netloader.efi: a card taken from the firmware that did not start goes back to the
    // firmware's drivers, and the boot goes on through their interface.
    if let Err(NoCard::OpenFailed { card, error }) = &result
        && arch::give_card_back_to_firmware(card, error)
        && let Some(firmware) = found_by_driver(&mut machine)
    {
        return open(firmware, &mut machine, FALLBACK_POOL.take());
    }
    result
}

/// The first card a carried driver finds by itself (not on a bus).
fn found_by_driver(machine: &mut Runtime) -> Option<Found> {
    CARRIED.iter().filter(|_| FINDS_CARDS).find_map(|driver| {
        let (model, location) = (driver.find?)(machine)?;
        Some(Found {
            driver,
            model,
            location,
        })
    })
}

fn open(
    card: Found,
    machine: &mut Runtime,
    dma: Option<DmaArena>,
) -> Result<&'static mut dyn Nic, NoCard> {
    let fail = |error| NoCard::OpenFailed { card, error };
    let dma = dma.ok_or_else(|| fail(OpenError::DmaMemory))?;
    let nic = (card.driver.open)(&card, machine, dma).map_err(fail)?;
    println!(
        "nic: {}, {}, driver {}",
        card.model, card.location, card.driver.name
    );
    Ok(nic)
}

/// The scan's view of a function, with its BARs read, as the registry describes it.
fn pci_function(function: &pci::Function) -> PciFunction {
    PciFunction {
        bus: function.address.bus(),
        device: function.address.device(),
        function: function.address.function(),
        vendor_id: function.vendor,
        device_id: function.device,
        bars: pci::bars(function.address),
    }
}
