use std::vec::Vec;

use super::model::{PxeModel, State};
use super::*;

const MAC: MacAddress = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const OTHER: MacAddress = [0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc];

type Driver = Undi<PxeModel>;

fn open_with(configure: impl FnOnce(&mut PxeModel)) -> Driver {
    let mut model = PxeModel::new(MAC);
    configure(&mut model);
    Undi::open(model, false).unwrap_or_else(|e| panic!("open: {}", e.error))
}

fn open() -> Driver {
    open_with(|_| {})
}

/// An Ethernet frame to `dest` with `ethertype`, `len` bytes in all, filled from `seed`.
fn frame(dest: MacAddress, ethertype: [u8; 2], len: usize, seed: u32) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed) as u8)
        .collect();
    f[..6].copy_from_slice(&dest);
    f[6..12].copy_from_slice(&OTHER);
    f[12..14].copy_from_slice(&ethertype);
    f
}

fn recv(nic: &mut Driver) -> Option<Vec<u8>> {
    nic.receive(|f| f.to_vec())
}

/// A seeded xorshift, so a failing case replays exactly.
struct Rng(u32);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0 % n
    }
}

#[test]
fn open_reads_the_information_and_opens_for_directed_and_broadcast_frames() {
    let mut nic = open();
    assert_eq!(nic.mac(), MAC);
    assert_eq!(nic.information().mtu, 1500);
    assert_eq!(nic.information().irq, 11);
    let model = nic.api_mut();
    assert_eq!(
        model.calls,
        [
            api::UNDI_GET_INFORMATION,
            api::UNDI_SET_STATION_ADDRESS,
            api::UNDI_OPEN
        ],
        "no START/INITIALIZE: the ROM's stack is already up"
    );
    assert_eq!(model.mac, MAC);
    assert_eq!(
        model.filter,
        api::open::FLTR_DIRECTED | api::open::FLTR_BRDCST
    );
    assert_eq!(model.state, State::Open);
}

#[test]
fn a_stack_left_open_by_the_boot_is_closed_and_opened_again() {
    let mut nic = open_with(|m| m.strict_open = true);
    let calls = &nic.api_mut().calls;
    assert_eq!(
        calls,
        &[
            api::UNDI_GET_INFORMATION,
            api::UNDI_SET_STATION_ADDRESS,
            api::UNDI_OPEN,
            api::UNDI_CLOSE,
            api::UNDI_OPEN
        ]
    );
}

#[test]
fn a_failed_open_says_why_and_unloads_the_stack() {
    let mut model = PxeModel::new(MAC);
    model.fail = Some((api::UNDI_OPEN, 0x0063));
    let Err(failure) = Undi::open(model, false) else {
        panic!("open must fail");
    };
    assert_eq!(
        failure.error,
        UndiError::Call(CallError {
            opcode: api::UNDI_OPEN,
            status: 0x0063
        })
    );
    assert_eq!(
        std::format!("{}", failure.error),
        "PXENV_UNDI_OPEN failed with status 0x0063 (cannot initialize the card)"
    );
    assert!(failure.unloaded.all_ok());
    assert_eq!(failure.api.state, State::Gone);
    assert!(failure.api.released);
    assert_eq!(
        &failure.api.calls[3..],
        &[api::UNDI_SHUTDOWN, api::UNLOAD_STACK, api::STOP_UNDI]
    );
}

#[test]
fn only_ethernet_with_a_usable_address_is_driven() {
    let mut model = PxeModel::new(MAC);
    model.hw_type = 6;
    let Err(failure) = Undi::open(model, false) else {
        panic!("token ring must be refused");
    };
    assert_eq!(failure.error, UndiError::NotEthernet { hw_type: 6 });

    let nic = open_with(|m| m.mac = [0; 6]);
    assert_eq!(
        nic.mac(),
        MAC,
        "the permanent address when the current one is unusable"
    );

    let mut model = PxeModel::new([0xff; 6]);
    model.permanent_mac = [0; 6];
    let Err(failure) = Undi::open(model, false) else {
        panic!("no usable MAC");
    };
    assert_eq!(failure.error, UndiError::NoMacAddress);
}

