//! The Multiboot 1 test kernel (tests/kernel) that every boot test ends in: its variants, built
//! by build.rs, and a parser for the report it prints on COM1.
//!
//! # The report
//!
//! One fact per line, each starting with `MB `; the kernel prints an empty line first, so the
//! report starts on a line of its own after whatever the loader printed:
//!
//! ```text
//! MB BEGIN variant=elf32                      elf64 | elf64kludge | elf32 | aout | low | video | i586
//! MB MAGIC 0x2badb002 ok
//! MB STATE cr0.pe=1 cr0.pg=0 if=0 vm=0 a20=1 ok
//! MB ENTRY eax=0x2badb002 ebx=0x9500 cr0=0x11 eflags=0x6
//! MB SEGMENT cs selector=0x8 limit=0xffffffff    (cs ds es ss fs gs; limit=unreadable if LSL fails)
//! MB IMAGE start=0x100000 load_end=0x1057b0 bss_end=0x12c200 sha256=<hex>
//! MB MBI addr=0x9500
//! MB FLAGS 0x24f
//! MB MEM lower=639 upper=129920               (or `MB MEM none`)
//! MB MMAP base=0x0 len=0x9fc00 type=1         (one per entry; `MB MMAP malformed at=0x...`)
//! MB CMDLINE "..."                            (or none | unterminated)
//! MB LOADER "..."                             (or none | unterminated)
//! MB VBE mode=0x4144 signature=true           (flag 11 only)
//! MB FRAMEBUFFER addr=0xfd000000 pitch=4096 width=1024 height=768 bpp=32 type=1 (flag 12)
//! MB MODULES count=2
//! MB MODULE 0 start=0x12e000 end=0x12e3e8 size=1000 sha256=<hex> cmdline="/m1 arg a"
//! MB CHECK <name> ok|fail|waived <detail>     (one per check, as made)
//! MB FAULT ... / MB PANIC ...                 (only if the kernel itself broke)
//! MB FATAL the CPU has no long mode           (then straight to the verdict)
//! MB VERDICT pass|fail                        (always last)
//! ```
//!
//! Strings are double-quoted with `\"`, `\\` and `\xNN` escapes. The checks: `magic`,
//! `entry_state` (CR0.PE=1, PG=0, IF=0, VM=0), `a20`, `segments_flat` (DS..GS base 0 and 4 GiB
//! limit by behaviour), `bss_zeroed`, `image_intact` (the loaded header+code+data match the hash
//! build.rs stored), `mem_info`, `mmap` (present, well formed, RAM above 1 MiB, mem_upper
//! consistent with it), `cmdline`, `loader_name`, `vbe` and `framebuffer` (where flags 11 and
//! 12 give them: the copies signed `VESA`, the fields consistent), `modules` (count at most 1024), per module
//! `module<i>_aligned`, `module<i>_in_ram`, `module<i>_no_overlap` (kernel, MBI parts, other
//! modules and their strings), `module<i>_cmdline`, `expect_modules` (only with
//! `mbtest.expect-modules=N` on the kernel command line) and `mbi_below_640k` (netloader's
//! promise; `waived` instead of `fail` with `mbtest.allow-high-mbi` on the command line).
//! The verdict passes when no check failed. Then the kernel writes 0x10 (pass) or 0x11 (fail) to
//! isa-debug-exit at port 0xf4, i.e. QEMU exit status 33 or 35; without that device (Bochs) it
//! halts.

use std::path::Path;

/// QEMU exit status after `MB VERDICT pass` (isa-debug-exit at 0xf4).
pub const EXIT_PASS: i32 = 33;
/// QEMU exit status after `MB VERDICT fail`.
pub const EXIT_FAIL: i32 = 35;
/// Kernel command-line word: report `mbi_below_640k` as waived rather than failed.
pub const ALLOW_HIGH_MBI: &str = "mbtest.allow-high-mbi";

/// Kernel command-line word: fail unless exactly `count` modules arrive.
pub fn expect_modules(count: usize) -> String {
    format!("mbtest.expect-modules={count}")
}

/// The forms the test kernel is built in. All but `Low` load at 1 MiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The linked ELF64 (entry is 32-bit code), header flag 16 clear: what GRUB and Limine
    /// accept; QEMU's -kernel refuses it.
    Elf64,
    /// The same ELF64 with flag 16 set: the address fields describe the same layout.
    Elf64Kludge,
    /// The same program converted to ELF32 (EM_386), flag 16 clear.
    Elf32,
    /// A flat binary with flag 16 set (the "a.out kludge").
    Aout,
    /// ELF32, flag 16 clear, loaded at 0x8000 with .bss up to 0x90000 (over netloader's runtime).
    Low,
    /// The ELF32 with flag 2 set: it asks for video information, a 1024x768x32 linear mode.
    Video,
    /// The same sources built for i586 (ELF32, flag 16 clear): a 32-bit kernel that stays in
    /// protected mode, for CPUs without long mode.
    I586,
}

