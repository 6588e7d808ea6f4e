//! VESA BIOS Extensions (VBE 2.0 and 3.0): the controller and mode information blocks as
//! typed views, and which mode a kernel gets.
//!
//! # Which mode
//!
//! A kernel that accepts graphics (Multiboot 1 header flag 2 with mode type 0, a Multiboot 2
//! framebuffer tag) gets, as in GRUB: the modes `set gfxpayload` lists, in order, then `auto`;
//! without `gfxpayload`, its own preference `WxHxD`, then `WxH` at any depth, then `auto`.
//! `gfxpayload=text` or `keep` (netloader runs in text mode, so there is nothing else to keep)
//! leaves it in text mode. `auto` is netloader's own choice: the largest mode within 1024x768,
//! the deepest colour first (GRUB asks the monitor; netloader does not read EDID).
//!
//! Only linear direct-colour modes are offered (15, 16, 24 or 32 bits per pixel, memory model
//! 6, a linear framebuffer): the Multiboot and Linux framebuffer descriptions of indexed modes
//! need a palette, which no kernel here asks for.

use crate::config::{Gfxpayload, ModeSpec};
use crate::video::{ColorModel, Framebuffer};

/// What VBE said about the mode set, as the Multiboot information copies it (Multiboot 1 flag
/// 11, Multiboot 2 tag 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vbe<'b> {
    pub mode: u16,
    /// The protected-mode interface (INT 10h 4F0Ah); zeros when the card has none.
    pub interface_seg: u16,
    pub interface_off: u16,
    pub interface_len: u16,
    pub control_info: &'b [u8; 512],
    pub mode_info: &'b [u8; 256],
}

/// A VBE mode number with this bit asks for the linear framebuffer (function 4F02h).
pub const LINEAR_FRAMEBUFFER: u16 = 0x4000;
/// The most modes read from a controller's list.
pub const MAX_MODES: usize = 128;

/// What 4F00h returns: the 512-byte controller information block.
#[derive(Clone, Copy, Debug)]
pub struct ControllerInfo<'a> {
    bytes: &'a [u8; 512],
}

impl<'a> ControllerInfo<'a> {
    /// `None` unless it starts with `VESA` and says VBE 2.0 or newer (linear framebuffers).
    pub fn new_checked(bytes: &'a [u8; 512]) -> Option<Self> {
        let info = ControllerInfo { bytes };
        (&bytes[..4] == b"VESA" && info.version() >= 0x200).then_some(info)
    }

    /// BCD: 0x0300 for VBE 3.0.
    pub fn version(&self) -> u16 {
        u16::from_le_bytes([self.bytes[4], self.bytes[5]])
    }

    /// The real-mode far pointer (segment:offset, offset low) to the mode list: u16 numbers
    /// ending with 0xFFFF.
    pub fn mode_list(&self) -> u32 {
        u32::from_le_bytes([
            self.bytes[14],
            self.bytes[15],
            self.bytes[16],
            self.bytes[17],
        ])
    }
}

/// The mode list's numbers from the bytes it points at, up to the 0xFFFF that ends it (at most
/// [`MAX_MODES`]).
pub fn mode_numbers(list: &[u8]) -> impl Iterator<Item = u16> + '_ {
    list.chunks_exact(2)
        .map(|w| u16::from_le_bytes([w[0], w[1]]))
        .take_while(|&mode| mode != 0xffff)
        .take(MAX_MODES)
}

/// What 4F01h says of one mode (the 256-byte mode information block, read once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModeInfo {
    pub attributes: u16,
    pub width: u16,
    pub height: u16,
    pub bpp: u8,
    pub memory_model: u8,
    pub phys_base: u32,
    /// Bytes per line in the linear framebuffer.
    pub pitch: u16,
    /// (position, size) of red, green and blue in a pixel, for the linear framebuffer.
    pub red: (u8, u8),
    pub green: (u8, u8),
    pub blue: (u8, u8),
}

