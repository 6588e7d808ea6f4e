//! `multiboot::Header::find` on arbitrary bytes: never a panic; a header found lies 4-aligned
//! in the first 8 KiB and inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::multiboot::Header;

fuzz_target!(|file: &[u8]| {
    if let Ok(header) = Header::find(file) {
        assert!(header.offset % 4 == 0 && header.offset < 8192 && header.offset + 12 <= file.len());
        let _ = (header.check_supported(), header.unsupported_required_bits());
    }
});