/// Where a variant sits in memory (from the link), as build.rs found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub load_start: u64,
    /// End of the bytes that come from the file.
    pub load_end: u64,
    /// End of .bss: the kernel occupies `load_start..bss_end`.
    pub bss_end: u64,
    /// The 32-bit entry point.
    pub entry: u64,
}

include!(concat!(env!("OUT_DIR"), "/test_kernel_layouts.rs"));

impl Variant {
    pub const ALL: [Variant; 7] = [
        Variant::Elf64,
        Variant::Elf64Kludge,
        Variant::Elf32,
        Variant::Aout,
        Variant::Low,
        Variant::Video,
        Variant::I586,
    ];

    /// The name the kernel reports in `MB BEGIN variant=`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Elf64 => "elf64",
            Variant::Elf64Kludge => "elf64kludge",
            Variant::Elf32 => "elf32",
            Variant::Aout => "aout",
            Variant::Low => "low",
            Variant::Video => "video",
            Variant::I586 => "i586",
        }
    }

    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The kernel file.
    pub fn path(self) -> &'static Path {
        Path::new(match self {
            Variant::Elf64 => env!("NETLOADER_TEST_KERNEL_ELF64"),
            Variant::Elf64Kludge => env!("NETLOADER_TEST_KERNEL_ELF64KLUDGE"),
            Variant::Elf32 => env!("NETLOADER_TEST_KERNEL_ELF32"),
            Variant::Aout => env!("NETLOADER_TEST_KERNEL_AOUT"),
            Variant::Low => env!("NETLOADER_TEST_KERNEL_LOW"),
            Variant::Video => env!("NETLOADER_TEST_KERNEL_VIDEO"),
            Variant::I586 => env!("NETLOADER_TEST_KERNEL_I586"),
        })
    }

    pub fn layout(self) -> Layout {
        LAYOUTS
            .iter()
            .find(|(name, _)| *name == self.name())
            .map(|(_, layout)| *layout)
            .expect("build.rs lists every variant")
    }

    /// Whether the Multiboot header's flag 16 (address fields) is set.
    pub fn uses_address_fields(self) -> bool {
        matches!(self, Variant::Elf64Kludge | Variant::Aout)
    }
}

/// The kernel file of `variant`.
pub fn path(variant: Variant) -> &'static Path {
    variant.path()
}

#[allow(dead_code)]
#[path = "../kernel/src/sha256.rs"]
mod sha256;

