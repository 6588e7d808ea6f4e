//! Linux (`linux` / `initrd` entries): the 32-bit boot protocol (boot.rst) as GRUB's `linux`
//! uses it on a BIOS PC, over the load planner and the hand-off. The policy (what goes where)
//! is `netloader_proto::linux`; this module does it:
//!
//! 1. the bzImage arrives in the download area (inflated, if it was compressed) and its header
//!    is checked: boot protocol 2.06 or newer, a 32-bit entry;
//! 2. the zero page, with the command line right after it: one piece in conventional memory,
//!    as high as it goes, where netloader keeps all boot information (and GRUB puts it too);
//!    the zero page takes the setup header at once, before the file may be overwritten;
//! 3. the kernel: the download area is given up (the kernel may land on it), the first of the
//!    kernel's placements the planner can meet is its place (pref_address, else relocated with
//!    kernel_alignment stepping down to min_alignment), with init_size reserved from there; the
//!    protected-mode part is moved there (a memmove: the two may overlap);
//! 4. the initrd files, never inflated, each at a 4-byte boundary (zeros between), fetched one
//!    after the other into the largest free block above the kernel's memory, then moved up whole
//!    to the highest place allowed (initrd_addr_max, 4 GiB, `mem=`): the total size is known
//!    only once the last file is in, so it takes one copy;
//! 5. the E820 table, the ACPI RSDP, screen_info: the EGA text screen with the cursor where
//!    netloader's last line ended, or the VBE linear mode `set gfxpayload=WxH[xD]|auto` asks
//!    for (GRUB's rule for Linux on a BIOS PC: text unless gfxpayload names modes); the
//!    trampoline in conventional memory; the entry at code32_start (moved as far as the
//!    kernel was), ESI = the zero page, CS = 0x10, DS = ES = SS = 0x18.
//!
//! From netloader.efi the same, after ExitBootServices, with efi_info ("EL64", the system
//! table, a copy of the final EFI memory map in a page block of its own) and the E820 table
//! made from the EFI map, as GRUB's `linux` on a 64-bit UEFI gives them; the screen is the
//! firmware's graphics output as it is.

use core::fmt::Write;

use netloader_proto::config::{Gfxpayload, MenuEntry};
use netloader_proto::linux::placement::{
    InitrdLayout, KernelLoad, KernelPlan, initrd_ceiling, initrd_request, mem_limit,
    zero_page_request,
};
use netloader_proto::linux::{
    BzImage, LinuxError, SetupHeader, TYPE_OF_LOADER_UNDEFINED, TextCursor, ZERO_PAGE_LEN, ZeroPage,
};
use netloader_proto::planner::Use;
use netloader_proto::vbe::Wanted;

use super::fetch::Destination;
use super::plan::{PAGE, Planner, align_up};
use super::{CMDLINE_MAX, Failure, Session, fail, handoff, video};
use crate::download::MemorySink;
use crate::println;

