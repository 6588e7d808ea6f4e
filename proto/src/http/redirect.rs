//! Following a redirect: 301, 302, 303, 307 and 308 with a `Location`, to another `http://`
//! URL (absolute, or a path on the same server, or relative to the current path), at most
//! [`MAX_REDIRECTS`] in a row. A redirect to `https://` (or anything not `http://`) is refused:
//! there is no TLS here, and silently fetching by another protocol would surprise.

use core::fmt::{self, Write};

use crate::url::{Scheme, Url, UrlError};

/// Redirects followed for one file before giving up (a loop, or a chain too long).
pub const MAX_REDIRECTS: u8 = 5;

/// Room for a resolved URL.
pub type UrlText = heapless::String<512>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectError {
    /// A redirect status without a Location header.
    NoLocation {
        status: u16,
    },
    /// To another scheme (https://, ftp://, ...).
    OtherScheme,
    /// A Location we cannot read as a URL.
    BadLocation(UrlError),
    /// The resolved URL does not fit in [`UrlText`].
    TooLong,
    TooMany,
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectError::NoLocation { status } => {
                write!(f, "a redirect (HTTP {status}) without a Location")
            }
            RedirectError::OtherScheme => {
                f.write_str("redirected to another scheme (only http:// is followed)")
            }
            RedirectError::BadLocation(e) => write!(f, "redirected to a bad URL: {e}"),
            RedirectError::TooLong => f.write_str("redirected to a URL longer than 512 bytes"),
            RedirectError::TooMany => write!(f, "more than {MAX_REDIRECTS} redirects in a row"),
        }
    }
}

/// Is this status a redirect we follow?
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Resolve `location` against `current` into `out` and parse it. The fragment (`#...`) is
/// dropped, as clients do.
pub fn redirect_target<'o>(
    current: &Url<'_>,
    location: &str,
    out: &'o mut UrlText,
) -> Result<Url<'o>, RedirectError> {
    let location = location.split('#').next().unwrap_or("");
    out.clear();
    let full = |out: &mut UrlText, args: fmt::Arguments<'_>| {
        out.write_fmt(args).map_err(|_| RedirectError::TooLong)
    };
    if let Some(scheme) = crate::url::scheme_of(location) {
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(RedirectError::OtherScheme);
        }
        full(out, format_args!("{location}"))?;
    } else if let Some(rest) = location.strip_prefix("//") {
        full(out, format_args!("http://{rest}"))?;
    } else {
        let base = Url {
            path: "/",
            ..*current
        };
        // "http://host[:port]" without the "/" the Display of a path-less URL ends with.
        full(out, format_args!("{base}"))?;
        out.pop();
        if location.starts_with('/') {
            full(out, format_args!("{location}"))?;
        } else {
            let path = current.path.split('?').next().unwrap_or("/");
            let directory = path.rfind('/').map_or("/", |i| &path[..=i]);
            full(out, format_args!("{directory}{location}"))?;
        }
    }
    let url = Url::parse(out.as_str()).map_err(RedirectError::BadLocation)?;
    if url.scheme != Scheme::Http {
        return Err(RedirectError::OtherScheme);
    }
    Ok(url)
}
