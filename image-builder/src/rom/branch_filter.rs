//! A branch filter in front of LZ4: the 32-bit operand after every E8 (CALL rel32) or E9
//! (JMP rel32) byte becomes an address relative to the image's start instead of the next
//! instruction. Calls to one function then repeat byte for byte, which LZ4 finds: about
//! 1.2% off the option ROM (the idea of xz's x86 BCJ filter, in its simplest form).
//!
//! Every E8/E9 byte is taken for an opcode, in code or data alike, and the 4 bytes after it
//! are skipped; the operand is changed but the opcode byte never is, so decoding walks
//! exactly the same positions and is an exact inverse. stage1/rom.s decodes after unpacking.

/// Rewrite `image` in place: relative operands to image-relative absolute ones.
pub fn encode(image: &mut [u8]) {
    walk(image, |operand, next| operand.wrapping_add(next));
}

/// The inverse of `encode` (what stage1/rom.s does at boot; the tests use it).
#[cfg(test)]
pub fn decode(image: &mut [u8]) {
    walk(image, |operand, next| operand.wrapping_sub(next));
}

fn walk(image: &mut [u8], convert: impl Fn(u32, u32) -> u32) {
    let mut at = 0;
    while at + 5 <= image.len() {
        if image[at] & 0xfe == 0xe8 {
            let field = &mut image[at + 1..at + 5];
            let operand = u32::from_le_bytes(field.try_into().expect("4 bytes"));
            field.copy_from_slice(&convert(operand, (at + 5) as u32).to_le_bytes());
            at += 5;
        } else {
            at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_undoes_encode() {
        let mut state = 7u64;
        for len in [0, 1, 4, 5, 6, 9, 10, 1000, 65_536] {
            let original: Vec<u8> = (0..len)
                .map(|i| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    // Plenty of E8/E9 bytes, also back to back and near the end.
                    if i % 7 == 0 {
                        0xe8 | (state >> 63) as u8
                    } else {
                        (state >> 33) as u8
                    }
                })
                .collect();
            let mut image = original.clone();
            encode(&mut image);
            decode(&mut image);
            assert_eq!(image, original, "{len} bytes");
        }
        let runtime = crate::stage1::RUNTIME_IMAGE;
        let mut image = runtime.to_vec();
        encode(&mut image);
        assert_ne!(image, runtime);
        decode(&mut image);
        assert_eq!(image, runtime);
    }

    #[test]
    fn calls_to_one_target_become_equal() {
        // call +0x10 at 0, call +0x0b at 5: both reach 0x15.
        let mut image = [0xe8, 0x10, 0, 0, 0, 0xe8, 0x0b, 0, 0, 0, 0x90];
        encode(&mut image);
        assert_eq!(image[1..5], image[6..10]);
        assert_eq!(image[1..5], [0x15, 0, 0, 0]);
    }
}
