//! The Multiboot 1 test kernel linked at 0x8000 (the `low` variant); everything but its entry
//! lives in the library.
#![no_std]
#![no_main]

use mbtest_kernel as _;

core::arch::global_asm!(include_str!("../entry.s"), options(att_syntax));
