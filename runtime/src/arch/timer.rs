//! The clock of a BIOS PC, for both BIOS platforms: the TSC where CPUID reports one, calibrated
//! against PIT channel 2 (the speaker gate, so no interrupts are needed); on a CPU without a
//! TSC (some Pentium-class clones) PIT channel 2 itself, left counting down at 1.193182 MHz.
//!
//! The PIT counter wraps every 55 ms; every reading adds what passed since the last one, so a
//! stretch longer than that without a reading loses whole wraps and the clock runs slow there
//! (a timeout then lasts longer, never shorter). The runtime reads the clock in every wait.

use super::port::Port;

const PIT_HZ: u64 = 1_193_182;
const CALIBRATION_MS: u64 = 10;

/// What the clock counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The time stamp counter, at this many kHz.
    Tsc { khz: u64 },
    /// PIT channel 2, free-running (no TSC on this CPU).
    Pit,
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
        Source::Tsc {
            khz: calibrate_tsc(),
        }
    } else {
        start_pit();
        Source::Pit
    };
    let per_ms = match source {
        Source::Tsc { khz } => khz,
        Source::Pit => PIT_HZ / 1000,
    };
    clock().source = source;
    clock().us_per_tick_fp32 = (1000u64 << 32) / per_ms;
    let start = ticks();
    clock().start = start;
    source
}

/// Measure the TSC against 10 ms of PIT channel 2 (mode 0, one shot). Returns kHz.
fn calibrate_tsc() -> u64 {
    let ticks = PIT_HZ * CALIBRATION_MS / 1000;
    // SAFETY: the PIT and port 0x61 are standard PC hardware; channel 2 only drives the
    // speaker, which stays off (bit 1 clear).
    let per_ms = unsafe {
        let g = gate().read();
        gate().write((g & !0x02) | 0x01); // gate on, speaker off
        pit_mode().write(0b1011_0000); // channel 2, low then high byte, mode 0, binary
        pit_channel2().write((ticks & 0xff) as u8);
        pit_channel2().write((ticks >> 8) as u8);
        let start = super::rdtsc();
        let mut spins = 0u32;
        // Channel 2's output goes high when the count runs out.
        while gate().read() & 0x20 == 0 && spins < 100_000_000 {
            spins += 1;
        }
        let elapsed = super::rdtsc() - start;
        gate().write(g);
        elapsed / CALIBRATION_MS
    };
    if per_ms < 1000 { 1_000_000 } else { per_ms } // no PIT: assume 1 GHz
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
