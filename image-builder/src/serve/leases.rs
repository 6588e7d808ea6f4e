//! The address pool of `netloader serve --dhcp-range A-B` (full DHCP on a direct cable).
//!
//! One entry per address, so an address has at most one holder; a client holds at most one
//! address (taking one frees its others). An offer reserves its address for [`OFFER_HOLD`]; a
//! lease lasts [`LEASE_TIME`] and is renewed by the client's REQUEST. Expired addresses go back
//! to the pool, but a client asking again gets its old address when nobody took it since.
//! Leases live in memory only: after a restart, a renewing client is given its address back
//! when it is still free.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub const LEASE_TIME: Duration = Duration::from_secs(3600);
/// How long an offered address stays reserved for the client's REQUEST.
pub const OFFER_HOLD: Duration = Duration::from_secs(60);
/// How long an address a client declined (someone else answers ARP for it) stays out of use.
pub const DECLINE_HOLD: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Offered,
    Bound,
    /// A client said the address is in use by someone we do not know.
    Declined,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    mac: [u8; 6],
    state: State,
    expires: Instant,
}

/// What to answer a REQUEST for an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The address is the client's now, until the given time.
    Ack,
    /// Not this client's address (someone else holds it, or it is outside the range).
    Nak,
    /// An address of our range we have no record of (RFC 2131 4.3.2: stay silent for a
    /// client in INIT-REBOOT; the caller decides).
    NoRecord,
}

#[derive(Debug)]
pub struct Leases {
    first: u32,
    last: u32,
    entries: BTreeMap<u32, Entry>,
}

