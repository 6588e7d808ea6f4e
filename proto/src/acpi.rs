//! Finding the ACPI Root System Description Pointer the way the ACPI spec (5.2.5.1) tells a
//! BIOS-booted OS to: the signature `RSD PTR ` on a 16-byte boundary in the first KiB of the
//! EBDA, then in 0xE0000-0xFFFFF; the first 20 bytes sum to 0; a revision 2+ pointer (XSDP)
//! also sums to 0 over its `length`. The loader copies what it finds into the boot
//! information (Multiboot 2 tags 14 and 15), as GRUB and Limine do.

/// The copy of an RSDP, at most 36 bytes (ACPI 2.0+ length) kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// Physical address where it was found.
    pub address: u64,
    pub revision: u8,
    bytes: [u8; XSDP_LEN],
}

const SIGNATURE: &[u8; 8] = b"RSD PTR ";
const V1_LEN: usize = 20;
const XSDP_LEN: usize = 36;

impl Rsdp {
    /// The ACPI 1.0 part (20 bytes), valid for every revision.
    pub fn v1(&self) -> &[u8] {
        &self.bytes[..V1_LEN]
    }

    /// The whole ACPI 2.0+ structure (36 bytes), when the revision is 2 or more.
    pub fn v2(&self) -> Option<&[u8]> {
        (self.revision >= 2).then_some(&self.bytes[..])
    }
}

/// The first valid RSDP in `area`, whose first byte lies at physical `base` (so that
/// 16-byte boundaries are physical ones).
pub fn find_rsdp(area: &[u8], base: u64) -> Option<Rsdp> {
    let skip = ((16 - base % 16) % 16) as usize;
    let mut at = skip;
    while at + V1_LEN <= area.len() {
        if let Some(rsdp) = check(area.get(at..)?, base + at as u64) {
            return Some(rsdp);
        }
        at += 16;
    }
    None
}

fn check(candidate: &[u8], address: u64) -> Option<Rsdp> {
    let v1 = candidate.get(..V1_LEN)?;
    if &v1[..8] != SIGNATURE || sum(v1) != 0 {
        return None;
    }
    let revision = v1[15];
    let mut bytes = [0u8; XSDP_LEN];
    if revision >= 2 {
        let length = u32::from_le_bytes([
            *candidate.get(20)?,
            *candidate.get(21)?,
            *candidate.get(22)?,
            *candidate.get(23)?,
        ]) as usize;
        let xsdp = candidate.get(..length.max(XSDP_LEN))?;
        if length < XSDP_LEN || sum(xsdp) != 0 {
            return None;
        }
        bytes.copy_from_slice(&xsdp[..XSDP_LEN]);
    } else {
        bytes[..V1_LEN].copy_from_slice(v1);
    }
    Some(Rsdp {
        address,
        revision,
        bytes,
    })
}

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use std::vec;

    fn rsdp(revision: u8) -> std::vec::Vec<u8> {
        let mut r = vec![0u8; if revision >= 2 { 36 } else { 20 }];
        r[..8].copy_from_slice(SIGNATURE);
        r[9..15].copy_from_slice(b"BOCHS ");
        r[15] = revision;
        r[16..20].copy_from_slice(&0x7fe_0000u32.to_le_bytes());
        r[8] = 0u8.wrapping_sub(sum(&r[..20]));
        if revision >= 2 {
            r[20..24].copy_from_slice(&36u32.to_le_bytes());
            r[24..32].copy_from_slice(&0x7fe_1000u64.to_le_bytes());
            r[32] = 0u8.wrapping_sub(sum(&r));
        }
        r
    }

    #[test]
    fn finds_v1_and_v2_on_16_byte_boundaries_only() {
        let mut area = vec![0u8; 0x400];
        let v1 = rsdp(0);
        area[0x108..0x108 + 20].copy_from_slice(&v1);
        assert_eq!(find_rsdp(&area, 0xf0000), None, "not on a boundary");
        area[0x200..0x200 + 20].copy_from_slice(&v1);
        let found = find_rsdp(&area, 0xf0000).unwrap();
        assert_eq!((found.address, found.revision), (0xf0200, 0));
        assert_eq!(found.v1(), &v1[..]);
        assert_eq!(found.v2(), None);
        // Boundaries are physical: the same bytes seen from another base.
        assert_eq!(find_rsdp(&area[8..], 0xf0008).unwrap().address, 0xf0200);
        assert_eq!(find_rsdp(&area[8..], 0xf0000).unwrap().address, 0xf0100);

        let v2 = rsdp(2);
        let mut area = vec![0u8; 0x100];
        area[0x40..0x40 + 36].copy_from_slice(&v2);
        let found = find_rsdp(&area, 0x9fc00).unwrap();
        assert_eq!(found.v2(), Some(&v2[..]));
        assert_eq!(found.v1(), &v2[..20]);
    }

    #[test]
    fn bad_checksums_and_short_areas_are_skipped() {
        let mut bad = rsdp(0);
        bad[19] ^= 1;
        assert_eq!(find_rsdp(&bad, 0), None);
        let mut bad_ext = rsdp(2);
        bad_ext[30] ^= 1;
        assert_eq!(find_rsdp(&bad_ext, 0), None, "extended checksum");
        assert_eq!(find_rsdp(&rsdp(2)[..30], 0), None, "cut short");
        let mut huge = rsdp(2);
        huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(find_rsdp(&huge, 0), None, "length beyond the area");
    }

    #[test]
    fn random_areas_never_panic() {
        let mut rng = Rng::new(0xac91);
        for _ in 0..2000 {
            let len = rng.index(300);
            let mut area: std::vec::Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if len >= 36 && rng.below(2) == 0 {
                let at = rng.index(len - 35) & !15;
                let r = rsdp(rng.below(3) as u8);
                area[at..at + r.len()].copy_from_slice(&r);
            }
            if let Some(found) = find_rsdp(&area, rng.below(1 << 20)) {
                assert_eq!(&found.v1()[..8], SIGNATURE);
            }
        }
    }
}