#[test]
fn known_protocols_go_without_their_header_others_whole_short_frames_padded() {
    let mut nic = open();
    let ip = frame(OTHER, [0x08, 0x00], 300, 1);
    let arp = frame([0xff; 6], [0x08, 0x06], 42, 2);
    let odd = frame(OTHER, [0x88, 0xb5], 100, 3);
    for f in [&ip, &arp, &odd] {
        nic.transmit(f).unwrap();
    }
    let model = nic.api_mut();
    assert_eq!(model.sent.len(), 3);
    let mut padded_arp = arp.clone();
    padded_arp.resize(60, 0);
    padded_arp[6..12].copy_from_slice(&MAC); // the stack writes its own source address
    let mut ip_on_wire = ip.clone();
    ip_on_wire[6..12].copy_from_slice(&MAC);
    assert_eq!(model.sent[0].protocol, api::transmit::P_IP);
    assert_eq!(model.sent[0].wire, ip_on_wire);
    assert!(!model.sent[0].broadcast_flag);
    assert_eq!(model.sent[1].protocol, api::transmit::P_ARP);
    assert!(model.sent[1].broadcast_flag);
    assert_eq!(model.sent[1].wire, padded_arp);
    assert_eq!(model.sent[2].protocol, api::transmit::P_UNKNOWN);
    assert_eq!(
        model.sent[2].wire, odd,
        "an unknown protocol is sent as given"
    );
    assert_eq!(nic.counters().frames_sent, 3);
    assert_eq!(
        nic.transmit(&std::vec![0; MAX_FRAME_LEN + 1]),
        Err(NicError::FrameTooLong)
    );
}

#[test]
fn a_refused_send_is_a_lost_frame_not_an_error() {
    let mut nic = open_with(|m| m.fail = Some((api::UNDI_TRANSMIT, api::STATUS_OUT_OF_RESOURCES)));
    nic.transmit(&frame(OTHER, [0x08, 0x00], 100, 0)).unwrap();
    assert_eq!(nic.counters().send_errors, 1);
    assert_eq!(nic.counters().frames_sent, 0);
}

#[test]
fn frames_come_in_order_between_transmit_completions_then_done() {
    let mut nic = open();
    let a = frame(MAC, [0x08, 0x00], 1514, 7);
    let b = frame([0xff; 6], [0x08, 0x06], 60, 8);
    let c = frame(MAC, [0x08, 0x00], 200, 9);
    nic.transmit(&a).unwrap(); // one TX completion queued in the ISR
    {
        let model = nic.api_mut();
        model.wire_in.extend([a.clone(), b.clone(), c.clone()]);
    }
    assert_eq!(recv(&mut nic), Some(a));
    assert_eq!(recv(&mut nic), Some(b));
    assert_eq!(recv(&mut nic), Some(c));
    assert_eq!(recv(&mut nic), None);
    assert_eq!(recv(&mut nic), None);
    let isr_funcs: usize = nic
        .api_mut()
        .calls
        .iter()
        .filter(|&&c| c == api::UNDI_ISR)
        .count();
    // START, PROCESS (TX done), GET_NEXT x3 (frames), GET_NEXT (done); then START, PROCESS.
    assert_eq!(isr_funcs, 8);
    assert_eq!(nic.counters().frames_received, 3);
}

#[test]
fn frames_for_others_are_filtered_by_the_stack() {
    let mut nic = open();
    let mine = frame(MAC, [0x08, 0x00], 100, 1);
    nic.api_mut()
        .wire_in
        .extend([frame(OTHER, [0x08, 0x00], 100, 0), mine.clone()]);
    assert_eq!(recv(&mut nic), Some(mine));
    assert_eq!(recv(&mut nic), None);
}

