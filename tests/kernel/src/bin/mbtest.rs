//! The test kernel linked at 1 MiB; everything lives in the library.
#![no_std]
#![no_main]

use mbtest_kernel as _;
