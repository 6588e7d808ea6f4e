//! A host model of a virtio-net device behind a fake `Transport`, for tests.
//!
//! The transport side ([`FakeNet`]) is what the driver owns; the device side ([`FakeNetDevice`])
//! is what the test drives: it takes frames off the transmit queue and puts frames into the
//! receive queue's buffers, reading and writing the split virtqueues in the driver's memory
//! exactly as a device would (the addresses are host pointers: the Hal is an identity map).
//! Nothing happens on its own: the device acts only when the test calls it.

use std::cell::RefCell;
use std::rc::Rc;
use std::vec::Vec;

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Feature bits (virtio 1.x, 5.1.3 and 6).
pub const F_MAC: u64 = 1 << 5;
pub const F_STATUS: u64 = 1 << 16;
pub const F_EVENT_IDX: u64 = 1 << 29;
pub const F_VERSION_1: u64 = 1 << 32;
/// What QEMU's virtio-net offers that the driver may take.
pub const QEMU_FEATURES: u64 = F_MAC | F_STATUS | F_EVENT_IDX | F_VERSION_1;

const RECEIVE_QUEUE: usize = 0;
const TRANSMIT_QUEUE: usize = 1;
const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;

#[derive(Debug, Default, Clone, Copy)]
struct Queue {
    size: u16,
    desc: PhysAddr,
    avail: PhysAddr,
    used: PhysAddr,
    enabled: bool,
    /// Next available-ring index the device will take.
    next_avail: u16,
    /// Next used-ring index the device will fill.
    next_used: u16,
}

#[derive(Debug)]
struct State {
    offered: u64,
    accepted: u64,
    status: DeviceStatus,
    config: [u8; 12],
    max_queue_size: u32,
    queues: [Queue; 2],
    notifications: [usize; 2],
    resets: usize,
}

/// The driver's end: a `Transport` over the shared device state.
#[derive(Debug)]
pub struct FakeNet {
    state: Rc<RefCell<State>>,
}

/// The test's end: acts as the device.
#[derive(Debug, Clone)]
pub struct FakeNetDevice {
    state: Rc<RefCell<State>>,
}

/// A device with this MAC offering `features`, its queues `max_queue_size` long.
pub fn fake_net(mac: [u8; 6], features: u64, max_queue_size: u32) -> (FakeNet, FakeNetDevice) {
    let mut config = [0u8; 12];
    config[..6].copy_from_slice(&mac);
    config[6..8].copy_from_slice(&1u16.to_le_bytes()); // status: link up
    let state = Rc::new(RefCell::new(State {
        offered: features,
        accepted: 0,
        status: DeviceStatus::empty(),
        config,
        max_queue_size,
        queues: [Queue::default(); 2],
        notifications: [0; 2],
        resets: 0,
    }));
    (
        FakeNet {
            state: state.clone(),
        },
        FakeNetDevice { state },
    )
}

impl Transport for FakeNet {
    fn device_type(&self) -> DeviceType {
        DeviceType::Network
    }

    fn read_device_features(&mut self) -> u64 {
        self.state.borrow().offered
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        self.state.borrow_mut().accepted = driver_features;
    }

    fn max_queue_size(&mut self, _queue: u16) -> u32 {
        self.state.borrow().max_queue_size
    }

    fn notify(&mut self, queue: u16) {
        if let Some(n) = self
            .state
            .borrow_mut()
            .notifications
            .get_mut(usize::from(queue))
        {
            *n += 1;
        }
    }

    fn get_status(&self) -> DeviceStatus {
        self.state.borrow().status
    }

    fn set_status(&mut self, status: DeviceStatus) {
        let mut state = self.state.borrow_mut();
        if status.is_empty() {
            state.resets += 1;
            state.queues = [Queue::default(); 2];
            state.accepted = 0;
        }
        state.status = status;
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}

    fn requires_legacy_layout(&self) -> bool {
        false
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        let mut state = self.state.borrow_mut();
        let q = &mut state.queues[usize::from(queue)];
        *q = Queue {
            size: size as u16,
            desc: descriptors,
            avail: driver_area,
            used: device_area,
            enabled: true,
            next_avail: 0,
            next_used: 0,
        };
    }

