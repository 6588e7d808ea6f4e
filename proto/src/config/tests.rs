use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use super::*;
use ConfigErrorKind as K;

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn parse(text: &str) -> Config<'_> {
    match Config::parse(text.as_bytes()) {
        Ok(config) => config,
        Err(error) => panic!("{error}\nin:\n{text}"),
    }
}

/// (line, column, kind) of the error `text` must give.
fn error(text: &str) -> (u32, u32, ConfigErrorKind) {
    match Config::parse(text.as_bytes()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => (e.line, e.column, e.kind),
    }
}

fn message(text: &str) -> String {
    Config::parse(text.as_bytes()).unwrap_err().to_string()
}

fn args(line: &FileLine<'_>) -> Vec<String> {
    line.args().map(|a| a.to_string()).collect()
}

fn titles(config: &Config<'_>) -> Vec<String> {
    config.entries().map(|e| e.title.to_string()).collect()
}

fn example() -> String {
    format!(
        "# comment\n\
         set timeout=3\n\
         set default=0\n\
         set root=(pxe)\n\
         insmod multiboot\n\
         menuentry \"My OS\" --class os {{\n\
         \x20 echo \"Loading...\"\n\
         \x20 multiboot /kernel arg1 \"arg two\" --sha256={HASH}\n\
         \x20 module    (pxe)/shell shell-args\n\
         \x20 module    tftp://10.0.0.9/boot/test\n\
         \x20 module    /initrd --sha256={HASH}\n\
         \x20 boot\n\
         }}\n\
         menuentry 'Other' {{ multiboot /k2 }}\n"
    )
}

#[test]
fn the_example_from_the_design() {
    let text = example();
    let config = parse(&text);
    assert_eq!(config.timeout(), Some(Timeout::Seconds(3)));
    assert_eq!(config.default_entry(), 0);
    assert_eq!(config.entry_count(), 2);
    assert_eq!(titles(&config), ["My OS", "Other"]);

    let first = config.entry(0).unwrap();
    assert_eq!(first.index, 0);
    assert_eq!(first.line, 6);
    assert_eq!(first.kernel.source, FileSource::Server { path: "/kernel" });
    assert_eq!(first.kernel.line, 8);
    assert_eq!(args(&first.kernel), ["arg1", "arg two"]);
    assert_eq!(first.kernel.cmdline().to_string(), "arg1 arg two");
    let digest = first.kernel.sha256.unwrap();
    assert_eq!(digest[0], 0x9f);
    assert_eq!(digest[31], 0x08);

    let modules: Vec<FileLine<'_>> = first.modules().collect();
    assert_eq!(modules.len(), 3);
    assert_eq!(first.module_count(), 3);
    assert_eq!(modules[0].source, FileSource::Server { path: "/shell" });
    assert_eq!(modules[0].cmdline().to_string(), "shell-args");
    assert_eq!(modules[0].sha256, None);
    assert_eq!(
        modules[1].source,
        FileSource::Tftp {
            server: Host::Ipv4([10, 0, 0, 9]),
            port: 69,
            path: "/boot/test"
        }
    );
    assert_eq!(modules[1].cmdline().to_string(), "");
    assert_eq!(modules[2].source.path(), "/initrd");
    assert_eq!(modules[2].sha256, Some(digest));
    assert_eq!(modules[2].line, 11);

    let second = config.entry(1).unwrap();
    assert_eq!(second.index, 1);
    assert_eq!(second.kernel.source.path(), "/k2");
    assert_eq!(second.module_count(), 0);
    assert!(config.entry(2).is_none());
}

#[test]
fn write_cmdline_into_a_buffer() {
    let config = parse("menuentry x { multiboot /k a 'b c' \"d\\\"e\" f\\ g }");
    let kernel = config.entry(0).unwrap().kernel;
    let expected = "a b c d\"e f g";
    assert_eq!(kernel.cmdline_len(), expected.len());
    let mut buf = [0u8; 64];
    let len = kernel.write_cmdline(&mut buf).unwrap();
    assert_eq!(&buf[..len], expected.as_bytes());
    let mut exact = [0u8; 13];
    assert_eq!(kernel.write_cmdline(&mut exact), Ok(13));
    let mut small = [0u8; 12];
    assert_eq!(
        kernel.write_cmdline(&mut small),
        Err(CmdlineTooLong { needed: 13 })
    );
    assert_eq!(kernel.path.raw(), "/k");
}

