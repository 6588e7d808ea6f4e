//! The hand-off: a small position-independent trampoline, copied to free low memory with a
//! block of data after it, leaves the runtime's CPU mode, copies the kernel pieces that had to
//! wait (those over the loader itself), and enters the kernel in 32-bit protected mode with paging off,
//! A20 on, interrupts off, the registers the protocol names and flat segments at the
//! selectors it names, from a GDT of the block's own (stage 2's is gone with the loader).
//!
//! Two parts, copied one after the other:
//! - the platform's way out (`arch::handoff_leave_code`): loads the block's GDT and
//!   far-returns to its 32-bit code selector; from long mode it then turns paging and
//!   EFER.LME off (long mode is over), from 32-bit protected mode there is nothing more to
//!   leave. It falls through to the next byte with EDX = the block;
//! - `handoff_protected` (32-bit, paging off, EDX = the block): data segments, the deferred
//!   copies, the registers, the jump. It uses no stack: the copies may overwrite it. The jump
//!   is a `ret` from a stack pointer aimed at the block's entry field, after which ESP points
//!   into the block (no protocol here defines ESP at entry).

use core::ops::Range;

/// One deferred copy: `len` bytes from `src` to `dst`, then `zero` zero bytes.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Copy {
    pub src: u32,
    pub dst: u32,
    pub len: u32,
    pub zero: u32,
}

/// The general registers at entry (ESP is not set: see the module docs).
#[derive(Clone, Copy, Default, Debug)]
pub struct Registers {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
    pub esi: u32,
    pub edi: u32,
    pub ebp: u32,
}

/// Where the flat 4 GiB code and data segments sit in the hand-off's GDT (the table made at
/// compile time).
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    code: u16,
    data: u16,
    gdt: [u64; 4],
}

impl Selectors {
    /// Multiboot 1 and 2 want flat segments at any selector: stage 2's, as before.
    pub const FLAT: Selectors = Selectors::new(0x08, 0x10);
    /// Linux's 32-bit boot protocol: `__BOOT_CS` and `__BOOT_DS` (boot.rst).
    #[cfg_attr(not(feature = "linux"), allow(dead_code))]
    pub const LINUX: Selectors = Selectors::new(0x10, 0x18);

    /// Two different selectors among the GDT's three slots (0x08, 0x10, 0x18), RPL 0. The
    /// GDT: a null descriptor, then flat 32-bit code (execute/read) at `code` and flat data
    /// (read/write) at `data`, both 4 GiB with 4 KiB granularity, accessed bit set (so the CPU
    /// never writes to the table).
    pub const fn new(code: u16, data: u16) -> Selectors {
        const CODE32: u64 = 0x00cf_9b00_0000_ffff;
        const DATA32: u64 = 0x00cf_9300_0000_ffff;
        assert!(code != data);
        assert!(matches!(code, 0x08 | 0x10 | 0x18) && matches!(data, 0x08 | 0x10 | 0x18));
        let mut gdt = [0; 4];
        gdt[(code >> 3) as usize] = CODE32;
        gdt[(data >> 3) as usize] = DATA32;
        Selectors { code, data, gdt }
    }
}

/// Where and how a kernel is entered.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub address: u32,
    pub registers: Registers,
    pub selectors: Selectors,
}

impl Entry {
    /// Multiboot 1 and 2: EAX = the protocol's magic, EBX = the boot information.
    pub fn multiboot(address: u32, magic: u32, info: u32) -> Entry {
        Entry {
            address,
            registers: Registers {
                eax: magic,
                ebx: info,
                ..Registers::default()
            },
            selectors: Selectors::FLAT,
        }
    }
}

impl Entry {
    /// Linux's 32-bit entry: ESI = the zero page (boot_params), EBP = EDI = EBX = 0 (and the
    /// others too), CS = 0x10, DS = ES = SS = 0x18.
    #[cfg(feature = "linux")]
    pub fn linux(address: u32, boot_params: u32) -> Entry {
        Entry {
            address,
            registers: Registers {
                esi: boot_params,
                ..Registers::default()
            },
            selectors: Selectors::LINUX,
        }
    }
}

/// The block after the code, as the assembly reads it (offsets asserted below).
#[repr(C)]
struct Block {
    gdt: [u64; 4],
    /// The `lgdt` operand: a 16-bit limit, then the 64-bit base.
    gdtr: [u8; 16],
    entry: u32,
    eax: u32,
    ebx: u32,
    ecx: u32,
    edx: u32,
    esi: u32,
    edi: u32,
    ebp: u32,
    code: u32,
    data: u32,
    count: u32,
    _pad: u32,
}

