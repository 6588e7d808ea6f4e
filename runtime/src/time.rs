//! Time: the TSC, calibrated once against the PIT (channel 2, the speaker gate, so no
//! interrupts are needed); in netloader.efi against the firmware's Stall (the firmware owns
//! the PIT there, or the machine has none).

use core::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(target_os = "uefi"))]
use x86_64::instructions::port::Port;

static TSC_PER_MS: AtomicU64 = AtomicU64::new(1_000_000);
/// Microseconds per TSC tick in 32.32 fixed point: the hot path multiplies, never divides.
static US_PER_TICK_FP32: AtomicU64 = AtomicU64::new(1 << 22);
static TSC_AT_START: AtomicU64 = AtomicU64::new(0);

#[cfg(not(target_os = "uefi"))]
const PIT_HZ: u64 = 1_193_182;
const CALIBRATION_MS: u64 = 10;

fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; every x86-64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(target_os = "uefi")]
fn tsc_per_ms() -> u64 {
    let Some(boot) = crate::efi::boot_services() else {
        return 0;
    };
    let start = rdtsc();
    // SAFETY: Stall busy-waits the given microseconds; nothing else.
    let _ = unsafe { (boot.stall)((CALIBRATION_MS * 1000) as usize) };
    (rdtsc() - start) / CALIBRATION_MS
}

/// Measure the TSC against 10 ms of PIT channel 2 (the firmware's Stall on UEFI). Returns
/// the TSC frequency in kHz.
pub fn init() -> u64 {
    let per_ms = tsc_per_ms();
    let per_ms = if per_ms < 1000 { 1_000_000 } else { per_ms }; // no PIT: assume 1 GHz
    TSC_PER_MS.store(per_ms, Ordering::Relaxed);
    US_PER_TICK_FP32.store(
        ((1000u128 << 32) / per_ms as u128) as u64,
        Ordering::Relaxed,
    );
    TSC_AT_START.store(rdtsc(), Ordering::Relaxed);
    per_ms
}

#[cfg(not(target_os = "uefi"))]
fn tsc_per_ms() -> u64 {
    let ticks = PIT_HZ * CALIBRATION_MS / 1000;
    let mut gate = Port::<u8>::new(0x61);
    let mut mode = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: the PIT and port 0x61 are standard PC hardware; channel 2 only drives the
    // speaker, which stays off (bit 1 clear).
    unsafe {
        let g = gate.read();
        gate.write((g & !0x02) | 0x01); // gate on, speaker off
        mode.write(0b1011_0000); // channel 2, low then high byte, mode 0, binary
        channel2.write((ticks & 0xff) as u8);
        channel2.write((ticks >> 8) as u8);
        let start = rdtsc();
        let mut spins = 0u64;
        // Bit 5 of port 0x61 is channel 2's output: high when the count runs out.
        while gate.read() & 0x20 == 0 && spins < 100_000_000 {
            spins += 1;
        }
        let elapsed = rdtsc() - start;
        gate.write(g);
        elapsed / CALIBRATION_MS
    }
}

/// Milliseconds since `init`.
pub fn now_ms() -> u64 {
    now_us() / 1000
}

/// Microseconds since `init`.
pub fn now_us() -> u64 {
    let ticks = rdtsc().wrapping_sub(TSC_AT_START.load(Ordering::Relaxed));
    ((ticks as u128 * US_PER_TICK_FP32.load(Ordering::Relaxed) as u128) >> 32) as u64
}

pub fn delay_us(us: u64) {
    let end = now_us() + us;
    while now_us() < end {
        core::hint::spin_loop();
    }
}

/// The drivers' view of time.
pub struct Delay;

impl netloader_drivers::hw::Delay for Delay {
    fn delay_us(&mut self, us: u32) {
        delay_us(us as u64);
    }
}
