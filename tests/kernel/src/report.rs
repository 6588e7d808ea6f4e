//! The checks and the report: one fact per line, each starting with `MB ` (the format is
//! documented, and parsed, in tests/src/kernels.rs).

use core::fmt;

use crate::EntryState;
use crate::mbi::{self, Mbi};
use crate::phys::{self, Range};
use crate::serial::line;
use crate::sha256::{self, Sha256};
use crate::text::{self, Hex, MaybeHex, Quoted};

const BOOTLOADER_MAGIC: u32 = 0x2bad_b002;
/// The end of conventional memory: netloader keeps the MBI and all it points to below this.
const LOW_MEMORY_END: u64 = 0xa0000;
const ONE_MIB: u64 = 0x10_0000;

/// Relaxes `mbi_below_640k` (for booting under loaders that never promised it, like QEMU's).
const ALLOW_HIGH_MBI: &[u8] = b"mbtest.allow-high-mbi";
/// `mbtest.expect-modules=N`: fail unless exactly N modules arrive.
const EXPECT_MODULES: &[u8] = b"mbtest.expect-modules=";

unsafe extern "C" {
    static __kernel_start: u8;
    static __hashed_end: u8;
    static __load_end: u8;
    static __bss_end: u8;
    static mbtest_variant: [u8; 16];
    static mbtest_image_sha256: [u8; 32];
}

fn symbol_address(symbol: *const u8) -> u64 {
    symbol as u64
}

/// Counts failures; each check is printed as it is made.
#[derive(Default)]
pub(crate) struct Verdict {
    pub failures: u32,
}

impl Verdict {
    pub fn check(&mut self, name: fmt::Arguments, ok: bool, detail: fmt::Arguments) {
        self.failures += u32::from(!ok);
        line!("CHECK {name} {} {detail}", if ok { "ok" } else { "fail" });
    }

    /// A check the command line may waive: still printed as failed-but-waived.
    pub fn waivable(
        &mut self,
        name: fmt::Arguments,
        ok: bool,
        waived: bool,
        detail: fmt::Arguments,
    ) {
        let status = match (ok, waived) {
            (true, _) => "ok",
            (false, true) => "waived",
            (false, false) => "fail",
        };
        self.failures += u32::from(!ok && !waived);
        line!("CHECK {name} {status} {detail}");
    }
}

/// Runs every check, prints the report (but not the verdict line); true if all passed.
pub fn run(magic: u32, mbi_addr: u32, state: &EntryState) -> bool {
    let mut verdict = Verdict::default();
    line!();
    line!("BEGIN variant={}", variant_name());
    let magic_ok = magic == BOOTLOADER_MAGIC;
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
    let image = check_image(&mut verdict);

    line!("MBI addr={mbi_addr:#x}");
    let Some(mbi) = Mbi::at(mbi_addr) else {
        verdict.check(
            format_args!("mbi_readable"),
            false,
            format_args!("ebx={mbi_addr:#x}"),
        );
        return false;
    };
    line!("FLAGS {:#x}", mbi.flags);
    check_memory(&mut verdict, &mbi);
    let cmdline = check_strings(&mut verdict, &mbi);
    check_video(&mut verdict, &mbi);
    let modules = check_modules(&mut verdict, &mbi, image, cmdline);
    check_low_placement(
        &mut verdict,
        &mbi,
        &modules,
        text::has_flag(cmdline, ALLOW_HIGH_MBI),
    );
    verdict.failures == 0
}

