//! The clock of a BIOS PC, for both BIOS platforms: the TSC where CPUID reports one, calibrated
//! against PIT channel 2 (the speaker gate, so no interrupts are needed; each edge bracketed,
//! see `calibrate_tsc`); on a CPU without a TSC (some Pentium-class clones) PIT channel 2
//! itself, left counting down at 1.193182 MHz.
//!
//! The PIT counter wraps every 55 ms; every reading adds what passed since the last one, so a
//! stretch longer than that without a reading loses whole wraps and the clock runs slow there
//! (a timeout then lasts longer, never shorter). The runtime reads the clock in every wait.
//!
//! netloader.efi counts the TSC too, calibrated against the firmware's Stall instead
//! (`super::uefi::calibrate_tsc`): the firmware owns the PIT while boot services run.

use super::port::Port;
#[cfg(target_os = "uefi")]
use super::uefi::calibrate_tsc;

const PIT_HZ: u64 = 1_193_182;

/// What the clock counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The time stamp counter, measured so.
    Tsc(Calibration),
    /// PIT channel 2, free-running (no TSC on this CPU).
    Pit,
}

/// How the TSC was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// TSC ticks per millisecond (kHz).
    pub per_ms: u64,
    /// Measurements taken.
    pub tries: usize,
    /// The kept measurement's uncertainty, in parts per million.
    pub uncertainty_ppm: u64,
}

struct Clock {
    source: Source,
    /// Microseconds per tick in 32.32 fixed point (below 2^32 for any clock above 1 MHz): the
    /// hot path multiplies, never divides.
    us_per_tick_fp32: u64,
    /// The tick count at `init`.
    start: u64,
    /// PIT only: ticks counted so far, and the counter as last read.
    pit_ticks: u64,
    pit_last: u16,
}

// The runtime runs on one CPU with interrupts off: the clock is only ever touched from one
// place at a time, through `clock()`.
static mut CLOCK: Clock = Clock {
    source: Source::Pit,
    us_per_tick_fp32: 1 << 22,
    start: 0,
    pit_ticks: 0,
    pit_last: 0,
};

fn clock() -> &'static mut Clock {
    // SAFETY: single CPU, interrupts off, and no caller keeps the reference across another
    // call here (each function below takes it once).
    unsafe { &mut *(&raw mut CLOCK) }
}

/// Ports of the PIT and of the gate of channel 2 (port 0x61: bit 0 gate, bit 1 speaker data,
/// bit 5 channel 2's output).
fn gate() -> Port<u8> {
    Port::new(0x61)
}
fn pit_mode() -> Port<u8> {
    Port::new(0x43)
}
fn pit_channel2() -> Port<u8> {
    Port::new(0x42)
}

/// Start the clock. Returns what it counts.
pub fn init() -> Source {
    let source = if super::cpu_has_tsc() {
        let calibration = calibrate_tsc();
        // No PIT (or no Stall): assume 1 GHz.
        let per_ms = if calibration.per_ms < 1000 {
            1_000_000
        } else {
            calibration.per_ms
        };
        Source::Tsc(Calibration {
            per_ms,
            ..calibration
        })
    } else {
        start_pit();
        Source::Pit
    };
    let per_ms = match source {
        Source::Tsc(calibration) => calibration.per_ms,
        Source::Pit => PIT_HZ / 1000,
    };
    clock().source = source;
    clock().us_per_tick_fp32 = (1000u64 << 32) / per_ms;
    let start = ticks();
    clock().start = start;
    source
}

/// The first measurement lasts 10 ms (enough on a real PC); any further one 50 ms, so that a
/// delay at an edge weighs less. At most this many further ones.
#[cfg(not(target_os = "uefi"))]
const CALIBRATION_RETRIES: usize = 10;
#[cfg(not(target_os = "uefi"))]
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
    // SAFETY: the PIT and port 0x61 are standard PC hardware; channel 2 only drives the
    // speaker, which stays off (bit 1 clear).
    unsafe {
        let g = gate().read();
        gate().write((g & !0x02) | 0x01); // gate on, speaker off
        pit_mode().write(0b1011_0000); // channel 2, low then high byte, mode 0, binary
        pit_channel2().write((count & 0xff) as u8);
        let start_low = super::rdtsc();
        pit_channel2().write((count >> 8) as u8);
        let start_high = super::rdtsc();
        // Channel 2's output goes high when the count runs out. The end lies after the last
        // read that saw it low began, and before the first read that saw it high ended.
        let mut end = None;
        let mut last_low = start_high;
        for _ in 0..100_000_000u32 {
            let before = super::rdtsc();
            if gate().read() & 0x20 != 0 {
                end = Some((last_low, super::rdtsc()));
                break;
            }
            last_low = before;
        }
        gate().write(g);
        end.map(|(end_low, end_high)| {
            let uncertainty = (end_high - end_low) + (start_high - start_low);
            let elapsed = (end_low + end_high) / 2 - (start_low + start_high) / 2;
            (uncertainty, elapsed)
        })
    }
}

/// PIT channel 2 in mode 2 (rate generator) from 65536: it counts down by one per PIT tick
/// and reloads, for as long as its gate is on.
fn start_pit() {
    // SAFETY: as in `calibrate_tsc`: channel 2 and its gate, the speaker off.
    unsafe {
        let g = gate().read();
        gate().write((g & !0x02) | 0x01);
        pit_mode().write(0b1011_0100); // channel 2, low then high byte, mode 2, binary
        pit_channel2().write(0);
        pit_channel2().write(0);
    }
    clock().pit_last = read_pit();
}

/// PIT channel 2's counter, latched (so the two bytes belong together).
fn read_pit() -> u16 {
    // SAFETY: the latch command for channel 2 and two reads of its counter: no side effect
    // beyond ending the latch.
    unsafe {
        pit_mode().write(0b1000_0000);
        let low = pit_channel2().read();
        let high = pit_channel2().read();
        u16::from_le_bytes([low, high])
    }
}

/// Ticks of the clock's source since some fixed moment before `init`.
fn ticks() -> u64 {
    let clock = clock();
    match clock.source {
        Source::Tsc { .. } => super::rdtsc(),
        Source::Pit => {
            let now = read_pit();
            // Counting down; 0 stands for 65536, so the difference wraps right in 16 bits.
            clock.pit_ticks += u64::from(clock.pit_last.wrapping_sub(now));
            clock.pit_last = now;
            clock.pit_ticks
        }
    }
}

/// Microseconds since `init`.
pub fn now_us() -> u64 {
    let elapsed = ticks().wrapping_sub(clock().start);
    let fp = clock().us_per_tick_fp32;
    // (elapsed * fp) >> 32 without a 128-bit product (a library call on a 32-bit CPU): fp is
    // below 2^32, so the low half's product fits 64 bits.
    (elapsed >> 32) * fp + (((elapsed & 0xffff_ffff) * fp) >> 32)
}
