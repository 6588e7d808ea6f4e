//! The VGA text screen at 0xB8000, 80x25, scrolling. Written directly: the BIOS is gone.

const COLUMNS: usize = 80;
const ROWS: usize = 25;
const ATTRIBUTE: u16 = 0x07 << 8; // light grey on black

pub struct VgaText {
    column: usize,
}

impl VgaText {
    pub const fn new() -> Self {
        VgaText { column: 0 }
    }

    fn buffer() -> *mut u16 {
        0xb8000 as *mut u16
    }

    fn put(row: usize, column: usize, cell: u16) {
        debug_assert!(row < ROWS && column < COLUMNS);
        // SAFETY: the VGA text buffer is identity-mapped device memory, 80x25 cells; the
        // callers keep row and column in range.
        unsafe {
            Self::buffer()
                .add(row * COLUMNS + column)
                .write_volatile(cell)
        };
    }

    fn get(row: usize, column: usize) -> u16 {
        // SAFETY: as in `put`.
        unsafe { Self::buffer().add(row * COLUMNS + column).read_volatile() }
    }

    /// The console starts: a clear screen.
    pub fn init(&mut self) {
        self.clear();
    }

    pub fn write_str(&mut self, s: &str) {
        for byte in s.bytes() {
            self.write_byte(byte);
        }
    }

    pub fn clear(&mut self) {
        for row in 0..ROWS {
            for column in 0..COLUMNS {
                Self::put(row, column, ATTRIBUTE | b' ' as u16);
            }
        }
        self.column = 0;
    }

    pub fn write_byte(&mut self, byte: u8) {
        match byte {
            b'\n' => self.new_line(),
            b'\r' => self.column = 0,
            _ => {
                if self.column == COLUMNS {
                    self.new_line();
                }
                let printable = if (0x20..0x7f).contains(&byte) {
                    byte
                } else {
                    b'?'
                };
                Self::put(ROWS - 1, self.column, ATTRIBUTE | printable as u16);
                self.column += 1;
            }
        }
    }

    /// Where the next character goes: (column, row). Text is always written on the last row.
    #[cfg_attr(not(feature = "linux"), allow(dead_code))]
    pub fn cursor(&self) -> (u8, u8) {
        (self.column.min(COLUMNS - 1) as u8, (ROWS - 1) as u8)
    }

    fn new_line(&mut self) {
        for row in 1..ROWS {
            for column in 0..COLUMNS {
                Self::put(row - 1, column, Self::get(row, column));
            }
        }
        for column in 0..COLUMNS {
            Self::put(ROWS - 1, column, ATTRIBUTE | b' ' as u16);
        }
        self.column = 0;
    }
}