pub(crate) fn variant_name() -> &'static str {
    // SAFETY: the build step patches these bytes in the file; read them as loaded, never as
    // the compiler's idea of their initial value.
    let bytes = unsafe { core::ptr::read_volatile(&raw const mbtest_variant) };
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    match &bytes[..len] {
        b"elf64" => "elf64",
        b"elf32" => "elf32",
        b"aout" => "aout",
        b"low" => "low",
        b"elf64kludge" => "elf64kludge",
        b"video" => "video",
        b"mb2-elf64" => "mb2-elf64",
        b"mb2-elf32" => "mb2-elf32",
        b"mb2-reloc" => "mb2-reloc",
        b"mb2-fb" => "mb2-fb",
        b"mb2-aout" => "mb2-aout",
        b"mb2-smbios" => "mb2-smbios",
        b"i586" => "i586",
        b"mb2-i586" => "mb2-i586",
        b"mb2-exitbs" => "mb2-exitbs",
        _ => "unknown",
    }
}

pub(crate) fn check_entry_state(verdict: &mut Verdict, state: &EntryState) {
    let bit = |value: u32, bit: u32| (value >> bit) & 1;
    let (pe, pg) = (bit(state.cr0, 0), bit(state.cr0, 31));
    let (interrupts, vm) = (bit(state.eflags, 9), bit(state.eflags, 17));
    let a20 = state.a20 & 1;
    let ok = pe == 1 && pg == 0 && interrupts == 0 && vm == 0 && a20 == 1;
    line!(
        "STATE cr0.pe={pe} cr0.pg={pg} if={interrupts} vm={vm} a20={a20} {}",
        if ok { "ok" } else { "fail" }
    );
    line!(
        "ENTRY eax={:#x} ebx={:#x} cr0={:#x} eflags={:#x}",
        state.eax,
        state.ebx,
        state.cr0,
        state.eflags
    );
    let names = ["cs", "ds", "es", "ss", "fs", "gs"];
    let mut flat_limits = true;
    for (i, name) in names.iter().enumerate() {
        if state.limit_ok & 1 << i != 0 {
            line!(
                "SEGMENT {name} selector={:#x} limit={:#x}",
                state.selectors[i],
                state.limits[i]
            );
            flat_limits &= state.limits[i] == u32::MAX;
        } else {
            line!(
                "SEGMENT {name} selector={:#x} limit=unreadable",
                state.selectors[i]
            );
            flat_limits = false;
        }
    }
    verdict.check(
        format_args!("entry_state"),
        pe == 1 && pg == 0 && interrupts == 0 && vm == 0,
        format_args!("cr0={:#x} eflags={:#x}", state.cr0, state.eflags),
    );
    verdict.check(format_args!("a20"), a20 == 1, format_args!("a20={a20}"));
    // By behaviour: DS..GS read a known word at its linked address and survived reads at the
    // top of 4 GiB. The descriptor limits (LSL) are only reported: GDTR is undefined at entry.
    verdict.check(
        format_args!("segments_flat"),
        state.base_ok == 0b11_1110 && state.high_reads_ok == 1,
        format_args!(
            "base_ok={:#x} high_reads_ok={} descriptor_limits_4g={}",
            state.base_ok, state.high_reads_ok, flat_limits
        ),
    );
    let bss_ok = state.bss_nonzero_at == u32::MAX;
    verdict.check(
        format_args!("bss_zeroed"),
        bss_ok,
        format_args!("first_nonzero={}", BssOffset(state.bss_nonzero_at)),
    );
}

/// Where entry.s found the first non-zero dword of .bss (u32::MAX: nowhere).
struct BssOffset(u32);

impl fmt::Display for BssOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            u32::MAX => f.write_str("none"),
            offset => write!(f, "bss+{offset:#x}"),
        }
    }
}

/// The kernel's own extent (through .bss), after checking its loaded bytes against the hash
/// the build step stored.
pub(crate) fn check_image(verdict: &mut Verdict) -> Range {
    let start = symbol_address(&raw const __kernel_start);
    let hashed_end = symbol_address(&raw const __hashed_end);
    let load_end = symbol_address(&raw const __load_end);
    let bss_end = symbol_address(&raw const __bss_end);
    // SAFETY: read as loaded (see variant_name).
    let expected = unsafe { core::ptr::read_volatile(&raw const mbtest_image_sha256) };
    let actual = phys::slice(Range::new(start, hashed_end))
        .map(sha256::sha256)
        .unwrap_or_default();
    line!(
        "IMAGE start={start:#x} load_end={load_end:#x} bss_end={bss_end:#x} sha256={}",
        Hex(&actual)
    );
    verdict.check(
        format_args!("image_intact"),
        actual == expected,
        format_args!("expected={}", Hex(&expected)),
    );
    Range::new(start, bss_end)
}

