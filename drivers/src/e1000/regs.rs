//! Register offsets and bits of the 8254x/8257x legacy register set (Intel 8254x Software
//! Developer's Manual, section 13), only those the driver uses.

pub const CTRL: u32 = 0x0000;
pub const STATUS: u32 = 0x0008;
pub const EERD: u32 = 0x0014;
pub const ICR: u32 = 0x00C0;
pub const IMC: u32 = 0x00D8;
pub const RCTL: u32 = 0x0100;
pub const TCTL: u32 = 0x0400;
pub const TIPG: u32 = 0x0410;
pub const RDBAL: u32 = 0x2800;
pub const RDBAH: u32 = 0x2804;
pub const RDLEN: u32 = 0x2808;
pub const RDH: u32 = 0x2810;
pub const RDT: u32 = 0x2818;
pub const TDBAL: u32 = 0x3800;
pub const TDBAH: u32 = 0x3804;
pub const TDLEN: u32 = 0x3808;
pub const TDH: u32 = 0x3810;
pub const TDT: u32 = 0x3818;
/// Multicast table array: 128 registers.
pub const MTA: u32 = 0x5200;
pub const MTA_COUNT: u32 = 128;
/// Receive address 0, low and high halves.
pub const RAL0: u32 = 0x5400;
pub const RAH0: u32 = 0x5404;

pub const CTRL_LRST: u32 = 1 << 3;
pub const CTRL_ASDE: u32 = 1 << 5;
pub const CTRL_SLU: u32 = 1 << 6;
pub const CTRL_ILOS: u32 = 1 << 7;
pub const CTRL_FRCSPD: u32 = 1 << 11;
pub const CTRL_FRCDPLX: u32 = 1 << 12;
pub const CTRL_RST: u32 = 1 << 26;
pub const CTRL_VME: u32 = 1 << 30;
pub const CTRL_PHY_RST: u32 = 1 << 31;

pub const STATUS_LU: u32 = 1 << 1;

pub const EERD_START: u32 = 1 << 0;
pub const EERD_DATA_SHIFT: u32 = 16;

pub const RAH_AV: u32 = 1 << 31;

pub const RCTL_EN: u32 = 1 << 1;
pub const RCTL_BAM: u32 = 1 << 15;
/// BSIZE = 00 with BSEX = 0: 2048-byte buffers.
pub const RCTL_BSIZE_2048: u32 = 0;
pub const RCTL_SECRC: u32 = 1 << 26;

pub const TCTL_EN: u32 = 1 << 1;
pub const TCTL_PSP: u32 = 1 << 3;
/// Collision threshold 15 (the manual's recommended value).
pub const TCTL_CT: u32 = 0x0F << 4;
/// Collision distance 64 byte times (full duplex).
pub const TCTL_COLD: u32 = 0x40 << 12;

/// IPGT 10, IPGR1 8, IPGR2 6: the manual's values for copper (IEEE 802.3).
pub const TIPG_DEFAULT: u32 = 10 | (8 << 10) | (6 << 20);

/// Descriptor status: descriptor done.
pub const DESC_DD: u8 = 1 << 0;
/// RX status: end of packet.
pub const RXD_EOP: u8 = 1 << 1;
/// RX errors that make a frame unusable: CRC/alignment, symbol, sequence, carrier
/// extension, RX data error. (Checksum-offload errors are not enabled and not checked.)
pub const RXD_ERR_FRAME: u8 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 4) | (1 << 7);

/// TX command: end of packet, insert FCS, report status.
pub const TXD_CMD_EOP: u8 = 1 << 0;
pub const TXD_CMD_IFCS: u8 = 1 << 1;
pub const TXD_CMD_RS: u8 = 1 << 3;
