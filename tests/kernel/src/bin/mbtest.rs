//! The Multiboot 1 test kernel linked at 1 MiB; everything but its entry lives in the library.
#![no_std]
#![no_main]

use mbtest_kernel as _;

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(include_str!("../entry.s"), options(att_syntax));
// Built for i586: the 32-bit kernel (the entry's KERNEL32 parts), for CPUs without long mode.
#[cfg(target_arch = "x86")]
core::arch::global_asm!(
    concat!(".set KERNEL32, 1\n", include_str!("../entry.s")),
    options(att_syntax)
);
