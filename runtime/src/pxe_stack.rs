//! The PXE ROM's stack that stage1/pxe.s left resident: either the way to a card no native
//! driver knows (UNDI, `netloader_drivers::undi`, over the real-mode thunk), or unloaded
//! here, at once, when a native driver takes the card (the same calls pxe.s makes).
//!
//! The decision: the build's policy (`netloader build --form pxe --undi auto|always|never`);
//! on auto, UNDI exactly when no native driver handles the card the ROM drives
//! (PXENV_UNDI_GET_NIC_TYPE gives its PCI address; a ROM that will not say is judged by the
//! cards on the bus). While the stack stays, its base memory (INT 12h up to 640 KiB) is out
//! of the memory map, so neither the runtime nor the kernel's placement touches it; the stack
//! is unloaded when the card is closed, before the hand-off. Once unloaded here, the BIOS's
//! memory map is read again, since a ROM hides its memory only while it is resident.

use crate::arch::port::Port;
use netloader_drivers::undi::{self, NicType, PxeApi, SegOff, UnloadStatus};

use crate::arch::bios;
use crate::arch::realmode::{FLAG_INTERRUPTS, FarPtr, RealMode, Registers};
use crate::boot_info::{self, BootInfo, PxeHandoff};
use crate::net::pxe_cache::Status;
use crate::{nic, println};

unsafe extern "C" {
    /// The end of the runtime's memory (link.ld); only its address is taken.
    static __runtime_end: u8;
}

/// The PXE API through the real-mode thunk: parameter blocks in the bounce buffer, the entry
/// called as iPXE's undinet does it, with both calling conventions at once (!PXE reads the
/// opcode and the block's address from the stack, PXENV+ from BX and ES:DI).
pub struct ThunkPxe {
    /// Given back once the stack is unloaded (`release`).
    rm: Option<RealMode>,
    entry: FarPtr,
    /// Only PXENV+ (no !PXE): failure is the carry flag, whatever AX says.
    pxenv_only: bool,
    /// The card's IRQ line masked at the PIC while the ROM drives it (data port, bit, and
    /// whether it was masked before), from PXENV_UNDI_GET_INFORMATION.
    masked: Option<(u16, u8, bool)>,
    /// Calls made, and how the unload went (as stage1/pxe.s records its own), for the log.
    calls: u64,
    unload: [u16; 3],
}

impl ThunkPxe {
    /// The API at `entry` (!PXE's EntryPointSP, or PXENV+'s RMEntry when `pxenv_only`).
    pub fn new(rm: RealMode, entry: FarPtr, pxenv_only: bool) -> Self {
        ThunkPxe {
            rm: Some(rm),
            entry,
            pxenv_only,
            masked: None,
            calls: 0,
            unload: [undi::NOT_CALLED; 3],
        }
    }

    /// What the thunk learns from the calls it carries: the card's IRQ, masked at the PIC
    /// while we drive the card (the calls run with interrupts on, and nothing of ours would
    /// handle it; iPXE's pxeprefix masks it too before it keeps UNDI), and the unload steps.
    fn observe(&mut self, opcode: u16, exit: u16) {
        let Some(rm) = self.rm.as_mut() else { return };
        let block = &rm.bounce()[undi::PARAMS_AT..];
        let status = u16::from_le_bytes([block[0], block[1]]);
        let outcome = match (exit, status) {
            (0, _) => 0,
            (_, 0) => undi::FAILED_WITHOUT_STATUS,
            (_, status) => status,
        };
        match opcode {
            undi::api::UNDI_GET_INFORMATION if exit == 0 && self.masked.is_none() => {
                let at = undi::api::information::INT_NUMBER;
                let irq = u16::from_le_bytes([block[at], block[at + 1]]);
                self.masked = pic_line(irq).map(|(port, bit)| {
                    let mut data = Port::<u8>::new(port);
                    // SAFETY: the PIC's mask register; masking one more line changes
                    // nothing else.
                    unsafe {
                        let old = data.read();
                        data.write(old | bit);
                        (port, bit, old & bit != 0)
                    }
                });
            }
            undi::api::UNDI_SHUTDOWN => self.unload[0] = outcome,
            undi::api::UNLOAD_STACK => self.unload[1] = outcome,
            undi::api::STOP_UNDI | undi::api::UNDI_CLEANUP => self.unload[2] = outcome,
            _ => {}
        }
    }

