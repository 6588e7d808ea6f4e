//! CPU exceptions: every vector prints what happened and where, instead of a silent triple
//! fault. Each platform installs its own table and entry stubs (`install`); they all end here.

const NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor overrun",
    "invalid TSS",
    "segment not present",
    "stack fault",
    "general protection",
    "page fault",
    "reserved",
    "x87 floating point",
    "alignment check",
    "machine check",
    "SIMD floating point",
    "virtualization",
    "control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection",
    "VMM communication",
    "security",
    "reserved",
];

/// What a platform's entry stub saw.
pub struct Fault {
    pub vector: u64,
    pub error_code: u64,
    pub ip: u64,
    pub sp: u64,
    pub cr2: u64,
}

/// Install the exception handlers. Interrupts stay off: drivers poll.
pub fn init() {
    super::platform::install_exception_handlers();
}

/// Print the fault on both consoles, then stop for good.
pub fn report(fault: &Fault) -> ! {
    let name = NAMES
        .get(fault.vector as usize)
        .copied()
        .unwrap_or("unknown");
    crate::println!(
        "\nE-CPU-EXCEPTION: {} (vector {}, error code {:#x}) at ip {:#x}, sp {:#x}, cr2 {:#x}.",
        name,
        fault.vector,
        fault.error_code,
        fault.ip,
        fault.sp,
        fault.cr2
    );
    crate::println!("This is a netloader bug: please report it with this screen.");
    super::halt_forever()
}
