//! smoltcp's `phy::Device` over the drivers' `Nic` trait.

use netloader_drivers::{MAX_FRAME_LEN, Nic};
use netloader_proto::inet_checksum::{self, Verdict};
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

pub struct NicDevice<'n> {
    nic: &'n mut dyn Nic,
    /// The received frame is copied here: smoltcp may transmit (an ARP reply, an ACK) while
    /// it still holds the receive token, so the token cannot borrow the card.
    rx: [u8; MAX_FRAME_LEN],
    /// Sees every received frame while DHCP runs (smoltcp drops proxyDHCP offers).
    pub proxy: super::proxy::Listener,
}

impl<'n> NicDevice<'n> {
    pub fn new(nic: &'n mut dyn Nic) -> Self {
        let proxy = super::proxy::Listener::new(nic.mac());
        NicDevice {
            nic,
            rx: [0; MAX_FRAME_LEN],
            proxy,
        }
    }

    pub fn nic(&mut self) -> &mut dyn Nic {
        self.nic
    }
}

/// Bad frames `receive` drops before it returns empty-handed (the next poll goes on).
const MAX_DROPPED_PER_RECEIVE: usize = 64;

pub struct RxToken<'a>(&'a [u8]);
pub struct TxToken<'a>(&'a mut dyn Nic);

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut f = Some(f);
        let mut result = None;
        let _ = self.0.transmit_with(len, &mut |buffer| {
            if let Some(f) = f.take() {
                result = Some(f(buffer));
            }
        });
        match result {
            Some(result) => result,
            // The card refused the frame (ring full, too long): build it into scratch space
            // and drop it. Every protocol on top retransmits.
            None => {
                let mut scratch = [0u8; MAX_FRAME_LEN];
                let len = len.min(MAX_FRAME_LEN);
                (f.take().expect("closure not yet called"))(&mut scratch[..len])
            }
        }
    }
}

impl phy::Device for NicDevice<'_> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // A frame whose TCP or UDP checksum is wrong is dropped here (smoltcp does not check
        // them again, see `capabilities`); at most a ring's worth per call, as a driver's own
        // bad frames.
        for _ in 0..MAX_DROPPED_PER_RECEIVE {
            let mut len = 0;
            let rx = &mut self.rx;
            let got = self.nic.receive_with(&mut |frame| {
                len = frame.len().min(MAX_FRAME_LEN);
                rx[..len].copy_from_slice(&frame[..len]);
            });
            if !got {
                return None;
            }
            if inet_checksum::check_frame(&self.rx[..len]) == Verdict::Bad {
                continue;
            }
            self.proxy.observe(&self.rx[..len]);
            return Some((RxToken(&self.rx[..len]), TxToken(&mut *self.nic)));
        }
        None
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        self.nic.can_transmit().then_some(TxToken(&mut *self.nic))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME_LEN;
        caps.max_burst_size = Some(4);
        // `receive` has checked every TCP and UDP checksum (netloader_proto::inet_checksum, 4x
        // fewer instructions than smoltcp's loop): smoltcp computes them on transmit only.
        caps.checksum.tcp = Checksum::Tx;
        caps.checksum.udp = Checksum::Tx;
        caps
    }
}
