//! `multiboot2::Image::parse` (and `Header::find` under it) on arbitrary bytes: never a panic;
//! a header found lies 8-aligned in the first 32 KiB and inside the file; an image's
//! placements lie in the file, its entry in its extent; its ELF sections lay out and write
//! without reaching past their block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::elf::SectionLayout;
use netloader_proto::multiboot2::{Header, Image};

fuzz_target!(|file: &[u8]| {
    if let Ok(header) = Header::find(file) {
        assert!(header.offset % 8 == 0);
        assert!(header.offset + header.length as usize <= file.len().min(32768));
        let _ = header.check_supported();
    }
    let Ok(image) = Image::parse(file) else {
        return;
    };
    for placement in image.placements() {
        assert!(placement.file_range.end <= file.len());
    }
    assert!(image.extent().contains(&(image.entry() as u64)));
    if let Some(table) = image.sections() {
        let layout = SectionLayout::new(table);
        if layout.size() <= 1 << 20 {
            let mut out = vec![0u8; layout.size() as usize];
            assert!(layout.write(0x100000, &mut out).is_some());
        }
    }
});
