# Linux boot protocol test kernel: the 32-bit entry (code32_start) and the way to long mode.
#
# The image may be loaded anywhere (it says relocatable), so this code uses no absolute
# address. It finds its load address with a call on a stack of 4 bytes in the zero page's
# scratch field (boot_params.scratch, 0x1E4: Linux's own head_32.S/head_64.S do this), then
# addresses everything as load address + LX_OFF_* (lxtest.ld). It maps the image at the address
# it was linked at (KERNEL_VIRT, in the top 2 GiB) with 4 KiB pages, and the first 4 GiB
# identically with 2 MiB pages (to read what the loader handed over), enters long mode and
# calls kernel_main(&entry_state, load_address) at its linked address.
#
# Built for i586 (main.rs defines KERNEL32), for CPUs without long mode: 32-bit paging with
# 4 MiB pages (PSE, which every Pentium has) maps the first 4 GiB identically but for the 4 MiB
# at 1 GiB, where one page table maps the image (lxtest32.ld links it there); then
# kernel_main in 32-bit protected mode.
#
# entry_state layout (u32 each; mirrored by EntryState in main.rs). EAX, ECX, EDX and ESP are
# undefined at this entry and used as scratch before they could be recorded.
#    0 ebx        4 esi        8 edi       12 ebp
#   16 eflags    20 cr0       24 cr4
#   28 selectors cs, ds, es, ss, fs, gs (6 x u32)

    .set COM1, 0x3f8
    .set BP_SCRATCH_END, 0x1e8         # boot_params.scratch (u32 at 0x1e4) + 4
    .set TABLES_BYTES, 9 * 4096        # PML4, PDPT low, 4 PDs, PDPT high, PD and PT for the image
                                       # (32-bit: the page directory, then the image's table)
    .set LX_VIRT32_PDE, 0x40000000 >> 22   # the 32-bit build's KERNEL_VIRT (lxtest32.ld)

    .section .text.lx_entry32, "ax"
    .code32
    .globl lx_entry32
lx_entry32:
    movl %ebp, %eax                    # EBP's entry value, while EBP becomes the load address
    leal BP_SCRATCH_END(%esi), %esp
    call 1f
1:  popl %ebp
    pushfl                             # EFLAGS as the loader left them (no arithmetic yet)
    popl %ecx
    subl $(1b - lx_entry32), %ebp      # EBP = load address
    movl %ebx, LX_OFF_STATE + 0(%ebp)
    movl %esi, LX_OFF_STATE + 4(%ebp)
    movl %edi, LX_OFF_STATE + 8(%ebp)
    movl %eax, LX_OFF_STATE + 12(%ebp)
    movl %ecx, LX_OFF_STATE + 16(%ebp)
    movl %cr0, %eax
    movl %eax, LX_OFF_STATE + 20(%ebp)
    movl %cr4, %eax
    movl %eax, LX_OFF_STATE + 24(%ebp)
.macro SELECTOR seg, idx
    xorl %eax, %eax
    movw \seg, %ax
    movl %eax, LX_OFF_STATE + 28 + 4 * \idx(%ebp)
.endm
    SELECTOR %cs, 0
    SELECTOR %ds, 1
    SELECTOR %es, 2
    SELECTOR %ss, 3
    SELECTOR %fs, 4
    SELECTOR %gs, 5
    leal LX_OFF_STACK32_TOP(%ebp), %esp
    cld

    # --- The image is mapped with 4 KiB pages: it must be loaded at a page boundary.
    testl $0xfff, %ebp
    jz 2f
    leal LX_OFF_MSG_MISALIGNED(%ebp), %esi
    jmp fatal32
2:
.ifdef KERNEL32
    # --- Page tables (in .bss, which nobody zeroed: clear them first): the page directory
    # maps 4 GiB in 4 MiB pages, but for KERNEL_VIRT's 4 MiB, which the page table maps to the
    # image.
    leal LX_OFF_TABLES(%ebp), %ebx
    movl %ebx, %edi
    movl $(TABLES_BYTES / 4), %ecx
    xorl %eax, %eax
    rep stosl
    movl %ebx, %edi
    movl $0x83, %eax                   # present, writable, 4 MiB page
    movl $1024, %ecx
5:  movl %eax, (%edi)
    addl $0x400000, %eax
    addl $4, %edi
    loop 5b
    leal 0x1003(%ebx), %eax            # KERNEL_VIRT's entry -> the image's page table
    movl %eax, LX_VIRT32_PDE * 4(%ebx)
    leal 0x1000(%ebx), %edi            # PT[i] -> load address + i pages
    leal 3(%ebp), %eax
    movl $LX_IMAGE_PAGES, %ecx
