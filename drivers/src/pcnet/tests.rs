use std::vec::Vec;

use super::model::PcnetModel;
use super::regs::*;
use super::*;
use crate::testing::{DmaWindow, Shared, leak_zeroed};

const MAC: MacAddress = [0x52, 0x54, 0x00, 0x12, 0x34, 0x57];
/// Bus address the model sees the buffers at (below 4 GiB, not the host address).
const BUS_BASE: u64 = 0x0007_0000;

type Driver = Pcnet<'static, Shared<PcnetModel>, DmaWindow>;

fn id() -> &'static PciId {
    probe(AMD_VENDOR_ID, 0x2000).unwrap()
}

fn buffers_and_window(bus_base: u64) -> (&'static mut PcnetBuffers, DmaWindow) {
    let buffers: &'static mut PcnetBuffers = leak_zeroed();
    let window = DmaWindow::over(buffers, bus_base);
    (buffers, window)
}

fn setup_with(configure: impl FnOnce(PcnetModel) -> PcnetModel) -> (Driver, Shared<PcnetModel>) {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let model = configure(PcnetModel::new(window, MAC)).shared();
    let nic = Pcnet::open(id(), model.clone(), window, buffers).expect("open");
    (nic, model)
}

fn setup() -> (Driver, Shared<PcnetModel>) {
    setup_with(|m| m)
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
    assert_eq!(core::mem::size_of::<PcnetBuffers>(), 62_112);
    assert_eq!(core::mem::size_of::<InitBlock>(), 28);
}

#[test]
fn probe_knows_the_pcnet_ids() {
    assert_eq!(
        probe(0x1022, 0x2000).unwrap().name,
        "PCnet-PCI II / FAST III"
    );
    assert!(probe(0x1022, 0x2001).is_some());
    assert!(probe(0x1022, 0x7000).is_none());
    assert!(probe(0x10EC, 0x2000).is_none());
}

#[test]
fn open_programs_style_2_rings_and_init_block_and_starts() {
    let (nic, model) = setup();
    let m = model.get();
    assert_eq!(nic.mac(), MAC);
    assert_eq!(nic.io_mode(), IoMode::Word);
    assert_eq!(nic.name(), "Am79C970A PCnet-PCI II", "from CSR88/89");
    assert_eq!(m.resets, 1);
    assert_eq!(m.bcr(BCR20) & 0xFF, SWSTYLE_PCNET_PCI);
    assert_eq!(m.padr, MAC, "init block PADR");
    assert_eq!(m.csr(CSR15), 0, "normal mode: our address and broadcasts");
    let csr0 = m.csr(CSR0);
    assert_eq!(
        csr0 & (CSR0_STRT | CSR0_RXON | CSR0_TXON | CSR0_STOP | CSR0_INEA | CSR0_IDON),
        CSR0_STRT | CSR0_RXON | CSR0_TXON,
        "started, interrupts off, IDON acknowledged: {csr0:#x}"
    );
    assert_eq!(m.csr(CSR3), CSR3_MASK_ALL);
    assert_ne!(m.csr(CSR4) & CSR4_DPOLL, 0, "no transmit polling");
    assert_eq!(m.rap(), CSR0, "RAP left at CSR0 for the hot path");
    let iadr = u64::from(m.csr(CSR1)) | u64::from(m.csr(CSR2)) << 16;
    assert_eq!(
        iadr,
        BUS_BASE + core::mem::offset_of!(PcnetBuffers, init) as u64,
        "init block given as a bus address"
    );
}

#[test]
fn a_chip_left_in_dword_mode_is_driven_in_dword_mode() {
    let (mut nic, model) = setup_with(|mut m| {
        m.keeps_dwio_on_reset = true;
        m.in_dword_mode()
    });
    assert_eq!(nic.io_mode(), IoMode::Dword);
    assert_eq!(nic.mac(), MAC, "the PROM read with dword reads");
    assert!(model.get().is_dword_mode());
    assert!(model.get().inject(&frame(3, 200)));
    assert_eq!(recv(&mut nic), Some(frame(3, 200)));
    nic.transmit(&frame(4, 80)).unwrap();
    assert_eq!(model.get().sent, [frame(4, 80)]);
    assert!(nic.link_up());
}