/// The ROM says it has IRQ 11 and never raises it: nothing waits for an interrupt, every
/// frame arrives by polling alone.
#[test]
fn a_rom_that_claims_an_irq_and_never_raises_it_still_delivers_every_frame() {
    let mut nic = open_with(|m| m.irq = 11);
    assert_eq!(nic.information().irq, 11);
    for round in 0..20u32 {
        let f = frame(MAC, [0x08, 0x00], 64 + round as usize * 70, round);
        nic.api_mut().wire_in.push_back(f.clone());
        assert_eq!(recv(&mut nic), Some(f), "round {round}");
    }
}

#[test]
fn fragments_are_gathered_into_whole_frames() {
    let mut nic = open_with(|m| m.fragment = Some(500));
    let big = frame(MAC, [0x08, 0x00], 1514, 4);
    let small = frame(MAC, [0x08, 0x00], 400, 5);
    nic.api_mut().wire_in.extend([big.clone(), small.clone()]);
    assert_eq!(recv(&mut nic), Some(big));
    assert_eq!(recv(&mut nic), Some(small));
}

#[test]
fn impossible_lengths_drop_that_frame_and_the_next_one_arrives() {
    let mut nic = open_with(|m| m.insane_next = true);
    let bad = frame(MAC, [0x08, 0x00], 300, 1);
    let good = frame(MAC, [0x08, 0x00], 301, 2);
    nic.api_mut().wire_in.extend([bad, good.clone()]);
    assert_eq!(recv(&mut nic), Some(good));
    assert_eq!(nic.counters().receive_errors, 1);
}

#[test]
fn a_stack_that_never_says_done_cannot_hang_a_poll() {
    let mut nic = open_with(|m| m.never_done = true);
    assert_eq!(recv(&mut nic), None);
    let calls = nic.api_mut().calls.len();
    // Three to open, then START and at most ISR_CALLS_PER_POLL more.
    assert!(
        calls <= 3 + 1 + ISR_CALLS_PER_POLL,
        "{calls} calls: open, then one poll"
    );
    nic.close();
    assert_eq!(nic.api_mut().state, State::Gone, "close still unloads");
}

/// Seeded mixes of frame sizes, fragment sizes, sends and polls: every frame for us arrives
/// whole and in order, nothing else does, and no poll runs away.
#[test]
fn property_every_frame_arrives_once_in_order() {
    for seed in 1..=40u32 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9) | 1);
        let fragment = match rng.below(3) {
            0 => None,
            _ => Some(60 + rng.below(1400) as usize),
        };
        let mut nic = open_with(|m| m.fragment = fragment);
        let mut expected = Vec::new();
        let mut got = Vec::new();
        for step in 0..60u32 {
            match rng.below(4) {
                0 => {
                    let len = 14 + rng.below(1501) as usize;
                    let dest = match rng.below(3) {
                        0 => OTHER,
                        1 => [0xff; 6],
                        _ => MAC,
                    };
                    let f = frame(dest, [0x08, 0x00], len, seed ^ step);
                    if dest != OTHER {
                        expected.push(f.clone());
                    }
                    nic.api_mut().wire_in.push_back(f);
                }
                1 => nic.transmit(&frame(OTHER, [0x08, 0x00], 80, step)).unwrap(),
                _ => {
                    let before = nic.api_mut().calls.len();
                    if let Some(f) = recv(&mut nic) {
                        got.push(f);
                    }
                    let calls = nic.api_mut().calls.len() - before;
                    assert!(
                        calls <= ISR_CALLS_PER_POLL + 1,
                        "seed {seed}: {calls} calls"
                    );
                }
            }
        }
        for _ in 0..(expected.len() * 4 + 8) {
            if let Some(f) = recv(&mut nic) {
                got.push(f);
            }
        }
        assert_eq!(got.len(), expected.len(), "seed {seed}");
        assert!(got == expected, "seed {seed}: frames differ");
    }
}

