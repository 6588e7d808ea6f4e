use std::vec::Vec;

use super::model::{Eepro100Model, Unit};
use super::regs::*;
use super::*;
use crate::testing::{DmaWindow, NoDelay, Shared, leak_zeroed};

const MAC: MacAddress = [0x52, 0x54, 0x00, 0x12, 0x34, 0x58];
/// Bus address the model sees the buffers at (below 4 GiB, not the host address).
const BUS_BASE: u64 = 0x0006_0000;

type Driver = Eepro100<'static, Shared<Eepro100Model>, DmaWindow>;

fn id() -> &'static PciId {
    probe(INTEL_VENDOR_ID, 0x1229).unwrap()
}

fn buffers_and_window(bus_base: u64) -> (&'static mut Eepro100Buffers, DmaWindow) {
    let buffers: &'static mut Eepro100Buffers = leak_zeroed();
    let window = DmaWindow::over(buffers, bus_base);
    (buffers, window)
}

fn open(
    model: Eepro100Model,
    buffers: &'static mut Eepro100Buffers,
) -> (Result<Driver, NicError>, Shared<Eepro100Model>) {
    let window = model.window;
    let model = model.shared();
    let nic = Eepro100::open(
        id(),
        model.clone(),
        window,
        buffers,
        &mut NoDelay::default(),
    );
    (nic, model)
}

fn setup_with(
    words: usize,
    configure: impl FnOnce(&mut Eepro100Model),
) -> (Driver, Shared<Eepro100Model>) {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let mut model = Eepro100Model::new(window, MAC, words);
    configure(&mut model);
    let (nic, model) = open(model, buffers);
    (nic.expect("open"), model)
}