const _: () = {
    assert!(core::mem::offset_of!(Block, gdtr) == 32);
    // What the platform's way out reads (arch::handoff_leave_code).
    assert!(core::mem::offset_of!(Block, gdtr) == crate::arch::HANDOFF_GDTR_AT);
    assert!(core::mem::offset_of!(Block, code) == crate::arch::HANDOFF_CODE_SELECTOR_AT);
    assert!(core::mem::offset_of!(Block, entry) == 48);
    assert!(core::mem::offset_of!(Block, eax) == 52);
    assert!(core::mem::offset_of!(Block, edx) == 64);
    assert!(core::mem::offset_of!(Block, ebp) == 76);
    assert!(core::mem::offset_of!(Block, code) == 80);
    assert!(core::mem::offset_of!(Block, data) == 84);
    assert!(core::mem::offset_of!(Block, count) == 88);
    assert!(core::mem::size_of::<Block>() == BLOCK_BYTES as usize);
};

/// Bytes the trampoline needs at the start of its area: code, then the block and the copies.
pub const CODE_BYTES: u64 = 256;
const BLOCK_BYTES: u64 = 96;
pub const MAX_COPIES: usize = 32;
pub const AREA_HEADER_BYTES: u64 = CODE_BYTES + BLOCK_BYTES + 16 * MAX_COPIES as u64;

unsafe extern "C" {
    static handoff_protected: u8;
    static handoff_protected_end: u8;
}

core::arch::global_asm!(
    concat!(
        crate::arch::handoff_section!(),
        r#"
    .code32
    .globl handoff_protected
    .globl handoff_protected_end
handoff_protected:                 # 32-bit, paging off, EDX: the block
    movl 84(%edx), %eax            # the protocol's flat data selector
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl 88(%edx), %ebp            # copies: no stack from here on (it may be overwritten)
    leal 96(%edx), %ebx
    cld
2:  testl %ebp, %ebp
    jz 3f
    movl 0(%ebx), %esi
    movl 4(%ebx), %edi
    movl 8(%ebx), %ecx
    rep movsb
    movl 12(%ebx), %ecx
    xorl %eax, %eax
    rep stosb
    addl $16, %ebx
    decl %ebp
    jmp 2b
3:  movl 52(%edx), %eax            # the registers the protocol names
    movl 56(%edx), %ebx
    movl 60(%edx), %ecx
    movl 68(%edx), %esi
    movl 72(%edx), %edi
    movl 76(%edx), %ebp
    leal 48(%edx), %esp            # the entry address, for ret
    movl 64(%edx), %edx
    ret
handoff_protected_end:
"#,
        crate::arch::native_code_mode!()
    ),
    options(att_syntax)
);

/// Jump to the kernel. `area` is low memory that no kernel byte lands on and the copies do not
/// touch, at least `AREA_HEADER_BYTES` long.
///
/// # Safety
/// Everything is in place: segments loaded (or listed in `copies`), modules, the boot
/// information; the NIC is closed. Nothing of the runtime is needed after this.
pub unsafe fn enter(area: Range<u64>, copies: &[Copy], entry: &Entry) -> ! {
    assert!(copies.len() <= MAX_COPIES && area.end - area.start >= AREA_HEADER_BYTES);
    assert!(area.end <= 1 << 32 && area.start.is_multiple_of(16));
    let block_at = area.start + CODE_BYTES;
    let mut gdtr = [0u8; 16];
    gdtr[..2].copy_from_slice(&(4 * 8 - 1u16).to_le_bytes());
    gdtr[2..10].copy_from_slice(&block_at.to_le_bytes()); // the GDT opens the block
    let block = Block {
        gdt: entry.selectors.gdt,
        gdtr,
        entry: entry.address,
        eax: entry.registers.eax,
        ebx: entry.registers.ebx,
        ecx: entry.registers.ecx,
        edx: entry.registers.edx,
        esi: entry.registers.esi,
        edi: entry.registers.edi,
        ebp: entry.registers.ebp,
        code: entry.selectors.code.into(),
        data: entry.selectors.data.into(),
        count: copies.len() as u32,
        _pad: 0,
    };
    // SAFETY: the caller guarantees `area` is free low memory; the trampoline's two parts are
    // copied there byte for byte, one after the other (both are position-independent, and
    // the first falls through to the second), then the block and the copy list.
    unsafe {
        let leave = crate::arch::handoff_leave_code();
        let start = &raw const handoff_protected;
        let len = (&raw const handoff_protected_end as usize) - (start as usize);
        assert!((leave.len() + len) as u64 <= CODE_BYTES);
        let code = area.start as *mut u8;
        core::ptr::copy_nonoverlapping(leave.as_ptr(), code, leave.len());
        core::ptr::copy_nonoverlapping(start, code.add(leave.len()), len);
        let block_ptr = block_at as *mut Block;
        block_ptr.write(block);
        let list = (block_at + BLOCK_BYTES) as *mut Copy;
        core::ptr::copy_nonoverlapping(copies.as_ptr(), list, copies.len());
        crate::arch::jump_to_handoff(code, block_ptr.cast())
    }
}
