//! The Multiboot 2 checks and report: every tag walked and checked, one fact per line, each
//! starting with `MB2 ` (the format is documented, and parsed, in tests/src/kernels2.rs).

use crate::EntryState;
use crate::mbi2::{self, Mbi2, Tag};
use crate::phys::{self, Range};
use crate::report::{Verdict, check_entry_state, check_image, variant_name};
use crate::serial::line;
use crate::sha256::Sha256;
use crate::text::{self, Hex, MaybeHex, Quoted};

const LOADER_MAGIC: u32 = 0x36d7_6289;
/// netloader keeps the boot information below this (conventional memory).
const LOW_MEMORY_END: u64 = 0xa0000;
const ONE_MIB: u64 = 0x10_0000;
/// The relocatable tag of the `mb2-reloc` variant (entry2.s): from 32 MiB, 2 MiB aligned.
const RELOC_MIN: u64 = 0x200_0000;
const RELOC_ALIGN: u64 = 0x20_0000;
/// Modules looked at (a higher count is reported and failed, not walked).
const MAX_MODULES: usize = 256;
const EXPECT_MODULES: &[u8] = b"mbtest.expect-modules=";

unsafe extern "C" {
    static __kernel_start: u8;
    static __bss_end: u8;
    static mbtest_sections_sha256: [u8; 32];
}

/// Runs every check, prints the report (but not the verdict line); true if all passed.
pub fn run(magic: u32, mbi_addr: u32, state: &EntryState) -> bool {
    let mut verdict = Verdict::default();
    line!();
    line!("BEGIN variant={}", variant_name());
    let magic_ok = magic == LOADER_MAGIC;
    line!(
        "MAGIC {magic:#010x} {}",
        if magic_ok { "ok" } else { "fail" }
    );
    verdict.check(
        format_args!("magic"),
        magic_ok,
        format_args!("eax={magic:#010x}"),
    );
    check_entry_state(&mut verdict, state);
    let linked = check_image(&mut verdict);
    // Where the kernel really is: the linked range moved by the delta entry2.s applied.
    let image = Range::new(
        linked.start + state.delta as u64,
        linked.end + state.delta as u64,
    );
    line!(
        "LOAD base={:#x} delta={:#x} tag={:#x}",
        image.start,
        state.delta,
        state.load_base
    );

    line!("MBI addr={mbi_addr:#x}");
    let Some(mbi) = Mbi2::at(mbi_addr) else {
        verdict.check(
            format_args!("mbi_readable"),
            false,
            format_args!("ebx={mbi_addr:#x} (8-byte aligned, total_size 16..1 MiB)"),
        );
        return false;
    };
    line!("TOTAL size={} reserved={}", mbi.total, mbi.reserved);
    check_tag_list(&mut verdict, &mbi);
    let mmap = mbi.find(mbi2::MMAP);
    let cmdline = check_strings(&mut verdict, &mbi);
    check_memory(&mut verdict, &mbi, mmap.as_ref());
    check_framebuffer(&mut verdict, &mbi);
    let sections = check_elf_sections(&mut verdict, &mbi, mmap.as_ref(), image);
    check_acpi(&mut verdict, &mbi);
    check_vbe_apm(&mut verdict, &mbi);
    check_network(&mut verdict, &mbi);
    check_efi(&mut verdict, &mbi);
    check_load_base(&mut verdict, &mbi, state, linked);
    check_modules(&mut verdict, &mbi, mmap.as_ref(), image, sections, cmdline);
    let end = mbi.addr + mbi.total as u64;
    verdict.check(
        format_args!("mbi_below_640k"),
        end <= LOW_MEMORY_END,
        format_args!("mbi at {:#x}..{end:#x}", mbi.addr),
    );
    verdict.failures == 0
}

/// Every tag in order; the list must be well formed and end with the end tag exactly at
/// `total_size`.
fn check_tag_list(verdict: &mut Verdict, mbi: &Mbi2) {
    let mut problem = None;
    let mut count = 0;
    for tag in mbi.tags() {
        match tag {
            Ok(tag) => {
                count += 1;
                line!("TAG type={} size={} at={:#x}", tag.kind, tag.size, tag.at);
            }
            Err(malformed) => problem = Some(malformed),
        }
    }
    verdict.check(
        format_args!("tag_list"),
        problem.is_none() && mbi.reserved == 0,
        format_args!(
            "tags={count} problem={} reserved={}",
            problem
                .as_ref()
                .map_or(&"none" as &dyn core::fmt::Display, |p| p),
            mbi.reserved
        ),
    );
}

