use std::boxed::Box;
use std::vec::Vec;

use super::model::{Rtl8139Model, SharedRtl8139Model};
use super::regs::*;
use super::*;
use crate::hw::PortIo;
use crate::testing::DmaWindow;

const MAC: MacAddress = [0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF];
/// Bus address the model sees the buffers at (below 4 GiB, not the host address).
const BUS_BASE: u64 = 0x0009_0000;

type Driver = Rtl8139<'static, SharedRtl8139Model, DmaWindow>;

fn rtl() -> &'static Card {
    probe(0x10EC, 0x8139).unwrap()
}

fn buffers_and_window(bus_base: u64) -> (&'static mut Rtl8139Buffers, DmaWindow) {
    let buffers: &'static mut Rtl8139Buffers = Box::leak(Box::new(Rtl8139Buffers::new()));
    let window = DmaWindow::over(buffers, bus_base);
    (buffers, window)
}

fn setup() -> (Driver, SharedRtl8139Model) {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let model = Rtl8139Model::new(window, MAC).shared();
    let nic = Rtl8139::open(rtl(), model.clone(), window, buffers).expect("open");
    (nic, model)
}

fn frame(tag: u8, len: usize) -> Vec<u8> {
    let mut f = std::vec![tag; len];
    f[..6].copy_from_slice(&[0xFF; 6]);
    f
}

fn recv(nic: &mut Driver) -> Option<Vec<u8>> {
    nic.receive(|f| f.to_vec())
}

#[test]
fn probe_knows_the_8139_ids() {
    assert_eq!(probe(0x10EC, 0x8139).unwrap().name, "RTL8139");
    assert!(probe(0x1186, 0x1300).is_some());
    assert!(
        probe(0x10EC, 0x8168).is_none(),
        "the 8169 family is a different chip"
    );
    assert!(probe(0x8086, 0x8139).is_none());
}

#[test]
fn open_powers_up_resets_and_programs_the_chip() {
    let (nic, model) = setup();
    let mut m = model.get();
    assert_eq!(nic.mac(), MAC);
    assert_eq!(nic.name(), "RTL8139");
    assert_eq!(m.resets, 1);
    assert_eq!(m.config1(), 0);
    let rcr = m.rcr();
    assert_eq!(
        rcr & (RCR_WRAP | RCR_AB | RCR_APM),
        RCR_WRAP | RCR_AB | RCR_APM
    );
    assert_eq!(rcr & (0b11 << 11), 0, "8 KiB ring");
    assert_eq!(
        m.read32(RBSTART) as u64,
        BUS_BASE + core::mem::offset_of!(Rtl8139Buffers, rx) as u64,
        "ring given as a bus address"
    );
    assert_eq!(m.read16(IMR), 0);
    assert_eq!(m.read8(CR) & (CR_RE | CR_TE), CR_RE | CR_TE);
    assert_eq!(m.read16(CAPR), 0xFFF0);
}

#[test]
fn dma_memory_above_4_gib_is_refused() {
    let (buffers, window) = buffers_and_window(0xFFFF_F000);
    let model = Rtl8139Model::new(window, MAC);
    let r = Rtl8139::open(rtl(), model, window, buffers);
    assert_eq!(r.err(), Some(NicError::BadDmaAddress));
}

#[test]
fn reset_that_never_finishes_times_out() {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let mut model = Rtl8139Model::new(window, MAC);
    model.reset_reads = u32::MAX;
    let r = Rtl8139::open(rtl(), model, window, buffers);
    assert_eq!(r.err(), Some(NicError::Timeout));
}

#[test]
fn all_zero_mac_is_refused() {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let model = Rtl8139Model::new(window, [0; 6]).shared();
    let r = Rtl8139::open(rtl(), model.clone(), window, buffers);
    assert_eq!(r.err(), Some(NicError::NoMacAddress));
    assert_eq!(model.get().resets, 2, "closed again");
}

#[test]
fn receives_a_frame_without_its_crc_and_updates_capr() {
    let (mut nic, model) = setup();
    assert_eq!(recv(&mut nic), None);
    assert!(model.get().inject(&frame(7, 100)));
    assert_eq!(recv(&mut nic), Some(frame(7, 100)));
    assert_eq!(recv(&mut nic), None);
    // Next offset: (0 + (100 + 4) + 4 + 3) & !3 = 108; CAPR lags by 16.
    assert_eq!(model.get().read16(CAPR), 108 - 16);
}

#[test]
fn short_frames_arrive_padded_by_the_chip() {
    let (mut nic, model) = setup();
    model.get().inject(&frame(1, 42));
    let mut padded = frame(1, 42);
    padded.resize(60, 0);
    assert_eq!(recv(&mut nic), Some(padded));
}