impl ModeInfo {
    /// Reads a mode information block; `vbe_version` decides where the linear framebuffer's
    /// pitch and colour fields are (VBE 3.0 gives them apart from the banked ones; a BIOS that
    /// leaves them zero gets its banked ones read).
    pub fn parse(bytes: &[u8; 256], vbe_version: u16) -> ModeInfo {
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let linear = vbe_version >= 0x300 && u16_at(0x32) != 0 && bytes[0x36] != 0;
        let (pitch, colours) = if linear {
            (u16_at(0x32), 0x36)
        } else {
            (u16_at(0x10), 0x1f)
        };
        let channel = |i: usize| (bytes[colours + 2 * i + 1], bytes[colours + 2 * i]);
        ModeInfo {
            attributes: u16_at(0x00),
            width: u16_at(0x12),
            height: u16_at(0x14),
            bpp: bytes[0x19],
            memory_model: bytes[0x1b],
            phys_base: u32::from_le_bytes([bytes[0x28], bytes[0x29], bytes[0x2a], bytes[0x2b]]),
            pitch,
            red: channel(0),
            green: channel(1),
            blue: channel(2),
        }
    }

    /// A mode netloader may set: supported by the hardware, graphics, linear framebuffer,
    /// direct colour at 15-32 bits per pixel, fields that fit in a pixel.
    pub fn usable(&self) -> bool {
        const SUPPORTED: u16 = 1 << 0;
        const GRAPHICS: u16 = 1 << 4;
        const LINEAR: u16 = 1 << 7;
        let fits = |(position, size): (u8, u8)| {
            size > 0 && position as u32 + size as u32 <= self.bpp as u32
        };
        self.attributes & (SUPPORTED | GRAPHICS | LINEAR) == SUPPORTED | GRAPHICS | LINEAR
            && self.memory_model == 6
            && matches!(self.bpp, 15 | 16 | 24 | 32)
            && self.phys_base != 0
            && self.width > 0
            && self.height > 0
            && u32::from(self.pitch) >= u32::from(self.width) * u32::from(self.bpp).div_ceil(8)
            && fits(self.red)
            && fits(self.green)
            && fits(self.blue)
    }

    /// The framebuffer this mode gives.
    pub fn framebuffer(&self) -> Framebuffer {
        Framebuffer {
            address: u64::from(self.phys_base),
            pitch: u32::from(self.pitch),
            width: u32::from(self.width),
            height: u32::from(self.height),
            bpp: self.bpp,
            model: ColorModel::Rgb {
                red: self.red,
                green: self.green,
                blue: self.blue,
            },
        }
    }
}

/// The modes to try, in order (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    specs: [ModeSpec; 6],
    len: usize,
}

impl Wanted {
    /// `None` for text mode. `kernel` is what the kernel's header prefers, `None` when it does
    /// not accept graphics at all; 0 in a field means no preference.
    pub fn new(kernel: Option<(u32, u32, u32)>, gfxpayload: Option<Gfxpayload>) -> Option<Wanted> {
        let (width, height, depth) = kernel?;
        let mut wanted = Wanted {
            specs: [ModeSpec::Auto; 6],
            len: 0,
        };
        match gfxpayload {
            Some(Gfxpayload::Text | Gfxpayload::Keep) => return None,
            Some(Gfxpayload::Modes(list)) => list.iter().for_each(|spec| wanted.push(spec)),
            None if width > 0 && height > 0 => {
                if depth > 0 {
                    wanted.push(ModeSpec::Size {
                        width,
                        height,
                        depth,
                    });
                }
                wanted.push(ModeSpec::Size {
                    width,
                    height,
                    depth: 0,
                });
            }
            None => {}
        }
        wanted.push(ModeSpec::Auto);
        Some(wanted)
    }

    fn push(&mut self, spec: ModeSpec) {
        if let Some(slot) = self.specs.get_mut(self.len) {
            *slot = spec;
            self.len += 1;
        }
    }

