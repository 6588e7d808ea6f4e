use std::vec;
use std::vec::Vec;

use super::*;
use crate::memmap::{E820_RAM, E820_RESERVED};
use crate::test_rng::Rng;
use crate::video::EGA_TEXT;

fn e820(base: u64, length: u64, kind: u32, attributes: u32) -> E820Entry {
    E820Entry {
        base,
        length,
        kind,
        acpi_attributes: attributes,
    }
}

fn words(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn layout_byte_for_byte() {
    let mut buf = [0xaau8; 256];
    let mut info = InfoBuilder::new(&mut buf, 0x9000);
    info.cmdline(b"/k a")
        .module(0x200000, 0x201000, b"")
        .basic_meminfo(639, 0x1ff00)
        .memory_map(&[
            e820(0, 0x9fc00, E820_RAM, 1),
            e820(0xf0000, 0x10000, E820_RESERVED, 0),
        ])
        .load_base_addr(0x100000);
    let (address, len) = info.finish().unwrap();
    assert_eq!(info.finish(), Ok((address, len)), "finish is idempotent");
    assert_eq!(address, 0x9000);
    assert_eq!(len, 8 + 16 + 24 + 16 + 40 + 16 + 8);
    let w = words(&buf[..len]);
    assert_eq!(&w[..2], [len as u32, 0]);
    // cmdline: type 1, size 13, "/k a\0", padded with zeros.
    assert_eq!(&w[2..4], [1, 13]);
    assert_eq!(&buf[16..24], b"/k a\0\0\0\0");
    // module: start, end, "" (just the NUL).
    assert_eq!(&w[6..10], [3, 17, 0x200000, 0x201000]);
    assert_eq!(&buf[40..48], [0; 8]);
    assert_eq!(&w[12..16], [4, 16, 639, 0x1ff00]);
    // mmap: the ignored entry is left out.
    assert_eq!(&w[16..20], [6, 40, 24, 0]);
    assert_eq!(&w[20..26], [0, 0, 0x9fc00, 0, 1, 0]);
    assert_eq!(&w[26..29], [21, 12, 0x100000]);
    assert_eq!(w[29], 0, "padding");
    assert_eq!(&w[30..32], [0, 8]);
}

#[test]
fn errors_stick() {
    let mut small = [0u8; 40];
    let mut info = InfoBuilder::new(&mut small, 0x9000);
    info.cmdline(&[b'x'; 100]).basic_meminfo(1, 2);
    assert_eq!(
        info.finish(),
        Err(InfoError::BufferTooSmall { capacity: 40 })
    );
    let mut buf = [0u8; 64];
    assert_eq!(
        InfoBuilder::new(&mut buf, 0x9004).finish(),
        Err(InfoError::BadBase { base: 0x9004 })
    );
    assert_eq!(
        InfoBuilder::new(&mut buf, 0xffff_fff8).finish(),
        Err(InfoError::BadBase { base: 0xffff_fff8 })
    );
    // The end tag needs its 8 bytes too.
    let mut exact = [0u8; 32];
    assert_eq!(
        InfoBuilder::new(&mut exact, 0).basic_meminfo(1, 2).finish(),
        Ok((0, 32))
    );
    let mut short = [0u8; 24];
    assert!(
        InfoBuilder::new(&mut short, 0)
            .basic_meminfo(1, 2)
            .finish()
            .is_err()
    );
}

#[test]
fn random_calls_never_panic_and_stay_in_the_buffer() {
    let mut rng = Rng::new(0x1b2);
    for _ in 0..2000 {
        let len = rng.index(600);
        let mut buf = vec![0u8; len];
        let base = rng.below(1 << 20) & !7;
        let mut info = InfoBuilder::new(&mut buf, base);
        for _ in 0..rng.below(8) {
            let text = vec![b'a'; rng.index(100)];
            match rng.below(5) {
                0 => {
                    info.cmdline(&text);
                }
                1 => {
                    info.module(1, 2, &text);
                }
                2 => {
                    info.network(&text);
                }
                3 => {
                    info.memory_map(&[e820(0, 1, 1, 1); 3]);
                }
                _ => {
                    info.framebuffer(&EGA_TEXT);
                }
            }
        }
        if let Ok((address, used)) = info.finish() {
            assert_eq!(address as u64, base);
            assert!(used <= len && used % 8 == 0);
            assert_eq!(words(&buf[..8])[0] as usize, used);
            assert_eq!(&buf[used - 8..used], [0, 0, 0, 0, 8, 0, 0, 0]);
        }
    }
}

#[test]
fn efi_tags_byte_for_byte() {
    let mut buf = [0xaau8; 256];
    let mut info = InfoBuilder::new(&mut buf, 0x9000);
    let descriptors: Vec<u8> = (0..96u8).collect(); // two 48-byte descriptors
    info.efi64_system_table(0x7f9e_e018)
        .efi_memory_map(48, 1, &descriptors)
        .efi_boot_services()
        .efi64_image_handle(0x7e1_2345_6789)
        .efi32_system_table(0x1234)
        .efi32_image_handle(0x5678);
    let (_, len) = info.finish().unwrap();
    assert_eq!(len, 8 + 16 + (16 + 96) + 8 + 16 + 16 + 16 + 8);
    let w = words(&buf[..len]);
    assert_eq!(&w[2..6], [12, 16, 0x7f9e_e018, 0]);
    assert_eq!(&w[6..10], [17, 16 + 96, 48, 1]);
    assert_eq!(&buf[40..136], &descriptors[..]);
    assert_eq!(&w[34..36], [18, 8]);
    assert_eq!(&w[36..40], [20, 16, 0x2345_6789, 0x7e1]);
    assert_eq!(&w[40..43], [11, 12, 0x1234]);
    assert_eq!(&w[44..47], [19, 12, 0x5678]);
    assert_eq!(&w[48..50], [0, 8]);
}
