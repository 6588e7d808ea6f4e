//! Find the first network card with a driver, bring it up, and hand it out as `&mut dyn Nic`.

use core::fmt::Write;
use core::mem::ManuallyDrop;
use core::ops::DerefMut;

use netloader_drivers::hw::{IdentityDma, MmioRegion, PortRegion};
use netloader_drivers::{Nic, NicError, e1000, rtl8139, virtio};

use crate::pci::{self, Bar, Function};
use crate::{println, time};

// Which drivers this build carries (cargo features; an option ROM carries only its card's).
// A driver left out never matches, so the optimizer drops all of its code.
fn probe_e1000(vendor: u16, device: u16) -> Option<&'static e1000::Chip> {
    if cfg!(feature = "e1000") {
        e1000::probe(vendor, device)
    } else {
        None
    }
}

fn probe_rtl8139(vendor: u16, device: u16) -> Option<&'static rtl8139::Card> {
    if cfg!(feature = "rtl8139") {
        rtl8139::probe(vendor, device)
    } else {
        None
    }
}

fn probe_virtio(vendor: u16, device: u16) -> Option<&'static virtio::Model> {
    if cfg!(feature = "virtio") {
        virtio::probe(vendor, device)
    } else {
        None
    }
}

/// The drivers of this build, for the "no driver" message.
const DRIVEN: &str = match (
    cfg!(feature = "e1000"),
    cfg!(feature = "rtl8139"),
    cfg!(feature = "virtio"),
) {
    (true, true, true) => "Intel e1000/e1000e, Realtek 8139 and virtio-net",
    (true, false, false) => "Intel e1000/e1000e only",
    (false, true, false) => "Realtek 8139 only",
    (false, false, true) => "virtio-net only",
    _ => "a subset of its cards",
};

/// The native driver this build has for a PCI ID, by name.
pub fn native_driver(vendor: u16, device: u16) -> Option<&'static str> {
    if let Some(chip) = probe_e1000(vendor, device) {
        return Some(chip.name);
    }
    if let Some(card) = probe_rtl8139(vendor, device) {
        return Some(card.name);
    }
    probe_virtio(vendor, device).map(|_| "virtio-net")
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

/// One card is driven at a time, so the drivers' DMA memory shares one place (conventional
/// memory is tight).
#[repr(C)]
union CardBuffers {
    e1000: ManuallyDrop<e1000::E1000Buffers>,
    rtl8139: ManuallyDrop<rtl8139::Rtl8139Buffers>,
    virtio: ManuallyDrop<virtio::VirtioBuffers>,
}

static mut CARD_BUFFERS: CardBuffers = CardBuffers {
    e1000: ManuallyDrop::new(e1000::E1000Buffers::new()),
};

/// Only the drivers this build carries are variants: otherwise their code would be linked in
/// through `nic()` even where they can never be opened (a ROM carries one driver).
// One card is driven, opened once and never moved: the variants' sizes differ, harmlessly.
#[allow(clippy::large_enum_variant)]
pub enum Card {
    #[cfg(feature = "e1000")]
    E1000(e1000::E1000<'static, MmioRegion, IdentityDma>),
    #[cfg(feature = "rtl8139")]
    Rtl8139(rtl8139::Rtl8139<'static, PortRegion, IdentityDma>),
    #[cfg(feature = "virtio")]
    Virtio(virtio::PciVirtioNet<'static>),
    /// Through the PXE ROM that loaded netloader.pxe (no native driver for its card).
    #[cfg(not(feature = "chain"))]
    Undi(crate::pxe_stack::UndiCard),
}

impl Card {
    pub fn nic(&mut self) -> &mut dyn Nic {
        match self {
            #[cfg(feature = "e1000")]
            Card::E1000(nic) => nic,
            #[cfg(feature = "rtl8139")]
            Card::Rtl8139(nic) => nic,
            #[cfg(feature = "virtio")]
            Card::Virtio(nic) => nic,
            #[cfg(not(feature = "chain"))]
            Card::Undi(card) => card,
        }
    }
}

/// Why no card could be used.
pub enum NoCard {
    /// No network device with a driver; lists what was seen (vendor:device, up to 8).
    NoneSupported { seen: heapless::String<160> },
    /// The card was found but would not start.
    OpenFailed {
        name: &'static str,
        function: Function,
        error: NicError,
    },
    VirtioFailed {
        function: Function,
        error: virtio::VirtioError,
    },
    /// The PXE ROM's UNDI would not open the card (the stack is unloaded since).
    #[cfg(not(feature = "chain"))]
    UndiFailed {
        error: netloader_drivers::undi::UndiError,
        unloaded: netloader_drivers::undi::UnloadStatus,
    },
}

impl core::fmt::Display for NoCard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NoCard::NoneSupported { seen } if seen.is_empty() => write!(
                f,
                "E-NIC-NONE: no network card found on the PCI bus: check that the card is seated and enabled in the BIOS"
            ),
            NoCard::NoneSupported { seen } => write!(
                f,
                "E-NIC-UNSUPPORTED: no driver for the network cards found ({seen}): this netloader drives {DRIVEN}"
            ),
            NoCard::OpenFailed {
                name,
                function,
                error,
            } => write!(
                f,
                "E-NIC-OPEN: the {name} at PCI {:02x}:{:02x}.{} ({:04x}:{:04x}) did not start: {error}",
                function.address.bus(),
                function.address.device(),
                function.address.function(),
                function.vendor,
                function.device
            ),
            #[cfg(not(feature = "chain"))]
            NoCard::UndiFailed { error, unloaded } => write!(
                f,
                "E-UNDI-OPEN: the card could not be opened through its PXE ROM (UNDI): {error}; the ROM's stack is unloaded{}: use a card netloader drives itself ({DRIVEN})",
                if unloaded.all_ok() {
                    ""
                } else {
                    " (not cleanly)"
                }
            ),
            NoCard::VirtioFailed { function, error } => write!(
                f,
                "E-NIC-OPEN: the virtio-net card at PCI {:02x}:{:02x}.{} ({:04x}:{:04x}) did not start: {error}",
                function.address.bus(),
                function.address.device(),
                function.address.function(),
                function.vendor,
                function.device
            ),
        }
    }
}

