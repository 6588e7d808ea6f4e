//! netloader's pure logic: everything that turns bytes from the wire or a file into decisions.
//!
//! No hardware access, no allocation, no panics on bad input: each parser returns an error.
//! The runtime (freestanding) and the image builder (host) both use this crate, and the host
//! test suite exercises it directly.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

/// The seeded PRNG of the property tests; the host tool's tests use it too (feature
/// `test-rng`, enabled by image-builder's dev-dependency).
#[cfg(any(test, feature = "test-rng"))]
pub mod test_rng;

pub mod acpi;
pub mod config;
pub mod crc32;
pub mod decompress;
pub mod dhcp;
pub mod efi;
pub mod elf;
pub mod http;
pub mod inet_checksum;
pub mod ipv4;
pub mod kernel;
pub mod linux;
pub mod memmap;
pub mod multiboot;
pub mod multiboot2;
pub mod planner;
pub mod tftp;
pub mod url;
pub mod vbe;
pub mod video;
