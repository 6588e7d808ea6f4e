//! The option ROM's first stage (cargo feature `chain`). A ROM has room for little more than
//! a driver and DHCP/TFTP, so it gets a lease, downloads netloader.pxe (the DHCP boot file, or
//! `netloader.pxe` when the answer names none) and starts it the way a card's PXE ROM would: in
//! real mode at 0:7C00. netloader.pxe then does the rest with every driver, the config parser,
//! the menu and Multiboot. There is no PXE API; instead the DHCP answers of this lease wait at
//! `LEASE_AT` (stage1/pxe.s copies them into its hand-off record, as it does a PXE ROM's cached
//! packets), so netloader.pxe sends no DHCP of its own.
//!
//! The way back to real mode: the Multiboot hand-off trampoline (boot/handoff.rs) leaves the
//! runtime's mode for 32-bit protected mode and copies the file to 0x7C00 (over this
//! runtime), then enters `chain_stub` (below), which drops to real mode and jumps to 0:7C00.

use core::net::Ipv4Addr;

use netloader_proto::memmap::MemoryMap;

use crate::boot::handoff;
use crate::boot::{Failure, fail};
use crate::boot_info::PXE_PACKET_MAX;
use crate::download::MemorySink;
use crate::net::{Lease, Net};
use crate::println;

/// What the DHCP answer's boot file must be, when it names one; else the name tried.
const DEFAULT_NBP: &str = "netloader.pxe";
/// The last 16 bytes of netloader.pxe's 1 KiB entry (stage1/pxe.s).
const NBP_SIGNATURE: &[u8; 16] = b"netloader NBP v1";
const NBP_SIGNATURE_AT: usize = 0x3f0;
/// Where a PXE ROM loads a boot program, and so where netloader.pxe expects to run.
const NBP_LOAD: u64 = 0x7c00;
/// netloader.pxe is downloaded here first (this runtime lies where it will run).
const STAGING: u64 = 1024 * 1024;
/// Free conventional memory for the trampoline's block and the stub: below 0x7C00, above the
/// BIOS data area; nothing of ours and nothing of netloader.pxe lives there.
const HANDOFF_AREA: core::ops::Range<u64> = 0x1000..0x1800;
const STUB_AT: u64 = 0x1800;
/// The lease for netloader.pxe: u16 DHCPACK length, u16 proxyDHCP answer length, then each
/// in a PXE_PACKET_MAX slot (mirrored by CHAIN_LEASE in stage1/pxe.s).
const LEASE_AT: u64 = 0x2000;

unsafe extern "C" {
    static chain_stub_start: u8;
    static chain_stub_end: u8;
}

// Entered from the hand-off trampoline in 32-bit protected mode, paging off, flat segments,
// with EBX = this code's own address (below 64 KiB): load a GDT with 16-bit segments, leave
// protected mode, and jump to netloader.pxe as a PXE ROM would, ES:BX and the stack's !PXE
// pointer both null (no PXE API), and ESI = "NLRM" so that it knows why.
core::arch::global_asm!(
    concat!(
        r#"
    .section .text.chain_stub, "ax"
    .code32
    .globl chain_stub_start
    .globl chain_stub_end
chain_stub_start:
    leal (chain_gdt - chain_stub_start)(%ebx), %eax
    movl %eax, (chain_gdtr + 2 - chain_stub_start)(%ebx)
    lgdtl (chain_gdtr - chain_stub_start)(%ebx)
    movl $0x7bf0, %esp
    leal (1f - chain_stub_start)(%ebx), %eax
    pushl $0x08
    pushl %eax
    lretl                          # to 16-bit protected mode
    .code16
1:  movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl %cr0, %eax
    andl $0xfffffffe, %eax         # protection off: real mode
    movl %eax, %cr0
    leaw (2f - chain_stub_start)(%bx), %ax
    pushw $0
    pushw %ax
    lretw                          # CS = 0
2:  xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movw $0x7bf0, %sp
    lidtw (chain_ivt - chain_stub_start)(%bx)   # the BIOS's interrupt vectors again
    movl $0, 0x7bf4                # the far pointer to !PXE at SS:SP+4: none
    xorw %bx, %bx                  # ES:BX, the PXENV+ pointer: none
    xorl %edx, %edx
    movl $0x4d524c4e, %esi         # "NLRM": tells stage1/pxe.s who started it
    cld
    sti
    ljmp $0, $0x7c00
    .p2align 3
chain_gdt:
    .quad 0
    .quad 0x00009a000000ffff       # 0x08: 16-bit code, base 0, 64 KiB
    .quad 0x000092000000ffff       # 0x10: 16-bit data, base 0, 64 KiB
chain_gdtr:
    .word 23
    .long 0
chain_ivt:
    .word 0x3ff
    .long 0
chain_stub_end:
"#,
        crate::arch::native_code_mode!()
    ),
    options(att_syntax)
);

