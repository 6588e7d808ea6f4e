//! The PXE API as far as the UNDI driver uses it (PXE 2.1 specification, chapter 5; the
//! layouts and values agree with iPXE's `pxe_api.h` and GRUB's `pxe.h`): function codes,
//! status codes and the parameter blocks, as byte offsets (every block is packed,
//! little-endian).

/// The exit code in AX: success; anything else is a failure (the status says why).
pub const EXIT_SUCCESS: u16 = 0;

// Function codes.
pub const START_UNDI: u16 = 0x0000;
pub const UNDI_STARTUP: u16 = 0x0001;
pub const UNDI_CLEANUP: u16 = 0x0002;
pub const UNDI_INITIALIZE: u16 = 0x0003;
pub const UNDI_SHUTDOWN: u16 = 0x0005;
pub const UNDI_OPEN: u16 = 0x0006;
pub const UNDI_CLOSE: u16 = 0x0007;
pub const UNDI_TRANSMIT: u16 = 0x0008;
pub const UNDI_SET_STATION_ADDRESS: u16 = 0x000a;
pub const UNDI_GET_INFORMATION: u16 = 0x000c;
pub const UNDI_GET_NIC_TYPE: u16 = 0x0012;
pub const UNDI_ISR: u16 = 0x0014;
pub const STOP_UNDI: u16 = 0x0015;
pub const UNLOAD_STACK: u16 = 0x0070;

/// The name of a function code, for messages.
pub fn function_name(opcode: u16) -> &'static str {
    match opcode {
        START_UNDI => "PXENV_START_UNDI",
        UNDI_STARTUP => "PXENV_UNDI_STARTUP",
        UNDI_CLEANUP => "PXENV_UNDI_CLEANUP",
        UNDI_INITIALIZE => "PXENV_UNDI_INITIALIZE",
        UNDI_SHUTDOWN => "PXENV_UNDI_SHUTDOWN",
        UNDI_OPEN => "PXENV_UNDI_OPEN",
        UNDI_CLOSE => "PXENV_UNDI_CLOSE",
        UNDI_TRANSMIT => "PXENV_UNDI_TRANSMIT",
        UNDI_SET_STATION_ADDRESS => "PXENV_UNDI_SET_STATION_ADDRESS",
        UNDI_GET_INFORMATION => "PXENV_UNDI_GET_INFORMATION",
        UNDI_GET_NIC_TYPE => "PXENV_UNDI_GET_NIC_TYPE",
        UNDI_ISR => "PXENV_UNDI_ISR",
        STOP_UNDI => "PXENV_STOP_UNDI",
        UNLOAD_STACK => "PXENV_UNLOAD_STACK",
        _ => "PXENV call",
    }
}

// Status codes (the first word of every parameter block).
pub const STATUS_SUCCESS: u16 = 0x0000;
pub const STATUS_FAILURE: u16 = 0x0001;
pub const STATUS_OUT_OF_RESOURCES: u16 = 0x0006;
pub const STATUS_UNDI_INVALID_STATE: u16 = 0x006a;
pub const STATUS_UNDI_TRANSMIT_ERROR: u16 = 0x006b;

/// What a status code means, for messages (the ones a driver meets; the PXE specification
/// lists the rest).
pub fn status_name(status: u16) -> &'static str {
    match status {
        STATUS_SUCCESS => "success",
        STATUS_FAILURE => "failure",
        STATUS_OUT_OF_RESOURCES => "out of resources",
        0x0061 => "media test failed",
        0x0063 => "cannot initialize the card",
        0x0067 => "bad MAC address",
        STATUS_UNDI_INVALID_STATE => "invalid state",
        STATUS_UNDI_TRANSMIT_ERROR => "transmit error",
        _ => "see the PXE specification",
    }
}

/// s_PXENV_UNDI_OPEN: Status, OpenFlag, PktFilter, then the multicast list (count, 8 MACs).
pub mod open {
    pub const PKT_FILTER: usize = 4;
    pub const LEN: usize = 56;
    pub const FLTR_DIRECTED: u16 = 0x0001;
    pub const FLTR_BRDCST: u16 = 0x0002;
}

/// s_PXENV_START_UNDI: Status, then AX, BX, DX, DI, ES as the ROM's init routine got them.
pub mod start_undi {
    pub const AX: usize = 2;
    pub const BX: usize = 4;
    pub const DX: usize = 6;
    /// BX and DX for a PCI card: no ISA PnP card select number, no read port.
    pub const NO_ISAPNP: u16 = 0xffff;
}

