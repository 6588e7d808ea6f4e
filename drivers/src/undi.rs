//! UNDI: any card with a PXE ROM, driven through the ROM's Universal Network Driver Interface
//! (the PXE API's UNDI calls), as GRUB's pxe module and iPXE's undinet do. For cards no native
//! driver knows: the ROM that loaded netloader.pxe stays resident and does the work.
//!
//! The driver speaks to the stack through [`PxeApi`]: a call by function code with the
//! parameter block at the start of a low-memory buffer the stack can address, and a read of the
//! stack's own memory (received frames). The runtime implements it with its real-mode thunk;
//! the tests with a model of a PXE stack (`model`).
//!
//! - Open: PXENV_UNDI_GET_INFORMATION (MAC, MTU, IRQ), PXENV_UNDI_SET_STATION_ADDRESS (its
//!   failure ignored, as iPXE does), then PXENV_UNDI_OPEN with the directed + broadcast filter (a stack still open from the boot answers "invalid state":
//!   then PXENV_UNDI_CLOSE and open again).
//! - Send: PXENV_UNDI_TRANSMIT with one immediate buffer. IPv4, ARP and RARP frames go
//!   without their Ethernet header (the stack builds it: some cannot send P_UNKNOWN frames,
//!   iPXE's undinet says); anything else whole, as P_UNKNOWN. The stack copies the frame
//!   before it returns (iPXE's and Intel's do; many never report TX completions anyway).
//! - Receive: always polled, never by interrupt, so a ROM that claims an IRQ and never raises
//!   it (iPXE's `undinet_irq_broken_list`) changes nothing: PXENV_UNDI_ISR START, then
//!   PROCESS, then GET_NEXT until DONE, one frame handed up per call; fragments are gathered;
//!   a frame of impossible lengths is dropped, as iPXE does ("VMWare does it"). A bounded
//!   number of calls per poll, so a stack that never says DONE cannot hang the loader.
//! - Close: the ISR sequence drained, PXENV_UNDI_CLOSE, then the stack unloaded
//!   ([`unload`]: PXENV_UNDI_SHUTDOWN, PXENV_UNLOAD_STACK, PXENV_STOP_UNDI) so that the card
//!   is quiet and its memory free before a kernel starts.

pub mod api;
#[cfg(any(test, feature = "testing"))]
pub mod model;
#[cfg(test)]
mod tests;

use core::sync::atomic::{AtomicU8, Ordering};

use crate::registry::{DmaArena, Driver, Found, Location, Machine, OpenError, dma_len};
use crate::{MAX_FRAME_LEN, MIN_FRAME_LEN, MacAddress, Nic, NicError, check_tx_len, is_usable_mac};
use api::{get_u16, put_u16};

/// This driver's line in the registry. It has no PCI IDs: its card is the one a PXE ROM's
/// stack drives, which the runtime kept (runtime/src/pxe_stack.rs decides, for netloader.pxe)
/// or loaded (runtime/src/undi_rom.rs, on the other forms) and hands over with [`offer`]. A
/// kept stack is opened before any PCI scan: its card is the one the ROM booted from, and the
/// ROM's memory must be given back. (Not a [`Machine`] method: every driver's machine would
/// carry it, and a first-stage ROM has no byte to spare.)
pub const DRIVER: Driver = Driver {
    name: "undi",
    family: "any other card with a PXE ROM, through the ROM's UNDI",
    pci_ids: &[],
    find: Some(find),
    dma_len: dma_len::<[u8; 0], Undi<&'static mut dyn PxeApi>>(),
    open: open_found,
};

/// The card of the stack the runtime offers, if it offers one.
fn find(_machine: &mut dyn Machine) -> Option<(&'static str, Location)> {
    (OFFER.load(Ordering::Acquire) == OFFERED)
        .then_some(("UNDI", Location::Firmware("the PXE ROM")))
}

