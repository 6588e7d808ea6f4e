//! Dotted-quad IPv4 text ("192.168.1.10"), as DHCP option 66 and config paths write it.
//!
//! Written out rather than `core::net::Ipv4Addr::from_str` because the option ROM's first
//! stage links this and every byte counts there (core's parser is about 1 KiB of code).

/// Four decimal octets of 1-3 digits, each at most 255, separated by dots; nothing else.
pub fn parse_dotted_quad(text: &str) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in octets.iter_mut() {
        let part = parts.next()?.as_bytes();
        if part.is_empty() || part.len() > 3 {
            return None;
        }
        let mut value: u16 = 0;
        for &digit in part {
            if !digit.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u16::from(digit - b'0');
        }
        *octet = u8::try_from(value).ok()?;
    }
    parts.next().is_none().then_some(octets)
}

#[cfg(test)]
mod tests {
    use super::parse_dotted_quad;

    #[test]
    fn parses_dotted_quads() {
        assert_eq!(parse_dotted_quad("192.168.1.10"), Some([192, 168, 1, 10]));
        assert_eq!(parse_dotted_quad("0.0.0.0"), Some([0, 0, 0, 0]));
        assert_eq!(parse_dotted_quad("255.255.255.255"), Some([255; 4]));
        assert_eq!(parse_dotted_quad("010.1.1.1"), Some([10, 1, 1, 1]));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.256",
            "1.2.3.1000",
            "1..3.4",
            "1.2.3.4.",
            "a.b.c.d",
            "1.2.3.-4",
            "1.2.3.+4",
            " 1.2.3.4",
            "boot.example.com",
            "::1",
            "1.2.3.4:69",
        ] {
            assert_eq!(parse_dotted_quad(bad), None, "{bad:?}");
        }
    }
}