#[test]
fn close_drains_the_isr_closes_and_unloads_then_refuses_work() {
    let mut nic = open_with(|m| m.fragment = Some(100));
    nic.api_mut().wire_in.extend([
        frame(MAC, [0x08, 0x00], 300, 1),
        frame(MAC, [0x08, 0x00], 300, 2),
    ]);
    assert!(recv(&mut nic).is_some()); // mid-sequence: the second frame is still pending
    let before = nic.api_mut().calls.len();
    nic.close();
    let calls = nic.api_mut().calls[before..].to_vec();
    let tail = &calls[calls.len() - 4..];
    assert_eq!(
        tail,
        [
            api::UNDI_CLOSE,
            api::UNDI_SHUTDOWN,
            api::UNLOAD_STACK,
            api::STOP_UNDI
        ]
    );
    assert!(
        calls[..calls.len() - 4].iter().all(|&c| c == api::UNDI_ISR),
        "only GET_NEXT before CLOSE"
    );
    assert!(nic.unload_status().unwrap().all_ok());
    assert_eq!(nic.api_mut().state, State::Gone);
    assert!(
        nic.api_mut().released,
        "the thunk is free for the hand-off's BIOS calls"
    );
    nic.close(); // idempotent: the model panics on a call into a gone stack
    assert_eq!(recv(&mut nic), None);
    assert_eq!(
        nic.transmit(&frame(OTHER, [0x08, 0x00], 60, 0)),
        Err(NicError::Closed)
    );
    assert!(!nic.link_up());
}

#[test]
fn dropping_the_driver_unloads_the_stack() {
    let nic = open();
    drop(nic); // the model would panic on a call after STOP_UNDI; nothing else to see
}

#[test]
fn unload_reports_each_step_and_a_legacy_stack_gets_cleanup() {
    let mut model = PxeModel::new(MAC);
    model.fail = Some((api::UNLOAD_STACK, 0x0005));
    let status = unload(&mut model, true);
    assert_eq!(
        status,
        UnloadStatus {
            shutdown: 0,
            unload_stack: 5,
            stop: 0
        }
    );
    assert_eq!(
        model.calls,
        [api::UNDI_SHUTDOWN, api::UNLOAD_STACK, api::UNDI_CLEANUP]
    );
    let mut model = PxeModel::new(MAC);
    model.fail = Some((api::UNDI_SHUTDOWN, 0));
    assert_eq!(unload(&mut model, false).shutdown, FAILED_WITHOUT_STATUS);
}

#[test]
fn nic_type_gives_the_pci_ids_and_address() {
    let mut model = PxeModel::new(MAC);
    model.pci = (0x15ad, 0x07b0, (1 << 8) | (3 << 3) | 2);
    assert_eq!(
        nic_type(&mut model),
        Ok(NicType::Pci {
            vendor: 0x15ad,
            device: 0x07b0,
            class: 2,
            subclass: 0,
            revision: 0,
            bus: 1,
            device_number: 3,
            function: 2,
            cardbus: false
        })
    );
}

/// A PXE stack that answers every call with random bytes (exit code, status, flags, lengths,
/// pointers): the driver must neither panic nor loop, whatever a broken ROM says.
struct HostileStack {
    rng: Rng,
    buffer: Vec<u8>,
}

