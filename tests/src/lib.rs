//! Shared harness for the boot tests: QEMU under TCG, serial capture, isa-debug-exit.
