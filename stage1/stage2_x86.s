# The 32-bit x86 platform's end of stage 2 (assembled right after stage2.s, which calls
# `check_cpu` in real mode and jumps to `protected_mode`): the CPU must have the Pentium
# baseline the i586 runtime is built for; then netloader_main(&boot_info) in 32-bit Rust,
# paging off, flat 4 GiB segments. No page tables, no long mode, no SSE.

    .section .stage2, "ax"
    .code16
# check_cpu: CPUID must exist (no 386, no early 486), and report an FPU and CMPXCHG8B (no
# 486 at all): the i586 build's 64-bit atomics use CMPXCHG8B and x87 loads. The TSC is not
# needed: the runtime keeps time with the PIT where CPUID reports none.
check_cpu:
    pushfl
    popl %eax
    movl %eax, %ecx
    xorl $0x200000, %eax           # EFLAGS.ID can be toggled only where CPUID exists
    pushl %eax
    popfl
    pushfl
    popl %eax
    pushl %ecx
    popfl
    xorl %ecx, %eax
    jz cpu_too_old
    xorl %eax, %eax
    cpuid
    testl %eax, %eax               # leaf 1 must exist
    jz cpu_too_old
    movl $1, %eax
    cpuid
    andl $0x101, %edx              # bit 0 FPU, bit 8 CX8
    cmpl $0x101, %edx
    jne cpu_too_old
    ret

cpu_too_old:
    movw $msg_cpu_old, %si
    jmp fatal

msg_cpu_old:
    .asciz "E-CPU-OLD: this CPU lacks the Pentium baseline (CPUID, an FPU, CMPXCHG8B). netloader needs a Pentium or newer."

    .code32
protected_mode:
    movw $SEL_DATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl $0x7c00, %esp

    movl $__bss_start, %edi        # zero .bss (the stack lives there)
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb

    movl %cr0, %eax                # the FPU: EM off, MP and NE on, initialised
    andl $~0x4, %eax
    orl $0x22, %eax
    movl %eax, %cr0
    fninit
    movl $boot_stack_top - 12, %esp  # 16-byte aligned at the call, as the ABI wants
    pushl $boot_info
    call netloader_main
1:  cli
    hlt
    jmp 1b
