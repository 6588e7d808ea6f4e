use std::vec;
use std::vec::Vec;

use super::*;
use crate::elf::SectionLayout;
use crate::kernel::test_images::{ElfImage, Rng, load, put, put16, put32, put64};
use crate::multiboot2::header::tests::{header_tag, mb2_header};

/// One section header for [`add_sections`]: (name, type, flags, addr, offset, size, align).
type Shdr = (&'static str, u32, u64, u64, u64, u64, u64);

/// Appends a section-name table and a section header table (index 0 null, then `sections`,
/// then `.shstrtab`) to `file`, and points the ELF header at them.
fn add_sections(file: &mut Vec<u8>, is_64: bool, sections: &[Shdr]) {
    let mut names = vec![0u8];
    let mut name_at = Vec::new();
    for (name, ..) in sections.iter().chain([&(".shstrtab", 3, 0, 0, 0, 0, 1)]) {
        name_at.push(names.len() as u32);
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let names_offset = file.len() as u64;
    file.extend_from_slice(&names);
    file.resize(file.len().div_ceil(8) * 8, 0);
    let table = file.len();
    let entsize = if is_64 { 64 } else { 40 };
    let count = sections.len() + 2;
    file.resize(table + count * entsize, 0);
    let shstrtab = (
        ".shstrtab",
        3u32,
        0u64,
        0u64,
        names_offset,
        names.len() as u64,
        1u64,
    );
    for (i, s) in sections.iter().chain([&shstrtab]).enumerate() {
        let at = table + (i + 1) * entsize;
        let (_, kind, flags, addr, offset, size, align) = *s;
        put32(file, at, name_at[i]);
        put32(file, at + 4, kind);
        if is_64 {
            put64(file, at + 8, flags);
            put64(file, at + 16, addr);
            put64(file, at + 24, offset);
            put64(file, at + 32, size);
            put64(file, at + 48, align);
        } else {
            put32(file, at + 8, flags as u32);
            put32(file, at + 12, addr as u32);
            put32(file, at + 16, offset as u32);
            put32(file, at + 20, size as u32);
            put32(file, at + 32, align as u32);
        }
    }
    if is_64 {
        put64(file, 40, table as u64);
        put16(file, 58, 64);
        put16(file, 60, count as u16);
        put16(file, 62, count as u16 - 1);
    } else {
        put32(file, 32, table as u32);
        put16(file, 46, 40);
        put16(file, 48, count as u16);
        put16(file, 50, count as u16 - 1);
    }
}

/// An ELF kernel of one segment (file 0x1000..0x1800 at 0x200000, 0x1000 of memory) with a
/// Multiboot 2 header holding `tags` at file offset 0x1000 (the segment's start).
fn kernel(is_64: bool, tags: &[Vec<u8>]) -> Vec<u8> {
    let base = if is_64 {
        ElfImage::elf64(0x200040)
    } else {
        ElfImage::elf32(0x200040)
    };
    let mut f = base
        .with(load(0x1000, 0x200000, 0x200000, 0x800, 0x1000))
        .build();
    put(&mut f, 0x1000, &mb2_header(tags));
    f
}

#[test]
fn elf_kernel_with_its_sections() {
    for is_64 in [false, true] {
        let mut f = kernel(is_64, &[]);
        let text = (".text", 1, 6, 0x200000, 0x1000, 0x800, 16);
        let symtab = (".symtab", 2, 0, 0, 0x100, 0x60, 8);
        let bss = (".bss", 8, 3, 0x200800, 0, 0x800, 16);
        let note = (".note", 7, 0, 0, 0x200, 0x13, 64);
        add_sections(&mut f, is_64, &[text, symtab, bss, note]);
        let image = Image::parse(&f).unwrap();
        assert_eq!(image.entry(), 0x200040);
        assert_eq!(image.extent(), 0x200000..0x201000);
        assert_eq!(image.relocation(), None);
        let table = image.sections().unwrap();
        assert_eq!(table.count(), 6);
        assert_eq!(table.name_table(), 5);
        assert_eq!(table.entry_size(), if is_64 { 64 } else { 40 });
        let loaded: Vec<u16> = (0..table.count())
            .filter(|&i| table.header(i).needs_loading())
            .collect();
        assert_eq!(
            loaded,
            [2, 4, 5],
            "symtab, note and shstrtab; not text, bss or null"
        );

        let layout = SectionLayout::new(table);
        let places: Vec<_> = layout.places().collect();
        let table_len = 6 * table.entry_size() as u64;
        assert_eq!(places[0], (2, table_len..table_len + 0x60));
        assert_eq!(places[1].1.start % 64, 0, "the note keeps its alignment");
        let base = 0x300000u64;
        let mut out = vec![0xaau8; layout.size() as usize];
        layout.write(base, &mut out).unwrap();
        let written = SectionTableView(&out[..table_len as usize], is_64);
        for (index, place) in &places {
            assert_eq!(written.addr(*index), base + place.start);
            let h = table.header(*index);
            assert_eq!(
                &out[place.start as usize..place.end as usize],
                &f[h.offset as usize..(h.offset + h.size) as usize]
            );
        }
        assert_eq!(
            written.addr(1),
            0x200000,
            "allocated sections keep their address"
        );
        assert_eq!(written.addr(3), 0x200800);
        assert!(
            out[table_len as usize + 0x60..places[1].1.start as usize]
                .iter()
                .all(|&b| b == 0),
            "gaps zeroed"
        );
        assert!(
            layout.write(base, &mut out[..10]).is_none(),
            "a short buffer is refused"
        );
    }
}

/// Reads `sh_addr` from a written header table.
struct SectionTableView<'a>(&'a [u8], bool);

impl SectionTableView<'_> {
    fn addr(&self, index: u16) -> u64 {
        let i = index as usize;
        if self.1 {
            u64::from_le_bytes(self.0[i * 64 + 16..i * 64 + 24].try_into().unwrap())
        } else {
            u32::from_le_bytes(self.0[i * 40 + 12..i * 40 + 16].try_into().unwrap()) as u64
        }
    }
}

