//! The quick form, `netloader serve --kernel K [--module M ARGS]... [--cmdline ...]`: serve
//! writes the config itself and serves it as `netloader.cfg/default`, with the kernel and the
//! modules under their own file names (made unique), read from where they are.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::{CONFIG_DIR, Extra, Files};

/// What the quick form was given.
#[derive(Clone, Debug, Default)]
pub struct Quick {
    pub kernel: PathBuf,
    /// The kernel's command line (split into words as a shell would not: on white space).
    pub cmdline: Option<String>,
    /// Each module: its file, then its arguments.
    pub modules: Vec<Vec<String>>,
}

/// A file name safe in a config and a TFTP path: letters, digits, `.`, `_`, `-`.
fn plain_name(path: &Path) -> String {
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        "file".to_string()
    } else {
        name.to_string()
    }
}

/// One word of a config line that the loader's parser gives back unchanged.
fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,:+@%^~".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else if !word.contains('\'') {
        format!("'{word}'")
    } else {
        let escaped: String = word
            .chars()
            .flat_map(|c| match c {
                '\\' | '"' | '$' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("\"{escaped}\"")
    }
}

/// `args` as config words: each split on white space, each word quoted as needed.
fn words<'a>(args: impl IntoIterator<Item = &'a str>) -> String {
    args.into_iter()
        .flat_map(str::split_whitespace)
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Check that `path` is a readable file.
fn readable(what: &str, path: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            std::fs::File::open(path).map_err(|e| {
                anyhow::anyhow!(
                    "E-SERVE-FILE: the {what} {} cannot be read ({e}): check its permissions",
                    path.display()
                )
            })?;
            Ok(())
        }
        Ok(_) => anyhow::bail!(
            "E-SERVE-FILE: the {what} {} is not a file: name the file itself",
            path.display()
        ),
        Err(e) => anyhow::bail!(
            "E-SERVE-FILE: the {what} {} cannot be read ({e}): check the path",
            path.display()
        ),
    }
}

/// Add the kernel, the modules and the written config to `files`; returns the config text.
pub fn prepare(quick: &Quick, files: &mut Files) -> anyhow::Result<String> {
    let mut taken = BTreeSet::new();
    let mut serve_as = |path: &Path| {
        let base = plain_name(path);
        let mut name = base.clone();
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{n}-{base}");
            n += 1;
        }
        name
    };
    readable("kernel", &quick.kernel)?;
    let kernel = serve_as(&quick.kernel);
    let title = kernel.clone();
    let mut config = format!(
        "# Written by netloader serve --kernel\nset timeout=0\nmenuentry {} {{\n  multiboot /{kernel}",
        quote(&title)
    );
    if let Some(cmdline) = &quick.cmdline {
        let cmdline = words([cmdline.as_str()]);
        if !cmdline.is_empty() {
            config += " ";
            config += &cmdline;
        }
    }
    config += "\n";
    files.add(&kernel, Extra::Path(quick.kernel.clone()));
    for module in &quick.modules {
        let Some((file, args)) = module.split_first() else {
            continue;
        };
        let path = PathBuf::from(file);
        readable("module", &path)?;
        let name = serve_as(&path);
        config += &format!("  module /{name}");
        let args = words(args.iter().map(String::as_str));
        if !args.is_empty() {
            config += " ";
            config += &args;
        }
        config += "\n";
        files.add(&name, Extra::Path(path));
    }
    config += "}\n";
    crate::forms::check_config("the config written by serve", config.as_bytes())?;
    files.add(
        &format!("{CONFIG_DIR}/default"),
        Extra::Bytes(Arc::from(config.as_bytes())),
    );
    Ok(config)
}

#[cfg(test)]
mod tests {
    use netloader_proto::config::Config;

    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("netloader-quick-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("other")).unwrap();
        for name in ["my kernel.elf", "initrd", "other/initrd"] {
            std::fs::write(dir.join(name), name).unwrap();
        }
        dir
    }

    #[test]
    fn the_written_config_gives_back_every_argument() {
        let dir = scratch();
        let quick = Quick {
            kernel: dir.join("my kernel.elf"),
            cmdline: Some("console=ttyS0  root='/dev/sda 1' it's \"odd\" $HOME a\\b".into()),
            modules: vec![
                vec![
                    dir.join("initrd").display().to_string(),
                    "first module".into(),
                ],
                vec![dir.join("other/initrd").display().to_string()],
                vec![
                    dir.join("initrd").display().to_string(),
                    "--flag".into(),
                    "x=1".into(),
                ],
            ],
        };
        let mut files = Files::new(None);
        let text = prepare(&quick, &mut files).unwrap();
        let config = Config::parse_str(&text).unwrap();
        let entry = config.entry(0).unwrap();
        assert_eq!(
            entry.kernel.cmdline().to_string(),
            "console=ttyS0 root='/dev/sda 1' it's \"odd\" $HOME a\\b"
        );
        assert_eq!(entry.kernel.path.to_string(), "/my_kernel.elf");
        let modules: Vec<(String, String)> = entry
            .modules()
            .map(|m| (m.path.to_string(), m.cmdline().to_string()))
            .collect();
        assert_eq!(
            modules,
            [
                ("/initrd".to_string(), "first module".to_string()),
                ("/2-initrd".to_string(), String::new()),
                ("/3-initrd".to_string(), "--flag x=1".to_string()),
            ]
        );
        for name in [
            "my_kernel.elf",
            "initrd",
            "2-initrd",
            "3-initrd",
            "netloader.cfg/default",
        ] {
            assert!(files.exists(name), "{name}");
        }
        let opened = files.open("2-initrd").unwrap();
        let mut buf = [0u8; 32];
        let n = opened.read_at(&mut buf, 0).unwrap();
        assert_eq!(&buf[..n], b"other/initrd");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_file_is_named() {
        let quick = Quick {
            kernel: PathBuf::from("/nonexistent/kernel"),
            ..Quick::default()
        };
        let error = prepare(&quick, &mut Files::new(None))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("E-SERVE-FILE: the kernel /nonexistent/kernel cannot be read"),
            "{error}"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a=b"), "a=b");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), "\"it's\"");
    }
}
