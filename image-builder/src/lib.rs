//! netloader's image writers. Each form is a pure function from the embedded runtime (and the
//! user's options) to bytes: deterministic, no outside tools.

pub mod efi;
pub mod fat;
pub mod forms;
pub mod iso9660;
pub mod mbr;
pub mod pxe;
pub mod rom;
pub mod serve;
pub mod stage1;

/// The driver registry (drivers/src/registry.rs), for the tests and benchmarks that name cards.
pub use netloader_drivers::registry;