/// The command line (1) and the loader's name (2): present, NUL-terminated inside their tag.
fn check_strings(verdict: &mut Verdict, mbi: &Mbi2) -> &'static [u8] {
    let mut cmdline: &'static [u8] = &[];
    for (kind, label, check) in [
        (mbi2::CMDLINE, "CMDLINE", "cmdline"),
        (mbi2::LOADER_NAME, "LOADER", "loader_name"),
    ] {
        let tag = mbi.find(kind);
        let string = tag.and_then(|t| t.string(8));
        match (tag, string) {
            (Some(_), Some(bytes)) => line!("{label} {}", Quoted(bytes)),
            (Some(_), None) => line!("{label} unterminated"),
            (None, _) => line!("{label} none"),
        }
        verdict.check(
            format_args!("{check}"),
            string.is_some(),
            format_args!("present={} terminated={}", tag.is_some(), string.is_some()),
        );
        if kind == mbi2::CMDLINE {
            cmdline = string.unwrap_or_default();
        }
    }
    cmdline
}

/// Basic memory information (4) and the memory map (6), both asked for in the header.
fn check_memory(verdict: &mut Verdict, mbi: &Mbi2, mmap: Option<&Tag>) {
    let mem = mbi
        .find(mbi2::BASIC_MEMINFO)
        .and_then(|t| Some((t.u32(8)?, t.u32(12)?)).filter(|_| t.size == 16));
    match mem {
        Some((lower, upper)) => line!("MEM lower={lower} upper={upper}"),
        None => line!("MEM none"),
    }
    verdict.check(
        format_args!("mem_info"),
        mem.is_some_and(|(lower, upper)| (64..=640).contains(&lower) && upper >= 1024),
        format_args!(
            "present={} (lower must be 64..=640 KiB, upper >= 1024 KiB)",
            mem.is_some()
        ),
    );
    let (entry_size, version) = mmap.map_or((0, 0), |t| {
        (t.u32(8).unwrap_or(0), t.u32(12).unwrap_or(u32::MAX))
    });
    let shape_ok = mmap.is_some_and(|t| {
        entry_size >= 24
            && entry_size.is_multiple_of(8)
            && version == 0
            && (t.size as u64 - 16).is_multiple_of(entry_size as u64)
    });
    let mut ram_above_1m = false;
    if let Some(tag) = mmap.filter(|_| shape_ok) {
        for e in mbi2::mmap_entries(tag) {
            line!("MMAP base={:#x} len={:#x} type={}", e.base, e.len, e.kind);
            ram_above_1m |=
                e.kind == mbi2::RAM && e.len > 0 && e.base.saturating_add(e.len) > ONE_MIB;
        }
    }
    let run = mmap.map_or(0, |t| mbi2::ram_run_from(t, ONE_MIB));
    let upper = mem.map_or(0, |(_, upper)| upper as u64 * 1024);
    let consistent = upper <= run && run - upper <= ONE_MIB;
    verdict.check(
        format_args!("mmap"),
        shape_ok && ram_above_1m && consistent,
        format_args!(
            "present={} entry_size={entry_size} version={version} ram_above_1m={ram_above_1m} \
             ram_run_from_1m={run:#x} mem_upper_bytes={upper:#x}",
            mmap.is_some()
        ),
    );
}

