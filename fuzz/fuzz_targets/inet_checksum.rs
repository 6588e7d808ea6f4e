//! `inet_checksum::check_frame` on arbitrary frames: never a panic, and a frame it calls good
//! or bad is one it could judge (Ethernet II, IPv4, TCP or UDP, no fragment).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::inet_checksum::{Verdict, check_frame};

fuzz_target!(|frame: &[u8]| {
    if check_frame(frame) != Verdict::NotChecked {
        assert_eq!(&frame[12..14], &[0x08, 0x00]);
        assert_eq!(frame[14] >> 4, 4);
        assert!(frame[23] == 6 || frame[23] == 17);
    }
});
