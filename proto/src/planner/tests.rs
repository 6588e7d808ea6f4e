use std::vec::Vec;

use super::*;
use crate::memmap::{E820_RAM, E820_RESERVED, E820Entry};
use crate::test_rng::Rng;

const MIB: u64 = 1 << 20;

fn entry(base: u64, length: u64, kind: u32) -> E820Entry {
    E820Entry {
        base,
        length,
        kind,
        acpi_attributes: 1,
    }
}

/// What SeaBIOS reports for -m 128.
fn qemu_128m() -> [E820Entry; 5] {
    [
        entry(0, 0x9fc00, E820_RAM),
        entry(0x9fc00, 0x400, E820_RESERVED),
        entry(0xf0000, 0x10000, E820_RESERVED),
        entry(0x100000, 0x7ee0000, E820_RAM),
        entry(0xfffc0000, 0x40000, E820_RESERVED),
    ]
}

fn planner(entries: &[E820Entry]) -> Planner<64> {
    Planner::new(&MemoryMap::new(entries))
}

#[test]
fn usable_ram_joins_and_clips() {
    let map = [
        entry(0, 0x9fc00, E820_RAM),
        entry(0x100000, 0x100000, E820_RAM),
        entry(0x200000, 0x100000, E820_RAM), // adjacent: one run
        entry(0x280000, 0x1000, E820_RESERVED), // inside RAM: splits it
        entry(0xffff_0000, 0x2_0000, E820_RAM), // crosses 4 GiB: clipped
        entry(0x1_0000_0000, 0x1000_0000, E820_RAM), // above 4 GiB: not ours
    ];
    let p = planner(&map);
    let runs: Vec<_> = p.ram().collect();
    assert_eq!(
        runs,
        [
            0..0x9fc00,
            0x100000..0x280000,
            0x281000..0x300000,
            0xffff_0000..LIMIT
        ]
    );
}

#[test]
fn fixed_ranges_free_deferred_or_refused() {
    let map = qemu_128m();
    let mut p = planner(&map);
    p.reserve_loader(0..0x1000, Use::Firmware).unwrap();
    p.reserve_loader(0x7000..0x90000, Use::Loader).unwrap();
    p.reserve_loader(0x7f00000..0x7fe0000, Use::Config).unwrap();
    assert_eq!(
        p.reserve(0x100000..0x180000, Use::Segment(0)),
        Ok(Fixed::Free)
    );
    // Over the loader: staged, copied at the hand-off.
    assert_eq!(
        p.reserve(0x8000..0x90000, Use::Segment(1)),
        Ok(Fixed::Deferred { under: Use::Loader })
    );

    // Over another segment, over the firmware, outside RAM: refused, naming what is there.
    assert_eq!(
        p.reserve(0x170000..0x200000, Use::Segment(2)),
        Err(PlanError::Overlap {
            what: Use::Segment(2),
            start: 0x170000,
            end: 0x200000,
            with: Use::Segment(0),
            with_start: 0x100000,
            with_end: 0x180000
        })
    );
    assert!(matches!(
        p.reserve(0x800..0x2000, Use::Segment(3)),
        Err(PlanError::Overlap {
            with: Use::Firmware,
            ..
        })
    ));
    assert_eq!(
        p.reserve(0x9f000..0xa0000, Use::Segment(4)),
        Err(PlanError::NotRam {
            what: Use::Segment(4),
            start: 0x9f000,
            end: 0xa0000
        })
    );
    // A deferred segment is still the payload's: nothing else may be placed over it.
    let staged = p
        .place(Request::pages(Use::Staging(1), 0x88000).above(MIB))
        .unwrap();
    assert_eq!(staged, 0x180000..0x208000);
    let listing: Vec<Use> = p.reservations().iter().map(|r| r.what).collect();
    assert_eq!(
        listing,
        [
            Use::Firmware,
            Use::Loader,
            Use::Segment(1),
            Use::Segment(0),
            Use::Staging(1),
            Use::Config
        ]
    );
}

