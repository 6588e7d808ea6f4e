//! The stand-in for `netloader.efi` in the UEFI boot tests, until netloader has its UEFI
//! application (issue 16). It proves that the firmware found it where the image writers put it
//! (the ISO's El Torito EFI entry, an EFI system partition, a PXE/TFTP boot) and started it,
//! and says how:
//!
//! - one line on the firmware's text console (ConOut), which OVMF mirrors to COM1;
//! - its report straight to COM1 (the test kernels' serial module, so the bytes in the log are
//!   exactly its own): the firmware's name, the device path it was loaded from and, for a
//!   network boot, what the firmware's PXE Base Code received (DHCP ACK, proxy offer, the
//!   port-4011 boot server reply) and the boot file each answer named;
//!
//! then it ends QEMU through isa-debug-exit with the status the test kernels use for pass (33).
//! It loads nothing and hands nothing over.

#![no_std]
#![no_main]

use core::ffi::c_void;
use core::fmt::{self, Write as _};

use uefi_raw::protocol::device_path::{DevicePathProtocol, DevicePathToTextProtocol};
use uefi_raw::protocol::loaded_image::LoadedImageProtocol;
use uefi_raw::protocol::network::pxe::{PxeBaseCodeMode, PxeBaseCodePacket, PxeBaseCodeProtocol};
use uefi_raw::table::system::SystemTable;
use uefi_raw::{Boolean, Char16, Guid, Handle, Status};

#[allow(dead_code)] // the stub uses part of the kernels' serial module
#[path = "../../kernel/src/serial.rs"]
mod serial;

use serial::line;

/// isa-debug-exit (port 0xF4) makes a written value v into QEMU's exit status (v << 1) | 1:
/// 0x10 is 33, the test kernels' pass; 0x11 is 35, their failure.
const DEBUG_EXIT_PORT: u16 = 0xf4;
const EXIT_PASS: u8 = 0x10;
const EXIT_FAIL: u8 = 0x11;

/// Offsets in a BOOTP/DHCP message: the boot server's address and the boot file field.
const BOOTP_SIADDR: usize = 20;
const BOOTP_FILE: core::ops::Range<usize> = 108..236;

#[unsafe(no_mangle)]
extern "efiapi" fn efi_main(image: Handle, system_table: *mut SystemTable) -> Status {
    serial::set_prefix("efi-stub:");
    // SAFETY: the firmware passes its system table, valid while boot services run (all along).
    let system = unsafe { &*system_table };
    con_out(system, "netloader EFI stand-in: hello on ConOut\r\n");
    line!("started, firmware {}", Text16(system.firmware_vendor));
    let to_text =
        protocol::<DevicePathToTextProtocol>(system, None, &DevicePathToTextProtocol::GUID);
    match protocol::<LoadedImageProtocol>(system, Some(image), &LoadedImageProtocol::GUID) {
        Some(loaded) => {
            let device = protocol::<DevicePathProtocol>(
                system,
                Some(loaded.device_handle),
                &DevicePathProtocol::GUID,
            );
            line!(
                "device {}",
                PathText(system, to_text, device.map(|d| d as *const _))
            );
            line!("file {}", PathText(system, to_text, Some(loaded.file_path)));
            let pxe = protocol::<PxeBaseCodeProtocol>(
                system,
                Some(loaded.device_handle),
                &PxeBaseCodeProtocol::GUID,
            );
            if let Some(pxe) = pxe {
                // SAFETY: the protocol's mode is valid as long as the protocol is.
                report_pxe(unsafe { &*pxe.mode });
            }
        }
        None => line!("no loaded image protocol on the image handle"),
    }
    line!("done");
    exit_qemu(EXIT_PASS)
}

/// What the firmware's PXE Base Code received, and the boot server and file each answer named.
fn report_pxe(mode: &PxeBaseCodeMode) {
    let yes = |b: Boolean| if bool::from(b) { "yes" } else { "no" };
    // SAFETY: every byte pattern is a valid IPv4 address.
    let station = unsafe { mode.station_ip.v4 }.0;
    line!(
        "pxe dhcp-ack {} proxy-offer {} pxe-reply {} station {}.{}.{}.{}",
        yes(mode.dhcp_ack_received),
        yes(mode.proxy_offer_received),
        yes(mode.pxe_reply_received),
        station[0],
        station[1],
        station[2],
        station[3]
    );
    for (name, received, packet) in [
        ("dhcp-ack", mode.dhcp_ack_received, &mode.dhcp_ack),
        ("proxy-offer", mode.proxy_offer_received, &mode.proxy_offer),
        ("pxe-reply", mode.pxe_reply_received, &mode.pxe_reply),
    ] {
        if bool::from(received) {
            report_packet(name, packet);
        }
    }
}

