//! The embedded runtime and the boot sector template, and how a form fills the sector in.
//!
//! The offsets mirror the field table at the top of stage1/bootsector.s.

include!(concat!(env!("OUT_DIR"), "/runtime_layout.rs"));

/// The flat runtime image (stage 2 + the Rust runtime), loaded by stage 1 at `LOAD_ADDRESS`:
/// the 32-bit runtime (runtime/src/arch/x86), which every BIOS form carries by default.
pub static RUNTIME_IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/runtime.bin"));

/// The 64-bit runtime (the x86_64 platform, long mode), loaded at the same address; it ends at
/// `X86_64_END_ADDRESS`. The 32-bit one above runs on every CPU from the Pentium on and is as
/// fast: this one is for `--runtime 64` (and the benchmarks that compare the two).
pub static RUNTIME_IMAGE_X86_64: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/runtime-x86_64.bin"));

/// An option ROM's runtime images, built with one NIC driver only (see build.rs): the first
/// stage (runtime/src/chain.rs: DHCP, then netloader.pxe from the TFTP server), and the whole
/// loader for `--form rom --standalone`.
#[derive(Debug)]
pub struct RomRuntime {
    /// The driver's name in the registry (drivers/src/registry.rs).
    pub driver: &'static str,
    pub first_stage: &'static [u8],
    pub standalone: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/runtime_code.rs"));

/// One embedded 32-bit runtime image and where its 32-bit code lies in it.
pub struct X86Code {
    /// Its file name in the build (`runtime.bin`, `runtime-chain-e1000.bin`, ...).
    pub name: &'static str,
    pub image: &'static [u8],
    /// Offsets into `image`: .text without the option ROM first stage's 16-bit stub.
    pub ranges: &'static [(usize, usize)],
}

/// Every embedded 32-bit runtime image with its 32-bit code (the no-SSE test disassembles
/// them: QEMU's TCG does not always fault on SSE where the CPU model has none).
pub fn x86_code() -> Vec<X86Code> {
    X86_CODE_RANGES
        .iter()
        .map(|&(name, ranges)| {
            let rom = |prefix: &str| {
                let driver = name.strip_prefix(prefix)?.strip_suffix(".bin")?;
                rom_runtime(driver)
            };
            let image = if name == "runtime.bin" {
                RUNTIME_IMAGE
            } else if let Some(runtime) = rom("runtime-chain-") {
                runtime.first_stage
            } else if let Some(runtime) = rom("runtime-") {
                runtime.standalone
            } else {
                panic!("build.rs listed an image stage1.rs does not embed: {name}")
            };
            X86Code {
                name,
                image,
                ranges,
            }
        })
        .collect()
}

include!(concat!(env!("OUT_DIR"), "/rom_runtimes.rs"));

/// The ROM runtimes of the driver called `name`; every registry driver of a PCI card has them.
pub fn rom_runtime(name: &str) -> Option<&'static RomRuntime> {
    ROM_RUNTIMES.iter().find(|runtime| runtime.driver == name)
}

/// The shared boot sector, before a form fills in its fields.
pub static BOOT_SECTOR_TEMPLATE: &[u8; 512] =
    include_bytes!(concat!(env!("OUT_DIR"), "/bootsector.bin"));

const FIELD_COUNT: usize = 0x1a4;
const FIELD_FORM: usize = 0x1a6;
const FIELD_CHUNK: usize = 0x1a7;
const FIELD_LBA: usize = 0x1b0;

/// The boot form byte stage 1 hands to the runtime (runtime/src/boot_info.rs reads it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BootForm {
    Floppy = 1,
    Cdrom = 2,
    Disk = 3,
    IsoAsDisk = 4,
    OptionRom = 5,
    Pxe = 6,
}

impl BootForm {
    fn sector_size(self) -> usize {
        match self {
            BootForm::Cdrom => 2048,
            _ => 512,
        }
    }
}

/// Where on the device the runtime image starts, in the device's own sectors.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    pub form: BootForm,
    pub first_sector: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum Stage1Error {
    #[error(
        "the runtime image needs {sectors} sectors of {size} bytes; stage 1 can load at most 65535"
    )]
    TooManySectors { sectors: usize, size: usize },
    #[error(
        "E-CONFIG-TOOBIG: the config is {len} bytes; an embedded config holds at most 8192 (serve larger ones by TFTP)"
    )]
    ConfigTooLarge { len: usize },
    #[error("the runtime image has no (or more than one) embedded-config slot: a build problem")]
    NoConfigSlot,
}

/// The embedded-config slot in the runtime image (runtime/src/embedded.rs): this marker, a
/// little-endian u32 length, then `EMBEDDED_CONFIG_CAPACITY` bytes of text.
const EMBEDDED_CONFIG_MARKER: &[u8; 16] = b"netloader-config";
pub const EMBEDDED_CONFIG_CAPACITY: usize = 8192;