/// The stack on offer: [`offer`] puts it once, [`DRIVER`]'s open takes it once.
static mut OFFERED_STACK: core::mem::MaybeUninit<PxeStack> = core::mem::MaybeUninit::uninit();
static OFFER: AtomicU8 = AtomicU8::new(EMPTY);
const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const OFFERED: u8 = 2;
const TAKEN: u8 = 3;

/// Hand the driver the PXE ROM's stack to drive the card through; false (and the stack
/// dropped) if one was offered before.
pub fn offer(stack: PxeStack) -> bool {
    if OFFER
        .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    // SAFETY: WRITING makes this the only access to OFFERED_STACK until OFFERED is stored.
    unsafe { (&raw mut OFFERED_STACK).cast::<PxeStack>().write(stack) };
    OFFER.store(OFFERED, Ordering::Release);
    true
}

/// The stack on offer, once.
fn take_offered() -> Option<PxeStack> {
    OFFER
        .compare_exchange(OFFERED, TAKEN, Ordering::Acquire, Ordering::Relaxed)
        .ok()?;
    // SAFETY: OFFERED means `offer` wrote it; TAKEN makes this the one read of it.
    Some(unsafe { (&raw const OFFERED_STACK).cast::<PxeStack>().read() })
}

/// A PXE ROM's stack the runtime hands the driver.
pub struct PxeStack {
    pub api: &'static mut dyn PxeApi,
    /// A PXENV+-only stack before 2.1 (PXENV_UNDI_CLEANUP instead of PXENV_STOP_UNDI).
    pub legacy: bool,
}

/// [`DRIVER`]'s `open`: the stack on offer, the driver's state into the pool. On failure the
/// stack is unloaded already ([`Undi::open`]).
fn open_found(
    _card: &Found,
    _machine: &mut dyn Machine,
    dma: DmaArena,
) -> Result<&'static mut dyn Nic, OpenError> {
    let stack = take_offered().ok_or(OpenError::Nic(NicError::UnsupportedDevice))?;
    match Undi::open(stack.api, stack.legacy) {
        Ok(nic) => Ok(dma.keep(nic)?),
        Err(failure) => Err(dma.keep_error(failure.error)),
    }
}

impl<T: PxeApi + ?Sized> PxeApi for &mut T {
    fn buffer(&mut self) -> &mut [u8] {
        (**self).buffer()
    }

    fn address_of(&self, offset: usize) -> SegOff {
        (**self).address_of(offset)
    }

    fn call(&mut self, opcode: u16) -> u16 {
        (**self).call(opcode)
    }

    fn read(&mut self, at: SegOff, out: &mut [u8]) -> bool {
        (**self).read(at, out)
    }

    fn release(&mut self) {
        (**self).release()
    }
}

/// A real-mode address, segment:offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegOff {
    pub segment: u16,
    pub offset: u16,
}

impl SegOff {
    /// As stored in a parameter block: offset, then segment.
    fn read(block: &[u8], at: usize) -> SegOff {
        SegOff {
            offset: get_u16(block, at),
            segment: get_u16(block, at + 2),
        }
    }

    fn write(self, block: &mut [u8], at: usize) {
        put_u16(block, at, self.offset);
        put_u16(block, at + 2, self.segment);
    }
}

/// Where the driver keeps what it hands the stack, in [`PxeApi::buffer`].
pub const PARAMS_AT: usize = 0;
const PARAMS_LEN: usize = 64;
const DEST_AT: usize = 64;
const TBD_AT: usize = 80;
const FRAME_AT: usize = 160;
/// The smallest buffer the driver can work with.
pub const BUFFER_LEN: usize = FRAME_AT + MAX_FRAME_LEN;

const _: () = assert!(api::open::LEN <= PARAMS_LEN && api::information::LEN <= PARAMS_LEN);
const _: () = assert!(TBD_AT + api::tbd::LEN <= FRAME_AT);

