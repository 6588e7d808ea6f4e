//! Parse the built ROM as a BIOS would and check every field the BIOS and stage1/rom.s read.

use super::*;
use crate::stage1;

fn family(name: &str) -> NicFamily {
    NicFamily::named(name).unwrap()
}

/// The whole loader with the driver called `name` alone (what `--standalone` packs).
fn standalone(name: &str) -> &'static [u8] {
    stage1::rom_runtime(name).unwrap().standalone
}

fn u16_at(rom: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(rom[at..at + 2].try_into().unwrap())
}

fn u32_at(rom: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(rom[at..at + 4].try_into().unwrap())
}

fn c_string(rom: &[u8], at: usize) -> &str {
    let end = rom[at..].iter().position(|&b| b == 0).unwrap();
    std::str::from_utf8(&rom[at..at + end]).unwrap()
}

fn check_rom(rom: &[u8], vendor: u16, device: u16) {
    // Option ROM header.
    assert_eq!(&rom[..2], &[0x55, 0xaa]);
    assert_eq!(rom.len() % 512, 0);
    assert!(rom.len() <= MAX_ROM_LEN);
    assert_eq!(rom[2] as usize * 512, rom.len(), "size byte");
    assert_eq!(sum(rom), 0, "the whole ROM sums to 0");
    assert_eq!(rom[3], 0xeb, "init vector: a short jump");

    // PCI data structure.
    let pcir = u16_at(rom, 0x18) as usize;
    assert_eq!(pcir % 4, 0, "PCIR is dword-aligned");
    assert_eq!(&rom[pcir..pcir + 4], b"PCIR");
    assert_eq!(u16_at(rom, pcir + 4), vendor);
    assert_eq!(u16_at(rom, pcir + 6), device);
    assert_eq!(u16_at(rom, pcir + 0x0a), 0x1c, "PCI 3.0 structure length");
    assert_eq!(rom[pcir + 0x0c], 3, "PCI 3.0 structure revision");
    assert_eq!(
        &rom[pcir + 0x0d..pcir + 0x10],
        &[0x00, 0x00, 0x02],
        "class 02 00 00"
    );
    assert_eq!(
        u16_at(rom, pcir + 0x10) as usize * 512,
        rom.len(),
        "image length"
    );
    assert_eq!(rom[pcir + 0x14], 0, "code type: x86");
    assert_eq!(rom[pcir + 0x15] & 0x80, 0x80, "last image");
    let list = pcir + u16_at(rom, pcir + 8) as usize;
    assert_ne!(list, pcir, "device list present");
    assert_eq!(
        u16_at(rom, list),
        device,
        "the list starts with the primary device"
    );

    // PnP expansion header.
    let pnp = u16_at(rom, 0x1a) as usize;
    assert_eq!(pnp % 16, 0, "$PnP is 16-byte aligned");
    assert_eq!(&rom[pnp..pnp + 4], b"$PnP");
    assert_eq!(rom[pnp + 5], 2, "length: 2 x 16 bytes");
    assert_eq!(sum(&rom[pnp..pnp + 32]), 0, "$PnP checksum");
    assert_eq!(
        &rom[pnp + 0x12..pnp + 0x15],
        &[0x02, 0x00, 0x00],
        "device type: network"
    );
    let bev = u16_at(rom, pnp + 0x1a) as usize;
    assert!(bev != 0 && bev < rom.len(), "boot entry vector");
    assert_eq!(
        u16_at(rom, pnp + 0x16),
        0,
        "no BCV: a network card is not a disk"
    );
    assert_eq!(
        c_string(rom, u16_at(rom, pnp + 0x10) as usize),
        "netloader network boot"
    );
    assert_eq!(c_string(rom, u16_at(rom, pnp + 0x0e) as usize), "netloader");
}

fn device_list(rom: &[u8]) -> Vec<u16> {
    let pcir = u16_at(rom, 0x18) as usize;
    let mut at = pcir + u16_at(rom, pcir + 8) as usize;
    let mut list = Vec::new();
    while u16_at(rom, at) != 0 {
        list.push(u16_at(rom, at));
        at += 2;
    }
    list
}