/// QEMU's chip leaves dword mode on an S_RESET: the driver then finds word mode.
#[test]
fn a_reset_that_leaves_dword_mode_is_seen() {
    let (nic, _model) = setup_with(|m| m.in_dword_mode());
    assert_eq!(nic.io_mode(), IoMode::Word);
    assert_eq!(nic.mac(), MAC);
}

#[test]
fn init_that_never_finishes_times_out_and_stops_the_chip() {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let mut model = PcnetModel::new(window, MAC);
    model.init_never_completes = true;
    let model = model.shared();
    let r = Pcnet::open(id(), model.clone(), window, buffers);
    assert_eq!(r.err(), Some(NicError::Timeout));
    assert_ne!(model.get().csr(CSR0) & CSR0_STOP, 0);
}

#[test]
fn all_zero_mac_is_refused() {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let model = PcnetModel::new(window, [0; 6]);
    let r = Pcnet::open(id(), model, window, buffers);
    assert_eq!(r.err(), Some(NicError::NoMacAddress));
}

#[test]
fn dma_memory_above_4_gib_is_refused() {
    let (buffers, window) = buffers_and_window(0xFFFF_8000);
    let model = PcnetModel::new(window, MAC);
    let r = Pcnet::open(id(), model, window, buffers);
    assert_eq!(r.err(), Some(NicError::BadDmaAddress));
}

#[test]
fn receives_frames_without_their_fcs_padded_by_the_chip() {
    let (mut nic, model) = setup();
    assert_eq!(recv(&mut nic), None);
    assert!(model.get().inject(&frame(7, 1514)));
    assert!(model.get().inject(&frame(8, 42)));
    assert_eq!(recv(&mut nic), Some(frame(7, 1514)));
    let mut padded = frame(8, 42);
    padded.resize(60, 0);
    assert_eq!(recv(&mut nic), Some(padded));
    assert_eq!(recv(&mut nic), None);
}

#[test]
fn the_rx_ring_wraps_and_every_descriptor_comes_back() {
    let (mut nic, model) = setup();
    for round in 0..5 * RX_RING_LEN {
        let tag = round as u8;
        assert!(
            model.get().inject(&frame(tag, 100 + round)),
            "round {round}"
        );
        assert_eq!(recv(&mut nic), Some(frame(tag, 100 + round)));
    }
    // A full ring, then one more: missed, not overwritten.
    for i in 0..RX_RING_LEN {
        assert!(model.get().inject(&frame(i as u8, 64)));
    }
    assert!(!model.get().inject(&frame(0xEE, 64)));
    assert_eq!(model.get().missed, 1);
    for i in 0..RX_RING_LEN {
        assert_eq!(recv(&mut nic), Some(frame(i as u8, 64)));
    }
    assert_eq!(recv(&mut nic), None);
}

#[test]
fn bad_and_split_frames_are_dropped_and_their_descriptors_reused() {
    let (mut nic, model) = setup();
    assert!(model.get().inject_with(&frame(1, 100), DESC_ERR | RMD1_CRC));
    model.get().inject_split(&frame(2, 1000), 600);
    assert!(model.get().inject(&frame(3, 100)));
    assert_eq!(recv(&mut nic), Some(frame(3, 100)), "only the good one");
    // All three descriptors (four buffers) went back to the chip: a full ring still fits.
    for i in 0..RX_RING_LEN {
        assert!(model.get().inject(&frame(i as u8, 64)), "descriptor {i}");
    }
}

