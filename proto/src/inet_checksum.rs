//! The Internet checksum (RFC 1071) of a received Ethernet frame's TCP or UDP datagram, checked
//! before smoltcp sees the frame, as a card with checksum offload would.
//!
//! Why here and not in smoltcp: its loop adds 16-bit words, 1.85 guest instructions a byte on a
//! 32-bit CPU, one seventh of all the instructions an HTTP download ran per frame under QEMU's
//! TCG. This one adds 32-bit words into a 64-bit sum (RFC 1071 2(C): fold at the end), four
//! words per pass. The runtime then tells smoltcp to compute TCP and UDP checksums on transmit
//! only; every frame it hands on was checked here. What this does not check (IPv4 options are
//! fine; fragments, other protocols, other EtherTypes) smoltcp still checks or drops itself: it
//! drops IPv4 fragments (no reassembly in this build) and checks IPv4 headers and ICMP.

/// What [`check_frame`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An unfragmented IPv4 TCP or UDP datagram whose checksum holds (or a UDP datagram sent
    /// without one: checksum field 0).
    Good,
    /// An unfragmented IPv4 TCP or UDP datagram whose checksum is wrong: drop the frame.
    Bad,
    /// Anything else (ARP, ICMP, a fragment, a truncated or malformed header): not this
    /// module's to judge; smoltcp parses and checks it.
    NotChecked,
}

const ETHERNET_HEADER_LEN: usize = 14;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const PROTOCOL_TCP: u8 = 6;
const PROTOCOL_UDP: u8 = 17;

/// Check the TCP or UDP checksum of an Ethernet II frame carrying IPv4.
pub fn check_frame(frame: &[u8]) -> Verdict {
    if frame.get(12..14) != Some(&ETHERTYPE_IPV4[..]) {
        return Verdict::NotChecked;
    }
    check_ipv4(&frame[ETHERNET_HEADER_LEN..])
}

/// Check the TCP or UDP checksum of an IPv4 packet (`packet` may run past its total length:
/// Ethernet pads short frames).
pub fn check_ipv4(packet: &[u8]) -> Verdict {
    let Some(header) = packet.get(..20) else {
        return Verdict::NotChecked;
    };
    let header_len = usize::from(header[0] & 0x0F) * 4;
    let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let more_fragments = header[6] & 0x20 != 0;
    let fragment_offset = u16::from_be_bytes([header[6] & 0x1F, header[7]]);
    let protocol = header[9];
    if header[0] >> 4 != 4
        || header_len < 20
        || total_len < header_len
        || total_len > packet.len()
        || more_fragments
        || fragment_offset != 0
        || (protocol != PROTOCOL_TCP && protocol != PROTOCOL_UDP)
    {
        return Verdict::NotChecked;
    }
    let datagram = &packet[header_len..total_len];
    if protocol == PROTOCOL_UDP && datagram.get(6..8) == Some(&[0, 0][..]) {
        return Verdict::Good; // sent without a checksum (RFC 768)
    }
    let Ok(datagram_len) = u16::try_from(datagram.len()) else {
        return Verdict::NotChecked;
    };
    // The pseudo-header: both addresses, the protocol and the datagram's length, as 16-bit
    // big-endian words; the datagram's own words are summed in the CPU's order, which RFC 1071
    // 2(B) allows for a check whose answer (0xFFFF) reads the same both ways, so these words
    // are taken in the CPU's order too.
    let pseudo = sum_words(&header[12..20])
        + u64::from(u16::from_ne_bytes([0, protocol]))
        + u64::from(u16::from_ne_bytes(datagram_len.to_be_bytes()));
    if fold(pseudo + sum_words(datagram)) == 0xFFFF {
        Verdict::Good
    } else {
        Verdict::Bad
    }
}

/// The sum of `data` as 32-bit words in the CPU's order, the last 1-3 bytes padded with zeros
/// (which is what padding the last 16-bit word with a zero byte gives).
fn sum_words(data: &[u8]) -> u64 {
    let word = |bytes: &[u8]| {
        let mut word = [0; 4];
        word[..bytes.len()].copy_from_slice(bytes);
        u64::from(u32::from_ne_bytes(word))
    };
    let mut blocks = data.chunks_exact(16);
    let mut sum = 0u64;
    for block in &mut blocks {
        sum += word(&block[..4]) + word(&block[4..8]) + word(&block[8..12]) + word(&block[12..]);
    }
    let mut words = blocks.remainder().chunks_exact(4);
    for bytes in &mut words {
        sum += word(bytes);
    }
    sum + word(words.remainder())
}

