//! Random and mutated configs: the parser never panics, and whatever it accepts keeps the
//! promises the loader relies on. A seeded PRNG keeps every run the same.

use std::string::{String, ToString};
use std::vec::Vec;

use super::*;
use crate::test_rng::Rng;

const PIECES: &[&str] = &[
    "menuentry",
    "multiboot",
    "module",
    "set",
    "timeout=",
    "default=",
    "root=",
    "boot",
    "echo",
    "insmod",
    "--nounzip",
    "--class",
    "--id",
    "--sha256=",
    "9f86d081884c7d659a2feaa0c55ad015",
    "a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "/kernel",
    "(pxe)/m",
    "(pxe)",
    "tftp://10.0.0.9/x",
    "tftp://10.0.0.9:99/y",
    "tftp://host/z",
    "(tftp,1.2.3.4)/q",
    "'",
    "\"",
    "\\",
    "$",
    "${",
    "}",
    "{",
    ";",
    "#",
    "\n",
    "\r\n",
    " ",
    "\t",
    "0",
    "-1",
    "3",
    "x",
    "é",
    "\u{feff}",
    "|",
    "=",
    "'My OS'",
    "\"A \\\" b\"",
    "multiboot2",
    "module2",
    "linux",
    "initrd",
    "gfxpayload=",
    "1024x768x32",
    "linux16",
];

const SEEDS: &[&str] = &[
    "set timeout=3\nset default=0\nmenuentry \"My OS\" --class os {\n  multiboot /kernel a 'b c'\n  module (pxe)/shell x\n  module tftp://10.0.0.9/boot/test\n}\nmenuentry 'Other' { multiboot /k2 }\n",
    "menuentry a\n{\n multiboot /a; module /m1 x; module /m2 }\n",
    "set default='B'\nmenuentry A { multiboot /a }\nmenuentry B --id=b { multiboot /b \"--sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\" }",
    "set gfxpayload=1024x768x32\nmenuentry xen {\n multiboot2 /xen.gz console=com1\n module2 /vmlinuz root=/dev/sda\n module2 --nounzip /initrd.img\n}\nmenuentry linux {\n set gfxpayload=keep\n linux /vmlinuz ro quiet\n initrd /a.img /b.img --sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n}\n",
    "menuentry \"GNU\" {\n  multiboot /boot/gnumach.gz root=device:hd0s1\n  module /hurd/ext2fs.static ext2fs \\\n   --x='${k}' '$(task-create)'\n}\n",
];

/// Everything a caller may do with an accepted config, checking what it promises.
fn exercise(config: &Config<'_>) {
    assert!(config.entry_count() >= 1);
    assert!(config.default_entry() < config.entry_count());
    let mut count = 0;
    for (index, entry) in config.entries().enumerate() {
        assert_eq!(entry.index, index);
        count += 1;
        let _ = std::format!("{}{:?}", entry.title, entry.id);
        let _ = std::format!("{:?} {:?}", entry.kind, entry.gfxpayload);
        let mut lines = Vec::from([entry.kernel]);
        lines.extend(entry.modules());
        lines.extend(entry.initrds());
        match entry.kind {
            Kind::Linux => assert_eq!(entry.modules().count(), 0),
            _ => assert_eq!(entry.initrds().count(), 0),
        }
        for line in lines {
            assert!(line.source.path().starts_with('/'));
            let len = line.cmdline_len();
            let mut buf = std::vec![0u8; len];
            assert_eq!(line.write_cmdline(&mut buf), Ok(len));
            assert!(!buf.contains(&0));
            if len > 0 {
                let mut short = std::vec![0u8; len - 1];
                assert_eq!(
                    line.write_cmdline(&mut short),
                    Err(CmdlineTooLong { needed: len })
                );
            }
            assert!(
                line.args()
                    .all(|a| a.strip_unquoted_prefix("--sha256=").is_none())
            );
        }
    }
    assert_eq!(count, config.entry_count());
}