#[test]
fn entry_tag_overrides_and_must_lie_inside() {
    let f = kernel(true, &[header_tag(3, false, &[0x200100])]);
    assert_eq!(Image::parse(&f).unwrap().entry(), 0x200100);
    let f = kernel(true, &[header_tag(3, false, &[0x300000])]);
    assert_eq!(
        Image::parse(&f).unwrap_err(),
        ImageError::EntryOutsideImage {
            entry: 0x300000,
            start: 0x200000,
            end: 0x201000
        }
    );
}

#[test]
fn address_tag_from_the_file_start_or_from_load_addr() {
    // A flat file: header at offset 0x40, meant to be at 0x100040.
    let tags = |load_addr: u32| {
        std::vec![
            header_tag(2, false, &[0x100040, load_addr, 0, 0x108000]),
            header_tag(3, false, &[0x100100]),
        ]
    };
    let mut f = vec![0x90u8; 0x40];
    f.extend_from_slice(&mb2_header(&tags(0xffffffff)));
    f.resize(0x2000, 0x90);
    let image = Image::parse(&f).unwrap();
    assert_eq!(image.format(), Format::AddressFields);
    let p: Vec<_> = image.placements().collect();
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].file_range.clone(), p[0].dest), (0..0x2000, 0x100000));
    assert_eq!(p[0].mem_size, 0x8000);
    assert!(image.sections().is_none());

    let mut g = vec![0x90u8; 0x40];
    g.extend_from_slice(&mb2_header(&tags(0x100000)));
    g.resize(0x2000, 0x90);
    assert_eq!(
        Image::parse(&g).unwrap().placements().next(),
        Some(p[0].clone())
    );

    // header_addr below the header's offset cannot load from the file's start.
    let mut h = vec![0x90u8; 0x40];
    h.extend_from_slice(&mb2_header(&[
        header_tag(2, false, &[0x20, 0xffffffff, 0, 0]),
        header_tag(3, false, &[0x20]),
    ]));
    assert_eq!(
        Image::parse(&h).unwrap_err(),
        ImageError::HeaderAddrBelowOffset {
            header_addr: 0x20,
            offset: 0x40
        }
    );
}

#[test]
fn relocatable_and_refusals() {
    let f = kernel(
        false,
        &[header_tag(10, true, &[0x1000000, 0x7fffffff, 0x200000, 1])],
    );
    let image = Image::parse(&f).unwrap();
    assert_eq!(
        image
            .relocation()
            .map(|r| (r.min_addr, r.align, r.preference)),
        Some((0x1000000, 0x200000, crate::multiboot2::Preference::Low))
    );
    let f = kernel(false, &[header_tag(10, false, &[0, 0xffffffff, 3, 0])]);
    assert_eq!(
        Image::parse(&f).unwrap_err(),
        ImageError::BadAlignment { align: 3 }
    );
    let f = kernel(false, &[header_tag(1, false, &[13])]);
    assert_eq!(
        Image::parse(&f).unwrap_err(),
        ImageError::Unsupported(Unsupported::Request { tag_type: 13 })
    );
    let plain = vec![0u8; 0x100];
    assert_eq!(
        Image::parse(&plain).unwrap_err(),
        ImageError::Header(HeaderError::NotFound)
    );
    let mut not_elf = vec![0u8; 0x40];
    not_elf.extend_from_slice(&mb2_header(&[]));
    assert_eq!(
        Image::parse(&not_elf).unwrap_err(),
        ImageError::NotElfAndNoAddressTag
    );
    // A section table outside the file.
    let mut f = kernel(true, &[]);
    add_sections(&mut f, true, &[]);
    let len = f.len();
    put64(&mut f, 40, len as u64);
    assert!(matches!(
        Image::parse(&f).unwrap_err(),
        ImageError::Sections(crate::elf::SectionError::TableOutsideFile { .. })
    ));
}

/// Random bytes over a valid kernel: `parse` gives an image or an error; an image's
/// placements lie in the file and its entry in its extent; its sections in the file.
#[test]
fn mutated_kernels_never_panic() {
    let mut rng = Rng::new(0x4d42_3232);
    let mut parsed = 0;
    for round in 0..4000 {
        let mut f = kernel(
            round % 2 == 0,
            &[header_tag(10, true, &[0, u32::MAX, 0x1000, 2])],
        );
        add_sections(&mut f, round % 2 == 0, &[(".x", 1, 0, 0, 0x10, 0x20, 4)]);
        for _ in 0..1 + rng.below(6) {
            let at = rng.index(f.len());
            f[at] = rng.next_u64() as u8;
        }
        if rng.below(4) == 0 {
            f.truncate(rng.index(f.len()));
        }
        let Ok(image) = Image::parse(&f) else {
            continue;
        };
        parsed += 1;
        for p in image.placements() {
            assert!(p.file_range.end <= f.len());
        }
        assert!(image.extent().contains(&(image.entry() as u64)));
        if let Some(table) = image.sections() {
            let layout = SectionLayout::new(table);
            let mut out = vec![0u8; layout.size().min(1 << 20) as usize];
            let _ = layout.write(0x400000, &mut out);
        }
    }
    assert!(parsed > 500, "only {parsed} parsed");
}