/// Fold a sum of 32-bit words into the 16-bit ones' complement sum.
fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use std::vec::Vec;

    /// RFC 1071 as written: 16-bit big-endian words, end-around carry on every addition.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            let word = u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0));
            sum += word;
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        sum as u16
    }

    /// An Ethernet frame with an IPv4 header (options when `options` > 0) and a TCP or UDP
    /// datagram of `payload` bytes, its checksum filled in by the reference sum.
    fn frame(rng: &mut Rng, protocol: u8, options: usize, payload: usize) -> Vec<u8> {
        let header_len = 20 + 4 * options;
        let l4_header = if protocol == PROTOCOL_TCP { 20 } else { 8 };
        let datagram_len = l4_header + payload;
        let total_len = header_len + datagram_len;
        let mut f: Vec<u8> = (0..ETHERNET_HEADER_LEN + total_len)
            .map(|_| rng.next_u64() as u8)
            .collect();
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4);
        let ip = &mut f[ETHERNET_HEADER_LEN..];
        ip[0] = 0x40 | (header_len / 4) as u8;
        ip[2..4].copy_from_slice(&(total_len as u16).to_be_bytes());
        ip[6] &= 0x40; // at most DF: no fragment
        ip[7] = 0;
        ip[9] = protocol;
        let checksum_at = header_len + if protocol == PROTOCOL_TCP { 16 } else { 6 };
        ip[checksum_at..checksum_at + 2].fill(0);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&ip[12..20]);
        pseudo.extend_from_slice(&[0, protocol]);
        pseudo.extend_from_slice(&(datagram_len as u16).to_be_bytes());
        pseudo.extend_from_slice(&ip[header_len..total_len]);
        let mut checksum = !reference_sum(&pseudo);
        if protocol == PROTOCOL_UDP && checksum == 0 {
            checksum = 0xFFFF; // RFC 768: a computed 0 is sent as all ones
        }
        ip[checksum_at..checksum_at + 2].copy_from_slice(&checksum.to_be_bytes());
        f
    }

    #[test]
    fn good_datagrams_pass_and_any_flipped_bit_fails() {
        let mut rng = Rng::new(1071);
        for round in 0..400 {
            let protocol = if round % 2 == 0 {
                PROTOCOL_TCP
            } else {
                PROTOCOL_UDP
            };
            let options = rng.index(3);
            let payload = rng.index(1500);
            let mut f = frame(&mut rng, protocol, options, payload);
            // Ethernet padding past the IPv4 total length is not summed.
            let padding = rng.index(4);
            f.extend((0..padding).map(|_| rng.next_u64() as u8));
            assert_eq!(check_frame(&f), Verdict::Good, "round {round}");
            // One flipped bit in the addresses or the datagram (not the IPv4 length, protocol
            // or fragment fields, which change what is checked) must fail.
            let header_len = 20 + 4 * options;
            let start = ETHERNET_HEADER_LEN + 12;
            let end = f.len() - padding;
            let at = start + rng.index(end - start);
            let in_header_between = at >= start + 8 && at < ETHERNET_HEADER_LEN + header_len;
            if in_header_between {
                continue; // IPv4 options are not part of the pseudo-header
            }
            let bit = 1u8 << rng.index(8);
            f[at] ^= bit;
            let flipped_udp_checksum_to_zero = protocol == PROTOCOL_UDP
                && f[ETHERNET_HEADER_LEN + header_len + 6..ETHERNET_HEADER_LEN + header_len + 8]
                    == [0, 0];
            if !flipped_udp_checksum_to_zero {
                assert_eq!(check_frame(&f), Verdict::Bad, "round {round}, byte {at}");
            }
        }
    }

    #[test]
    fn udp_without_a_checksum_is_good() {
        let mut rng = Rng::new(768);
        let mut f = frame(&mut rng, PROTOCOL_UDP, 0, 100);
        f[ETHERNET_HEADER_LEN + 26..ETHERNET_HEADER_LEN + 28].fill(0);
        assert_eq!(check_frame(&f), Verdict::Good);
    }

    #[test]
    fn what_it_does_not_judge_is_left_to_smoltcp() {
        let mut rng = Rng::new(9);
        let good = frame(&mut rng, PROTOCOL_TCP, 0, 64);
        let ip = ETHERNET_HEADER_LEN;
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut f = good.clone();
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        cases.push(("ARP", f));
        let mut f = good.clone();
        f[ip + 9] = 1;
        cases.push(("ICMP", f));
        let mut f = good.clone();
        f[ip + 6] |= 0x20;
        cases.push(("more fragments", f));
        let mut f = good.clone();
        f[ip + 7] = 1;
        cases.push(("fragment offset", f));
        let mut f = good.clone();
        f[ip] = 0x45 + 0x10;
        cases.push(("IPv5", f));
        let mut f = good.clone();
        f[ip] = 0x44;
        cases.push(("header too short", f));
        let mut f = good.clone();
        f[ip + 2..ip + 4].copy_from_slice(&9000u16.to_be_bytes());
        cases.push(("total length past the frame", f));
        let mut f = good.clone();
        f[ip + 2..ip + 4].copy_from_slice(&10u16.to_be_bytes());
        cases.push(("total length inside the header", f));
        cases.push(("truncated header", good[..ip + 19].to_vec()));
        cases.push(("no EtherType", good[..13].to_vec()));
        for (what, f) in cases {
            assert_eq!(check_frame(&f), Verdict::NotChecked, "{what}");
        }
    }

    #[test]
    fn never_panics_on_any_bytes() {
        let mut rng = Rng::new(4);
        for _ in 0..5000 {
            let len = rng.index(120);
            let mut f: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if f.len() > ETHERNET_HEADER_LEN && rng.index(2) == 0 {
                f[12..14].copy_from_slice(&ETHERTYPE_IPV4);
                f[14] = 0x45;
            }
            let _ = check_frame(&f);
        }
    }

    #[test]
    fn word_sums_fold_to_the_reference() {
        let mut rng = Rng::new(2);
        for _ in 0..300 {
            let data: Vec<u8> = (0..rng.index(200) * 2)
                .map(|_| rng.next_u64() as u8)
                .collect();
            // Even lengths: the CPU-order sum is the reference sum with its bytes swapped
            // (on a little-endian CPU; identical on a big-endian one).
            let ours = fold(sum_words(&data));
            let reference = reference_sum(&data);
            assert!(ours == reference || ours == reference.swap_bytes());
            assert_eq!(ours, u16::from_ne_bytes(reference.to_be_bytes()));
        }
    }
}
