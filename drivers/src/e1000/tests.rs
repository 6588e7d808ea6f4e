use std::boxed::Box;
use std::vec::Vec;

use super::model::{E1000Model, SharedE1000Model};
use super::regs::*;
use super::*;
use crate::testing::{DmaWindow, NoDelay};

const MAC: MacAddress = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
/// Bus address the model sees the buffers at: not the host address, so a driver that leaks a
/// virtual address into a descriptor makes the model panic.
const BUS_BASE: u64 = 0x1_2340_0000;

type Driver = E1000<'static, SharedE1000Model, DmaWindow>;

fn chip(id: u16) -> &'static Chip {
    probe(INTEL_VENDOR_ID, id).unwrap()
}

fn setup_with(id: u16, configure: impl FnOnce(&mut E1000Model)) -> (Driver, SharedE1000Model) {
    let buffers: &'static mut E1000Buffers = Box::leak(Box::new(E1000Buffers::new()));
    let window = DmaWindow::over(buffers, BUS_BASE);
    let mut model = E1000Model::new(window, MAC, EepromLayout::of(chip(id)));
    configure(&mut model);
    let model = model.shared();
    let nic = E1000::open(
        chip(id),
        model.clone(),
        window,
        buffers,
        &mut NoDelay::default(),
    )
    .expect("open");
    (nic, model)
}

fn setup() -> (Driver, SharedE1000Model) {
    setup_with(0x100E, |_| {})
}

/// A recognisable frame: broadcast header, then `tag` repeated.
fn frame(tag: u8, len: usize) -> Vec<u8> {
    let mut f = std::vec![tag; len];
    f[..6].copy_from_slice(&[0xFF; 6]);
    f
}

fn recv(nic: &mut Driver) -> Option<Vec<u8>> {
    nic.receive(|f| f.to_vec())
}

#[test]
fn probe_knows_the_qemu_cards_and_nothing_else() {
    assert_eq!(probe(0x8086, 0x100E).unwrap().name, "82540EM");
    assert_eq!(probe(0x8086, 0x100F).unwrap().name, "82545EM copper");
    assert_eq!(
        EepromLayout::of(probe(0x8086, 0x10D3).unwrap()),
        EepromLayout::Pcie
    );
    assert_eq!(
        EepromLayout::of(probe(0x8086, 0x100C).unwrap()),
        EepromLayout::None
    );
    assert!(probe(0x10EC, 0x100E).is_none());
    assert!(probe(0x8086, 0x1234).is_none());
    for (i, a) in SUPPORTED_IDS.iter().enumerate() {
        assert!(
            SUPPORTED_IDS[i + 1..]
                .iter()
                .all(|b| b.device_id != a.device_id),
            "{a:?} twice"
        );
    }
}

#[test]
fn open_resets_and_programs_the_card() {
    let (nic, model) = setup();
    let m = model.get();
    assert_eq!(m.resets, 1);
    assert_eq!(nic.mac(), MAC);
    assert_eq!(nic.name(), "82540EM");
    assert_ne!(m.reg(CTRL) & CTRL_SLU, 0);
    assert_eq!(m.reg(CTRL) & (CTRL_LRST | CTRL_PHY_RST), 0);
    assert_eq!(m.reg(RAH0) & RAH_AV, RAH_AV);
    let rctl = m.reg(RCTL);
    assert_eq!(
        rctl & (RCTL_EN | RCTL_BAM | RCTL_SECRC),
        RCTL_EN | RCTL_BAM | RCTL_SECRC
    );
    assert_eq!(rctl & (3 << 16), 0, "BSIZE 2048");
    assert_eq!(m.reg(RDLEN), 256 * 16);
    assert_eq!(m.reg(RDT), 255);
    assert_eq!(m.reg(TDLEN), 16 * 16);
    assert_eq!(m.reg(TCTL) & (TCTL_EN | TCTL_PSP), TCTL_EN | TCTL_PSP);
    let rx_ring = u64::from(m.reg(RDBAL)) | u64::from(m.reg(RDBAH)) << 32;
    assert_eq!(rx_ring, BUS_BASE, "ring given as a bus address");
}

#[test]
fn mac_from_eeprom_when_ral_is_empty_legacy_layout() {
    let (nic, _) = setup_with(0x100E, |m| m.mac_in_ral = false);
    assert_eq!(nic.mac(), MAC);
}

#[test]
fn mac_from_eeprom_when_ral_is_empty_82574_layout() {
    let (nic, model) = setup_with(0x10D3, |m| m.mac_in_ral = false);
    assert_eq!(nic.mac(), MAC);
    // The MAC is written back to the filter so unicast frames are accepted.
    let m = model.get();
    assert_eq!(m.reg(RAL0), u32::from_le_bytes([0x52, 0x54, 0x00, 0x12]));
    assert_eq!(m.reg(RAH0), 0x5634 | RAH_AV);
}

