//! Where a file comes from: the boot server, or a server named in the path.
//!
//! Accepted forms (GRUB's, plus URLs as iPXE writes them):
//! - `/path`, `(pxe)/path`, `(tftp)/path`: the TFTP server that DHCP named;
//! - `(pxe,SERVER)/path`, `(tftp,SERVER)/path`: that server, port 69;
//! - `(http,SERVER)/path`: that web server, port 80;
//! - `tftp://SERVER[:port]/path`, `http://SERVER[:port]/path`.
//!
//! A SERVER is an IPv4 address or a DNS name (resolved at boot through the DHCP lease's DNS
//! server). The path keeps its leading `/` and is sent to the server as written (as GRUB
//! does); no percent-decoding is done in URLs.

use core::fmt;

use super::error::{ConfigError, ConfigErrorKind, Pos};
use super::text::{Excerpt, Text, Unquoted};
pub use crate::url::{HTTP_PORT, Host, Scheme, TFTP_PORT, Url, UrlError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSource<'a> {
    /// On the TFTP server that DHCP named (the boot server).
    Server { path: &'a str },
    /// On a TFTP server given by address or name.
    Tftp {
        server: Host<'a>,
        port: u16,
        path: &'a str,
    },
    /// On a web server (HTTP/1.1), by address or name.
    Http {
        host: Host<'a>,
        port: u16,
        path: &'a str,
    },
}

impl<'a> FileSource<'a> {
    /// The path on the server, with its leading `/`.
    pub fn path(&self) -> &'a str {
        match self {
            FileSource::Server { path }
            | FileSource::Tftp { path, .. }
            | FileSource::Http { path, .. } => path,
        }
    }

    /// A parsed URL as a source.
    pub fn from_url(url: Url<'a>) -> Self {
        match url.scheme {
            Scheme::Tftp => FileSource::Tftp {
                server: url.host,
                port: url.port,
                path: url.path,
            },
            Scheme::Http => FileSource::Http {
                host: url.host,
                port: url.port,
                path: url.path,
            },
        }
    }

    /// A name from DHCP (the boot file, option 209, or option 210 followed by a per-host
    /// name): a `tftp://` or `http://` URL, or else a path on the boot server, sent as is
    /// (relative names included, as PXE ROMs send them).
    pub fn from_dhcp(name: &'a str) -> Result<Self, UrlError> {
        if crate::url::scheme_of(name).is_some() {
            return Url::parse(name).map(FileSource::from_url);
        }
        Ok(FileSource::Server { path: name })
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
        if let Some(scheme) = crate::url::scheme_of(path) {
            return Url::parse(path)
                .map(FileSource::from_url)
                .map_err(|e| ConfigError::at(at, url_error(e, scheme)));
        }
        fail(ConfigErrorKind::RelativePath)
    }
}

fn url_error(error: UrlError, scheme: &str) -> ConfigErrorKind {
    match error {
        UrlError::NotAUrl => ConfigErrorKind::RelativePath,
        UrlError::UnsupportedScheme => ConfigErrorKind::UnsupportedScheme {
            scheme: Excerpt::from_chars(scheme.chars()),
        },
        UrlError::BadHost => ConfigErrorKind::BadAddress,
        UrlError::BadPort => ConfigErrorKind::BadPort,
        UrlError::EmptyPath => ConfigErrorKind::EmptyFileName,
    }
}

/// Writes the source as a user would write it: `/path`, `tftp://10.0.0.9:70/path`,
/// `http://boot.example/path`.
impl fmt::Display for FileSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FileSource::Server { path } => f.write_str(path),
            FileSource::Tftp { server, port, path } => Url {
                scheme: Scheme::Tftp,
                host: server,
                port,
                path,
            }
            .fmt(f),
            FileSource::Http { host, port, path } => Url {
                scheme: Scheme::Http,
                host,
                port,
                path,
            }
            .fmt(f),
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