fn unpacked(rom: &[u8]) -> Vec<u8> {
    let offset = u16_at(rom, FIELD_PAYLOAD_OFFSET) as usize;
    let len = u32_at(rom, FIELD_PAYLOAD_LEN) as usize;
    let image_len = u32_at(rom, FIELD_IMAGE_LEN) as usize;
    let mut image = vec![0; image_len];
    let written = lz4_flex::block::decompress_into(&rom[offset..offset + len], &mut image).unwrap();
    assert_eq!(written, image_len);
    super::branch_filter::decode(&mut image);
    image
}

#[test]
fn e1000_rom_has_valid_headers_and_unpacks_to_the_runtime() {
    let rom = build(standalone("e1000"), &RomOptions::default()).unwrap();
    check_rom(&rom, 0x8086, 0x100e);
    let list = device_list(&rom);
    assert!(
        list.contains(&0x100f) && list.contains(&0x10d3),
        "the e1000 family: {list:04x?}"
    );
    assert_eq!(unpacked(&rom), standalone("e1000"));
    assert!(rom.len() < standalone("e1000").len(), "compressed");
}

#[test]
fn each_family_declares_its_ids() {
    let rom = build(
        standalone("rtl8139"),
        &RomOptions {
            nic: family("rtl8139"),
            ..RomOptions::default()
        },
    )
    .unwrap();
    check_rom(&rom, 0x10ec, 0x8139);
    assert_eq!(
        device_list(&rom),
        vec![0x8139, 0x8138],
        "only the 10ec IDs of the family"
    );
    let rom = build(
        standalone("virtio"),
        &RomOptions {
            nic: family("virtio"),
            ..RomOptions::default()
        },
    )
    .unwrap();
    check_rom(&rom, 0x1af4, 0x1000);
    assert_eq!(device_list(&rom), vec![0x1000, 0x1041]);
}

#[test]
fn pci_id_overrides_the_primary_id() {
    let pci_id = Some("8086:10d3".parse().unwrap());
    let rom = build(
        standalone("e1000"),
        &RomOptions {
            nic: family("e1000"),
            pci_id,
            ..RomOptions::default()
        },
    )
    .unwrap();
    check_rom(&rom, 0x8086, 0x10d3);
    let list = device_list(&rom);
    assert_eq!(
        list.iter().filter(|&&d| d == 0x10d3).count(),
        1,
        "listed once"
    );
    assert!(list.contains(&0x100e));
}

#[test]
fn pci_ids_parse_strictly() {
    assert_eq!(
        "8086:100e".parse::<PciId>(),
        Ok(PciId {
            vendor: 0x8086,
            device: 0x100e
        })
    );
    assert_eq!(
        "0x1AF4:0x1000".parse::<PciId>(),
        Ok(PciId {
            vendor: 0x1af4,
            device: 0x1000
        })
    );
    for bad in [
        "",
        "8086",
        "8086:",
        ":100e",
        "8086:100e:1",
        "ffff:100e",
        "0:1",
        "18086:100e",
        "80g6:100e",
    ] {
        assert!(bad.parse::<PciId>().is_err(), "{bad:?}");
    }
}

#[test]
fn too_large_an_image_fails_loudly() {
    // Incompressible bytes (an LCG) larger than a legacy ROM can hold.
    let mut state = 1u32;
    let image: Vec<u8> = (0..MAX_ROM_LEN)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect();
    let id = family("e1000").primary_id();
    let error = pack(ROM_HEADER_TEMPLATE, &image, id, &[id.device]).unwrap_err();
    assert!(error.to_string().starts_with("E-ROM-TOOBIG:"), "{error}");
}

#[test]
fn a_malformed_template_is_an_error_not_a_panic() {
    let id = family("e1000").primary_id();
    for template in [
        &[][..],
        &ROM_HEADER_TEMPLATE[..0x1c],
        &[0x55, 0xaa, 0, 0, 0, 0][..],
    ] {
        assert!(pack(template, b"x", id, &[]).is_err());
    }
}

#[test]
fn roms_are_deterministic() {
    assert_eq!(
        build(standalone("e1000"), &RomOptions::default()).unwrap(),
        build(standalone("e1000"), &RomOptions::default()).unwrap()
    );
}