/// The most PXENV_UNDI_ISR calls one poll makes before it gives up for now.
const ISR_CALLS_PER_POLL: usize = 16;

/// How the driver reaches a PXE stack.
pub trait PxeApi {
    /// Low memory the stack can address, at least [`BUFFER_LEN`] bytes: the parameter block
    /// of each call at [`PARAMS_AT`], then what the calls point at.
    fn buffer(&mut self) -> &mut [u8];
    /// The real-mode address of `buffer()[offset]`.
    fn address_of(&self, offset: usize) -> SegOff;
    /// Call PXE API function `opcode` with the parameter block at `buffer()[PARAMS_AT..]`.
    /// Returns the exit code ([`api::EXIT_SUCCESS`] or a failure; the block's status says why).
    fn call(&mut self, opcode: u16) -> u16;
    /// Copy the stack's memory at `at` into `out` (a received frame). False when that is not
    /// memory a PXE stack may point at (beyond what real mode addresses).
    fn read(&mut self, at: SegOff, out: &mut [u8]) -> bool;
    /// The stack is unloaded and will not be called again: let go of what reaches it (the
    /// runtime's real-mode thunk, which the hand-off's own BIOS calls need next).
    fn release(&mut self) {}
}

/// A PXE API call that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallError {
    pub opcode: u16,
    /// The block's status word (0 when the stack set none).
    pub status: u16,
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} failed with status {:#06x} ({})",
            api::function_name(self.opcode),
            self.status,
            api::status_name(self.status)
        )
    }
}

/// Why the card could not be opened through UNDI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UndiError {
    Call(CallError),
    /// GET_INFORMATION names a hardware type other than Ethernet.
    NotEthernet {
        hw_type: u16,
    },
    /// Neither the current nor the permanent address is a usable MAC.
    NoMacAddress,
    /// The buffer the runtime lent is too small.
    BufferTooSmall,
}

impl core::fmt::Display for UndiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            UndiError::Call(e) => write!(f, "{e}"),
            UndiError::NotEthernet { hw_type } => write!(
                f,
                "the PXE ROM drives a network of hardware type {hw_type}, not Ethernet"
            ),
            UndiError::NoMacAddress => write!(f, "the PXE ROM reports no usable MAC address"),
            UndiError::BufferTooSmall => write!(f, "the low-memory buffer is too small"),
        }
    }
}

/// A failed [`Undi::open`]: why, how unloading the stack went, and the API back.
pub struct OpenFailure<A> {
    pub error: UndiError,
    pub unloaded: UnloadStatus,
    pub api: A,
}

/// One PXE API call: the block cleared, `fill` writes the inputs, the stack is called.
fn call(api: &mut impl PxeApi, opcode: u16, fill: impl FnOnce(&mut [u8])) -> Result<(), CallError> {
    let block = &mut api.buffer()[PARAMS_AT..PARAMS_AT + PARAMS_LEN];
    block.fill(0);
    fill(block);
    let exit = api.call(opcode);
    let status = get_u16(&api.buffer()[PARAMS_AT..], 0);
    if exit == api::EXIT_SUCCESS {
        Ok(())
    } else {
        Err(CallError { opcode, status })
    }
}

fn params(api: &mut impl PxeApi) -> &[u8] {
    &api.buffer()[PARAMS_AT..PARAMS_AT + PARAMS_LEN]
}

/// What PXENV_UNDI_GET_NIC_TYPE says about the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NicType {
    /// A PCI (or CardBus) card: its IDs and where it sits.
    Pci {
        vendor: u16,
        device: u16,
        class: u8,
        subclass: u8,
        revision: u8,
        bus: u8,
        device_number: u8,
        function: u8,
        cardbus: bool,
    },
    /// An ISA Plug and Play card.
    Pnp,
    Other(u8),
}