#[test]
fn path_first_command_lines() {
    let config = parse(
        "menuentry x {\n multiboot2 \"/my kernel\" a 'b c' --sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n module2 tftp://10.0.0.9/m\n module2 (pxe)/n x\n}",
    );
    let entry = config.entry(0).unwrap();
    let line = |l: &FileLine<'_>| l.path_cmdline().to_string();
    assert_eq!(line(&entry.kernel), "/my kernel a b c");
    let modules: Vec<String> = entry.modules().map(|m| line(&m)).collect();
    assert_eq!(
        modules,
        ["tftp://10.0.0.9/m", "(pxe)/n x"],
        "the path as written"
    );
    let cmdline = entry.kernel.path_cmdline();
    assert_eq!(cmdline.len(), 16);
    let mut buf = [0u8; 16];
    assert_eq!(cmdline.write_into(&mut buf), Ok(16));
    assert_eq!(
        cmdline.write_into(&mut buf[..15]),
        Err(CmdlineTooLong { needed: 16 })
    );
    let direct = MenuEntry::direct(Kind::Multiboot, "boot/kernel");
    assert_eq!(line(&direct.kernel), "boot/kernel");
}

#[test]
fn grub_quoting_rules() {
    let config = parse(concat!(
        "menuentry x {\n",
        r#"  multiboot /k 'single $x \n "q"' "dq \" \\ \$ \a" out\ side\'q ""  a"b"'c'"#,
        "\n}\n"
    ));
    let kernel = config.entry(0).unwrap().kernel;
    assert_eq!(
        args(&kernel),
        [
            "single $x \\n \"q\"",
            "dq \" \\ $ \\a",
            "out side'q",
            "",
            "abc"
        ]
    );
    // GRUB joins with one space even around an empty word.
    assert_eq!(
        kernel.cmdline().to_string(),
        "single $x \\n \"q\" dq \" \\ $ \\a out side'q  abc"
    );
}

#[test]
fn titles_ids_and_options() {
    let config = parse(
        "menuentry --class os 'Title One' --id=one --hotkey x --users root --unrestricted {\n\
         multiboot /k\n}\n\
         menuentry \"Two \\\"quoted\\\"\" --id two { multiboot /k }\n",
    );
    let entries: Vec<MenuEntry<'_>> = config.entries().collect();
    assert_eq!(entries[0].title.to_string(), "Title One");
    assert_eq!(entries[0].id.map(|t| t.to_string()), Some("one".into()));
    assert_eq!(entries[1].title.to_string(), "Two \"quoted\"");
    assert_eq!(entries[1].id.map(|t| t.to_string()), Some("two".into()));
}

#[test]
fn timeout_forms() {
    let with = |value: &str| {
        parse(&format!(
            "set timeout={value}\nmenuentry x {{ multiboot /k }}"
        ))
        .timeout()
    };
    assert_eq!(with("0"), Some(Timeout::Seconds(0)));
    assert_eq!(with("\"10\""), Some(Timeout::Seconds(10)));
    assert_eq!(with("-1"), Some(Timeout::Forever));
    assert_eq!(with("4294967295"), Some(Timeout::Seconds(u32::MAX)));
    assert_eq!(parse("menuentry x { multiboot /k }").timeout(), None);
    assert_eq!(
        parse("timeout=7\nmenuentry x { multiboot /k }").timeout(),
        Some(Timeout::Seconds(7))
    );
    // The last one wins.
    assert_eq!(
        parse("set timeout=1\nset timeout=2\nmenuentry x { multiboot /k }").timeout(),
        Some(Timeout::Seconds(2))
    );
    for bad in ["abc", "1.5", "4294967296", "-", "--1", "1s", "\"\""] {
        let text = format!("set timeout={bad}\nmenuentry x {{ multiboot /k }}");
        assert_eq!(error(&text), (1, 5, K::BadTimeout), "{bad}");
    }
}

#[test]
fn default_by_index_title_or_id() {
    let entries = "menuentry 'A' { multiboot /a }\nmenuentry 'B b' --id bee { multiboot /b }\nmenuentry C { multiboot /c }\n";
    let with = |value: &str| parse(&format!("set default={value}\n{entries}")).default_entry();
    assert_eq!(with("2"), 2);
    assert_eq!(with("'B b'"), 1);
    assert_eq!(with("bee"), 1);
    assert_eq!(with("C"), 2);
    // `set default` after the entries counts too.
    assert_eq!(parse(&format!("{entries}default=1")).default_entry(), 1);
    assert_eq!(parse(entries).default_entry(), 0);

    assert_eq!(
        error(&format!("set default=3\n{entries}")),
        (1, 5, K::DefaultOutOfRange { index: 3, count: 3 })
    );
    assert!(matches!(
        error(&format!("\nset default=99999999999999999999999\n{entries}")),
        (2, 5, K::DefaultOutOfRange { .. })
    ));
    assert!(matches!(
        error(&format!("set default=Z\n{entries}")),
        (1, 5, K::DefaultNotFound { .. })
    ));
    assert_eq!(
        error(&format!("set default=\n{entries}")),
        (1, 5, K::BadDefault)
    );
    assert_eq!(
        message(&format!("set default=5\n{entries}")),
        "line 1, column 5: default entry 5 does not exist (there are 3 entries, numbered from 0)"
    );
    assert_eq!(
        message(&format!("set default=\"No such\"\n{entries}")),
        "line 1, column 5: no menuentry titled \"No such\" for set default"
    );
}