/// The framebuffer tag (8): EGA text at 0xB8000, or a linear framebuffer whose fields agree.
fn check_framebuffer(verdict: &mut Verdict, mbi: &Mbi2) {
    let Some(tag) = mbi.find(mbi2::FRAMEBUFFER) else {
        line!("FRAMEBUFFER none");
        verdict.check(
            format_args!("framebuffer"),
            false,
            format_args!("present=false"),
        );
        return;
    };
    let (address, pitch, width, height) = (
        tag.u64(8).unwrap_or(0),
        tag.u32(16).unwrap_or(0),
        tag.u32(20).unwrap_or(0),
        tag.u32(24).unwrap_or(0),
    );
    let (bpp, kind) = (tag.u8(28).unwrap_or(0), tag.u8(29).unwrap_or(0xff));
    let ok = match kind {
        2 => address == 0xb8000 && pitch == width * 2 && bpp == 16 && width > 0 && height > 0,
        1 => {
            let fields =
                [0u64, 2, 4].map(|i| (tag.u8(32 + i).unwrap_or(0), tag.u8(33 + i).unwrap_or(0)));
            line!(
                "RGB red={}/{} green={}/{} blue={}/{}",
                fields[0].0,
                fields[0].1,
                fields[1].0,
                fields[1].1,
                fields[2].0,
                fields[2].1
            );
            tag.size >= 38
                && address != 0
                && bpp >= 15
                && pitch as u64 >= width as u64 * bpp.div_ceil(8) as u64
                && fields.iter().all(|&(position, size)| {
                    size > 0 && position as u32 + size as u32 <= bpp as u32
                })
        }
        _ => false,
    };
    line!(
        "FRAMEBUFFER addr={address:#x} pitch={pitch} width={width} height={height} bpp={bpp} type={kind}"
    );
    verdict.check(
        format_args!("framebuffer"),
        ok,
        format_args!("type={kind} size={}", tag.size),
    );
}

