//! The video mode a kernel starts in: EGA text as the BIOS left it, or a VBE linear mode
//! (INT 10h 4F00h/4F01h/4F02h through the real-mode thunk) when the kernel accepts graphics;
//! which mode is `netloader_proto::vbe`'s rule (gfxpayload, the kernel's preference, auto).

use netloader_proto::vbe::{Vbe, Wanted};
use netloader_proto::video::{EGA_TEXT, Framebuffer};
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
use {
    crate::arch::realmode::{BOUNCE_AT, FarPtr, RealMode, Registers},
    crate::println,
    netloader_proto::vbe::{ControllerInfo, LINEAR_FRAMEBUFFER, MAX_MODES, ModeInfo, mode_numbers},
};

/// VBE's "function supported and successful" in AX.
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
const VBE_OK: u32 = 0x004f;
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
const MODE_INFO_AT: usize = 512;

/// The mode the kernel gets, and what VBE said about it when it is a VBE mode.
pub struct Video {
    pub framebuffer: Framebuffer,
    pub vbe: Option<VbeState>,
}

/// Copies of what VBE returned, for the boot information.
pub struct VbeState {
    pub mode: u16,
    pub interface: (u16, u16, u16),
    pub control_info: [u8; 512],
    pub mode_info: [u8; 256],
}

impl VbeState {
    pub fn info(&self) -> Vbe<'_> {
        Vbe {
            mode: self.mode,
            interface_seg: self.interface.0,
            interface_off: self.interface.1,
            interface_len: self.interface.2,
            control_info: &self.control_info,
            mode_info: &self.mode_info,
        }
    }
}

const TEXT: Video = Video {
    framebuffer: EGA_TEXT,
    vbe: None,
};

/// netloader.efi: the firmware's graphics output as it is (GOP's current mode; no mode is
/// set), whatever the kernel asked: a UEFI PC has no text mode to give.
#[cfg(target_os = "uefi")]
pub fn set_mode(_: Option<Wanted>) -> Video {
    match crate::efi::screen::framebuffer() {
        Some(framebuffer) => Video {
            framebuffer,
            vbe: None,
        },
        None => TEXT,
    }
}

/// The option ROM's first stage has no real-mode thunk (and boots no kernel): text.
#[cfg(feature = "chain")]
pub fn set_mode(_: Option<Wanted>) -> Video {
    TEXT
}

/// Sets the mode `wanted` picks (text when `None`, or when no VBE mode fits or VBE fails, with
/// a line saying why). Call it last before the hand-off: afterwards the console prints on
/// serial only.
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
pub fn set_mode(wanted: Option<Wanted>) -> Video {
    let Some(wanted) = wanted else {
        return TEXT;
    };
    let Some(mut rm) = RealMode::take() else {
        println!("video: the real-mode thunk is busy: staying in text mode");
        return TEXT;
    };
    match vbe_mode(&mut rm, &wanted) {
        Ok(video) => video,
        Err(why) => {
            println!("video: {why}: staying in text mode");
            TEXT
        }
    }
}

