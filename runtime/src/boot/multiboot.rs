//! Multiboot 1 (`multiboot` / `module` entries): the kernel's segments at their addresses,
//! modules page-aligned above the kernel, the information structure below 640 KiB.

use core::fmt::Write;

use netloader_proto::config::MenuEntry;
use netloader_proto::kernel::{Format, KernelError, KernelImage, Placement};
use netloader_proto::multiboot::{BOOTLOADER_MAGIC, HeaderError, MbiBuilder};
use netloader_proto::planner::Use;

use super::plan::{self, MAX_SEGMENTS, MIB, PAGE, align_up};
use super::{CMDLINE_MAX, Failure, Session, cmdline, fail, handoff};
use crate::download::MemorySink;
use crate::println;

/// Modules a Multiboot 1 entry may have (the information's module array is built in place).
const MAX_MODULES: usize = 256;

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
    for segment in &segments {
        check_segment(session, segment, path)?;
    }
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
    plan.release(Use::Download);

    let mut loaded = heapless::Vec::<(u32, u32), MAX_MODULES>::new();
    for (i, line) in entry.modules().enumerate() {
        if i >= MAX_MODULES {
            return Err(fail!(
                "E-MODULE-COUNT",
                "more than {MAX_MODULES} modules in one entry"
            ));
        }
        let sink = session.download_planned(&mut plan, &line, Use::Module(i as u16), above)?;
        let _ = loaded.push((sink.start() as u32, (sink.start() + sink.len()) as u32));
    }

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
    let mut name = heapless::String::<32>::new();
    let _ = write!(name, "netloader {}", crate::VERSION);
    mbi.boot_loader_name(name.as_bytes());
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
        kernel.entry()
    );
    session.net.close();
    // SAFETY: segments placed or listed in `copies`, modules loaded, the information built in
    // `area` (which no kernel byte overlaps), the card is closed.
    let entry = handoff::Entry::multiboot(kernel.entry(), BOOTLOADER_MAGIC, mbi_address);
    unsafe { handoff::enter(area.start..mbi_start, &copies, &entry) }
}

/// A segment must lie in RAM and not across the hole below 1 MiB (messages as users know
/// them; the planner checks the same again, with the loader's own ranges).
fn check_segment(session: &Session, segment: &Placement, path: &str) -> Result<(), Failure> {
    let memory = segment.memory();
    if !session.map.is_ram(memory.start, memory.end) || memory.end > 1 << 32 {
        return Err(fail!(
            "E-KERNEL-NORAM",
            "{path}: a segment wants {:#x}-{:#x}, which is not usable RAM on this machine (see the memory map above)",
            memory.start,
            memory.end
        ));
    }
    Ok(())
}