pub fn open_first() -> Result<Card, NoCard> {
    let mut chosen: Option<Function> = None;
    let mut seen = heapless::String::<160>::new();
    pci::scan(|function| {
        if !function.is_network() {
            return;
        }
        let _ = write!(
            seen,
            "{}{:04x}:{:04x} at {:02x}:{:02x}.{}",
            if seen.is_empty() { "" } else { ", " },
            function.vendor,
            function.device,
            function.address.bus(),
            function.address.device(),
            function.address.function()
        );
        let supported = probe_e1000(function.vendor, function.device).is_some()
            || probe_rtl8139(function.vendor, function.device).is_some()
            || probe_virtio(function.vendor, function.device).is_some();
        if supported && chosen.is_none() {
            chosen = Some(function);
        }
    });
    let function = chosen.ok_or(NoCard::NoneSupported { seen })?;
    pci::enable_device(function.address);
    open(function)
}

fn open(function: Function) -> Result<Card, NoCard> {
    #[cfg(feature = "e1000")]
    if let Some(chip) = probe_e1000(function.vendor, function.device) {
        let fail = |error| NoCard::OpenFailed {
            name: chip.name,
            function,
            error,
        };
        let Some(Bar::Memory(base)) = pci::bar(function.address, 0) else {
            return Err(fail(NicError::UnsupportedDevice));
        };
        if base + e1000::MMIO_LEN as u64 > 1 << 32 {
            return Err(fail(NicError::BadDmaAddress));
        }
        // SAFETY: BAR0 of this e1000, identity-mapped; nothing else drives the card.
        let regs = unsafe { MmioRegion::new(base as usize, e1000::MMIO_LEN) };
        // SAFETY: the buffers are handed out once, to the one card we drive.
        let buffers = unsafe { &mut *(&raw mut CARD_BUFFERS.e1000) }.deref_mut();
        let nic =
            e1000::E1000::open(chip, regs, IdentityDma, buffers, &mut time::Delay).map_err(fail)?;
        println!(
            "nic: {} ({:04x}:{:04x}) at mmio {:#x}",
            chip.name, function.vendor, function.device, base
        );
        return Ok(Card::E1000(nic));
    }
    #[cfg(feature = "rtl8139")]
    if let Some(card) = probe_rtl8139(function.vendor, function.device) {
        let fail = |error| NoCard::OpenFailed {
            name: card.name,
            function,
            error,
        };
        let port = pci::first_io_bar(function.address).ok_or(fail(NicError::UnsupportedDevice))?;
        // SAFETY: the I/O BAR of this RTL8139; nothing else drives the card.
        let io = unsafe { PortRegion::new(port) };
        // SAFETY: the buffers are handed out once, to the one card we drive.
        let buffers = unsafe {
            (&raw mut CARD_BUFFERS.rtl8139)
                .write(ManuallyDrop::new(rtl8139::Rtl8139Buffers::new()));
            &mut *(&raw mut CARD_BUFFERS.rtl8139)
        }
        .deref_mut();
        let nic = rtl8139::Rtl8139::open(card, io, IdentityDma, buffers).map_err(fail)?;
        println!(
            "nic: {} ({:04x}:{:04x}) at io {:#x}",
            card.name, function.vendor, function.device, port
        );
        return Ok(Card::Rtl8139(nic));
    }
    #[cfg(feature = "virtio")]
    if let Some(model) = probe_virtio(function.vendor, function.device) {
        let fail = |error| NoCard::VirtioFailed { function, error };
        // SAFETY: the standard configuration ports; nothing else uses them concurrently.
        let cam = unsafe { virtio::PortCam::new() };
        let address = virtio::DeviceFunction {
            bus: function.address.bus(),
            device: function.address.device(),
            function: function.address.function(),
        };
        // SAFETY: the buffers are handed out once, to the one card we drive.
        let buffers = unsafe {
            (&raw mut CARD_BUFFERS.virtio).write(ManuallyDrop::new(virtio::VirtioBuffers::new()));
            &mut *(&raw mut CARD_BUFFERS.virtio)
        }
        .deref_mut();
        let nic = virtio::VirtioNet::open(model, cam, address, buffers).map_err(fail)?;
        println!(
            "nic: virtio-net ({:04x}:{:04x})",
            function.vendor, function.device
        );
        return Ok(Card::Virtio(nic));
    }
    Err(NoCard::OpenFailed {
        name: "card",
        function,
        error: NicError::UnsupportedDevice,
    })
}

/// The card the PXE ROM drives, through its UNDI (runtime/src/pxe_stack.rs decided so).
#[cfg(not(feature = "chain"))]
// Out of line: inlined into its one caller it cost 0.5-1.5 KiB of conventional memory.
#[inline(never)]
pub fn open_undi(kept: crate::pxe_stack::KeptStack) -> Result<Card, NoCard> {
    match crate::pxe_stack::UndiCard::open(kept.api, kept.legacy) {
        Ok(card) => {
            let info = card.information();
            println!(
                "nic: the card through its PXE ROM's UNDI (MTU {}, IRQ {}: masked, polled)",
                info.mtu, info.irq
            );
            Ok(Card::Undi(card))
        }
        Err(failure) => Err(NoCard::UndiFailed {
            error: failure.error,
            unloaded: failure.unloaded,
        }),
    }
}