#[test]
fn root_must_be_the_network() {
    for root in ["(pxe)", "pxe", "'(pxe)'", "(tftp)", "tftp"] {
        parse(&format!(
            "set root={root}\nmenuentry x {{ set root={root}\n multiboot /k }}"
        ));
    }
    assert!(matches!(
        error("menuentry x {\n  set root=(hd0,1)\n multiboot /k }"),
        (2, 7, K::UnsupportedRoot { .. })
    ));
}

#[test]
fn ignored_commands_and_variables() {
    let config = parse(
        "insmod pxe\ninsmod tftp\nserial --unit=0 --speed=115200\nterminal_input serial console\n\
         terminal_output serial console\nset pager=1\necho hi there\nset gfxmode=auto\n\
         menuentry x {\n set gfxpayload=keep\n insmod multiboot\n echo 'Loading'\n multiboot /k\n boot\n}\n",
    );
    assert_eq!(config.entry_count(), 1);
}

#[test]
fn layout_variants() {
    // Brace on the next line, `;` separators, `}` after a command, CRLF, tabs.
    let config = parse(
        "menuentry a\n{\n multiboot /a; module /m1 x; module /m2 }\r\n\
         menuentry\t\"b\"\t{\r\n\tmultiboot\t/b\r\n}\r\n\
         menuentry c {multiboot /c}menuentry d { multiboot /d\n}",
    );
    assert_eq!(titles(&config), ["a", "b", "c", "d"]);
    let a = config.entry(0).unwrap();
    let modules: Vec<String> = a
        .modules()
        .map(|m| format!("{} [{}]", m.source, m.cmdline()))
        .collect();
    assert_eq!(modules, ["/m1 [x]", "/m2 []"]);
    assert_eq!(args(&config.entry(1).unwrap().kernel), Vec::<String>::new());
}

#[test]
fn module_and_multiboot_flags() {
    let text = format!(
        "menuentry x {{\n multiboot --quirk-bad-kludge /k --sha256={HASH} -v\n module --nounzip /m --nounzip\n module --sha256={HASH} /n a\n}}"
    );
    let config = parse(&text);
    let entry = config.entry(0).unwrap();
    assert_eq!(entry.kernel.source.path(), "/k");
    assert_eq!(args(&entry.kernel), ["-v"]);
    let modules: Vec<FileLine<'_>> = entry.modules().collect();
    assert_eq!(modules[0].source.path(), "/m");
    // After the path, GRUB passes `--nounzip` to the module like any other word.
    assert_eq!(args(&modules[0]), ["--nounzip"]);
    assert!(modules[1].sha256.is_some());
    assert_eq!(args(&modules[1]), ["a"]);
}

#[test]
fn nounzip_is_recorded_before_the_path() {
    let config = parse("menuentry x {\n multiboot /k\n module --nounzip /m\n module /n\n}");
    let entry = config.entry(0).unwrap();
    assert!(!entry.kernel.nounzip);
    let nounzip: Vec<bool> = entry.modules().map(|m| m.nounzip).collect();
    assert_eq!(nounzip, [true, false]);
}

