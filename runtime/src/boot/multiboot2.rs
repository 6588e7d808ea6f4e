//! Multiboot 2 (`multiboot2` / `module2` entries): the image at its addresses or, when its
//! header allows, relocated within its window; the ELF sections loaded for the kernel;
//! modules page-aligned above the image; the boot information below 640 KiB with every tag a
//! BIOS loader can give (GRUB 2's set, plus ACPI and the network).

use netloader_proto::config::MenuEntry;
use netloader_proto::elf::SectionLayout;
use netloader_proto::kernel::{Format, Placement};
use netloader_proto::multiboot2::{
    BOOTLOADER_MAGIC, ConsoleTag, Firmware, HeaderError, Image, ImageError, InfoBuilder, Preference,
};
use netloader_proto::planner::{LIMIT, Prefer, Request, Use};
use netloader_proto::vbe::Wanted;

use super::plan::{self, MAX_SEGMENTS, MIB, PAGE, align_up};
use super::{CMDLINE_MAX, Failure, Session, cmdline, fail, handoff, video};
use crate::download::MemorySink;
use crate::println;

pub(super) fn boot(
    session: &mut Session,
    entry: &MenuEntry,
    downloaded: Option<MemorySink>,
) -> Result<core::convert::Infallible, Failure> {
    let kernel_line = &entry.kernel;
    let path = kernel_line.source.path();
    let mut plan = session.layout.planner(session.map)?;
    let file = match downloaded {
        Some(sink) => sink,
        None => session.download_kernel(kernel_line)?,
    };
    #[cfg(target_os = "uefi")]
    let firmware = Firmware::Uefi64;
    #[cfg(not(target_os = "uefi"))]
    let firmware = Firmware::Bios;
    let image = Image::parse_for(file.bytes(), firmware).map_err(|e| match e {
        ImageError::Unsupported(_) => fail!(
            "E-MB2-REQUIRES",
            "{path}: {e}: the kernel needs something netloader does not provide"
        ),
        ImageError::Header(HeaderError::NotFound) => fail!(
            "E-KERNEL-FORMAT",
            "{path}: {e}: check that it is a Multiboot 2 kernel (or load it with multiboot)"
        ),
        _ => fail!(
            "E-KERNEL-FORMAT",
            "{path}: {e}: check that it is a Multiboot 2 kernel"
        ),
    })?;
    // The video mode: a framebuffer tag says the kernel takes graphics (its preference, or
    // `set gfxpayload`); without one, EGA text, as in GRUB.
    let header = image.header();
    // A kernel that says it can start with boot services running (tag 7) gets them kept, as
    // from GRUB; on a BIOS the tag is optional (else refused above) and means nothing.
    let keep_boot_services = cfg!(target_os = "uefi") && header.efi_boot_services;
    let efi_amd64_entry = header.efi_amd64_entry;
    let requests = header.requests;
    let wanted = Wanted::new(
        header.framebuffer.map(|t| (t.width, t.height, t.depth)),
        entry.gfxpayload,
    );
    // A console the kernel requires must be one it can use.
    let text_refused = header.console.is_some_and(|c| {
        c.flags & ConsoleTag::REQUIRED != 0 && c.flags & ConsoleTag::EGA_TEXT == 0
    });

    let mut segments = heapless::Vec::<Placement, MAX_SEGMENTS>::new();
    for placement in image.placements() {
        if let Err(placement) = segments.push(placement) {
            return Err(fail!(
                "E-KERNEL-FORMAT",
                "{path}: more than {MAX_SEGMENTS} loadable segments (the one at {:#x})",
                placement.dest
            ));
        }
    }
    let extent = image.extent();
    // A relocatable image gets its whole extent from the planner; every segment and the
    // entry move by the same delta.
    let base = match image.relocation() {
        Some(tag) => {
            let request = Request {
                what: Use::Segment(0),
                size: extent.end - extent.start,
                align: u64::from(tag.align.max(1)),
                min: u64::from(tag.min_addr),
                max: (u64::from(tag.max_addr) + 1).min(LIMIT),
                prefer: match tag.preference {
                    Preference::High => Prefer::High,
                    Preference::Low | Preference::None => Prefer::Low,
                },
            };
            let at_link = extent.start >= request.min
                && extent.end <= request.max
                && extent.start.is_multiple_of(request.align)
                && plan.is_free(extent.start, extent.end);
            let base = if tag.preference == Preference::None && at_link {
                // No preference and free where it was linked: it stays there.
                plan.reserve(extent.clone(), Use::Segment(0))
                    .map(|_| extent.start)
            } else {
                plan.place(request).map(|place| place.start)
            };
            Some(base.map_err(|e| {
                fail!(
                    "E-KERNEL-NORAM",
                    "{path}: the relocatable image ({} bytes) has no place between {:#x} and {:#x}: {e}",
                    extent.end - extent.start,
                    tag.min_addr,
                    tag.max_addr
                )
            })?)
        }
        None => None,
    };
    let delta = base.map_or(0, |base| base.wrapping_sub(extent.start));
    for segment in &mut segments {
        segment.dest = segment.dest.wrapping_add(delta);
    }
    let entry_point = (u64::from(image.entry()).wrapping_add(delta)) as u32;
    // Tag 9's entry moves with the image, and must lie in it: the Multiboot 2 test kernel (as
    // a BIOS-minded kernel may) carries an optional tag 9 of 0. Such a kernel is entered at
    // its 32-bit entry, boot services kept all the same (they were asked for, tag 7).
    let image_range = extent.start.wrapping_add(delta)..extent.end.wrapping_add(delta);
    let efi_amd64_entry = efi_amd64_entry.and_then(|address| {
        let moved = u64::from(address).wrapping_add(delta);
        let inside = image_range.contains(&moved);
        if keep_boot_services && !inside {
            println!(
                "boot: the kernel's EFI amd64 entry (header tag 9, {address:#x}) lies outside its image: entering it at {entry_point:#x} in 32-bit mode"
            );
        }
        inside.then_some(moved as u32)
    });
    let load_base = extent.start.wrapping_add(delta);
    let format = match image.format() {
        Format::Elf32 => "ELF32",
        Format::Elf64 => "ELF64",
        Format::AddressFields => "Multiboot 2 address tag",
    };
    println!(
        "kernel: {path}: Multiboot 2, {format}, entry {entry_point:#x}, occupies {load_base:#x}-{:#x}{}",
        extent.end.wrapping_add(delta),
        if base.is_some() { " (relocated)" } else { "" }
    );
    plan::check_segments(session.map, &segments, path)?;
    let above = align_up(
        segments
            .iter()
            .map(|s| s.memory().end)
            .filter(|&end| end > MIB)
            .max()
            .unwrap_or(MIB),
        PAGE,
    );
    let copies = plan::load_segments(
        &mut plan,
        file.bytes(),
        &segments,
        base.is_some(),
        above,
        path,
    )?;

    // The section headers and the sections no segment loads, out of the file before it goes.
    let sections = match image.sections() {
        Some(table) => {
            let layout = SectionLayout::new(table);
            let place = plan
                .place(Request::pages(Use::Sections, layout.size()).above(above))
                .map_err(|e| fail!("E-KERNEL-TOOBIG", "{path}: the ELF sections: {e}"))?;
            // SAFETY: a free place the planner just reserved for the sections; the source is
            // the downloaded file, which it does not overlap.
            let block = unsafe {
                core::slice::from_raw_parts_mut(place.start as *mut u8, layout.size() as usize)
            };
            layout.write(place.start, block).ok_or_else(|| {
                fail!("E-PANIC", "{path}: the ELF sections do not fit their place")
            })?;
            let headers = &block[..table.count() as usize * table.entry_size()];
            let shape = (
                u32::from(table.count()),
                table.entry_size() as u32,
                u32::from(table.name_table()),
            );
            Some((shape, headers))
        }
        None => None,
    };
    // Nothing reads `image` (which borrows the kernel file) after this: its memory goes to
    // the modules.
    plan.release(Use::Download);

    let loaded = super::load_modules(session, &mut plan, entry, above)?;
    // Every file is in: the card is done. Closed now, before the BIOS calls below (VBE, APM):
    // a card driven through its PXE ROM (UNDI) holds the real-mode thunk until it is closed,
    // and the ROM's stack is then out of the way too.
    session.net.close();
    let video = video::set_mode(wanted);
    if text_refused && video.vbe.is_none() {
        return Err(fail!(
            "E-MB2-CONSOLE",
            "{path}: the kernel requires a console but cannot use EGA text, and no graphics mode it takes could be set"
        ));
    }

    let area = super::low_area(&mut plan, path)?;
    let info_start = area.start + handoff::AREA_HEADER_BYTES;
    // SAFETY: `area` is free conventional memory the planner reserved, identity-mapped.
    let info_buf = unsafe {
        core::slice::from_raw_parts_mut(info_start as *mut u8, (area.end - info_start) as usize)
    };
    let mut info = InfoBuilder::new(info_buf, info_start);
    // GRUB's order: the load base, the command line, the loader's name, the modules, memory.
    info.load_base_addr(load_base as u32);
    let mut buffer = [0; CMDLINE_MAX];
    info.cmdline(cmdline(kernel_line, &mut buffer)?);
    info.loader_name(super::loader_name().as_bytes());
    for (line, (start, end)) in entry.modules().zip(loaded.iter()) {
        info.module(*start, *end, cmdline(&line, &mut buffer)?);
    }
    let map = session.map;
    info.basic_meminfo(map.lower_kib(), map.upper_kib())
        .memory_map(map.entries());
    if let Some(vbe) = &video.vbe {
        info.vbe(&vbe.info());
    }
    info.framebuffer(&video.framebuffer);
    match sections {
        Some(((num, entsize, shndx), headers)) => info.elf_sections(num, entsize, shndx, headers),
        None => info.elf_sections(0, 0, 0, &[]),
    };
    if let Some(apm) = crate::arch::apm() {
        info.apm(&apm);
    }
    if let Some(rsdp) = crate::arch::rsdp() {
        info.acpi_old(rsdp.v1());
        if let Some(v2) = rsdp.v2() {
            info.acpi_new(v2);
        }
    }
    let (ack, _) = session.net.raw_answers();
    if !ack.is_empty() {
        info.network(ack);
    }
    println!(
        "boot: {} module(s), entering the kernel at {entry_point:#x}",
        loaded.len(),
    );
    if keep_boot_services && !copies.is_empty() {
        return Err(fail!(
            "E-MB2-EFIBS",
            "{path}: the kernel asks to keep the firmware's boot services (header tag 7), and a segment lands on the firmware's memory: link it elsewhere, or drop tag 7"
        ));
    }
    #[cfg(target_os = "uefi")]
    {
        let efi = super::leave_firmware(session.net, keep_boot_services)?;
        // GRUB's set on a 64-bit UEFI: the system table and the memory map always, the image
        // handle and "boot services not terminated" when they were kept; the image handle also
        // where the kernel asks for it.
        info.efi64_system_table(efi.system_table);
        info.efi_memory_map(efi.map.descriptor_size, efi.map.version, efi.map.bytes);
        if efi.boot_services_kept {
            info.efi_boot_services();
        }
        if efi.boot_services_kept || requests.asks_for(netloader_proto::multiboot2::tag::EFI64_IH) {
            info.efi64_image_handle(efi.image_handle);
        }
    }
    #[cfg(not(target_os = "uefi"))]
    let _ = (requests, keep_boot_services);
    let (info_address, info_len) = info.finish().map_err(|e| {
        fail!(
            "E-MBI",
            "the boot information does not fit below 640 KiB ({e}): shorten the command lines"
        )
    })?;
    plan.shrink(Use::BootInfo, area.start, info_start + info_len as u64);

    println!("boot: boot information at {info_address:#x} ({info_len} bytes)");
    #[cfg(target_os = "uefi")]
    if keep_boot_services && let Some(entry) = efi_amd64_entry {
        // SAFETY: everything is in place (no deferred copies: refused above), the card is
        // closed; the kernel takes the machine as the firmware runs it.
        unsafe { crate::arch::uefi::enter_efi64(entry, BOOTLOADER_MAGIC, info_address) }
    }
    let _ = efi_amd64_entry;
    let entry = handoff::Entry::multiboot(entry_point, BOOTLOADER_MAGIC, info_address);
    // SAFETY: segments placed or listed in `copies`, sections and modules loaded, the
    // information built in `area` (which no kernel byte overlaps), the card is closed.
    unsafe { handoff::enter(area.start..info_start, &copies, &entry) }
}
