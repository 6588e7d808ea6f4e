//! The Multiboot 2 test kernel, linked at 2 MiB (and relocatable by whole 2 MiB pages, see
//! entry2.s); everything but its entry lives in the library.
#![no_std]
#![no_main]

use mbtest_kernel as _;

core::arch::global_asm!(include_str!("../entry2.s"), options(att_syntax));
