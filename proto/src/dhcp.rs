//! What a boot loader takes from a DHCP answer: the TFTP server, the boot file, and PXELINUX's
//! config file and path prefix (options 209, 210).
//!
//! Works on the fields and options already split out by the DHCP client (smoltcp in the
//! runtime), so it has no view of its own over the packet.

use core::net::Ipv4Addr;

pub mod proxy;
pub mod request;

mod cached;

pub use cached::{CachedAckError, CachedLease, file_field, message_len};

pub const OPTION_DNS_SERVERS: u8 = 6;
pub const OPTION_TFTP_SERVER_NAME: u8 = 66;
pub const OPTION_BOOTFILE_NAME: u8 = 67;
pub const OPTION_PXELINUX_CONFIGFILE: u8 = 209;
pub const OPTION_PXELINUX_PATHPREFIX: u8 = 210;

/// The longest name kept (the `file` field is 128 bytes; options are at most 255).
pub const NAME_CAPACITY: usize = 255;

pub type Name = heapless::String<NAME_CAPACITY>;

/// Boot parameters from one DHCP answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootParams {
    /// Where to fetch files from: siaddr, else option 66 as an IPv4 literal, else the DHCP
    /// server itself.
    pub tftp_server: Option<Ipv4Addr>,
    /// Option 66 when it is a name rather than an address (reported, not resolved: no DNS).
    pub tftp_server_name: Option<Name>,
    /// Option 67, else the `file` field.
    pub boot_file: Option<Name>,
    pub config_file: Option<Name>,
    pub path_prefix: Option<Name>,
    /// The first DNS server of option 6, for host names in `http://` and `tftp://` URLs.
    pub dns_server: Option<Ipv4Addr>,
}

/// A NUL-terminated, possibly NUL-padded, field or option value as text. Invalid UTF-8 or an
/// empty value gives None: a name we cannot print is a name we cannot use.
fn text(bytes: &[u8]) -> Option<Name> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let s = core::str::from_utf8(&bytes[..end]).ok()?.trim();
    if s.is_empty() {
        return None;
    }
    // Cut at a character boundary: slicing a str inside a character would panic.
    let mut end = s.len().min(NAME_CAPACITY);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut name = Name::new();
    name.push_str(&s[..end]).ok()?;
    Some(name)
}

