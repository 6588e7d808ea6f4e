//! `tftp://` and `http://` URLs, as the config, the DHCP boot file (options 67, 209, 210) and
//! HTTP redirects (`Location:`) write them: `scheme://host[:port]/path`.
//!
//! The host is a dotted-quad IPv4 address or a DNS name (resolved by the runtime through the
//! DHCP lease's DNS server, option 6). No user info, no IPv6 literals, no `https://`. The
//! path keeps its leading `/` and everything after it (a query string included) and is sent
//! as written: a TFTP server gets it unchanged, an HTTP request line gets it with the bytes a
//! request line cannot carry percent-encoded (see [`crate::http::write_get`]).

use core::fmt;

pub const TFTP_PORT: u16 = 69;
pub const HTTP_PORT: u16 = 80;
/// The longest DNS name (RFC 1035: 255 octets on the wire, 253 as text).
pub const MAX_HOST_NAME: usize = 253;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Tftp,
    Http,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Tftp => TFTP_PORT,
            Scheme::Http => HTTP_PORT,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Tftp => "tftp",
            Scheme::Http => "http",
        }
    }
}

/// A server: an address, or a name to resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host<'a> {
    Ipv4([u8; 4]),
    Name(&'a str),
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ipv4([a, b, c, d]) => write!(f, "{a}.{b}.{c}.{d}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Url<'a> {
    pub scheme: Scheme,
    pub host: Host<'a>,
    pub port: u16,
    /// From the first `/` after the host on, never empty.
    pub path: &'a str,
}

/// Why a URL was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// No `://`.
    NotAUrl,
    /// A scheme other than `tftp` and `http` (the text is the scheme as written).
    UnsupportedScheme,
    /// An empty host, user info (`user@`), an IPv6 literal, a bad IPv4 address (all digits
    /// and dots) or a name with characters DNS does not allow.
    BadHost,
    BadPort,
    /// Nothing after the host, or only `/`.
    EmptyPath,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::NotAUrl => "not a URL (expected scheme://host/path)",
            UrlError::UnsupportedScheme => "unsupported URL scheme (expected tftp:// or http://)",
            UrlError::BadHost => {
                "bad server (expected an IPv4 address such as 10.0.0.9 or a DNS name)"
            }
            UrlError::BadPort => "bad port (expected a number from 1 to 65535)",
            UrlError::EmptyPath => "the URL names no file",
        })
    }
}

/// The scheme of `text` when it has the form `scheme://...` (any scheme), else None.
pub fn scheme_of(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let valid = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
    valid.then_some(scheme)
}

impl<'a> Url<'a> {
    /// Parse `scheme://host[:port]/path`; the scheme is case-insensitive.
    pub fn parse(text: &'a str) -> Result<Url<'a>, UrlError> {
        let scheme_text = scheme_of(text).ok_or(UrlError::NotAUrl)?;
        let rest = &text[scheme_text.len() + 3..];
        let scheme = if scheme_text.eq_ignore_ascii_case("tftp") {
            Scheme::Tftp
        } else if scheme_text.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else {
            return Err(UrlError::UnsupportedScheme);
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if path.trim_start_matches('/').is_empty() {
            return Err(UrlError::EmptyPath);
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, parse_port(port)?),
            None => (authority, scheme.default_port()),
        };
        Ok(Url {
            scheme,
            host: parse_host(host)?,
            port,
            path,
        })
    }
}

/// Writes the URL back as a user would: the port only when it is not the scheme's default.
impl fmt::Display for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        f.write_str(self.path)
    }
}

pub fn parse_port(text: &str) -> Result<u16, UrlError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::BadPort);
    }
    match text.parse::<u32>() {
        Ok(port @ 1..=65535) => Ok(port as u16),
        _ => Err(UrlError::BadPort),
    }
}

