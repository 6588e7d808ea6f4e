use std::collections::HashSet;
use std::format;
use std::string::ToString;

use zerocopy::FromZeros;

use super::*;

#[test]
fn names_are_unique_short_and_lower_case() {
    let mut names = HashSet::new();
    for driver in DRIVERS {
        assert!(names.insert(driver.name), "{} twice", driver.name);
        assert!(
            driver
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{}: a --nic value and an environment value",
            driver.name
        );
        assert!(!driver.family.is_empty());
        assert_eq!(named(driver.name).map(|d| d.name), Some(driver.name));
    }
    assert!(named("tulip").is_none());
}

/// An ID in two tables would open the card with whichever comes first: a mistake.
#[test]
fn no_pci_id_is_claimed_twice() {
    let mut seen = HashSet::new();
    for driver in DRIVERS {
        for id in driver.pci_ids {
            assert!(
                seen.insert((id.vendor_id, id.device_id)),
                "{:04x}:{:04x} ({}) twice",
                id.vendor_id,
                id.device_id,
                driver.name
            );
            assert_eq!(
                match_pci(DRIVERS, id.vendor_id, id.device_id).map(|(d, i)| (d.name, i)),
                Some((driver.name, id))
            );
        }
    }
    assert!(
        match_pci(DRIVERS, 0x1011, 0x0019).is_none(),
        "tulip: no driver"
    );
}

/// A driver's buffers and state fit in `dma_len` bytes wherever the memory starts: UNDI's
/// pool, sized for it alone, once came up short by the state's alignment.
#[test]
fn dma_len_fits_buffers_and_state_at_any_start() {
    #[repr(C, align(16))]
    struct State([u8; 40]);
    #[derive(FromZeros)]
    #[repr(C, align(8))]
    struct Buffers([u8; 24]);
    fn fits<B: FromZeros + 'static, S: 'static>(state: impl Fn() -> S) {
        let len = dma_len::<B, S>();
        let memory: &'static mut [u8] = std::vec![0u8; len + 64].leak();
        for start in 0..32 {
            let region: &'static DmaRegion = std::boxed::Box::leak(std::boxed::Box::default());
            // SAFETY: leaked memory, used by nothing else.
            let mut arena = unsafe { region.take(memory[start..].as_mut_ptr(), len) }.unwrap();
            arena.zeroed::<B>().unwrap();
            assert!(arena.keep(state()).is_ok(), "start {start}");
        }
    }
    fits::<Buffers, State>(|| State([0; 40]));
    fits::<[u8; 0], State>(|| State([0; 40]));
    fits::<Buffers, u8>(|| 0u8);
}

#[test]
fn every_driver_is_reachable_and_fits_the_pool() {
    let pool = pool_len(DRIVERS);
    for driver in DRIVERS {
        assert!(
            driver.is_pci() || driver.find.is_some(),
            "{}: no way to find its card",
            driver.name
        );
        assert!(driver.dma_len > 0 && driver.dma_len <= pool);
    }
}

#[test]
fn a_build_carries_every_driver_or_the_one_named() {
    let all: [Driver; DRIVERS.len()] = carried(None);
    assert_eq!(carried_count(None), DRIVERS.len());
    assert_eq!(
        all.iter().map(|d| d.name).collect::<std::vec::Vec<_>>(),
        DRIVERS.iter().map(|d| d.name).collect::<std::vec::Vec<_>>()
    );
    for driver in DRIVERS {
        assert_eq!(carried_count(Some(driver.name)), 1);
        let [one] = carried::<1>(Some(driver.name));
        assert_eq!(one.name, driver.name);
        assert_eq!(pool_len(&[one]), driver.dma_len);
    }
    assert_eq!(carried_count(Some("e100")), 0, "no prefix matches");
}

#[test]
fn families_read_as_a_list() {
    let [a] = carried::<1>(Some("e1000"));
    let [b] = carried::<1>(Some("rtl8139"));
    let [c] = carried::<1>(Some("virtio"));
    assert_eq!(families(&[]).as_str(), "");
    assert_eq!(families(&[a]).as_str(), a.family);
    assert_eq!(
        families(&[a, b]).as_str(),
        format!("{} and {}", a.family, b.family)
    );
    assert_eq!(
        families(&[a, b, c]).as_str(),
        format!("{}, {} and {}", a.family, b.family, c.family)
    );
    assert!(families(DRIVERS).as_str().len() < PHRASE_CAPACITY);
}

#[test]
fn bars_decode_io_32_and_64_bit_memory() {
    assert_eq!(
        Bar::decode(0xC001, || unreachable!()),
        Some(Bar::Io(0xC000))
    );
    assert_eq!(Bar::decode(0x1, || unreachable!()), None, "unassigned I/O");
    assert_eq!(
        Bar::decode(0xFEBC_0000, || unreachable!()),
        Some(Bar::Memory(0xFEBC_0000))
    );
    assert_eq!(
        Bar::decode(0xFEBC_0008, || unreachable!()),
        Some(Bar::Memory(0xFEBC_0000)),
        "prefetchable"
    );
    assert!(Bar::is_64bit(0xFE00_000C));
    assert_eq!(
        Bar::decode(0xFE00_000C, || 0x1),
        Some(Bar::Memory(0x1_FE00_0000))
    );
    assert_eq!(Bar::decode(0, || 0), None);
}