/// Ask the stack which card it drives.
pub fn nic_type(api: &mut impl PxeApi) -> Result<NicType, CallError> {
    use api::nic_type::*;
    call(api, api::UNDI_GET_NIC_TYPE, |_| {})?;
    let block = params(api);
    Ok(match block[NIC_TYPE] {
        kind @ (PCI_NIC | CARDBUS_NIC) => {
            let bdf = get_u16(block, BUS_DEV_FUNC);
            NicType::Pci {
                vendor: get_u16(block, VENDOR_ID),
                device: get_u16(block, DEVICE_ID),
                class: block[BASE_CLASS],
                subclass: block[SUB_CLASS],
                revision: block[REVISION],
                bus: (bdf >> 8) as u8,
                device_number: ((bdf >> 3) & 0x1f) as u8,
                function: (bdf & 7) as u8,
                cardbus: kind == CARDBUS_NIC,
            }
        }
        PNP_NIC => NicType::Pnp,
        other => NicType::Other(other),
    })
}

/// How each step of unloading the stack went, encoded as stage1/pxe.s records it: 0 success,
/// 0xFFFF not called, 0xFFFE failed without a status, else the PXE status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnloadStatus {
    pub shutdown: u16,
    pub unload_stack: u16,
    pub stop: u16,
}

pub const NOT_CALLED: u16 = 0xffff;
pub const FAILED_WITHOUT_STATUS: u16 = 0xfffe;

impl UnloadStatus {
    pub fn all_ok(&self) -> bool {
        self.shutdown == 0 && self.unload_stack == 0 && self.stop == 0
    }
}

/// Take the PXE stack out of the machine, as stage1/pxe.s does when it is not needed: the card
/// goes quiet (PXENV_UNDI_SHUTDOWN), the base code and UNDI leave (PXENV_UNLOAD_STACK, then
/// PXENV_STOP_UNDI, or PXENV_UNDI_CLEANUP on a `legacy` PXENV+-only stack before 2.1). Every
/// step is tried whatever the one before said.
pub fn unload(api: &mut impl PxeApi, legacy: bool) -> UnloadStatus {
    let mut step = |opcode| match call(api, opcode, |_| {}) {
        Ok(()) => 0,
        Err(CallError { status: 0, .. }) => FAILED_WITHOUT_STATUS,
        Err(e) => e.status,
    };
    let shutdown = step(api::UNDI_SHUTDOWN);
    let unload_stack = step(api::UNLOAD_STACK);
    let stop = step(if legacy {
        api::UNDI_CLEANUP
    } else {
        api::STOP_UNDI
    });
    UnloadStatus {
        shutdown,
        unload_stack,
        stop,
    }
}

/// How often PXENV_UNDI_INITIALIZE is tried, and the wait between tries: it may fail while
/// the link comes out of reset (iPXE's undinet retries the same way).
const INITIALIZE_TRIES: u32 = 10;
const INITIALIZE_RETRY_US: u32 = 200_000;

/// Bring up a stack that a ROM's UNDI loader has just installed (netloader did not come from
/// that ROM, so nothing started it): PXENV_START_UNDI with what the ROM's init routine got
/// (the card's PCI bus:dev.fn, no ISA PnP), PXENV_UNDI_STARTUP, PXENV_UNDI_INITIALIZE. Then
/// [`Undi::open`] as for a resident stack.
pub fn start_loaded(
    api: &mut impl PxeApi,
    pci_bus_dev_fn: u16,
    delay: &mut dyn crate::hw::Delay,
) -> Result<(), CallError> {
    use api::start_undi::*;
    call(api, api::START_UNDI, |block| {
        put_u16(block, AX, pci_bus_dev_fn);
        put_u16(block, BX, NO_ISAPNP);
        put_u16(block, DX, NO_ISAPNP);
    })?;
    call(api, api::UNDI_STARTUP, |_| {})?;
    let mut tries = 1;
    loop {
        match call(api, api::UNDI_INITIALIZE, |_| {}) {
            Ok(()) => return Ok(()),
            Err(e) if tries >= INITIALIZE_TRIES => return Err(e),
            Err(_) => {
                tries += 1;
                delay.delay_us(INITIALIZE_RETRY_US);
            }
        }
    }
}

