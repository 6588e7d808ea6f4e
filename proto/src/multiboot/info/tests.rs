use std::vec;
use std::vec::Vec;

use super::*;
use crate::kernel::test_images::{Rng, get32};
use crate::memmap::{E820_ACPI_NVS, E820_RAM, E820_RESERVED};

fn e820(base: u64, length: u64, kind: u32, attributes: u32) -> E820Entry {
    E820Entry {
        base,
        length,
        kind,
        acpi_attributes: attributes,
    }
}

fn map() -> [E820Entry; 3] {
    [
        e820(0, 0x9fc00, E820_RAM, 1),
        e820(0xf0000, 0x10000, E820_RESERVED, 0), // "ignore this entry"
        e820(0x100000, 0x1_0000_0000, E820_ACPI_NVS, 1),
    ]
}

fn put(v: &mut [u8], at: usize, x: u32) {
    v[at..at + 4].copy_from_slice(&x.to_le_bytes());
}

fn put_str(v: &mut [u8], at: usize, s: &[u8]) {
    v[at..at + s.len()].copy_from_slice(s);
    v[at + s.len()] = 0;
}

#[test]
fn layout_byte_for_byte() {
    let base = 0x9000u32;
    let mut buf = [0xAAu8; 512];
    let mut b = MbiBuilder::new(&mut buf, base);
    b.memory(639, 0x1ff00)
        .cmdline(b"/kernel a")
        .module(0x200000, 0x201000, b"/m1 x")
        .memory_map(&map())
        .module(0x202000, 0x203000, b"/m2")
        .boot_loader_name(b"netloader");
    assert_eq!(b.finish(), Ok(base));
    assert_eq!(b.finish(), Ok(base), "finish is idempotent");
    let used = b.used_len();
    assert_eq!(used, 232);

    // Info structure at 0 (116 bytes + 4 padding), the module array at 120, then the
    // strings and map, moved down by a multiple of 8 (they were built from the end).
    let mut want = vec![0u8; 512];
    put(&mut want, 0, 0x24d); // bits 0, 2, 3, 6, 9
    put(&mut want, 4, 639);
    put(&mut want, 8, 0x1ff00);
    put(&mut want, 16, base + 222);
    put(&mut want, 20, 2);
    put(&mut want, 24, base + 120);
    put(&mut want, 44, 48);
    put(&mut want, 48, base + 168);
    put(&mut want, 64, base + 154);
    for (i, (start, end, string)) in [(0x200000, 0x201000, 216), (0x202000, 0x203000, 164)]
        .into_iter()
        .enumerate()
    {
        let at = 120 + 16 * i;
        put(&mut want, at, start);
        put(&mut want, at + 4, end);
        put(&mut want, at + 8, base + string);
    }
    put_str(&mut want, 154, b"netloader");
    put_str(&mut want, 164, b"/m2");
    for (i, e) in [map()[0], map()[2]].iter().enumerate() {
        let at = 168 + 24 * i;
        put(&mut want, at, 20);
        want[at + 4..at + 12].copy_from_slice(&e.base.to_le_bytes());
        want[at + 12..at + 20].copy_from_slice(&e.length.to_le_bytes());
        put(&mut want, at + 20, e.kind);
    }
    put_str(&mut want, 216, b"/m1 x");
    put_str(&mut want, 222, b"/kernel a");
    assert_eq!(&buf[..], &want[..]);
}

#[test]
fn empty_structure_sets_no_flags() {
    let mut buf = [0xffu8; 128];
    let mut b = MbiBuilder::new(&mut buf, 0x10000);
    b.memory_map(&[e820(0, 0x1000, E820_RAM, 0)]); // ignored entry only: no map
    assert_eq!(b.finish(), Ok(0x10000));
    assert_eq!(b.used_len(), 120);
    assert!(buf.iter().all(|&x| x == 0));
}

#[test]
fn unaligned_base_aligns_structure_and_map() {
    let base = 0x9004;
    let mut buf = [0u8; 400];
    let mut b = MbiBuilder::new(&mut buf, base);
    b.cmdline(b"abc")
        .memory_map(&map()[..1])
        .boot_loader_name(b"nl");
    let addr = b.finish().unwrap();
    assert_eq!(addr, 0x9008);
    let info = (addr - base) as usize;
    let mmap = get32(&buf, info + 48);
    assert_eq!(mmap % 8, 0);
    assert_eq!(get32(&buf, info + 44), 24);
    let decoded = decode(&buf, base, addr);
    assert_eq!(decoded.cmdline.as_deref(), Some(&b"abc"[..]));
    assert_eq!(decoded.name.as_deref(), Some(&b"nl"[..]));
    assert_eq!(decoded.mmap, vec![(0, 0x9fc00, 1)]);
}