6:  movl %eax, (%edi)
    addl $0x1000, %eax
    addl $4, %edi
    loop 6b

    # --- Our own GDT (the loader's may be anywhere), PSE, CR3, paging.
    leal LX_OFF_GDT(%ebp), %eax
    movl %eax, LX_OFF_GDTR + 2(%ebp)
    lgdtl LX_OFF_GDTR(%ebp)
    movl %cr4, %eax
    orl $0x10, %eax
    movl %eax, %cr4
    movl %ebx, %cr3
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0
    pushl $0x08                        # our code selector, at the identity address still
    leal LX_OFF_PAGED(%ebp), %eax
    pushl %eax
    lret
.else
    # --- Long mode must exist.
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb 3f
    movl $0x80000001, %eax
    cpuid
    btl $29, %edx
    jc 4f
3:  leal LX_OFF_MSG_NO_LONG_MODE(%ebp), %esi
    jmp fatal32
4:
    # --- Page tables (in .bss, which nobody zeroed: clear them first).
    leal LX_OFF_TABLES(%ebp), %ebx
    movl %ebx, %edi
    movl $(TABLES_BYTES / 4), %ecx
    xorl %eax, %eax
    rep stosl
    leal 0x1003(%ebx), %eax            # PML4[0] -> PDPT low
    movl %eax, 0(%ebx)
    leal 0x6003(%ebx), %eax            # PML4[511] -> PDPT high
    movl %eax, 511 * 8(%ebx)
    leal 0x2003(%ebx), %eax            # PDPT low[0..3] -> the 4 PDs of the first 4 GiB
    movl %eax, 0x1000(%ebx)
    addl $0x1000, %eax
    movl %eax, 0x1008(%ebx)
    addl $0x1000, %eax
    movl %eax, 0x1010(%ebx)
    addl $0x1000, %eax
    movl %eax, 0x1018(%ebx)
    leal 0x2000(%ebx), %edi            # 2048 PD entries: 2 MiB pages, identity
    movl $0x83, %eax
    movl $2048, %ecx
5:  movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 5b
    leal 0x7003(%ebx), %eax            # PDPT high[510] -> the image's PD (KERNEL_VIRT)
    movl %eax, 0x6000 + 510 * 8(%ebx)
    leal 0x8003(%ebx), %eax            # PD[0] -> the image's PT
    movl %eax, 0x7000(%ebx)
    leal 0x8000(%ebx), %edi            # PT[i] -> load address + i pages
    leal 3(%ebp), %eax
    movl $LX_IMAGE_PAGES, %ecx
6:  movl %eax, (%edi)
    addl $0x1000, %eax
    addl $8, %edi
    loop 6b

    # --- Our own GDT (the loader's may be anywhere), PAE, CR3, EFER.LME, paging.
    leal LX_OFF_GDT(%ebp), %eax
    movl %eax, LX_OFF_GDTR + 2(%ebp)
    lgdtl LX_OFF_GDTR(%ebp)
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl %ebx, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0
    pushl $0x08                        # to 64-bit code at its physical (identity) address
    leal LX_OFF_PAGED(%ebp), %eax
    pushl %eax
    lret
.endif

# fatal32: say why on COM1 (as the firmware set it up) and fail; ESI = the reason's address.
fatal32:
    pushl %esi
    leal LX_OFF_MSG_BEGIN(%ebp), %esi
    call print32
    popl %esi
    call print32
    movb $0x11, %al
    outb %al, $0xf4
7:  hlt
    jmp 7b

print32:
    lodsb
    testb %al, %al
    jz 8f
    movw $COM1, %dx
    outb %al, %dx
    jmp print32
8:  ret

.ifdef KERNEL32
    .globl lx_paged
lx_paged:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl $lx_high32, %eax              # from the identity mapping to the linked address
    jmp *%eax
lx_high32:
    movl $lx_stack_top, %esp

    # IDT: every exception vector goes to fault_entry, which reports and fails.
    movl $fault_entry, %eax
    movl %eax, %ecx
    andl $0xffff, %ecx
    orl $(0x08 << 16), %ecx
    andl $0xffff0000, %eax
    orl $0x8e00, %eax
    movl $lx_idt, %edi
    movl $32, %edx
