//! `netloader`: build boot images, or boot one in QEMU to see the loader run.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use netloader::forms::{self, Form};
use netloader::{rom, stage1};

#[derive(Parser)]
#[command(
    name = "netloader",
    version,
    about = "Build netloader boot images: a network boot loader for x86 PCs",
    long_about = "netloader packs its boot loader into a floppy image, a bootable ISO (which \
                  also boots as a USB disk), and more. At boot the loader drives the network \
                  card itself, gets an address by DHCP and starts Multiboot kernels."
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Write a boot image.
    Build {
        /// The form of the image.
        #[arg(long, value_enum)]
        form: Form,
        /// Where to write the image.
        #[arg(long, short)]
        output: PathBuf,
        /// Embed this config (GRUB menu syntax, at most 8 KiB); it is checked now, with the
        /// parser the loader uses, and then used instead of one fetched at boot.
        #[arg(long)]
        config: Option<PathBuf>,
        /// --form rom: the network card family the ROM is for (its PCI IDs go in the header).
        #[arg(long, value_enum, default_value = "e1000")]
        nic: rom::NicFamily,
        /// --form rom: the vendor:device ID the BIOS matches with the card (hex, e.g. 8086:100e);
        /// default: the family's usual ID. The family's other IDs go in the PCI 3.0 device list.
        #[arg(long)]
        pci_id: Option<rom::PciId>,
        /// Which runtime the floppy, ISO, USB and PXE forms carry: 32 (every CPU from the
        /// Pentium on) or 64 (x86-64 CPUs only).
        #[arg(long, value_enum, default_value_t)]
        runtime: forms::Runtime,
        /// --form rom: put the whole loader in the ROM (about 100 KiB) instead of the first
        /// stage (under 56 KiB) that downloads netloader.pxe from the TFTP server and starts it.
        #[arg(long)]
        standalone: bool,
        /// --form pxe: when to drive the card through the PXE ROM's UNDI instead of a native
        /// driver: auto (only for a card netloader has no driver for), always, never.
        #[arg(long, value_enum)]
        undi: Option<netloader::pxe::UndiPolicy>,
        /// --form efi, iso, usb: which network interface netloader.efi drives: auto (its own
        /// driver for a card it has one for, the firmware's drivers disconnected; else the
        /// firmware's), snp (always the firmware's Simple Network Protocol).
        #[arg(long, value_enum)]
        efi_nic: Option<netloader::efi::NicPolicy>,
    },
    /// Build an ISO and boot it in QEMU, with the loader's serial console on this terminal.
    Demo {
        /// Stop QEMU after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Keep the ISO here instead of a temporary file.
        #[arg(long)]
        image: Option<PathBuf>,
        /// Serve this folder by TFTP on QEMU's private user-mode network (restrict=on).
        #[arg(long)]
        tftp: Option<PathBuf>,
        /// The DHCP boot file: a netloader config or a Multiboot kernel in the TFTP folder.
        #[arg(long, default_value = "netloader.cfg")]
        bootfile: String,
        /// The network card QEMU emulates, by QEMU's name: e1000, e1000e, rtl8139,
        /// virtio-net-pci, pcnet, ne2k_pci, i82557b, i82559er, ... (the README's card table).
        #[arg(long, default_value = "e1000")]
        nic: String,
    },
    /// Netboot the PCs on this network: proxyDHCP (or full DHCP with --dhcp-range), TFTP
    /// and HTTP, with netloader.pxe built in. `netloader serve DIR`, or the quick form
    /// `netloader serve --kernel K [--module M ARGS]... [--cmdline ...]`.
    Serve(netloader::serve::ServeArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("netloader: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Commands::Build {
            form,
            output,
            config,
            nic,
            pci_id,
            standalone,
            runtime,
            undi,
            efi_nic,
        } => {
            let mut options = forms::Options {
                runtime,
                ..forms::Options::default()
            };
            if let Some(policy) = efi_nic {
                if !matches!(form, Form::Efi | Form::Iso | Form::Usb) {
                    bail!(
                        "--efi-nic is for --form efi, iso or usb only (this is --form {}): only they carry netloader.efi",
                        form.name()
                    );
                }
                options.efi_nic = policy;
            }
            if let Some(policy) = undi {
                if form != Form::Pxe {
                    bail!(
                        "--undi is for --form pxe only (this is --form {}): only a PXE ROM leaves a UNDI behind",
                        form.name()
                    );
                }
                options.undi = policy;
            }
            if let Some(path) = config {
                let text = std::fs::read(&path)
                    .with_context(|| format!("cannot read the config {}", path.display()))?;
                forms::check_config(&path.display().to_string(), &text)?;
                options.config = Some(text);
            }
            if form == Form::Rom {
                build_rom(
                    &output,
                    &options,
                    &rom::RomOptions {
                        nic,
                        pci_id,
                        standalone,
                    },
                )?;
            } else if standalone || pci_id.is_some() {
                bail!(
                    "--standalone and --pci-id are for --form rom only (this is --form {})",
                    form.name()
                );
            } else {
                build(form, &output, &options)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Commands::Demo {
            timeout,
            image,
            tftp,
            bootfile,
            nic,
        } => demo(timeout, image, tftp, &bootfile, &nic),
        Commands::Serve(args) => netloader::serve::run(args),
    }
}

fn build(form: Form, output: &Path, options: &forms::Options) -> anyhow::Result<()> {
    let image = forms::build_with(form, options)?;
    std::fs::write(output, &image).with_context(|| format!("cannot write {}", output.display()))?;
    if form == Form::Efi {
        println!("efi image: {} bytes -> {}", image.len(), output.display());
        return Ok(());
    }
    println!("stage 1 boot sector: 512 bytes");
    let runtime = options.runtime;
    println!(
        "runtime image: {} bytes, {}-bit (in memory {:#x}-{:#x}, {} KiB with its buffers and stack)",
        runtime.image().len(),
        if runtime == forms::Runtime::Bits32 {
            32
        } else {
            64
        },
        stage1::LOAD_ADDRESS,
        runtime.end_address(),
        (runtime.end_address() - stage1::LOAD_ADDRESS) / 1024
    );
    println!(
        "{} image: {} bytes -> {}",
        form.name(),
        image.len(),
        output.display()
    );
    Ok(())
}

fn build_rom(
    output: &Path,
    options: &forms::Options,
    rom_options: &rom::RomOptions,
) -> anyhow::Result<()> {
    let image = forms::rom(options, rom_options)?;
    std::fs::write(output, &image).with_context(|| format!("cannot write {}", output.display()))?;
    let primary = rom_options.pci_id.unwrap_or(rom_options.nic.primary_id());
    println!(
        "runtime image: {} bytes ({}) with the {} driver only, packed (LZ4) into the ROM; unpacked to {:#x} at boot",
        rom_options.nic.runtime_image(rom_options.standalone).len(),
        if rom_options.standalone {
            "the whole loader"
        } else {
            "the first stage"
        },
        rom_options.nic.name(),
        stage1::LOAD_ADDRESS
    );
    println!(
        "rom image: {} bytes ({} KiB; legacy limit {} KiB) for {} {primary} -> {}",
        image.len(),
        image.len().div_ceil(1024),
        rom::MAX_ROM_LEN / 1024,
        rom_options.nic.name(),
        output.display()
    );
    if image.len() > rom::SEABIOS_WITH_VGA_ROM_LEN {
        println!(
            "warning: over {} KiB: SeaBIOS (QEMU) cannot place it beside a VGA BIOS",
            rom::SEABIOS_WITH_VGA_ROM_LEN / 1024
        );
    } else if image.len() > rom::SMALL_ROM_LEN {
        println!(
            "note: over {} KiB: too large for VirtualBox and for many cards' 64 KiB flash",
            rom::SMALL_ROM_LEN / 1024
        );
    }
    if !rom_options.standalone {
        println!(
            "at boot the ROM gets a lease and starts netloader.pxe from the TFTP server: build it with \
             `netloader build --form pxe`, and name it in the DHCP boot file (or call it netloader.pxe)"
        );
    }
    Ok(())
}

const QEMU: &str = "qemu-system-x86_64";

fn demo(
    timeout: u64,
    image: Option<PathBuf>,
    tftp: Option<PathBuf>,
    bootfile: &str,
    nic: &str,
) -> anyhow::Result<ExitCode> {
    if Command::new(QEMU).arg("--version").output().is_err() {
        bail!(
            "{QEMU} is not installed. On Debian or Ubuntu: sudo apt-get install qemu-system-x86 \
             (then run `netloader demo` again)"
        );
    }
    let path = image.unwrap_or_else(|| std::env::temp_dir().join("netloader-demo.iso"));
    build(Form::Iso, &path, &forms::Options::default())?;
    println!(
        "booting {} in QEMU (serial console below; stops after {timeout} s)",
        path.display()
    );
    let mut network = Vec::new();
    match &tftp {
        Some(dir) => {
            let dir = dir
                .canonicalize()
                .with_context(|| format!("no TFTP folder {}", dir.display()))?;
            network.push("-netdev".to_string());
            network.push(format!(
                "user,id=n0,restrict=on,tftp={},bootfile={bootfile}",
                dir.display()
            ));
            network.push("-device".to_string());
            network.push(format!("{nic},netdev=n0"));
        }
        None => network.extend(["-nic".to_string(), "none".to_string()]),
    }
    let status = Command::new("timeout")
        .arg("--foreground")
        .arg(timeout.to_string())
        .arg(QEMU)
        .args([
            "-machine",
            "pc",
            "-m",
            "128",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .args(&network)
        .arg("-cdrom")
        .arg(&path)
        .status()
        .context("cannot start QEMU")?;
    match status.code() {
        Some(124) => println!("\n(demo stopped after {timeout} s)"),
        Some(33) => println!("\n(the kernel reported pass and ended QEMU: status 33)"),
        Some(35) => println!("\n(the kernel reported a failure and ended QEMU: status 35)"),
        Some(code) => println!("\n(QEMU exited with status {code})"),
        None => println!("\n(QEMU was stopped)"),
    }
    Ok(ExitCode::SUCCESS)
}
