//! The checks and the report: one fact per line, each starting with `LX ` (the format is
//! documented, and parsed, in tests/src/linux.rs).

use core::fmt;

use crate::EntryState;
use crate::phys::{self, Range};
use crate::serial::line;
use crate::sha256::sha256;
use crate::text::{Hex, Quoted, has_flag};

/// Where an unmoved bzImage runs: every loader may put it there, whatever its alignment.
const UNMOVED: u64 = 0x10_0000;
const ONE_MIB: u64 = 0x10_0000;
const FOUR_GIB: u64 = 1 << 32;
const E820_RAM: u32 = 1;
/// The file's bytes from the setup header on (0x1F1) that the build step copies into
/// `lx_setup_header`, up to where the zero page's next structure begins.
const HEADER_START: usize = 0x1F1;
const HEADER_LIMIT: usize = 0x290;
/// Header fields a loader writes or may modify (boot.rst, "write" / "modify"): left out of
/// the comparison with the file.
const LOADER_FIELDS: &[(usize, usize)] = &[
    (0x1F2, 0x1F4), // root_flags
    (0x1FA, 0x1FE), // vid_mode, root_dev
    (0x210, 0x214), // type_of_loader, loadflags, setup_move_size
    (0x214, 0x220), // code32_start, ramdisk_image, ramdisk_size
    (0x224, 0x22C), // heap_end_ptr, ext_loader_ver/type, cmd_line_ptr
    (0x230, 0x234), // kernel_alignment
    (0x23C, 0x248), // hardware_subarch, hardware_subarch_data
    (0x250, 0x258), // setup_data
];
/// Fail unless an initrd arrives.
const EXPECT_INITRD: &[u8] = b"lxtest.expect-initrd";

unsafe extern "C" {
    static __image_start: u8;
    static __hashed_end: u8;
    static __image_end: u8;
    static lx_setup_header: [u8; HEADER_LIMIT - HEADER_START];
    static lx_image_sha256: [u8; 32];
}

/// Counts failures; each check is printed as it is made.
#[derive(Default)]
struct Verdict {
    failures: u32,
}

impl Verdict {
    fn check(&mut self, name: &str, ok: bool, detail: fmt::Arguments) {
        self.failures += u32::from(!ok);
        line!(
            "LX CHECK {name} {} {detail}",
            if ok { "ok" } else { "fail" }
        );
    }
}

/// The zero page as the loader handed it over.
struct ZeroPage(&'static [u8]);

impl ZeroPage {
    fn u8(&self, at: usize) -> u8 {
        self.0[at]
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.0[at], self.0[at + 1]])
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap_or([0; 4]))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.0[at..at + 8].try_into().unwrap_or([0; 8]))
    }
}

/// The kernel's own extent, from its link: (bytes that come from the file and are hashed,
/// bytes it occupies from its load address = init_size).
fn image_sizes() -> (u64, u64) {
    let start = &raw const __image_start as u64;
    let hashed = &raw const __hashed_end as u64 - start;
    let total = &raw const __image_end as u64 - start;
    (hashed, total)
}