/// A runtime image (`RUNTIME_IMAGE` or a single-driver one) with `config` written into its
/// slot. The config must already have been checked by the caller (the runtime's parser).
pub fn runtime_with_config(runtime: &[u8], config: &[u8]) -> Result<Vec<u8>, Stage1Error> {
    if config.len() > EMBEDDED_CONFIG_CAPACITY {
        return Err(Stage1Error::ConfigTooLarge { len: config.len() });
    }
    let mut image = runtime.to_vec();
    let mut found = image
        .windows(16)
        .enumerate()
        .filter(|(_, w)| w == EMBEDDED_CONFIG_MARKER)
        .map(|(i, _)| i);
    let at = match (found.next(), found.next()) {
        (Some(at), None) => at + 16,
        _ => return Err(Stage1Error::NoConfigSlot),
    };
    image[at..at + 4].copy_from_slice(&(config.len() as u32).to_le_bytes());
    image[at + 4..at + 4 + config.len()].copy_from_slice(config);
    Ok(image)
}

/// Number of device sectors the runtime image occupies on a device of this form.
pub fn image_sectors(form: BootForm) -> usize {
    RUNTIME_IMAGE.len().div_ceil(form.sector_size())
}

/// The runtime image padded to whole sectors of the form's device.
pub fn padded_image(form: BootForm) -> Vec<u8> {
    pad(RUNTIME_IMAGE, form)
}

/// `runtime` (the image, perhaps with an embedded config) padded to whole device sectors.
pub fn pad(runtime: &[u8], form: BootForm) -> Vec<u8> {
    let mut image = runtime.to_vec();
    image.resize(
        runtime.len().div_ceil(form.sector_size()) * form.sector_size(),
        0,
    );
    image
}

/// The boot sector for one placement of the runtime image.
pub fn boot_sector(placement: Placement) -> Result<[u8; 512], Stage1Error> {
    boot_sector_for(placement, RUNTIME_IMAGE.len())
}

/// The boot sector for one placement of a runtime image of `image_len` bytes.
pub fn boot_sector_for(placement: Placement, image_len: usize) -> Result<[u8; 512], Stage1Error> {
    let size = placement.form.sector_size();
    let sectors = image_len.div_ceil(size);
    let count =
        u16::try_from(sectors).map_err(|_| Stage1Error::TooManySectors { sectors, size })?;
    let mut sector = *BOOT_SECTOR_TEMPLATE;
    sector[FIELD_COUNT..FIELD_COUNT + 2].copy_from_slice(&count.to_le_bytes());
    sector[FIELD_FORM] = placement.form as u8;
    sector[FIELD_CHUNK] = (16 * 1024 / size) as u8;
    sector[FIELD_LBA..FIELD_LBA + 4].copy_from_slice(&placement.first_sector.to_le_bytes());
    Ok(sector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_a_boot_sector_with_its_disk_address_packet() {
        let s = BOOT_SECTOR_TEMPLATE;
        assert_eq!(&s[510..], &[0x55, 0xaa]);
        assert_eq!(s[0], 0xeb, "starts with a short jump over the BPB");
        assert_eq!(s[0x1a8], 0x10, "DAP size byte");
        assert_eq!(
            u16::from_le_bytes([s[0x1ae], s[0x1af]]),
            (LOAD_ADDRESS >> 4) as u16
        );
        assert!(
            s[0x1b8..0x1fe].iter().all(|&b| b == 0),
            "signature and partition table left free"
        );
    }

    #[test]
    fn fields_are_written_where_stage1_reads_them() {
        let sector = boot_sector(Placement {
            form: BootForm::Cdrom,
            first_sector: 0x1234_5678,
        })
        .unwrap();
        assert_eq!(&sector[0x1b0..0x1b4], &0x1234_5678u32.to_le_bytes());
        assert_eq!(sector[0x1a6], 2);
        assert_eq!(sector[0x1a7], 8);
        let count = u16::from_le_bytes([sector[0x1a4], sector[0x1a5]]) as usize;
        assert_eq!(count, RUNTIME_IMAGE.len().div_ceil(2048));
        assert_eq!(
            &sector[0x1b4..0x1b8],
            &[0; 4],
            "the high half of the LBA stays zero"
        );
    }

    #[test]
    fn config_goes_into_its_slot() {
        let image = runtime_with_config(RUNTIME_IMAGE, b"menuentry x { multiboot /k }").unwrap();
        assert_eq!(image.len(), RUNTIME_IMAGE.len());
        let at = image
            .windows(16)
            .position(|w| w == EMBEDDED_CONFIG_MARKER)
            .unwrap()
            + 16;
        assert_eq!(&image[at..at + 4], &28u32.to_le_bytes());
        assert_eq!(&image[at + 4..at + 32], b"menuentry x { multiboot /k }");
        assert!(runtime_with_config(RUNTIME_IMAGE, &[b'#'; 8193]).is_err());
    }

    #[test]
    fn runtime_image_starts_with_stage2_and_fits_low_memory() {
        // Checked when the runtime is built too (link.ld); here as the builder sees it.
        const { assert!(LOAD_ADDRESS == 0x8000 && END_ADDRESS <= 0x94000) };
        assert_eq!(RUNTIME_IMAGE.len() % 512, 0);
        assert_eq!(padded_image(BootForm::Floppy).len() % 512, 0);
        assert_eq!(padded_image(BootForm::Cdrom).len() % 2048, 0);
    }
}