impl PxeApi for HostileStack {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buffer
    }

    fn address_of(&self, offset: usize) -> SegOff {
        SegOff {
            segment: 0x80,
            offset: offset as u16,
        }
    }

    fn call(&mut self, opcode: u16) -> u16 {
        for byte in &mut self.buffer[PARAMS_AT..PARAMS_AT + 64] {
            *byte = self.rng.below(256) as u8;
        }
        // Open must get through to reach the receive loop: an Ethernet card with a MAC.
        if matches!(opcode, api::UNDI_GET_INFORMATION | api::UNDI_OPEN) {
            let block = &mut self.buffer[PARAMS_AT..];
            put_u16(
                block,
                api::information::HW_TYPE,
                api::information::ETHER_TYPE,
            );
            block[api::information::CURRENT_NODE_ADDRESS..][..6].copy_from_slice(&MAC);
            return api::EXIT_SUCCESS;
        }
        // ISR answers mostly near the valid ones, so frames get through now and then.
        if opcode == api::UNDI_ISR && self.rng.below(4) != 0 {
            let func = self.rng.below(6) as u16;
            let frame_len = self.rng.below(1600) as u16;
            let buffer_len = if self.rng.below(2) == 0 {
                frame_len
            } else {
                self.rng.below(1600) as u16
            };
            let block = &mut self.buffer[PARAMS_AT..];
            put_u16(block, api::isr::FUNC_FLAG, func);
            put_u16(block, api::isr::BUFFER_LENGTH, buffer_len);
            put_u16(block, api::isr::FRAME_LENGTH, frame_len);
        }
        u16::from(self.rng.below(8) == 0)
    }

    fn read(&mut self, _at: SegOff, out: &mut [u8]) -> bool {
        out.fill(0x5a);
        self.rng.below(4) != 0
    }
}

#[test]
fn a_hostile_stack_never_panics_the_driver() {
    let mut received = 0;
    for seed in 1..=300u32 {
        let stack = HostileStack {
            rng: Rng(seed.wrapping_mul(0x2545_f491) | 1),
            buffer: std::vec![0; BUFFER_LEN],
        };
        let Ok(mut nic) = Undi::open(stack, seed % 2 == 0) else {
            panic!("seed {seed}: open failed");
        };
        for step in 0..50u32 {
            let before = nic.counters().calls;
            if let Some(len) = nic.receive(|f| f.len()) {
                assert!(len > 0 && len <= MAX_FRAME_LEN, "seed {seed}: {len} bytes");
            }
            assert!(nic.counters().calls - before <= ISR_CALLS_PER_POLL as u64 + 1);
            let _ = nic.transmit(&frame(OTHER, [0x08, 0x00], 60 + step as usize, step));
        }
        nic.close();
        received += nic.counters().frames_received;
    }
    assert!(
        received > 1000,
        "the receive path was reached: {received} frames"
    );
}

#[test]
fn a_freshly_loaded_stack_is_started_then_opened() {
    let mut model = PxeModel::loaded(MAC);
    model.initialize_failures = 2;
    let mut delay = crate::testing::NoDelay::default();
    start_loaded(&mut model, 0x0018, &mut delay).unwrap();
    assert_eq!(model.started_with, Some(0x0018));
    assert_eq!(
        model.calls,
        [
            api::START_UNDI,
            api::UNDI_STARTUP,
            api::UNDI_INITIALIZE,
            api::UNDI_INITIALIZE,
            api::UNDI_INITIALIZE
        ]
    );
    assert_eq!(delay.total_us, 2 * 200_000, "waited between the tries");
    let mut nic = Undi::open(model, false).unwrap_or_else(|e| panic!("{}", e.error));
    let f = frame(MAC, [0x08, 0x00], 100, 1);
    nic.api_mut().wire_in.push_back(f.clone());
    assert_eq!(recv(&mut nic), Some(f));
}

#[test]
fn a_loaded_stack_that_never_initializes_gives_up_with_the_status() {
    let mut model = PxeModel::loaded(MAC);
    model.initialize_failures = 100;
    let mut delay = crate::testing::NoDelay::default();
    assert_eq!(
        start_loaded(&mut model, 0x0018, &mut delay),
        Err(CallError {
            opcode: api::UNDI_INITIALIZE,
            status: 0x0061
        })
    );
    assert_eq!(model.calls.len(), 2 + 10);
}