/// Runs every check, prints the report (but not the verdict line); true if all passed.
pub fn run(state: &EntryState, load: u64) -> bool {
    let mut verdict = Verdict::default();
    line!();
    line!("LX BEGIN lxtest");
    let [cs, ds, es, ss, fs, gs] = state.selectors;
    line!(
        "LX ENTRY cs={cs:#x} ds={ds:#x} es={es:#x} ss={ss:#x} fs={fs:#x} gs={gs:#x} eflags={:#x} cr0={:#x} cr4={:#x} esi={:#x} ebp={:#x} edi={:#x} ebx={:#x}",
        state.eflags,
        state.cr0,
        state.cr4,
        state.esi,
        state.ebp,
        state.edi,
        state.ebx
    );
    let pe = state.cr0 & 1 != 0;
    let pg = state.cr0 & (1 << 31) != 0;
    let interrupts = state.eflags & (1 << 9) != 0;
    let vm = state.eflags & (1 << 17) != 0;
    verdict.check(
        "entry_state",
        cs == 0x10 && ds == 0x18 && es == 0x18 && ss == 0x18 && pe && !pg && !interrupts && !vm,
        format_args!(
            "cs={cs:#x} ds={ds:#x} es={es:#x} ss={ss:#x} cr0.pe={} cr0.pg={} if={} vm={}",
            pe as u8, pg as u8, interrupts as u8, vm as u8
        ),
    );
    verdict.check(
        "entry_registers",
        state.ebp == 0 && state.edi == 0 && state.ebx == 0,
        format_args!(
            "ebp={:#x} edi={:#x} ebx={:#x}",
            state.ebp, state.edi, state.ebx
        ),
    );

    let (hashed_len, init_size) = image_sizes();
    let loaded = phys::slice(Range::with_len(load, hashed_len));
    let digest = loaded.map(sha256);
    // SAFETY: the build step patched these bytes in the file; read them as loaded.
    let expected = unsafe { core::ptr::read_volatile(&raw const lx_image_sha256) };
    line!(
        "LX LOAD address={load:#x} file_end={:#x} init_end={:#x} sha256={}",
        load + hashed_len,
        load + init_size,
        digest.as_ref().map_or(Hex(b""), |d| Hex(d))
    );
    verdict.check(
        "image_intact",
        digest == Some(expected),
        format_args!("{} hashed bytes", hashed_len),
    );

    let zero_page_addr = u64::from(state.esi);
    let Some(bytes) =
        phys::slice(Range::with_len(zero_page_addr, 4096)).filter(|_| zero_page_addr != 0)
    else {
        verdict.check(
            "zero_page",
            false,
            format_args!("esi={zero_page_addr:#x} is not readable"),
        );
        return false;
    };
    let zp = ZeroPage(bytes);
    let kernel_alignment = u64::from(zp.u32(0x230));
    let initrd_addr_max = u64::from(zp.u32(0x22C));
    let cmdline_size = u64::from(zp.u32(0x238));
    line!(
        "LX BOOTPARAMS addr={zero_page_addr:#x} version={:#x} type_of_loader={:#x} loadflags={:#x} code32_start={:#x} kernel_alignment={kernel_alignment:#x} initrd_addr_max={initrd_addr_max:#x} cmdline_size={cmdline_size} acpi_rsdp={:#x}",
        zp.u16(0x206),
        zp.u8(0x210),
        zp.u8(0x211),
        zp.u32(0x214),
        zp.u64(0x70)
    );
    check_header(&mut verdict, &zp);
    verdict.check(
        "type_of_loader",
        zp.u8(0x210) != 0,
        format_args!("{:#x} (0 makes Linux ignore the initrd)", zp.u8(0x210)),
    );
    verdict.check(
        "entry_address",
        u64::from(zp.u32(0x214)) == load,
        format_args!("code32_start={:#x} load={load:#x}", zp.u32(0x214)),
    );
    verdict.check(
        "load_aligned",
        load.is_multiple_of(4096)
            && kernel_alignment.is_power_of_two()
            && kernel_alignment >= 4096
            && (load == UNMOVED || load.is_multiple_of(kernel_alignment)),
        format_args!("load={load:#x} kernel_alignment={kernel_alignment:#x}"),
    );

    // The command line.
    let cmdline_ptr = u64::from(zp.u32(0x228));
    let cmdline = (cmdline_ptr != 0)
        .then(|| phys::c_string(cmdline_ptr, cmdline_size + 1))
        .flatten();
    match (cmdline_ptr, cmdline) {
        (0, _) => line!("LX CMDLINE none"),
        (_, Some(text)) => line!("LX CMDLINE addr={cmdline_ptr:#x} {}", Quoted(text)),
        (_, None) => line!("LX CMDLINE addr={cmdline_ptr:#x} unterminated"),
    }
    verdict.check(
        "cmdline",
        cmdline.is_some(),
        format_args!("a NUL within cmdline_size + 1 = {} bytes", cmdline_size + 1),
    );
    let cmdline_text = cmdline.unwrap_or(b"");

    // The memory map.
    let count = usize::from(zp.u8(0x1E8));
    line!("LX E820 count={count}");
    let entry = |i: usize| {
        let at = 0x2D0 + 20 * i;
        (zp.u64(at), zp.u64(at + 8), zp.u32(at + 16))
    };
    let shown = count.min(128);
    for i in 0..shown {
        let (base, len, kind) = entry(i);
        line!("LX E820 base={base:#x} len={len:#x} type={kind}");
    }
    let well_formed = (0..shown).all(|i| entry(i).1 > 0);
    let ram_above_1m = (0..shown)
        .any(|i| entry(i).2 == E820_RAM && entry(i).0.saturating_add(entry(i).1) > ONE_MIB);
    verdict.check(
        "e820",
        (2..=128).contains(&count) && well_formed && ram_above_1m,
        format_args!("{count} entries, RAM above 1 MiB: {ram_above_1m}"),
    );
    let in_ram = |range: Range| {
        (0..shown).any(|i| {
            let (base, len, kind) = entry(i);
            kind == E820_RAM && base <= range.start && range.end <= base.saturating_add(len)
        })
    };
    let kernel = Range::with_len(load, init_size);
    verdict.check(
        "kernel_in_ram",
        in_ram(kernel),
        format_args!("{:#x}..{:#x}", kernel.start, kernel.end),
    );

    // The initrd.
    let initrd_addr = u64::from(zp.u32(0x218));
    let initrd_size = u64::from(zp.u32(0x21C));
    let initrd = Range::with_len(initrd_addr, initrd_size);
    if initrd_size == 0 {
        line!("LX INITRD none");
        verdict.check(
            "expect_initrd",
            !has_flag(cmdline_text, EXPECT_INITRD),
            format_args!("no initrd"),
        );
    } else {
        let digest = phys::slice(initrd).map(sha256);
        line!(
            "LX INITRD addr={initrd_addr:#x} size={initrd_size} sha256={}",
            digest.as_ref().map_or(Hex(b""), |d| Hex(d))
        );
        verdict.check(
            "initrd_aligned",
            initrd_addr.is_multiple_of(4096),
            format_args!("{initrd_addr:#x}"),
        );
        verdict.check(
            "initrd_below_max",
            initrd.end - 1 <= initrd_addr_max && initrd.end <= FOUR_GIB,
            format_args!(
                "last byte {:#x}, initrd_addr_max {initrd_addr_max:#x}",
                initrd.end - 1
            ),
        );
        verdict.check(
            "initrd_above_kernel",
            initrd.start >= kernel.end,
            format_args!("{:#x} >= load + init_size {:#x}", initrd.start, kernel.end),
        );
        verdict.check(
            "initrd_in_ram",
            in_ram(initrd),
            format_args!("{:#x}..{:#x}", initrd.start, initrd.end),
        );
    }

    // Nothing the loader placed overlaps anything else.
    let pieces = [
        ("zero_page", Range::with_len(zero_page_addr, 4096)),
        (
            "cmdline",
            Range::with_len(cmdline_ptr, cmdline_text.len() as u64 + 1),
        ),
        ("initrd", initrd),
        ("kernel", kernel),
    ];
    let mut overlaps = 0;
    for (i, (a_name, a)) in pieces.iter().enumerate() {
        for (b_name, b) in &pieces[i + 1..] {
            if a.overlaps(b) {
                overlaps += 1;
                line!("LX OVERLAP {a_name} {b_name}");
            }
        }
    }
    verdict.check(
        "no_overlap",
        overlaps == 0,
        format_args!("{overlaps} overlaps"),
    );

    check_screen(&mut verdict, &zp);
    check_efi(&mut verdict, &zp);
    verdict.failures == 0
}