9:  movl %ecx, (%edi)
    movl %eax, 4(%edi)
    addl $8, %edi
    decl %edx
    jnz 9b
    movw $(32 * 8 - 1), lx_idtr
    movl $lx_idt, lx_idtr + 2
    lidtl lx_idtr

    subl $8, %esp                      # 16-byte aligned at the call
    pushl %ebp                         # the load address
    pushl $lx_entry_state
    call kernel_main
10: cli
    hlt
    jmp 10b

fault_entry:
    movl %esp, %eax                    # the exception frame (with or without an error code)
    andl $-16, %esp
    subl $12, %esp
    pushl %eax
    call kernel_fault
    jmp 10b
.else
    .code64
    .globl lx_paged
lx_paged:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movabsq $lx_high64, %rax           # from the identity mapping to the linked address
    jmp *%rax
lx_high64:
    leaq lx_stack_top(%rip), %rsp

    # SSE: CR0.EM off, CR0.MP on, CR4.OSFXSR and CR4.OSXMMEXCPT on.
    movq %cr0, %rax
    andq $-5, %rax
    orq $2, %rax
    movq %rax, %cr0
    movq %cr4, %rax
    orq $0x600, %rax
    movq %rax, %cr4

    # IDT: every exception vector goes to fault_entry, which reports and fails.
    leaq fault_entry(%rip), %rax
    movq %rax, %rcx
    andq $0xffff, %rcx
    orq $(0x08 << 16), %rcx
    movabsq $0x00008e0000000000, %r8
    orq %r8, %rcx
    movq %rax, %r8
    shrq $16, %r8
    andq $0xffff, %r8
    shlq $48, %r8
    orq %r8, %rcx
    movq %rax, %rdx
    shrq $32, %rdx
    leaq lx_idt(%rip), %rdi
    movl $32, %r9d
9:  movq %rcx, (%rdi)
    movq %rdx, 8(%rdi)
    addq $16, %rdi
    decl %r9d
    jnz 9b
    leaq lx_idt(%rip), %rax
    movq %rax, lx_idtr + 2(%rip)
    lidtq lx_idtr(%rip)

    leaq lx_entry_state(%rip), %rdi
    movl %ebp, %esi                    # the load address
    call kernel_main
10: cli
    hlt
    jmp 10b

fault_entry:
    movq %rsp, %rdi                    # the exception frame (with or without an error code)
    andq $-16, %rsp
    call kernel_fault
    jmp 10b
.endif

    .section .rodata.lxtest, "a"
    .globl lx_msg_begin
lx_msg_begin:
    .asciz "\nLX BEGIN lxtest\nLX FATAL "
    .globl lx_msg_misaligned
lx_msg_misaligned:
    .asciz "the load address is not a multiple of 4 KiB\nLX VERDICT fail\n"
    .globl lx_msg_no_long_mode
lx_msg_no_long_mode:
    .asciz "the CPU has no long mode\nLX VERDICT fail\n"

# Data the build step patches (outside the hashed range), and state written at entry.
    .section .lxtest.patch, "aw"
    .balign 16
    .globl lx_setup_header
lx_setup_header:                       # the file's bytes 0x1F1 .. 0x290 (setup header and more)
    .fill 0x290 - 0x1f1, 1, 0
    .balign 16
    .globl lx_image_sha256
lx_image_sha256:
    .fill 32, 1, 0

    .section .lxtest.entry, "aw"
    .balign 16
    .globl lx_entry_state
lx_entry_state:
    .fill 64, 1, 0
    .balign 8
    .globl lx_gdt
lx_gdt:
    .quad 0
.ifdef KERNEL32
    .quad 0x00cf9b000000ffff           # 0x08: 32-bit code, flat
.else
    .quad 0x00af9b000000ffff           # 0x08: 64-bit code
.endif
    .quad 0x00cf93000000ffff           # 0x10: flat data
lx_gdt_end:
    .balign 8
    .globl lx_gdtr
lx_gdtr:
    .word lx_gdt_end - lx_gdt - 1
    .long 0                            # base: the GDT's physical address, set at entry
    .long 0
    .balign 8
lx_idtr:
    .word 32 * 16 - 1
    .quad 0                            # base: set in long mode

    .section .bss.lxtest, "aw", @nobits
    .balign 4096
    .globl lx_page_tables
lx_page_tables:
    .skip TABLES_BYTES
lx_idt:
    .skip 32 * 16
    .balign 16
    .skip 4096
    .globl lx_stack32_top
lx_stack32_top:
    .skip 128 * 1024
lx_stack_top:

    .text
.ifdef KERNEL32
    .code32
.else
    .code64
.endif