/// The ELF sections tag (9): shape, the name table, every loaded section in RAM and intact
/// (a hash over their contents that the build step stored). Returns the range of the loaded
/// copies (for the modules' overlap checks).
fn check_elf_sections(
    verdict: &mut Verdict,
    mbi: &Mbi2,
    mmap: Option<&Tag>,
    image: Range,
) -> Option<Range> {
    let Some(tag) = mbi.find(mbi2::ELF_SECTIONS) else {
        line!("ELF none");
        verdict.check(
            format_args!("elf_sections"),
            false,
            format_args!("present=false"),
        );
        return None;
    };
    let (num, entsize, shndx) = (
        tag.u32(8).unwrap_or(0),
        tag.u32(12).unwrap_or(0),
        tag.u32(16).unwrap_or(0),
    );
    line!("ELF num={num} entsize={entsize} shndx={shndx}");
    if variant_name() == "mb2-aout" {
        // A flat file has no section headers: the tag is there, empty.
        verdict.check(
            format_args!("elf_sections"),
            num == 0 && tag.size >= 20,
            format_args!("num={num} (a file without ELF headers has none)"),
        );
        return None;
    }
    let expected_entsize = if matches!(variant_name(), "mb2-elf32" | "mb2-i586") {
        40
    } else {
        64
    };
    let shape_ok = num > 0
        && num <= 256
        && entsize == expected_entsize
        && shndx < num
        && 20 + num as u64 * entsize as u64 <= tag.size as u64;
    if !shape_ok {
        verdict.check(
            format_args!("elf_sections"),
            false,
            format_args!("shape: num={num} entsize={entsize} (want {expected_entsize}) shndx={shndx} size={}", tag.size),
        );
        return None;
    }
    let wide = entsize == 64;
    let header = |i: u32| -> Section {
        let at = 20 + i as u64 * entsize as u64;
        let word = |o: u64| tag.u32(at + o).unwrap_or(0) as u64;
        let quad = |o: u64| tag.u64(at + o).unwrap_or(0);
        if wide {
            Section {
                name: word(0) as u32,
                kind: word(4) as u32,
                flags: quad(8),
                addr: quad(16),
                size: quad(32),
                align: quad(48),
            }
        } else {
            Section {
                name: word(0) as u32,
                kind: word(4) as u32,
                flags: word(8),
                addr: word(12),
                size: word(20),
                align: word(32),
            }
        }
    };
    let null_ok = header(0) == Section::default();
    let names = header(shndx);
    let name_table = phys::slice(Range::with_len(names.addr, names.size))
        .filter(|t| names.addr != 0 && t.first() == Some(&0) && t.last() == Some(&0));
    let mut copies: Option<Range> = None;
    let mut hasher = Sha256::new();
    let mut sections_ok = true;
    let mbi_range = mbi.range();
    for i in 1..num {
        let s = header(i);
        let name = name_table
            .and_then(|t| t.get(s.name as usize..))
            .and_then(|rest| rest.split(|&b| b == 0).next());
        let loaded = s.flags & 2 == 0 && s.kind != 8 && s.size > 0;
        let range = Range::with_len(s.addr, s.size);
        let ok = name.is_some()
            && if loaded {
                // A copy the loader made: in RAM, aligned, clear of the kernel and the MBI.
                s.addr != 0
                    && s.addr.is_multiple_of(s.align.max(1))
                    && mbi2::is_ram(mmap, range)
                    && !range.overlaps(&image)
                    && !range.overlaps(&mbi_range)
                    && phys::slice(range)
                        .map(|bytes| hasher.update(bytes))
                        .is_some()
            } else {
                true
            };
        if loaded && ok {
            copies = Some(match copies {
                Some(c) => Range::new(c.start.min(range.start), c.end.max(range.end)),
                None => range,
            });
        }
        sections_ok &= ok;
        line!(
            "SECTION {i} name={} type={} flags={:#x} addr={:#x} size={:#x}{}",
            Quoted(name.unwrap_or(b"?")),
            s.kind,
            s.flags,
            s.addr,
            s.size,
            if ok { "" } else { " bad" }
        );
    }
    // SAFETY: read as loaded (the build step patches it into the file).
    let expected = unsafe { core::ptr::read_volatile(&raw const mbtest_sections_sha256) };
    let actual = hasher.finish();
    verdict.check(
        format_args!("elf_sections"),
        null_ok && name_table.is_some() && sections_ok,
        format_args!(
            "null_first={null_ok} names={} sections_ok={sections_ok}",
            name_table.is_some()
        ),
    );
    verdict.check(
        format_args!("elf_sections_intact"),
        actual == expected,
        format_args!("sha256={} expected={}", Hex(&actual), Hex(&expected)),
    );
    copies
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Section {
    name: u32,
    kind: u32,
    flags: u64,
    addr: u64,
    size: u64,
    align: u64,
}

/// The ACPI RSDP copies (14, 15), where given: signature and checksums.
fn check_acpi(verdict: &mut Verdict, mbi: &Mbi2) {
    let sum = |bytes: &[u8]| bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    let old = mbi.find(mbi2::ACPI_OLD).map(|t| {
        let rsdp = t.rest(8);
        rsdp.len() >= 20 && rsdp.starts_with(b"RSD PTR ") && sum(&rsdp[..20]) == 0
    });
    let new = mbi.find(mbi2::ACPI_NEW).map(|t| {
        let rsdp = t.rest(8);
        let length = rsdp
            .get(20..24)
            .map_or(0, |l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize);
        rsdp.starts_with(b"RSD PTR ")
            && length >= 36
            && rsdp.len() >= length
            && sum(&rsdp[..20]) == 0
            && sum(&rsdp[..length]) == 0
    });
    let revision = mbi.find(mbi2::ACPI_OLD).and_then(|t| t.u8(8 + 15));
    line!(
        "ACPI old={} new={} revision={}",
        Present(old),
        Present(new),
        revision.map_or(-1, i32::from)
    );
    verdict.check(
        format_args!("acpi"),
        old != Some(false) && new != Some(false),
        format_args!("old_valid={old:?} new_valid={new:?}"),
    );
}

/// VBE (7) and APM (10), where given: sizes and the fields that say they are real.
fn check_vbe_apm(verdict: &mut Verdict, mbi: &Mbi2) {
    if let Some(tag) = mbi.find(mbi2::VBE) {
        let mode = tag.u16(8).unwrap_or(0);
        let signature = tag.rest(16).get(..4) == Some(b"VESA");
        line!("VBE mode={mode:#x} signature={signature}");
        verdict.check(
            format_args!("vbe"),
            tag.size == 16 + 512 + 256 && signature && mode != 0,
            format_args!("size={} mode={mode:#x}", tag.size),
        );
    }
    if let Some(tag) = mbi.find(mbi2::APM) {
        let version = tag.u16(8).unwrap_or(0);
        let (cseg, offset) = (tag.u16(10).unwrap_or(0), tag.u32(12).unwrap_or(0));
        line!("APM version={version:#x} cseg={cseg:#x} offset={offset:#x}");
        verdict.check(
            format_args!("apm"),
            tag.size == 28 && version >= 0x100 && cseg != 0,
            format_args!("size={} version={version:#x}", tag.size),
        );
    }
}

/// `yes`, `no` (present and bad) or `none`.
struct Present(Option<bool>);

impl core::fmt::Display for Present {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self.0 {
            Some(true) => "yes",
            Some(false) => "bad",
            None => "none",
        })
    }
}