/// A dotted quad, or a DNS name: labels of letters, digits and `-` (not at either end), 1-63
/// bytes each, separated by dots (one trailing dot allowed), 253 bytes at most. Text of
/// digits and dots only is an address or nothing: `10.0.0.256` is not a name.
pub fn parse_host(text: &str) -> Result<Host<'_>, UrlError> {
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return crate::ipv4::parse_dotted_quad(text)
            .map(Host::Ipv4)
            .ok_or(UrlError::BadHost);
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() || name.len() > MAX_HOST_NAME {
        return Err(UrlError::BadHost);
    }
    for label in name.split('.') {
        let bytes = label.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 63
            && bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
            && bytes.first() != Some(&b'-')
            && bytes.last() != Some(&b'-');
        if !valid {
            return Err(UrlError::BadHost);
        }
    }
    Ok(Host::Name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Result<Url<'_>, UrlError> {
        Url::parse(text)
    }

    #[test]
    fn forms() {
        assert_eq!(
            url("http://10.0.0.9/boot/k"),
            Ok(Url {
                scheme: Scheme::Http,
                host: Host::Ipv4([10, 0, 0, 9]),
                port: 80,
                path: "/boot/k"
            })
        );
        assert_eq!(
            url("HTTP://boot.test:8080/k?x=1"),
            Ok(Url {
                scheme: Scheme::Http,
                host: Host::Name("boot.test"),
                port: 8080,
                path: "/k?x=1"
            })
        );
        assert_eq!(
            url("tftp://boot.test./k").map(|u| (u.scheme, u.host, u.port)),
            Ok((Scheme::Tftp, Host::Name("boot.test"), 69))
        );
        assert_eq!(
            url("http://a-b.c0/x").map(|u| u.host),
            Ok(Host::Name("a-b.c0"))
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(url("/k"), Err(UrlError::NotAUrl));
        assert_eq!(url("https://a/k"), Err(UrlError::UnsupportedScheme));
        assert_eq!(url("ftp://a/k"), Err(UrlError::UnsupportedScheme));
        assert_eq!(url("http://a"), Err(UrlError::EmptyPath));
        assert_eq!(url("http://a/"), Err(UrlError::EmptyPath));
        assert_eq!(url("http:///k"), Err(UrlError::BadHost));
        assert_eq!(url("http://1.2.3/k"), Err(UrlError::BadHost));
        assert_eq!(url("http://1.2.3.256/k"), Err(UrlError::BadHost));
        assert_eq!(url("http://[::1]/k"), Err(UrlError::BadPort));
        assert_eq!(url("http://u@h/k"), Err(UrlError::BadHost));
        assert_eq!(url("http://-a.b/k"), Err(UrlError::BadHost));
        assert_eq!(url("http://a..b/k"), Err(UrlError::BadHost));
        assert_eq!(url("http://a_b/k"), Err(UrlError::BadHost));
        assert_eq!(url("http://a:0/k"), Err(UrlError::BadPort));
        assert_eq!(url("http://a:65536/k"), Err(UrlError::BadPort));
        assert_eq!(url("http://a:/k"), Err(UrlError::BadPort));
        assert_eq!(url("http://a:1:2/k"), Err(UrlError::BadHost));
        let long = std::format!("http://{}.x/k", "a".repeat(64));
        assert_eq!(url(&long), Err(UrlError::BadHost));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "http://10.0.0.9/k",
            "http://boot.test:8080/a/b",
            "tftp://10.0.0.9:70/x",
            "tftp://h/x",
        ] {
            assert_eq!(std::format!("{}", url(text).unwrap()), text);
        }
        assert_eq!(
            std::format!("{}", url("http://h:80/x").unwrap()),
            "http://h/x"
        );
    }

    /// Random text, and random edits of good URLs: never a panic, and every accepted URL
    /// prints back to text that parses to the same URL.
    #[test]
    fn random_text_never_panics_and_round_trips() {
        let mut rng = crate::test_rng::Rng::new(0x0051_7e11);
        let alphabet = b"htpf:/.0123456789abz-_@[]?%:H";
        for _ in 0..50_000 {
            let len = (rng.next_u64() % 40) as usize;
            let mut text = std::string::String::from(
                ["http://", "tftp://", ""][(rng.next_u64() % 3) as usize],
            );
            for _ in 0..len {
                text.push(alphabet[(rng.next_u64() as usize) % alphabet.len()] as char);
            }
            if let Ok(parsed) = url(&text) {
                let printed = std::format!("{parsed}");
                assert_eq!(url(&printed), Ok(parsed), "{text}");
            }
        }
    }
}