pub(super) fn boot(
    session: &mut Session,
    entry: &MenuEntry,
    downloaded: Option<MemorySink>,
) -> Result<core::convert::Infallible, Failure> {
    let kernel_line = &entry.kernel;
    let path = kernel_line.source.path();
    let file = match downloaded {
        Some(sink) => sink,
        None => session.download_kernel(kernel_line)?,
    };
    let image = BzImage::new_checked(file.bytes()).map_err(|e| refused(path, e))?;
    let header = *image.header();
    let kernel_plan = KernelPlan::new(&image);
    println!(
        "kernel: {path}: Linux bzImage, boot protocol {}.{:02}, {} bytes to load, {}, needs {:#x} bytes from its load address",
        header.version >> 8,
        header.version & 0xFF,
        header.protected_len,
        if header.relocatable {
            "relocatable"
        } else {
            "not relocatable"
        },
        kernel_plan.size
    );
    let mut plan = session.layout.planner(session.map)?;

    // The command line as GRUB 2 gives it to Linux: `BOOT_IMAGE=<path as written> args`.
    let mut cmdline = heapless::String::<CMDLINE_MAX>::new();
    let mut written = write!(cmdline, "BOOT_IMAGE={}", kernel_line.path);
    if kernel_line.args().next().is_some() {
        written = written.and_then(|()| write!(cmdline, " {}", kernel_line.cmdline()));
    }
    written.map_err(|_| {
        fail!(
            "E-CONFIG-CMDLINE",
            "the command line of {path} (line {}) is longer than {CMDLINE_MAX} bytes: shorten it in the config",
            kernel_line.line
        )
    })?;

    // The zero page and the command line after it, below 640 KiB.
    let low = plan
        .place(zero_page_request(cmdline.len()))
        .map_err(|e| fail!("E-KERNEL-LOWMEM", "{path}: the zero page: {e}"))?;
    // SAFETY: the planner just reserved `low` (a page for the zero page, then the command line
    // and its NUL) in free conventional memory, identity-mapped, page-aligned.
    let (page, text) = unsafe {
        (
            &mut *(low.start as *mut [u8; ZERO_PAGE_LEN]),
            core::slice::from_raw_parts_mut(
                (low.start + ZERO_PAGE_LEN as u64) as *mut u8,
                cmdline.len() + 1,
            ),
        )
    };
    let mut zero_page = ZeroPage::new(page, &image, TYPE_OF_LOADER_UNDEFINED);
    text[..cmdline.len()].copy_from_slice(cmdline.as_bytes());
    text[cmdline.len()] = 0;
    let cmdline_at = low.start + ZERO_PAGE_LEN as u64;
    zero_page
        .set_cmdline(cmdline_at as u32, cmdline.len())
        .map_err(|e| refused(path, e))?;

    // The kernel: where the planner can put it, its file's protected-mode part moved there.
    let protected = image.protected_mode_range();
    let source = file.start() + protected.start as u64;
    plan.release(Use::Download);
    let place = kernel_plan
        .attempts()
        .find_map(|request| plan.place(request).ok())
        .ok_or_else(|| {
            fail!(
                "E-KERNEL-TOOBIG",
                "{path}: no room for the kernel: {:#x} bytes at {:#x}{} below 4 GiB (see the memory map above)",
                kernel_plan.size,
                kernel_plan.preferred,
                if kernel_plan.relocatable {
                    " or, relocated, above it"
                } else {
                    ""
                }
            )
        })?;
    let load = kernel_plan
        .loaded_at(place.start)
        .map_err(|e| refused(path, e))?;
    // SAFETY: the destination was just reserved for the kernel (free RAM below 4 GiB); the
    // source is the downloaded file in the download area, which nothing else uses now and
    // which the destination may overlap (a memmove). The file is not read after this: the
    // zero page holds its header already.
    unsafe {
        core::ptr::copy(
            source as *const u8,
            place.start as *mut u8,
            protected.end - protected.start,
        )
    };
    zero_page.set_kernel(&load);

    let initrd = load_initrd(
        session,
        &mut plan,
        entry,
        &header,
        &load,
        mem_limit(cmdline.as_bytes()),
    )?;
    if let Some((start, size)) = initrd {
        zero_page
            .set_initrd(start, size)
            .map_err(|e| refused(path, e))?;
    }
    let map = session.map;
    zero_page
        .set_e820(map.entries(), map.upper_kib())
        .map_err(|e| refused(path, e))?;
    if let Some(rsdp) = crate::arch::rsdp() {
        zero_page.set_acpi_rsdp(rsdp.address);
    }

    // The trampoline: the largest free block below 640 KiB, cut down to what it needs.
    let area = super::low_area(&mut plan, path)?;
    let area = area.start..area.start + handoff::AREA_HEADER_BYTES;
    plan.shrink(Use::BootInfo, area.start, area.end);

    match initrd {
        Some((start, size)) => println!(
            "boot: kernel at {:#x} (alignment {:#x}), initrd at {start:#x} ({size} bytes), zero page at {:#x}, entering the kernel at {:#x}",
            load.address, load.alignment, low.start, load.entry
        ),
        None => println!(
            "boot: kernel at {:#x} (alignment {:#x}), no initrd, zero page at {:#x}, entering the kernel at {:#x}",
            load.address, load.alignment, low.start, load.entry
        ),
    }
    // GRUB's rule for Linux on a BIOS PC: text unless `set gfxpayload` names modes (`keep`
    // is netloader's text screen). Set last: the console prints on serial only afterwards.
    let wanted = match entry.gfxpayload {
        Some(Gfxpayload::Modes(_)) => Wanted::new(Some((0, 0, 0)), entry.gfxpayload),
        _ => None,
    };
    let video = video::set_mode(wanted);
    // In text mode the kernel's console goes on where netloader's last line ended.
    let (x, y) = crate::console::vga_cursor();
    zero_page.set_screen(&video.framebuffer, TextCursor { x, y });
    #[cfg(target_os = "uefi")]
    {
        use netloader_proto::linux::EfiInfo;
        use netloader_proto::planner::Request;
        // The kernel keeps reading the map after entry: a block of its own, reserved before
        // ExitBootServices (the map cannot grow past netloader's 64 KiB buffer).
        let room = plan
            .place(Request::pages(Use::BootInfo, 64 * 1024).below(1 << 32))
            .map_err(|e| {
                fail!(
                    "E-KERNEL-LOWMEM",
                    "{path}: no room for the EFI memory map: {e}"
                )
            })?;
        let efi = super::leave_firmware(session.net, false)?;
        let bytes = efi.map.bytes;
        // SAFETY: the block the planner just reserved (64 KiB, the map's largest size),
        // identity-mapped; the source is netloader's buffer, elsewhere.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), room.start as *mut u8, bytes.len())
        };
        zero_page.set_efi64(&EfiInfo {
            system_table: efi.system_table,
            memory_map: room.start,
            memory_map_size: bytes.len() as u32,
            descriptor_size: efi.map.descriptor_size,
            descriptor_version: efi.map.version,
        });
    }
    let entry = handoff::Entry::linux(load.entry, low.start as u32);
    // SAFETY: the kernel is in place, the initrd, zero page and command line are written, the
    // trampoline's area is reserved (nothing lands on it; there are no deferred copies), the
    // card is closed.
    unsafe { handoff::enter(area, &[], &entry) }
}