fn setup() -> (Driver, Shared<Eepro100Model>) {
    setup_with(64, |_| {})
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
fn buffers_are_as_documented() {
    assert_eq!(core::mem::size_of::<Eepro100Buffers>(), 61_504);
    assert_eq!(core::mem::size_of::<Rfd>(), 1536);
    assert_eq!(core::mem::size_of::<Tcb>(), 1536);
}

#[test]
fn probe_knows_qemus_ids() {
    assert_eq!(probe(0x8086, 0x1229).unwrap().name, "82557/8/9");
    assert_eq!(probe(0x8086, 0x1209).unwrap().name, "82559ER");
    assert!(probe(0x8086, 0x2449).is_some(), "i82801");
    assert!(probe(0x8086, 0x100E).is_none(), "an e1000");
    assert!(probe(0x10EC, 0x1229).is_none());
}

#[test]
fn open_resets_configures_and_starts_the_receiver() {
    let (nic, model) = setup();
    let m = model.get();
    assert_eq!(nic.mac(), MAC, "from EEPROM words 0-2");
    assert_eq!(m.resets, 1);
    assert_eq!(m.individual_address, MAC);
    assert_eq!(m.configuration, CONFIGURE);
    assert_eq!(
        m.configuration[15] & 0b11,
        0,
        "broadcasts in, not promiscuous"
    );
    assert_eq!(m.configuration[18] & 0b100, 0, "no CRC passed up");
    assert_eq!(m.intmask & INTMASK_ALL, INTMASK_ALL, "interrupts masked");
    assert_eq!(m.cu, Unit::Idle, "the setup list ended with EL");
    assert_eq!(m.ru, Unit::Ready);
    assert_eq!(
        m.commands,
        [CU_LOAD_BASE, RU_LOAD_BASE, CU_START, RU_START],
        "bases 0, setup list, receiver"
    );
}

#[test]
fn a_256_word_eeprom_is_read_with_8_address_bits() {
    let (nic, _model) = setup_with(256, |_| {});
    assert_eq!(nic.mac(), MAC);
}

#[test]
fn an_erased_eeprom_is_no_mac() {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let mut model = Eepro100Model::new(window, MAC, 64);
    model.eeprom.fill(0xFFFF);
    let (nic, model) = open(model, buffers);
    assert_eq!(nic.err(), Some(NicError::NoMacAddress));
    assert_eq!(model.get().resets, 2, "stopped again");
}

#[test]
fn setup_that_never_completes_times_out() {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let mut model = Eepro100Model::new(window, MAC, 64);
    model.cu_broken = true;
    let (nic, _model) = open(model, buffers);
    assert_eq!(nic.err(), Some(NicError::Timeout));
}

#[test]
fn dma_memory_above_4_gib_is_refused() {
    let (buffers, window) = buffers_and_window(0xFFFF_8000);
    let model = Eepro100Model::new(window, MAC, 64);
    let (nic, _model) = open(model, buffers);
    assert_eq!(nic.err(), Some(NicError::BadDmaAddress));
}

#[test]
fn receives_frames_and_reads_the_scb_once_each() {
    let (mut nic, model) = setup();
    let before = model.accesses();
    assert_eq!(recv(&mut nic), None);
    assert_eq!(model.accesses(), before, "an empty poll reads only memory");
    assert!(model.get().inject(&frame(7, 1514)));
    assert!(model.get().inject(&frame(8, 42)));
    assert_eq!(recv(&mut nic), Some(frame(7, 1514)));
    let mut padded = frame(8, 42);
    padded.resize(60, 0);
    assert_eq!(recv(&mut nic), Some(padded));
    assert_eq!(recv(&mut nic), None);
    assert_eq!(model.accesses() - before, 2, "one status read per frame");
}

#[test]
fn the_ring_wraps_with_the_end_of_list_moving_along() {
    let (mut nic, model) = setup();
    for round in 0..5 * RX_SLOTS {
        let tag = round as u8;
        assert!(
            model.get().inject(&frame(tag, 100 + round)),
            "round {round}"
        );
        assert_eq!(recv(&mut nic), Some(frame(tag, 100 + round)));
    }
    assert_eq!(model.get().ru, Unit::Ready);
    assert_eq!(model.get().dropped, 0);
}

/// A full ring stops the RU (the chip drops what comes next); once every frame is taken the
/// driver starts it again where it stopped.
#[test]
fn a_full_ring_stops_the_receiver_until_it_is_emptied() {
    let (mut nic, model) = setup();
    for i in 0..RX_SLOTS {
        assert!(model.get().inject(&frame(i as u8, 64)), "RFD {i}");
    }
    assert_eq!(model.get().ru, Unit::NoResources);
    assert!(!model.get().inject(&frame(0xEE, 64)), "dropped");
    for i in 0..RX_SLOTS {
        assert_eq!(recv(&mut nic), Some(frame(i as u8, 64)), "frame {i}");
    }
    assert_eq!(recv(&mut nic), None);
    assert_eq!(model.get().ru, Unit::Ready, "restarted");
    for round in 0..2 * RX_SLOTS {
        assert!(model.get().inject(&frame(round as u8, 80)));
        assert_eq!(
            recv(&mut nic),
            Some(frame(round as u8, 80)),
            "round {round}"
        );
    }
}

#[test]
fn a_frame_without_ok_is_dropped() {
    let (mut nic, model) = setup();
    assert!(model.get().inject_with(&frame(1, 100), 0));
    assert!(model.get().inject(&frame(2, 100)));
    assert_eq!(recv(&mut nic), Some(frame(2, 100)));
    assert_eq!(recv(&mut nic), None);
}

#[test]
fn transmit_starts_then_resumes_the_cu_one_block_each() {
    let (mut nic, model) = setup();
    let before = model.accesses();
    nic.transmit(&frame(1, 42)).unwrap();
    nic.transmit(&frame(2, 1514)).unwrap();
    let m = model.get();
    let mut padded = frame(1, 42);
    padded.resize(60, 0);
    assert_eq!(m.sent, [padded, frame(2, 1514)]);
    assert_eq!(m.commands[4..], [CU_START, CU_RESUME]);
    assert_eq!(m.cu, Unit::Suspended, "each block suspends the CU");
    drop(m);
    // Start: command check, pointer, command; then check and command per frame.
    assert_eq!(model.accesses() - before, 3 + 2);
}

/// Lockstep TFTP: a block in, an ACK out. The status read that ends a received frame also
/// shows the command byte clear, so the ACK's resume needs no wait: two accesses in all.
#[test]
fn a_lockstep_exchange_costs_a_read_and_a_write() {
    let (mut nic, model) = setup();
    nic.transmit(&frame(1, 60)).unwrap();
    for round in 0..3 {
        assert!(model.get().inject(&frame(round, 1000)));
        let before = model.accesses();
        assert_eq!(recv(&mut nic), Some(frame(round, 1000)));
        nic.transmit(&frame(round, 60)).unwrap();
        assert_eq!(model.accesses() - before, 2, "round {round}");
    }
    assert_eq!(model.get().sent.len(), 4);
}

#[test]
fn a_full_tx_ring_waits_for_the_cu() {
    let (mut nic, model) = setup();
    model.get().cu_paused = true;
    for i in 0..TX_SLOTS {
        nic.transmit(&frame(i as u8, 100)).unwrap();
    }
    assert_eq!(nic.transmit(&frame(9, 100)), Err(NicError::Busy));
    assert!(model.get().sent.is_empty());
    model.get().cu_paused = false;
    model.get().run_cu();
    assert_eq!(
        model.get().sent.len(),
        TX_SLOTS,
        "S cleared on the earlier blocks"
    );
    for i in 0..3 * TX_SLOTS {
        nic.transmit(&frame(i as u8, 200)).unwrap();
    }
    let m = model.get();
    assert_eq!(
        m.sent.len(),
        4 * TX_SLOTS,
        "in order, none lost, none twice"
    );
    assert_eq!(m.sent[TX_SLOTS + 5], frame(5, 200));
}

/// A resume the chip did not take (it was still busy, and had read the S bit already) leaves
/// a frame waiting: the next reclaim sees the CU suspended with work left and resumes it.
#[test]
fn a_lost_resume_is_repeated() {
    let (mut nic, model) = setup();
    nic.transmit(&frame(1, 100)).unwrap();
    model.get().resumes_to_lose = 1;
    nic.transmit(&frame(2, 100)).unwrap();
    assert_eq!(model.get().sent.len(), 1, "the second frame waits");
    assert!(nic.can_transmit());
    assert_eq!(model.get().sent, [frame(1, 100), frame(2, 100)]);
    assert_eq!(model.get().cu, Unit::Suspended);
    assert!(nic.can_transmit());
    assert_eq!(model.get().sent.len(), 2, "nothing sent twice");
}

#[test]
fn link_comes_from_the_phy() {
    let (mut nic, model) = setup();
    assert!(nic.link_up());
    model.get().link = false;
    assert!(!nic.link_up());
}

#[test]
fn close_stops_both_units_and_masks_interrupts_once() {
    let (mut nic, model) = setup();
    nic.transmit(&frame(1, 60)).unwrap();
    nic.close();
    {
        let m = model.get();
        assert_eq!((m.cu, m.ru), (Unit::Idle, Unit::Idle));
        assert_eq!(m.intmask, INTMASK_ALL);
    }
    assert!(!model.get().inject(&frame(1, 100)));
    assert_eq!(recv(&mut nic), None);
    assert_eq!(nic.transmit(&frame(1, 60)), Err(NicError::Closed));
    let before = model.accesses();
    drop(nic);
    assert_eq!(model.accesses(), before, "idempotent, also on drop");
}
