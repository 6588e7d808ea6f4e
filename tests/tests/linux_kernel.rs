//! The Linux test kernel's file, checked on the host (no boot: booting it through netloader
//! comes with the runtime's Linux loader; tests/src/bin/linux_probe.rs boots it with QEMU's own
//! loader meanwhile): proto's bzImage view takes it, with the header build.rs wrote, and the
//! placement policy places it where its header asks.

use netloader_proto::linux::BzImage;
use netloader_proto::linux::placement::KernelPlan;
use netloader_proto::planner::Prefer;
use netloader_tests::linux::test_kernel_path;

#[test]
fn the_test_kernel_is_a_bzimage_with_the_intended_header() {
    let file = std::fs::read(test_kernel_path()).unwrap();
    let image = BzImage::new_checked(&file).expect("proto takes the test kernel");
    let header = image.header();
    assert_eq!(header.version, 0x020F);
    assert!(header.relocatable);
    assert_eq!(header.kernel_alignment, 0x20_0000);
    assert_eq!(header.min_alignment_log2, 12);
    assert_eq!(header.pref_address, Some(0x100_0000));
    assert_eq!(header.code32_start, 0x10_0000);
    assert_eq!(header.cmdline_size, 2048);
    assert_eq!(header.initrd_addr_max, 0x7FFF_FFFF);
    assert_eq!(header.xloadflags, 0, "no 64-bit entry");
    assert_eq!(header.header_end, 0x26C);
    let protected = image.protected_mode_range();
    assert_eq!(protected.start, (usize::from(header.setup_sects) + 1) * 512);
    assert_eq!(u64::from(header.syssize), header.protected_len.div_ceil(16));
    // init_size covers the file and the .bss (page tables and stacks: well over 64 KiB).
    let init_size = u64::from(header.init_size.unwrap());
    assert!(init_size >= header.protected_len + 0x1_0000);
    assert_eq!(init_size % 4096, 0);

    // The 32-bit entry opens the protected-mode part; the jump at 0x200 lands on the 16-bit
    // entry right after the header (cli).
    assert_eq!(&file[0x200..0x202], &[0xEB, 0x6A]);
    assert_eq!(file[0x26C], 0xFA);

    // Placed first exactly at pref_address, then anywhere from there up at 2 MiB ... 4 KiB.
    let plan = KernelPlan::new(&image);
    let attempts: Vec<_> = plan.attempts().collect();
    assert_eq!((attempts[0].min, attempts[0].size), (0x100_0000, init_size));
    assert_eq!(attempts.len(), 1 + (21 - 12 + 1));
    assert!(
        attempts[1..]
            .iter()
            .all(|a| a.min == 0x100_0000 && a.prefer == Prefer::Low)
    );
    let load = plan.loaded_at(0x100_0000).unwrap();
    assert_eq!(load.entry, 0x100_0000);
    assert_eq!(load.alignment, 0x20_0000);
}
