//! Why a boot stopped: a stable code (listed in docs/errors.md) and a message, printed as one
//! line `CODE: message`. Decisions are made on the typed errors a failure is built from (a
//! `NetError`, a `PlanError`, ...), never on its text.

use core::fmt::{self, Write};

use crate::net::{FetchError, NetError};

pub struct Failure {
    /// Empty when the message is a lower layer's whole line, code included.
    code: &'static str,
    message: heapless::String<384>,
}

impl Failure {
    // One copy for every call site (the option ROM's first stage counts its bytes).
    #[inline(never)]
    pub fn new(code: &'static str, message: fmt::Arguments) -> Failure {
        let mut text = heapless::String::new();
        // A message longer than the buffer is cut; the code survives whole.
        let _ = text.write_fmt(message);
        Failure {
            code,
            message: text,
        }
    }

    /// An error of a lower layer that prints its own `CODE: message` line (the card scan's,
    /// the network's): kept as it is.
    pub fn from_line(line: impl fmt::Display) -> Failure {
        Failure::new("", format_args!("{line}"))
    }

    /// Adds to the message (a hint the layer that made the failure could not know).
    #[cfg_attr(not(feature = "chain"), allow(dead_code))]
    pub fn add(&mut self, more: fmt::Arguments) {
        let _ = self.message.write_fmt(more);
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.code.is_empty() {
            write!(f, "{}: ", self.code)?;
        }
        f.write_str(&self.message)
    }
}

impl From<NetError> for Failure {
    fn from(e: NetError) -> Failure {
        Failure::from_line(e)
    }
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Failure {
        Failure::from_line(e)
    }
}

/// A failure line: `fail!("E-CODE", "what failed: what to check", args...)`.
macro_rules! fail {
    ($code:expr, $($arg:tt)*) => {
        $crate::boot::Failure::new($code, format_args!($($arg)*))
    };
}
pub(crate) use fail;
