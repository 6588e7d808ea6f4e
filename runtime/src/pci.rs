//! PCI configuration space through mechanism #1 (ports 0xCF8/0xCFC) and a scan of every bus.

use crate::arch::port::Port;
use pci_types::{ConfigRegionAccess, PciAddress};

/// Configuration mechanism #1. Every PC since the mid-1990s has it.
#[derive(Clone, Copy)]
pub struct PortConfigAccess;

fn config_address(address: PciAddress, offset: u16) -> u32 {
    0x8000_0000
        | (address.bus() as u32) << 16
        | (address.device() as u32) << 11
        | (address.function() as u32) << 8
        | (offset as u32 & 0xfc)
}

impl ConfigRegionAccess for PortConfigAccess {
    unsafe fn read(&self, address: PciAddress, offset: u16) -> u32 {
        // SAFETY: the two standard configuration ports; single CPU, interrupts off, so the
        // address/data pair cannot be interleaved.
        unsafe {
            Port::<u32>::new(0xcf8).write(config_address(address, offset));
            Port::<u32>::new(0xcfc).read()
        }
    }

    unsafe fn write(&self, address: PciAddress, offset: u16, value: u32) {
        // SAFETY: as in `read`; the caller knows what the register does.
        unsafe {
            Port::<u32>::new(0xcf8).write(config_address(address, offset));
            Port::<u32>::new(0xcfc).write(value);
        }
    }
}

/// One function found on the bus.
#[derive(Clone, Copy, Debug)]
pub struct Function {
    pub address: PciAddress,
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
}

impl Function {
    pub fn is_network(&self) -> bool {
        self.class == 0x02
    }
}

/// Every function on buses 0-255 (brute force: a few thousand reads, a few ms).
pub fn scan(mut visit: impl FnMut(Function)) {
    let access = PortConfigAccess;
    for bus in 0..=255u8 {
        for device in 0..32u8 {
            let functions = {
                let address = PciAddress::new(0, bus, device, 0);
                // SAFETY: reading identification registers has no side effects.
                let header = unsafe { access.read(address, 0x0c) };
                if header & 0x0080_0000 != 0 { 8 } else { 1 }
            };
            for function in 0..functions {
                let address = PciAddress::new(0, bus, device, function);
                // SAFETY: as above.
                let id = unsafe { access.read(address, 0) };
                let vendor = id as u16;
                if vendor == 0xffff {
                    continue;
                }
                // SAFETY: as above.
                let class = unsafe { access.read(address, 0x08) };
                visit(Function {
                    address,
                    vendor,
                    device: (id >> 16) as u16,
                    class: (class >> 24) as u8,
                });
            }
        }
    }
}

/// Turn on memory and I/O decoding and bus mastering (the card must reach our buffers).
pub fn enable_device(address: PciAddress) {
    let access = PortConfigAccess;
    // SAFETY: the command register of a device we are about to drive.
    unsafe {
        let command = access.read(address, 0x04);
        access.write(address, 0x04, (command & 0xffff) | 0x7);
    }
}

/// BAR `index` of a type-0 header: Ok(Memory(base)) or Ok(Io(port)); 64-bit BARs above 4 GiB
/// are refused (the runtime maps 0..4 GiB only).
#[derive(Clone, Copy, Debug)]
pub enum Bar {
    Memory(u64),
    Io(u16),
}

pub fn bar(address: PciAddress, index: u8) -> Option<Bar> {
    let access = PortConfigAccess;
    let offset = 0x10 + 4 * index as u16;
    // SAFETY: reading a BAR has no side effects.
    let low = unsafe { access.read(address, offset) };
    if low & 1 == 1 {
        let port = (low & 0xfffc) as u16;
        return (port != 0).then_some(Bar::Io(port));
    }
    let mut base = (low & 0xffff_fff0) as u64;
    if (low >> 1) & 3 == 2 {
        // SAFETY: the upper half of a 64-bit BAR.
        let high = unsafe { access.read(address, offset + 4) } as u64;
        base |= high << 32;
    }
    (base != 0).then_some(Bar::Memory(base))
}

/// The first I/O BAR of a device, whatever its index.
pub fn first_io_bar(address: PciAddress) -> Option<u16> {
    (0..6).find_map(|i| match bar(address, i) {
        Some(Bar::Io(port)) => Some(port),
        _ => None,
    })
}