    fn queue_unset(&mut self, queue: u16) {
        self.state.borrow_mut().queues[usize::from(queue)] = Queue::default();
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.state.borrow().queues[usize::from(queue)].enabled
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        InterruptStatus::empty()
    }

    fn read_config_generation(&self) -> u32 {
        0
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, Error> {
        let state = self.state.borrow();
        let end = offset + core::mem::size_of::<T>();
        let bytes = state
            .config
            .get(offset..end)
            .ok_or(Error::ConfigSpaceTooSmall)?;
        T::read_from_bytes(bytes).map_err(|_| Error::ConfigSpaceTooSmall)
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        _offset: usize,
        _value: T,
    ) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
}

/// Reset the device when the driver lets go of it, as virtio-drivers' `PciTransport` does on
/// drop (which is how `VirtioNet::close` stops the card).
impl Drop for FakeNet {
    fn drop(&mut self) {
        self.set_status(DeviceStatus::empty());
    }
}

/// One descriptor as the device reads it.
#[derive(Debug, Clone, Copy)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

// The ring accessors dereference addresses the driver gave the device; they are host pointers
// into the driver's `VirtioBuffers` (identity Hal), valid while the card is open.
impl Queue {
    fn read_desc(&self, i: u16) -> Desc {
        let p = (self.desc + 16 * u64::from(i % self.size)) as usize as *const u8;
        // SAFETY: inside the descriptor table the driver set up (see above).
        unsafe {
            Desc {
                addr: p.cast::<u64>().read_volatile(),
                len: p.add(8).cast::<u32>().read_volatile(),
                flags: p.add(12).cast::<u16>().read_volatile(),
                next: p.add(14).cast::<u16>().read_volatile(),
            }
        }
    }

    fn avail_idx(&self) -> u16 {
        // SAFETY: the available ring's `idx` field (see above).
        unsafe { ((self.avail + 2) as usize as *const u16).read_volatile() }
    }

    /// Take the head of the next available chain.
    fn pop_avail(&mut self) -> Option<u16> {
        if !self.enabled || self.avail_idx() == self.next_avail {
            return None;
        }
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        let slot = u64::from(self.next_avail % self.size);
        // SAFETY: the available ring's entry `slot` (see above).
        let head = unsafe { ((self.avail + 4 + 2 * slot) as usize as *const u16).read_volatile() };
        self.next_avail = self.next_avail.wrapping_add(1);
        Some(head)
    }

    fn push_used(&mut self, head: u16, len: u32) {
        let slot = u64::from(self.next_used % self.size);
        let elem = (self.used + 4 + 8 * slot) as usize as *mut u32;
        // SAFETY: the used ring's entry `slot` and its `idx` (see above).
        unsafe {
            elem.write_volatile(u32::from(head));
            elem.add(1).write_volatile(len);
            core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
            self.next_used = self.next_used.wrapping_add(1);
            ((self.used + 2) as usize as *mut u16).write_volatile(self.next_used);
        }
    }

    fn set_used_flags(&self, flags: u16) {
        // SAFETY: the used ring's `flags` field (see above).
        unsafe { (self.used as usize as *mut u16).write_volatile(flags) }
    }

    /// `avail_event`, after the used ring's entries (EVENT_IDX).
    fn set_avail_event(&self, index: u16) {
        let at = self.used + 4 + 8 * u64::from(self.size);
        // SAFETY: the used ring's trailing `avail_event` field (see above).
        unsafe { (at as usize as *mut u16).write_volatile(index) }
    }

    fn pending(&self) -> usize {
        if !self.enabled {
            return 0;
        }
        usize::from(self.avail_idx().wrapping_sub(self.next_avail))
    }
}

impl FakeNetDevice {
    /// The virtio-net header length the driver must use, by the negotiated features.
    pub fn header_len(&self) -> usize {
        if self.state.borrow().accepted & F_VERSION_1 != 0 {
            12
        } else {
            10
        }
    }

    pub fn accepted_features(&self) -> u64 {
        self.state.borrow().accepted
    }

    /// Whether the driver finished initialisation (DRIVER_OK) and the device is running.
    pub fn is_running(&self) -> bool {
        self.state.borrow().status.contains(DeviceStatus::DRIVER_OK)
    }

    /// How many times the driver reset the device (wrote status 0).
    pub fn resets(&self) -> usize {
        self.state.borrow().resets
    }

