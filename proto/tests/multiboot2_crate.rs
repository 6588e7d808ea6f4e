//! The Multiboot 2 information `InfoBuilder` writes, read back by the `multiboot2` crate (the
//! reader many Rust kernels use): an independent check of every tag's layout. An integration
//! test, because reading it takes `unsafe` (the crate loads from a pointer), which the
//! library itself forbids.

use netloader_proto::memmap::{E820_RAM, E820Entry};
use netloader_proto::multiboot2::{Apm, InfoBuilder, Vbe};
use netloader_proto::video::{ColorModel, EGA_TEXT, Framebuffer};

use multiboot2::{BootInformation, BootInformationHeader, FramebufferType};

fn e820(base: u64, length: u64, kind: u32, attributes: u32) -> E820Entry {
    E820Entry {
        base,
        length,
        kind,
        acpi_attributes: attributes,
    }
}

/// The bytes of a u64 buffer (8-byte aligned, as the crate requires).
fn bytes(store: &mut [u64]) -> &mut [u8] {
    let len = store.len() * 8;
    // SAFETY: u8 has no alignment and every bit pattern is valid for both types; the slice
    // covers exactly the store.
    unsafe { core::slice::from_raw_parts_mut(store.as_mut_ptr() as *mut u8, len) }
}

fn load(store: &[u64]) -> BootInformation<'_> {
    // SAFETY: `store` is 8-byte aligned and holds a finished structure (total size inside).
    unsafe { BootInformation::load(store.as_ptr() as *const BootInformationHeader).unwrap() }
}

/// Everything a BIOS boot gives, read back by the `multiboot2` crate (an independent reader).
#[test]
fn the_multiboot2_crate_reads_every_tag() {
    // 8-byte aligned backing store, as the crate requires.
    let mut store = vec![0u64; 1024];
    let base = 0x1_0000u64;
    let buf = bytes(&mut store);
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
    let control = [0x56u8; 512];
    let mode = [0x4du8; 256];
    let sections = [0u8; 3 * 64];
    let mut rsdp_new = [0u8; 36];
    rsdp_new[..8].copy_from_slice(b"RSD PTR ");
    rsdp_new[15] = 2;
    let ack: Vec<u8> = (0..300).map(|i| i as u8).collect();
    let mut info = InfoBuilder::new(buf, base);
    info.load_base_addr(0x200000)
        .cmdline(b"/xen.gz console=com1")
        .loader_name(b"netloader 0.1.0")
        .module(0x400000, 0x401234, b"/vmlinuz root=/dev/sda")
        .module(0x402000, 0x402000, b"/empty")
        .basic_meminfo(639, 130_048)
        .memory_map(&[
            e820(0, 0x9fc00, E820_RAM, 1),
            e820(0x100000, 0x7ee0000, E820_RAM, 1),
        ])
        .vbe(&Vbe {
            mode: 0x118,
            interface_seg: 0xc000,
            interface_off: 0x1234,
            interface_len: 0x56,
            control_info: &control,
            mode_info: &mode,
        })
        .framebuffer(&fb)
        .elf_sections(3, 64, 2, &sections)
        .apm(&Apm {
            version: 0x102,
            cseg: 0xf000,
            offset: 0x1234,
            ..Apm::default()
        })
        .acpi_old(&rsdp_new[..20])
        .acpi_new(&rsdp_new)
        .network(&ack);
    let (address, len) = info.finish().unwrap();
    assert_eq!(address as u64, base);

    let mbi = load(&store);
    assert_eq!(mbi.total_size(), len);
    assert_eq!(
        mbi.command_line_tag().unwrap().cmdline(),
        Ok("/xen.gz console=com1")
    );
    assert_eq!(
        mbi.boot_loader_name_tag().unwrap().name(),
        Ok("netloader 0.1.0")
    );
    let modules: Vec<_> = mbi
        .module_tags()
        .map(|m| (m.start_address(), m.end_address(), m.cmdline().unwrap()))
        .collect();
    assert_eq!(
        modules,
        [
            (0x400000, 0x401234, "/vmlinuz root=/dev/sda"),
            (0x402000, 0x402000, "/empty")
        ]
    );
    let mem = mbi.basic_memory_info_tag().unwrap();
    assert_eq!((mem.memory_lower(), mem.memory_upper()), (639, 130_048));
    let areas: Vec<_> = mbi
        .memory_map_tag()
        .unwrap()
        .memory_areas()
        .iter()
        .map(|a| (a.start_address(), a.size()))
        .collect();
    assert_eq!(areas, [(0, 0x9fc00), (0x100000, 0x7ee0000)]);
    let vbe = mbi.vbe_info_tag().unwrap();
    assert_eq!(vbe.mode(), 0x118);
    assert_eq!(vbe.interface_segment(), 0xc000);
    let tag = mbi.framebuffer_tag().unwrap().unwrap();
    assert_eq!(
        (
            tag.address(),
            tag.pitch(),
            tag.width(),
            tag.height(),
            tag.bpp()
        ),
        (0xfd00_0000, 4096, 1024, 768, 32)
    );
    match tag.buffer_type().unwrap() {
        FramebufferType::RGB { red, green, blue } => {
            assert_eq!((red.position, red.size), (16, 8));
            assert_eq!((green.position, blue.position), (8, 0));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mbi.elf_sections_tag().unwrap().sections().count(), 3);
    let apm = mbi.apm_tag().unwrap();
    assert_eq!(
        (apm.version(), apm.cseg(), apm.offset()),
        (0x102, 0xf000, 0x1234)
    );
    assert!(mbi.rsdp_v1_tag().is_some() && mbi.rsdp_v2_tag().is_some());
    assert_eq!(mbi.network_tags().count(), 1);
    assert_eq!(mbi.load_base_addr_tag().unwrap().load_base_addr(), 0x200000);
}

#[test]
fn ega_text_framebuffer() {
    let mut store = vec![0u64; 16];
    let buf = bytes(&mut store);
    let mut info = InfoBuilder::new(buf, 0x8000);
    info.framebuffer(&EGA_TEXT);
    let (_, len) = info.finish().unwrap();
    assert_eq!(len, 8 + 32 + 8);
    let mbi = load(&store);
    let tag = mbi.framebuffer_tag().unwrap().unwrap();
    assert_eq!(
        (tag.address(), tag.width(), tag.height()),
        (0xb8000, 80, 25)
    );
    assert!(matches!(tag.buffer_type(), Ok(FramebufferType::Text)));
}