/// QEMU's two-step hand-back: caught between the steps, the driver reads a register (which
/// waits for QEMU) and finds the whole frame, instead of taking a piece for a broken frame.
#[test]
fn a_descriptor_caught_halfway_is_waited_for() {
    let (mut nic, model) = setup();
    model.get().inject_halfway(&frame(4, 700));
    let before = model.accesses();
    assert_eq!(recv(&mut nic), Some(frame(4, 700)));
    assert_eq!(model.accesses() - before, 1);
    assert!(model.get().inject(&frame(5, 70)));
    assert_eq!(recv(&mut nic), Some(frame(5, 70)));
}

#[test]
fn transmit_pads_and_costs_one_register_write() {
    let (mut nic, model) = setup();
    let before = model.accesses();
    nic.transmit(&frame(5, 42)).unwrap();
    assert_eq!(model.accesses() - before, 1, "TDMD alone");
    let mut padded = frame(5, 42);
    padded.resize(60, 0);
    assert_eq!(model.get().sent, [padded]);
    assert_eq!(model.get().tdmd_writes, 1);
    let before = model.accesses();
    assert!(model.get().inject(&frame(6, 1000)));
    assert_eq!(recv(&mut nic), Some(frame(6, 1000)));
    assert_eq!(recv(&mut nic), None);
    assert_eq!(model.accesses(), before, "receiving reads only memory");
}

#[test]
fn a_full_tx_ring_is_busy_until_the_chip_sends() {
    let (mut nic, model) = setup();
    model.get().tx_paused = true;
    for i in 0..TX_RING_LEN {
        nic.transmit(&frame(i as u8, 100)).unwrap();
    }
    assert!(!nic.can_transmit());
    assert_eq!(nic.transmit(&frame(9, 100)), Err(NicError::Busy));
    model.get().release_tx();
    assert!(nic.can_transmit());
    for i in 0..3 * TX_RING_LEN {
        nic.transmit(&frame(i as u8, 200)).unwrap();
    }
    let sent = &model.get().sent;
    assert_eq!(sent.len(), 4 * TX_RING_LEN, "in order, none lost");
    assert_eq!(sent[0], frame(0, 100));
    assert_eq!(sent[TX_RING_LEN], frame(0, 200));
}

#[test]
fn too_long_a_frame_is_refused() {
    let (mut nic, _model) = setup();
    assert_eq!(
        nic.transmit_with(1515, &mut |_| unreachable!()),
        Err(NicError::FrameTooLong)
    );
}

#[test]
fn link_follows_the_led_and_rap_returns_to_csr0() {
    let (mut nic, model) = setup();
    assert!(nic.link_up());
    model.get().link = false;
    assert!(!nic.link_up());
    assert_eq!(model.get().rap(), CSR0);
    nic.transmit(&frame(1, 60)).unwrap();
    assert_eq!(model.get().sent.len(), 1, "TDMD still reaches CSR0");
}

#[test]
fn close_stops_the_chip_once() {
    let (mut nic, model) = setup();
    nic.close();
    assert_ne!(model.get().csr(CSR0) & CSR0_STOP, 0);
    assert!(!model.get().inject(&frame(1, 100)), "no DMA after close");
    let before = model.accesses();
    nic.close();
    drop(nic);
    assert_eq!(model.accesses(), before, "idempotent, also on drop");
}

#[test]
fn a_nic_reopened_after_close_works() {
    let (buffers, window) = buffers_and_window(BUS_BASE);
    let model = PcnetModel::new(window, MAC).shared();
    let buffers: *mut PcnetBuffers = buffers;
    // SAFETY: the first driver is dropped (closed) before the second uses the buffers.
    let mut first = Pcnet::open(id(), model.clone(), window, unsafe { &mut *buffers }).unwrap();
    first.transmit(&frame(1, 60)).unwrap();
    drop(first);
    // SAFETY: as above; the first driver is gone.
    let mut second = Pcnet::open(id(), model.clone(), window, unsafe { &mut *buffers }).unwrap();
    assert!(model.get().inject(&frame(2, 300)));
    assert_eq!(recv(&mut second), Some(frame(2, 300)));
}