impl Leases {
    /// The addresses `first..=last` (first <= last).
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Leases {
        Leases {
            first: first.into(),
            last: last.into(),
            entries: BTreeMap::new(),
        }
    }

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&u32::from(addr))
    }

    /// Who holds `addr` now (an unexpired offer, lease or decline), if anyone.
    fn holder(&self, addr: u32, now: Instant) -> Option<&Entry> {
        self.entries.get(&addr).filter(|e| e.expires > now)
    }

    /// The address `mac` holds now, if any.
    pub fn address_of(&self, mac: [u8; 6], now: Instant) -> Option<Ipv4Addr> {
        self.entries
            .iter()
            .find(|(_, e)| e.mac == mac && e.state != State::Declined && e.expires > now)
            .map(|(&a, _)| Ipv4Addr::from(a))
    }

    /// Make `addr` the one entry of `mac` (dropping any other address it held).
    fn give(&mut self, mac: [u8; 6], addr: u32, state: State, expires: Instant) {
        self.entries
            .retain(|&a, e| a == addr || e.mac != mac || e.state == State::Declined);
        self.entries.insert(
            addr,
            Entry {
                mac,
                state,
                expires,
            },
        );
    }

    /// An address to offer `mac`: the one it holds, else the one it asks for (option 50) when
    /// free, else the one it had before when nobody took it since, else a never used one, else
    /// the one free the longest. None when every address is taken.
    pub fn offer(
        &mut self,
        mac: [u8; 6],
        requested: Option<Ipv4Addr>,
        now: Instant,
    ) -> Option<Ipv4Addr> {
        let held = self
            .entries
            .iter()
            .find(|(_, e)| e.mac == mac && e.state != State::Declined && e.expires > now)
            .map(|(&a, e)| (a, e.state));
        if let Some((addr, state)) = held {
            if state == State::Offered {
                self.give(mac, addr, State::Offered, now + OFFER_HOLD);
            }
            return Some(addr.into());
        }
        let free = |leases: &Leases, addr: u32| leases.holder(addr, now).is_none();
        let requested = requested
            .map(u32::from)
            .filter(|&a| (self.first..=self.last).contains(&a) && free(self, a));
        let previous = self
            .entries
            .iter()
            .find(|(_, e)| e.mac == mac && e.state != State::Declined)
            .map(|(&a, _)| a)
            .filter(|&a| free(self, a));
        let never_used = (self.first..=self.last).find(|a| !self.entries.contains_key(a));
        let longest_free = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires <= now)
            .min_by_key(|(_, e)| e.expires)
            .map(|(&a, _)| a);
        let addr = requested.or(previous).or(never_used).or(longest_free)?;
        self.give(mac, addr, State::Offered, now + OFFER_HOLD);
        Some(addr.into())
    }

    /// A REQUEST (or renewal) of `addr` by `mac`: bind it when it is the client's or free.
    pub fn request(&mut self, mac: [u8; 6], addr: Ipv4Addr, now: Instant) -> Verdict {
        let a = u32::from(addr);
        if !self.contains(addr) {
            return Verdict::Nak;
        }
        match self.entries.get(&a) {
            Some(e) if e.mac == mac && e.state != State::Declined => {
                self.give(mac, a, State::Bound, now + LEASE_TIME);
                Verdict::Ack
            }
            Some(e) if e.expires > now => Verdict::Nak,
            _ => Verdict::NoRecord,
        }
    }

    /// Bind a free address of the range to `mac` (a client we have no record of, renewing
    /// after a restart). False when someone else holds it.
    pub fn adopt(&mut self, mac: [u8; 6], addr: Ipv4Addr, now: Instant) -> bool {
        let a = u32::from(addr);
        if !self.contains(addr) || self.holder(a, now).is_some_and(|e| e.mac != mac) {
            return false;
        }
        self.give(mac, a, State::Bound, now + LEASE_TIME);
        true
    }

    /// The client gives `addr` back (DHCPRELEASE), or refused our offer.
    pub fn release(&mut self, mac: [u8; 6], addr: Ipv4Addr, now: Instant) {
        let a = u32::from(addr);
        if let Some(e) = self.entries.get_mut(&a)
            && e.mac == mac
            && e.state != State::Declined
        {
            e.expires = now;
        }
    }

    /// Drop the offer made to `mac` (it took another server's).
    pub fn forget_offer(&mut self, mac: [u8; 6], now: Instant) {
        for e in self.entries.values_mut() {
            if e.mac == mac && e.state == State::Offered {
                e.expires = now;
            }
        }
    }

    /// The client found `addr` in use by someone else (DHCPDECLINE): keep it out of the pool.
    pub fn decline(&mut self, mac: [u8; 6], addr: Ipv4Addr, now: Instant) {
        let a = u32::from(addr);
        if self.contains(addr) && self.entries.get(&a).is_some_and(|e| e.mac == mac) {
            self.entries.insert(
                a,
                Entry {
                    mac,
                    state: State::Declined,
                    expires: now + DECLINE_HOLD,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> [u8; 6] {
        [0x52, 0x54, 0, 0, 0, n]
    }

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, last)
    }

    #[test]
    fn no_address_is_handed_twice() {
        let now = Instant::now();
        let mut leases = Leases::new(ip(10), ip(13));
        let offered: Vec<_> = (1..=4).map(|n| leases.offer(mac(n), None, now)).collect();
        assert_eq!(
            offered,
            [Some(ip(10)), Some(ip(11)), Some(ip(12)), Some(ip(13))]
        );
        // The pool is empty: a fifth client gets nothing, the first gets its own again.
        assert_eq!(leases.offer(mac(5), None, now), None);
        assert_eq!(leases.offer(mac(1), Some(ip(12)), now), Some(ip(10)));
        // Asking for someone else's address does not take it.
        assert_eq!(leases.request(mac(1), ip(11), now), Verdict::Nak);
        assert_eq!(leases.request(mac(2), ip(11), now), Verdict::Ack);
    }

    #[test]
    fn offers_expire_leases_renew_and_old_addresses_come_back() {
        let t0 = Instant::now();
        let mut leases = Leases::new(ip(10), ip(11));
        assert_eq!(leases.offer(mac(1), None, t0), Some(ip(10)));
        // The offer lapses: another client may take the address.
        let t1 = t0 + OFFER_HOLD + Duration::from_secs(1);
        assert_eq!(leases.offer(mac(2), Some(ip(10)), t1), Some(ip(10)));
        assert_eq!(leases.request(mac(2), ip(10), t1), Verdict::Ack);
        assert_eq!(leases.address_of(mac(2), t1), Some(ip(10)));
        // mac(1) comes back and gets the other one.
        assert_eq!(leases.offer(mac(1), None, t1), Some(ip(11)));
        // A renewal extends the lease past its first end.
        let t2 = t1 + LEASE_TIME - Duration::from_secs(10);
        assert_eq!(leases.request(mac(2), ip(10), t2), Verdict::Ack);
        assert_eq!(
            leases.address_of(mac(2), t1 + LEASE_TIME + Duration::from_secs(5)),
            Some(ip(10))
        );
        // After the lease runs out, the client asking again still gets its old address.
        let t3 = t2 + LEASE_TIME * 2;
        assert_eq!(leases.offer(mac(2), None, t3), Some(ip(10)));
    }

    #[test]
    fn a_client_holds_one_address() {
        let now = Instant::now();
        let mut leases = Leases::new(ip(10), ip(12));
        assert_eq!(leases.offer(mac(1), None, now), Some(ip(10)));
        assert!(leases.adopt(mac(1), ip(12), now));
        assert_eq!(leases.address_of(mac(1), now), Some(ip(12)));
        // 10 is free again.
        assert_eq!(leases.offer(mac(2), None, now), Some(ip(10)));
        assert!(!leases.adopt(mac(3), ip(10), now));
    }

    #[test]
    fn requests_outside_or_unknown() {
        let now = Instant::now();
        let mut leases = Leases::new(ip(10), ip(12));
        assert_eq!(leases.request(mac(1), ip(50), now), Verdict::Nak);
        assert_eq!(
            leases.request(mac(1), Ipv4Addr::new(192, 168, 1, 10), now),
            Verdict::Nak
        );
        assert_eq!(leases.request(mac(1), ip(11), now), Verdict::NoRecord);
    }

    #[test]
    fn released_and_declined_addresses() {
        let now = Instant::now();
        let mut leases = Leases::new(ip(10), ip(11));
        assert_eq!(leases.offer(mac(1), None, now), Some(ip(10)));
        assert_eq!(leases.request(mac(1), ip(10), now), Verdict::Ack);
        leases.release(mac(1), ip(10), now);
        assert_eq!(leases.address_of(mac(1), now), None);
        // Declined: out of the pool, even for the client that declined it.
        leases.decline(mac(1), ip(10), now);
        assert_eq!(leases.offer(mac(1), None, now), Some(ip(11)));
        assert_eq!(leases.offer(mac(2), Some(ip(10)), now), None);
        let later = now + DECLINE_HOLD + Duration::from_secs(1);
        assert_eq!(leases.offer(mac(2), Some(ip(10)), later), Some(ip(10)));
        // Taking another server's offer frees ours at once.
        leases.forget_offer(mac(2), later);
        assert_eq!(leases.offer(mac(3), Some(ip(10)), later), Some(ip(10)));
    }
}
