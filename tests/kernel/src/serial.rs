//! The report's output: COM1 at 115200 8N1 with the FIFO on, mirrored to port 0xE9 (Bochs'
//! and QEMU's debug console; a write there is ignored where nothing listens).

use core::arch::asm;
use core::fmt;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

const COM1: u16 = 0x3f8;
const DEBUGCON: u16 = 0xe9;

pub fn outb(port: u16, value: u8) {
    // SAFETY: port output to the UART, the debug console or isa-debug-exit only.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: reading the UART's line status register has no side effect.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Program the whole line: no interrupts, 115200 baud, 8N1, FIFO on and cleared, DTR and RTS.
pub fn init() {
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x80);
    outb(COM1, 0x01);
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);
    outb(COM1 + 2, 0xc7);
    outb(COM1 + 4, 0x03);
}

fn write_byte(byte: u8) {
    // Bounded: a missing UART must not hang the kernel (the verdict still reaches 0xE9).
    let mut spins = 100_000u32;
    while inb(COM1 + 5) & 0x20 == 0 && spins > 0 {
        spins -= 1;
    }
    outb(COM1, byte);
    outb(DEBUGCON, byte);
}

/// Writes go straight to the line.
pub struct Serial;

impl fmt::Write for Serial {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        text.bytes().for_each(write_byte);
        Ok(())
    }
}

static PREFIX: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static PREFIX_LEN: AtomicUsize = AtomicUsize::new(0);

/// What every `line!` starts with from now on (`MB`, `MB2`; none until set).
pub fn set_prefix(prefix: &'static str) {
    PREFIX.store(prefix.as_ptr().cast_mut(), Ordering::Relaxed);
    PREFIX_LEN.store(prefix.len(), Ordering::Relaxed);
}

/// The prefix `set_prefix` gave, or "".
pub fn prefix() -> &'static str {
    let (ptr, len) = (
        PREFIX.load(Ordering::Relaxed),
        PREFIX_LEN.load(Ordering::Relaxed),
    );
    if ptr.is_null() {
        return "";
    }
    // SAFETY: `ptr` and `len` come from one `&'static str` (set_prefix), never changed apart.
    unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(ptr, len)) }
}

/// One report line, after the prefix if one is set; `line!()` alone is an empty line.
macro_rules! line {
    () => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::serial::Serial);
    }};
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let prefix = $crate::serial::prefix();
        if !prefix.is_empty() {
            let _ = write!($crate::serial::Serial, "{prefix} ");
        }
        let _ = writeln!($crate::serial::Serial, $($arg)*);
    }};
}
pub(crate) use line;