fn report_packet(name: &str, packet: &PxeBaseCodePacket) {
    let raw: &[u8; 1472] = packet.as_ref();
    let server = &raw[BOOTP_SIADDR..BOOTP_SIADDR + 4];
    let file = &raw[BOOTP_FILE];
    let file = &file[..file.iter().position(|&b| b == 0).unwrap_or(file.len())];
    line!(
        "pxe {name}: server {}.{}.{}.{} file \"{}\"",
        server[0],
        server[1],
        server[2],
        server[3],
        Ascii(file)
    );
}

/// `guid`'s interface on `handle`, or the first one installed anywhere when `handle` is None.
fn protocol<T>(system: &SystemTable, handle: Option<Handle>, guid: &Guid) -> Option<&'static T> {
    // SAFETY: boot services stay valid while this program runs (it never exits them).
    let boot = unsafe { &*system.boot_services };
    let mut interface: *mut c_void = core::ptr::null_mut();
    // SAFETY: `guid` names the protocol whose table layout `T` is; the firmware writes the
    // interface pointer, which stays valid while the protocol is installed (all along here).
    let status = unsafe {
        match handle {
            Some(handle) => (boot.handle_protocol)(handle, guid, &mut interface),
            None => (boot.locate_protocol)(guid, core::ptr::null_mut(), &mut interface),
        }
    };
    if status != Status::SUCCESS || interface.is_null() {
        return None;
    }
    // SAFETY: as above: a live interface of type `T`.
    Some(unsafe { &*interface.cast::<T>() })
}

fn con_out(system: &SystemTable, text: &str) {
    if system.stdout.is_null() {
        return;
    }
    let mut buffer = [0u16; 128];
    for chunk in text.as_bytes().chunks(buffer.len() - 1) {
        for (slot, &byte) in buffer.iter_mut().zip(chunk) {
            *slot = u16::from(byte);
        }
        buffer[chunk.len()] = 0;
        // SAFETY: ConOut is the firmware's console; the string is NUL-terminated UCS-2.
        let _ = unsafe { ((*system.stdout).output_string)(system.stdout, buffer.as_ptr()) };
    }
}

/// A device path as the firmware's DevicePathToText protocol writes it (the UEFI spec's text
/// form, e.g. `PciRoot(0x0)/Pci(0x1,0x1)/Ata(Secondary,Master,0x0)/CDROM(0x1,0x74,0x28)`).
struct PathText<'a>(
    &'a SystemTable,
    Option<&'a DevicePathToTextProtocol>,
    Option<*const DevicePathProtocol>,
);

impl fmt::Display for PathText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Some(to_text), Some(path)) = (self.1, self.2.filter(|p| !p.is_null())) else {
            return f.write_str("(none)");
        };
        // SAFETY: `path` is a device path the firmware gave; the text is pool memory we free.
        let text =
            unsafe { (to_text.convert_device_path_to_text)(path, Boolean::FALSE, Boolean::FALSE) };
        if text.is_null() {
            return f.write_str("(no text)");
        }
        let result = Text16(text).fmt(f);
        // SAFETY: DevicePathToText allocates the string from pool memory for the caller.
        let _ = unsafe { ((*self.0.boot_services).free_pool)(text.cast()) };
        result
    }
}

/// A NUL-terminated UCS-2 string, non-ASCII characters as `?`.
struct Text16(*const Char16);

impl fmt::Display for Text16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_null() {
            return f.write_str("(none)");
        }
        let mut at = self.0;
        loop {
            // SAFETY: the string is NUL-terminated; reading stops at the NUL.
            let unit = unsafe { *at };
            if unit == 0 {
                return Ok(());
            }
            let c = char::from_u32(u32::from(unit))
                .filter(char::is_ascii)
                .unwrap_or('?');
            f.write_char(c)?;
            // SAFETY: not past the NUL, which is still ahead.
            at = unsafe { at.add(1) };
        }
    }
}

/// Bytes as text, non-printing ones as `?`.
struct Ascii<'a>(&'a [u8]);

impl fmt::Display for Ascii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|&b| {
            f.write_char(if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            })
        })
    }
}

fn exit_qemu(code: u8) -> ! {
    serial::outb(DEBUG_EXIT_PORT, code);
    // Not under QEMU (no isa-debug-exit): stay here; the report is out.
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    line!("panic: {}", info.message());
    exit_qemu(EXIT_FAIL)
}