/// s_PXENV_UNDI_SET_STATION_ADDRESS: Status, then the address (16 bytes, Ethernet uses 6).
pub const STATION_ADDRESS: usize = 2;

/// s_PXENV_UNDI_TRANSMIT: Status, Protocol, XmitFlag, DestAddr, TBD, Reserved[2].
pub mod transmit {
    pub const PROTOCOL: usize = 2;
    pub const XMIT_FLAG: usize = 3;
    pub const DEST_ADDR: usize = 4;
    pub const TBD: usize = 8;
    pub const LEN: usize = 20;
    /// The frame carries its own Ethernet header.
    pub const P_UNKNOWN: u8 = 0;
    pub const P_IP: u8 = 1;
    pub const P_ARP: u8 = 2;
    pub const P_RARP: u8 = 3;
    pub const XMT_DESTADDR: u8 = 0;
    pub const XMT_BROADCAST: u8 = 1;
}

/// s_PXENV_UNDI_TBD: ImmedLength, Xmit, DataBlkCount, DataBlock[8] (8 bytes each).
pub mod tbd {
    pub const IMMED_LENGTH: usize = 0;
    pub const XMIT: usize = 2;
    pub const DATA_BLK_COUNT: usize = 6;
    pub const LEN: usize = 8 + 8 * 8;
}

/// s_PXENV_UNDI_GET_INFORMATION.
pub mod information {
    pub const BASE_IO: usize = 2;
    pub const INT_NUMBER: usize = 4;
    pub const MAX_TRAN_UNIT: usize = 6;
    pub const HW_TYPE: usize = 8;
    pub const HW_ADDR_LEN: usize = 10;
    pub const CURRENT_NODE_ADDRESS: usize = 12;
    pub const PERM_NODE_ADDRESS: usize = 28;
    pub const ROM_ADDRESS: usize = 44;
    pub const RX_BUF_CT: usize = 46;
    pub const TX_BUF_CT: usize = 48;
    pub const LEN: usize = 50;
    /// Ethernet (RFC 1010's hardware type 1).
    pub const ETHER_TYPE: u16 = 1;
}

/// s_PXENV_UNDI_GET_NIC_TYPE: Status, NicType, then for PCI and CardBus: vendor, device,
/// class, subclass, programming interface, revision, bus:dev.fn, subsystem vendor and device.
pub mod nic_type {
    pub const NIC_TYPE: usize = 2;
    pub const VENDOR_ID: usize = 3;
    pub const DEVICE_ID: usize = 5;
    pub const BASE_CLASS: usize = 7;
    pub const SUB_CLASS: usize = 8;
    pub const REVISION: usize = 10;
    pub const BUS_DEV_FUNC: usize = 11;
    pub const LEN: usize = 17;
    pub const PCI_NIC: u8 = 2;
    pub const PNP_NIC: u8 = 3;
    pub const CARDBUS_NIC: u8 = 4;
}

/// s_PXENV_UNDI_ISR: Status, FuncFlag, BufferLength, FrameLength, FrameHeaderLength, Frame,
/// ProtType, PktType.
pub mod isr {
    pub const FUNC_FLAG: usize = 2;
    pub const BUFFER_LENGTH: usize = 4;
    pub const FRAME_LENGTH: usize = 6;
    pub const FRAME_HEADER_LENGTH: usize = 8;
    pub const FRAME: usize = 10;
    pub const LEN: usize = 16;
    pub const IN_START: u16 = 1;
    pub const IN_PROCESS: u16 = 2;
    pub const IN_GET_NEXT: u16 = 3;
    /// Out: the same value means "ours" after START and "done" after PROCESS/GET_NEXT.
    pub const OUT_OURS: u16 = 0;
    pub const OUT_DONE: u16 = 0;
    pub const OUT_NOT_OURS: u16 = 1;
    pub const OUT_TRANSMIT: u16 = 2;
    pub const OUT_RECEIVE: u16 = 3;
    pub const OUT_BUSY: u16 = 4;
}

pub fn get_u16(block: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([block[at], block[at + 1]])
}

pub fn put_u16(block: &mut [u8], at: usize, value: u16) {
    block[at..at + 2].copy_from_slice(&value.to_le_bytes());
}
