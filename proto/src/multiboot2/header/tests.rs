use std::vec;
use std::vec::Vec;

use super::*;
use crate::test_rng::Rng;

/// A header tag: type, flags, body (padded to 8 bytes when assembled).
pub(crate) fn header_tag(tag_type: u16, optional: bool, body: &[u32]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&tag_type.to_le_bytes());
    t.extend_from_slice(&(optional as u16).to_le_bytes());
    t.extend_from_slice(&(8 + 4 * body.len() as u32).to_le_bytes());
    for w in body {
        t.extend_from_slice(&w.to_le_bytes());
    }
    t
}

/// A whole header: the fixed part, the tags (each padded to 8), the end tag, a right checksum.
pub(crate) fn mb2_header(tags: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    for t in tags {
        body.extend_from_slice(t);
        body.resize(body.len().div_ceil(8) * 8, 0);
    }
    body.extend_from_slice(&header_tag(0, false, &[]));
    let length = 16 + body.len() as u32;
    let mut h = Vec::new();
    for w in [
        HEADER_MAGIC,
        ARCH_I386,
        length,
        0u32.wrapping_sub(HEADER_MAGIC).wrapping_sub(length),
    ] {
        h.extend_from_slice(&w.to_le_bytes());
    }
    h.extend_from_slice(&body);
    h
}

pub(crate) fn file_with(len: usize, at: usize, header: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; len.max(at + header.len())];
    f[at..at + header.len()].copy_from_slice(header);
    f
}

/// Debian 12's Xen 4.17 header, as kernels.md describes it.
fn xen_like() -> Vec<u8> {
    mb2_header(&[
        header_tag(1, false, &[4, 6]),
        header_tag(6, false, &[]),
        header_tag(10, true, &[0x200000, 0xffffffff, 0x200000, 2]),
        header_tag(4, true, &[ConsoleTag::EGA_TEXT]),
        header_tag(5, true, &[0, 0, 0]),
        header_tag(7, true, &[]),
        header_tag(9, true, &[0x200040]),
    ])
}

#[test]
fn xen_header_reads_whole_and_is_supported() {
    let f = file_with(0x1000, 0x98, &xen_like());
    let h = Header::find(&f).unwrap();
    assert_eq!(h.offset, 0x98);
    assert_eq!(h.requests.required, 1 << 4 | 1 << 6);
    assert!(h.requests.asks_for(6) && !h.requests.asks_for(9));
    assert!(h.module_align);
    assert_eq!(
        h.relocatable,
        Some(RelocatableTag {
            min_addr: 0x200000,
            max_addr: 0xffffffff,
            align: 0x200000,
            preference: Preference::High,
            optional: true
        })
    );
    assert_eq!(
        h.console,
        Some(ConsoleTag {
            flags: 2,
            optional: true
        })
    );
    assert_eq!(
        h.framebuffer,
        Some(FramebufferTag {
            width: 0,
            height: 0,
            depth: 0,
            optional: true
        })
    );
    assert_eq!(
        h.efi,
        Some(EfiTag {
            tag_type: 7,
            optional: true
        })
    );
    assert_eq!(h.check_supported(), Ok(()), "optional EFI tags are ignored");
}

#[test]
fn address_and_entry_tags() {
    let f = file_with(
        0x2000,
        0x1000,
        &mb2_header(&[
            header_tag(2, false, &[0x101000, 0xffffffff, 0, 0x120000]),
            header_tag(3, false, &[0x101040]),
        ]),
    );
    let h = Header::find(&f).unwrap();
    assert_eq!(
        h.address,
        Some(AddressTag {
            header_addr: 0x101000,
            load_addr: 0xffffffff,
            load_end_addr: 0,
            bss_end_addr: 0x120000
        })
    );
    assert_eq!(h.entry, Some(0x101040));
    assert_eq!(h.check_supported(), Ok(()));
    let f = file_with(
        0x2000,
        0,
        &mb2_header(&[header_tag(2, false, &[0x100000, 0x100000, 0, 0])]),
    );
    assert_eq!(
        Header::find(&f).unwrap().check_supported(),
        Err(Unsupported::AddressWithoutEntry)
    );
}