/// `netloader build --form rom` packs the first stage with the card's driver only;
/// `--standalone` the whole loader with that driver only. Every PCI driver of the registry has
/// both.
#[test]
fn each_family_rom_carries_its_own_driver_only() {
    let families: Vec<NicFamily> = NicFamily::all().collect();
    assert_eq!(
        families.len(),
        netloader_drivers::registry::DRIVERS
            .iter()
            .filter(|d| d.is_pci())
            .count()
    );
    assert_eq!(stage1::ROM_RUNTIMES.len(), families.len());
    for nic in families {
        let runtime = stage1::rom_runtime(nic.name()).unwrap();
        let options = crate::forms::Options::default();
        let rom = crate::forms::rom(
            &options,
            &RomOptions {
                nic,
                ..RomOptions::default()
            },
        )
        .unwrap();
        assert_eq!(unpacked(&rom), runtime.first_stage, "{nic:?}");
        let standalone = crate::forms::rom(
            &options,
            &RomOptions {
                nic,
                standalone: true,
                ..RomOptions::default()
            },
        )
        .unwrap();
        assert_eq!(unpacked(&standalone), runtime.standalone, "{nic:?}");
        assert!(
            runtime.standalone.len() < stage1::RUNTIME_IMAGE.len(),
            "{nic:?}: smaller than the all-driver runtime"
        );
        let id = nic.primary_id();
        check_rom(&rom, id.vendor, id.device);
    }
}

/// The size goal: a single-driver ROM fits a 64 KiB flash and VirtualBox (at most 56 KiB), for
/// every driver a ROM can be made for.
#[test]
fn first_stage_roms_fit_in_56_kib() {
    for nic in NicFamily::all() {
        let rom = crate::forms::rom(
            &crate::forms::Options::default(),
            &RomOptions {
                nic,
                ..RomOptions::default()
            },
        )
        .unwrap();
        assert!(
            rom.len() <= super::SMALL_ROM_LEN,
            "{nic:?}: {} bytes",
            rom.len()
        );
    }
}

/// Dead drivers are not linked: a ROM's runtimes hold their own driver's registry line (its
/// family is in the E-NIC-UNSUPPORTED message) and no other driver's.
#[test]
fn a_rom_runtime_links_no_other_driver() {
    let holds = |image: &[u8], text: &str| {
        image
            .windows(text.len())
            .any(|window| window == text.as_bytes())
    };
    for nic in NicFamily::all() {
        let runtime = stage1::rom_runtime(nic.name()).unwrap();
        for other in netloader_drivers::registry::DRIVERS {
            let own = other.name == nic.name();
            for (form, image) in [
                ("first stage", runtime.first_stage),
                ("standalone", runtime.standalone),
            ] {
                assert_eq!(
                    holds(image, other.family),
                    own,
                    "{nic:?} {form}: the {} driver's family",
                    other.name
                );
            }
        }
    }
    for driver in netloader_drivers::registry::DRIVERS {
        assert!(
            holds(stage1::RUNTIME_IMAGE, driver.family),
            "the all-driver runtime has {}",
            driver.name
        );
    }
}

/// `--nic` takes the registry's names and nothing else.
#[test]
fn nic_names_come_from_the_registry() {
    assert_eq!(NicFamily::default(), family("e1000"));
    assert_eq!("rtl8139".parse::<NicFamily>(), Ok(family("rtl8139")));
    let error = "tulip".parse::<NicFamily>().unwrap_err();
    assert!(error.contains("e1000, rtl8139, virtio"), "{error}");
    use clap::ValueEnum;
    let values: Vec<String> = NicFamily::value_variants()
        .iter()
        .map(|f| f.to_possible_value().unwrap().get_name().to_string())
        .collect();
    let names: Vec<String> = NicFamily::all().map(|f| f.name().to_string()).collect();
    assert_eq!(values, names);
}

/// An embedded config needs the whole loader: the first stage has no parser.
#[test]
fn first_stage_rom_refuses_an_embedded_config() {
    let options = crate::forms::Options {
        config: Some(b"menuentry x { multiboot /k }".to_vec()),
        ..Default::default()
    };
    let error = crate::forms::rom(&options, &RomOptions::default()).unwrap_err();
    assert!(error.to_string().starts_with("E-ROM-CONFIG"), "{error}");
    assert!(
        crate::forms::rom(
            &options,
            &RomOptions {
                standalone: true,
                ..RomOptions::default()
            }
        )
        .is_ok()
    );
}
