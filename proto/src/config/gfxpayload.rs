//! `set gfxpayload=...`: the video mode a kernel that accepts graphics is started in, as GRUB
//! has it: `text` (stay in text mode), `keep` (the mode the loader is in: text, since
//! netloader never leaves it), or a list of modes tried in order, separated by `,` or `;`, each
//! `WIDTHxHEIGHT` or `WIDTHxHEIGHTxDEPTH`, or `auto` (the loader picks).
//!
//! A kernel that does not ask for graphics (Multiboot 1 header flag 2 clear, no Multiboot 2
//! framebuffer tag) always starts in text mode, as in GRUB.

use super::text::Unquoted;

/// Modes a list may hold.
pub const MAX_MODES: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gfxpayload {
    Text,
    Keep,
    Modes(ModeList),
}

/// One mode of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeSpec {
    /// Width and height in pixels; depth in bits per pixel, 0 for any.
    Size { width: u32, height: u32, depth: u32 },
    /// Whatever the loader finds best.
    Auto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModeList {
    modes: [ModeSpec; MAX_MODES],
    len: usize,
}

impl ModeList {
    pub fn iter(&self) -> impl Iterator<Item = ModeSpec> + '_ {
        self.modes.iter().copied().take(self.len)
    }
}

impl Gfxpayload {
    /// `None` for anything that is not one of the forms in the module docs.
    pub fn parse(value: Unquoted<'_>) -> Option<Gfxpayload> {
        let mut buf = [0u8; 96];
        let mut len = 0;
        for c in value {
            *buf.get_mut(len)? = u8::try_from(c).ok().filter(u8::is_ascii)?;
            len += 1;
        }
        let text = core::str::from_utf8(buf.get(..len)?).ok()?;
        match text {
            "text" => return Some(Gfxpayload::Text),
            "keep" => return Some(Gfxpayload::Keep),
            _ => {}
        }
        let mut list = ModeList {
            modes: [ModeSpec::Auto; MAX_MODES],
            len: 0,
        };
        for item in text.split([',', ';']) {
            let mode = if item == "auto" {
                ModeSpec::Auto
            } else {
                let mut numbers = item.split('x');
                let width = number(numbers.next()?)?;
                let height = number(numbers.next()?)?;
                let depth = match numbers.next() {
                    Some(depth) => number(depth).filter(|&d| d > 0)?,
                    None => 0,
                };
                if numbers.next().is_some() || width == 0 || height == 0 {
                    return None;
                }
                ModeSpec::Size {
                    width,
                    height,
                    depth,
                }
            };
            *list.modes.get_mut(list.len)? = mode;
            list.len += 1;
        }
        Some(Gfxpayload::Modes(list))
    }
}

/// A decimal number of at most 5 digits (no mode is wider than that).
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::text::Text;

    fn parse(text: &str) -> Option<Gfxpayload> {
        Gfxpayload::parse(Text::new(text).unquoted())
    }

    fn modes(text: &str) -> std::vec::Vec<ModeSpec> {
        match parse(text) {
            Some(Gfxpayload::Modes(list)) => list.iter().collect(),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn grub_forms() {
        assert_eq!(parse("text"), Some(Gfxpayload::Text));
        assert_eq!(parse("'keep'"), Some(Gfxpayload::Keep));
        assert_eq!(
            modes("1024x768x32"),
            [ModeSpec::Size {
                width: 1024,
                height: 768,
                depth: 32
            }]
        );
        assert_eq!(
            modes("800x600;640x480x8,auto"),
            [
                ModeSpec::Size {
                    width: 800,
                    height: 600,
                    depth: 0
                },
                ModeSpec::Size {
                    width: 640,
                    height: 480,
                    depth: 8
                },
                ModeSpec::Auto
            ]
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "vga",
            "1024",
            "1024x",
            "x768",
            "1024x768x",
            "1024x768x32x1",
            "0x768",
            "1024x768x0",
            "123456x1",
            "a,b",
            "800x600,",
            "1x1,1x1,1x1,1x1,1x1",
            "ünïcode",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