/// efi_info (0x1C0), from a loader on a 64-bit UEFI: the signature "EL64", the system table
/// (its own signature "IBI SYST"), and the EFI memory map: whole descriptors of at least 40
/// bytes, some conventional memory among them. `LX EFI none` from a BIOS loader.
fn check_efi(verdict: &mut Verdict, zp: &ZeroPage) {
    const SYSTEM_TABLE_SIGNATURE: u64 = 0x5453_5953_2049_4249;
    let signature = zp.u32(0x1c0);
    if signature == 0 {
        line!("LX EFI none");
        return;
    }
    let systab = u64::from(zp.u32(0x1c4)) | u64::from(zp.u32(0x1d8)) << 32;
    let descriptor_size = zp.u32(0x1c8) as usize;
    let version = zp.u32(0x1cc);
    let memmap = u64::from(zp.u32(0x1d0)) | u64::from(zp.u32(0x1dc)) << 32;
    let size = zp.u32(0x1d4) as usize;
    let readable = |address: u64, len: usize| address != 0 && address + len as u64 <= 1 << 32;
    // SAFETY: the first 4 GiB are mapped 1:1 (entry.s); addresses above are not read.
    let systab_ok = readable(systab, 8)
        && unsafe { core::ptr::read_volatile(systab as *const u64) } == SYSTEM_TABLE_SIGNATURE;
    let whole = descriptor_size >= 40
        && descriptor_size.is_multiple_of(8)
        && size.is_multiple_of(descriptor_size);
    let mut conventional_kib = 0u64;
    if whole && readable(memmap, size) {
        // SAFETY: as above: the map the loader names, below 4 GiB.
        let map = unsafe { core::slice::from_raw_parts(memmap as *const u8, size) };
        for descriptor in map.chunks_exact(descriptor_size) {
            let word = |at: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&descriptor[at..at + 8]);
                u64::from_le_bytes(b)
            };
            if word(0) as u32 == 7 {
                conventional_kib += word(24) * 4;
            }
        }
    }
    let el64 = signature == u32::from_le_bytes(*b"EL64");
    line!(
        "LX EFI signature={} systab={systab:#x} systab_signature={} memmap={memmap:#x} size={size} descriptor_size={descriptor_size} version={version} conventional_kib={conventional_kib}",
        if el64 { "EL64" } else { "other" },
        if systab_ok { "ok" } else { "bad" }
    );
    verdict.check(
        "efi_info",
        el64 && systab_ok && whole && version == 1 && conventional_kib > 0,
        format_args!("signature={signature:#x}"),
    );
}

