//! What `netloader serve` hands out by TFTP and HTTP: a folder, plus files that live only in
//! serve (the built-in `netloader.pxe`, the quick form's config, and the quick form's kernel and
//! modules, served under short names from wherever they are on disk).
//!
//! A requested name is cleaned once ([`clean_name`]): leading slashes dropped, `.` and empty
//! components skipped, `..` refused, so nothing outside the folder can be named. Symbolic links
//! inside the folder are followed (a kernel linked from elsewhere is a common layout).

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use netloader_proto::config::per_host_names;

/// The folder PXELINUX-style per-host configs live in (the runtime looks there too).
pub use netloader_proto::config::PER_HOST_DIR as CONFIG_DIR;

/// A file served from somewhere other than the folder.
#[derive(Clone, Debug)]
pub enum Extra {
    /// Bytes held by serve (the built-in netloader.pxe, a written config).
    Bytes(Arc<[u8]>),
    /// A file on disk, opened at each request.
    Path(PathBuf),
}

/// The served tree: the folder (if any) under the extra files, which win on equal names.
#[derive(Clone, Debug, Default)]
pub struct Files {
    dir: Option<PathBuf>,
    extra: BTreeMap<String, Extra>,
}

/// An opened file: its bytes are read block by block as a transfer goes (nothing is loaded
/// whole, so a file of any size streams).
pub struct Opened {
    content: Content,
    pub size: u64,
}

enum Content {
    File(File),
    Bytes(Arc<[u8]>),
}

#[derive(Debug)]
pub enum OpenError {
    /// Empty, not UTF-8, or with a `..` component.
    BadName,
    NotFound,
    /// The file exists but cannot be read (permissions).
    Access(io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::BadName => f.write_str("not a usable name (empty, or with ..)"),
            OpenError::NotFound => f.write_str("not found"),
            OpenError::Access(e) => write!(f, "cannot be read ({e})"),
        }
    }
}