/// The network tag (16), where given: a BOOTP reply carrying DHCP message type 5 (DHCPACK).
fn check_network(verdict: &mut Verdict, mbi: &Mbi2) {
    let Some(tag) = mbi.find(mbi2::NETWORK) else {
        line!("NETWORK none");
        return;
    };
    let packet = tag.rest(8);
    let yiaddr = packet.get(16..20).unwrap_or(&[0; 4]);
    let cookie = packet.get(236..240) == Some(&[99, 130, 83, 99]);
    let mut message_type = None;
    let mut at = 240;
    while let Some(&code) = packet.get(at) {
        match code {
            0 => at += 1,
            255 => break,
            _ => {
                let Some(&len) = packet.get(at + 1) else {
                    break;
                };
                if code == 53 && len == 1 {
                    message_type = packet.get(at + 2).copied();
                }
                at += 2 + len as usize;
            }
        }
    }
    line!(
        "NETWORK yiaddr={}.{}.{}.{} type={} len={}",
        yiaddr[0],
        yiaddr[1],
        yiaddr[2],
        yiaddr[3],
        message_type.map_or(-1, i32::from),
        packet.len()
    );
    verdict.check(
        format_args!("network"),
        packet.first() == Some(&2) && cookie && message_type == Some(5),
        format_args!(
            "op={:?} cookie={cookie} type={message_type:?}",
            packet.first()
        ),
    );
}

/// The EFI tags a loader on a 64-bit UEFI gives (12, 17, 18, 20), where given: the system
/// table pointer must point at a table with the EFI system table's signature ("IBI SYST");
/// the EFI memory map's descriptors must be whole, at least 40 bytes each, and describe some
/// conventional memory (type 7), sorted or not; the image handle must not be null.
fn check_efi(verdict: &mut Verdict, mbi: &Mbi2) {
    const SYSTEM_TABLE_SIGNATURE: u64 = 0x5453_5953_2049_4249;
    if let Some(tag) = mbi.find(mbi2::EFI64) {
        let table = tag.u64(8).unwrap_or(0);
        // SAFETY: the kernel maps the first 4 GiB 1:1; a table above that is reported bad
        // without being read.
        let signature = (table != 0 && table < 1 << 32 && table.is_multiple_of(8))
            .then(|| unsafe { core::ptr::read_volatile(table as *const u64) });
        let ok = signature == Some(SYSTEM_TABLE_SIGNATURE);
        line!(
            "EFI64 systab={table:#x} signature={}",
            if ok { "ok" } else { "bad" }
        );
        verdict.check(format_args!("efi64"), ok, format_args!("systab={table:#x}"));
    }
    if let Some(tag) = mbi.find(mbi2::EFI_MMAP) {
        let size = tag.u32(8).unwrap_or(0) as usize;
        let version = tag.u32(12).unwrap_or(0);
        let map = tag.rest(16);
        let whole = size >= 40 && size.is_multiple_of(8) && map.len().is_multiple_of(size);
        let (mut count, mut conventional_pages) = (0, 0u64);
        if whole {
            for descriptor in map.chunks_exact(size) {
                count += 1;
                let word = |at: usize| {
                    u64::from_le_bytes(descriptor[at..at + 8].try_into().unwrap_or([0; 8]))
                };
                if word(0) as u32 == 7 {
                    conventional_pages += word(24);
                }
            }
        }
        line!(
            "EFIMMAP descriptor_size={size} version={version} count={count} conventional_kib={}",
            conventional_pages * 4
        );
        verdict.check(
            format_args!("efi_mmap"),
            whole && version == 1 && count > 0 && conventional_pages > 0,
            format_args!("descriptor_size={size} bytes={}", map.len()),
        );
    }
    if mbi.find(mbi2::EFI_BS).is_some() {
        line!("EFIBS boot services not terminated");
    }
    if let Some(tag) = mbi.find(mbi2::EFI64_IH) {
        let handle = tag.u64(8).unwrap_or(0);
        line!("EFI64IH handle={handle:#x}");
        verdict.check(
            format_args!("efi64_image_handle"),
            handle != 0,
            format_args!("{handle:#x}"),
        );
    }
}

