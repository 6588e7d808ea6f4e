//! The Multiboot 2 test kernel (tests/kernel, bin `mb2test`, entry2.s + report2.rs): its
//! variants, built by build.rs, and a parser for the report it prints on COM1.
//!
//! # The report
//!
//! One fact per line, each starting with `MB2 `, after an empty line:
//!
//! ```text
//! MB2 BEGIN variant=mb2-elf64          mb2-elf64 | mb2-elf32 | mb2-reloc | mb2-fb | mb2-aout
//! MB2 MAGIC 0x36d76289 ok
//! MB2 STATE cr0.pe=1 cr0.pg=0 if=0 vm=0 a20=1 ok
//! MB2 ENTRY eax=0x36d76289 ebx=0x86360 cr0=0x11 eflags=0x6
//! MB2 SEGMENT cs selector=0x8 limit=0xffffffff    (cs ds es ss fs gs)
//! MB2 IMAGE start=0x200000 load_end=... bss_end=... sha256=<hex>   (linked addresses)
//! MB2 LOAD base=0x200000 delta=0x0 tag=0x200000   (where it runs; tag 21 as given)
//! MB2 MBI addr=0x86360
//! MB2 TOTAL size=1234 reserved=0
//! MB2 TAG type=21 size=12 at=0x86368           (every tag, in order, the end tag last)
//! MB2 CMDLINE "..."                            (or unterminated | none)
//! MB2 LOADER "..."
//! MB2 MEM lower=639 upper=129920               (or none)
//! MB2 MMAP base=0x0 len=0x9fc00 type=1         (one per entry)
//! MB2 FRAMEBUFFER addr=0xb8000 pitch=160 width=80 height=25 bpp=16 type=2   (or none)
//! MB2 RGB red=16/8 green=8/8 blue=0/8          (type 1 only)
//! MB2 ELF num=10 entsize=64 shndx=8            (or none)
//! MB2 SECTION 1 name=".text" type=1 flags=0x6 addr=0x200090 size=0x7f93
//! MB2 ACPI old=yes new=none revision=0         (yes | bad | none)
//! MB2 VBE mode=0x118 signature=true            (only with a VBE mode)
//! MB2 APM version=0x102 cseg=0xf000 offset=0x1234   (only where the BIOS has APM)
//! MB2 NETWORK yiaddr=10.0.2.15 type=5 len=300  (or none)
//! MB2 MODULES count=2
//! MB2 MODULE 0 start=0x... end=0x... size=1000 sha256=<hex> cmdline="/mod0 first module"
//! MB2 CHECK <name> ok|fail <detail>
//! MB2 FAULT ... / MB2 PANIC ... / MB2 FATAL ...
//! MB2 VERDICT pass|fail
//! ```
//!
//! The checks (kernel/src/report2.rs): `magic`, `entry_state`, `a20`, `segments_flat`,
//! `bss_zeroed`, `image_intact` (as the Multiboot 1 kernel), `tag_list` (every tag inside
//! the structure, 8-byte aligned, the end tag exactly at its end), `cmdline`, `loader_name`,
//! `mem_info`, `mmap` (entry size 24, version 0, RAM above 1 MiB, consistent with mem_upper),
//! `framebuffer`, `elf_sections` (shape, names, every copied section in RAM, clear of the
//! kernel and the MBI) and `elf_sections_intact` (their bytes hash to what build.rs stored),
//! `acpi` (signature and checksums of what is given), `vbe` and `apm` (where given),
//! `network` (a DHCPACK), `load_base` (tag 21 says where the kernel runs; in the `mb2-reloc`
//! window), `modules` and per module `module<i>_aligned`, `_in_ram`, `_no_overlap`,
//! `_cmdline`, `expect_modules` (with `mbtest.expect-modules=N`), `mbi_below_640k`.

use std::path::Path;

use crate::kernels::{Check, EXIT_PASS, MmapEntry, ModuleReport, sha256_hex};
use crate::qemu::Outcome;
use crate::scenario::{KERNEL_CMDLINE, Module, module_cmdline};

/// The Multiboot 2 variants (build.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mb2Variant {
    /// The linked ELF64 (entry is 32-bit code).
    Elf64,
    /// The same program as an ELF32, section headers carried over.
    Elf32,
    /// The ELF64 with the relocatable tag: from 32 MiB, 2 MiB aligned, lowest first.
    Reloc,
    /// The ELF64 with the framebuffer tag: 1024x768x32.
    Framebuffer,
    /// The ELF64 requiring SMBIOS information (13), which netloader does not give.
    Smbios,
    /// The flat image (no ELF) with the address and entry address tags.
    Aout,
    /// The same sources built for i586 (ELF32 as linked): a 32-bit kernel that stays in
    /// protected mode, for CPUs without long mode; not relocatable.
    I586,
    /// The ELF64 without the EFI boot services tag: a UEFI loader ends boot services.
    ExitBootServices,
}