/// What PXENV_UNDI_GET_INFORMATION says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Information {
    pub mac: MacAddress,
    pub permanent_mac: MacAddress,
    /// The card's IRQ (0: none). Never waited for: the driver polls.
    pub irq: u16,
    pub mtu: u16,
    pub base_io: u16,
    pub rom_segment: u16,
    pub rx_buffers: u16,
    pub tx_buffers: u16,
}

/// Counters for the log and the benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// PXE API calls made since open.
    pub calls: u64,
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Sends the stack refused (the frame is lost; the protocols above retransmit).
    pub send_errors: u64,
    /// Frames dropped: impossible lengths, too long, unreadable addresses, failed ISR calls.
    pub receive_errors: u64,
}

/// A card driven through its PXE ROM.
pub struct Undi<A: PxeApi> {
    api: A,
    info: Information,
    legacy: bool,
    open: bool,
    /// Inside a PROCESS/GET_NEXT sequence: the next poll goes on with GET_NEXT.
    isr_in_progress: bool,
    rx: [u8; MAX_FRAME_LEN],
    rx_len: usize,
    counters: Counters,
    unloaded: Option<UnloadStatus>,
}

impl<A: PxeApi> Undi<A> {
    /// Open the card the stack drives. On failure the stack is unloaded (the card quiet, the
    /// memory free) and its statuses returned with the error. `legacy`: a PXENV+-only stack
    /// before version 2.1 (no PXENV_STOP_UNDI).
    pub fn open(mut api: A, legacy: bool) -> Result<Self, OpenFailure<A>> {
        match Self::start(&mut api) {
            Ok(info) => Ok(Undi {
                api,
                info,
                legacy,
                open: true,
                isr_in_progress: false,
                rx: [0; MAX_FRAME_LEN],
                rx_len: 0,
                counters: Counters::default(),
                unloaded: None,
            }),
            Err(error) => {
                let unloaded = unload(&mut api, legacy);
                api.release();
                Err(OpenFailure {
                    error,
                    unloaded,
                    api,
                })
            }
        }
    }

    fn start(api: &mut A) -> Result<Information, UndiError> {
        if api.buffer().len() < BUFFER_LEN {
            return Err(UndiError::BufferTooSmall);
        }
        use api::information::*;
        call(api, api::UNDI_GET_INFORMATION, |_| {}).map_err(UndiError::Call)?;
        let block = params(api);
        let hw_type = get_u16(block, HW_TYPE);
        if hw_type != ETHER_TYPE {
            return Err(UndiError::NotEthernet { hw_type });
        }
        let mac_at = |at: usize| -> MacAddress { block[at..at + 6].try_into().unwrap() };
        let permanent_mac = mac_at(PERM_NODE_ADDRESS);
        let mac = Some(mac_at(CURRENT_NODE_ADDRESS))
            .filter(is_usable_mac)
            .or(Some(permanent_mac).filter(is_usable_mac))
            .ok_or(UndiError::NoMacAddress)?;
        let info = Information {
            mac,
            permanent_mac,
            irq: get_u16(block, INT_NUMBER),
            mtu: get_u16(block, MAX_TRAN_UNIT),
            base_io: get_u16(block, BASE_IO),
            rom_segment: get_u16(block, ROM_ADDRESS),
            rx_buffers: get_u16(block, RX_BUF_CT),
            tx_buffers: get_u16(block, TX_BUF_CT),
        };
        // The address the card answers to, set again before opening: some stacks need it,
        // others fail it for no reason (iPXE's undinet found both), so a failure is ignored.
        let _ = call(api, api::UNDI_SET_STATION_ADDRESS, |block| {
            block[api::STATION_ADDRESS..api::STATION_ADDRESS + 6].copy_from_slice(&mac)
        });
        let filter = api::open::FLTR_DIRECTED | api::open::FLTR_BRDCST;
        let open = |api: &mut A| {
            call(api, api::UNDI_OPEN, |block| {
                put_u16(block, api::open::PKT_FILTER, filter)
            })
        };
        match open(api) {
            Ok(()) => {}
            // Still open from the ROM's own boot: close, then open with our filter.
            Err(CallError {
                status: api::STATUS_UNDI_INVALID_STATE,
                ..
            }) => {
                let _ = call(api, api::UNDI_CLOSE, |_| {});
                open(api).map_err(UndiError::Call)?;
            }
            Err(e) => return Err(UndiError::Call(e)),
        }
        Ok(info)
    }

