use std::vec::Vec;

use super::model::Ne2kModel;
use super::regs::*;
use super::*;
use crate::testing::{Shared, leak_zeroed};

const MAC: MacAddress = [0x52, 0x54, 0x00, 0x12, 0x34, 0x59];

type Driver = Ne2k<'static, Shared<Ne2kModel>>;

fn id() -> &'static PciId {
    probe(0x10EC, 0x8029).unwrap()
}

fn open(model: Ne2kModel) -> (Result<Driver, NicError>, Shared<Ne2kModel>) {
    let model = model.shared();
    (Ne2k::open(id(), model.clone(), leak_zeroed()), model)
}

fn setup() -> (Driver, Shared<Ne2kModel>) {
    let (nic, model) = open(Ne2kModel::new(MAC));
    (nic.expect("open"), model)
}

fn frame(tag: u8, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| tag.wrapping_add(i as u8)).collect();
    f[..6].copy_from_slice(&[0xFF; 6]);
    f
}

fn recv(nic: &mut Driver) -> Option<Vec<u8>> {
    nic.receive(|f| f.to_vec())
}

#[test]
fn probe_knows_the_rtl8029_and_its_clones() {
    assert_eq!(probe(0x10EC, 0x8029).unwrap().name, "RTL8029");
    assert!(probe(0x1050, 0x0940).is_some());
    assert_eq!(
        probe(0x1106, 0x0926).unwrap().data & ONLY_16_BIT,
        ONLY_16_BIT
    );
    assert_eq!(probe(0x10EC, 0x8029).unwrap().data & ONLY_16_BIT, 0);
    assert!(
        probe(0x12C3, 0x5598).is_none(),
        "Holtek HT80229: 32-bit only, less memory"
    );
    assert!(probe(0x10EC, 0x8139).is_none());
}

#[test]
fn the_card_memory_holds_two_tx_buffers_and_the_ring() {
    assert!(usize::from(TX_PAGES) * PAGE_LEN >= MAX_FRAME_LEN);
    assert_eq!(RX_START, 0x4C);
    assert!(
        usize::from(RX_STOP - RX_START) * PAGE_LEN >= 8 * 1536,
        "8 long frames"
    );
}

#[test]
fn open_resets_reads_the_prom_and_starts_in_word_mode() {
    let (nic, model) = setup();
    let m = model.get();
    assert_eq!(nic.mac(), MAC, "the PROM's low bytes");
    assert_eq!(m.resets, 1);
    assert_eq!(m.dcr(), DCR_WORD);
    assert_eq!(m.par(), MAC);
    assert_eq!(m.ring(), (RX_START, RX_STOP));
    assert_eq!(m.bnry(), RX_STOP - 1);
    assert_eq!(m.rcr(), RCR_AB);
    assert_eq!(m.tcr(), TCR_NORMAL);
    assert!(m.is_started());
}

#[test]
fn a_reset_that_never_finishes_times_out() {
    let mut model = Ne2kModel::new(MAC);
    model.stuck_in_reset = true;
    let (nic, _) = open(model);
    assert_eq!(nic.err(), Some(NicError::Timeout));
}

#[test]
fn a_blank_prom_is_no_mac() {
    let (nic, model) = open(Ne2kModel::new([0xFF; 6]));
    assert_eq!(nic.err(), Some(NicError::NoMacAddress));
    assert!(!model.get().is_started());
}

#[test]
fn receives_frames_exactly_and_asks_the_chip_only_when_out_of_known_ones() {
    let (mut nic, model) = setup();
    assert_eq!(recv(&mut nic), None);
    for (tag, len) in [(1, 1514), (2, 42), (3, 333)] {
        assert!(model.get().inject(&frame(tag, len)));
    }
    let before = model.accesses();
    assert_eq!(recv(&mut nic), Some(frame(1, 1514)));
    let first = model.accesses() - before;
    let mut padded = frame(2, 42);
    padded.resize(60, 0);
    let before = model.accesses();
    assert_eq!(recv(&mut nic), Some(padded));
    let second = model.accesses() - before;
    // Nothing going out (no CR read): two remote reads (5 writes each), by dwords, and BNRY.
    // The first also asked ISR, cleared it and read CURR (page 1 and back): 5 more.
    let dwords = |len: usize| (len as u64).div_ceil(4);
    assert_eq!(second, 2 * 5 + dwords(4) + dwords(60) + 1);
    assert_eq!(first - dwords(1514), second - dwords(60) + 5);
    assert_eq!(recv(&mut nic), Some(frame(3, 333)));
    assert_eq!(recv(&mut nic), None);
}