#[test]
fn no_mac_anywhere_is_an_error() {
    let buffers = Box::leak(Box::new(E1000Buffers::new()));
    let window = DmaWindow::over(buffers, BUS_BASE);
    let mut model = E1000Model::new(window, MAC, EepromLayout::Legacy);
    model.mac_in_ral = false;
    model.eeprom = [0xFFFF; 64]; // erased EEPROM: broadcast address
    let r = E1000::open(
        chip(0x100E),
        model,
        window,
        buffers,
        &mut NoDelay::default(),
    );
    assert_eq!(r.err(), Some(NicError::NoMacAddress));
}

#[test]
fn reset_that_never_finishes_times_out() {
    let buffers = Box::leak(Box::new(E1000Buffers::new()));
    let window = DmaWindow::over(buffers, BUS_BASE);
    let mut model = E1000Model::new(window, MAC, EepromLayout::Legacy);
    model.reset_reads = u32::MAX;
    let mut delay = NoDelay::default();
    let r = E1000::open(chip(0x100E), model, window, buffers, &mut delay);
    assert_eq!(r.err(), Some(NicError::Timeout));
    assert!(delay.total_us >= 10_000, "waited {} us", delay.total_us);
}

#[test]
fn receives_a_frame_then_nothing() {
    let (mut nic, model) = setup();
    assert_eq!(recv(&mut nic), None);
    assert!(model.get().inject(&frame(7, 100)));
    assert_eq!(recv(&mut nic), Some(frame(7, 100)));
    assert_eq!(recv(&mut nic), None);
    // Descriptors go back in batches: RDT has not moved yet.
    assert_eq!(model.get().reg(RDT), RX_RING_LEN as u32 - 1);
}

#[test]
fn rx_descriptors_go_back_in_batches() {
    let (mut nic, model) = setup();
    for i in 0..RX_RETURN_BATCH as u8 {
        assert_eq!(model.get().reg(RDT), RX_RING_LEN as u32 - 1);
        assert!(model.get().inject(&frame(i, 100)));
        assert_eq!(recv(&mut nic), Some(frame(i, 100)));
    }
    // The batch went back: RDT sits on its last descriptor.
    assert_eq!(model.get().reg(RDT), RX_RETURN_BATCH as u32 - 1);
}

#[test]
fn rx_ring_wraps_many_times() {
    let (mut nic, model) = setup();
    for i in 0..5 * RX_RING_LEN as u32 {
        let f = frame(i as u8, 60 + (i as usize * 7) % 1454);
        assert!(model.get().inject(&f), "frame {i} dropped");
        assert_eq!(recv(&mut nic).as_deref(), Some(&f[..]), "frame {i}");
    }
}

#[test]
fn rx_overflow_drops_frames_and_recovers() {
    let (mut nic, model) = setup();
    let offered = RX_RING_LEN + 8;
    let accepted = (0..offered)
        .filter(|&i| model.get().inject(&frame(i as u8, 64)))
        .count();
    assert_eq!(accepted, RX_RING_LEN - 1);
    assert_eq!(model.get().missed as usize, offered - (RX_RING_LEN - 1));
    for i in 0..accepted {
        assert_eq!(recv(&mut nic), Some(frame(i as u8, 64)));
    }
    assert_eq!(recv(&mut nic), None);
    for i in 0..2 * RX_RING_LEN {
        assert!(model.get().inject(&frame(i as u8, 80)));
        assert_eq!(recv(&mut nic), Some(frame(i as u8, 80)));
    }
}

#[test]
fn bad_descriptors_are_skipped() {
    let (mut nic, model) = setup();
    {
        let mut m = model.get();
        m.inject_desc(&frame(1, 64), true, 0x01, None); // CRC error
        m.inject_desc(&frame(2, 64), true, 0, Some(4000)); // length beyond the buffer
        m.inject_desc(&frame(3, 64), true, 0, Some(0)); // empty
        m.inject_desc(&frame(4, 64), false, 0, None); // first part of a chained frame...
        m.inject_desc(&frame(5, 64), true, 0, None); // ...and its tail: both dropped
        m.inject(&frame(6, 64));
    }
    assert_eq!(recv(&mut nic), Some(frame(6, 64)));
    assert_eq!(recv(&mut nic), None);
}