    /// The stack's side, for the tests' model.
    #[cfg(any(test, feature = "testing"))]
    pub fn api_mut(&mut self) -> &mut A {
        &mut self.api
    }

    pub fn information(&self) -> &Information {
        &self.info
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// How unloading went, once [`Nic::close`] has run.
    pub fn unload_status(&self) -> Option<UnloadStatus> {
        self.unloaded
    }

    fn call(&mut self, opcode: u16, fill: impl FnOnce(&mut [u8])) -> Result<(), CallError> {
        self.counters.calls += 1;
        call(&mut self.api, opcode, fill)
    }

    /// One PXENV_UNDI_ISR call with `func`; the block's FuncFlag, lengths and frame pointer.
    fn isr(&mut self, func: u16) -> Result<IsrOut, CallError> {
        use api::isr::*;
        self.call(api::UNDI_ISR, |block| put_u16(block, FUNC_FLAG, func))?;
        let block = params(&mut self.api);
        Ok(IsrOut {
            func: get_u16(block, FUNC_FLAG),
            buffer_len: get_u16(block, BUFFER_LENGTH) as usize,
            frame_len: get_u16(block, FRAME_LENGTH) as usize,
            frame: SegOff::read(block, FRAME),
        })
    }

    /// Take the fragment the last ISR call pointed at; true when it completes a frame.
    fn gather(&mut self, out: &IsrOut) -> bool {
        let total = out.frame_len;
        let fragment = out.buffer_len;
        let fits = total <= MAX_FRAME_LEN && self.rx_len + fragment <= total;
        if total == 0 || fragment == 0 || !fits {
            // "Don't laugh. VMWare does it." (iPXE): lengths that cannot be a frame.
            self.rx_len = 0;
            self.counters.receive_errors += 1;
            return false;
        }
        let into = &mut self.rx[self.rx_len..self.rx_len + fragment];
        if !self.api.read(out.frame, into) {
            self.rx_len = 0;
            self.counters.receive_errors += 1;
            return false;
        }
        self.rx_len += fragment;
        self.rx_len == total
    }
}

struct IsrOut {
    func: u16,
    buffer_len: usize,
    frame_len: usize,
    frame: SegOff,
}

impl<A: PxeApi> Nic for Undi<A> {
    fn name(&self) -> &'static str {
        "UNDI"
    }

    fn mac(&self) -> MacAddress {
        self.info.mac
    }

    /// The PXE API has no link state a driver can rely on: always up (as iPXE's undinet).
    fn link_up(&mut self) -> bool {
        self.open
    }

    fn can_transmit(&mut self) -> bool {
        self.open
    }