#[test]
fn bars_are_checked_before_a_driver_maps_them() {
    let mut function = PciFunction {
        bus: 0,
        device: 3,
        function: 0,
        vendor_id: 0x8086,
        device_id: 0x100E,
        bars: [None; 6],
    };
    assert_eq!(function.io_bar(), Err(OpenError::NoIoBar));
    assert_eq!(
        function.memory_bar(0, 0x20000),
        Err(OpenError::NoMemoryBar(0))
    );
    function.bars[0] = Some(Bar::Memory(0xFEBC_0000));
    function.bars[1] = Some(Bar::Io(0xC000));
    assert_eq!(function.io_bar(), Ok(0xC000));
    assert_eq!(function.memory_bar(0, 0x20000), Ok(0xFEBC_0000));
    assert_eq!(function.memory_bar(1, 0x20), Err(OpenError::NoMemoryBar(1)));
    function.bars[0] = Some(Bar::Memory(0xFFFF_F000));
    assert_eq!(
        function.memory_bar(0, 0x20000),
        Err(OpenError::BarAbove4Gib(0xFFFF_F000)),
        "a BAR that runs past 4 GiB"
    );
    assert_eq!(
        Location::Pci(function).to_string(),
        "8086:100e at PCI 00:03.0"
    );
    assert_eq!(Location::Ports(0x300).to_string(), "I/O port 0x300");
}

#[test]
fn the_pool_is_handed_out_once() {
    static POOL: DmaPool<8192> = DmaPool::new();
    {
        let _arena = POOL.take().expect("first take");
        assert!(POOL.take().is_none(), "a second take");
    }
    assert!(POOL.take().is_none(), "not given back when dropped");
}

#[test]
fn the_arena_aligns_zeroes_and_runs_out_cleanly() {
    #[repr(C, align(256))]
    #[derive(FromZeros)]
    struct Rings([u8; 1000]);
    // Room for one `Rings` and a `u32` wherever the pool happens to start.
    const LEN: usize = dma_len::<Rings, u32>();
    static POOL: DmaPool<LEN> = DmaPool::new();
    assert_eq!(
        core::mem::align_of::<DmaPool<LEN>>(),
        1,
        "no alignment padding"
    );
    let mut arena = POOL.take().unwrap();
    let rings = arena.zeroed::<Rings>().unwrap();
    assert_eq!(rings as *const Rings as usize % 256, 0);
    assert!(rings.0.iter().all(|&b| b == 0));
    rings.0[0] = 7;
    assert_eq!(arena.zeroed::<Rings>().err(), Some(OpenError::DmaMemory));
    let kept = arena.keep(0x1234_5678_u32).unwrap();
    assert_eq!(*kept, 0x1234_5678);
    assert_eq!(kept as *const u32 as usize % 4, 0);
    assert_eq!(rings.0[0], 7, "earlier memory untouched");
}

#[test]
fn open_errors_read_as_sentences() {
    assert_eq!(
        OpenError::from(NicError::Timeout).to_string(),
        NicError::Timeout.to_string()
    );
    assert_eq!(OpenError::NoIoBar.to_string(), "no I/O BAR assigned");
    assert!(
        OpenError::BarAbove4Gib(0x1_0000_0000)
            .to_string()
            .contains("0x100000000")
    );
}

fn repository_file(path: &str) -> std::string::String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The README's card table has a row per driver, named and described as the registry does,
/// and no row for a driver that is gone.
#[test]
fn the_readme_lists_every_driver() {
    let readme = repository_file("README.md");
    let section = readme
        .split("\n### ")
        .find(|section| section.starts_with("Network cards\n"))
        .expect("README.md has a \"### Network cards\" section");
    let table: std::vec::Vec<&str> = section
        .lines()
        .filter(|line| line.starts_with("| `") && !line.starts_with("| `--nic`"))
        .collect();
    for driver in DRIVERS {
        let row = format!("| `{}` | {} |", driver.name, driver.family);
        assert!(
            table.iter().any(|line| line.starts_with(&row)),
            "README.md's card table has no row starting {row}"
        );
    }
    assert_eq!(table.len(), DRIVERS.len(), "a README row without a driver");
}

/// docs/errors.md says what E-NIC-UNSUPPORTED says: which cards netloader drives.
#[test]
fn the_error_list_names_every_family() {
    let errors = repository_file("docs/errors.md");
    let line = errors
        .lines()
        .find(|line| line.starts_with("| `E-NIC-UNSUPPORTED` |"))
        .expect("E-NIC-UNSUPPORTED in docs/errors.md");
    let phrase = families(DRIVERS);
    assert!(
        line.contains(phrase.as_str()),
        "docs/errors.md's E-NIC-UNSUPPORTED line should say netloader drives {}",
        phrase.as_str()
    );
}
