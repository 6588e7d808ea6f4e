//! Cached DHCP packets: the good case, each refusal, and random and mutated packets that must
//! give an error or a sound lease, never a panic. A seeded PRNG keeps every run the same.

use std::vec::Vec;

use super::*;
use crate::test_rng::Rng;

/// A BOOTP reply (op 2) with `yiaddr`, `siaddr`, `file` and the given options after the cookie.
fn packet(yiaddr: [u8; 4], siaddr: [u8; 4], file: &[u8], options: &[(u8, &[u8])]) -> Vec<u8> {
    let mut p = std::vec![0u8; 236];
    p[0] = 2; // BOOTREPLY
    p[1] = 1; // Ethernet
    p[2] = 6;
    p[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p[16..20].copy_from_slice(&yiaddr);
    p[20..24].copy_from_slice(&siaddr);
    p[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    p[108..108 + file.len()].copy_from_slice(file);
    p.extend_from_slice(&[99, 130, 83, 99]);
    for (kind, data) in options {
        p.push(*kind);
        p.push(data.len() as u8);
        p.extend_from_slice(data);
    }
    p.push(255);
    p
}

fn ack() -> Vec<u8> {
    packet(
        [10, 0, 2, 15],
        [10, 0, 2, 2],
        b"netloader.pxe",
        &[
            (53, &[5]),
            (54, &[10, 0, 2, 2]),
            (1, &[255, 255, 255, 0]),
            (3, &[10, 0, 2, 2]),
            (51, &[0, 0, 0x0e, 0x10]),
        ],
    )
}

fn proxy_reply() -> Vec<u8> {
    packet(
        [0, 0, 0, 0],
        [192, 168, 7, 1],
        b"boot/netloader.pxe",
        &[
            (53, &[5]),
            (54, &[192, 168, 7, 1]),
            (209, b"netloader.cfg/lab"),
            (210, b"/tftp/"),
        ],
    )
}

#[test]
fn ack_alone() {
    let lease = CachedLease::from_packets(&ack(), None).unwrap();
    assert_eq!(lease.address, Ipv4Addr::new(10, 0, 2, 15));
    assert_eq!(lease.prefix_len, 24);
    assert_eq!(lease.router, Some(Ipv4Addr::new(10, 0, 2, 2)));
    assert_eq!(lease.dhcp_server, Ipv4Addr::new(10, 0, 2, 2));
    assert_eq!(lease.boot.tftp_server, Some(Ipv4Addr::new(10, 0, 2, 2)));
    assert_eq!(lease.boot.boot_file.as_deref(), Some("netloader.pxe"));
}

#[test]
fn boot_server_reply_overrides_the_ack() {
    let lease = CachedLease::from_packets(&ack(), Some(&proxy_reply())).unwrap();
    assert_eq!(lease.address, Ipv4Addr::new(10, 0, 2, 15));
    assert_eq!(lease.boot.tftp_server, Some(Ipv4Addr::new(192, 168, 7, 1)));
    assert_eq!(lease.boot.boot_file.as_deref(), Some("boot/netloader.pxe"));
    assert_eq!(lease.boot.config_file.as_deref(), Some("netloader.cfg/lab"));
    assert_eq!(lease.boot.path_prefix.as_deref(), Some("/tftp/"));
    // A reply that does not parse is ignored, not an error.
    let lease = CachedLease::from_packets(&ack(), Some(&[1, 2, 3])).unwrap();
    assert_eq!(lease.boot.boot_file.as_deref(), Some("netloader.pxe"));
}

#[test]
fn refusals() {
    use CachedAckError::*;
    assert_eq!(CachedLease::from_packets(&[], None), Err(TooShort));
    assert_eq!(
        CachedLease::from_packets(&ack()[..200], None),
        Err(TooShort)
    );
    let mut no_cookie = ack();
    no_cookie[236] = 0;
    assert_eq!(CachedLease::from_packets(&no_cookie, None), Err(NotDhcp));
    let offer = packet(
        [10, 0, 2, 15],
        [0; 4],
        b"",
        &[(53, &[2]), (54, &[10, 0, 2, 2])],
    );
    assert_eq!(CachedLease::from_packets(&offer, None), Err(NotAck));
    let no_address = packet([0; 4], [0; 4], b"", &[(53, &[5]), (54, &[10, 0, 2, 2])]);
    assert_eq!(CachedLease::from_packets(&no_address, None), Err(NoAddress));
    let bad_mask = packet(
        [10, 0, 2, 15],
        [0; 4],
        b"",
        &[(53, &[5]), (54, &[10, 0, 2, 2]), (1, &[255, 0, 255, 0])],
    );
    assert_eq!(CachedLease::from_packets(&bad_mask, None), Err(BadMask));
}

/// Flips bytes (mostly in the options, where the lengths are), cuts the end, or inserts an
/// option with a random length byte.
fn mutate(rng: &mut Rng, p: &mut Vec<u8>) {
    for _ in 0..=rng.index(4) {
        match rng.index(4) {
            0 if !p.is_empty() => {
                let at = rng.index(p.len());
                p[at] = rng.next_u64() as u8;
            }
            1 => {
                let at = 240 + rng.index(p.len().saturating_sub(240).max(1));
                if at < p.len() {
                    p[at] = rng.next_u64() as u8;
                }
            }
            2 | 0 => p.truncate(rng.index(p.len() + 1)),
            _ => {
                let at = 240.min(p.len());
                let len = rng.next_u64() as u8;
                let kinds = [1, 3, 53, 54, 66, 67, 209, 210, 52, 0, 255];
                let option = [kinds[rng.index(kinds.len())], len, rng.next_u64() as u8];
                p.splice(at..at, option);
            }
        }
    }
}

fn check(ack: &[u8], reply: Option<&[u8]>) {
    if let Ok(lease) = CachedLease::from_packets(ack, reply) {
        assert!(!lease.address.is_unspecified());
        assert!(lease.prefix_len <= 32);
        for name in [
            &lease.boot.boot_file,
            &lease.boot.config_file,
            &lease.boot.path_prefix,
        ] {
            assert!(
                name.as_ref()
                    .is_none_or(|n| !n.is_empty() && !n.contains('\0'))
            );
        }
    }
}

#[test]
fn message_len_ends_at_the_end_option() {
    let mut buffer = ack();
    let len = buffer.len();
    buffer.extend_from_slice(&[0x42; 300]); // stale bytes of an older, longer answer
    assert_eq!(message_len(&buffer), Some(len));
    let mut padded = ack();
    padded.insert(240, 0); // a pad option before the others
    assert_eq!(message_len(&padded), Some(len + 1));
    assert_eq!(message_len(&buffer[..len - 1]), None, "no END");
    assert_eq!(message_len(&buffer[..243]), None, "an option cut short");
    assert_eq!(message_len(&[]), None);
}

#[test]
fn random_and_mutated_packets_never_panic() {
    let mut rng = Rng::new(0x0dc9_5eed);
    let seeds = [ack(), proxy_reply()];
    let mut accepted = 0;
    for round in 0..30_000 {
        let mut a = seeds[round % 2].clone();
        let mut r = seeds[(round + 1) % 2].clone();
        mutate(&mut rng, &mut a);
        if rng.index(2) == 0 {
            mutate(&mut rng, &mut r);
        }
        check(&a, Some(&r));
        check(&a, None);
        assert!(message_len(&a).is_none_or(|len| len <= a.len()));
        accepted += usize::from(CachedLease::from_packets(&a, None).is_ok());
    }
    assert!(
        accepted > 1_000,
        "only {accepted} mutants parsed: the mutations are too harsh"
    );
    for _ in 0..5_000 {
        let len = rng.index(600);
        let mut a: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 240 && rng.index(2) == 0 {
            a[236..240].copy_from_slice(&[99, 130, 83, 99]);
        }
        check(&a, Some(&a));
    }
}
