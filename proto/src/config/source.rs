//! Where a file comes from: the boot server, or a TFTP server named in the path.
//!
//! Accepted forms (GRUB's, plus URLs as iPXE writes them):
//! - `/path`, `(pxe)/path`, `(tftp)/path`: the TFTP server that DHCP named;
//! - `(pxe,10.0.0.9)/path`, `(tftp,10.0.0.9)/path`: that server, port 69;
//! - `tftp://10.0.0.9[:port]/path`.
//!
//! The path keeps its leading `/` and is sent to the server as written (as GRUB does); no
//! percent-decoding is done in URLs.

use core::fmt;

use super::error::{ConfigError, ConfigErrorKind, Pos};
use super::text::{Excerpt, Text, Unquoted};

pub const TFTP_PORT: u16 = 69;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSource<'a> {
    /// On the TFTP server that DHCP named (the boot server).
    Server { path: &'a str },
    /// On a TFTP server given by address.
    Tftp {
        server: [u8; 4],
        port: u16,
        path: &'a str,
    },
}

impl<'a> FileSource<'a> {
    /// The path on the server, with its leading `/`.
    pub fn path(&self) -> &'a str {
        match self {
            FileSource::Server { path } | FileSource::Tftp { path, .. } => path,
        }
    }

    pub(crate) fn parse(text: Text<'a>, at: Pos) -> Result<Self, ConfigError> {
        let fail = |kind| Err(ConfigError::at(at, kind));
        let Some(path) = text.as_plain() else {
            return fail(ConfigErrorKind::PathNotPlain);
        };
        if path.starts_with('/') {
            return file_path(path)
                .map(|path| FileSource::Server { path })
                .map_err(|k| ConfigError::at(at, k));
        }
        if let Some(device_and_path) = path.strip_prefix('(') {
            return parse_device(device_and_path).map_err(|k| ConfigError::at(at, k));
        }
        if let Some((scheme, rest)) = path.split_once("://") {
            if scheme.eq_ignore_ascii_case("tftp") {
                return parse_tftp_url(rest).map_err(|k| ConfigError::at(at, k));
            }
            let scheme = Excerpt::from_chars(scheme.chars());
            return fail(ConfigErrorKind::UnsupportedScheme { scheme });
        }
        fail(ConfigErrorKind::RelativePath)
    }
}

/// Writes the source as a user would write it: `/path` or `tftp://10.0.0.9:69/path`.
impl fmt::Display for FileSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileSource::Server { path } => f.write_str(path),
            FileSource::Tftp {
                server: [a, b, c, d],
                port,
                path,
            } => {
                write!(f, "tftp://{a}.{b}.{c}.{d}")?;
                if *port != TFTP_PORT {
                    write!(f, ":{port}")?;
                }
                f.write_str(path)
            }
        }
    }
}

/// A path must name a file, not only the server's root.
fn file_path(path: &str) -> Result<&str, ConfigErrorKind> {
    if path.trim_start_matches('/').is_empty() {
        return Err(ConfigErrorKind::EmptyFileName);
    }
    Ok(path)
}

/// `pxe)/path`, `tftp,10.0.0.9)/path` (the `(` already removed).
fn parse_device(text: &str) -> Result<FileSource<'_>, ConfigErrorKind> {
    let Some((device, path)) = text.split_once(')') else {
        return Err(ConfigErrorKind::UnsupportedDevice {
            device: Excerpt::from_chars(text.chars()),
        });
    };
    let (name, server) = match device.split_once([',', ':']) {
        Some((name, server)) => (name, Some(server)),
        None => (device, None),
    };
    if name.eq_ignore_ascii_case("http") || name.eq_ignore_ascii_case("https") {
        return Err(ConfigErrorKind::UnsupportedScheme {
            scheme: Excerpt::from_chars(name.chars()),
        });
    }
    if !name.eq_ignore_ascii_case("pxe") && !name.eq_ignore_ascii_case("tftp") {
        return Err(ConfigErrorKind::UnsupportedDevice {
            device: Excerpt::from_chars(device.chars()),
        });
    }
    if !path.starts_with('/') {
        return Err(ConfigErrorKind::MissingSlashAfterDevice);
    }
    let path = file_path(path)?;
    match server {
        None => Ok(FileSource::Server { path }),
        Some(server) => Ok(FileSource::Tftp {
            server: parse_ipv4(server)?,
            port: TFTP_PORT,
            path,
        }),
    }
}

/// `10.0.0.9[:port]/path` (after `tftp://`).
fn parse_tftp_url(rest: &str) -> Result<FileSource<'_>, ConfigErrorKind> {
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (authority, None),
    };
    let server = parse_ipv4(host)?;
    let port = match port {
        None => TFTP_PORT,
        Some(port) => parse_port(port)?,
    };
    let path = file_path(path)?;
    Ok(FileSource::Tftp { server, port, path })
}

fn parse_port(text: &str) -> Result<u16, ConfigErrorKind> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConfigErrorKind::BadPort);
    }
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(ConfigErrorKind::BadPort),
    }
}