#[test]
fn ring_wraps_many_times() {
    let (mut nic, model) = setup();
    for i in 0..600u32 {
        let f = frame(i as u8, 60 + (i as usize * 37) % 1455);
        assert!(model.get().inject(&f), "frame {i} dropped");
        assert_eq!(recv(&mut nic).as_deref(), Some(&f[..]), "frame {i}");
    }
    assert_eq!(nic.rx_restarts(), 0);
}

#[test]
fn ring_wraps_with_several_frames_queued() {
    let (mut nic, model) = setup();
    for round in 0..50u8 {
        let frames: Vec<_> = (0..3)
            .map(|i| frame(round.wrapping_add(i), 1000 + usize::from(i)))
            .collect();
        for f in &frames {
            assert!(model.get().inject(f));
        }
        for f in &frames {
            assert_eq!(recv(&mut nic).as_ref(), Some(f));
        }
    }
}

#[test]
fn overflow_drops_frames_and_recovers() {
    let (mut nic, model) = setup();
    // The strict kind of chip: nothing more arrives until the overflow is acknowledged.
    model.get().holds_rx_on_overflow = true;
    let mut accepted = 0;
    for i in 0..20u8 {
        if model.get().inject(&frame(i, 1000)) {
            accepted += 1;
        }
    }
    assert!((7..20).contains(&accepted), "accepted {accepted}");
    assert_ne!(model.get().isr() & ISR_RXOVW, 0);
    for i in 0..accepted {
        assert_eq!(recv(&mut nic), Some(frame(i, 1000)));
    }
    assert!(
        !model.get().inject(&frame(99, 700)),
        "held until acknowledged"
    );
    // Acknowledged within ISR_ACK_INTERVAL polls of an idle ring.
    for _ in 0..ISR_ACK_INTERVAL {
        assert_eq!(recv(&mut nic), None);
    }
    assert_eq!(model.get().isr() & ISR_RXOVW, 0, "overflow acknowledged");
    for i in 0..30u8 {
        assert!(model.get().inject(&frame(i, 700)));
        assert_eq!(recv(&mut nic), Some(frame(i, 700)));
    }
    assert_eq!(nic.rx_restarts(), 0);
}

/// A header the chip would never write must not make the driver panic or read outside its
/// buffer: it resets the ring and goes on.
fn bad_header_recovers(header: u32) {
    let (mut nic, model) = setup();
    model.get().inject(&frame(1, 200));
    assert!(model.get().inject_with_header(header, &[0x55; 64]));
    model.get().inject(&frame(2, 200));
    assert_eq!(recv(&mut nic), Some(frame(1, 200)));
    assert_eq!(recv(&mut nic), None, "header {header:#x}");
    assert_eq!(nic.rx_restarts(), 1);
    assert_eq!(model.get().resets, 2);
    assert_eq!(recv(&mut nic), None);
    assert!(model.get().inject(&frame(3, 300)));
    assert_eq!(recv(&mut nic), Some(frame(3, 300)));
    nic.transmit(&frame(4, 80)).unwrap();
    assert_eq!(model.get().sent.len(), 1);
}

#[test]
fn header_without_rok_resets_the_ring() {
    bad_header_recovers(0x0044_0002); // CRC error status, plausible length
}

#[test]
fn header_with_huge_length_resets_the_ring() {
    bad_header_recovers(0xFFFF_0001);
    bad_header_recovers(0x2000_0001);
    bad_header_recovers(0x0600_0001); // 1536: over the 1522 limit
}

#[test]
fn header_with_tiny_length_resets_the_ring() {
    bad_header_recovers(0x0000_0001);
    bad_header_recovers(0x0003_0001); // shorter than the CRC
    bad_header_recovers(0x003F_0001);
}

#[test]
fn early_rx_header_waits_then_gives_up() {
    let (mut nic, model) = setup();
    model.get().inject_with_header(0xFFF0_0000, &[0; 64]);
    for _ in 0..100 {
        assert_eq!(recv(&mut nic), None);
    }
    assert_eq!(
        nic.rx_restarts(),
        0,
        "an early-RX header is waited for first"
    );
    for _ in 0..EARLY_RX_POLLS {
        recv(&mut nic);
    }
    assert_eq!(nic.rx_restarts(), 1);
    assert!(model.get().inject(&frame(5, 64)));
    assert_eq!(recv(&mut nic), Some(frame(5, 64)));
}

#[test]
fn random_garbage_headers_never_panic() {
    let (mut nic, model) = setup();
    let mut seed = 0x1234_5678u32;
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let len = 60 + (seed as usize >> 8) % 1400;
        model.get().inject_with_header(seed, &std::vec![0xAA; len]);
        recv(&mut nic);
    }
    for _ in 0..3 {
        recv(&mut nic); // drain whatever garbage is left
    }
    assert!(model.get().inject(&frame(6, 64)));
    assert_eq!(recv(&mut nic), Some(frame(6, 64)));
}