#[test]
fn what_is_required_and_cannot_be_given_is_refused() {
    let check = |tags: &[Vec<u8>]| {
        Header::find(&file_with(0x100, 0, &mb2_header(tags)))
            .unwrap()
            .check_supported()
    };
    assert_eq!(
        check(&[header_tag(1, false, &[1, 13, 6])]),
        Err(Unsupported::Request { tag_type: 13 })
    );
    assert_eq!(check(&[header_tag(1, true, &[13, 99])]), Ok(()));
    assert_eq!(
        check(&[header_tag(1, false, &[22])]),
        Err(Unsupported::Request { tag_type: 22 })
    );
    // Understood but never available here (EFI, bootdev): accepted, and left out.
    assert_eq!(
        check(&[header_tag(1, false, &[5, 11, 12, 17, 18, 19, 20])]),
        Ok(())
    );
    for efi in [7u16, 8, 9] {
        let body: &[u32] = if efi == 7 { &[] } else { &[0x100000] };
        assert_eq!(
            check(&[header_tag(efi, false, body)]),
            Err(Unsupported::Efi { tag_type: efi })
        );
        assert_eq!(check(&[header_tag(efi, true, body)]), Ok(()));
    }
    // A required EFI tag is found whatever optional ones come first.
    assert_eq!(
        check(&[header_tag(9, true, &[1]), header_tag(8, false, &[1])]),
        Err(Unsupported::Efi { tag_type: 8 })
    );
    assert_eq!(
        check(&[header_tag(42, false, &[1, 2, 3])]),
        Err(Unsupported::Tag { tag_type: 42 })
    );
    assert_eq!(check(&[header_tag(42, true, &[1, 2, 3])]), Ok(()));
    let message = std::format!("{}", Unsupported::Request { tag_type: 13 });
    assert!(message.contains("type 13 (SMBIOS)"), "{message}");
}

#[test]
fn efi_tags_on_a_64_bit_uefi() {
    let find = |tags: &[Vec<u8>]| Header::find(&file_with(0x100, 0, &mb2_header(tags))).unwrap();
    // Boot services kept, an amd64 entry: what a UEFI-aware kernel (Xen, a hobby kernel)
    // asks; fine on UEFI, refused on a BIOS.
    let h = find(&[
        header_tag(7, false, &[]),
        header_tag(9, false, &[0x10_0040]),
    ]);
    assert!(h.efi_boot_services);
    assert_eq!(h.efi_amd64_entry, Some(0x10_0040));
    assert_eq!(h.efi_i386_entry, None);
    assert_eq!(h.check_supported_on(Firmware::Uefi64), Ok(()));
    assert_eq!(
        h.check_supported_on(Firmware::Bios),
        Err(Unsupported::Efi { tag_type: 7 })
    );
    // An optional tag 7 still asks to keep boot services (as GRUB reads it).
    assert!(find(&[header_tag(7, true, &[])]).efi_boot_services);
    assert!(!find(&[header_tag(1, true, &[18])]).efi_boot_services);
    // A required i386 EFI entry cannot be met by a 64-bit firmware; an optional one can.
    let h = find(&[header_tag(7, true, &[]), header_tag(8, false, &[0x10_0020])]);
    assert_eq!(h.efi_i386_entry, Some(0x10_0020));
    let refused = h.check_supported_on(Firmware::Uefi64);
    assert_eq!(refused, Err(Unsupported::Efi { tag_type: 8 }));
    let message = std::format!("{}", refused.unwrap_err());
    assert!(message.contains("64-bit UEFI"), "{message}");
    let h = find(&[header_tag(8, true, &[0x10_0020])]);
    assert_eq!(h.check_supported_on(Firmware::Uefi64), Ok(()));
}

