//! `elf::ElfFile` (ELF32 and ELF64 headers, program headers) on arbitrary bytes: never a panic;
//! every load segment's file bytes lie in the file and its memory below 4 GiB.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::elf::ElfFile;

fuzz_target!(|file: &[u8]| {
    let Ok(elf) = ElfFile::new_checked(file) else {
        return;
    };
    let _ = (elf.class(), elf.machine(), elf.entry(), elf.entry_paddr());
    for segment in elf.load_segments() {
        if segment.file_size > 0 {
            assert!(segment.file_offset + segment.file_size <= file.len());
        }
        assert!(segment.mem_size >= segment.file_size as u64);
        assert!(segment.paddr + segment.mem_size <= 1 << 32);
    }
});