impl BootParams {
    /// `siaddr` and `file` are the fixed BOOTP fields; `options` yields (code, value);
    /// `dhcp_server` is the server identifier of the answer.
    pub fn from_answer<'a>(
        siaddr: Ipv4Addr,
        file: &[u8],
        options: impl IntoIterator<Item = (u8, &'a [u8])>,
        dhcp_server: Option<Ipv4Addr>,
    ) -> BootParams {
        let mut params = BootParams {
            boot_file: text(file),
            ..BootParams::default()
        };
        let mut server_option = None;
        for (code, value) in options {
            match code {
                OPTION_TFTP_SERVER_NAME => server_option = text(value),
                OPTION_BOOTFILE_NAME => params.boot_file = text(value).or(params.boot_file),
                OPTION_PXELINUX_CONFIGFILE => params.config_file = text(value),
                OPTION_PXELINUX_PATHPREFIX => params.path_prefix = text(value),
                OPTION_DNS_SERVERS => {
                    params.dns_server = value
                        .chunks_exact(4)
                        .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
                        .find(|a| !a.is_unspecified() && !a.is_broadcast())
                }
                _ => {}
            }
        }
        let server_from_option = server_option
            .as_ref()
            .and_then(|n| crate::ipv4::parse_dotted_quad(n).map(Ipv4Addr::from));
        if server_from_option.is_none() {
            params.tftp_server_name = server_option;
        }
        params.tftp_server = Some(siaddr)
            .filter(|a| !a.is_unspecified())
            .or(server_from_option)
            .or(dhcp_server.filter(|a| !a.is_unspecified()));
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siaddr_and_file_field() {
        let p = BootParams::from_answer(Ipv4Addr::new(10, 0, 2, 2), b"kernel.cfg\0\0\0", [], None);
        assert_eq!(p.tftp_server, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(p.boot_file.as_deref(), Some("kernel.cfg"));
    }

    #[test]
    fn options_win_over_fields_and_fall_back_in_order() {
        let opts: [(u8, &[u8]); 4] = [
            (66, b"192.168.1.5"),
            (67, b"boot/netloader.cfg\0"),
            (209, b"pxelinux.cfg/default"),
            (210, b"/srv/tftp/"),
        ];
        let p = BootParams::from_answer(
            Ipv4Addr::UNSPECIFIED,
            b"",
            opts,
            Some(Ipv4Addr::new(192, 168, 1, 1)),
        );
        assert_eq!(p.tftp_server, Some(Ipv4Addr::new(192, 168, 1, 5)));
        assert_eq!(p.boot_file.as_deref(), Some("boot/netloader.cfg"));
        assert_eq!(p.config_file.as_deref(), Some("pxelinux.cfg/default"));
        assert_eq!(p.path_prefix.as_deref(), Some("/srv/tftp/"));
    }

    #[test]
    fn first_usable_dns_server() {
        let opts: [(u8, &[u8]); 1] = [(6, &[0, 0, 0, 0, 192, 168, 77, 1, 8, 8, 8])];
        let p = BootParams::from_answer(Ipv4Addr::UNSPECIFIED, b"", opts, None);
        assert_eq!(p.dns_server, Some(Ipv4Addr::new(192, 168, 77, 1)));
        let opts: [(u8, &[u8]); 1] = [(6, &[1, 2, 3])];
        let p = BootParams::from_answer(Ipv4Addr::UNSPECIFIED, b"", opts, None);
        assert_eq!(p.dns_server, None);
    }

    #[test]
    fn named_server_is_kept_and_dhcp_server_used() {
        let opts: [(u8, &[u8]); 1] = [(66, b"tftp.example.org")];
        let p = BootParams::from_answer(
            Ipv4Addr::UNSPECIFIED,
            b"",
            opts,
            Some(Ipv4Addr::new(10, 1, 1, 1)),
        );
        assert_eq!(p.tftp_server, Some(Ipv4Addr::new(10, 1, 1, 1)));
        assert_eq!(p.tftp_server_name.as_deref(), Some("tftp.example.org"));
        assert_eq!(p.boot_file, None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = crate::test_rng::Rng::new(0x1234_5678);
        let mut next = || rng.next_u64() as u32;
        for _ in 0..20_000 {
            let len = (next() % 300) as usize;
            let bytes: std::vec::Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let code = next() as u8;
            let _ =
                BootParams::from_answer(Ipv4Addr::from(next()), &bytes, [(code, &bytes[..])], None);
        }
    }

    /// Many options per answer, the ones we read most often, with NULs, invalid UTF-8 and
    /// 255-byte values: every name kept is non-empty, printable text within capacity.
    #[test]
    fn random_option_lists_never_panic() {
        let mut rng = crate::test_rng::Rng::new(0x9e37_79b9);
        let mut next = || rng.next_u64() as u32;
        let pieces: [&[u8]; 6] = [
            b"10.0.0.1",
            b"boot/k\0x",
            b"\xff\xfe",
            b" ",
            b"\0\0a",
            "é/ü".as_bytes(),
        ];
        for _ in 0..20_000 {
            let mut values: std::vec::Vec<std::vec::Vec<u8>> = std::vec::Vec::new();
            for _ in 0..next() % 8 {
                let mut v = std::vec::Vec::new();
                while v.len() < (next() % 256) as usize {
                    v.extend_from_slice(pieces[(next() % 6) as usize]);
                    v.push(next() as u8);
                }
                v.truncate(255);
                values.push(v);
            }
            let codes = [66u8, 67, 209, 210, 0, 255, 53];
            let options: std::vec::Vec<(u8, &[u8])> = values
                .iter()
                .map(|v| (codes[(next() % 7) as usize], &v[..]))
                .collect();
            let file = values.first().map_or(&[][..], |v| &v[..v.len().min(128)]);
            let p = BootParams::from_answer(
                Ipv4Addr::from(next() & 0xff),
                file,
                options,
                Some(Ipv4Addr::from(next())),
            );
            for name in [
                &p.tftp_server_name,
                &p.boot_file,
                &p.config_file,
                &p.path_prefix,
            ]
            .into_iter()
            .flatten()
            {
                assert!(!name.is_empty() && name.len() <= NAME_CAPACITY && !name.contains('\0'));
            }
        }
    }

    /// A value longer than the capacity whose cut falls inside a character.
    #[test]
    fn long_value_is_cut_at_a_character_boundary() {
        let mut value = std::vec![b'a'; NAME_CAPACITY - 1];
        value.extend_from_slice("éé".as_bytes());
        let opts: [(u8, &[u8]); 1] = [(209, &value)];
        let p = BootParams::from_answer(Ipv4Addr::UNSPECIFIED, b"", opts, None);
        assert_eq!(p.config_file.map(|n| n.len()), Some(NAME_CAPACITY - 1));
    }
}