fn check_memory(verdict: &mut Verdict, mbi: &Mbi) {
    let mem = mbi.mem();
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

    let mut well_formed = true;
    let mut ram_above_1m = false;
    for entry in mbi.mmap_entries() {
        match entry {
            Ok(e) => {
                line!("MMAP base={:#x} len={:#x} type={}", e.base, e.len, e.kind);
                ram_above_1m |=
                    e.kind == mbi::RAM && e.len > 0 && e.base.saturating_add(e.len) > ONE_MIB;
            }
            Err(malformed) => {
                line!("MMAP malformed at={:#x}", malformed.at);
                well_formed = false;
            }
        }
    }
    let present = mbi.has(mbi::FLAG_MMAP);
    // mem_upper counts the RAM from 1 MiB up to the first hole.
    let run = if present {
        mbi.ram_run_from(ONE_MIB)
    } else {
        0
    };
    let upper = mem.map_or(0, |(_, upper)| upper as u64 * 1024);
    let consistent = upper <= run && run - upper <= ONE_MIB;
    verdict.check(
        format_args!("mmap"),
        present && well_formed && ram_above_1m && consistent,
        format_args!(
            "present={present} well_formed={well_formed} ram_above_1m={ram_above_1m} \
             ram_run_from_1m={run:#x} mem_upper_bytes={upper:#x}"
        ),
    );
}

/// The kernel command line and the loader name; returns the command line's bytes.
fn check_strings(verdict: &mut Verdict, mbi: &Mbi) -> &'static [u8] {
    let cmdline = mbi
        .cmdline()
        .map(|addr| phys::c_string(addr, mbi::MAX_STRING));
    match cmdline {
        Some(Some(bytes)) => line!("CMDLINE {}", Quoted(bytes)),
        Some(None) => line!("CMDLINE unterminated"),
        None => line!("CMDLINE none"),
    }
    verdict.check(
        format_args!("cmdline"),
        matches!(cmdline, Some(Some(_))),
        format_args!(
            "present={} terminated={}",
            cmdline.is_some(),
            matches!(cmdline, Some(Some(_)))
        ),
    );
    let loader = mbi
        .loader_name()
        .map(|addr| phys::c_string(addr, mbi::MAX_STRING));
    match loader {
        Some(Some(bytes)) => line!("LOADER {}", Quoted(bytes)),
        Some(None) => line!("LOADER unterminated"),
        None => line!("LOADER none"),
    }
    verdict.check(
        format_args!("loader_name"),
        matches!(loader, Some(Some(_))),
        format_args!(
            "present={} terminated={}",
            loader.is_some(),
            matches!(loader, Some(Some(_)))
        ),
    );
    cmdline.flatten().unwrap_or_default()
}

/// A string's bytes including its NUL (or `MAX_STRING` bytes when unterminated).
fn string_range(addr: u64) -> Range {
    match phys::c_string(addr, mbi::MAX_STRING) {
        Some(bytes) => Range::with_len(addr, bytes.len() as u64 + 1),
        None => Range::with_len(addr, mbi::MAX_STRING),
    }
}

