//! AMD PCnet-PCI II / FAST III register offsets and bits (Am79C970A and Am79C973 datasheets);
//! only those the driver and its model use.

/// The address PROM: the MAC address in bytes 0-5 (byte reads in word I/O mode, dword reads
/// in dword I/O mode).
pub const APROM: u16 = 0x00;

/// Word I/O mode (WIO, after a hardware reset): 16-bit accesses.
pub const WIO_RDP: u16 = 0x10;
pub const WIO_RAP: u16 = 0x12;
/// Reading it resets the chip (S_RESET).
pub const WIO_RESET: u16 = 0x14;
pub const WIO_BDP: u16 = 0x16;

/// Dword I/O mode (DWIO: entered by a 32-bit write to RDP, left only by a hardware reset on
/// real chips): 32-bit accesses, the upper 16 bits of data ignored.
pub const DWIO_RDP: u16 = 0x10;
pub const DWIO_RAP: u16 = 0x14;
pub const DWIO_RESET: u16 = 0x18;
pub const DWIO_BDP: u16 = 0x1C;

/// CSR0, the controller status: commands and status bits (the status bits are written 1 to
/// clear, the commands are set-only).
pub const CSR0: u16 = 0;
pub const CSR0_INIT: u16 = 1 << 0;
pub const CSR0_STRT: u16 = 1 << 1;
pub const CSR0_STOP: u16 = 1 << 2;
pub const CSR0_TDMD: u16 = 1 << 3;
pub const CSR0_TXON: u16 = 1 << 4;
pub const CSR0_RXON: u16 = 1 << 5;
pub const CSR0_INEA: u16 = 1 << 6;
pub const CSR0_IDON: u16 = 1 << 8;
pub const CSR0_TINT: u16 = 1 << 9;
pub const CSR0_RINT: u16 = 1 << 10;
pub const CSR0_MISS: u16 = 1 << 12;
/// Every write-1-to-clear status bit.
pub const CSR0_STATUS: u16 = 0x7F00;

/// CSR1/CSR2: the initialization block's address, low and high halves.
pub const CSR1: u16 = 1;
pub const CSR2: u16 = 2;
/// CSR3: interrupt masks. Ours: every source masked (the driver polls, INEA stays off too).
pub const CSR3: u16 = 3;
pub const CSR3_MASK_ALL: u16 = 0x5F00;
/// CSR4: test and features. DPOLL: no transmit polling; a frame goes when TDMD says so.
pub const CSR4: u16 = 4;
pub const CSR4_DPOLL: u16 = 1 << 12;
/// CSR4's value after reset: its own interrupt sources (JAB, TXSTRT, RCVCCO, MFCO) masked.
pub const CSR4_MASKS: u16 = 0x0115;
/// CSR88/CSR89: the chip ID (part number in bits 12-27 of the two).
pub const CSR88: u16 = 88;
pub const CSR89: u16 = 89;
/// CSR15, the mode (also in the init block): 0 = normal, receive our address and broadcasts.
pub const CSR15: u16 = 15;

/// BCR4: LED0, which shows link status; bit 15 is its current state.
pub const BCR4: u16 = 4;
pub const BCR_LED_ON: u16 = 1 << 15;
/// BCR18: burst and bus control; bit 7 is DWIO.
pub const BCR18: u16 = 18;
pub const BCR18_DWIO: u16 = 1 << 7;
/// BCR20: software style. 2 = PCnet-PCI: 32-bit addresses and 16-byte descriptors (SSIZE32).
pub const BCR20: u16 = 20;
pub const SWSTYLE_PCNET_PCI: u16 = 2;

/// Descriptor word 1 (SWSTYLE 2), RX and TX: bits 0-11 the buffer's byte count as a negative
/// two's complement number, bits 12-15 ones, then the status bits.
pub const DESC_BCNT_MASK: u32 = 0x0FFF;
pub const DESC_ONES: u32 = 0xF000;
pub const DESC_OWN: u32 = 1 << 31;
pub const DESC_ERR: u32 = 1 << 30;
pub const DESC_STP: u32 = 1 << 25;
pub const DESC_ENP: u32 = 1 << 24;
/// RX descriptor word 2: the frame's length, FCS included.
pub const RMD2_MCNT_MASK: u32 = 0x0FFF;
/// RX descriptor word 1: error bits (with ERR): framing, overflow, CRC, buffer.
pub const RMD1_FRAM: u32 = 1 << 29;
pub const RMD1_OFLO: u32 = 1 << 28;
pub const RMD1_CRC: u32 = 1 << 27;
pub const RMD1_BUFF: u32 = 1 << 26;