#[test]
fn a_stale_header_from_the_last_lap_is_not_taken_as_a_frame() {
    let (mut nic, model) = setup();
    // 4 + 1016 + 4 bytes: eight frames fill the ring exactly, so after them the read offset
    // is back at 0, where the first frame's (valid-looking) header still is.
    for i in 0..8u8 {
        assert!(model.get().inject(&frame(i, 1016)));
        assert_eq!(recv(&mut nic), Some(frame(i, 1016)));
    }
    for _ in 0..3 {
        assert_eq!(recv(&mut nic), None);
    }
    assert!(model.get().inject(&frame(8, 100)));
    assert_eq!(recv(&mut nic), Some(frame(8, 100)));
    assert_eq!(nic.rx_restarts(), 0);
}

#[test]
fn a_lockstep_exchange_costs_five_register_accesses() {
    // What a TFTP block costs on the wire side: the DATA frame is received, the next poll finds
    // the ring empty, the ACK goes out. Under emulation each access is an exit into QEMU.
    let (mut nic, model) = setup();
    for i in 0..8u8 {
        nic.transmit(&frame(i, 64)).unwrap(); // every slot used once
    }
    let polls = ISR_ACK_INTERVAL as u64 * 4;
    let before = model.get().accesses;
    for i in 0..polls / 2 {
        assert!(model.get().inject(&frame(i as u8, 1470)));
        assert_eq!(recv(&mut nic).map(|f| f.len()), Some(1470));
        assert_eq!(recv(&mut nic), None);
        nic.transmit(&frame(i as u8, 60)).unwrap();
    }
    let per_exchange = (model.get().accesses - before) as f64 / (polls / 2) as f64;
    // CR + CAPR, CR, TSD read + TSD write; plus an ISR write every ISR_ACK_INTERVAL polls.
    assert_eq!(per_exchange, 5.0 + 2.0 / f64::from(ISR_ACK_INTERVAL));
    assert_eq!(model.get().tsad_writes, 4, "TSAD written once, at open");
}

#[test]
fn transmits_round_robin_and_pads_short_frames() {
    let (mut nic, model) = setup();
    for i in 0..10u8 {
        nic.transmit(&frame(i, 100 + usize::from(i))).unwrap();
    }
    nic.transmit(&frame(10, 20)).unwrap();
    let m = model.get();
    assert_eq!(m.sent.len(), 11);
    for i in 0..10u8 {
        assert_eq!(m.sent[usize::from(i)], frame(i, 100 + usize::from(i)));
    }
    let mut padded = frame(10, 20);
    padded.resize(60, 0);
    assert_eq!(m.sent[10], padded);
}

#[test]
fn four_slots_then_busy_until_the_chip_finishes() {
    let (mut nic, model) = setup();
    model.get().tx_paused = true;
    for i in 0..4u8 {
        nic.transmit(&frame(i, 64)).unwrap();
    }
    assert!(!nic.can_transmit());
    assert_eq!(nic.transmit(&frame(9, 64)), Err(NicError::Busy));
    model.get().complete_tx();
    assert!(nic.can_transmit());
    nic.transmit(&frame(4, 64)).unwrap();
    model.get().complete_tx();
    let m = model.get();
    assert_eq!(m.sent.len(), 5);
    assert!(
        m.sent
            .iter()
            .enumerate()
            .all(|(i, f)| *f == frame(i as u8, 64))
    );
}

#[test]
fn oversize_frame_is_refused() {
    let (mut nic, _) = setup();
    assert_eq!(nic.transmit(&[0; 1515]), Err(NicError::FrameTooLong));
    assert!(nic.transmit(&[0; 1514]).is_ok());
}

#[test]
fn link_comes_from_the_inverted_msr_bit() {
    let (mut nic, model) = setup();
    assert!(nic.link_up());
    model.get().link = false;
    assert!(!nic.link_up());
}

#[test]
fn close_stops_the_chip() {
    let (mut nic, model) = setup();
    nic.close();
    assert_eq!(model.get().resets, 2);
    assert!(!model.get().inject(&frame(1, 64)));
    assert_eq!(nic.transmit(&frame(1, 64)), Err(NicError::Closed));
    assert_eq!(recv(&mut nic), None);
    drop(nic);
    assert_eq!(model.get().resets, 2);
}

#[test]
fn buffer_size_matches_the_docs() {
    assert_eq!(core::mem::size_of::<Rtl8139Buffers>(), 66_304);
    assert_eq!(core::mem::align_of::<Rtl8139Buffers>(), 256);
}

