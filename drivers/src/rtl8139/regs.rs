//! RTL8139 register offsets (I/O space) and bits, from the RTL8139(A/B/C/D) datasheets and
//! programming guide; only those the driver uses.

/// ID registers: the MAC address, bytes 0-5.
pub const IDR0: u16 = 0x00;
/// Transmit status of slot n: TSD0 + 4n (32 bits).
pub const TSD0: u16 = 0x10;
/// Transmit start address of slot n: TSAD0 + 4n (32 bits).
pub const TSAD0: u16 = 0x20;
/// Receive buffer start address (32 bits).
pub const RBSTART: u16 = 0x30;
/// Command register (8 bits).
pub const CR: u16 = 0x37;
/// Current address of packet read (16 bits), kept 16 bytes behind the real read offset.
pub const CAPR: u16 = 0x38;
/// Current buffer address: where the chip writes next (16 bits).
pub const CBR: u16 = 0x3A;
pub const IMR: u16 = 0x3C;
pub const ISR: u16 = 0x3E;
pub const TCR: u16 = 0x40;
pub const RCR: u16 = 0x44;
/// 93C46 command register: unlocks the CONFIG registers.
pub const CR9346: u16 = 0x50;
pub const CONFIG1: u16 = 0x52;
/// Media status register (8 bits).
pub const MSR: u16 = 0x58;
/// Basic mode status register of the internal PHY (16 bits).
pub const BMSR: u16 = 0x64;

pub const CR_BUFE: u8 = 1 << 0;
pub const CR_TE: u8 = 1 << 2;
pub const CR_RE: u8 = 1 << 3;
pub const CR_RST: u8 = 1 << 4;

pub const CR9346_UNLOCK: u8 = 0xC0;
pub const CR9346_LOCK: u8 = 0x00;

/// LINKB: *inverse* link status, 0 = link up.
pub const MSR_LINKB: u8 = 1 << 2;
pub const BMSR_LINK: u16 = 1 << 2;

pub const ISR_ROK: u16 = 1 << 0;
pub const ISR_RXOVW: u16 = 1 << 4;
pub const ISR_FOVW: u16 = 1 << 6;

/// RCR: accept frames to our address and broadcasts.
pub const RCR_APM: u32 = 1 << 1;
pub const RCR_AB: u32 = 1 << 3;
/// WRAP: a frame that reaches the end of the 8 KiB ring is written on past the end (into the
/// slack) instead of continuing at the start.
pub const RCR_WRAP: u32 = 1 << 7;
/// Max DMA burst: unlimited.
pub const RCR_MXDMA_UNLIMITED: u32 = 0b111 << 8;
/// RBLEN 00: 8 KiB + 16 byte ring.
pub const RCR_RBLEN_8K: u32 = 0b00 << 11;
/// RX FIFO threshold: none (whole frame before DMA).
pub const RCR_RXFTH_NONE: u32 = 0b111 << 13;

/// TCR: max DMA burst 2048 bytes, standard interframe gap.
pub const TCR_MXDMA_2048: u32 = 0b111 << 8;
pub const TCR_IFG_STANDARD: u32 = 0b11 << 24;

/// TSD: bits 0-12 size, OWN (DMA done), TUN (underrun), TOK (sent), early threshold,
/// TABT (aborted).
pub const TSD_SIZE_MASK: u32 = 0x1FFF;
pub const TSD_OWN: u32 = 1 << 13;
pub const TSD_TUN: u32 = 1 << 14;
pub const TSD_TOK: u32 = 1 << 15;
/// Early TX threshold 256 bytes (8 × 32).
pub const TSD_ERTXTH_256: u32 = 8 << 16;
pub const TSD_TABT: u32 = 1 << 30;

/// Receive status in the per-frame header: frame received OK.
pub const RX_ROK: u16 = 1 << 0;
/// Length field a chip shows while it is still copying the frame in (early RX).
pub const RX_LEN_EARLY: usize = 0xFFF0;

/// TCR bits 30-26 and 23-22: the chip's hardware version.
pub const TCR_HWVERID_MASK: u32 = 0x7CC0_0000;
/// The RTL8139C+, which has C+ mode (descriptor rings) beside the ring buffer.
pub const TCR_HWVERID_8139CPLUS: u32 = 0x7480_0000;

// C+ mode (RTL8139C+ only): descriptor rings as on the RTL8169.
/// Transmit normal-priority descriptors start address, 64 bits (C+ mode's use of TSAD0/1).
pub const TNPDS: u16 = 0x20;
/// Transmit priority polling (8 bits): NPQ tells the chip to look at the normal queue.
pub const TPPOLL: u16 = 0xD9;
pub const TPPOLL_NPQ: u8 = 1 << 6;
/// C+ command register (16 bits).
pub const CPCR: u16 = 0xE0;
pub const CPCR_TX_ENABLE: u16 = 1 << 0;
pub const CPCR_RX_ENABLE: u16 = 1 << 1;
/// Receive descriptor start address, 64 bits.
pub const RDSAR: u16 = 0xE4;

/// Descriptor word 0: owned by the chip, end of ring, first and last segment.
pub const DESC_OWN: u32 = 1 << 31;
pub const DESC_EOR: u32 = 1 << 30;
pub const DESC_FS: u32 = 1 << 29;
pub const DESC_LS: u32 = 1 << 28;
/// RX descriptor word 0: receive error summary (valid with LS).
pub const RX_DESC_RES: u32 = 1 << 20;
/// RX descriptor word 0: buffer size (given), frame length with CRC (returned).
pub const RX_DESC_LEN_MASK: u32 = 0x1FFF;
/// TX descriptor word 0: frame length.
pub const TX_DESC_LEN_MASK: u32 = 0xFFFF;