/// Over a UEFI firmware's boot-services memory: a fixed segment is deferred (copied after
/// ExitBootServices), and nothing is placed there meanwhile.
#[test]
fn boot_services_memory_is_the_loaders_until_the_hand_off() {
    let map = qemu_128m();
    let mut p = planner(&map);
    p.reserve_loader(0x300000..0x400000, Use::BootServices)
        .unwrap();
    assert_eq!(
        p.reserve(0x380000..0x3c0000, Use::Segment(0)),
        Ok(Fixed::Deferred {
            under: Use::BootServices
        })
    );
    let placed = p
        .place(Request::pages(Use::Module(0), 0x180000).above(0x200000))
        .unwrap();
    assert!(placed.start >= 0x400000, "{placed:x?}");
    assert!(Use::BootServices.ends_at_handoff());
}

#[test]
fn placement_prefers_low_or_high_and_keeps_alignment() {
    let map = qemu_128m();
    let mut p = planner(&map);
    p.reserve_loader(0x7f00000..0x7fe0000, Use::Config).unwrap();
    let low = p
        .place(Request::pages(Use::Module(0), 5000).above(MIB))
        .unwrap();
    assert_eq!(low, 0x100000..0x100000 + 5000);
    let next = p
        .place(Request::pages(Use::Module(1), 10).above(MIB))
        .unwrap();
    assert_eq!(next.start, 0x102000, "page-aligned after the first");
    // Highest below 64 MiB, 2 MiB-aligned.
    let high = p
        .place(
            Request::pages(Use::Initrd, 3 * MIB)
                .below(64 * MIB)
                .aligned(2 * MIB)
                .highest(),
        )
        .unwrap();
    assert_eq!(high, 60 * MIB..63 * MIB);
    // Highest overall stops below the config area.
    let top = p
        .place(Request::pages(Use::Segment(0), 0x1000).highest())
        .unwrap();
    assert_eq!(top, 0x7eff000..0x7f00000);
    // Below 640 KiB, highest: right under the EBDA.
    let mbi = p
        .place(
            Request::pages(Use::BootInfo, 0x800)
                .below(0xa0000)
                .highest(),
        )
        .unwrap();
    assert_eq!(mbi, 0x9f000..0x9f800);
}

#[test]
fn a_request_that_cannot_fit_says_how_much_room_there_is() {
    let map = qemu_128m();
    let mut p = planner(&map);
    p.reserve_loader(0x7000..0x90000, Use::Loader).unwrap();
    let err = p
        .place(Request::pages(Use::BootInfo, 0x20000).below(0xa0000))
        .unwrap_err();
    assert_eq!(
        err,
        PlanError::NoRoom {
            what: Use::BootInfo,
            size: 0x20000,
            align: 0x1000,
            min: 0,
            max: 0xa0000,
            largest: 0xfc00
        }
    );
    let message = std::format!("{err}");
    assert!(
        message.contains("no room for the boot information") && message.contains("64512 bytes"),
        "{message}"
    );
    for bad in [
        Request::pages(Use::Initrd, 0),
        Request::pages(Use::Initrd, 1).aligned(3),
        Request::pages(Use::Initrd, 1).above(MIB).below(MIB),
    ] {
        assert_eq!(
            p.place(bad),
            Err(PlanError::BadRequest { what: Use::Initrd })
        );
    }
}

#[test]
fn free_from_release_and_shrink() {
    let map = qemu_128m();
    let mut p = planner(&map);
    p.reserve_loader(0x4000000..0x7000000, Use::Download)
        .unwrap();
    assert_eq!(p.free_from(0x100001, 4096), Some(0x101000..0x4000000));
    // Take the block, use part of it.
    p.reserve(0x101000..0x4000000, Use::Module(0)).unwrap();
    assert!(p.shrink(Use::Module(0), 0x101000, 0x101400));
    assert!(
        !p.shrink(Use::Module(0), 0x101000, 0x4000000),
        "never grows"
    );
    assert_eq!(p.free_from(0x101000, 4096), Some(0x102000..0x4000000));
    assert_eq!(p.release(Use::Download), 1);
    assert_eq!(p.free_from(0x102000, 4096), Some(0x102000..0x7fe0000));
    assert_eq!(p.find(Use::Module(0)), Some(0x101000..0x101400));
    assert!(
        p.shrink(Use::Module(0), 0x101000, 0x101000),
        "to nothing: gone"
    );
    assert_eq!(p.find(Use::Module(0)), None);
}

