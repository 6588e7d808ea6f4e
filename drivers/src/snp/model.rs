//! A model of a firmware's Simple Network Protocol for host tests: the state machine
//! (Stopped, Started, Initialized) with the spec's status for each call out of order, a
//! transmit queue that holds the caller's buffers until GetStatus recycles them (and checks
//! that the caller left them unchanged meanwhile), and a receive queue.

use std::collections::VecDeque;
use std::vec::Vec;

use super::{SnpApi, SnpState, SnpStatus, filter};
use crate::MacAddress;

/// A frame the firmware holds: where the caller's bytes are, and what they were when queued.
struct Held {
    frame: *const u8,
    copy: Vec<u8>,
}

pub struct SnpModel {
    pub state: SnpState,
    pub mac: MacAddress,
    pub filter_mask: u32,
    pub filters: u32,
    pub media: Option<bool>,
    pub max_packet_size: u32,
    /// How many frames the "hardware" takes before Transmit says NOT_READY.
    pub queue_limit: usize,
    held: VecDeque<Held>,
    /// Frames the wire has seen, in order.
    pub sent: Vec<Vec<u8>>,
    /// Frames waiting to be received.
    pub incoming: VecDeque<Vec<u8>>,
    /// How many of the held frames GetStatus hands back per call (0: the "hardware" is slow).
    pub recycle_per_call: usize,
    /// Every call, by name, for checking the order of the open and close sequences.
    pub calls: Vec<&'static str>,
    /// Status the next Receive returns instead of a frame (then cleared).
    pub receive_fault: Option<SnpStatus>,
}

impl SnpModel {
    pub fn new(state: SnpState) -> Self {
        SnpModel {
            state,
            mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
            filter_mask: filter::UNICAST
                | filter::MULTICAST
                | filter::BROADCAST
                | filter::PROMISCUOUS,
            filters: 0,
            media: Some(true),
            max_packet_size: 1500,
            queue_limit: 32,
            held: VecDeque::new(),
            sent: Vec::new(),
            incoming: VecDeque::new(),
            recycle_per_call: 1,
            calls: Vec::new(),
            receive_fault: None,
        }
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    fn initialized(&self) -> Result<(), SnpStatus> {
        match self.state {
            SnpState::Initialized => Ok(()),
            SnpState::Started => Err(SnpStatus::Other(0x8000_0000_0000_0007)), // DEVICE_ERROR
            SnpState::Stopped => Err(SnpStatus::NotStarted),
        }
    }
}

impl SnpApi for SnpModel {
    fn state(&self) -> SnpState {
        self.state
    }

    fn current_address(&self) -> MacAddress {
        self.mac
    }

    fn filter_mask(&self) -> u32 {
        self.filter_mask
    }

    fn media_present(&self) -> Option<bool> {
        self.media
    }

    fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    fn start(&mut self) -> Result<(), SnpStatus> {
        self.calls.push("start");
        match self.state {
            SnpState::Stopped => {
                self.state = SnpState::Started;
                Ok(())
            }
            _ => Err(SnpStatus::AlreadyStarted),
        }
    }

    fn initialize(&mut self) -> Result<(), SnpStatus> {
        self.calls.push("initialize");
        match self.state {
            SnpState::Started => {
                self.state = SnpState::Initialized;
                Ok(())
            }
            SnpState::Stopped => Err(SnpStatus::NotStarted),
            SnpState::Initialized => Err(SnpStatus::Other(0x8000_0000_0000_0007)),
        }
    }

    fn receive_filters(&mut self, enable: u32, disable: u32) -> Result<(), SnpStatus> {
        self.calls.push("receive_filters");
        self.initialized()?;
        if (enable | disable) & !self.filter_mask != 0 || enable & disable != 0 {
            return Err(SnpStatus::Other(0x8000_0000_0000_0002)); // INVALID_PARAMETER
        }
        self.filters = (self.filters | enable) & !disable;
        Ok(())
    }

    unsafe fn transmit(&mut self, frame: *const u8, len: usize) -> Result<(), SnpStatus> {
        self.initialized()?;
        if self.held.len() >= self.queue_limit {
            return Err(SnpStatus::NotReady);
        }
        // SAFETY: the caller promises `len` readable bytes at `frame` until recycled.
        let bytes = unsafe { core::slice::from_raw_parts(frame, len) }.to_vec();
        self.sent.push(bytes.clone());
        self.held.push_back(Held { frame, copy: bytes });
        Ok(())
    }

    fn recycled_transmit(&mut self) -> Result<Option<*const u8>, SnpStatus> {
        self.initialized()?;
        if self.recycle_per_call == 0 {
            return Ok(None);
        }
        let Some(held) = self.held.pop_front() else {
            return Ok(None);
        };
        // SAFETY: as in transmit: still the caller's promise.
        let now = unsafe { core::slice::from_raw_parts(held.frame, held.copy.len()) };
        assert_eq!(
            now,
            &held.copy[..],
            "the driver changed a transmit buffer the firmware still held"
        );
        Ok(Some(held.frame))
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<usize, SnpStatus> {
        self.initialized()?;
        if let Some(fault) = self.receive_fault.take() {
            return Err(fault);
        }
        let Some(frame) = self.incoming.front() else {
            return Err(SnpStatus::NotReady);
        };
        if frame.len() > buffer.len() {
            // As OVMF's VirtioNetDxe: the frame is dropped, its length reported.
            self.incoming.pop_front();
            return Err(SnpStatus::BufferTooSmall);
        }
        let frame = self.incoming.pop_front().unwrap();
        buffer[..frame.len()].copy_from_slice(&frame);
        Ok(frame.len())
    }

    fn shutdown(&mut self) -> Result<(), SnpStatus> {
        self.calls.push("shutdown");
        self.initialized()?;
        self.held.clear();
        self.state = SnpState::Started;
        Ok(())
    }

    fn stop(&mut self) -> Result<(), SnpStatus> {
        self.calls.push("stop");
        match self.state {
            SnpState::Started => {
                self.state = SnpState::Stopped;
                Ok(())
            }
            SnpState::Stopped => Err(SnpStatus::NotStarted),
            SnpState::Initialized => Err(SnpStatus::Other(0x8000_0000_0000_0007)),
        }
    }
}
