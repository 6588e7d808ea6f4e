//! `netloader serve`: one command that netboots the PCs on a LAN (or a direct cable).
//!
//! - [`dhcp`]: proxyDHCP (ports 67 and 4011) or full DHCP (`--dhcp-range`, with [`leases`]),
//!   and the boot file by client: the config for a netloader client, the boot program for its
//!   architecture for a PXE ROM;
//! - [`tftp`]: TFTP with blksize, tsize, windowsize and quick loss recovery;
//! - [`http`]: HTTP/1.1 GET and HEAD of the same files;
//! - [`files`]: the served folder plus serve's own files (the built-in netloader.pxe, the
//!   quick form's config);
//! - [`quick`]: the config written for `--kernel K [--module M ARGS]...`;
//! - [`iface`]: the interface, and sockets bound to it only.
//!
//! Plain threads and blocking sockets: a handful of clients at boot time needs no async runtime.

pub mod dhcp;
pub mod files;
pub mod http;
pub mod iface;
pub mod leases;
pub mod quick;
pub mod tftp;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use dhcp::{BOOT_PROGRAMS, BootPlan, DhcpService, MAX_BOOT_FILE_LEN, Mode, Port};
use files::{CONFIG_DIR, Extra, Files};
use iface::BoundInterface;

/// `netloader serve`'s options (also parsed by the boot tests' copy of the command).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ServeArgs {
    /// The folder to serve by TFTP and HTTP: kernels, modules, and the configs in
    /// netloader.cfg/ (default, or per host: 01-<mac>, the IP in hex). Optional with --kernel.
    pub dir: Option<PathBuf>,
    /// Answer on this network interface only (needed when the machine has several).
    #[arg(long, value_name = "NAME")]
    pub interface: Option<String>,
    /// Full DHCP for a direct cable with no other DHCP server: hand out addresses from this
    /// range (in the interface's subnet) instead of the default proxyDHCP, which answers only
    /// PXE clients, never with an address, beside the network's own DHCP server.
    #[arg(long, value_name = "A-B", value_parser = iface::parse_range)]
    pub dhcp_range: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Quick form: boot this Multiboot kernel; serve writes the config (netloader.cfg/default).
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,
    /// Quick form: the kernel's command line.
    #[arg(long, requires = "kernel")]
    pub cmdline: Option<String>,
    #[command(flatten)]
    pub modules: Modules,
    /// The boot file for BIOS PXE ROMs, from the folder (default: netloader.pxe, built into
    /// this binary unless the folder has its own). E.g. pxelinux.0.
    #[arg(long, value_name = "FILE")]
    pub bios_boot_file: Option<String>,
    /// The HTTP port; 0: no HTTP.
    #[arg(long, default_value_t = 80)]
    pub http_port: u16,
}

/// `--module FILE [ARGS]...`, repeated: each occurrence is one module with its arguments.
/// (clap's derive has no stable form for a list of lists, so this one argument is by hand.)
#[derive(Clone, Debug, Default)]
pub struct Modules(pub Vec<Vec<String>>);

const MODULE_ARG: &str = "module";

