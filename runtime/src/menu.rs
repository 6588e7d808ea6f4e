//! The boot menu, shown when the config has several entries: on VGA and serial, chosen with
//! the arrow keys or a number (PS/2 keyboard or serial line), Enter to boot, the timeout
//! counting down to the default.

use crate::arch::keyboard::{self, Key};
use netloader_proto::config::{Config, Timeout};

use crate::{console, print, println, time};

/// The index of the entry to boot.
pub fn choose(config: &Config) -> usize {
    let count = config.entry_count();
    let default = config.default_entry().min(count.saturating_sub(1));
    if count <= 1 {
        return default;
    }
    println!("menu:");
    for entry in config.entries() {
        println!(
            "  {} {}{}",
            entry.index,
            entry.title,
            if entry.index == default {
                "  (default)"
            } else {
                ""
            }
        );
    }
    let timeout_ms = match config.timeout() {
        Some(Timeout::Seconds(s)) => Some(s as u64 * 1000),
        Some(Timeout::Forever) => None,
        None => Some(5_000),
    };
    let mut selected = default;
    let start = time::now_ms();
    let mut shown = u64::MAX;
    let mut counting = true;
    loop {
        let elapsed = time::now_ms() - start;
        if counting && let Some(limit) = timeout_ms {
            if elapsed >= limit {
                println!();
                return selected;
            }
            let left = (limit - elapsed).div_ceil(1000);
            if left != shown {
                shown = left;
                print!(
                    "\rmenu: booting entry {selected} in {left} s (number or arrows to choose, Enter to boot) "
                );
            }
        }
        match read_key() {
            Some(Key::Enter) => {
                println!();
                return selected;
            }
            Some(Key::Digit(d)) if (d as usize) < count => {
                println!("\nmenu: entry {d}");
                return d as usize;
            }
            Some(Key::Up) => selected = selected.saturating_sub(1),
            Some(Key::Down) => selected = (selected + 1).min(count - 1),
            _ => continue,
        }
        counting = false; // a key stops the countdown, as GRUB does
        print!("\rmenu: entry {selected} selected, Enter to boot                              ");
    }
}

/// Was any key pressed (the machine's keyboard or the serial line)? Consumes it. Key releases
/// count too: any activity means someone is there.
pub fn key_waiting() -> bool {
    keyboard::read().is_some() | console::serial_byte().is_some()
}

/// A key from the machine's keyboard (arch/keyboard.rs) or the serial line (digits, Enter, and
/// the last byte of the VT100 arrow sequences ESC [ A / ESC [ B, or vi's k / j).
fn read_key() -> Option<Key> {
    if let Some(key) = keyboard::read() {
        return match key {
            Key::Other => None,
            key => Some(key),
        };
    }
    match console::serial_byte()? {
        b'\r' | b'\n' => Some(Key::Enter),
        c @ b'0'..=b'9' => Some(Key::Digit(c - b'0')),
        b'k' | b'A' => Some(Key::Up),
        b'j' | b'B' => Some(Key::Down),
        _ => None,
    }
}
