//! A video mode as a kernel is told about it (Multiboot 1's framebuffer fields, Multiboot 2's
//! framebuffer tag, Linux's screen_info): where the pixels are and how they are laid out.

/// EGA text mode 3 as every BIOS leaves it: 80x25 characters of 2 bytes at 0xB8000.
pub const EGA_TEXT: Framebuffer = Framebuffer {
    address: 0xB8000,
    pitch: 160,
    width: 80,
    height: 25,
    bpp: 16,
    model: ColorModel::EgaText,
};

/// How pixels are coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorModel {
    /// Direct colour: each channel's lowest bit (position) and width in bits.
    Rgb {
        red: (u8, u8),
        green: (u8, u8),
        blue: (u8, u8),
    },
    /// Text mode: `width` x `height` characters, each a byte and an attribute byte.
    EgaText,
}

impl ColorModel {
    /// The type code Multiboot 1 and 2 use (0 indexed, 1 RGB, 2 EGA text).
    pub fn multiboot_type(&self) -> u8 {
        match self {
            ColorModel::Rgb { .. } => 1,
            ColorModel::EgaText => 2,
        }
    }

    /// The 6 colour-info bytes Multiboot 1 and 2 use for RGB (red position, red size, green
    /// position, green size, blue position, blue size); none for text.
    pub fn multiboot_color_info(&self) -> Option<[u8; 6]> {
        match *self {
            ColorModel::Rgb { red, green, blue } => {
                Some([red.0, red.1, green.0, green.1, blue.0, blue.1])
            }
            ColorModel::EgaText => None,
        }
    }
}

/// A framebuffer: `height` lines of `pitch` bytes at `address`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framebuffer {
    pub address: u64,
    pub pitch: u32,
    /// Pixels (or characters in text mode).
    pub width: u32,
    pub height: u32,
    /// Bits per pixel (16 in text mode: a character and its attribute).
    pub bpp: u8,
    pub model: ColorModel,
}