/// The initrd files one after the other (each at a 4-byte boundary), as high as the kernel
/// allows: `(address, size)`, or None without an `initrd` line.
fn load_initrd(
    session: &mut Session,
    plan: &mut Planner,
    entry: &MenuEntry,
    header: &SetupHeader,
    load: &KernelLoad,
    mem_limit: Option<u64>,
) -> Result<Option<(u64, u64)>, Failure> {
    let mut files = entry.initrds().peekable();
    let Some(first) = files.peek() else {
        return Ok(None);
    };
    let first_path = first.source.path();
    let no_room = |room: u64| {
        fail!(
            "E-INITRD-TOOBIG",
            "{first_path}: no memory for the initrd between the kernel's end ({:#x}) and its ceiling ({:#x}): {} KiB free there",
            load.reserved_end,
            initrd_ceiling(header, mem_limit),
            room / 1024
        )
    };
    // Collected low in the largest free block above the kernel's memory...
    let window = align_up(load.reserved_end, PAGE)..initrd_ceiling(header, mem_limit);
    let block = plan
        .largest_free(window)
        .filter(|block| block.end > block.start)
        .ok_or_else(|| no_room(0))?;
    plan.reserve(block.clone(), Use::Initrd)
        .map_err(|_| no_room(block.end - block.start))?;
    let mut end = 0u64;
    for line in files {
        let start = InitrdLayout::next_offset(end).unwrap_or(u64::MAX);
        let at = block.start.saturating_add(start);
        if at > block.end {
            return Err(no_room(block.end - block.start));
        }
        // SAFETY: the gap (at most 3 bytes) lies inside the block reserved above.
        unsafe {
            core::ptr::write_bytes((block.start + end) as *mut u8, 0, (start - end) as usize)
        };
        let area = Destination::Area(at..block.end);
        let file = session.fetch(&line, area, "E-INITRD-TOOBIG")?;
        end = start + file.len();
    }
    plan.shrink(Use::Initrd, block.start, block.start);
    if end == 0 {
        return Ok(None);
    }
    // ... then moved up whole to the highest place allowed.
    let layout = InitrdLayout { size: end };
    let request = initrd_request(header, load, &layout, mem_limit).map_err(|e| {
        let room = match e {
            LinuxError::InitrdTooLarge { room, .. } => room,
            _ => 0,
        };
        no_room(room)
    })?;
    let place = plan
        .place(request)
        .map_err(|_| no_room(block.end - block.start))?;
    // SAFETY: the source is what the files were fetched into (the block, free again for the
    // planner but written by nothing since); the destination was just reserved for the initrd.
    // They may overlap (a memmove).
    unsafe {
        core::ptr::copy(
            block.start as *const u8,
            place.start as *mut u8,
            end as usize,
        )
    };
    Ok(Some((place.start, end)))
}

fn refused(path: &str, e: LinuxError) -> Failure {
    fail!(e.code(), "{path}: {e}: {}", e.advice())
}