/// The setup header in the zero page is the file's, but for the fields a loader writes, and
/// nothing after its end was copied.
fn check_header(verdict: &mut Verdict, zp: &ZeroPage) {
    // SAFETY: the build step patched these bytes in the file; read them as loaded.
    let file = unsafe { core::ptr::read_volatile(&raw const lx_setup_header) };
    let end = 0x202 + usize::from(file[0x201 - HEADER_START]);
    let mut differing = None;
    for at in HEADER_START..end.min(HEADER_LIMIT) {
        let loader_field = LOADER_FIELDS.iter().any(|&(s, e)| (s..e).contains(&at));
        if !loader_field && zp.u8(at) != file[at - HEADER_START] {
            differing.get_or_insert(at);
        }
    }
    match differing {
        None => verdict.check(
            "header_copied",
            true,
            format_args!("the fields a loader does not write match the file"),
        ),
        Some(at) => verdict.check(
            "header_copied",
            false,
            format_args!("the zero page differs from the file at {at:#x}"),
        ),
    }
    let beyond = (end..HEADER_LIMIT).find(|&at| zp.u8(at) != 0);
    verdict.check(
        "header_exact",
        beyond.is_none() && zp.u8(0x1EF) == 0,
        format_args!(
            "header ends at {end:#x}; non-zero after it at {:#x}; sentinel {:#x}",
            beyond.unwrap_or(0),
            zp.u8(0x1EF)
        ),
    );
}

fn check_screen(verdict: &mut Verdict, zp: &ZeroPage) {
    let kind = zp.u8(0x0F);
    line!(
        "LX SCREEN isvga={kind:#x} mode={} cols={} lines={} points={} x={} y={}",
        zp.u8(0x06),
        zp.u8(0x07),
        zp.u8(0x0E),
        zp.u16(0x10),
        zp.u8(0x00),
        zp.u8(0x01)
    );
    let ok = match kind {
        1 => zp.u8(0x06) == 3 && zp.u8(0x07) == 80 && zp.u8(0x0E) == 25,
        0x23 => {
            let base = u64::from(zp.u32(0x18)) | u64::from(zp.u32(0x3A)) << 32;
            line!(
                "LX LFB base={base:#x} size={} width={} height={} depth={} pitch={} red={}/{} green={}/{} blue={}/{} rsvd={}/{}",
                zp.u32(0x1C),
                zp.u16(0x12),
                zp.u16(0x14),
                zp.u16(0x16),
                zp.u16(0x24),
                zp.u8(0x26),
                zp.u8(0x27),
                zp.u8(0x28),
                zp.u8(0x29),
                zp.u8(0x2A),
                zp.u8(0x2B),
                zp.u8(0x2C),
                zp.u8(0x2D)
            );
            base != 0 && zp.u16(0x12) != 0 && zp.u16(0x14) != 0 && zp.u16(0x16) != 0
        }
        _ => false,
    };
    verdict.check(
        "screen",
        ok,
        format_args!("orig_video_isVGA={kind:#x}: VGA text 80x25 mode 3, or a VESA framebuffer"),
    );
}