fn check(bytes: &[u8]) {
    match Config::parse(bytes) {
        Ok(config) => exercise(&config),
        Err(error) => {
            assert!(error.line >= 1 && error.column >= 1);
            let message = std::format!("{error}");
            assert!(!message.contains('\n'), "{message}");
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(0x5eed_0001);
    for _ in 0..3_000 {
        let len = rng.index(200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        check(&bytes);
    }
}

#[test]
fn random_token_soup_never_panics() {
    let mut rng = Rng::new(0x5eed_0002);
    for _ in 0..100_000 {
        let mut text = String::new();
        for _ in 0..rng.index(40) {
            text.push_str(rng.pick(PIECES));
            if rng.index(3) == 0 {
                text.push(' ');
            }
        }
        check(text.as_bytes());
    }
}

const TOP_LINES: &[&str] = &[
    "set timeout=5",
    "set timeout=-1",
    "set default=0",
    "set default=1",
    "set default='t 1'",
    "insmod multiboot",
    "echo hello",
    "# comment",
    "",
    "set root=(pxe)",
    "terminal_output serial",
];

/// Lines for an entry; `module` becomes `module2` or `initrd` to match the entry's kernel.
const ENTRY_LINES: &[&str] = &[
    "module /m a b",
    "module --nounzip (pxe)/m2",
    "module tftp://10.0.0.9:70/m3 'x y'",
    "boot",
    "echo \"Loading...\"",
    "set gfxpayload=text",
    "set gfxpayload=800x600,auto",
    "module /m --sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "module /m4 \"a \\\" b\" c\\ d",
    "",
    "# inside",
];

/// Configs built from plausible lines, so that most are accepted and the iterators run.
#[test]
fn structured_configs_never_panic() {
    let mut rng = Rng::new(0x5eed_0004);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut text = String::new();
        for _ in 0..rng.index(4) {
            text.push_str(rng.pick(TOP_LINES));
            text.push('\n');
        }
        for entry in 0..rng.index(4) {
            let (kernel, module) = match rng.index(3) {
                0 => ("multiboot", "module"),
                1 => ("multiboot2", "module2"),
                _ => ("linux", "initrd"),
            };
            text.push_str(&std::format!(
                "menuentry 't {entry}' {{\n {kernel} /k{entry} a\n"
            ));
            let mut initrd = false;
            for _ in 0..rng.index(5) {
                let line = if rng.index(20) == 0 {
                    rng.pick(PIECES).to_string()
                } else {
                    let line = rng.pick(ENTRY_LINES);
                    match line.strip_prefix("module ") {
                        // One initrd line per entry, and no arguments on it.
                        Some(_) if module == "initrd" && initrd => continue,
                        Some(rest) if module == "initrd" => {
                            initrd = true;
                            std::format!(
                                "initrd {}",
                                rest.split(' ')
                                    .find(|w| w.starts_with('/')
                                        || w.starts_with('(')
                                        || w.starts_with("tftp"))
                                    .unwrap_or("/i")
                            )
                        }
                        Some(rest) => std::format!("{module} {rest}"),
                        None => line.to_string(),
                    }
                };
                text.push_str(&line);
                text.push(if rng.index(4) == 0 { ';' } else { '\n' });
            }
            text.push_str("}\n");
        }
        check(text.as_bytes());
        accepted += usize::from(Config::parse(text.as_bytes()).is_ok());
    }
    assert!(
        accepted > 5_000,
        "only {accepted} structured configs parsed"
    );
}

#[test]
fn mutated_configs_never_panic() {
    let mut rng = Rng::new(0x5eed_0003);
    let mut accepted = 0;
    for round in 0..100_000 {
        let mut bytes = Vec::from(SEEDS[round % SEEDS.len()].as_bytes());
        for _ in 0..=rng.index(4) {
            let at = rng.index(bytes.len() + 1);
            match rng.index(5) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 if at < bytes.len() => bytes[at] = rng.next_u64() as u8,
                2 => {
                    let piece = rng.pick(PIECES).as_bytes();
                    bytes.splice(at..at, piece.iter().copied());
                }
                3 if at < bytes.len() => {
                    let end = (at + rng.index(16)).min(bytes.len());
                    let copy: Vec<u8> = bytes[at..end].to_vec();
                    let to = rng.index(bytes.len() + 1);
                    bytes.splice(to..to, copy);
                }
                _ => bytes.truncate(at),
            }
        }
        check(&bytes);
        accepted += usize::from(Config::parse(&bytes).is_ok());
    }
    assert!(
        accepted > 5_000,
        "only {accepted} mutants parsed: the mutations are too harsh"
    );
}

#[test]
fn the_seeds_parse() {
    for seed in SEEDS {
        exercise(&Config::parse_str(seed).unwrap());
    }
}