#[test]
fn buffer_too_small() {
    let mut tiny = [0u8; 100];
    let mut b = MbiBuilder::new(&mut tiny, 0x9000);
    b.memory(1, 2);
    assert_eq!(b.finish(), Err(MbiError::BufferTooSmall { capacity: 100 }));

    // Room for the structure and one module, not for a second module's string.
    let mut buf = [0u8; 120 + 16 + 4 + 3];
    let mut b = MbiBuilder::new(&mut buf, 0x9000);
    b.module(1, 2, b"/m1");
    assert_eq!(b.finish(), Ok(0x9000));
    let mut b = MbiBuilder::new(&mut buf, 0x9000);
    b.module(1, 2, b"/m1").module(3, 4, b"");
    assert_eq!(b.finish(), Err(MbiError::BufferTooSmall { capacity: 143 }));
}

#[test]
fn address_overflow() {
    let mut buf = [0u8; 512];
    let mut b = MbiBuilder::new(&mut buf, 0xffff_ff00);
    b.cmdline(b"x");
    assert_eq!(
        b.finish(),
        Err(MbiError::AddressOverflow {
            base: 0xffff_ff00,
            len: 512
        })
    );
}

#[test]
fn many_modules_in_order() {
    let mut buf = [0u8; 4096];
    let mut b = MbiBuilder::new(&mut buf, 0x20000);
    for i in 0..50u32 {
        b.module(
            0x400000 + i * 0x1000,
            0x400800 + i * 0x1000,
            format_name(i).as_bytes(),
        );
    }
    let addr = b.finish().unwrap();
    let d = decode(&buf, 0x20000, addr);
    assert_eq!(d.modules.len(), 50);
    for (i, m) in d.modules.iter().enumerate() {
        let i = i as u32;
        assert_eq!((m.0, m.1), (0x400000 + i * 0x1000, 0x400800 + i * 0x1000));
        assert_eq!(m.2, format_name(i).as_bytes());
    }
}

fn format_name(i: u32) -> std::string::String {
    std::format!("/mod{i} arg={i}")
}

/// Random contents and buffer sizes: never a panic; whatever succeeds decodes back to what
/// was given, entirely within `used_len`.
#[test]
fn random_builds_decode_back() {
    let mut rng = Rng::new(0x5eed);
    for _ in 0..2000 {
        let len = rng.below(700) as usize;
        let base = 0x1000 + rng.below(64) as u32;
        let mut buf = vec![0x5au8; len];
        let cmdline: Vec<u8> = (0..rng.below(40))
            .map(|_| b'a' + rng.below(26) as u8)
            .collect();
        let name: Vec<u8> = (0..rng.below(20))
            .map(|_| b'A' + rng.below(26) as u8)
            .collect();
        let mods: Vec<(u32, u32, Vec<u8>)> = (0..rng.below(6))
            .map(|i| {
                (
                    i as u32 * 0x1000,
                    i as u32 * 0x1000 + 5,
                    vec![b'm'; rng.below(9) as usize],
                )
            })
            .collect();
        let entries: Vec<E820Entry> = (0..rng.below(5))
            .map(|i| e820(i << 20, rng.next_u64(), rng.below(6) as u32, 1))
            .collect();
        let mut b = MbiBuilder::new(&mut buf, base);
        // Every call once, the three single ones at random places among the modules.
        let mut actions: Vec<usize> = (0..mods.len()).map(|i| 3 + i).collect();
        for single in 0..3 {
            let at = rng.below(actions.len() as u64 + 1) as usize;
            actions.insert(at, single);
        }
        for action in actions {
            match action {
                0 => b.cmdline(&cmdline),
                1 => b.boot_loader_name(&name),
                2 => b.memory_map(&entries),
                m => {
                    let (s, e, c) = &mods[m - 3];
                    b.module(*s, *e, c)
                }
            };
        }
        b.memory(640, 1024);
        let Ok(addr) = b.finish() else { continue };
        let used = b.used_len();
        assert!(used <= len);
        assert!(buf[used..].iter().all(|&x| x == 0));
        let d = decode(&buf[..used], base, addr);
        assert_eq!(addr % 8, 0);
        assert_eq!(d.cmdline.as_deref(), Some(&cmdline[..]));
        assert_eq!(d.name.as_deref(), Some(&name[..]));
        let want: Vec<_> = mods.iter().map(|(s, e, c)| (*s, *e, c.clone())).collect();
        assert_eq!(d.modules, want);
        let want: Vec<_> = entries.iter().map(|e| (e.base, e.length, e.kind)).collect();
        assert_eq!(d.mmap, want);
    }
}

#[derive(Debug, Default)]
struct Decoded {
    cmdline: Option<Vec<u8>>,
    name: Option<Vec<u8>>,
    modules: Vec<(u32, u32, Vec<u8>)>,
    mmap: Vec<(u64, u64, u32)>,
}