/// Dotted-quad IPv4 only; anything with a letter is taken for a DNS name.
fn parse_ipv4(host: &str) -> Result<[u8; 4], ConfigErrorKind> {
    if host.starts_with('[') || host.contains(':') {
        return Err(ConfigErrorKind::BadAddress);
    }
    if host.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(ConfigErrorKind::DnsNotSupported);
    }
    crate::ipv4::parse_dotted_quad(host).ok_or(ConfigErrorKind::BadAddress)
}

/// The value of `--sha256=` as 32 bytes: exactly 64 hex digits, either case.
pub(crate) fn parse_sha256(mut hex: Unquoted<'_>) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    for byte in digest.iter_mut() {
        let high = hex.next()?.to_digit(16)?;
        let low = hex.next()?.to_digit(16)?;
        *byte = (high * 16 + low) as u8;
    }
    match hex.next() {
        None => Some(digest),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConfigErrorKind as K;

    fn parse(text: &str) -> Result<FileSource<'_>, ConfigErrorKind> {
        FileSource::parse(Text::new(text), Pos::START).map_err(|e| e.kind)
    }

    #[test]
    fn server_paths() {
        assert_eq!(parse("/kernel"), Ok(FileSource::Server { path: "/kernel" }));
        assert_eq!(
            parse("(pxe)/boot/k"),
            Ok(FileSource::Server { path: "/boot/k" })
        );
        assert_eq!(parse("(tftp)/k"), Ok(FileSource::Server { path: "/k" }));
        assert_eq!(
            parse("\"/my kernel\""),
            Ok(FileSource::Server { path: "/my kernel" })
        );
    }

    #[test]
    fn tftp_urls_and_devices() {
        let k = |server, port| {
            Ok(FileSource::Tftp {
                server,
                port,
                path: "/boot/test",
            })
        };
        assert_eq!(parse("tftp://10.0.0.9/boot/test"), k([10, 0, 0, 9], 69));
        assert_eq!(
            parse("TFTP://10.0.0.9:6969/boot/test"),
            k([10, 0, 0, 9], 6969)
        );
        assert_eq!(
            parse("(tftp,192.168.1.2)/boot/test"),
            k([192, 168, 1, 2], 69)
        );
        assert_eq!(parse("(pxe:1.2.3.4)/boot/test"), k([1, 2, 3, 4], 69));
    }

    #[test]
    fn refused_paths() {
        assert_eq!(parse("tftp://boot.example/k"), Err(K::DnsNotSupported));
        assert_eq!(parse("tftp://1.2.3/k"), Err(K::BadAddress));
        assert_eq!(parse("tftp://1.2.3.256/k"), Err(K::BadAddress));
        assert_eq!(parse("tftp://1.2.3.4.5/k"), Err(K::BadAddress));
        assert_eq!(parse("tftp://[::1]/k"), Err(K::BadAddress));
        assert_eq!(parse("tftp://1.2.3.4:0/k"), Err(K::BadPort));
        assert_eq!(parse("tftp://1.2.3.4:70000/k"), Err(K::BadPort));
        assert_eq!(parse("tftp://1.2.3.4:/k"), Err(K::BadPort));
        assert_eq!(parse("tftp://1.2.3.4"), Err(K::EmptyFileName));
        assert_eq!(parse("tftp://1.2.3.4/"), Err(K::EmptyFileName));
        assert_eq!(parse("/"), Err(K::EmptyFileName));
        assert_eq!(parse("(pxe)kernel"), Err(K::MissingSlashAfterDevice));
        assert_eq!(parse("kernel"), Err(K::RelativePath));
        assert_eq!(parse("/a\"b\""), Err(K::PathNotPlain));
        assert!(matches!(
            parse("(hd0,1)/k"),
            Err(K::UnsupportedDevice { .. })
        ));
        assert!(matches!(parse("(pxe"), Err(K::UnsupportedDevice { .. })));
        assert!(matches!(
            parse("http://1.2.3.4/k"),
            Err(K::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            parse("(http,1.2.3.4)/k"),
            Err(K::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn display_round_trips() {
        let show = |t| std::format!("{}", parse(t).unwrap());
        assert_eq!(show("(pxe)/k"), "/k");
        assert_eq!(
            show("tftp://10.0.0.9/boot/test"),
            "tftp://10.0.0.9/boot/test"
        );
        assert_eq!(show("tftp://10.0.0.9:70/x"), "tftp://10.0.0.9:70/x");
    }

    #[test]
    fn sha256_hex() {
        let hex = "00112233445566778899aabbccddeeffFFEEDDCCBBAA99887766554433221100";
        let digest = parse_sha256(Text::new(hex).unquoted()).unwrap();
        assert_eq!(digest[0], 0x00);
        assert_eq!(digest[15], 0xff);
        assert_eq!(digest[16], 0xff);
        assert_eq!(digest[31], 0x00);
        assert!(parse_sha256(Text::new(&hex[1..]).unquoted()).is_none());
        assert!(parse_sha256(Text::new("").unquoted()).is_none());
        let long = std::format!("{hex}0");
        assert!(parse_sha256(Text::new(&long).unquoted()).is_none());
        let bad = hex.replace('a', "g");
        assert!(parse_sha256(Text::new(&bad).unquoted()).is_none());
    }
}