#[test]
fn each_kernel_command_gives_its_kind_and_its_files() {
    let text = format!(
        "menuentry mb1 {{ multiboot /k1 a; module /m1 x }}\n\
         menuentry mb2 {{\n multiboot2 /xen.gz dom0_mem=1G\n module2 /vmlinuz root=/dev/sda\n module2 --nounzip /initrd.gz\n}}\n\
         menuentry lx {{\n linux /vmlinuz console=ttyS0\n initrd /a.img --sha256={HASH} (pxe)/b.img tftp://10.0.0.9/c.img\n}}\n"
    );
    let config = parse(&text);
    let kinds: Vec<Kind> = config.entries().map(|e| e.kind).collect();
    assert_eq!(kinds, [Kind::Multiboot, Kind::Multiboot2, Kind::Linux]);

    let mb2 = config.entry(1).unwrap();
    assert_eq!(mb2.kernel.source.path(), "/xen.gz");
    assert_eq!(args(&mb2.kernel), ["dom0_mem=1G"]);
    let modules: Vec<(String, bool, Vec<String>)> = mb2
        .modules()
        .map(|m| (m.source.path().to_string(), m.nounzip, args(&m)))
        .collect();
    assert_eq!(
        modules,
        [
            (
                "/vmlinuz".to_string(),
                false,
                std::vec!["root=/dev/sda".to_string()]
            ),
            ("/initrd.gz".to_string(), true, Vec::new())
        ]
    );
    assert_eq!(mb2.initrds().count(), 0);

    let linux = config.entry(2).unwrap();
    assert_eq!(args(&linux.kernel), ["console=ttyS0"]);
    assert_eq!(linux.modules().count(), 0);
    let initrds: Vec<FileLine<'_>> = linux.initrds().collect();
    let paths: Vec<String> = initrds.iter().map(|f| f.source.to_string()).collect();
    assert_eq!(paths, ["/a.img", "/b.img", "tftp://10.0.0.9/c.img"]);
    assert!(
        initrds
            .iter()
            .all(|f| f.nounzip && f.line == 9 && f.args().count() == 0)
    );
    let hashes: Vec<bool> = initrds.iter().map(|f| f.sha256.is_some()).collect();
    assert_eq!(hashes, [true, false, false]);
    assert_eq!(config.entry(0).unwrap().initrds().count(), 0);
}

#[test]
fn files_must_go_with_their_kernel() {
    let wrong =
        |command: &'static str, kernel: &'static str, expected: &'static str| K::WrongKernelKind {
            command,
            kernel,
            expected,
        };
    assert_eq!(
        error("menuentry x {\n multiboot2 /k\n module /m\n}"),
        (3, 2, wrong("module", "multiboot2", "module2"))
    );
    assert_eq!(
        error("menuentry x {\n linux /k\n module2 /m\n}"),
        (3, 2, wrong("module2", "linux", "initrd"))
    );
    assert_eq!(
        error("menuentry x {\n multiboot /k\n initrd /i\n}"),
        (3, 2, wrong("initrd", "multiboot", "module"))
    );
    assert_eq!(
        error("menuentry x {\n initrd /i\n linux /k\n}"),
        (2, 2, K::ModuleBeforeKernel { command: "initrd" })
    );
    assert_eq!(
        error("menuentry x {\n linux /k\n initrd /a\n initrd /b\n}"),
        (4, 2, K::DuplicateInitrd { first_line: 3 })
    );
    assert_eq!(
        error("menuentry x {\n linux /k\n multiboot2 /k\n}"),
        (3, 2, K::DuplicateKernel { first_line: 2 })
    );
    assert_eq!(
        error("menuentry x { linux /k; initrd }"),
        (1, 25, K::MissingPath { command: "initrd" })
    );
    assert_eq!(
        error(&format!(
            "menuentry x {{ linux /k; initrd --sha256={HASH} /a }}"
        )),
        (1, 32, K::Sha256BeforeFile)
    );
    assert_eq!(
        error(&format!(
            "menuentry x {{ linux /k; initrd /a --sha256={HASH} --sha256={HASH} }}"
        )),
        (1, 109, K::DuplicateSha256)
    );
    assert_eq!(
        error("menuentry x { linux /k; initrd /a b }"),
        (1, 35, K::RelativePath)
    );
    assert_eq!(
        error("menuentry x { multiboot2 --quirk-bad-kludge /k }"),
        (1, 26, K::RelativePath),
        "multiboot2 has no GRUB flags"
    );
    assert_eq!(
        message("menuentry x {\n multiboot2 /k\n module /m\n}"),
        "line 3, column 2: module does not go with multiboot2 (a multiboot2 kernel takes module2)"
    );
}

#[test]
fn gfxpayload_of_the_entry_else_of_the_config() {
    let config = parse(
        "set gfxpayload=800x600\n\
         menuentry a { multiboot /k }\n\
         menuentry b { set gfxpayload=text; multiboot2 /k }\n\
         menuentry c { multiboot2 /k; gfxpayload=keep }\n\
         set gfxpayload=1024x768x32\n",
    );
    let modes: Vec<Option<Gfxpayload>> = config.entries().map(|e| e.gfxpayload).collect();
    let Some(Gfxpayload::Modes(list)) = modes[0] else {
        panic!("{modes:?}");
    };
    assert_eq!(
        list.iter().collect::<Vec<_>>(),
        [ModeSpec::Size {
            width: 1024,
            height: 768,
            depth: 32
        }],
        "the last one at the top level wins, as GRUB runs it all before the menu"
    );
    assert_eq!(modes[1], Some(Gfxpayload::Text));
    assert_eq!(modes[2], Some(Gfxpayload::Keep));
    assert_eq!(
        parse("menuentry a { multiboot /k }")
            .entry(0)
            .unwrap()
            .gfxpayload,
        None
    );
    assert_eq!(
        error("set gfxpayload=vga\nmenuentry a { multiboot /k }"),
        (1, 5, K::BadGfxpayload)
    );
}

