//! smoltcp's `phy::Device` over the drivers' `Nic` trait.

use netloader_drivers::{MAX_FRAME_LEN, Nic};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
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

/// `destination.copy_from_slice(source)` 8 bytes per step. The runtime's memcpy is one
/// `rep movsb`, which QEMU's TCG runs a byte per iteration (~7 us per full frame, as long as
/// the rest of a TFTP block's handling); these moves take a fraction of that. Same lengths.
fn copy_by_words(destination: &mut [u8], source: &[u8]) {
    let mut to = destination.chunks_exact_mut(8);
    let mut from = source.chunks_exact(8);
    for (to, from) in (&mut to).zip(&mut from) {
        let word = u64::from_ne_bytes([
            from[0], from[1], from[2], from[3], from[4], from[5], from[6], from[7],
        ]);
        // The barrier keeps LLVM from turning this loop back into a memcpy call.
        to.copy_from_slice(&core::hint::black_box(word).to_ne_bytes());
    }
    for (to, from) in to.into_remainder().iter_mut().zip(from.remainder()) {
        *to = *from;
    }
}

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
        let mut len = 0;
        let rx = &mut self.rx;
        let got = self.nic.receive_with(&mut |frame| {
            len = frame.len().min(MAX_FRAME_LEN);
            copy_by_words(&mut rx[..len], &frame[..len]);
        });
        if got {
            self.proxy.observe(&self.rx[..len]);
        }
        got.then(|| (RxToken(&self.rx[..len]), TxToken(&mut *self.nic)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        self.nic.can_transmit().then_some(TxToken(&mut *self.nic))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME_LEN;
        caps.max_burst_size = Some(4);
        caps
    }
}
