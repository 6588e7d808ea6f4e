//! `Config::parse` on arbitrary bytes: never a panic, and whatever parses keeps the promises
//! the loader relies on (entry count, default in range, command lines that fit their length,
//! for the kernel, every module and every initrd file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::config::{CmdlineTooLong, Config};

fuzz_target!(|file: &[u8]| {
    let Ok(config) = Config::parse(file) else {
        return;
    };
    assert!(config.default_entry() < config.entry_count());
    let mut buf = [0u8; 4096];
    let mut entries = 0;
    for (index, entry) in config.entries().enumerate() {
        assert_eq!(entry.index, index);
        entries += 1;
        let _ = (entry.kind, entry.gfxpayload);
        for line in core::iter::once(entry.kernel)
            .chain(entry.modules())
            .chain(entry.initrds())
        {
            assert!(line.source.path().starts_with('/'));
            let len = line.cmdline_len();
            match line.write_cmdline(&mut buf) {
                Ok(written) => {
                    assert_eq!(written, len);
                    assert!(!buf[..written].contains(&0));
                }
                Err(CmdlineTooLong { needed }) => assert!(needed == len && len > buf.len()),
            }
        }
    }
    assert_eq!(entries, config.entry_count());
});