#[test]
fn a_direct_entry_has_its_kernel_and_nothing_else() {
    let entry = MenuEntry::direct(Kind::Multiboot2, "boot/kernel.elf");
    assert_eq!(entry.kind, Kind::Multiboot2);
    assert_eq!(entry.kernel.source.path(), "boot/kernel.elf");
    assert_eq!(entry.title.to_string(), "boot/kernel.elf");
    assert_eq!(entry.kernel.args().count(), 0);
    assert_eq!(entry.kernel.cmdline_len(), 0);
    assert_eq!(entry.modules().count() + entry.initrds().count(), 0);
    assert!(!entry.kernel.nounzip && entry.kernel.sha256.is_none());
}

#[test]
fn comments_everywhere() {
    let config = parse(
        "#!grub\n  # indented\nmenuentry x { # after brace\n multiboot /k a#b # c\n # } not a brace\n}\n# end",
    );
    assert_eq!(args(&config.entry(0).unwrap().kernel), ["a#b"]);
}

#[test]
fn byte_order_mark_is_skipped() {
    parse("\u{feff}menuentry x { multiboot /k }");
}

#[test]
fn unknown_command_message() {
    let text = "set timeout=1\n\n\n\nmenuentry 'x' {\n multiboot /k\n  linux16 /vmlinuz\n}";
    assert_eq!(
        message(text),
        "line 7, column 3: unknown command \"linux16\" (expected multiboot, multiboot2, linux, module, module2, initrd, boot, echo, insmod, set or })"
    );
    assert_eq!(
        message("linux16 /vmlinuz"),
        "line 1, column 1: unknown command \"linux16\" (expected menuentry, set, insmod, echo, terminal_output, terminal_input or serial)"
    );
}

#[test]
fn structure_errors() {
    let k = "multiboot /k";
    assert_eq!(error(""), (1, 1, K::NoEntries));
    assert_eq!(error("# nothing\nset timeout=1\n"), (3, 1, K::NoEntries));
    assert!(matches!(
        error(&format!("\n menuentry x {{\n {k}\n")),
        (2, 2, K::MissingCloseBrace { .. })
    ));
    assert_eq!(
        error(&format!("menuentry x {{ {k} }}\n}}")),
        (2, 1, K::CloseBraceWithoutEntry)
    );
    assert!(matches!(
        error("menuentry x {\n boot\n}"),
        (1, 1, K::MissingKernel { .. })
    ));
    assert_eq!(
        error(&format!("menuentry x {{\n {k}\n {k}\n}}")),
        (3, 2, K::DuplicateKernel { first_line: 2 })
    );
    assert_eq!(
        error(&format!("menuentry x {{\n module /m\n {k}\n}}")),
        (2, 2, K::ModuleBeforeKernel { command: "module" })
    );
    assert_eq!(
        error(&format!("menuentry x {{ {k}\n menuentry y {{")),
        (2, 2, K::NestedMenuentry)
    );
    assert_eq!(
        error(&format!("menuentry x {{ {k} {{ }}")),
        (1, 28, K::UnexpectedOpenBrace)
    );
    assert_eq!(error("{\n"), (1, 1, K::UnexpectedOpenBrace));
    assert_eq!(
        error(&format!("menuentry x {{ {k} }}\necho {{")),
        (2, 6, K::UnexpectedOpenBrace)
    );
    assert_eq!(
        error("module /m"),
        (1, 1, K::OutsideEntry { command: "module" })
    );
    assert_eq!(
        error(k),
        (
            1,
            1,
            K::OutsideEntry {
                command: "multiboot"
            }
        )
    );
    assert_eq!(error("menuentry x }"), (1, 13, K::MissingOpenBrace));
    assert_eq!(error("menuentry x"), (1, 12, K::MissingOpenBrace));
    assert_eq!(error("menuentry { multiboot /k }"), (1, 1, K::MissingTitle));
    assert!(matches!(
        error("menuentry My OS { multiboot /k }"),
        (1, 14, K::ExtraTitle { .. })
    ));
    assert!(matches!(
        error("menuentry x --foo { multiboot /k }"),
        (1, 13, K::UnknownMenuentryOption { .. })
    ));
    assert_eq!(
        error("menuentry x --class { }"),
        (1, 13, K::MissingOptionValue { option: "--class" })
    );
    assert_eq!(
        error("menuentry x { multiboot }"),
        (
            1,
            15,
            K::MissingPath {
                command: "multiboot"
            }
        )
    );
    assert_eq!(
        error(&format!("menuentry x {{ {k}\n module --nounzip\n}}")),
        (2, 2, K::MissingPath { command: "module" })
    );
    assert_eq!(
        error("menuentry x { multiboot /k; module2 /m }"),
        (
            1,
            29,
            K::WrongKernelKind {
                command: "module2",
                kernel: "multiboot",
                expected: "module"
            }
        )
    );
    assert_eq!(error("submenu s { }"), (1, 1, K::SubmenuNotSupported));
    assert_eq!(
        error("if [ x ]; then"),
        (1, 1, K::ScriptingNotSupported { keyword: "if" })
    );
    assert_eq!(
        message("menuentry x { multiboot /k; module2 /m }"),
        "line 1, column 29: module2 does not go with multiboot (a multiboot kernel takes module)"
    );
}

