//! Shared harness for the boot tests: QEMU under TCG, serial capture, isa-debug-exit.
//!
//! Every boot runs under a timeout with its serial console written to a log file that is kept
//! (under the cargo target directory); a failing check prints the log's tail and its path.

pub mod bochs;
pub mod compress;
pub mod kernels;
pub mod kernels2;
pub mod lan;
pub mod linux;
pub mod netns;
pub mod ovmf;
pub mod pcap;
pub mod qemu;
pub mod scenario;
pub mod timed_serial;