#[test]
fn frames_wrap_round_the_ring_end() {
    let (mut nic, model) = setup();
    // Uneven sizes walk the frames over the ring's end many times.
    for round in 0..200usize {
        let len = 60 + (round * 379) % 1455;
        let tag = round as u8;
        assert!(model.get().inject(&frame(tag, len)), "round {round}");
        if round % 3 == 0 {
            assert!(model.get().inject(&frame(tag ^ 0x80, 1514)));
            assert_eq!(recv(&mut nic), Some(frame(tag, len)), "round {round}");
            assert_eq!(recv(&mut nic), Some(frame(tag ^ 0x80, 1514)));
        } else {
            assert_eq!(recv(&mut nic), Some(frame(tag, len)), "round {round}");
        }
    }
    assert_eq!(recv(&mut nic), None);
    assert_eq!(nic.rx_restarts(), 0);
}

/// A clone whose data port takes words only: the same frames, by words.
#[test]
fn a_16_bit_clone_moves_frames_by_words() {
    let mut model = Ne2kModel::new(MAC);
    model.dword_data = false;
    let model = model.shared();
    let via = probe(0x1106, 0x0926).unwrap();
    let mut nic = Ne2k::open(via, model.clone(), leak_zeroed()).unwrap();
    assert_eq!(nic.mac(), MAC);
    for round in 0..40usize {
        let len = 60 + (round * 379) % 1455;
        assert!(model.get().inject(&frame(round as u8, len)));
        assert_eq!(
            recv(&mut nic),
            Some(frame(round as u8, len)),
            "round {round}"
        );
        nic.transmit(&frame(round as u8, len - 1)).unwrap();
    }
    assert_eq!(model.get().sent.len(), 40);
    assert_eq!(model.get().sent[39], frame(39, 60 + (39 * 379) % 1455 - 1));
}

#[test]
fn a_full_ring_takes_frames_again_once_read() {
    let (mut nic, model) = setup();
    let mut n = 0;
    while model.get().inject(&frame(n as u8, 1514)) {
        n += 1;
    }
    assert!(n >= 7, "{n} long frames fit");
    assert_eq!(model.get().refused, 1);
    for i in 0..n {
        assert_eq!(recv(&mut nic), Some(frame(i as u8, 1514)));
    }
    assert_eq!(recv(&mut nic), None);
    assert!(model.get().inject(&frame(0xAA, 800)));
    assert_eq!(recv(&mut nic), Some(frame(0xAA, 800)));
}

#[test]
fn a_corrupt_header_starts_the_chip_over() {
    let (mut nic, model) = setup();
    assert!(model.get().inject(&frame(1, 100)));
    // The next-page byte of the header points outside the ring.
    model.get().poke(usize::from(RX_START) << 8 | 1, 0x10);
    assert_eq!(recv(&mut nic), None);
    assert_eq!(nic.rx_restarts(), 1);
    assert!(model.get().inject(&frame(2, 100)));
    assert_eq!(recv(&mut nic), Some(frame(2, 100)));
}

#[test]
fn an_overrun_starts_the_chip_over() {
    let (mut nic, model) = setup();
    model.get().overrun();
    assert_eq!(recv(&mut nic), None);
    assert_eq!(nic.rx_restarts(), 1);
    assert!(model.get().is_started());
}

#[test]
fn transmit_writes_odd_and_short_frames_whole() {
    let (mut nic, model) = setup();
    nic.transmit(&frame(1, 61)).unwrap();
    nic.transmit(&frame(2, 42)).unwrap();
    nic.transmit(&frame(3, 1514)).unwrap();
    let mut padded = frame(2, 42);
    padded.resize(60, 0);
    assert_eq!(model.get().sent, [frame(1, 61), padded, frame(3, 1514)]);
}