    /// Whether the driver asked for no used-ring interrupts on both queues (the
    /// VIRTQ_AVAIL_F_NO_INTERRUPT flag; ignored by devices when EVENT_IDX is negotiated).
    pub fn interrupts_suppressed(&self) -> bool {
        self.state.borrow().queues.iter().all(|q| {
            // SAFETY: the available ring's `flags` field (see the note on `Queue`).
            q.enabled && unsafe { (q.avail as usize as *const u16).read_volatile() } & 1 != 0
        })
    }

    /// Buffers the driver has queued for receiving and the device has not filled yet.
    pub fn rx_buffers_available(&self) -> usize {
        self.state.borrow().queues[RECEIVE_QUEUE].pending()
    }

    /// Frames the driver has queued for sending and the device has not taken yet.
    pub fn tx_pending(&self) -> usize {
        self.state.borrow().queues[TRANSMIT_QUEUE].pending()
    }

    /// Receive `frame` from the wire: write a zero header and the frame into the next receive
    /// buffer. False if the driver has no buffer queued or it is too small.
    pub fn receive(&self, frame: &[u8]) -> bool {
        let header_len = self.header_len();
        let mut bytes = std::vec![0u8; header_len];
        if header_len == 12 {
            bytes[10] = 1; // num_buffers
        }
        bytes.extend_from_slice(frame);
        let used_len = bytes.len() as u32;
        self.receive_raw(&bytes, used_len)
    }

    /// Write `bytes` into the next receive buffer and report `used_len` bytes written (which
    /// may lie, to test the driver's checks).
    pub fn receive_raw(&self, bytes: &[u8], used_len: u32) -> bool {
        let mut state = self.state.borrow_mut();
        let q = &mut state.queues[RECEIVE_QUEUE];
        let Some(head) = q.pop_avail() else {
            return false;
        };
        let desc = q.read_desc(head);
        assert!(
            desc.flags & DESC_F_WRITE != 0,
            "RX buffer not device-writable"
        );
        assert!(
            desc.flags & DESC_F_NEXT == 0,
            "RX buffer split over descriptors"
        );
        if bytes.len() > desc.len as usize {
            return false;
        }
        // SAFETY: the driver's buffer, `desc.len` bytes long (checked above).
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                desc.addr as usize as *mut u8,
                bytes.len(),
            );
        }
        q.push_used(head, used_len);
        // As QEMU's virtio-net does after each frame: with buffers left, ask for no
        // notification (VRING_USED_F_NO_NOTIFY); with EVENT_IDX, point `avail_event` at the
        // next buffer it will take instead.
        let event_idx = state.accepted & F_EVENT_IDX != 0;
        let q = &mut state.queues[RECEIVE_QUEUE];
        if event_idx {
            q.set_avail_event(q.next_avail);
        } else {
            q.set_used_flags(u16::from(q.pending() > 0));
        }
        true
    }

    /// How often the driver notified `queue` (0 receive, 1 transmit).
    pub fn notifications(&self, queue: usize) -> usize {
        self.state.borrow().notifications[queue]
    }

    /// Send the next queued frame: its bytes after the header, or `None` if none is queued.
    pub fn transmit(&self) -> Option<Vec<u8>> {
        let header_len = self.header_len();
        let mut state = self.state.borrow_mut();
        let q = &mut state.queues[TRANSMIT_QUEUE];
        let head = q.pop_avail()?;
        let mut bytes = Vec::new();
        let mut i = head;
        for _ in 0..q.size {
            let desc = q.read_desc(i);
            assert!(
                desc.flags & DESC_F_WRITE == 0,
                "TX buffer marked device-writable"
            );
            // SAFETY: the driver's buffer, `desc.len` bytes long.
            let part = unsafe {
                core::slice::from_raw_parts(desc.addr as usize as *const u8, desc.len as usize)
            };
            bytes.extend_from_slice(part);
            if desc.flags & DESC_F_NEXT == 0 {
                break;
            }
            i = desc.next;
        }
        q.push_used(head, 0);
        assert!(
            bytes.len() >= header_len,
            "TX chain shorter than the header"
        );
        assert!(
            bytes[..header_len].iter().all(|&b| b == 0),
            "TX header asks for offloads"
        );
        Some(bytes.split_off(header_len))
    }
}
