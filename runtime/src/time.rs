//! Time for the rest of the runtime, from the platform's clock (arch/timer.rs: the TSC, or the
//! PIT on a CPU without one).

pub use crate::arch::timer::{Source, init, now_us};

/// Milliseconds since `init`.
pub fn now_ms() -> u64 {
    now_us() / 1000
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
