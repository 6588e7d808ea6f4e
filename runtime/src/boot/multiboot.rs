//! Multiboot 1 (`multiboot` / `module` entries): the kernel's segments at their addresses,
//! modules page-aligned above the kernel, the information structure below 640 KiB.

use netloader_proto::config::MenuEntry;
use netloader_proto::kernel::{Format, KernelError, KernelImage, Placement};
use netloader_proto::multiboot::{BOOTLOADER_MAGIC, HeaderError, MbiBuilder};
use netloader_proto::planner::Use;
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
    let kernel = KernelImage::parse(file.bytes()).map_err(|e| match e {
        KernelError::Header(HeaderError::UnsupportedFlags(_)) => fail!(
            "E-KERNEL-FLAGS",
            "{path}: {e}: the kernel needs a Multiboot feature netloader does not provide"
        ),
        _ => fail!(
            "E-KERNEL-FORMAT",
            "{path}: {e}: check that it is a Multiboot kernel"
        ),
    })?;
    let format = match kernel.format() {
        Format::Elf32 => "ELF32",
        Format::Elf64 => "ELF64",
        Format::AddressFields => "Multiboot address fields",
    };
    println!(
        "kernel: {path}: {format}, entry {:#x}, occupies {:#x}-{:#x}",
        kernel.entry(),
        kernel.extent().start,
        kernel.extent().end
    );

    let mut segments = heapless::Vec::<Placement, MAX_SEGMENTS>::new();
    for placement in kernel.placements() {
        if let Err(placement) = segments.push(placement) {
            return Err(fail!(
                "E-KERNEL-FORMAT",
                "{path}: more than {MAX_SEGMENTS} loadable segments (the one at {:#x})",
                placement.dest
            ));
        }
    }
    plan::check_segments(session.map, &segments, path)?;
    // Modules (and staged copies) go above the kernel's highest byte above 1 MiB.
    let above = align_up(
        segments
            .iter()
            .map(|s| s.memory().end)
            .filter(|&end| end > MIB)
            .max()
            .unwrap_or(MIB),
        PAGE,
    );
    let copies = plan::load_segments(&mut plan, file.bytes(), &segments, false, above, path)?;
    // What is still needed of the kernel file, taken before its memory goes to the modules:
    // nothing reads `kernel` (which borrows the file) after this.
    let entry_point = kernel.entry();
    let video_info = kernel.header().video;
    plan.release(Use::Download);

    let loaded = super::load_modules(session, &mut plan, entry, above)?;
    // Every file is in: the card is done. Closed now, before the BIOS calls below (VBE, APM):
    // a card driven through its PXE ROM (UNDI) holds the real-mode thunk until it is closed,
    // and the ROM's stack is then out of the way too.
    session.net.close();
    // Flag 2: the kernel wants video information; mode type 0 asks for graphics.
    let video = video::set_mode(Wanted::new(
        video_info
            .filter(|v| v.mode_type == 0)
            .map(|v| (v.width, v.height, v.depth)),
        entry.gfxpayload,
    ));

    // The trampoline, then the information right after it, in free conventional memory.
    let area = super::low_area(&mut plan, path)?;
    let mbi_start = area.start + handoff::AREA_HEADER_BYTES;
    // SAFETY: `area` is free conventional memory the planner reserved, identity-mapped.
    let mbi_buf = unsafe {
        core::slice::from_raw_parts_mut(mbi_start as *mut u8, (area.end - mbi_start) as usize)
    };
    let mut mbi = MbiBuilder::new(mbi_buf, mbi_start as u32);
    mbi.memory(session.map.lower_kib(), session.map.upper_kib())
        .memory_map(session.map.entries());
    let mut buffer = [0; CMDLINE_MAX];
    mbi.cmdline(cmdline(kernel_line, &mut buffer)?);
    for (line, (start, end)) in entry.modules().zip(loaded.iter()) {
        mbi.module(*start, *end, cmdline(&line, &mut buffer)?);
    }
    mbi.boot_loader_name(super::loader_name().as_bytes());
    if video_info.is_some() {
        if let Some(vbe) = &video.vbe {
            mbi.vbe(&vbe.info());
        }
        mbi.framebuffer(&video.framebuffer);
    }
    let mbi_address = mbi.finish().map_err(|e| {
        fail!(
            "E-MBI",
            "the boot information does not fit below 640 KiB ({e}): shorten the command lines"
        )
    })?;
    plan.shrink(Use::BootInfo, area.start, mbi_start + mbi.used_len() as u64);

    println!(
        "boot: {} module(s), boot information at {:#x}, entering the kernel at {:#x}",
        loaded.len(),
        mbi_address,
        entry_point
    );
    // Multiboot 1 has no EFI fields: the kernel gets the E820-style map only.
    #[cfg(target_os = "uefi")]
    super::leave_firmware(session.net, false)?;
    let entry = handoff::Entry::multiboot(entry_point, BOOTLOADER_MAGIC, mbi_address);
    // SAFETY: segments placed or listed in `copies`, modules loaded, the information built in
    // `area` (which no kernel byte overlaps), the card is closed.
    unsafe { handoff::enter(area.start..mbi_start, &copies, &entry) }
}