/// Reads an MBI the way a kernel would, from `buf` copied at `base`.
fn decode(buf: &[u8], base: u32, addr: u32) -> Decoded {
    let off = |a: u32| (a - base) as usize;
    let info = off(addr);
    let flags = get32(buf, info);
    let string = |a: u32| {
        let s = &buf[off(a)..];
        s[..s.iter().position(|&c| c == 0).unwrap()].to_vec()
    };
    let mut d = Decoded::default();
    if flags & info_flags::CMDLINE != 0 {
        d.cmdline = Some(string(get32(buf, info + 16)));
    }
    if flags & info_flags::BOOT_LOADER_NAME != 0 {
        d.name = Some(string(get32(buf, info + 64)));
    }
    if flags & info_flags::MODULES != 0 {
        assert_eq!(get32(buf, info + 24) % 8, 0);
        let mods = off(get32(buf, info + 24));
        for i in 0..get32(buf, info + 20) as usize {
            let m = mods + 16 * i;
            assert_eq!(get32(buf, m + 12), 0);
            d.modules
                .push((get32(buf, m), get32(buf, m + 4), string(get32(buf, m + 8))));
        }
    }
    if flags & info_flags::MEMORY_MAP != 0 {
        assert_eq!(get32(buf, info + 48) % 8, 0);
        let (mut at, end) = (
            off(get32(buf, info + 48)),
            off(get32(buf, info + 48)) + get32(buf, info + 44) as usize,
        );
        while at < end {
            let size = get32(buf, at);
            let base = u64::from_le_bytes(buf[at + 4..at + 12].try_into().unwrap());
            let len = u64::from_le_bytes(buf[at + 12..at + 20].try_into().unwrap());
            d.mmap.push((base, len, get32(buf, at + 20)));
            at += size as usize + 4;
        }
    }
    d
}

#[test]
fn vbe_and_framebuffer_fields() {
    use crate::vbe::Vbe;
    use crate::video::{ColorModel, EGA_TEXT, Framebuffer};
    let base = 0x9000u32;
    let mut buf = [0u8; 2048];
    let control = [0x11u8; 512];
    let mode = [0x22u8; 256];
    let fb = Framebuffer {
        address: 0xfd00_0000,
        pitch: 4096,
        width: 1024,
        height: 768,
        bpp: 32,
        model: ColorModel::Rgb {
            red: (16, 8),
            green: (8, 8),
            blue: (0, 8),
        },
    };
    let mut b = MbiBuilder::new(&mut buf, base);
    b.cmdline(b"/k")
        .vbe(&Vbe {
            mode: 0x144,
            interface_seg: 0xc000,
            interface_off: 0x10,
            interface_len: 0x20,
            control_info: &control,
            mode_info: &mode,
        })
        .framebuffer(&fb);
    assert_eq!(b.finish(), Ok(base));
    let used = b.used_len();
    assert_eq!(
        get32(&buf, 0),
        info_flags::CMDLINE | info_flags::VBE | info_flags::FRAMEBUFFER
    );
    let control_at = (get32(&buf, 72) - base) as usize;
    let mode_at = (get32(&buf, 76) - base) as usize;
    assert_eq!(control_at % 8, 0);
    assert_eq!(&buf[control_at..control_at + 512], &control[..]);
    assert_eq!(&buf[mode_at..mode_at + 256], &mode[..]);
    assert!(
        control_at + 512 <= used && mode_at + 256 <= used,
        "inside what is copied"
    );
    assert_eq!(
        &buf[80..88],
        &[0x44, 0x01, 0x00, 0xc0, 0x10, 0x00, 0x20, 0x00]
    );
    assert_eq!(
        u64::from_le_bytes(buf[88..96].try_into().unwrap()),
        0xfd00_0000
    );
    assert_eq!(
        (get32(&buf, 96), get32(&buf, 100), get32(&buf, 104)),
        (4096, 1024, 768)
    );
    assert_eq!(&buf[108..116], &[32, 1, 16, 8, 8, 8, 0, 8]);
    // The command line moved with the copies and still reads back.
    let cmdline = (get32(&buf, 16) - base) as usize;
    assert_eq!(&buf[cmdline..cmdline + 3], b"/k\0");

    let mut buf = [0u8; 512];
    let mut b = MbiBuilder::new(&mut buf, base);
    b.framebuffer(&EGA_TEXT);
    b.finish().unwrap();
    assert_eq!(get32(&buf, 0), info_flags::FRAMEBUFFER);
    assert_eq!(&buf[108..110], &[16, 2], "EGA text: type 2");
    assert_eq!(get32(&buf, 100), 80);
}