#[test]
fn search_rules() {
    let h = mb2_header(&[]);
    // 8-byte aligned only.
    assert_eq!(
        Header::find(&file_with(0x100, 0x44, &h)),
        Err(HeaderError::NotFound)
    );
    assert_eq!(
        Header::find(&file_with(0x100, 0x48, &h)).unwrap().offset,
        0x48
    );
    // Within the first 32 KiB, whole.
    let last = SEARCH_LIMIT - h.len();
    assert_eq!(
        Header::find(&file_with(0x9000, last, &h)).unwrap().offset,
        last
    );
    assert_eq!(
        Header::find(&file_with(0x9000, last + 8, &h)),
        Err(HeaderError::BadLength {
            offset: last + 8,
            length: 24
        })
    );
    // A bad checksum is reported only when no good header follows.
    let mut bad = h.clone();
    bad[12] ^= 1;
    let mut f = file_with(0x200, 0x10, &bad);
    assert_eq!(
        Header::find(&f),
        Err(HeaderError::BadChecksum { offset: 0x10 })
    );
    f[0x100..0x100 + h.len()].copy_from_slice(&h);
    assert_eq!(Header::find(&f).unwrap().offset, 0x100);
    // Another architecture.
    let mut mips = h.clone();
    mips[4] = 4;
    mips[12] = mips[12].wrapping_sub(4);
    assert_eq!(
        Header::find(&file_with(0x100, 0, &mips)),
        Err(HeaderError::Architecture {
            offset: 0,
            architecture: 4
        })
    );
}

#[test]
fn malformed_tags_are_errors() {
    // A tag whose size is below 8, one that runs past the header, a body of the wrong size.
    let mut h = mb2_header(&[header_tag(3, false, &[0x100000])]);
    h[16 + 4] = 4;
    assert_eq!(
        Header::find(&file_with(0x100, 0, &h)),
        Err(HeaderError::BadTag {
            at: 16,
            tag_type: 3,
            size: 4
        })
    );
    h[16 + 4] = 200;
    assert!(matches!(
        Header::find(&file_with(0x100, 0, &h)),
        Err(HeaderError::BadTag { at: 16, .. })
    ));
    let wrong_body = mb2_header(&[header_tag(5, false, &[1, 2])]);
    assert!(matches!(
        Header::find(&file_with(0x100, 0, &wrong_body)),
        Err(HeaderError::BadTag { tag_type: 5, .. })
    ));
    // No end tag: the last tag is replaced by a tag of another type.
    let mut h = mb2_header(&[]);
    h[16] = 6;
    assert_eq!(
        Header::find(&file_with(0x100, 0, &h)),
        Err(HeaderError::NoEndTag { offset: 0 })
    );
    // An end tag of the wrong size.
    let mut h = mb2_header(&[]);
    h[20] = 16;
    let len = h.len() as u32 + 8;
    h[8..12].copy_from_slice(&len.to_le_bytes());
    let sum = 0u32.wrapping_sub(HEADER_MAGIC).wrapping_sub(len);
    h[12..16].copy_from_slice(&sum.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    assert!(matches!(
        Header::find(&file_with(0x100, 0, &h)),
        Err(HeaderError::BadTag { tag_type: 0, .. })
    ));
}

/// Random files, and headers with random tags dropped in: `find` gives a header inside the
/// window or an error, and `check_supported` an answer; never a panic.
#[test]
fn random_and_mutated_headers_never_panic() {
    let mut rng = Rng::new(0x3b2_5eed);
    let mut found = 0;
    for round in 0..20_000 {
        let len = rng.below(36_000) as usize;
        let mut f: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len > 64 && round % 4 != 0 {
            let mut tags = Vec::new();
            for _ in 0..rng.below(6) {
                let body: Vec<u32> = (0..rng.below(5)).map(|_| rng.next_u64() as u32).collect();
                tags.push(header_tag(rng.below(12) as u16, rng.below(2) == 0, &body));
            }
            let mut h = if rng.below(2) == 0 {
                xen_like()
            } else {
                mb2_header(&tags)
            };
            for _ in 0..rng.below(3) {
                let at = rng.index(h.len());
                h[at] = rng.next_u64() as u8;
            }
            let at = (rng.index(len.min(SEARCH_LIMIT)) & !7).min(len.saturating_sub(8) & !7);
            let n = h.len().min(len - at);
            f[at..at + n].copy_from_slice(&h[..n]);
        }
        if let Ok(h) = Header::find(&f) {
            found += 1;
            assert!(h.offset % 8 == 0 && h.offset + h.length as usize <= f.len().min(SEARCH_LIMIT));
            let _ = h.check_supported();
        }
    }
    assert!(found > 2_000, "only {found} headers found");
}