/// Everything the MBI consists of, except module strings: (name, range).
fn mbi_parts(mbi: &Mbi) -> [(&'static str, Option<Range>); 8] {
    [
        ("mbi", Some(mbi.range())),
        ("cmdline", mbi.cmdline().map(string_range)),
        ("loader_name", mbi.loader_name().map(string_range)),
        ("mods_array", mbi.modules().map(|(_, array)| array)),
        ("mmap", mbi.mmap()),
        ("drives", mbi.drives()),
        ("vbe_control_info", mbi.vbe().map(|(control, _, _)| control)),
        ("vbe_mode_info", mbi.vbe().map(|(_, mode, _)| mode)),
    ]
}

/// The video fields (flags 11 and 12), where given: VBE's copies readable and signed, the
/// framebuffer's fields consistent (EGA text at 0xB8000, or a linear RGB mode).
fn check_video(verdict: &mut Verdict, mbi: &Mbi) {
    if let Some((control, mode_info, mode)) = mbi.vbe() {
        let signed = phys::slice(control).is_some_and(|c| c.starts_with(b"VESA"));
        let readable = phys::slice(mode_info).is_some();
        line!("VBE mode={mode:#x} signature={signed}");
        verdict.check(
            format_args!("vbe"),
            signed && readable && mode != 0,
            format_args!(
                "control_info={:#x} mode_info={:#x}",
                control.start, mode_info.start
            ),
        );
    }
    let Some(mbi::Framebuffer {
        address,
        pitch,
        width,
        height,
        bpp,
        kind,
        colours,
    }) = mbi.framebuffer()
    else {
        return;
    };
    line!(
        "FRAMEBUFFER addr={address:#x} pitch={pitch} width={width} height={height} bpp={bpp} type={kind}"
    );
    let channels_fit = colours
        .chunks(2)
        .all(|c| c[1] > 0 && c[0] as u32 + c[1] as u32 <= bpp as u32);
    let ok = match kind {
        2 => address == 0xb8000 && pitch == width * 2 && bpp == 16,
        1 => {
            address != 0
                && bpp >= 15
                && pitch as u64 >= width as u64 * bpp.div_ceil(8) as u64
                && channels_fit
        }
        _ => false,
    };
    verdict.check(format_args!("framebuffer"), ok, format_args!("type={kind}"));
}

/// The module list, read once: entries and the extents of their strings. Empty when the MBI
/// claims more than `MAX_MODULES` (a garbage count; the `modules` check fails then).
struct ModuleTable {
    entries: [Option<(mbi::Module, Range)>; mbi::MAX_MODULES as usize],
    len: usize,
}

impl ModuleTable {
    fn read(mbi: &Mbi) -> ModuleTable {
        let mut table = ModuleTable {
            entries: [None; mbi::MAX_MODULES as usize],
            len: 0,
        };
        let count = mbi.modules().map_or(0, |(count, _)| count);
        if count <= mbi::MAX_MODULES {
            table.len = count as usize;
            for (index, entry) in table.entries[..table.len].iter_mut().enumerate() {
                *entry = mbi
                    .module(index as u32)
                    .map(|m| (m, string_range(m.string)));
            }
        }
        table
    }

    fn entries(&self) -> &[Option<(mbi::Module, Range)>] {
        &self.entries[..self.len]
    }
}

fn check_modules(verdict: &mut Verdict, mbi: &Mbi, image: Range, cmdline: &[u8]) -> ModuleTable {
    let given = mbi.modules().map_or(0, |(count, _)| count);
    line!("MODULES count={given}");
    verdict.check(
        format_args!("modules"),
        given <= mbi::MAX_MODULES,
        format_args!("count={given} cap={}", mbi::MAX_MODULES),
    );
    let table = ModuleTable::read(mbi);
    for (index, entry) in table.entries().iter().enumerate() {
        let Some((module, _)) = *entry else {
            verdict.check(
                format_args!("module{index}_readable"),
                false,
                format_args!("entry unreadable"),
            );
            continue;
        };
        let range = Range::new(module.start, module.end);
        // Only RAM is hashed: a garbage entry could otherwise have us hash gigabytes.
        let bytes = phys::slice(range).filter(|_| mbi.is_ram(range));
        let hash = bytes.map(|bytes| {
            let mut hasher = Sha256::new();
            hasher.update(bytes);
            hasher.finish()
        });
        let string = phys::c_string(module.string, mbi::MAX_STRING);
        line!(
            "MODULE {index} start={:#x} end={:#x} size={} sha256={} cmdline={}",
            module.start,
            module.end,
            module.end.saturating_sub(module.start),
            MaybeHex(hash.as_ref().map(|h| &h[..])),
            Quoted(string.unwrap_or(b""))
        );
        check_module(
            verdict,
            mbi,
            image,
            &table,
            index,
            module,
            hash.is_some(),
            string.is_some(),
        );
    }
    if let Some(expected) = text::number_option(cmdline, EXPECT_MODULES) {
        verdict.check(
            format_args!("expect_modules"),
            expected == given as u64,
            format_args!("expected={expected} given={given}"),
        );
    }
    table
}

#[allow(clippy::too_many_arguments)]
fn check_module(
    verdict: &mut Verdict,
    mbi: &Mbi,
    image: Range,
    table: &ModuleTable,
    index: usize,
    module: mbi::Module,
    readable: bool,
    string_ok: bool,
) {
    let range = Range::new(module.start, module.end);
    verdict.check(
        format_args!("module{index}_aligned"),
        module.start.is_multiple_of(4096),
        format_args!("start={:#x}", module.start),
    );
    verdict.check(
        format_args!("module{index}_in_ram"),
        readable && mbi.is_ram(range),
        format_args!("start={:#x} end={:#x}", module.start, module.end),
    );
    let mut clash = Clash::None;
    if range.overlaps(&image) {
        clash = Clash::Named("kernel");
    }
    for (name, part) in mbi_parts(mbi) {
        if part.is_some_and(|part| range.overlaps(&part)) {
            clash = Clash::Named(name);
        }
    }
    for (other, entry) in table.entries().iter().enumerate() {
        let Some((other_module, other_string)) = entry else {
            continue;
        };
        if other_module.string != 0 && range.overlaps(other_string) {
            clash = Clash::String(other);
        }
        if other != index && range.overlaps(&Range::new(other_module.start, other_module.end)) {
            clash = Clash::Module(other);
        }
    }
    verdict.check(
        format_args!("module{index}_no_overlap"),
        matches!(clash, Clash::None),
        format_args!("overlaps={clash}"),
    );
    verdict.check(
        format_args!("module{index}_cmdline"),
        module.string != 0 && string_ok,
        format_args!("string={:#x} terminated={string_ok}", module.string),
    );
}

enum Clash {
    None,
    Named(&'static str),
    Module(usize),
    String(usize),
}

impl fmt::Display for Clash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clash::None => f.write_str("none"),
            Clash::Named(name) => f.write_str(name),
            Clash::Module(index) => write!(f, "module{index}"),
            Clash::String(index) => write!(f, "module{index}_cmdline"),
        }
    }
}

/// netloader's promise: the MBI and every string and array it points to lie below 640 KiB.
fn check_low_placement(verdict: &mut Verdict, mbi: &Mbi, modules: &ModuleTable, allow_high: bool) {
    let mut highest: Option<(&str, Range)> = None;
    let mut consider = |name: &'static str, range: Range| {
        if range.end > LOW_MEMORY_END && highest.is_none_or(|(_, h)| range.end > h.end) {
            highest = Some((name, range));
        }
    };
    for (name, part) in mbi_parts(mbi) {
        if let Some(part) = part {
            consider(name, part);
        }
    }
    for (module, string) in modules.entries().iter().flatten() {
        if module.string != 0 {
            consider("module_cmdline", *string);
        }
    }
    match highest {
        None => verdict.check(
            format_args!("mbi_below_640k"),
            true,
            format_args!("all parts end <= 0xa0000"),
        ),
        Some((name, range)) => verdict.waivable(
            format_args!("mbi_below_640k"),
            false,
            allow_high,
            format_args!("{name} at {:#x}..{:#x}", range.start, range.end),
        ),
    }
}