impl Mb2Variant {
    pub const ALL: [Mb2Variant; 8] = [
        Mb2Variant::Elf64,
        Mb2Variant::Elf32,
        Mb2Variant::Reloc,
        Mb2Variant::Framebuffer,
        Mb2Variant::Smbios,
        Mb2Variant::Aout,
        Mb2Variant::I586,
        Mb2Variant::ExitBootServices,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mb2Variant::Elf64 => "mb2-elf64",
            Mb2Variant::Elf32 => "mb2-elf32",
            Mb2Variant::Reloc => "mb2-reloc",
            Mb2Variant::Framebuffer => "mb2-fb",
            Mb2Variant::Smbios => "mb2-smbios",
            Mb2Variant::Aout => "mb2-aout",
            Mb2Variant::I586 => "mb2-i586",
            Mb2Variant::ExitBootServices => "mb2-exitbs",
        }
    }

    pub fn path(self) -> &'static Path {
        Path::new(match self {
            Mb2Variant::Elf64 => env!("NETLOADER_TEST_KERNEL_MB2_ELF64"),
            Mb2Variant::Elf32 => env!("NETLOADER_TEST_KERNEL_MB2_ELF32"),
            Mb2Variant::Reloc => env!("NETLOADER_TEST_KERNEL_MB2_RELOC"),
            Mb2Variant::Framebuffer => env!("NETLOADER_TEST_KERNEL_MB2_FB"),
            Mb2Variant::Smbios => env!("NETLOADER_TEST_KERNEL_MB2_SMBIOS"),
            Mb2Variant::Aout => env!("NETLOADER_TEST_KERNEL_MB2_AOUT"),
            Mb2Variant::I586 => env!("NETLOADER_TEST_KERNEL_MB2_I586"),
            Mb2Variant::ExitBootServices => env!("NETLOADER_TEST_KERNEL_MB2_EXITBS"),
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mb2Report {
    pub variant: String,
    pub magic_ok: bool,
    pub state_ok: bool,
    /// (where it runs, delta from the link address).
    pub load: Option<(u64, u64)>,
    pub mbi_addr: Option<u64>,
    pub total_size: Option<u64>,
    /// (type, size) of every tag, in order.
    pub tags: Vec<(u32, u32)>,
    pub cmdline: Option<String>,
    pub loader: Option<String>,
    pub mem: Option<(u32, u32)>,
    pub mmap: Vec<MmapEntry>,
    pub framebuffer: Option<Framebuffer>,
    /// (num, entsize, shndx).
    pub elf: Option<(u32, u32, u32)>,
    /// Section names, in order (from 1).
    pub sections: Vec<String>,
    /// (old, new, revision): `yes`, `bad` or `none` each.
    pub acpi: Option<(String, String, i32)>,
    pub vbe_mode: Option<u32>,
    /// (yiaddr, DHCP message type).
    pub network: Option<(String, i32)>,
    pub modules: Vec<ModuleReport>,
    pub checks: Vec<Check>,
    pub faults: Vec<String>,
    pub verdict_pass: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Framebuffer {
    pub addr: u64,
    pub pitch: u32,
    pub width: u32,
    pub height: u32,
    pub bpp: u32,
    pub kind: u32,
}

impl Mb2Report {
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    pub fn failed_checks(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }

    pub fn has_tag(&self, kind: u32) -> bool {
        self.tags.iter().any(|&(t, _)| t == kind)
    }
}

/// The last complete report (`MB2 BEGIN` to `MB2 VERDICT`) in `serial`, or None.
pub fn parse_report2(serial: &str) -> Option<Mb2Report> {
    let lines: Vec<&str> = serial.lines().map(|l| l.trim_end_matches('\r')).collect();
    let begin = lines.iter().rposition(|l| l.starts_with("MB2 BEGIN "))?;
    let mut r = Mb2Report::default();
    for line in &lines[begin..] {
        let Some(rest) = line.strip_prefix("MB2 ") else {
            continue;
        };
        let (tag, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        match tag {
            "BEGIN" => r.variant = field(rest, "variant")?.to_string(),
            "MAGIC" => r.magic_ok = rest.ends_with(" ok"),
            "STATE" => r.state_ok = rest.ends_with(" ok"),
            "LOAD" => {
                r.load = Some((
                    number(field(rest, "base")?)?,
                    number(field(rest, "delta")?)?,
                ))
            }
            "MBI" => r.mbi_addr = field(rest, "addr").and_then(number),
            "TOTAL" => r.total_size = field(rest, "size").and_then(number),
            "TAG" => r.tags.push((
                number(field(rest, "type")?)? as u32,
                number(field(rest, "size")?)? as u32,
            )),
            "CMDLINE" => r.cmdline = crate::kernels::unquote(rest),
            "LOADER" => r.loader = crate::kernels::unquote(rest),
            "MEM" if rest != "none" => {
                r.mem = Some((
                    number(field(rest, "lower")?)? as u32,
                    number(field(rest, "upper")?)? as u32,
                ))
            }
            "MMAP" => r.mmap.push(MmapEntry {
                base: number(field(rest, "base")?)?,
                len: number(field(rest, "len")?)?,
                kind: number(field(rest, "type")?)? as u32,
            }),
            "FRAMEBUFFER" if rest != "none" => {
                r.framebuffer = Some(Framebuffer {
                    addr: number(field(rest, "addr")?)?,
                    pitch: number(field(rest, "pitch")?)? as u32,
                    width: number(field(rest, "width")?)? as u32,
                    height: number(field(rest, "height")?)? as u32,
                    bpp: number(field(rest, "bpp")?)? as u32,
                    kind: number(field(rest, "type")?)? as u32,
                })
            }
            "ELF" if rest != "none" => {
                r.elf = Some((
                    number(field(rest, "num")?)? as u32,
                    number(field(rest, "entsize")?)? as u32,
                    number(field(rest, "shndx")?)? as u32,
                ))
            }
            "SECTION" => {
                let (_, after) = rest.split_once(" name=")?;
                let (name, _) = after.rsplit_once(" type=")?;
                r.sections.push(crate::kernels::unquote(name)?);
            }
            "ACPI" => {
                r.acpi = Some((
                    field(rest, "old")?.to_string(),
                    field(rest, "new")?.to_string(),
                    field(rest, "revision")?.parse().ok()?,
                ))
            }
            "VBE" => r.vbe_mode = field(rest, "mode").and_then(number).map(|m| m as u32),
            "NETWORK" if rest != "none" => {
                r.network = Some((
                    field(rest, "yiaddr")?.to_string(),
                    field(rest, "type")?.parse().ok()?,
                ))
            }
            "MODULE" => r.modules.push(crate::kernels::parse_module(rest)?),
            "CHECK" => {
                let mut parts = rest.splitn(3, ' ');
                let name = parts.next()?.to_string();
                let status = parts.next()?;
                r.checks.push(Check {
                    name,
                    ok: status == "ok" || status == "waived",
                    waived: status == "waived",
                    detail: parts.next().unwrap_or("").to_string(),
                });
            }
            "FAULT" | "PANIC" | "FATAL" => r.faults.push(line.to_string()),
            "VERDICT" => {
                r.verdict_pass = rest == "pass";
                return Some(r);
            }
            _ => {}
        }
    }
    None
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split(' ')
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Everything every boot of the Multiboot 2 test kernel must show (in QEMU, on its user
/// network); returns the report for more.
pub fn check_mb2_report(outcome: &Outcome, variant: Mb2Variant, modules: &[Module]) -> Mb2Report {
    let report = parse_report2(&outcome.serial);
    outcome.check(report.is_some(), "the Multiboot 2 kernel printed no report");
    let report = report.unwrap();
    outcome.check(report.variant == variant.name(), "the variant booted");
    outcome.check(report.magic_ok, "EAX = 0x36d76289");
    outcome.check(
        report.cmdline.as_deref()
            == Some(&format!(
                "{KERNEL_CMDLINE} mbtest.expect-modules={}",
                modules.len()
            )),
        "the kernel's command line: its path, then the arguments",
    );
    outcome.check(
        report
            .loader
            .as_deref()
            .is_some_and(|l| l.starts_with("netloader ")),
        "boot loader name",
    );
    // The tags GRUB 2 gives on a BIOS, plus ACPI (QEMU has it) and the network.
    for (tag, what) in [
        (1, "cmdline"),
        (2, "loader name"),
        (4, "basic meminfo"),
        (6, "memory map"),
        (8, "framebuffer"),
        (9, "ELF sections"),
        (10, "APM (SeaBIOS has it)"),
        (14, "ACPI 1.0 RSDP copy"),
        (16, "network (the DHCPACK)"),
        (21, "load base address"),
    ] {
        outcome.check(report.has_tag(tag), &format!("tag {tag} ({what})"));
    }
    outcome.check(
        report.network == Some(("10.0.2.15".to_string(), 5)),
        "the DHCPACK that gave 10.0.2.15",
    );
    outcome.check(
        report.acpi.as_ref().is_some_and(|(old, _, _)| old == "yes"),
        "the RSDP copy is valid",
    );
    let sections = &report.sections;
    outcome.check(
        variant == Mb2Variant::Aout
            || [".multiboot", ".text", ".symtab", ".strtab", ".shstrtab"]
                .iter()
                .all(|name| sections.iter().any(|s| s == name)),
        "the section names, read through the copied name table",
    );
    outcome.check(report.modules.len() == modules.len(), "module count");
    for (got, want) in report.modules.iter().zip(modules) {
        outcome.check(
            got.size == want.data.len() as u64 && got.sha256 == sha256_hex(&want.data),
            &format!("size and sha256 of {}", want.name),
        );
        outcome.check(
            got.cmdline == module_cmdline(want),
            &format!(
                "command line of {}: its path, then its arguments",
                want.name
            ),
        );
    }
    outcome.check_no_failed_checks(&report.failed_checks());
    outcome.check(report.verdict_pass, "verdict pass");
    outcome.check(
        outcome.exit_code == Some(EXIT_PASS),
        "exit status 33 (pass)",
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "noise\nMB2 BEGIN variant=x\nMB2 VERDICT fail\n\n\
MB2 BEGIN variant=mb2-reloc\n\
MB2 MAGIC 0x36d76289 ok\n\
MB2 STATE cr0.pe=1 cr0.pg=0 if=0 vm=0 a20=1 ok\n\
MB2 LOAD base=0x2000000 delta=0x1e00000 tag=0x2000000\n\
MB2 MBI addr=0x86360\n\
MB2 TOTAL size=1000 reserved=0\n\
MB2 TAG type=21 size=12 at=0x86368\n\
MB2 TAG type=0 size=8 at=0x863f0\n\
MB2 CMDLINE \"/kernel a b\"\n\
MB2 LOADER \"netloader 0.1.0\"\n\
MB2 MEM lower=639 upper=129920\n\
MB2 MMAP base=0x0 len=0x9fc00 type=1\n\
MB2 FRAMEBUFFER addr=0xb8000 pitch=160 width=80 height=25 bpp=16 type=2\n\
MB2 ELF num=10 entsize=64 shndx=8\n\
MB2 SECTION 1 name=\".multiboot\" type=1 flags=0x2 addr=0x200000 size=0x90\n\
MB2 SECTION 7 name=\".sym tab\" type=2 flags=0x0 addr=0x2050000 size=0xae0\n\
MB2 ACPI old=yes new=none revision=0\n\
MB2 NETWORK yiaddr=10.0.2.15 type=5 len=300\n\
MB2 MODULES count=1\n\
MB2 MODULE 0 start=0x2052000 end=0x20523e8 size=1000 sha256=ab cmdline=\"/mod0 x\"\n\
MB2 CHECK load_base ok tag=33554432\n\
MB2 CHECK acpi fail old_valid=Some(false)\n\
MB2 VERDICT pass\n";

    #[test]
    fn parses_the_last_complete_report() {
        let r = parse_report2(SAMPLE).unwrap();
        assert_eq!(r.variant, "mb2-reloc");
        assert!(r.magic_ok && r.state_ok && r.verdict_pass);
        assert_eq!(r.load, Some((0x2000000, 0x1e00000)));
        assert_eq!(r.tags, [(21, 12), (0, 8)]);
        assert!(r.has_tag(21) && !r.has_tag(9));
        assert_eq!(r.cmdline.as_deref(), Some("/kernel a b"));
        assert_eq!(r.framebuffer.unwrap().kind, 2);
        assert_eq!(r.elf, Some((10, 64, 8)));
        assert_eq!(r.sections, [".multiboot", ".sym tab"]);
        assert_eq!(r.acpi, Some(("yes".to_string(), "none".to_string(), 0)));
        assert_eq!(r.network, Some(("10.0.2.15".to_string(), 5)));
        assert_eq!(r.modules[0].cmdline, "/mod0 x");
        assert_eq!(r.failed_checks().len(), 1);
    }

    #[test]
    fn every_variant_file_exists() {
        for variant in Mb2Variant::ALL {
            assert!(variant.path().is_file(), "{variant:?}");
        }
    }
}
