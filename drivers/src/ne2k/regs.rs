//! NE2000 (DP8390 core, as in the RTL8029) register offsets and bits, from National's DP8390D
//! datasheet and Realtek's RTL8029AS datasheet; only those the driver and its model use.

/// Command register, in every page: stop/start, transmit, remote DMA, page select.
pub const CR: u16 = 0x00;
pub const CR_STP: u8 = 0x01;
pub const CR_STA: u8 = 0x02;
pub const CR_TXP: u8 = 0x04;
pub const CR_RD_READ: u8 = 0x08;
pub const CR_RD_WRITE: u8 = 0x10;
/// "Abort/complete remote DMA": no remote DMA.
pub const CR_RD_NONE: u8 = 0x20;
pub const CR_PAGE0: u8 = 0x00;
pub const CR_PAGE1: u8 = 0x40;

// Page 0 (writes unless noted).
/// Receive ring: first page, and one past the last page.
pub const PSTART: u16 = 0x01;
pub const PSTOP: u16 = 0x02;
/// Boundary: the last ring page the driver has read (read and write).
pub const BNRY: u16 = 0x03;
/// Transmit page start (write); transmit status (read).
pub const TPSR: u16 = 0x04;
pub const TBCR0: u16 = 0x05;
pub const TBCR1: u16 = 0x06;
/// Interrupt status (read; write 1 to clear).
pub const ISR: u16 = 0x07;
/// Remote DMA start address and byte count.
pub const RSAR0: u16 = 0x08;
pub const RSAR1: u16 = 0x09;
pub const RBCR0: u16 = 0x0A;
pub const RBCR1: u16 = 0x0B;
/// Receive, transmit and data configuration, interrupt mask.
pub const RCR: u16 = 0x0C;
pub const TCR: u16 = 0x0D;
pub const DCR: u16 = 0x0E;
pub const IMR: u16 = 0x0F;

// Page 1.
/// Physical address 0-5, then the current page (where the chip writes the next frame), then
/// the multicast filter.
pub const PAR0: u16 = 0x01;
pub const CURR: u16 = 0x07;
pub const MAR0: u16 = 0x08;

/// The remote DMA data port.
pub const DATA: u16 = 0x10;
/// Reading this port resets the chip (NE2000 boards).
pub const RESET: u16 = 0x1F;

pub const ISR_PRX: u8 = 0x01;
pub const ISR_PTX: u8 = 0x02;
pub const ISR_RXE: u8 = 0x04;
pub const ISR_TXE: u8 = 0x08;
pub const ISR_OVW: u8 = 0x10;
pub const ISR_RDC: u8 = 0x40;
pub const ISR_RST: u8 = 0x80;

/// DCR: word-wide remote DMA (WTS), normal operation (LS), FIFO threshold 8 bytes (FT1).
pub const DCR_WORD: u8 = 0x49;
/// RCR: accept broadcasts (AB); monitor mode (MON, nothing stored).
pub const RCR_AB: u8 = 0x04;
pub const RCR_MON: u8 = 0x20;
/// TCR: internal loopback (while setting up); normal.
pub const TCR_LOOPBACK: u8 = 0x02;
pub const TCR_NORMAL: u8 = 0x00;

/// The receive status bit in a frame's ring header: received without error.
pub const RSR_PRX: u8 = 0x01;

/// The card's packet memory: 16 KiB at 0x4000 (pages 0x40-0x7F), on every NE2000 board and the
/// RTL8029; 256-byte pages.
pub const PAGE_LEN: usize = 256;
pub const MEM_START_PAGE: u8 = 0x40;
pub const MEM_STOP_PAGE: u8 = 0x80;