    fn transmit_with(
        &mut self,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), NicError> {
        check_tx_len(len)?;
        if !self.open {
            return Err(NicError::Closed);
        }
        let padded = len.max(MIN_FRAME_LEN);
        let whole_frame = self.api.address_of(FRAME_AT);
        let without_header = self.api.address_of(FRAME_AT + 14);
        let dest = self.api.address_of(DEST_AT);
        let tbd_address = self.api.address_of(TBD_AT);
        let buffer = self.api.buffer();
        fill(&mut buffer[FRAME_AT..FRAME_AT + len]);
        buffer[FRAME_AT + len..FRAME_AT + padded].fill(0);
        let (header, _) = buffer[FRAME_AT..].split_at(14);
        let protocol = if len < 14 {
            api::transmit::P_UNKNOWN
        } else {
            match [header[12], header[13]] {
                [0x08, 0x00] => api::transmit::P_IP,
                [0x08, 0x06] => api::transmit::P_ARP,
                [0x80, 0x35] => api::transmit::P_RARP,
                _ => api::transmit::P_UNKNOWN,
            }
        };
        let broadcast = header[..6] == [0xff; 6];
        // A known protocol goes without its Ethernet header: the stack builds it from the
        // destination and the protocol.
        let (data, data_len) = if protocol == api::transmit::P_UNKNOWN {
            (whole_frame, padded)
        } else {
            buffer.copy_within(FRAME_AT..FRAME_AT + 6, DEST_AT);
            (without_header, padded - 14)
        };
        let tbd = &mut buffer[TBD_AT..TBD_AT + api::tbd::LEN];
        tbd.fill(0);
        put_u16(tbd, api::tbd::IMMED_LENGTH, data_len as u16);
        data.write(tbd, api::tbd::XMIT);
        let result = self.call(api::UNDI_TRANSMIT, |block| {
            use api::transmit::*;
            block[PROTOCOL] = protocol;
            block[XMIT_FLAG] = if broadcast {
                XMT_BROADCAST
            } else {
                XMT_DESTADDR
            };
            dest.write(block, DEST_ADDR);
            tbd_address.write(block, TBD);
        });
        match result {
            Ok(()) => self.counters.frames_sent += 1,
            // The frame is lost, as on a busy wire; the protocols above send it again.
            Err(_) => self.counters.send_errors += 1,
        }
        Ok(())
    }

    fn receive_with(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        use api::isr::*;
        if !self.open {
            return false;
        }
        for _ in 0..ISR_CALLS_PER_POLL {
            let func = if self.isr_in_progress {
                IN_GET_NEXT
            } else {
                // START acknowledges whatever the card has; its "ours/not ours" is not
                // trusted (GRUB: checking it "breaks on intel cards"): PROCESS always follows.
                if self.isr(IN_START).is_err() {
                    self.counters.receive_errors += 1;
                    return false;
                }
                self.isr_in_progress = true;
                self.rx_len = 0;
                IN_PROCESS
            };
            let out = match self.isr(func) {
                Ok(out) => out,
                Err(_) => {
                    self.isr_in_progress = false;
                    self.counters.receive_errors += 1;
                    return false;
                }
            };
            match out.func {
                OUT_DONE => {
                    self.isr_in_progress = false;
                    return false;
                }
                OUT_RECEIVE if self.gather(&out) => {
                    let len = core::mem::take(&mut self.rx_len);
                    self.counters.frames_received += 1;
                    f(&self.rx[..len]);
                    return true;
                }
                // A fragment, a transmit completion, "busy", or anything else: ask again.
                _ => {}
            }
        }
        false
    }

    fn close(&mut self) {
        if !self.open {
            return;
        }
        // Finish an ISR sequence (iPXE's undinet does), so the stack is not left mid-way.
        let mut bound = ISR_CALLS_PER_POLL * 4;
        while self.isr_in_progress && bound > 0 {
            bound -= 1;
            match self.isr(api::isr::IN_GET_NEXT) {
                Ok(out) if matches!(out.func, api::isr::OUT_TRANSMIT | api::isr::OUT_RECEIVE) => {}
                _ => self.isr_in_progress = false,
            }
        }
        let _ = self.call(api::UNDI_CLOSE, |_| {});
        self.open = false;
        self.unloaded = Some(unload(&mut self.api, self.legacy));
        self.api.release();
    }
}

impl<A: PxeApi> Drop for Undi<A> {
    fn drop(&mut self) {
        self.close();
    }
}
