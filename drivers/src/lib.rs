//! NIC drivers behind one small trait.
#![no_std]

#[cfg(test)]
extern crate std;
