//! The test kernel linked at 0x8000 (the `low` variant); everything lives in the library.
#![no_std]
#![no_main]

use mbtest_kernel as _;