#[test]
fn one_frame_waits_while_the_other_goes_out() {
    let (mut nic, model) = setup();
    model.get().tx_paused = true;
    nic.transmit(&frame(1, 100)).unwrap();
    nic.transmit(&frame(2, 200)).unwrap();
    assert!(!nic.can_transmit());
    assert_eq!(nic.transmit(&frame(3, 300)), Err(NicError::Busy));
    model.get().finish_tx();
    assert!(
        nic.can_transmit(),
        "the waiting one started, its buffer is free"
    );
    assert_eq!(model.get().sent, [frame(1, 100)]);
    model.get().finish_tx();
    model.get().tx_paused = false;
    nic.transmit(&frame(4, 400)).unwrap();
    assert_eq!(
        model.get().sent,
        [frame(1, 100), frame(2, 200), frame(4, 400)]
    );
}

#[test]
fn link_is_up_while_open_and_close_stops_the_chip() {
    let (mut nic, model) = setup();
    assert!(nic.link_up());
    nic.close();
    assert!(!nic.link_up());
    assert!(!model.get().is_started());
    assert!(!model.get().inject(&frame(1, 100)));
    assert_eq!(nic.transmit(&frame(1, 60)), Err(NicError::Closed));
    let before = model.accesses();
    drop(nic);
    assert_eq!(model.accesses(), before);
}

/// Ports where nothing answers: reads give 0xFF; a probe must not write there.
struct EmptyPorts;

impl crate::hw::PortIo for EmptyPorts {
    fn read8(&mut self, _offset: u16) -> u8 {
        0xFF
    }
    fn read16(&mut self, _offset: u16) -> u16 {
        0xFFFF
    }
    fn read32(&mut self, _offset: u16) -> u32 {
        0xFFFF_FFFF
    }
    fn write8(&mut self, offset: u16, _value: u8) {
        panic!("the probe wrote to port {offset:#x} where nothing answers")
    }
    fn write16(&mut self, offset: u16, _value: u16) {
        panic!("the probe wrote to port {offset:#x} where nothing answers")
    }
    fn write32(&mut self, offset: u16, _value: u32) {
        panic!("the probe wrote to port {offset:#x} where nothing answers")
    }
}

#[test]
fn the_isa_probe_knows_an_ne2000_and_leaves_empty_ports_alone() {
    let mut delay = crate::testing::NoDelay::default();
    let mut model = Ne2kModel::new(MAC);
    assert!(is_ne2000(&mut model, &mut delay));
    assert!(!is_ne2000(&mut EmptyPorts, &mut delay));
    let mut stuck = Ne2kModel::new(MAC);
    stuck.stuck_in_reset = true;
    assert!(
        !is_ne2000(&mut stuck, &mut delay),
        "no reset: not an NE2000"
    );
    assert!(
        delay.total_us <= 2010,
        "gave up after 2 ms: {} us",
        delay.total_us
    );
    let mut other = Ne2kModel::new(MAC);
    other.poke(28, b'X');
    assert!(!is_ne2000(&mut other, &mut delay), "no WW mark");
}

/// An ISA board is driven by words, and found again after the probe left it stopped.
#[test]
fn an_isa_board_opens_after_its_probe() {
    let mut model = Ne2kModel::new(MAC);
    model.dword_data = false;
    assert!(is_ne2000(
        &mut model,
        &mut crate::testing::NoDelay::default()
    ));
    let model = model.shared();
    let mut nic = Ne2k::open(&ISA_NE2000, model.clone(), leak_zeroed()).unwrap();
    assert_eq!(nic.name(), "NE2000 (ISA)");
    assert_eq!(nic.mac(), MAC);
    assert!(model.get().inject(&frame(9, 999)));
    assert_eq!(recv(&mut nic), Some(frame(9, 999)));
    nic.transmit(&frame(8, 99)).unwrap();
    assert_eq!(model.get().sent, [frame(8, 99)]);
}