#[test]
fn lexical_errors() {
    assert_eq!(
        error("menuentry 'x { multiboot /k }"),
        (1, 11, K::UnterminatedQuote { quote: '\'' })
    );
    assert_eq!(
        error("menuentry x {\n multiboot /k \"a\n}\n"),
        (2, 15, K::UnterminatedQuote { quote: '"' })
    );
    assert_eq!(
        error("menuentry x { multiboot /k ${a"),
        (1, 28, K::UnterminatedVariable)
    );
    assert_eq!(
        error("menuentry x { multiboot /k ${a }"),
        (1, 28, K::VariablesNotSupported)
    );
    assert_eq!(
        error("echo a | b"),
        (1, 8, K::UnsupportedOperator { operator: '|' })
    );
    assert_eq!(
        error("menuentry x { multiboot /k > /dev/null }"),
        (1, 28, K::UnsupportedOperator { operator: '>' })
    );
    assert_eq!(
        error("menuentry x { multiboot /k $x }"),
        (1, 28, K::VariablesNotSupported)
    );
    assert_eq!(
        error("menuentry x { multiboot $prefix/k }"),
        (1, 25, K::VariablesNotSupported)
    );
    assert_eq!(
        error("menuentry \"$t\" { multiboot /k }"),
        (1, 11, K::VariablesNotSupported)
    );
    assert_eq!(
        error("set default=\"${saved_entry}\""),
        (1, 5, K::VariablesNotSupported)
    );
    // Echo's words are never used, so variables there are harmless.
    parse("echo $x\nmenuentry x { echo \"${y}\"; multiboot /k '$not_a_variable' \\$nor_this }");
}

#[test]
fn set_errors() {
    assert_eq!(error("set"), (1, 1, K::MissingAssignment));
    assert_eq!(error("set timeout"), (1, 5, K::MissingAssignment));
    assert_eq!(error("set timeout=1 2"), (1, 15, K::ExtraArgument));
    assert!(matches!(
        error("set foo=1"),
        (1, 5, K::UnknownVariable { .. })
    ));
    assert!(matches!(
        error("set foo-bar=1"),
        (1, 5, K::UnknownVariable { .. })
    ));
    assert_eq!(
        error("menuentry x {\n set timeout=1\n multiboot /k }"),
        (2, 6, K::SetInsideEntry { name: "timeout" })
    );
    assert_eq!(
        error("menuentry x { multiboot /k; default=0 }"),
        (1, 29, K::SetInsideEntry { name: "default" })
    );
}