/// `pxe)/path`, `tftp,10.0.0.9)/path`, `http,boot.example)/path` (the `(` already removed).
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
    let http = name.eq_ignore_ascii_case("http");
    if name.eq_ignore_ascii_case("https") {
        return Err(ConfigErrorKind::UnsupportedScheme {
            scheme: Excerpt::from_chars(name.chars()),
        });
    }
    if !http && !name.eq_ignore_ascii_case("pxe") && !name.eq_ignore_ascii_case("tftp") {
        return Err(ConfigErrorKind::UnsupportedDevice {
            device: Excerpt::from_chars(device.chars()),
        });
    }
    if !path.starts_with('/') {
        return Err(ConfigErrorKind::MissingSlashAfterDevice);
    }
    let path = file_path(path)?;
    let server = match server {
        Some(server) => {
            Some(crate::url::parse_host(server).map_err(|_| ConfigErrorKind::BadAddress)?)
        }
        None => None,
    };
    match (http, server) {
        (false, None) => Ok(FileSource::Server { path }),
        (false, Some(server)) => Ok(FileSource::Tftp {
            server,
            port: TFTP_PORT,
            path,
        }),
        (true, Some(host)) => Ok(FileSource::Http {
            host,
            port: HTTP_PORT,
            path,
        }),
        // GRUB's (http) alone means the server it booted from; DHCP names a TFTP server.
        (true, None) => Err(ConfigErrorKind::BadAddress),
    }
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
                server: Host::Ipv4(server),
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
        assert_eq!(
            parse("tftp://boot.example/k"),
            Ok(FileSource::Tftp {
                server: Host::Name("boot.example"),
                port: 69,
                path: "/k"
            })
        );
    }

    #[test]
    fn http_urls_and_devices() {
        let h = |host, port| {
            Ok(FileSource::Http {
                host,
                port,
                path: "/k",
            })
        };
        assert_eq!(parse("http://1.2.3.4/k"), h(Host::Ipv4([1, 2, 3, 4]), 80));
        assert_eq!(
            parse("Http://boot.test:8080/k"),
            h(Host::Name("boot.test"), 8080)
        );
        assert_eq!(parse("(http,boot.test)/k"), h(Host::Name("boot.test"), 80));
        assert_eq!(
            FileSource::from_dhcp("http://10.1.1.1/b.cfg"),
            Ok(FileSource::Http {
                host: Host::Ipv4([10, 1, 1, 1]),
                port: 80,
                path: "/b.cfg"
            })
        );
        assert_eq!(
            FileSource::from_dhcp("boot.cfg"),
            Ok(FileSource::Server { path: "boot.cfg" })
        );
        assert_eq!(
            FileSource::from_dhcp("https://a/b"),
            Err(UrlError::UnsupportedScheme)
        );
    }

    #[test]
    fn refused_paths() {
        assert_eq!(parse("tftp://1.2.3/k"), Err(K::BadAddress));
        assert_eq!(parse("tftp://1.2.3.256/k"), Err(K::BadAddress));
        assert_eq!(parse("tftp://1.2.3.4.5/k"), Err(K::BadAddress));
        assert_eq!(parse("tftp://[::1]/k"), Err(K::BadPort));
        assert_eq!(parse("tftp://a_b/k"), Err(K::BadAddress));
        assert_eq!(parse("tftp://1.2.3.4:0/k"), Err(K::BadPort));
        assert_eq!(parse("tftp://1.2.3.4:70000/k"), Err(K::BadPort));
        assert_eq!(parse("tftp://1.2.3.4:/k"), Err(K::BadPort));
        assert_eq!(parse("tftp://1.2.3.4"), Err(K::EmptyFileName));
        assert_eq!(parse("tftp://1.2.3.4/"), Err(K::EmptyFileName));
        assert_eq!(parse("/"), Err(K::EmptyFileName));
        assert_eq!(parse("(pxe)kernel"), Err(K::MissingSlashAfterDevice));
        assert_eq!(parse("(http)/k"), Err(K::BadAddress));
        assert_eq!(parse("(tftp,1.2.3)/k"), Err(K::BadAddress));
        assert_eq!(parse("kernel"), Err(K::RelativePath));
        assert_eq!(parse("/a\"b\""), Err(K::PathNotPlain));
        assert!(matches!(
            parse("(hd0,1)/k"),
            Err(K::UnsupportedDevice { .. })
        ));
        assert!(matches!(parse("(pxe"), Err(K::UnsupportedDevice { .. })));
        assert!(matches!(
            parse("https://1.2.3.4/k"),
            Err(K::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            parse("(https,1.2.3.4)/k"),
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
        assert_eq!(show("(http,h.test)/x"), "http://h.test/x");
        assert_eq!(show("HTTP://1.2.3.4:81/x"), "http://1.2.3.4:81/x");
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
