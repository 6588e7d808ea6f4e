//! `linux::BzImage::new_checked` on arbitrary files, then everything a loader derives from an
//! accepted header: the kernel's places, the zero page. Never a panic; the promises the
//! runtime relies on hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::linux::placement::{InitrdLayout, KernelPlan, initrd_request};
use netloader_proto::linux::{BzImage, TYPE_OF_LOADER_UNDEFINED, ZERO_PAGE_LEN, ZeroPage};

fuzz_target!(|file: &[u8]| {
    let Ok(image) = BzImage::new_checked(file) else {
        return;
    };
    let header = image.header();
    assert!(header.version >= 0x0206);
    assert!(header.header_end <= 0x290 && header.header_end <= file.len());
    assert!(!image.protected_mode().is_empty());
    assert!(header.kernel_alignment.is_power_of_two());

    let mut page = [0u8; ZERO_PAGE_LEN];
    let mut zero_page = ZeroPage::new(&mut page, &image, TYPE_OF_LOADER_UNDEFINED);
    assert_eq!(zero_page.bytes()[0x1EF], 0, "the sentinel stays clear");
    let plan = KernelPlan::new(&image);
    for attempt in plan.attempts() {
        assert!(attempt.align.is_power_of_two());
        // Take the lowest address the attempt admits, as a planner with all memory free would.
        let Some(address) = attempt.min.checked_next_multiple_of(attempt.align) else {
            continue;
        };
        if !attempt.admits(address) {
            continue;
        }
        let Ok(load) = plan.loaded_at(address) else {
            continue;
        };
        assert!(address.is_multiple_of(u64::from(load.alignment)));
        assert!(load.reserved_end - address >= header.protected_len);
        zero_page.set_kernel(&load);
        let layout = InitrdLayout::new([file.len() as u64]).unwrap();
        if let Ok(c) = initrd_request(image.header(), &load, &layout, None) {
            assert!(c.min >= load.reserved_end && c.max <= 1 << 32);
        }
    }
});
