//! PXELINUX's per-host config names, which both ends use: the runtime tries them in order on
//! the server, and `netloader serve` picks the first that exists for a client.

use core::fmt::Write;

/// The folder the names live in, under DHCP option 210's prefix.
pub const PER_HOST_DIR: &str = "netloader.cfg";

/// One name: at most `01-xx-xx-xx-xx-xx-xx`.
pub type PerHostName = heapless::String<20>;

/// The names in PXELINUX's order: `01-<mac>` (lower-case hex, dashes), the IPv4 address in
/// upper-case hex cut one digit at a time (8 names, when the address is known), `default`.
pub fn per_host_names(mac: [u8; 6], ip: Option<[u8; 4]>) -> impl Iterator<Item = PerHostName> {
    let mut by_mac = PerHostName::new();
    let _ = write!(
        by_mac,
        "01-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    let mut hex = PerHostName::new();
    if let Some([a, b, c, d]) = ip {
        let _ = write!(hex, "{a:02X}{b:02X}{c:02X}{d:02X}");
    }
    let by_ip = (1..=hex.len()).rev().map(move |len| {
        let mut name = PerHostName::new();
        let _ = name.push_str(&hex[..len]);
        name
    });
    let mut default = PerHostName::new();
    let _ = default.push_str("default");
    core::iter::once(by_mac)
        .chain(by_ip)
        .chain(core::iter::once(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pxelinux_order() {
        let mac = [0x52, 0x54, 0x00, 0xab, 0x0c, 0x01];
        let names: heapless::Vec<PerHostName, 10> =
            per_host_names(mac, Some([192, 168, 77, 50])).collect();
        let names: heapless::Vec<&str, 10> = names.iter().map(|n| n.as_str()).collect();
        assert_eq!(
            names[..],
            [
                "01-52-54-00-ab-0c-01",
                "C0A84D32",
                "C0A84D3",
                "C0A84D",
                "C0A84",
                "C0A8",
                "C0A",
                "C0",
                "C",
                "default"
            ]
        );
        assert_eq!(
            per_host_names(mac, None).count(),
            2,
            "the MAC and default only"
        );
    }
}