/// Download netloader.pxe and start it. Returns only on failure.
pub fn run(net: &mut Net, lease: &Lease, map: &MemoryMap, conventional_kib: u16) -> Failure {
    let Some(server) = lease.boot.tftp_server else {
        return fail!(
            "E-DHCP-NOSERVER",
            "the DHCP answer names no TFTP server (next-server or option 66): check the DHCP server's settings"
        );
    };
    let file = lease.boot.boot_file.as_deref().unwrap_or(DEFAULT_NBP);
    // netloader.pxe runs from 0x7C00 up, in conventional memory.
    let conventional_end = (u64::from(conventional_kib) * 1024).min(map.lower_kib() as u64 * 1024);
    let capacity = conventional_end.saturating_sub(NBP_LOAD);
    if !map.is_ram(STAGING, STAGING + capacity) {
        return fail!(
            "E-MEM-LOW",
            "no RAM at {STAGING:#x}-{:#x} to receive {file}",
            STAGING + capacity
        );
    }
    // SAFETY: RAM by the map, above everything of ours (the runtime lives below 640 KiB).
    let mut sink = unsafe { MemorySink::new(STAGING, capacity) };
    match net.tftp_get_from(server, 69, file, &mut sink) {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {
            let mut failure = Failure::from(e);
            failure.add(format_args!(
                " (this option ROM starts netloader.pxe, made by `netloader build --form pxe`: put it on the TFTP server)"
            ));
            return failure;
        }
        Err(e) => return e.into(),
    }
    println!(
        "file: {} {} bytes at {:#x} crc32 {:08x}",
        file,
        sink.len(),
        sink.start(),
        sink.crc32()
    );
    if let Err(failure) = check_nbp(sink.bytes(), file, server) {
        return failure;
    }
    println!("chain: starting {file} at {NBP_LOAD:#x} (netloader's full loader, every driver)");
    net.close();
    let copy = handoff::Copy {
        src: STAGING as u32,
        dst: NBP_LOAD as u32,
        len: sink.len() as u32,
        zero: 0,
    };
    let (ack, proxy) = net.raw_answers();
    // SAFETY: the lease record and the stub go to free low memory outside the hand-off area
    // and the copy's destination; the card is closed; nothing of this runtime is needed
    // afterwards.
    unsafe {
        let record = LEASE_AT as *mut u8;
        for (slot, packet) in [ack, proxy].into_iter().enumerate() {
            let len = packet.len().min(PXE_PACKET_MAX);
            record
                .add(2 * slot)
                .cast::<u16>()
                .write_unaligned(len as u16);
            core::ptr::copy_nonoverlapping(
                packet.as_ptr(),
                record.add(4 + slot * PXE_PACKET_MAX),
                len,
            );
        }
        let start = &raw const chain_stub_start;
        let len = (&raw const chain_stub_end as usize) - (start as usize);
        core::ptr::copy_nonoverlapping(start, STUB_AT as *mut u8, len);
        let entry = handoff::Entry {
            address: STUB_AT as u32,
            registers: handoff::Registers {
                ebx: STUB_AT as u32,
                ..handoff::Registers::default()
            },
            selectors: handoff::Selectors::FLAT,
        };
        handoff::enter(HANDOFF_AREA, &[copy], &entry)
    }
}

/// Is this a netloader.pxe (of a compatible hand-off)?
fn check_nbp(bytes: &[u8], file: &str, server: Ipv4Addr) -> Result<(), Failure> {
    if bytes.get(NBP_SIGNATURE_AT..NBP_SIGNATURE_AT + NBP_SIGNATURE.len())
        != Some(NBP_SIGNATURE.as_slice())
    {
        return Err(fail!(
            "E-ROM-CHAIN",
            "{file} from {server} is not netloader.pxe: this option ROM starts netloader.pxe (`netloader build --form pxe`); put it on the TFTP server and name it in the DHCP boot file"
        ));
    }
    Ok(())
}
