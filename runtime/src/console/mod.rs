//! The console: every line goes to COM1 and to the platform's screen (`arch::Screen`): the VGA
//! text screen on a BIOS PC, the firmware's text output in netloader.efi while boot services
//! run (src/efi/screen.rs).

mod serial;
mod vga;

use core::fmt::{self, Write};
use spin::Mutex;

use crate::arch::Screen;

pub use serial::Serial;
pub use vga::VgaText;

pub struct Console {
    serial: Serial,
    screen: Screen,
    /// False once the screen left text mode (a kernel's graphics mode): then serial only.
    screen_on: bool,
}

static CONSOLE: Mutex<Console> = Mutex::new(Console {
    serial: Serial::COM1,
    screen: Screen::new(),
    screen_on: true,
});

/// The screen is no longer in text mode (netloader set a kernel's graphics mode): from now on
/// print on serial only, so as not to draw into the framebuffer.
pub fn serial_only() {
    CONSOLE.lock().screen_on = false;
}

/// Bring up both outputs. Serial first: it is what tests and headless machines read.
pub fn init() {
    let mut console = CONSOLE.lock();
    console.serial.init();
    console.screen.init();
}

/// An optional value for the console: the value, or "none". (Display only: Debug formatting
/// pulls the string-escaping machinery into the image, which the option ROM pays for.)
pub struct OrNone<T>(pub Option<T>);

impl<T: core::fmt::Display> core::fmt::Display for OrNone<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("none"),
        }
    }
}

/// Where the next character goes on the VGA text screen (column, row): a kernel that keeps
/// the text screen (Linux's screen_info) writes on from there.
#[cfg_attr(not(feature = "linux"), allow(dead_code))]
pub fn vga_cursor() -> (u8, u8) {
    CONSOLE.lock().screen.cursor()
}

/// A byte typed on the serial line, if one is waiting.
pub fn serial_byte() -> Option<u8> {
    CONSOLE.try_lock()?.serial.read_byte()
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.serial.write_byte(b'\r');
            }
            self.serial.write_byte(byte);
        }
        if self.screen_on {
            self.screen.write_str(s);
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn print_fmt(args: fmt::Arguments) {
    // A panic while printing must still reach the screen: never wait on our own lock.
    if let Some(mut console) = CONSOLE.try_lock() {
        let _ = console.write_fmt(args);
    } else {
        // SAFETY: single CPU, interrupts off: the only other holder is the code we interrupted
        // (a panic inside print). Its half-written line is lost, the message is not.
        unsafe { CONSOLE.force_unlock() };
        let _ = CONSOLE.lock().write_fmt(args);
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::print_fmt(format_args!($($arg)*)));
}

#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::print_fmt(format_args!("{}\n", format_args!($($arg)*))));
}