#[test]
fn path_and_hash_errors_name_the_word() {
    let line = |path: &str| {
        error(&format!(
            "menuentry x {{\n  multiboot /k\n  module {path}\n}}"
        ))
    };
    assert_eq!(line("tftp://boot_example/m"), (3, 10, K::BadAddress));
    assert_eq!(
        message("menuentry x {\n  multiboot tftp://ser_ver/k\n}"),
        "line 2, column 13: bad server (expected an IPv4 address such as 10.0.0.9 or a DNS name)"
    );
    assert_eq!(line("m"), (3, 10, K::RelativePath));
    assert_eq!(line("(pxe)m"), (3, 10, K::MissingSlashAfterDevice));
    assert!(matches!(
        line("(hd0,msdos1)/m"),
        (3, 10, K::UnsupportedDevice { .. })
    ));
    assert!(matches!(
        line("https://10.0.0.1/m"),
        (3, 10, K::UnsupportedScheme { .. })
    ));
    assert_eq!(line("/m --sha256=abc"), (3, 13, K::BadSha256));
    assert_eq!(
        line(&format!("/m --sha256={}", &HASH[1..])),
        (3, 13, K::BadSha256)
    );
    assert_eq!(line(&format!("/m --sha256={HASH}x")), (3, 13, K::BadSha256));
    assert_eq!(
        line(&format!("/m --sha256={HASH} --sha256={HASH}")),
        (3, 87, K::DuplicateSha256)
    );
    assert_eq!(
        message("menuentry x {\n multiboot /k --sha256=zz\n}"),
        "line 2, column 15: bad --sha256 value (expected 64 hex digits)"
    );
    // Upper-case hex and a quoted option are fine.
    let upper = HASH.to_uppercase();
    parse(&format!(
        "menuentry x {{ multiboot /k \"--sha256={upper}\" }}"
    ));
}

#[test]
fn invalid_bytes_name_their_line() {
    let bytes = b"set timeout=1\nmenuentry x {\n  multiboot /k \xff\xfe\n}";
    let e = Config::parse(bytes).unwrap_err();
    assert_eq!((e.line, e.column, e.kind), (3, 16, K::InvalidUtf8));
    assert_eq!(
        e.to_string(),
        "line 3, column 16: the file is not valid UTF-8"
    );
    let e = Config::parse(b"menuentry x {\n multiboot /k a\0b }").unwrap_err();
    assert_eq!((e.line, e.column, e.kind), (2, 16, K::NulByte));
    // A byte-order mark is not a column.
    let e = Config::parse(b"\xef\xbb\xbfmenuentry \xff").unwrap_err();
    assert_eq!((e.line, e.column), (1, 11));
    // Non-ASCII text is fine, and columns count characters.
    let e = Config::parse("menuentry 'Système' é".as_bytes()).unwrap_err();
    assert_eq!((e.line, e.column), (1, 21));
}

/// GNU GRUB manual, "Multiboot" example for GNU/Hurd (with the disk root taken out):
/// multi-line module arguments whose single-quoted `${...}` and `$(...)` reach the kernel.
#[test]
fn grub_manual_hurd_entry() {
    let text = r#"
menuentry "GNU (aka GNU/Hurd)" {
  multiboot /boot/gnumach.gz root=device:hd0s1
  module /hurd/ext2fs.static ext2fs --readonly \
                   --multiboot-command-line='${kernel-command-line}' \
                   --host-priv-port='${host-port}' \
                   --device-master-port='${device-port}' \
                   --exec-server-task='${exec-task}' -T typed '${root}' \
                   '$(task-create)' '$(task-resume)'
  module /lib/ld.so.1 exec /hurd/exec '$(exec-task=task-create)'
}
"#;
    let config = parse(text);
    let entry = config.entry(0).unwrap();
    assert_eq!(entry.title.to_string(), "GNU (aka GNU/Hurd)");
    assert_eq!(entry.kernel.cmdline().to_string(), "root=device:hd0s1");
    let modules: Vec<FileLine<'_>> = entry.modules().collect();
    assert_eq!(modules.len(), 2);
    assert_eq!(
        modules[0].cmdline().to_string(),
        "ext2fs --readonly --multiboot-command-line=${kernel-command-line} --host-priv-port=${host-port} \
         --device-master-port=${device-port} --exec-server-task=${exec-task} -T typed ${root} \
         $(task-create) $(task-resume)"
    );
    assert_eq!(modules[1].line, 10);
    assert_eq!(
        modules[1].cmdline().to_string(),
        "exec /hurd/exec $(exec-task=task-create)"
    );
}

