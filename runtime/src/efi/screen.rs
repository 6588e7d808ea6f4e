//! netloader.efi's screen: the firmware's text output on its graphics console, while boot
//! services run (the VGA text buffer the BIOS forms write is not there on a UEFI PC).
//!
//! Not ConOut itself: ConOut is a splitter that also feeds the firmware's serial terminal,
//! which would put every line on COM1 a second time, re-formatted by the terminal driver
//! (wrapped at 80 columns, escape sequences), beside the console's own exact bytes on COM1.
//! So the screen is the text output whose device is not a UART (the graphics console); where
//! there is none (a headless machine), ConOut's lines are left out and COM1 alone speaks.

use core::fmt;
use core::ops::ControlFlow;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};

use uefi_raw::protocol::console::{InputKey, SimpleTextOutputProtocol};
use uefi_raw::protocol::device_path::DevicePathProtocol;
use uefi_raw::{Char16, Handle, Status};

static SCREEN: AtomicPtr<SimpleTextOutputProtocol> = AtomicPtr::new(null_mut());

/// A device path's messaging node of subtype UART.
const MESSAGING: u8 = 3;
const UART: u8 = 14;

/// Finds the graphics console's text output (see the module docs).
pub fn init() {
    super::each_handle(&SimpleTextOutputProtocol::GUID, |handle| {
        // The splitter (ConOut itself) has no device path; the serial terminal's ends in UART.
        let Some(path) = super::device_path(handle) else {
            return ControlFlow::Continue(());
        };
        // SAFETY: a device path the firmware installed: nodes up to an end node.
        if unsafe { has_uart(path) } {
            return ControlFlow::Continue(());
        }
        // SAFETY: the text output GUID names SimpleTextOutputProtocol.
        match unsafe {
            super::protocol::<SimpleTextOutputProtocol>(handle, &SimpleTextOutputProtocol::GUID)
        } {
            Some(out) => {
                SCREEN.store(out, Ordering::Relaxed);
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    });
}

/// Whether a device path has a UART node.
///
/// # Safety
/// `path` is a well-formed device path.
unsafe fn has_uart(path: *const DevicePathProtocol) -> bool {
    let mut uart = false;
    // SAFETY: the caller's promise.
    unsafe {
        super::walk_device_path(path, |kind, subtype, _| {
            uart |= (kind, subtype) == (MESSAGING, UART)
        })
    };
    uart
}

/// Prints `text` on the screen while boot services run (newlines as CR LF); nothing after.
pub fn write(text: &str) {
    let out = SCREEN.load(Ordering::Relaxed);
    if out.is_null() || super::boot_services().is_none() {
        return;
    }
    let mut buffer = [0u16; 129];
    let mut len = 0;
    let flush = |buffer: &mut [u16; 129], len: &mut usize| {
        buffer[*len] = 0;
        // SAFETY: a NUL-terminated UCS-2 string on the firmware's live text output.
        let _ = unsafe { ((*out).output_string)(out, buffer.as_ptr()) };
        *len = 0;
    };
    for c in text.chars() {
        if len + 2 >= buffer.len() - 1 {
            flush(&mut buffer, &mut len);
        }
        if c == '\n' {
            buffer[len] = u16::from(b'\r');
            len += 1;
        }
        // Outside the BMP: a replacement character (UCS-2 has no surrogates here).
        buffer[len] = u16::try_from(u32::from(c)).unwrap_or(0xfffd);
        len += 1;
    }
    if len > 0 {
        flush(&mut buffer, &mut len);
    }
}

/// Whether a key was pressed on the firmware's keyboard (ConIn), while boot services run.
pub fn key_waiting() -> bool {
    read_key().is_some()
}

/// The next key from the firmware's keyboard (ConIn): its UEFI scan code and character.
pub fn read_key() -> Option<(u16, char)> {
    super::boot_services()?;
    let input = super::system_table().stdin;
    if input.is_null() {
        return None;
    }
    let mut key = InputKey::default();
    // SAFETY: the firmware's live ConIn; ReadKeyStroke writes one key.
    let status = unsafe { ((*input).read_key_stroke)(input, &mut key) };
    (status == Status::SUCCESS).then(|| {
        let c = char::from_u32(u32::from(key.unicode_char)).unwrap_or('\0');
        (key.scan_code, c)
    })
}

/// A firmware UCS-2 string (the vendor's name), as text.
pub struct Text16(pub *const Char16);

impl fmt::Display for Text16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_null() {
            return f.write_str("(unnamed)");
        }
        for i in 0..1024 {
            // SAFETY: a NUL-terminated string from the firmware's system table.
            let unit = unsafe { *self.0.cast::<u16>().add(i) };
            if unit == 0 {
                break;
            }
            let c = char::from_u32(u32::from(unit)).unwrap_or('?');
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

/// The firmware's graphics output (GOP) in its current mode, as a kernel is told of it;
/// `None` without GOP or with a mode that has no linear framebuffer (BltOnly).
pub fn framebuffer() -> Option<netloader_proto::video::Framebuffer> {
    use netloader_proto::video::{ColorModel, Framebuffer};
    use uefi_raw::protocol::console::{GraphicsOutputProtocol, GraphicsPixelFormat};
    let boot = super::boot_services()?;
    let mut interface: *mut core::ffi::c_void = null_mut();
    // SAFETY: LocateProtocol writes the interface pointer.
    let status = unsafe {
        (boot.locate_protocol)(
            &GraphicsOutputProtocol::GUID,
            core::ptr::null(),
            &mut interface,
        )
    };
    if status != Status::SUCCESS || interface.is_null() {
        return None;
    }
    // SAFETY: a live GOP instance, its mode and the mode's information.
    let (mode, info) = unsafe {
        let gop = &*interface.cast::<GraphicsOutputProtocol>();
        let mode = &*gop.mode;
        (mode, &*mode.info)
    };
    // A channel's (position, size) from its bit mask.
    let channel = |mask: u32| (mask.trailing_zeros().min(31) as u8, mask.count_ones() as u8);
    let (red, green, blue, bpp) = match info.pixel_format {
        GraphicsPixelFormat::PIXEL_RED_GREEN_BLUE_RESERVED_8_BIT_PER_COLOR => {
            ((0, 8), (8, 8), (16, 8), 32)
        }
        GraphicsPixelFormat::PIXEL_BLUE_GREEN_RED_RESERVED_8_BIT_PER_COLOR => {
            ((16, 8), (8, 8), (0, 8), 32)
        }
        GraphicsPixelFormat::PIXEL_BIT_MASK => {
            let masks = info.pixel_information;
            let all = masks.red | masks.green | masks.blue | masks.reserved;
            (
                channel(masks.red),
                channel(masks.green),
                channel(masks.blue),
                (32 - all.leading_zeros()).next_multiple_of(8) as u8,
            )
        }
        _ => return None,
    };
    Some(Framebuffer {
        address: mode.frame_buffer_base,
        pitch: info.pixels_per_scan_line * u32::from(bpp) / 8,
        width: info.horizontal_resolution,
        height: info.vertical_resolution,
        bpp,
        model: ColorModel::Rgb { red, green, blue },
    })
}