#[test]
fn a_full_table_is_an_error_not_a_panic() {
    let map = qemu_128m();
    let mut p: Planner<2> = Planner::new(&MemoryMap::new(&map));
    p.reserve(0x100000..0x101000, Use::Module(0)).unwrap();
    p.reserve(0x102000..0x103000, Use::Module(1)).unwrap();
    assert_eq!(
        p.reserve(0x104000..0x105000, Use::Module(2)),
        Err(PlanError::TableFull {
            what: Use::Module(2)
        })
    );
}

// --- Properties over random maps and request sequences -----------------------------------
//
// Addresses are in units of 4 bytes within the first 4 KiB (plus a few near 4 GiB), so a brute
// force search over every aligned start, byte by byte, can check what `place` decides.

const UNIT: u64 = 4;
const SPACE: u64 = 1024; // units

fn random_map(rng: &mut Rng) -> Vec<E820Entry> {
    let mut entries = Vec::new();
    for _ in 0..1 + rng.below(8) {
        let base = rng.below(SPACE) * UNIT
            + if rng.below(4) == 0 {
                rng.below(UNIT)
            } else {
                0
            };
        let length = (1 + rng.below(SPACE / 2)) * UNIT;
        let kind = if rng.below(3) == 0 {
            E820_RESERVED
        } else {
            E820_RAM
        };
        entries.push(entry(base, length, kind));
    }
    if rng.below(4) == 0 {
        entries.push(entry(LIMIT - 64 * UNIT, 128 * UNIT, E820_RAM));
    }
    entries
}

fn random_use(rng: &mut Rng, i: usize) -> Use {
    match rng.below(6) {
        0 => Use::Module(i as u16),
        1 => Use::Segment(i as u16),
        2 => Use::Initrd,
        3 => Use::BootInfo,
        4 => Use::Staging(i as u16),
        _ => Use::Sections,
    }
}

fn random_request(rng: &mut Rng, i: usize) -> Request {
    let min = rng.below(SPACE) * UNIT / 2;
    let max = if rng.below(5) == 0 {
        LIMIT + UNIT
    } else {
        min + (1 + rng.below(SPACE)) * UNIT
    };
    Request {
        what: random_use(rng, i),
        size: 1 + rng.below(64 * UNIT),
        align: 1 << rng.below(13),
        min,
        max,
        prefer: if rng.below(2) == 0 {
            Prefer::Low
        } else {
            Prefer::High
        },
    }
}

/// Every aligned start in the window that a brute force finds free.
fn brute_force(p: &Planner<64>, r: &Request) -> Vec<u64> {
    let max = r.max.min(LIMIT);
    let mut starts = Vec::new();
    let mut candidate = r.min.div_ceil(r.align) * r.align;
    while candidate.checked_add(r.size).is_some_and(|end| end <= max) {
        if p.is_free(candidate, candidate + r.size) {
            starts.push(candidate);
        }
        // Jump over the dead space in the middle of the address range.
        candidate = if candidate > 4 * SPACE * UNIT && candidate < LIMIT - 256 * UNIT {
            (LIMIT - 256 * UNIT).div_ceil(r.align) * r.align
        } else {
            candidate + r.align
        };
    }
    starts
}

fn check_invariants(p: &Planner<64>) {
    let reservations = p.reservations();
    for pair in reservations.windows(2) {
        assert!(pair[0].start <= pair[1].start, "sorted");
    }
    for (i, a) in reservations.iter().enumerate() {
        if a.what.ends_at_handoff() || a.what == Use::Firmware {
            continue;
        }
        assert!(a.end <= LIMIT, "{a:?} below 4 GiB");
        assert!(
            p.ram().any(|run| run.start <= a.start && a.end <= run.end),
            "{a:?} inside usable RAM"
        );
        for b in &reservations[i + 1..] {
            let overlap = a.start < b.end && b.start < a.end;
            if overlap {
                assert!(
                    b.what.ends_at_handoff(),
                    "payload {a:?} overlaps {b:?}, which is not the loader's"
                );
            }
        }
    }
}