/// The shape of configs in "gPXE + GRUB2" and Xen netboot write-ups.
#[test]
fn netboot_blog_style_configs() {
    let text = "\
set default=0
set timeout=5
insmod pxe
insmod tftp
insmod multiboot
serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1
terminal_input serial console
terminal_output serial console

menuentry 'Xen 4 / Debian (network)' --class xen {
\tset root=(pxe)
\techo\t'Loading Xen ...'
\tmultiboot\t(pxe)/boot/xen.gz placeholder dom0_mem=1024M,max:1024M console=com1,vga com1=115200,8n1
\techo\t'Loading Linux ...'
\tmodule\t(pxe)/boot/vmlinuz placeholder root=/dev/nfs nfsroot=10.0.2.2:/srv/nfs ip=dhcp ro console=hvc0
\tmodule\t--nounzip (pxe)/boot/initrd.img
}

menuentry \"Test kernel from another server\" {
\tmultiboot tftp://10.0.2.4:1069/kernels/test.elf -- \"--verbose\" 'serial=on'
\tboot
}
";
    let config = parse(text);
    assert_eq!(config.timeout(), Some(Timeout::Seconds(5)));
    assert_eq!(config.entry_count(), 2);
    let xen = config.entry(0).unwrap();
    assert_eq!(xen.line, 10);
    assert_eq!(
        xen.kernel.source,
        FileSource::Server {
            path: "/boot/xen.gz"
        }
    );
    assert_eq!(
        xen.kernel.cmdline().to_string(),
        "placeholder dom0_mem=1024M,max:1024M console=com1,vga com1=115200,8n1"
    );
    let modules: Vec<FileLine<'_>> = xen.modules().collect();
    assert_eq!(modules.len(), 2);
    assert_eq!(modules[1].source.path(), "/boot/initrd.img");
    let test = config.entry(1).unwrap();
    assert_eq!(
        test.kernel.source,
        FileSource::Tftp {
            server: Host::Ipv4([10, 0, 2, 4]),
            port: 1069,
            path: "/kernels/test.elf"
        }
    );
    assert_eq!(test.kernel.cmdline().to_string(), "-- --verbose serial=on");
}

/// What grub-mkconfig writes is refused with a message that points at the first problem.
#[test]
fn generated_grub_cfg_is_refused_clearly() {
    let text = "menuentry 'Debian GNU/Linux' --class debian --class gnu-linux $menuentry_id_option 'gnulinux-simple' {\n";
    assert_eq!(error(text), (1, 63, K::VariablesNotSupported));
    assert_eq!(
        error("if [ -s $prefix/grubenv ]; then\n  load_env\nfi\n"),
        (1, 1, K::ScriptingNotSupported { keyword: "if" })
    );
}

#[test]
fn many_entries_and_modules() {
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&format!("menuentry 'entry {i}' {{ multiboot /k{i} }}\n"));
    }
    text.push_str("set default='entry 9999'\n");
    let config = parse(&text);
    assert_eq!(config.entry_count(), 10_000);
    assert_eq!(config.default_entry(), 9_999);
    assert_eq!(config.entries().count(), 10_000);
    assert_eq!(config.entry(9_999).unwrap().kernel.source.path(), "/k9999");

    let mut text = String::from("menuentry x {\n multiboot /k\n");
    for i in 0..5_000 {
        text.push_str(&format!(" module /m{i} arg{i}\n"));
    }
    text.push('}');
    let config = parse(&text);
    let entry = config.entry(0).unwrap();
    assert_eq!(entry.module_count(), 5_000);
    assert_eq!(
        entry.modules().last().unwrap().cmdline().to_string(),
        "arg4999"
    );
}

#[test]
fn long_lines_and_deep_nesting_are_handled_flatly() {
    let long_arg = "a".repeat(100 * 1024);
    let text = format!("menuentry x {{ multiboot /k {long_arg} }}");
    let config = parse(&text);
    assert_eq!(
        config.entry(0).unwrap().kernel.cmdline_len(),
        long_arg.len()
    );

    let long_comment = format!(
        "#{}\nmenuentry x {{ multiboot /k }}",
        "x".repeat(100 * 1024)
    );
    parse(&long_comment);

    let long_word = "y".repeat(100 * 1024);
    assert!(matches!(
        error(&long_word),
        (1, 1, K::UnknownCommand { .. })
    ));
    assert!(matches!(
        error(&format!("set {long_word}=1")),
        (1, 5, K::UnknownVariable { .. })
    ));

    let opens = "{".repeat(100_000);
    assert_eq!(error(&opens), (1, 1, K::UnexpectedOpenBrace));
    let nested = format!("menuentry x {opens}");
    assert_eq!(error(&nested), (1, 14, K::UnexpectedOpenBrace));
    assert_eq!(
        error(&"}".repeat(100_000)),
        (1, 1, K::CloseBraceWithoutEntry)
    );
    let quote = format!("menuentry \"{}", "q\n".repeat(10_000));
    assert_eq!(error(&quote), (1, 11, K::UnterminatedQuote { quote: '"' }));
}

#[test]
fn every_error_message_is_one_line() {
    for text in [
        "menuentry x { linux\n/k }",
        "menuentry \"\x07bell\" {\n boot }",
        "set root='(hd0)\n'",
    ] {
        let message = message(text);
        assert!(!message.contains('\n'), "{message}");
    }
}