// C+ mode (an RTL8139C+, as QEMU's model is).

fn setup_cplus() -> (Driver, SharedRtl8139Model) {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let mut model = Rtl8139Model::new(window, MAC);
    model.cplus = true;
    let model = model.shared();
    let nic = Rtl8139::open(rtl(), model.clone(), window, buffers).expect("open");
    (nic, model)
}

#[test]
fn an_8139cplus_runs_in_cplus_mode_and_a_plain_8139_does_not() {
    let (nic, model) = setup_cplus();
    assert!(nic.is_cplus());
    let m = model.get();
    assert_eq!(m.cpcr(), CPCR_RX_ENABLE | CPCR_TX_ENABLE);
    assert_eq!(m.rdsar(), BUS_BASE, "RX descriptors first in the buffers");
    assert_eq!(m.rdsar() % 256, 0);
    drop(m);
    let (nic, model) = setup();
    assert!(!nic.is_cplus());
    assert_eq!(model.get().cpcr(), 0);
}

#[test]
fn cplus_receives_and_sends_without_ring_registers() {
    // Per lockstep exchange: the frame, an empty poll, the answer. One TPPOLL write, plus
    // the periodic ISR acknowledgement; no CAPR, no CR, no TSD.
    let (mut nic, model) = setup_cplus();
    let exchanges = u64::from(ISR_ACK_INTERVAL) * 4;
    let before = model.get().accesses;
    for i in 0..exchanges {
        let tag = i as u8;
        assert!(
            model
                .get()
                .inject(&frame(tag, 60 + (i as usize * 37) % 1455))
        );
        assert_eq!(
            recv(&mut nic),
            Some(frame(tag, 60 + (i as usize * 37) % 1455))
        );
        assert_eq!(recv(&mut nic), None);
        nic.transmit(&frame(tag, 42)).unwrap();
    }
    let per_exchange = (model.get().accesses - before) as f64 / exchanges as f64;
    assert_eq!(per_exchange, 1.0 + 2.0 / f64::from(ISR_ACK_INTERVAL));
    let m = model.get();
    assert_eq!(m.sent.len(), exchanges as usize);
    let mut padded = frame(5, 42);
    padded.resize(60, 0);
    assert_eq!(m.sent[5], padded);
}

#[test]
fn cplus_ring_full_drops_then_recovers() {
    let (mut nic, model) = setup_cplus();
    let accepted = (0..40u8)
        .filter(|&i| model.get().inject(&frame(i, 1000)))
        .count();
    assert_eq!(accepted, CP_RX_DESCS, "one frame per descriptor");
    for i in 0..accepted {
        assert_eq!(recv(&mut nic), Some(frame(i as u8, 1000)));
    }
    assert_eq!(recv(&mut nic), None);
    for i in 0..100u8 {
        assert!(model.get().inject(&frame(i, 1514)));
        assert_eq!(recv(&mut nic), Some(frame(i, 1514)));
    }
}

#[test]
fn cplus_bad_descriptors_are_skipped() {
    let (mut nic, model) = setup_cplus();
    let bad_flags = [
        DESC_FS,                         // first segment only: a frame split over buffers
        DESC_LS,                         // last segment only
        DESC_FS | DESC_LS | RX_DESC_RES, // receive error
    ];
    for (i, flags) in bad_flags.into_iter().enumerate() {
        assert!(model.get().inject_cplus(&frame(i as u8, 100), flags));
    }
    assert!(model.get().inject_cplus(&[0xAB; 20], DESC_FS | DESC_LS)); // runt
    assert!(model.get().inject(&frame(9, 100)));
    assert_eq!(recv(&mut nic), Some(frame(9, 100)));
    assert_eq!(recv(&mut nic), None);
}

#[test]
fn cplus_four_frames_in_flight_then_busy_until_the_chip_sends() {
    let (mut nic, model) = setup_cplus();
    model.get().tx_paused = true;
    for i in 0..4u8 {
        nic.transmit(&frame(i, 64)).unwrap();
    }
    assert!(!nic.can_transmit());
    assert_eq!(nic.transmit(&frame(9, 64)), Err(NicError::Busy));
    model.get().complete_tx();
    for i in 4..10u8 {
        nic.transmit(&frame(i, 64)).unwrap();
        model.get().complete_tx();
    }
    let m = model.get();
    assert_eq!(m.sent.len(), 10);
    assert!(
        m.sent
            .iter()
            .enumerate()
            .all(|(i, f)| *f == frame(i as u8, 64))
    );
}

#[test]
fn cplus_close_turns_cplus_off() {
    let (mut nic, model) = setup_cplus();
    nic.close();
    assert_eq!(model.get().cpcr(), 0);
    assert!(!model.get().inject(&frame(1, 64)));
}
