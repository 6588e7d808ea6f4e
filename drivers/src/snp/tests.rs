use std::boxed::Box;
use std::vec;
use std::vec::Vec;

use super::model::SnpModel;
use super::*;

fn buffers() -> Box<SnpBuffers> {
    Box::new(SnpBuffers::new())
}

#[test]
fn opens_from_every_state_the_firmware_may_leave() {
    for (state, calls) in [
        (
            SnpState::Stopped,
            &["start", "initialize", "receive_filters"][..],
        ),
        (SnpState::Started, &["initialize", "receive_filters"][..]),
        // After the firmware's PXE boot: initialized, maybe with more filters on.
        (SnpState::Initialized, &["receive_filters"][..]),
    ] {
        let mut model = SnpModel::new(state);
        model.filters = filter::MULTICAST;
        let mut b = buffers();
        let nic = Snp::open(&mut model, &mut b).unwrap();
        assert_eq!(nic.mac(), [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        drop(nic);
        assert_eq!(&model.calls[..calls.len()], calls, "from {state:?}");
    }
}

#[test]
fn filters_are_unicast_and_broadcast_only() {
    let mut model = SnpModel::new(SnpState::Initialized);
    model.filters = filter::MULTICAST | filter::PROMISCUOUS;
    let mut b = buffers();
    let nic = Snp::open(&mut model, &mut b).unwrap();
    core::mem::forget(nic); // keep the model's state as open left it
    assert_eq!(model.filters, filter::UNICAST | filter::BROADCAST);
}

#[test]
fn promiscuous_stands_in_and_otherwise_open_fails_clearly() {
    let mut model = SnpModel::new(SnpState::Initialized);
    model.filter_mask = filter::UNICAST | filter::PROMISCUOUS;
    let mut b = buffers();
    core::mem::forget(Snp::open(&mut model, &mut b).unwrap());
    assert_eq!(model.filters, filter::PROMISCUOUS);

    let mut model = SnpModel::new(SnpState::Initialized);
    model.filter_mask = filter::UNICAST;
    let error = Snp::open(&mut model, &mut b).err().unwrap();
    assert_eq!(error, SnpOpenError::Filters { mask: 1 });
    assert!(std::format!("{error}").contains("unicast and broadcast"));

    let mut model = SnpModel::new(SnpState::Stopped);
    model.mac = [0xff; 6];
    assert_eq!(
        Snp::open(&mut model, &mut b).err(),
        Some(SnpOpenError::NoMacAddress)
    );
    let mut model = SnpModel::new(SnpState::Stopped);
    model.max_packet_size = 576;
    assert_eq!(
        Snp::open(&mut model, &mut b).err(),
        Some(SnpOpenError::PacketSize(576))
    );
}

#[test]
fn transmit_pads_and_keeps_buffers_until_recycled() {
    let mut model = SnpModel::new(SnpState::Stopped);
    model.recycle_per_call = 0; // the "hardware" holds everything for now
    let mut b = buffers();
    let mut nic = Snp::open(&mut model, &mut b).unwrap();
    for i in 0..TX_SLOTS {
        assert!(nic.can_transmit());
        nic.transmit(&[i as u8; 20]).unwrap();
    }
    // All buffers are held: the driver must not overwrite one.
    assert!(!nic.can_transmit());
    assert_eq!(nic.transmit(&[0xee; 20]), Err(NicError::Busy));
    drop(nic);
    assert_eq!(model.sent.len(), TX_SLOTS);
    assert_eq!(model.sent[3], {
        let mut f = vec![3u8; 20];
        f.resize(MIN_FRAME_LEN, 0);
        f
    });
    assert_eq!(model.calls[model.calls.len() - 2..], ["shutdown", "stop"]);
    assert_eq!(model.state, SnpState::Stopped);
}

#[test]
fn recycled_buffers_are_reused_and_firmware_queue_full_is_busy() {
    let mut model = SnpModel::new(SnpState::Initialized);
    model.queue_limit = 3;
    model.recycle_per_call = 0;
    let mut b = buffers();
    let mut nic = Snp::open(&mut model, &mut b).unwrap();
    for _ in 0..3 {
        nic.transmit(&[1; 100]).unwrap();
    }
    assert_eq!(nic.transmit(&[2; 100]), Err(NicError::Busy), "NOT_READY");
    assert_eq!(
        nic.transmit(&[0; MAX_FRAME_LEN + 1]),
        Err(NicError::FrameTooLong)
    );
    drop(nic);
    // Now a firmware that recycles at once: hundreds of frames through eight buffers, each
    // checked unchanged while held (the model asserts it).
    let mut model = SnpModel::new(SnpState::Initialized);
    let mut nic = Snp::open(&mut model, &mut b).unwrap();
    for i in 0..300u32 {
        nic.transmit(&i.to_le_bytes().repeat(100)).unwrap();
    }
    drop(nic);
    assert_eq!(model.sent.len(), 300);
    assert_eq!(&model.sent[299][..4], &299u32.to_le_bytes());
}

#[test]
fn receive_hands_frames_and_drops_bad_ones() {
    let mut model = SnpModel::new(SnpState::Initialized);
    model.incoming.push_back(vec![7; 60]);
    model.incoming.push_back(vec![8; 1600]); // too long: dropped by the firmware
    model.incoming.push_back(vec![9; 1514]);
    let mut b = buffers();
    let mut nic = Snp::open(&mut model, &mut b).unwrap();
    let mut got: Vec<Vec<u8>> = Vec::new();
    while nic.receive_with(&mut |f| got.push(f.to_vec())) {}
    assert_eq!(got, [vec![7; 60], vec![9; 1514]]);
    assert_eq!(nic.receive_errors, 1);
    assert!(!nic.receive_with(&mut |_| panic!("no frame waits")));
    drop(nic);

    let mut model = SnpModel::new(SnpState::Initialized);
    model.receive_fault = Some(SnpStatus::Other(7));
    model.incoming.push_back(vec![1; 64]);
    let mut nic = Snp::open(&mut model, &mut b).unwrap();
    assert_eq!(nic.receive(|f| f.len()), Some(64), "an error is skipped");
}

#[test]
fn link_and_close() {
    let mut model = SnpModel::new(SnpState::Initialized);
    model.media = None;
    let mut b = buffers();
    let mut nic = Snp::open(&mut model, &mut b).unwrap();
    assert!(nic.link_up(), "an interface that cannot tell counts as up");
    nic.close();
    nic.close();
    assert!(!nic.link_up());
    assert_eq!(nic.transmit(&[0; 60]), Err(NicError::Closed));
    drop(nic);
    let closes = model.calls.iter().filter(|c| **c == "shutdown").count();
    assert_eq!(
        closes, 1,
        "close is idempotent, drop after close does nothing"
    );
}

/// The registry's entry: found only where the machine offers an interface, opened through the
/// DMA pool like every driver.
#[test]
fn registry_entry_finds_and_opens_what_the_machine_offers() {
    use crate::registry::{DmaPool, Found, Machine};
    use crate::testing::NoDelay;

    struct Firmware {
        delay: NoDelay,
        snp: Option<&'static mut SnpModel>,
    }
    impl Machine for Firmware {
        fn delay(&mut self) -> &mut dyn crate::hw::Delay {
            &mut self.delay
        }
        fn offers_snp(&mut self) -> bool {
            self.snp.is_some()
        }
        fn take_snp(&mut self) -> Option<&'static mut dyn SnpApi> {
            self.snp.take().map(|m| m as &mut dyn SnpApi)
        }
    }
    static POOL: DmaPool<{ DRIVER.dma_len }> = DmaPool::new();

    let mut bios = Firmware {
        delay: NoDelay::default(),
        snp: None,
    };
    assert!((DRIVER.find.unwrap())(&mut bios).is_none());
    assert!(!DRIVER.is_pci(), "no option ROM is built for it");

    let model: &'static mut SnpModel = Box::leak(Box::new(SnpModel::new(SnpState::Stopped)));
    let model_at = model as *const SnpModel;
    let mut uefi = Firmware {
        delay: NoDelay::default(),
        snp: Some(model),
    };
    let (name, location) = (DRIVER.find.unwrap())(&mut uefi).unwrap();
    let card = Found {
        driver: &DRIVER,
        model: name,
        location,
    };
    let nic = (DRIVER.open)(&card, &mut uefi, POOL.take().unwrap()).unwrap();
    nic.transmit(&[0xab; 42]).unwrap();
    assert_eq!(nic.mac(), [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    nic.close();
    // SAFETY: the driver is closed and holds the model no more.
    let model = unsafe { &*model_at };
    assert_eq!(model.sent.len(), 1);
    assert_eq!(model.state, SnpState::Stopped);
}