impl clap::FromArgMatches for Modules {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let occurrences = matches
            .get_occurrences::<String>(MODULE_ARG)
            .map(|o| o.map(|values| values.cloned().collect()).collect())
            .unwrap_or_default();
        Ok(Modules(occurrences))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for Modules {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.arg(
            clap::Arg::new(MODULE_ARG)
                .long(MODULE_ARG)
                .value_name("FILE [ARGS]")
                .num_args(1..)
                .action(clap::ArgAction::Append)
                .requires("kernel")
                .help("Quick form: a module and its arguments (repeat for more modules)"),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// The UDP and TCP ports; the standard ones but in tests.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub dhcp: u16,
    pub boot_server: u16,
    pub tftp: u16,
    /// None: no HTTP.
    pub http: Option<u16>,
}

impl Ports {
    pub fn standard(http: u16) -> Ports {
        Ports {
            dhcp: dhcp::DHCP_SERVER_PORT,
            boot_server: dhcp::PXE_BOOT_SERVER_PORT,
            tftp: 69,
            http: (http != 0).then_some(http),
        }
    }
}

/// `netloader serve` as the CLI runs it: start, then serve until killed.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ports = Ports::standard(args.http_port);
    let _running = start(&args, ports)?;
    loop {
        std::thread::park();
    }
}

/// The running services; dropping this stops them.
pub struct Running {
    stop: Arc<AtomicBool>,
    dhcp_threads: Vec<JoinHandle<()>>,
    _tftp: tftp::TftpServer,
    _http: Option<http::HttpServer>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.dhcp_threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Check everything, bind every socket (so a taken port fails before anything runs), then
/// start the services. Errors are the one line to print.
pub fn start(args: &ServeArgs, ports: Ports) -> anyhow::Result<Running> {
    if args.dir.is_none() && args.kernel.is_none() {
        bail!(
            "E-SERVE-NOTHING: nothing to serve: name a folder (netloader serve DIR) or a kernel (netloader serve --kernel FILE)"
        );
    }
    let interfaces =
        iface::list().context("E-SERVE-INTERFACE: cannot list the network interfaces")?;
    let chosen = iface::choose(&interfaces, args.interface.as_deref(), args.dhcp_range)
        .map_err(anyhow::Error::msg)?;
    let files = prepare_files(args)?;
    let bios_boot_file = bios_boot_file(args, &files)?;
    let interface = BoundInterface {
        name: chosen.name.clone(),
        addr: chosen.addr,
    };

    let dhcp_socket = interface.udp(ports.dhcp)?;
    let boot_server_socket = interface.udp(ports.boot_server)?;
    let tftp_socket = interface.udp(ports.tftp)?;
    let http_listener = ports
        .http
        .map(|port| interface.tcp_listener(port))
        .transpose()?;

    let files = Arc::new(files);
    let mode = match args.dhcp_range {
        None => Mode::Proxy,
        Some((low, high)) => Mode::Full {
            leases: leases::Leases::new(low, high),
            netmask: chosen.netmask(),
        },
    };
    let dhcp_service = DhcpService::new(
        chosen.addr,
        mode,
        BootPlan {
            files: files.clone(),
            bios_boot_file: bios_boot_file.clone(),
        },
    );

    let what_dhcp = match args.dhcp_range {
        None => format!(
            "proxyDHCP on ports {} and {}: PXE and netloader clients get boot files, never addresses (the network's DHCP server gives those)",
            ports.dhcp, ports.boot_server
        ),
        Some((low, high)) => format!(
            "full DHCP on port {} (addresses {low}-{high}, 1 h leases) and the boot server port {}",
            ports.dhcp, ports.boot_server
        ),
    };
    println!(
        "serve: on {} ({}/{}): {what_dhcp}",
        chosen.name, chosen.addr, chosen.prefix
    );
    println!(
        "serve: TFTP on port {} (blksize, tsize, windowsize up to {}){}",
        ports.tftp,
        tftp::MAX_WINDOWSIZE,
        match ports.http {
            Some(port) => format!(", HTTP on port {port}"),
            None => ", no HTTP".to_string(),
        }
    );
    let uefi = BOOT_PROGRAMS
        .iter()
        .filter(|p| !p.arches.contains(&0) && files.exists(p.file))
        .map(|p| format!(", {} for {} PXE clients", p.file, p.platform))
        .collect::<String>();
    println!(
        "serve: boot files: {bios_boot_file} for BIOS PXE ROMs{uefi}, the config (netloader.cfg/...) for netloader clients"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let dhcp_service = Arc::new(Mutex::new(dhcp_service));
    let mut dhcp_threads = Vec::new();
    for (socket, port) in [
        (dhcp_socket, Port::Dhcp),
        (boot_server_socket, Port::BootServer),
    ] {
        let (service, stop) = (dhcp_service.clone(), stop.clone());
        dhcp_threads.push(
            std::thread::Builder::new()
                .name("dhcp".into())
                .spawn(move || dhcp_loop(socket, port, &service, &stop))?,
        );
    }
    let tftp = tftp::TftpServer::start(tftp_socket, interface, files.clone())?;
    let http = http_listener
        .map(|listener| http::HttpServer::start(listener, files.clone()))
        .transpose()?;
    Ok(Running {
        stop,
        dhcp_threads,
        _tftp: tftp,
        _http: http,
    })
}

/// The folder, the built-in boot programs it lacks, and the quick form's files.
fn prepare_files(args: &ServeArgs) -> anyhow::Result<Files> {
    let dir = match &args.dir {
        Some(dir) => {
            let canonical = dir.canonicalize().with_context(|| {
                format!(
                    "E-SERVE-DIR: the folder {} cannot be opened: check the path",
                    dir.display()
                )
            })?;
            if !canonical.is_dir() {
                bail!(
                    "E-SERVE-DIR: {} is not a folder: name the folder to serve",
                    dir.display()
                );
            }
            Some(canonical)
        }
        None => None, // the quick form alone (checked in `start`)
    };
    let mut files = Files::new(dir.clone());
    for program in BOOT_PROGRAMS {
        if files.in_dir(program.file) {
            println!("serve: {}: the folder's own", program.file);
        } else if let Some(build) = program.build {
            let bytes = build()?;
            println!(
                "serve: {}: built in ({} bytes, made by this netloader)",
                program.file,
                bytes.len()
            );
            files.add(program.file, Extra::Bytes(Arc::from(bytes)));
        } else {
            println!("serve: warning: {}", dhcp::not_built_in(program));
        }
    }
    if let Some(kernel) = &args.kernel {
        let quick = quick::Quick {
            kernel: kernel.clone(),
            cmdline: args.cmdline.clone(),
            modules: args.modules.0.clone(),
        };
        let config = quick::prepare(&quick, &mut files)?;
        if files.in_dir(&format!("{CONFIG_DIR}/default")) {
            println!(
                "serve: the written config is served instead of the folder's {CONFIG_DIR}/default"
            );
        }
        println!("serve: {CONFIG_DIR}/default (written for --kernel):");
        for line in config.lines() {
            println!("serve: | {line}");
        }
    } else if !has_a_config(&files) {
        println!(
            "serve: warning: {} has no {CONFIG_DIR}/default nor any per-host config in {CONFIG_DIR}/: netloader clients will find no config",
            dir.as_deref()
                .map_or("the folder".into(), |d| d.display().to_string())
        );
    }
    Ok(files)
}

fn has_a_config(files: &Files) -> bool {
    files.exists(&format!("{CONFIG_DIR}/default"))
        || files.dir().is_some_and(|dir| {
            std::fs::read_dir(dir.join(CONFIG_DIR))
                .map(|mut entries| entries.any(|e| e.is_ok_and(|e| e.path().is_file())))
                .unwrap_or(false)
        })
}

fn bios_boot_file(args: &ServeArgs, files: &Files) -> anyhow::Result<String> {
    let default = BOOT_PROGRAMS
        .iter()
        .find(|p| p.arches.contains(&0))
        .map_or("netloader.pxe", |p| p.file);
    let Some(name) = &args.bios_boot_file else {
        return Ok(default.to_string());
    };
    let name = files::clean_name(name)
        .filter(|n| n.len() <= MAX_BOOT_FILE_LEN)
        .with_context(|| {
            format!("E-SERVE-FILE: --bios-boot-file {name:?} is not a usable name (at most {MAX_BOOT_FILE_LEN} bytes, no ..)")
        })?;
    if !files.exists(&name) {
        bail!(
            "E-SERVE-FILE: the BIOS boot file {name} is not in the served folder: put it there, or name another with --bios-boot-file"
        );
    }
    Ok(name)
}

fn dhcp_loop(socket: UdpSocket, port: Port, service: &Mutex<DhcpService>, stop: &AtomicBool) {
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = vec![0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                println!("dhcp: receive error: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let SocketAddr::V4(from) = from else {
            continue;
        };
        let outcome = service.lock().unwrap_or_else(|e| e.into_inner()).handle(
            &buf[..len],
            port,
            from,
            Instant::now(),
        );
        if let Some(line) = outcome.log {
            println!("{line}");
        }
        if let Some(reply) = outcome.reply
            && let Err(e) = socket.send_to(&reply.bytes, reply.to)
        {
            println!("dhcp: cannot send the answer to {}: {e}", reply.to);
        }
    }
}