    pub fn specs(&self) -> impl Iterator<Item = ModeSpec> + '_ {
        self.specs.iter().copied().take(self.len)
    }

    /// The first of `modes` (number, information) that the first spec that any usable mode
    /// meets picks: for a size, that size at the given depth or, for depth 0, the deepest;
    /// for `auto`, the largest within 1024x768, then the deepest.
    pub fn choose(&self, modes: &[(u16, ModeInfo)]) -> Option<(u16, ModeInfo)> {
        let usable = || modes.iter().copied().filter(|(_, m)| m.usable());
        self.specs().find_map(|spec| match spec {
            ModeSpec::Size {
                width,
                height,
                depth,
            } => usable()
                .filter(|(_, m)| {
                    u32::from(m.width) == width
                        && u32::from(m.height) == height
                        && (depth == 0 || u32::from(m.bpp) == depth)
                })
                .max_by_key(|(_, m)| m.bpp),
            ModeSpec::Auto => usable()
                .filter(|(_, m)| m.width <= 1024 && m.height <= 768)
                .max_by_key(|(_, m)| (u32::from(m.width) * u32::from(m.height), m.bpp)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Text;
    use crate::test_rng::Rng;

    /// A mode information block as the Bochs/QEMU VGA BIOS gives (VBE 3.0 fields too).
    fn mode_block(width: u16, height: u16, bpp: u8) -> [u8; 256] {
        let mut b = [0u8; 256];
        b[0..2].copy_from_slice(&0x9bu16.to_le_bytes()); // supported, colour, graphics, LFB
        let pitch = width * u16::from(bpp.div_ceil(8));
        b[0x10..0x12].copy_from_slice(&pitch.to_le_bytes());
        b[0x12..0x14].copy_from_slice(&width.to_le_bytes());
        b[0x14..0x16].copy_from_slice(&height.to_le_bytes());
        b[0x19] = bpp;
        b[0x1b] = 6;
        let (r, g, bl) = match bpp {
            16 => ((5, 11), (6, 5), (5, 0)),
            15 => ((5, 10), (5, 5), (5, 0)),
            _ => ((8, 16), (8, 8), (8, 0)),
        };
        for (at, (size, pos)) in [(0x1f, r), (0x21, g), (0x23, bl)] {
            b[at] = size;
            b[at + 1] = pos;
            b[at + 0x17] = size; // the linear copies at 0x36..
            b[at + 0x18] = pos;
        }
        b[0x28..0x2c].copy_from_slice(&0xfd00_0000u32.to_le_bytes());
        b[0x32..0x34].copy_from_slice(&pitch.to_le_bytes());
        b
    }

    fn modes() -> std::vec::Vec<(u16, ModeInfo)> {
        [
            (0x111, 640, 480, 16),
            (0x112, 640, 480, 24),
            (0x115, 800, 600, 24),
            (0x117, 1024, 768, 16),
            (0x118, 1024, 768, 24),
            (0x144, 1024, 768, 32),
            (0x11b, 1280, 1024, 24),
        ]
        .iter()
        .map(|&(n, w, h, d)| (n, ModeInfo::parse(&mode_block(w, h, d), 0x300)))
        .collect()
    }

    fn gfx(text: &str) -> Option<Gfxpayload> {
        Gfxpayload::parse(Text::new(text).unquoted())
    }

    #[test]
    fn mode_information_fields() {
        let m = ModeInfo::parse(&mode_block(1024, 768, 32), 0x300);
        assert!(m.usable());
        let fb = m.framebuffer();
        assert_eq!(
            (fb.address, fb.pitch, fb.width, fb.height, fb.bpp),
            (0xfd00_0000, 4096, 1024, 768, 32)
        );
        assert_eq!(
            fb.model,
            ColorModel::Rgb {
                red: (16, 8),
                green: (8, 8),
                blue: (0, 8)
            }
        );
        let mut banked_only = mode_block(640, 480, 16);
        banked_only[0] &= !0x80;
        assert!(!ModeInfo::parse(&banked_only, 0x300).usable(), "no LFB");
        let mut indexed = mode_block(640, 480, 8);
        indexed[0x1b] = 4;
        assert!(!ModeInfo::parse(&indexed, 0x300).usable(), "packed pixel");
    }

    #[test]
    fn what_the_kernel_gets() {
        let modes = modes();
        let pick = |kernel, gfxpayload: Option<Gfxpayload>| {
            Wanted::new(kernel, gfxpayload).and_then(|w| w.choose(&modes).map(|(n, _)| n))
        };
        assert_eq!(
            pick(None, gfx("1024x768x32")),
            None,
            "the kernel takes no graphics"
        );
        assert_eq!(pick(Some((1024, 768, 32)), None), Some(0x144));
        assert_eq!(
            pick(Some((1024, 768, 8)), None),
            Some(0x144),
            "WxH at any depth next"
        );
        assert_eq!(pick(Some((800, 600, 0)), None), Some(0x115));
        assert_eq!(
            pick(Some((0, 0, 0)), None),
            Some(0x144),
            "auto: within 1024x768, deepest"
        );
        assert_eq!(pick(Some((1600, 1200, 32)), None), Some(0x144), "then auto");
        assert_eq!(pick(Some((1024, 768, 32)), gfx("text")), None);
        assert_eq!(pick(Some((1024, 768, 32)), gfx("keep")), None);
        assert_eq!(
            pick(Some((1024, 768, 32)), gfx("640x480")),
            Some(0x112),
            "gfxpayload wins"
        );
        assert_eq!(pick(Some((0, 0, 0)), gfx("1280x1024x24")), Some(0x11b));
        assert_eq!(
            pick(Some((0, 0, 0)), gfx("999x999,640x480x16")),
            Some(0x111)
        );
        assert_eq!(
            pick(Some((0, 0, 0)), gfx("999x999")),
            Some(0x144),
            "auto after the list"
        );
        assert_eq!(
            Wanted::new(Some((1, 1, 1)), None).unwrap().choose(&[]),
            None
        );
    }

    #[test]
    fn controller_information_and_the_mode_list() {
        let mut block = [0u8; 512];
        assert!(ControllerInfo::new_checked(&block).is_none());
        block[..4].copy_from_slice(b"VESA");
        block[4..6].copy_from_slice(&0x0102u16.to_le_bytes());
        assert!(
            ControllerInfo::new_checked(&block).is_none(),
            "VBE 1.2: no LFB"
        );
        block[4..6].copy_from_slice(&0x0300u16.to_le_bytes());
        block[14..18].copy_from_slice(&0xc000_1234u32.to_le_bytes());
        let info = ControllerInfo::new_checked(&block).unwrap();
        assert_eq!((info.version(), info.mode_list()), (0x300, 0xc000_1234));
        let list = [0x11, 0x01, 0x44, 0x01, 0xff, 0xff, 0x18, 0x01];
        assert_eq!(
            mode_numbers(&list).collect::<std::vec::Vec<_>>(),
            [0x111, 0x144]
        );
        assert_eq!(mode_numbers(&[0x11]).count(), 0, "an odd byte is no entry");
    }

    #[test]
    fn random_blocks_never_panic_and_choices_are_usable() {
        let mut rng = Rng::new(0x7be);
        for _ in 0..2000 {
            let mut modes = std::vec::Vec::new();
            for n in 0..rng.below(8) {
                let mut block = [0u8; 256];
                block.iter_mut().for_each(|b| *b = rng.next_u64() as u8);
                modes.push((n as u16, ModeInfo::parse(&block, rng.below(0x400) as u16)));
            }
            let kernel = Some((
                rng.below(2000) as u32,
                rng.below(2000) as u32,
                rng.below(40) as u32,
            ));
            if let Some((_, m)) = Wanted::new(kernel, None).and_then(|w| w.choose(&modes)) {
                assert!(m.usable());
            }
        }
    }
}