#[test]
fn random_plans_keep_every_promise() {
    let mut rng = Rng::new(0x5eed_1a9e);
    // How often each outcome came up: the test must see them all.
    let mut seen = [0u32; 6];
    for round in 0..150 {
        let map = random_map(&mut rng);
        let mut p = planner(&map);
        // Some loader ranges first, anywhere.
        for _ in 0..1 + rng.below(3) {
            let start = rng.below(SPACE) * UNIT;
            let what = if rng.below(2) == 0 {
                Use::Loader
            } else {
                Use::Download
            };
            p.reserve_loader(start..start + (1 + rng.below(256)) * UNIT, what)
                .unwrap();
        }
        for i in 0..20 {
            if rng.below(3) == 0 {
                // A fixed range: accepted only when RAM, and then free or over the loader.
                let start = rng.below(SPACE) * UNIT + rng.below(UNIT);
                let range = start..start + 1 + rng.below(32 * UNIT);
                let what = random_use(&mut rng, i);
                let before = p.clone();
                match p.reserve(range.clone(), what) {
                    Ok(Fixed::Free) => {
                        seen[0] += 1;
                        assert!(before.is_free(range.start, range.end))
                    }
                    Ok(Fixed::Deferred { under }) => {
                        seen[1] += 1;
                        assert!(under.ends_at_handoff())
                    }
                    Err(PlanError::NotRam { .. }) => {
                        seen[2] += 1;
                        assert!(
                            !before
                                .ram()
                                .any(|r| r.start <= range.start && range.end <= r.end)
                        )
                    }
                    Err(PlanError::Overlap { with, .. }) => {
                        seen[3] += 1;
                        assert!(!with.ends_at_handoff())
                    }
                    Err(PlanError::TableFull { .. }) => {}
                    Err(other) => panic!("round {round}: {other:?}"),
                }
            } else {
                let request = random_request(&mut rng, i);
                let feasible = brute_force(&p, &request);
                match p.place(request) {
                    Ok(range) => {
                        seen[4] += 1;
                        assert_eq!(range.end - range.start, request.size);
                        assert_eq!(range.start % request.align, 0, "aligned");
                        assert!(range.start >= request.min && range.end <= request.max.min(LIMIT));
                        let best = match request.prefer {
                            Prefer::Low => feasible.first(),
                            Prefer::High => feasible.last(),
                        };
                        assert_eq!(Some(&range.start), best, "round {round}: {request:?}");
                    }
                    Err(PlanError::NoRoom { largest, .. }) => {
                        seen[5] += 1;
                        assert!(
                            feasible.is_empty(),
                            "round {round}: {request:?} fits at {:#x}",
                            feasible[0]
                        );
                        assert!(largest < request.size || request.align > 1);
                    }
                    Err(PlanError::TableFull { .. }) => {}
                    Err(other) => panic!("round {round}: {other:?}"),
                }
            }
            check_invariants(&p);
        }
        // Releasing the loader's ranges never breaks a promise either.
        p.release(Use::Download);
        check_invariants(&p);
    }
    assert!(seen.iter().all(|&n| n >= 20), "outcomes seen: {seen:?}");
}

#[test]
fn free_blocks_cover_exactly_the_free_memory() {
    let mut rng = Rng::new(42);
    for _ in 0..200 {
        let map = random_map(&mut rng);
        let mut p = planner(&map);
        for i in 0..10 {
            let start = rng.below(SPACE) * UNIT;
            let _ = p.reserve(start..start + (1 + rng.below(16)) * UNIT, Use::Module(i));
        }
        let blocks: Vec<_> = p.free_blocks(0, 4 * SPACE * UNIT).collect();
        for pair in blocks.windows(2) {
            assert!(pair[0].end <= pair[1].start, "disjoint and sorted");
        }
        for unit in 0..SPACE * 2 {
            let (a, b) = (unit * UNIT / 2, unit * UNIT / 2 + 1);
            let in_block = blocks.iter().any(|r| r.start <= a && b <= r.end);
            assert_eq!(in_block, p.is_free(a, b), "byte {a:#x}");
        }
    }
}

#[test]
fn a_linux_initrd_request_is_placed_as_it_asks() {
    // Linux's placement policy gives requests of this very type (linux::placement).
    let map = qemu_128m();
    let mut p = planner(&map);
    let initrd = Request::pages(Use::Initrd, 0x30_0000)
        .above(0x200_0000)
        .below(0x400_0000)
        .highest();
    let place = p.place(initrd).unwrap();
    assert_eq!(place, 0x3d0_0000..0x400_0000);
    assert!(
        initrd.admits(place.start),
        "what the planner gives, the request admits"
    );
    assert!(!initrd.admits(place.start + 1) && !initrd.admits(0x3e0_0000));
}
