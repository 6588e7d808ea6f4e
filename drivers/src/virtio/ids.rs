//! The PCI IDs this driver handles (virtio spec 1.x, 4.1.2: vendor 0x1AF4; network is the
//! transitional ID 0x1000 or the modern 0x1040 + device type 1).

use crate::registry::PciId;

/// One supported PCI device ID.
pub type Model = PciId;

pub const VIRTIO_VENDOR_ID: u16 = 0x1AF4;

/// Every device ID `VirtioNet::open` accepts. QEMU: `virtio-net-pci` = 0x1000 (transitional:
/// legacy I/O BAR plus the modern capabilities this driver uses; a `disable-modern=on` device
/// fails to open), `virtio-net-pci-non-transitional` = 0x1041.
pub const SUPPORTED_IDS: &[Model] = &[
    PciId::new(VIRTIO_VENDOR_ID, 0x1000, "virtio-net (transitional)"),
    PciId::new(VIRTIO_VENDOR_ID, 0x1041, "virtio-net"),
];

/// The model entry for a PCI vendor/device ID pair, if this driver handles it.
pub fn probe(vendor_id: u16, device_id: u16) -> Option<&'static Model> {
    if vendor_id != VIRTIO_VENDOR_ID {
        return None;
    }
    SUPPORTED_IDS.iter().find(|m| m.device_id == device_id)
}
