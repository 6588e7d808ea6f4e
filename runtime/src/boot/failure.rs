//! Why a boot stopped: a stable code (listed in docs/errors.md) and a message, printed as one
//! line `CODE: message`. Decisions are made on the typed errors a failure is built from (a
//! `NetError`, a `PlanError`, ...), never on its text.

use core::fmt::{self, Write};

use crate::net::NetError;

pub struct Failure {
    code: &'static str,
    message: heapless::String<384>,
}

impl Failure {
    pub fn new(code: &'static str, message: fmt::Arguments) -> Failure {
        let mut text = heapless::String::new();
        // A message longer than the buffer is cut; the code survives whole.
        let _ = text.write_fmt(message);
        Failure {
            code,
            message: text,
        }
    }

    /// An error of a lower layer that prints its own `CODE: message` line (the card scan's):
    /// its code is the text before the first `": "`, one of [`LINE_CODES`].
    pub fn from_line(line: impl fmt::Display) -> Failure {
        let mut text = heapless::String::<384>::new();
        let _ = write!(text, "{line}");
        let (code, message) = text.split_once(": ").unwrap_or(("E-PANIC", &text));
        let code = LINE_CODES
            .iter()
            .copied()
            .find(|&known| known == code)
            .unwrap_or("E-PANIC");
        Failure::new(code, format_args!("{message}"))
    }

    /// Adds to the message (a hint the layer that made the failure could not know).
    #[cfg_attr(not(feature = "chain"), allow(dead_code))]
    pub fn add(&mut self, more: fmt::Arguments) {
        let _ = self.message.write_fmt(more);
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<NetError> for Failure {
    fn from(e: NetError) -> Failure {
        let code = e.code();
        let mut line = heapless::String::<384>::new();
        let _ = write!(line, "{e}");
        let message = line
            .strip_prefix(code)
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(&line);
        Failure::new(code, format_args!("{message}"))
    }
}

/// The codes of the card scan's errors, which print their own line (nic.rs).
const LINE_CODES: &[&str] = &["E-NIC-NONE", "E-NIC-UNSUPPORTED", "E-NIC-OPEN"];

/// A failure line: `fail!("E-CODE", "what failed: what to check", args...)`.
macro_rules! fail {
    ($code:expr, $($arg:tt)*) => {
        $crate::boot::Failure::new($code, format_args!($($arg)*))
    };
}
pub(crate) use fail;
