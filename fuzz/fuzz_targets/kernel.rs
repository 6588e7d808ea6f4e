//! `KernelImage::parse` (and `Header::find`) on arbitrary bytes: never a panic, and whatever
//! parses keeps the promises the runtime relies on when it copies segments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::kernel::KernelImage;
use netloader_proto::multiboot::Header;

fuzz_target!(|file: &[u8]| {
    let _ = Header::find(file);
    let Ok(kernel) = KernelImage::parse(file) else {
        return;
    };
    let extent = kernel.extent();
    assert!(extent.end <= 1 << 32);
    assert!(extent.contains(&u64::from(kernel.entry())));
    for p in kernel.placements() {
        assert!(p.file_range.start <= p.file_range.end && p.file_range.end <= file.len());
        assert!(p.mem_size >= p.file_range.len() as u64);
        assert!(extent.start <= p.dest && p.dest + p.mem_size <= extent.end);
    }
});