    /// The thunk it holds, for other BIOS calls meanwhile (`None` once released).
    pub fn thunk(&mut self) -> Option<&mut RealMode> {
        self.rm.as_mut()
    }
}

impl PxeApi for ThunkPxe {
    fn buffer(&mut self) -> &mut [u8] {
        match &mut self.rm {
            Some(rm) => rm.bounce(),
            None => &mut [],
        }
    }

    fn address_of(&self, offset: usize) -> SegOff {
        let at = RealMode::bounce_ptr(offset);
        SegOff {
            segment: at.segment,
            offset: at.offset,
        }
    }

    fn call(&mut self, opcode: u16) -> u16 {
        let Some(rm) = self.rm.as_mut() else {
            return 1; // released: the stack is gone
        };
        let block = RealMode::bounce_ptr(undi::PARAMS_AT);
        let mut regs = Registers {
            ebx: u32::from(opcode),
            edi: u32::from(block.offset),
            es: block.segment,
            // A ROM may count BIOS timer ticks while it waits (GRUB and iPXE call it with
            // interrupts on, too); the card's own IRQ is masked at the PIC (`open`).
            flags: FLAG_INTERRUPTS,
            ..Registers::default()
        };
        // SAFETY: the entry is the ROM's validated !PXE or PXENV+ entry (stage1/pxe.s checked
        // the structure's signature and checksum); it returns with RETF; it writes its own
        // memory, which the runtime keeps out of its map while the stack is resident
        // (`reserve_base_memory_from`; pxe.s kept it only if it lies above __runtime_end),
        // and the parameter block and what it points at, all in the bounce buffer.
        unsafe {
            rm.far_call(
                self.entry,
                &[block.segment, block.offset, opcode],
                &mut regs,
            )
        };
        let exit = regs.eax as u16;
        let exit = if self.pxenv_only && regs.carry() {
            exit | 1
        } else {
            exit
        };
        self.calls += 1;
        self.observe(opcode, exit);
        exit
    }

    /// The stack is gone: the PIC line as the BIOS had it, the thunk given back, the log.
    fn release(&mut self) {
        if let Some((port, bit, was_masked)) = self.masked.take()
            && !was_masked
        {
            let mut data = Port::<u8>::new(port);
            // SAFETY: the PIC's mask register, the card's line put back as the BIOS had it.
            unsafe {
                let now = data.read();
                data.write(now & !bit);
            }
        }
        self.rm = None;
        let [shutdown, unload_stack, stop] = self.unload;
        println!(
            "undi: closed after {} calls; unloaded the ROM's stack: UNDI_SHUTDOWN {}, UNLOAD_STACK {}, STOP_UNDI {}",
            self.calls,
            Status(shutdown),
            Status(unload_stack),
            Status(stop)
        );
    }

    fn read(&mut self, at: SegOff, out: &mut [u8]) -> bool {
        let linear = (usize::from(at.segment) << 4) + usize::from(at.offset);
        // Below 0x500 is the interrupt table and the BIOS data: never a frame.
        if linear < 0x500 || linear + out.len() > 0x10_fff0 {
            return false;
        }
        // SAFETY: real-mode memory (below 1 MiB + 64 KiB), identity-mapped, that the stack
        // names as its receive buffer; the runtime holds no reference into it.
        unsafe { core::ptr::copy_nonoverlapping(linear as *const u8, out.as_mut_ptr(), out.len()) };
        true
    }
}

/// The PIC mask bit of `irq` (0-15), and its data port.
fn pic_line(irq: u16) -> Option<(u16, u8)> {
    match irq {
        1..=7 => Some((0x21, 1 << irq)),
        8..=15 => Some((0xa1, 1 << (irq - 8))),
        _ => None,
    }
}

/// What `settle` (or `undi_rom::load`) leaves for the network code.
pub struct KeptStack {
    pub api: ThunkPxe,
    /// A PXENV+-only stack before 2.1 (PXENV_UNDI_CLEANUP instead of PXENV_STOP_UNDI).
    pub legacy: bool,
}

/// Where the kept stack's API lives while the UNDI driver uses it (the registry's drivers
/// keep `&'static` references), handed out once.
static mut KEPT: core::mem::MaybeUninit<ThunkPxe> = core::mem::MaybeUninit::uninit();
static KEPT_TAKEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