#[test]
fn a_ring_full_of_bad_descriptors_does_not_loop() {
    let (mut nic, model) = setup();
    for _ in 0..RX_RING_LEN - 1 {
        model.get().inject_desc(&frame(1, 64), true, 0x80, None);
    }
    assert_eq!(recv(&mut nic), None);
    assert!(model.get().inject(&frame(9, 64)));
    assert_eq!(recv(&mut nic), Some(frame(9, 64)));
}

#[test]
fn transmits_and_pads_short_frames() {
    let (mut nic, model) = setup();
    nic.transmit(&frame(1, 200)).unwrap();
    nic.transmit(&frame(2, 14)).unwrap();
    let m = model.get();
    assert_eq!(m.sent.len(), 2);
    assert_eq!(m.sent[0], frame(1, 200));
    let mut padded = frame(2, 14);
    padded.resize(60, 0);
    assert_eq!(m.sent[1], padded);
    assert!(
        m.tx_cmds
            .iter()
            .all(|&c| c == TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS)
    );
}

#[test]
fn transmit_with_writes_in_place() {
    let (mut nic, model) = setup();
    nic.transmit_with(100, &mut |buf| {
        assert_eq!(buf.len(), 100);
        buf.fill(0xAB);
    })
    .unwrap();
    assert_eq!(model.get().sent[0], std::vec![0xAB; 100]);
}

#[test]
fn tx_ring_full_is_busy_until_the_card_catches_up() {
    let (mut nic, model) = setup();
    model.get().tx_paused = true;
    for i in 0..TX_RING_LEN - 1 {
        nic.transmit(&frame(i as u8, 64)).unwrap();
    }
    assert!(!nic.can_transmit());
    assert_eq!(nic.transmit(&frame(99, 64)), Err(NicError::Busy));
    assert!(model.get().sent.is_empty());
    model.get().complete_tx();
    assert!(nic.can_transmit());
    nic.transmit(&frame(100, 64)).unwrap();
    let m = model.get();
    assert_eq!(m.sent.len(), TX_RING_LEN - 1);
    assert!(
        m.sent
            .iter()
            .enumerate()
            .all(|(i, f)| *f == frame(i as u8, 64))
    );
}

#[test]
fn tx_ring_wraps_many_times() {
    let (mut nic, model) = setup();
    for i in 0..100u8 {
        nic.transmit(&frame(i, 64 + usize::from(i))).unwrap();
    }
    let m = model.get();
    assert_eq!(m.sent.len(), 100);
    assert!(
        m.sent
            .iter()
            .enumerate()
            .all(|(i, f)| *f == frame(i as u8, 64 + i))
    );
}

#[test]
fn oversize_frame_is_refused() {
    let (mut nic, model) = setup();
    assert_eq!(nic.transmit(&[0; 1515]), Err(NicError::FrameTooLong));
    nic.transmit(&[0; 1514]).unwrap();
    assert_eq!(model.get().sent.len(), 1);
}

#[test]
fn link_follows_the_phy() {
    let (mut nic, model) = setup();
    assert!(nic.link_up());
    model.get().link = false;
    assert!(!nic.link_up());
    model.get().link = true;
    assert!(nic.link_up());
}

#[test]
fn close_stops_the_card() {
    let (mut nic, model) = setup();
    nic.close();
    assert_eq!(model.get().resets, 2);
    assert_eq!(model.get().reg(RCTL) & RCTL_EN, 0);
    assert!(!model.get().inject(&frame(1, 64)));
    assert_eq!(nic.transmit(&frame(1, 64)), Err(NicError::Closed));
    assert!(!nic.can_transmit());
    assert_eq!(recv(&mut nic), None);
    nic.close(); // idempotent
    drop(nic);
    assert_eq!(model.get().resets, 2);
}

#[test]
fn drop_closes() {
    let (nic, model) = setup();
    drop(nic);
    assert_eq!(model.get().resets, 2);
}

#[test]
fn usable_through_dyn() {
    let (mut nic, model) = setup();
    let dyn_nic: &mut dyn Nic = &mut nic;
    model.get().inject(&frame(3, 70));
    let mut got = Vec::new();
    assert!(dyn_nic.receive_with(&mut |f| got.extend_from_slice(f)));
    assert_eq!(got, frame(3, 70));
    dyn_nic.transmit(&frame(4, 70)).unwrap();
    assert_eq!(model.get().sent.len(), 1);
}

#[test]
fn buffer_sizes_match_the_docs() {
    assert_eq!(core::mem::size_of::<E1000Buffers>(), 553_216);
    assert_eq!(core::mem::align_of::<E1000Buffers>(), 128);
    assert_eq!(core::mem::size_of::<RxDesc>(), 16);
    assert_eq!(core::mem::size_of::<TxDesc>(), 16);
}
