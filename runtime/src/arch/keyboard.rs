//! The machine's own keyboard, for the boot menu: the PS/2 controller on a BIOS PC (scan code
//! set 1), the firmware's ConIn in netloader.efi (the firmware's keyboard driver owns the
//! controller there).

/// A key as the menu knows them.
pub enum Key {
    Enter,
    Up,
    Down,
    Digit(u8),
    /// Any other key, or a key's release: someone is there.
    Other,
}

/// The next key, if one was pressed (consumed).
#[cfg(not(target_os = "uefi"))]
pub fn read() -> Option<Key> {
    use super::port::Port;
    // SAFETY: the 8042's status and data ports; reading them only consumes a pending byte.
    let code =
        unsafe { (Port::<u8>::new(0x64).read() & 1 != 0).then(|| Port::<u8>::new(0x60).read()) }?;
    Some(match code {
        0x1c => Key::Enter,
        0x48 => Key::Up,
        0x50 => Key::Down,
        0x02..=0x0a => Key::Digit(code - 0x01),
        0x0b => Key::Digit(0),
        _ => Key::Other,
    })
}

/// The next key, if one was pressed (consumed): UEFI scan codes 1 and 2 are up and down.
#[cfg(target_os = "uefi")]
pub fn read() -> Option<Key> {
    let (scan, c) = crate::efi::screen::read_key()?;
    Some(match (scan, c) {
        (1, _) => Key::Up,
        (2, _) => Key::Down,
        (_, '\r' | '\n') => Key::Enter,
        (_, c @ '0'..='9') => Key::Digit(c as u8 - b'0'),
        _ => Key::Other,
    })
}
