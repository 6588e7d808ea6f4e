//! A 16550 UART, polled. Initialised fully (115200 8N1, FIFO on): Bochs shows garbage on a line
//! that was never set.

use crate::arch::port::Port;

pub struct Serial {
    base: u16,
}

impl Serial {
    pub const COM1: Serial = Serial { base: 0x3f8 };

    pub fn init(&mut self) {
        let settings: [(u16, u8); 7] = [
            (1, 0x00), // interrupts off
            (3, 0x80), // DLAB on
            (0, 0x01), // divisor 1: 115200 baud
            (1, 0x00),
            (3, 0x03), // 8 data bits, no parity, 1 stop bit; DLAB off
            (2, 0xc7), // FIFO on and cleared
            (4, 0x03), // DTR, RTS
        ];
        for (offset, value) in settings {
            // SAFETY: COM1's registers; nothing else in the runtime drives this UART.
            unsafe { Port::new(self.base + offset).write(value) };
        }
    }

    pub fn write_byte(&mut self, byte: u8) {
        // Bounded wait: a machine without a UART reads 0xFF and must not hang us.
        for _ in 0..100_000 {
            if self.line_status() & 0x20 != 0 {
                break;
            }
        }
        // SAFETY: COM1's transmit register.
        unsafe { Port::new(self.base).write(byte) };
    }

    /// A byte from the line, if one is waiting.
    pub fn read_byte(&mut self) -> Option<u8> {
        if self.line_status() & 0x01 != 0 {
            // SAFETY: COM1's receive register.
            Some(unsafe { Port::<u8>::new(self.base).read() })
        } else {
            None
        }
    }

    fn line_status(&mut self) -> u8 {
        // SAFETY: COM1's line status register; reading it has no side effect we rely on.
        unsafe { Port::<u8>::new(self.base + 5).read() }
    }
}