/// SHA-256 as lower-case hex: the form the report gives module hashes in.
pub fn sha256_hex(data: &[u8]) -> String {
    sha256::sha256(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A parsed report (the last complete one in the serial output).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub variant: String,
    pub magic: u32,
    pub magic_ok: bool,
    /// The `MB STATE` line's own verdict (CR0, EFLAGS, A20).
    pub state_ok: bool,
    pub image: Option<ImageReport>,
    pub mbi_addr: Option<u64>,
    pub flags: Option<u32>,
    /// (mem_lower, mem_upper) in KiB.
    pub mem: Option<(u32, u32)>,
    pub mmap: Vec<MmapEntry>,
    pub cmdline: Option<String>,
    pub loader: Option<String>,
    /// Flag 12's fields: (address, pitch, width, height, bpp, type).
    pub framebuffer: Option<(u64, u32, u32, u32, u32, u32)>,
    /// Flag 11's mode number.
    pub vbe_mode: Option<u32>,
    /// As the MBI gave it (above 1024 the kernel takes it for garbage and looks at no module).
    pub module_count: Option<u64>,
    pub modules: Vec<ModuleReport>,
    pub checks: Vec<Check>,
    /// `MB FAULT`, `MB PANIC` or `MB FATAL` lines: the kernel itself broke, or cannot run.
    pub faults: Vec<String>,
    pub verdict_pass: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageReport {
    pub start: u64,
    pub load_end: u64,
    pub bss_end: u64,
    pub sha256: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapEntry {
    pub base: u64,
    pub len: u64,
    pub kind: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleReport {
    pub index: u32,
    pub start: u64,
    pub end: u64,
    pub size: u64,
    /// Lower-case hex, or `unreadable`.
    pub sha256: String,
    pub cmdline: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    /// True for `ok` and for `waived`.
    pub ok: bool,
    pub waived: bool,
    pub detail: String,
}

impl Report {
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    pub fn failed_checks(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }
}

/// The last complete report (from `MB BEGIN` to `MB VERDICT`) in `serial`; None if there is
/// none (the kernel never ran, or stopped before its verdict). Unknown `MB` lines are skipped.
pub fn parse_report(serial: &str) -> Option<Report> {
    let lines: Vec<&str> = serial.lines().map(|l| l.trim_end_matches('\r')).collect();
    let begin = lines.iter().rposition(|l| l.starts_with("MB BEGIN "))?;
    let mut report = Report::default();
    for line in &lines[begin..] {
        let Some(rest) = line.strip_prefix("MB ") else {
            continue;
        };
        let (tag, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        match tag {
            "BEGIN" => report.variant = field(rest, "variant")?.to_string(),
            "MAGIC" => {
                let (value, status) = rest.split_once(' ')?;
                report.magic = number(value)? as u32;
                report.magic_ok = status == "ok";
            }
            "STATE" => report.state_ok = rest.ends_with(" ok"),
            "IMAGE" => {
                report.image = Some(ImageReport {
                    start: number(field(rest, "start")?)?,
                    load_end: number(field(rest, "load_end")?)?,
                    bss_end: number(field(rest, "bss_end")?)?,
                    sha256: field(rest, "sha256")?.to_string(),
                })
            }
            "MBI" => report.mbi_addr = field(rest, "addr").and_then(number),
            "FLAGS" => report.flags = number(rest).map(|f| f as u32),
            "MEM" if rest != "none" => {
                report.mem = Some((
                    number(field(rest, "lower")?)? as u32,
                    number(field(rest, "upper")?)? as u32,
                ))
            }
            "MMAP" if !rest.starts_with("malformed") => report.mmap.push(MmapEntry {
                base: number(field(rest, "base")?)?,
                len: number(field(rest, "len")?)?,
                kind: number(field(rest, "type")?)? as u32,
            }),
            "CMDLINE" => report.cmdline = unquote(rest),
            "LOADER" => report.loader = unquote(rest),
            "FRAMEBUFFER" => {
                let n = |key| field(rest, key).and_then(number);
                report.framebuffer = Some((
                    n("addr")?,
                    n("pitch")? as u32,
                    n("width")? as u32,
                    n("height")? as u32,
                    n("bpp")? as u32,
                    n("type")? as u32,
                ))
            }
            "VBE" => report.vbe_mode = field(rest, "mode").and_then(number).map(|m| m as u32),
            "MODULES" => report.module_count = field(rest, "count").and_then(number),
            "MODULE" => report.modules.push(parse_module(rest)?),
            "CHECK" => {
                let mut parts = rest.splitn(3, ' ');
                let name = parts.next()?.to_string();
                let status = parts.next()?;
                report.checks.push(Check {
                    name,
                    ok: status == "ok" || status == "waived",
                    waived: status == "waived",
                    detail: parts.next().unwrap_or("").to_string(),
                });
            }
            "FAULT" | "PANIC" | "FATAL" => report.faults.push(line.to_string()),
            "VERDICT" => {
                report.verdict_pass = rest == "pass";
                return Some(report);
            }
            _ => {}
        }
    }
    None
}

/// `<index> start=.. end=.. size=.. sha256=.. cmdline="..."` (the quoted string last).
pub fn parse_module(rest: &str) -> Option<ModuleReport> {
    let (fields, cmdline) = rest.split_once(" cmdline=")?;
    let (index, fields) = fields.split_once(' ')?;
    Some(ModuleReport {
        index: index.parse().ok()?,
        start: number(field(fields, "start")?)?,
        end: number(field(fields, "end")?)?,
        size: number(field(fields, "size")?)?,
        sha256: field(fields, "sha256")?.to_string(),
        cmdline: unquote(cmdline)?,
    })
}

/// The value of `key=value` among space-separated words.
pub(crate) fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split(' ')
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

/// Decimal, or hex with 0x.
pub(crate) fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Undo the kernel's quoting; None for anything that is not a quoted string (`none`, ...).
pub fn unquote(text: &str) -> Option<String> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.bytes();
    while let Some(byte) = chars.next() {
        if byte != b'\\' {
            bytes.push(byte);
            continue;
        }
        match chars.next()? {
            b'x' => {
                let high = (chars.next()? as char).to_digit(16)?;
                let low = (chars.next()? as char).to_digit(16)?;
                bytes.push((high * 16 + low) as u8);
            }
            other => bytes.push(other),
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "SeaBIOS noise\r\nnetloader: booting\n\
MB BEGIN variant=unknown\nMB VERDICT fail\n\
\n\
MB BEGIN variant=elf32\n\
MB MAGIC 0x2badb002 ok\n\
MB CHECK magic ok eax=0x2badb002\n\
MB STATE cr0.pe=1 cr0.pg=0 if=0 vm=0 a20=1 ok\n\
MB IMAGE start=0x100000 load_end=0x1057b0 bss_end=0x12c200 sha256=9b08\n\
MB MBI addr=0x9500\n\
MB FLAGS 0x24f\n\
MB MEM lower=639 upper=129920\n\
MB MMAP base=0x0 len=0x9fc00 type=1\n\
MB MMAP base=0x100000 len=0x7ee0000 type=1\n\
MB MMAP malformed at=0x9000\n\
MB CMDLINE \"a.bin x=\\\"1\\\" \\\\ \\x01\"\n\
MB LOADER none\n\
MB MODULES count=2\n\
MB MODULE 0 start=0x12e000 end=0x12e3e8 size=1000 sha256=82ad cmdline=\"/tmp/m1 arg a size=3\"\n\
MB CHECK module0_aligned ok start=0x12e000\n\
MB MODULE 1 start=0x12f000 end=0x12f003 size=3 sha256=unreadable cmdline=\"\"\n\
MB CHECK mbi_below_640k waived loader_name at 0x12d056..0x12d05b\n\
MB CHECK cmdline fail present=false terminated=false\n\
MB VERDICT pass\n";

    #[test]
    fn parses_the_last_complete_report() {
        let report = parse_report(SAMPLE).unwrap();
        assert_eq!(report.variant, "elf32");
        assert!(report.magic_ok && report.state_ok && report.verdict_pass);
        assert_eq!(report.magic, 0x2bad_b002);
        assert_eq!(report.mbi_addr, Some(0x9500));
        assert_eq!(report.flags, Some(0x24f));
        assert_eq!(report.mem, Some((639, 129920)));
        assert_eq!(report.mmap.len(), 2);
        assert_eq!(
            report.mmap[1],
            MmapEntry {
                base: 0x100000,
                len: 0x7ee0000,
                kind: 1
            }
        );
        assert_eq!(report.cmdline.as_deref(), Some("a.bin x=\"1\" \\ \u{1}"));
        assert_eq!(report.loader, None);
        assert_eq!(report.module_count, Some(2));
        assert_eq!(report.modules[0].cmdline, "/tmp/m1 arg a size=3");
        assert_eq!(
            (report.modules[0].start, report.modules[0].size),
            (0x12e000, 1000)
        );
        assert_eq!(report.modules[1].sha256, "unreadable");
        assert_eq!(report.image.as_ref().unwrap().bss_end, 0x12c200);
        let waived = report.check("mbi_below_640k").unwrap();
        assert!(waived.ok && waived.waived);
        assert_eq!(waived.detail, "loader_name at 0x12d056..0x12d05b");
        assert_eq!(report.failed_checks().len(), 1);
    }

    #[test]
    fn an_unfinished_report_is_none() {
        assert_eq!(
            parse_report("MB BEGIN variant=aout\nMB MAGIC 0x2badb002 ok\n"),
            None
        );
        assert_eq!(parse_report("no kernel here"), None);
    }

    #[test]
    fn garbage_lines_do_not_panic() {
        for text in [
            "MB BEGIN\nMB VERDICT pass",
            "MB BEGIN variant=x\nMB MODULE\nMB VERDICT pass",
            "MB BEGIN variant=x\nMB CMDLINE \"\\x\"\nMB VERDICT pass",
            "MB BEGIN variant=x\nMB MAGIC\nMB VERDICT fail",
        ] {
            let _ = parse_report(text);
        }
    }

    #[test]
    fn sha256_matches_the_nist_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let mut hasher = sha256::Sha256::new();
        for _ in 0..1000 {
            hasher.update(&[b'a'; 1000]);
        }
        let million_a: String = hasher.finish().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            million_a,
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        // Uneven pieces give the same digest as one call.
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut pieces = sha256::Sha256::new();
        for chunk in data.chunks(37) {
            pieces.update(chunk);
        }
        assert_eq!(pieces.finish(), sha256::sha256(&data));
    }

    #[test]
    fn every_variant_file_exists_with_its_layout() {
        for variant in Variant::ALL {
            assert!(variant.path().is_file(), "{variant:?}");
            assert_eq!(Variant::from_name(variant.name()), Some(variant));
            let layout = variant.layout();
            assert!(layout.load_start < layout.load_end && layout.load_end <= layout.bss_end);
        }
        assert_eq!(Variant::Low.layout().load_start, 0x8000);
        assert_eq!(Variant::Low.layout().bss_end, 0x90000);
        assert_eq!(Variant::Elf32.layout().load_start, 0x100000);
    }
}
