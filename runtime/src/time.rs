//! Time: the TSC, calibrated once against the PIT (channel 2, the speaker gate, so no
//! interrupts are needed); in netloader.efi against the firmware's Stall.

use core::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(target_os = "uefi"))]
use x86_64::instructions::port::Port;

static TSC_PER_MS: AtomicU64 = AtomicU64::new(1_000_000);
/// Microseconds per TSC tick in 32.32 fixed point: the hot path multiplies, never divides.
static US_PER_TICK_FP32: AtomicU64 = AtomicU64::new(1 << 22);
static TSC_AT_START: AtomicU64 = AtomicU64::new(0);

#[cfg(not(target_os = "uefi"))]
const PIT_HZ: u64 = 1_193_182;

fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; every x86-64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// How the TSC was measured.
pub struct Calibration {
    /// TSC ticks per millisecond (kHz).
    pub per_ms: u64,
    /// Measurements taken.
    pub tries: usize,
    /// The kept measurement's uncertainty, in parts per million.
    pub uncertainty_ppm: u64,
}

/// Calibrate the TSC against PIT channel 2 (in netloader.efi the firmware's Stall), then start
/// the clock.
pub fn init() -> Calibration {
    let calibration = calibrate_tsc();
    let per_ms = calibration.per_ms;
    let per_ms = if per_ms < 1000 { 1_000_000 } else { per_ms }; // no PIT: assume 1 GHz
    TSC_PER_MS.store(per_ms, Ordering::Relaxed);
    US_PER_TICK_FP32.store(
        ((1000u128 << 32) / per_ms as u128) as u64,
        Ordering::Relaxed,
    );
    TSC_AT_START.store(rdtsc(), Ordering::Relaxed);
    Calibration {
        per_ms,
        ..calibration
    }
}

/// netloader.efi: TSC ticks per millisecond against the firmware's Stall (the firmware owns
/// the PIT there, or the machine has none), over 10 ms.
#[cfg(target_os = "uefi")]
fn calibrate_tsc() -> Calibration {
    let Some(boot) = crate::efi::boot_services() else {
        return Calibration {
            per_ms: 0,
            tries: 0,
            uncertainty_ppm: 0,
        };
    };
    let start = rdtsc();
    // SAFETY: Stall busy-waits the given microseconds; nothing else.
    let _ = unsafe { (boot.stall)((FIRST_WINDOW_MS * 1000) as usize) };
    Calibration {
        per_ms: (rdtsc() - start) / FIRST_WINDOW_MS,
        tries: 1,
        uncertainty_ppm: 0,
    }
}

/// The first measurement lasts 10 ms (enough on a real PC); any further one 50 ms, so that a
/// delay at an edge weighs less. At most this many further ones.
#[cfg(not(target_os = "uefi"))]
const CALIBRATION_RETRIES: usize = 10;
const FIRST_WINDOW_MS: u64 = 10;
#[cfg(not(target_os = "uefi"))]
const RETRY_WINDOW_MS: u64 = 50;

/// TSC ticks per millisecond, measured against PIT channel 2 (mode 0, one shot).
///
/// The count starts when its high byte is written and ends when the channel's output goes
/// high; each edge is bracketed by two TSC reads. Where the CPU was kept away at an edge (an
/// SMI on a real PC; under an emulator, a port access that waits for the emulator's I/O thread,
/// seen as 1.5x-8x errors on a busy machine, which made every timeout that much longer) the
/// bracket is wide: such a measurement is taken again over a longer window, and the one with
/// the narrowest bracket for its length is kept.
#[cfg(not(target_os = "uefi"))]
fn calibrate_tsc() -> Calibration {
    // (uncertainty, elapsed, window in ms) of the best measurement so far, in TSC ticks.
    let mut best: Option<(u64, u64, u64)> = None;
    let mut tries = 0;
    for window_ms in core::iter::once(FIRST_WINDOW_MS)
        .chain(core::iter::repeat_n(RETRY_WINDOW_MS, CALIBRATION_RETRIES))
    {
        tries += 1;
        let Some((uncertainty, elapsed)) = measure_tsc(PIT_HZ * window_ms / 1000) else {
            break; // no PIT answers: no point in asking again
        };
        let narrower = |(u, e, _): (u64, u64, u64)| uncertainty * e < u * elapsed;
        if best.is_none_or(narrower) {
            best = Some((uncertainty, elapsed, window_ms));
        }
        if uncertainty * 400 <= elapsed {
            break; // within 0.25%: good enough for every timeout netloader keeps
        }
    }
    let (uncertainty, elapsed, window_ms) = best.unwrap_or((0, 0, 1));
    Calibration {
        per_ms: elapsed / window_ms,
        tries,
        uncertainty_ppm: uncertainty * 1_000_000 / elapsed.max(1),
    }
}

/// One run of PIT channel 2 over `count` ticks: (uncertainty, elapsed) in TSC ticks, or None
/// when the channel never ran out.
#[cfg(not(target_os = "uefi"))]
fn measure_tsc(count: u64) -> Option<(u64, u64)> {
    let mut gate = Port::<u8>::new(0x61);
    let mut mode = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: the PIT and port 0x61 are standard PC hardware; channel 2 only drives the
    // speaker, which stays off (bit 1 clear).
    unsafe {
        let g = gate.read();
        gate.write((g & !0x02) | 0x01); // gate on, speaker off
        mode.write(0b1011_0000); // channel 2, low then high byte, mode 0, binary
        channel2.write((count & 0xff) as u8);
        let start_low = rdtsc();
        channel2.write((count >> 8) as u8);
        let start_high = rdtsc();
        // Bit 5 of port 0x61 is channel 2's output: high when the count runs out. The end
        // lies after the last read that saw it low began, and before the first read that saw
        // it high ended.
        let mut end = None;
        let mut last_low = start_high;
        for _ in 0..100_000_000u32 {
            let before = rdtsc();
            if gate.read() & 0x20 != 0 {
                end = Some((last_low, rdtsc()));
                break;
            }
            last_low = before;
        }
        gate.write(g);
        end.map(|(end_low, end_high)| {
            let uncertainty = (end_high - end_low) + (start_high - start_low);
            let elapsed = (end_low + end_high) / 2 - (start_low + start_high) / 2;
            (uncertainty, elapsed)
        })
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
