# The x86_64 platform's end of stage 2 (assembled right after stage2.s, which calls
# `check_cpu` in real mode and jumps to `protected_mode`): the CPU must have long mode; then
# identity page tables for the first 4 GiB in 2 MiB pages, long mode, SSE on (the prebuilt
# x86_64 core uses it freely), and netloader_main(&boot_info) in 64-bit Rust.

    .section .stage2, "ax"
    .code16
# check_cpu: CPUID must exist and report long mode (which implies PAE and SSE2).
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
    jz no_long_mode
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    btl $29, %edx
    jnc no_long_mode
    ret

no_long_mode:
    movw $msg_no_long_mode, %si
    jmp fatal

msg_no_long_mode:
    .asciz "E-CPU-NOLONGMODE: this CPU has no 64-bit long mode (x86-64). netloader needs an x86-64 CPU."

    .code32
protected_mode:
    movw $SEL_DATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl $0x7c00, %esp

    movl $__bss_start, %edi        # zero .bss (page tables and the stack live there)
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb

    # Identity map 0..4 GiB with 2 MiB pages: PML4[0] -> PDPT, PDPT[0..3] -> 4 page directories.
    movl $boot_pdpt + 3, boot_pml4
    movl $boot_pd + 3, %eax
    movl $boot_pdpt, %edi
    movl $4, %ecx
1:  movl %eax, (%edi)
    addl $4096, %eax
    addl $8, %edi
    loop 1b
    movl $boot_pd, %edi
    movl $0x83, %eax               # present, writable, 2 MiB page
    movl $2048, %ecx
2:  movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 2b

    movl %cr4, %eax
    orl $0x20, %eax                # PAE
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx         # EFER.LME
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax          # paging on: long mode is active
    movl %eax, %cr0
    ljmp $SEL_CODE64, $long_mode

    .code64
long_mode:
    movw $SEL_DATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movq %cr0, %rax                # SSE: the prebuilt core uses it freely
    andq $~0x4, %rax               # EM off
    orq $0x2, %rax                 # MP on
    movq %rax, %cr0
    movq %cr4, %rax
    orq $0x600, %rax               # OSFXSR, OSXMMEXCPT
    movq %rax, %cr4
    movabsq $boot_stack_top, %rsp
    movabsq $boot_info, %rdi
    call netloader_main
1:  cli
    hlt
    jmp 1b

    .section .bss.boot.pages, "aw", @nobits
    .p2align 12
    .globl boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
