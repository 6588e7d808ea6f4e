//! netloader.pxe, the PXE network boot program: the PXE entry (stage1/pxe.s), then the runtime
//! image. A PXE ROM loads the whole file at 0x7C00, so the image lands at 0x8000, where it is
//! linked: the entry hands over without moving a byte.

/// Where a PXE ROM loads the program it downloads (PXE 2.1, 4.4.5).
pub const NBP_LOAD_ADDRESS: u64 = 0x7c00;

/// The PXE entry code, exactly the gap from 0x7C00 to the runtime image (build.rs checks).
pub static PXE_ENTRY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pxe_entry.bin"));

/// Largest program a PXE ROM can load: from 0x7C00 to the end of conventional memory (640 KiB);
/// the ROM's own data below that lowers the real limit.
pub const NBP_MAX: usize = 0xa0000 - NBP_LOAD_ADDRESS as usize;

/// Where the entry keeps the UNDI policy byte (`pxe_undi_policy` in stage1/pxe.s).
const UNDI_POLICY_AT: usize = 0x3e0;

/// When netloader.pxe drives the card through the PXE ROM's UNDI (stage1/pxe.s keeps the
/// ROM's stack, runtime/src/pxe_stack.rs decides) instead of a native driver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum UndiPolicy {
    /// Only for a card netloader has no native driver for.
    #[default]
    Auto,
    /// Always, even where a native driver exists (for comparison, or a driver that fails).
    Always,
    /// Never: the ROM's stack is unloaded at once, as before UNDI existed.
    Never,
}

/// The network boot program for `runtime` (the image, perhaps with an embedded config).
pub fn nbp(runtime: &[u8]) -> anyhow::Result<Vec<u8>> {
    nbp_with(runtime, UndiPolicy::Auto)
}

/// The same, with a UNDI policy.
pub fn nbp_with(runtime: &[u8], undi: UndiPolicy) -> anyhow::Result<Vec<u8>> {
    let mut program = Vec::with_capacity(PXE_ENTRY.len() + runtime.len());
    program.extend_from_slice(PXE_ENTRY);
    program[UNDI_POLICY_AT] = undi as u8;
    program.extend_from_slice(runtime);
    anyhow::ensure!(
        program.len() <= NBP_MAX,
        "netloader.pxe would be {} bytes; a PXE ROM loads at most {NBP_MAX} (0x7C00 to 640 KiB)",
        program.len()
    );
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage1::{LOAD_ADDRESS, RUNTIME_IMAGE};

    #[test]
    fn undi_policy_is_the_byte_the_entry_reads() {
        assert_eq!(
            PXE_ENTRY[UNDI_POLICY_AT], 0,
            "auto unless the build says otherwise"
        );
        for (policy, byte) in [
            (UndiPolicy::Auto, 0),
            (UndiPolicy::Always, 1),
            (UndiPolicy::Never, 2),
        ] {
            let program = nbp_with(RUNTIME_IMAGE, policy).unwrap();
            assert_eq!(program[UNDI_POLICY_AT], byte);
            assert_eq!(program[..UNDI_POLICY_AT], PXE_ENTRY[..UNDI_POLICY_AT]);
            assert_eq!(
                program[UNDI_POLICY_AT + 1..0x400],
                PXE_ENTRY[UNDI_POLICY_AT + 1..]
            );
        }
    }

    #[test]
    fn entry_fills_the_gap_below_the_image() {
        assert_eq!(PXE_ENTRY.len() as u64, LOAD_ADDRESS - NBP_LOAD_ADDRESS);
        assert_eq!(PXE_ENTRY.len(), 0x400);
        assert_eq!(PXE_ENTRY[0], 0xfa, "starts with cli");
    }

    #[test]
    fn runtime_image_sits_at_0x400_so_it_loads_at_0x8000() {
        let program = nbp(RUNTIME_IMAGE).unwrap();
        assert_eq!(program.len(), 0x400 + RUNTIME_IMAGE.len());
        assert_eq!(&program[..0x400], PXE_ENTRY);
        assert_eq!(&program[0x400..], RUNTIME_IMAGE);
        assert!(
            program.len() < 400 * 1024,
            "well inside what a PXE ROM loads: {} bytes",
            program.len()
        );
    }

    /// iPXE takes any file that is not recognised as another type as a PXE image; make sure
    /// ours looks like nothing else (no "MZ", no ELF, no bzImage "HdrS", no Multiboot header).
    #[test]
    fn program_looks_like_no_other_image_type() {
        let program = nbp(RUNTIME_IMAGE).unwrap();
        assert_ne!(&program[..2], b"MZ");
        assert_ne!(&program[..4], b"\x7fELF");
        assert_ne!(&program[0x202..0x206], b"HdrS");
        let multiboot = (0..8192 - 12).step_by(4).any(|at| {
            let word =
                |i: usize| u32::from_le_bytes(program[at + i..at + i + 4].try_into().unwrap());
            word(0) == 0x1bad_b002 && word(0).wrapping_add(word(4)).wrapping_add(word(8)) == 0
        });
        assert!(
            !multiboot,
            "a Multiboot header in the first 8 KiB would make iPXE boot it as a kernel"
        );
    }

    #[test]
    fn too_large_a_program_is_refused() {
        assert!(nbp(&vec![0; NBP_MAX]).is_err());
    }
}
