//! Intel 8255x (82557/8/9, 82550/1, 82562, ICH parts) register offsets in the I/O BAR and the
//! bits of the system control block (SCB), command blocks and receive frame descriptors, from
//! Intel's "8255x 10/100 Mbps Ethernet Controller Family Open Source Software Developer
//! Manual"; only those the driver and its model use.

/// SCB status: CU state in bits 7-6, RU state in bits 5-2.
pub const SCB_STATUS: u16 = 0x00;
/// SCB STAT/ACK: event bits, written 1 to acknowledge.
pub const SCB_ACK: u16 = 0x01;
/// SCB command: CU command in bits 7-4, RU command in bits 2-0. The chip clears it when it
/// has taken the command; the next may be written only then.
pub const SCB_CMD: u16 = 0x02;
/// SCB interrupt mask: bit 0 (M) masks every interrupt.
pub const SCB_INTMASK: u16 = 0x03;
/// SCB general pointer: the address a CU or RU command uses.
pub const SCB_POINTER: u16 = 0x04;
/// PORT: reset commands (32-bit write).
pub const PORT: u16 = 0x08;
/// Serial EEPROM control (Microwire): bits below.
pub const EEPROM: u16 = 0x0E;
/// MDI control: talks to the PHY.
pub const MDI: u16 = 0x10;

pub const CU_STATE_SHIFT: u8 = 6;
pub const CU_SUSPENDED: u8 = 1;
pub const RU_STATE_SHIFT: u8 = 2;
pub const RU_STATE_MASK: u8 = 0xF;
pub const RU_READY: u8 = 4;

pub const CU_START: u8 = 0x10;
pub const CU_RESUME: u8 = 0x20;
pub const CU_LOAD_BASE: u8 = 0x60;
pub const RU_START: u8 = 0x01;
pub const RU_LOAD_BASE: u8 = 0x06;

pub const INTMASK_ALL: u8 = 0x01;

/// PORT selections: a software reset (as power-on, but the PCI configuration stays), and a
/// selective reset (the CU and RU stop, nothing else changes).
pub const PORT_SOFTWARE_RESET: u32 = 0;
pub const PORT_SELECTIVE_RESET: u32 = 2;

pub const EE_SK: u8 = 1 << 0;
pub const EE_CS: u8 = 1 << 1;
pub const EE_DI: u8 = 1 << 2;
pub const EE_DO: u8 = 1 << 3;
/// The Microwire read opcode (after the start bit): 10.
pub const EE_READ: u32 = 0b10;

pub const MDI_READ: u32 = 0b10 << 26;
pub const MDI_PHY_SHIFT: u32 = 21;
pub const MDI_REG_SHIFT: u32 = 16;
pub const MDI_READY: u32 = 1 << 28;
/// PHY register 1 (basic mode status), bit 2: link up (latched low).
pub const MII_BMSR: u32 = 1;
pub const BMSR_LINK: u32 = 1 << 2;

/// Command block / RFD word 0: status. C: complete; OK: without error.
pub const STATUS_C: u16 = 1 << 15;
pub const STATUS_OK: u16 = 1 << 13;
/// Word 1: command. EL: the last block (the unit goes idle, or out of resources); S: suspend
/// after this block.
pub const CMD_EL: u16 = 1 << 15;
pub const CMD_S: u16 = 1 << 14;
pub const CMD_IA_SETUP: u16 = 1;
pub const CMD_CONFIGURE: u16 = 2;
pub const CMD_TX: u16 = 4;
pub const CMD_MASK: u16 = 0x7;
/// A TCB's TBD array address in simplified mode: none, the frame follows the TCB.
pub const TBD_NONE: u32 = 0xFFFF_FFFF;
/// TCB byte count: EOF (the whole frame is here).
pub const TCB_EOF: u16 = 1 << 15;
/// RFD actual count: the count is bits 13-0 (EOF and F above).
pub const RFD_COUNT_MASK: u16 = 0x3FFF;

/// The configure command's 22 bytes: the manual's defaults (standard TCB and counters, MII
/// PHY, 7-byte preamble, no source address insertion), with what matters here: broadcasts in,
/// not promiscuous, short frames padded on transmit, CRC neither passed up nor checked by us.
pub const CONFIGURE: [u8; 22] = [
    22,   // 0: bytes in this block
    0x08, // 1: RX FIFO limit
    0x00, // 2: adaptive IFS
    0x00, // 3
    0x00, // 4: RX DMA max byte count: none
    0x00, // 5: TX DMA max byte count: none
    0x32, // 6: standard TCB (bit 4), standard statistics (bit 5)
    0x03, // 7: discard short receive (bit 0), 1 underrun retry
    0x01, // 8: MII mode (bit 0); CSMA on (bit 7 clear)
    0x00, // 9
    0x2E, // 10: no source address insertion (bit 3), 7-byte preamble
    0x00, // 11: linear priority
    0x60, // 12: interframe spacing 6 x 16 bit times
    0x00, // 13
    0xF2, // 14
    0x48, // 15: not promiscuous (bit 0), broadcasts received (bit 1 clear)
    0x00, // 16
    0x40, // 17
    0xF2, // 18: pad short frames (bit 1); no CRC transfer (bit 2), no stripping (bit 0)
    0x80, // 19: full duplex by the FDX# pin
    0x3F, // 20: one individual address (bit 6 clear)
    0x05, // 21: no "multicast all" (bit 3 clear)
];