/// The load base address (21): where the kernel is, and, for the relocatable variant, where
/// its header allows.
fn check_load_base(verdict: &mut Verdict, mbi: &Mbi2, state: &EntryState, linked: Range) {
    let tag = mbi.find(mbi2::LOAD_BASE_ADDR);
    let value = tag.and_then(|t| t.u32(8)).map(u64::from);
    let expected = linked.start + state.delta as u64;
    let window_ok = variant_name() != "mb2-reloc"
        || value
            .is_some_and(|v| v >= RELOC_MIN && v.is_multiple_of(RELOC_ALIGN) && v != linked.start);
    verdict.check(
        format_args!("load_base"),
        value == Some(expected) && tag.is_some_and(|t| t.size == 12) && window_ok,
        format_args!(
            "tag={} expected={expected:#x} relocation_window_ok={window_ok}",
            value.map_or(-1, |v| v as i64)
        ),
    );
}

/// Modules (3): each page-aligned (the header has the module alignment tag), in RAM, clear of
/// the kernel, the MBI, the ELF section copies and one another, with a terminated string.
fn check_modules(
    verdict: &mut Verdict,
    mbi: &Mbi2,
    mmap: Option<&Tag>,
    image: Range,
    sections: Option<Range>,
    cmdline: &[u8],
) {
    let count = mbi
        .tags()
        .filter_map(Result::ok)
        .filter(|t| t.kind == mbi2::MODULE)
        .count();
    line!("MODULES count={count}");
    verdict.check(
        format_args!("modules"),
        count <= MAX_MODULES,
        format_args!("count={count} cap={MAX_MODULES}"),
    );
    let modules = || {
        mbi.tags()
            .filter_map(Result::ok)
            .filter(|t| t.kind == mbi2::MODULE)
            .take(MAX_MODULES)
    };
    for (index, tag) in modules().enumerate() {
        let (start, end) = (
            tag.u32(8).unwrap_or(0) as u64,
            tag.u32(12).unwrap_or(0) as u64,
        );
        let range = Range::new(start, end);
        let string = tag.string(16);
        let in_ram = start <= end && mbi2::is_ram(mmap, range);
        let hash = phys::slice(range).filter(|_| in_ram).map(|bytes| {
            let mut hasher = Sha256::new();
            hasher.update(bytes);
            hasher.finish()
        });
        line!(
            "MODULE {index} start={start:#x} end={end:#x} size={} sha256={} cmdline={}",
            end.saturating_sub(start),
            MaybeHex(hash.as_ref().map(|h| &h[..])),
            Quoted(string.unwrap_or(b""))
        );
        verdict.check(
            format_args!("module{index}_aligned"),
            start.is_multiple_of(4096),
            format_args!("start={start:#x}"),
        );
        verdict.check(
            format_args!("module{index}_in_ram"),
            in_ram,
            format_args!("start={start:#x} end={end:#x}"),
        );
        let mut clash = "none";
        if range.overlaps(&image) {
            clash = "kernel";
        }
        if range.overlaps(&mbi.range()) {
            clash = "mbi";
        }
        if sections.is_some_and(|s| range.overlaps(&s)) {
            clash = "elf_sections";
        }
        for (other, tag) in modules().enumerate() {
            let other_range = Range::new(
                tag.u32(8).unwrap_or(0) as u64,
                tag.u32(12).unwrap_or(0) as u64,
            );
            if other != index && range.overlaps(&other_range) {
                clash = "another module";
            }
        }
        verdict.check(
            format_args!("module{index}_no_overlap"),
            clash == "none",
            format_args!("overlaps={clash}"),
        );
        verdict.check(
            format_args!("module{index}_cmdline"),
            string.is_some(),
            format_args!("terminated={}", string.is_some()),
        );
    }
    if let Some(expected) = text::number_option(cmdline, EXPECT_MODULES) {
        verdict.check(
            format_args!("expect_modules"),
            expected == count as u64,
            format_args!("expected={expected} given={count}"),
        );
    }
}