/// `request` as a relative path inside the served tree, or None when it must be refused.
/// `/a//b/./c` is `a/b/c`; any `..` component refuses the name (no climbing out of the folder).
pub fn clean_name(request: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in request.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part if part.contains('\0') => return None,
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl Files {
    /// Serve `dir` (None: only the extra files).
    pub fn new(dir: Option<PathBuf>) -> Files {
        Files {
            dir,
            extra: BTreeMap::new(),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Serve `extra` as `name` (cleaned), above any file of that name in the folder.
    pub fn add(&mut self, name: &str, extra: Extra) {
        let name = clean_name(name).expect("extra files have plain names");
        self.extra.insert(name, extra);
    }

    /// Is `name` a regular file in the folder itself (not counting extra files)?
    pub fn in_dir(&self, name: &str) -> bool {
        let Some(name) = clean_name(name) else {
            return false;
        };
        self.dir
            .as_ref()
            .is_some_and(|dir| dir.join(name).metadata().is_ok_and(|m| m.is_file()))
    }

    /// Can `name` be served (an extra file, or a regular file in the folder)?
    pub fn exists(&self, name: &str) -> bool {
        clean_name(name).is_some_and(|n| self.extra.contains_key(&n)) || self.in_dir(name)
    }

    /// The extra files' names, for the start-up summary.
    pub fn extra_names(&self) -> impl Iterator<Item = &str> {
        self.extra.keys().map(String::as_str)
    }

    /// Open `request` for reading.
    pub fn open(&self, request: &str) -> Result<Opened, OpenError> {
        let name = clean_name(request).ok_or(OpenError::BadName)?;
        let path = match self.extra.get(&name) {
            Some(Extra::Bytes(bytes)) => {
                return Ok(Opened {
                    size: bytes.len() as u64,
                    content: Content::Bytes(bytes.clone()),
                });
            }
            Some(Extra::Path(path)) => path.clone(),
            None => match &self.dir {
                Some(dir) => dir.join(&name),
                None => return Err(OpenError::NotFound),
            },
        };
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => OpenError::NotFound,
            _ => OpenError::Access(e),
        })?;
        let metadata = file.metadata().map_err(OpenError::Access)?;
        if !metadata.is_file() {
            return Err(OpenError::NotFound); // a folder, a device: nothing to serve
        }
        Ok(Opened {
            size: metadata.len(),
            content: Content::File(file),
        })
    }

    /// The config a netloader client with this MAC (and address, when serve gave it) should
    /// read: the first of `netloader.cfg/01-<mac>`, `netloader.cfg/<IP in hex, shorter and
    /// shorter>`, `netloader.cfg/default` that exists, in the runtime's own lookup order.
    pub fn config_for(&self, mac: [u8; 6], ip: Option<Ipv4Addr>) -> Option<String> {
        per_host_names(mac, ip.map(|ip| ip.octets()))
            .map(|name| format!("{CONFIG_DIR}/{name}"))
            .find(|path| self.exists(path))
    }
}

impl Opened {
    /// Fill `buf` from `offset`; fewer bytes only at the end of the file.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match &self.content {
            Content::Bytes(bytes) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let len = buf.len().min(bytes.len() - start);
                buf[..len].copy_from_slice(&bytes[start..start + len]);
                Ok(len)
            }
            Content::File(file) => {
                let mut done = 0;
                while done < buf.len() {
                    match file.read_at(&mut buf[done..], offset + done as u64) {
                        Ok(0) => break,
                        Ok(n) => done += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(done)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_never_climb_out() {
        assert_eq!(clean_name("/kernel").as_deref(), Some("kernel"));
        assert_eq!(clean_name("//a/./b//c").as_deref(), Some("a/b/c"));
        assert_eq!(
            clean_name("netloader.cfg/default").as_deref(),
            Some("netloader.cfg/default")
        );
        assert_eq!(clean_name("../etc/passwd"), None);
        assert_eq!(clean_name("a/../../b"), None);
        assert_eq!(clean_name("a/.."), None);
        assert_eq!(clean_name("/"), None);
        assert_eq!(clean_name(""), None);
        assert_eq!(clean_name("a\0b"), None);
        // Not `..` itself: a name that merely starts with dots is a file name.
        assert_eq!(clean_name("..hidden").as_deref(), Some("..hidden"));
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("netloader-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(CONFIG_DIR)).unwrap();
        dir
    }

    #[test]
    fn extra_files_win_and_folders_are_not_files() {
        let dir = scratch("extra");
        std::fs::write(dir.join("kernel"), b"from the folder").unwrap();
        let mut files = Files::new(Some(dir.clone()));
        assert!(matches!(
            files.open("netloader.cfg"),
            Err(OpenError::NotFound)
        ));
        assert!(matches!(files.open("missing"), Err(OpenError::NotFound)));
        assert!(matches!(files.open("../kernel"), Err(OpenError::BadName)));
        let opened = files.open("/kernel").unwrap();
        assert_eq!(opened.size, 15);
        files.add("kernel", Extra::Bytes(Arc::from(&b"from serve"[..])));
        let opened = files.open("kernel").unwrap();
        let mut buf = [0u8; 32];
        assert_eq!(opened.read_at(&mut buf, 5).unwrap(), 5);
        assert_eq!(&buf[..5], b"serve");
        assert_eq!(opened.read_at(&mut buf, 50).unwrap(), 0);
        assert!(files.in_dir("kernel") && files.exists("kernel"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn file_reads_fill_the_buffer_until_the_end() {
        let dir = scratch("read");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        std::fs::write(dir.join("blob"), &data).unwrap();
        let files = Files::new(Some(dir.clone()));
        let opened = files.open("blob").unwrap();
        let mut buf = vec![0u8; 4096];
        assert_eq!(opened.read_at(&mut buf, 8192).unwrap(), 10_000 - 8192);
        assert_eq!(&buf[..10_000 - 8192], &data[8192..]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn config_lookup_follows_the_runtime_order() {
        let mac = [0x52, 0x54, 0x00, 0xab, 0x0c, 0x01];
        let ip = Ipv4Addr::new(192, 168, 77, 51);
        let dir = scratch("config");
        let files = Files::new(Some(dir.clone()));
        assert_eq!(files.config_for(mac, Some(ip)), None);
        std::fs::write(dir.join("netloader.cfg/default"), b"").unwrap();
        assert_eq!(
            files.config_for(mac, Some(ip)).as_deref(),
            Some("netloader.cfg/default")
        );
        std::fs::write(dir.join("netloader.cfg/C0A84D"), b"").unwrap();
        assert_eq!(
            files.config_for(mac, Some(ip)).as_deref(),
            Some("netloader.cfg/C0A84D")
        );
        assert_eq!(
            files.config_for(mac, None).as_deref(),
            Some("netloader.cfg/default")
        );
        std::fs::write(dir.join("netloader.cfg/01-52-54-00-ab-0c-01"), b"").unwrap();
        assert_eq!(
            files.config_for(mac, None).as_deref(),
            Some("netloader.cfg/01-52-54-00-ab-0c-01")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
