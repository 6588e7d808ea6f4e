//! PCI configuration space through mechanism #1 (ports 0xCF8/0xCFC) and a scan of every bus.

use crate::arch::port::Port;
use netloader_drivers::registry::Bar;
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

/// The six BARs of a type-0 header, decoded (drivers/src/registry.rs); a 64-bit memory BAR
/// takes its slot and the next. BARs above 4 GiB are kept: a driver refuses them (the runtime
/// maps 0..4 GiB only).
pub fn bars(address: PciAddress) -> [Option<Bar>; 6] {
    let access = PortConfigAccess;
    // SAFETY: reading a BAR has no side effects.
    let read = |index: usize| unsafe { access.read(address, 0x10 + 4 * index as u16) };
    let mut bars = [None; 6];
    let mut index = 0;
    while index < 6 {
        let low = read(index);
        bars[index] = Bar::decode(low, || if index < 5 { read(index + 1) } else { 0 });
        index += if Bar::is_64bit(low) { 2 } else { 1 };
    }
    bars
}
