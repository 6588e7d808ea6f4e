//! PCI glue: configuration access through ports 0xCF8/0xCFC, and the checks and command-register
//! setup done before virtio-drivers' `PciTransport` maps the card's registers.

use virtio_drivers::transport::pci::bus::{Command, ConfigurationAccess, DeviceFunction, PciRoot};

/// Configuration mechanism #1 (ports 0xCF8/0xCFC), present on every PC chipset QEMU and Bochs
/// emulate (`pc` and `q35`).
#[derive(Debug)]
pub struct PortCam(());

impl PortCam {
    /// # Safety
    /// Nothing else may use ports 0xCF8-0xCFF while this exists (the runtime is single-threaded
    /// with interrupts off, so: do not interleave another config access).
    pub unsafe fn new() -> Self {
        PortCam(())
    }

    fn address(df: DeviceFunction, offset: u8) -> u32 {
        0x8000_0000
            | u32::from(df.bus) << 16
            | u32::from(df.device & 0x1F) << 11
            | u32::from(df.function & 0x7) << 8
            | u32::from(offset & 0xFC)
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
impl ConfigurationAccess for PortCam {
    fn read_word(&self, df: DeviceFunction, offset: u8) -> u32 {
        let value: u32;
        // SAFETY: config mechanism #1; exclusive use of the ports is the contract of `new`.
        unsafe {
            core::arch::asm!(
                "out dx, eax",
                "mov dx, 0xCFC",
                "in eax, dx",
                inout("dx") 0xCF8u16 => _,
                inout("eax") Self::address(df, offset) => value,
                options(nostack, preserves_flags),
            );
        }
        value
    }

    fn write_word(&mut self, df: DeviceFunction, offset: u8, data: u32) {
        // SAFETY: as in `read_word`.
        unsafe {
            core::arch::asm!(
                "out dx, eax",
                "mov dx, 0xCFC",
                "mov eax, {data:e}",
                "out dx, eax",
                data = in(reg) data,
                inout("dx") 0xCF8u16 => _,
                inout("eax") Self::address(df, offset) => _,
                options(nostack, preserves_flags),
            );
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam(())
    }
}

const STATUS_COMMAND: u8 = 0x04;
const STATUS_HAS_CAPABILITIES: u32 = 1 << (16 + 4);
const CAPABILITIES_POINTER: u8 = 0x34;
const BAR0: u8 = 0x10;
const CAP_ID_VENDOR: u8 = 0x09;
/// Offset of `bar` in `struct virtio_pci_cap`.
const VIRTIO_CAP_BAR: u8 = 4;
/// A capability list longer than this is corrupt (48 fit in the 192 bytes after the header).
const MAX_CAPABILITIES: usize = 48;

/// Why a card's registers cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarAbove4Gib {
    pub bar: u8,
    pub address: u64,
}

/// Check that every BAR a virtio capability points at lies below 4 GiB, where the runtime's
/// identity map reaches. Reads only; a malformed capability list ends the walk (the transport
/// then reports what is missing).
pub(crate) fn check_bars_below_4gib(
    cam: &impl ConfigurationAccess,
    df: DeviceFunction,
) -> Result<(), BarAbove4Gib> {
    if cam.read_word(df, STATUS_COMMAND) & STATUS_HAS_CAPABILITIES == 0 {
        return Ok(());
    }
    let mut offset = read_byte(cam, df, CAPABILITIES_POINTER) & 0xFC;
    for _ in 0..MAX_CAPABILITIES {
        if offset < 0x40 {
            break; // 0 ends the list; anything else below 0x40 points into the header: corrupt
        }
        let header = cam.read_word(df, offset);
        if header as u8 == CAP_ID_VENDOR {
            let bar = read_byte(cam, df, offset.saturating_add(VIRTIO_CAP_BAR));
            check_bar(cam, df, bar)?;
        }
        offset = (header >> 8) as u8 & 0xFC;
    }
    Ok(())
}

fn check_bar(
    cam: &impl ConfigurationAccess,
    df: DeviceFunction,
    bar: u8,
) -> Result<(), BarAbove4Gib> {
    if bar >= 5 {
        return Ok(()); // BAR5 cannot be 64-bit; bars past 5 are the transport's error
    }
    let low = cam.read_word(df, BAR0 + 4 * bar);
    let is_memory_64 = low & 0b111 == 0b100;
    if !is_memory_64 {
        return Ok(());
    }
    let high = cam.read_word(df, BAR0 + 4 * (bar + 1));
    if high == 0 {
        return Ok(());
    }
    Err(BarAbove4Gib {
        bar,
        address: u64::from(high) << 32 | u64::from(low & !0xF),
    })
}

fn read_byte(cam: &impl ConfigurationAccess, df: DeviceFunction, offset: u8) -> u8 {
    let word = cam.read_word(df, offset & 0xFC);
    (word >> (8 * u32::from(offset & 3))) as u8
}

/// Turn on memory decoding (the virtio registers live in a memory BAR) and bus mastering (the
/// card reads and writes the rings by DMA). Firmware may have left either off.
pub(crate) fn enable_memory_and_bus_master<C: ConfigurationAccess>(
    root: &mut PciRoot<C>,
    df: DeviceFunction,
) {
    let (_, command) = root.get_status_command(df);
    let wanted = command | Command::MEMORY_SPACE | Command::BUS_MASTER;
    if wanted != command {
        root.set_command(df, wanted);
    }
}