#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
fn vbe_mode(rm: &mut RealMode, wanted: &Wanted) -> Result<Video, &'static str> {
    // 4F00h: the controller information, "VBE2" asked for (VBE 2.0+ fields).
    let mut control_info = [0u8; 512];
    rm.bounce()[..512].fill(0);
    rm.bounce()[..4].copy_from_slice(b"VBE2");
    let at = RealMode::bounce_ptr(0);
    let mut regs = Registers {
        eax: 0x4f00,
        edi: u32::from(at.offset),
        es: at.segment,
        ..Registers::default()
    };
    // SAFETY: 4F00h writes the 512-byte controller information block at ES:DI, the bounce
    // buffer (2 KiB), and nothing else.
    unsafe { rm.int(0x10, &mut regs) };
    if regs.eax & 0xffff != VBE_OK {
        return Err("no VBE (INT 10h 4F00h failed)");
    }
    control_info.copy_from_slice(&rm.bounce()[..512]);
    let controller = ControllerInfo::new_checked(&control_info).ok_or("VBE older than 2.0")?;
    let version = controller.version();

    // The mode list: often inside the block just read (its reserved part), else in the BIOS.
    let mut numbers = heapless::Vec::<u16, MAX_MODES>::new();
    let list = FarPtr::from_u32(controller.mode_list());
    let linear = u64::from(list.segment) * 16 + u64::from(list.offset);
    let in_block = (BOUNCE_AT as u64..BOUNCE_AT as u64 + 512).contains(&linear);
    let list_bytes: &[u8] = if in_block {
        &control_info[(linear - BOUNCE_AT as u64) as usize..]
    } else if linear < 0x10_0000 - 2 * MAX_MODES as u64 {
        // SAFETY: below 1 MiB (the BIOS areas), identity-mapped and readable.
        unsafe { core::slice::from_raw_parts(linear as *const u8, 2 * MAX_MODES + 2) }
    } else {
        return Err("the VBE mode list is out of reach");
    };
    for number in mode_numbers(list_bytes) {
        let _ = numbers.push(number);
    }

    // 4F01h for each: what it is.
    let mut modes = heapless::Vec::<(u16, ModeInfo), MAX_MODES>::new();
    for &number in &numbers {
        if let Some(block) = mode_info(rm, number) {
            let _ = modes.push((number, ModeInfo::parse(&block, version)));
        }
    }
    let (number, mode) = wanted
        .choose(&modes)
        .ok_or("no VBE mode fits the kernel's request")?;

    // 4F02h with the linear framebuffer bit.
    let mut regs = Registers {
        eax: 0x4f02,
        ebx: u32::from(number | LINEAR_FRAMEBUFFER),
        ..Registers::default()
    };
    // SAFETY: 4F02h sets the mode: it writes the video hardware and video memory only.
    unsafe { rm.int(0x10, &mut regs) };
    if regs.eax & 0xffff != VBE_OK {
        return Err("the VBE mode could not be set (INT 10h 4F02h failed)");
    }
    crate::console::serial_only();
    let mode_info = self::mode_info(rm, number).unwrap_or([0; 256]);
    let interface = protected_mode_interface(rm);
    println!(
        "video: VBE mode {number:#x}, {}x{}x{} at {:#x} (pitch {})",
        mode.width, mode.height, mode.bpp, mode.phys_base, mode.pitch
    );
    Ok(Video {
        framebuffer: mode.framebuffer(),
        vbe: Some(VbeState {
            mode: number | LINEAR_FRAMEBUFFER,
            interface,
            control_info,
            mode_info,
        }),
    })
}

/// 4F01h: the mode information block of `number`.
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
fn mode_info(rm: &mut RealMode, number: u16) -> Option<[u8; 256]> {
    let at = RealMode::bounce_ptr(MODE_INFO_AT);
    rm.bounce()[MODE_INFO_AT..MODE_INFO_AT + 256].fill(0);
    let mut regs = Registers {
        eax: 0x4f01,
        ecx: u32::from(number),
        edi: u32::from(at.offset),
        es: at.segment,
        ..Registers::default()
    };
    // SAFETY: 4F01h writes the 256-byte mode information block at ES:DI, inside the bounce
    // buffer, and nothing else.
    unsafe { rm.int(0x10, &mut regs) };
    if regs.eax & 0xffff != VBE_OK {
        return None;
    }
    let mut block = [0u8; 256];
    block.copy_from_slice(&rm.bounce()[MODE_INFO_AT..MODE_INFO_AT + 256]);
    Some(block)
}

/// 4F0Ah: the protected-mode interface (segment, offset, length), zeros where there is none.
#[cfg(all(not(feature = "chain"), not(target_os = "uefi")))]
fn protected_mode_interface(rm: &mut RealMode) -> (u16, u16, u16) {
    let mut regs = Registers {
        eax: 0x4f0a,
        ..Registers::default()
    };
    // SAFETY: 4F0Ah with BL = 0 returns a pointer in ES:DI and a length in CX; it writes no
    // memory.
    unsafe { rm.int(0x10, &mut regs) };
    if regs.eax & 0xffff != VBE_OK {
        return (0, 0, 0);
    }
    (regs.es, regs.edi as u16, regs.ecx as u16)
}