impl KeptStack {
    /// The stack as the registry's UNDI driver takes it; `None` the second time.
    pub fn into_static(self) -> Option<undi::PxeStack> {
        if KEPT_TAKEN.swap(true, core::sync::atomic::Ordering::AcqRel) {
            return None;
        }
        // SAFETY: KEPT is written once, here (KEPT_TAKEN), and only this reference reaches it.
        let api = unsafe { (*(&raw mut KEPT)).write(self.api) };
        Some(undi::PxeStack {
            api,
            legacy: self.legacy,
        })
    }
}

/// Decide about a resident PXE stack, before anything uses the memory map. Returns the stack
/// when the card is to be driven through it; otherwise it is gone (or never was).
// Out of line: inlined into its one caller it cost 0.5-1.5 KiB of conventional memory.
#[inline(never)]
pub fn settle(boot: &mut BootInfo) -> Option<KeptStack> {
    let pxe = boot.pxe_mut()?;
    if pxe.stack == boot_info::PXE_STACK_UNDER_US {
        println!(
            "E-UNDI-MEMORY: the PXE ROM's stack begins at {} KiB, under netloader.pxe's end ({} KiB): unloaded, so UNDI is not available; check the BIOS for a setting that leaves more base memory free",
            pxe.base_kib,
            (&raw const __runtime_end as usize).div_ceil(1024)
        );
    }
    if pxe.stack == boot_info::PXE_STACK_POLICY {
        println!(
            "pxe: the build says never to use UNDI (--undi never): unloaded (UNDI_SHUTDOWN {}, UNLOAD_STACK {}, STOP_UNDI {})",
            Status(pxe.undi_shutdown_status),
            Status(pxe.unload_stack_status),
            Status(pxe.stop_undi_status)
        );
    }
    if !pxe.stack_kept() {
        return None;
    }
    let (policy, base_kib) = (pxe.undi_policy, pxe.base_kib);
    let legacy = pxe.api == 2 && pxe.pxenv_version < 0x201;
    let Some(rm) = RealMode::take() else {
        println!("E-UNDI-THUNK: the real-mode thunk is in use: cannot call the PXE ROM");
        return None;
    };
    let mut api = ThunkPxe::new(rm, FarPtr::from_u32(pxe.entry), pxe.api == 2);
    let native = match undi::nic_type(&mut api) {
        Ok(NicType::Pci {
            vendor,
            device,
            bus,
            device_number,
            function,
            ..
        }) => {
            println!(
                "pxe: the ROM drives the PCI card {vendor:04x}:{device:04x} at {bus:02x}:{device_number:02x}.{function}"
            );
            nic::native_driver(vendor, device)
        }
        Ok(_) => {
            println!("pxe: the ROM drives a card that is not on PCI");
            nic::any_native_card()
        }
        Err(e) => {
            println!("pxe: the ROM does not say which card it drives ({e})");
            nic::any_native_card()
        }
    };
    let why = match (policy, native) {
        (boot_info::UNDI_POLICY_ALWAYS, _) => "the build says --undi always",
        (_, None) => "no native driver for this card",
        (_, Some(driver)) => {
            println!("pxe: the native {driver} driver takes this card: unloading the ROM's stack");
            let status = undi::unload(&mut api, legacy);
            if let Some(pxe) = boot.pxe_mut() {
                record_unload(pxe, status);
            }
            if let Some(rm) = api.thunk() {
                reread_memory_map(rm, boot);
            }
            println!("pxe: memory map read again after the stack left");
            return None;
        }
    };
    println!(
        "pxe: keeping the ROM's stack ({why}): the card goes through UNDI; base memory from {base_kib} KiB stays the ROM's"
    );
    boot.reserve_base_memory_from(base_kib);
    Some(KeptStack { api, legacy })
}

/// The statuses as stage1/pxe.s records its own unload, so the log reads the same.
pub fn record_unload(pxe: &mut PxeHandoff, status: UnloadStatus) {
    pxe.undi_shutdown_status = status.shutdown;
    pxe.unload_stack_status = status.unload_stack;
    pxe.stop_undi_status = status.stop;
    pxe.stack = 0;
}

/// The BIOS's memory map read again into the hand-off record: after a ROM's stack left (iPXE
/// hides its memory from E820 only while resident), or after one was loaded. Straight into
/// the record's table, since this runs on stage 2's small stack.
pub fn reread_memory_map(rm: &mut RealMode, boot: &mut BootInfo) {
    let kib = bios::conventional_kib(rm);
    if boot.reread_memory_map(|table| bios::e820(rm, table), kib) == 0 {
        println!("pxe: the BIOS gives no E820 map now: keeping stage 2's");
    }
}
