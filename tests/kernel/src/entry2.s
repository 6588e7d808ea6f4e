# Multiboot 2 test kernel: header and 32-bit entry.
#
# Like entry.s (the Multiboot 1 kernel), the entry records what the loader handed over and
# probes what the spec promises before it changes anything; then it builds its GDT and page
# tables, enters long mode, turns on SSE, installs an IDT and calls
# kernel2_main(magic, mbi, &entry_state).
#
# The difference: this kernel may be relocated (the `mb2-reloc` variant's header has the
# relocatable tag). So the 32-bit code keeps the load delta in EBX and adds it to every
# address it uses; the delta comes from the boot information's load base address tag (21),
# found by walking the tags without a stack (ESP is undefined at entry). The 64-bit code runs
# at the linked addresses: the page tables map the 2 MiB pages the kernel was linked at to
# where it was loaded (the delta must be a multiple of 2 MiB: the header asks for 2 MiB
# alignment, and the link puts the kernel at 2 MiB, in one 2 MiB page). Everything else is
# mapped 1:1, so the kernel reads the boot information and the modules by their physical
# addresses.
#
# entry_state: as in entry.s (mirrored by EntryState in lib.rs), plus at 84 the delta and at
# 88 the load base address the tag gave (0 without the tag).

    .set MB2_MAGIC, 0xe85250d6
    .set MB2_LOADER_MAGIC, 0x36d76289
    .set CANARY, 0x4b54424d            # "MBTK"
    .set COM1, 0x3f8
    .set PT_BYTES, 6 * 4096            # PML4, PDPT, 4 PDs of 2 MiB pages
    .set NOP_TAG, 0x7ff0               # an unknown tag type: with the optional flag, ignored

    .section .multiboot, "a"
    .balign 8
    .globl mbtest_header
mbtest_header:
    .long MB2_MAGIC
    .long 0                            # i386
    .long header_end - mbtest_header
    .long -(MB2_MAGIC + (header_end - mbtest_header))
    # Information request (required): memory map, ELF sections, basic memory information,
    # and one more the build step may patch (the command line by default; SMBIOS, 13, which
    # netloader does not give, in the `mb2-smbios` variant).
    .balign 8
    .short 1, 0
    .long 24
    .long 6, 9, 4
    .globl mb2test_extra_request
mb2test_extra_request:
    .long 1
    # Module alignment (required).
    .balign 8
    .short 6, 0
    .long 8
    # Console flags (optional): EGA text is fine.
    .balign 8
    .short 4, 1
    .long 12
    .long 2
    # The relocatable tag's slot: an ignored unknown tag unless the build step makes it type
    # 10 (the `mb2-reloc` variant): from 32 MiB up, 2 MiB aligned, lowest preferred.
    .balign 8
    .globl mb2test_reloc_tag
mb2test_reloc_tag:
    .short NOP_TAG, 1
    .long 24
    .long 0x2000000, 0xffffffff, 0x200000, 1
    # The framebuffer tag's slot: an ignored unknown tag unless the build step makes it type 5
    # (the `mb2-fb` variant): 1024x768x32.
    .balign 8
    .globl mb2test_fb_tag
mb2test_fb_tag:
    .short NOP_TAG, 1
    .long 20
    .long 1024, 768, 32
    # The address and entry address tags' slots: ignored unknown tags unless the build step
    # makes them types 2 and 3 (the `mb2-aout` variant, a flat file without ELF headers).
    .balign 8
    .globl mb2test_address_tag
mb2test_address_tag:
    .short NOP_TAG, 1
    .long 24
    .long mbtest_header, __kernel_start, __load_end, __bss_end
    .balign 8
    .globl mb2test_entry_tag
mb2test_entry_tag:
    .short NOP_TAG, 1
    .long 12
    .long mbtest_entry32
    # Optional EFI tags, as Xen has: a BIOS loader must ignore them; a UEFI loader keeps boot
    # services for tag 7 (and must not take tag 9's 0 as an entry). The build step makes tag 7
    # an ignored unknown tag in the `mb2-exitbs` variant (ExitBootServices before entry).
    .balign 8
    .globl mb2test_efi_bs_tag
mb2test_efi_bs_tag:
    .short 7, 1
    .long 8
    .balign 8
    .short 9, 1
    .long 12
    .long 0
    # End.
    .balign 8
    .short 0, 0
    .long 8
header_end:

    .section .rodata.mbtest, "a"
    .balign 4
seg_canary:
    .long CANARY
msg_begin:
    .asciz "\nMB2 BEGIN variant="
msg_no_long_mode:
    .asciz "\nMB2 FATAL the CPU has no long mode\nMB2 VERDICT fail\n"
msg_moved:
    .asciz "\nMB2 FATAL the 32-bit test kernel runs only where it was linked (no paging)\nMB2 VERDICT fail\n"
msg_bad_delta:
    .asciz "\nMB2 FATAL the load base is not a multiple of 2 MiB from the link address\nMB2 VERDICT fail\n"

    .section .text.entry32, "ax"
    .code32
    .globl mbtest_entry32
mbtest_entry32:
    # --- The delta, from tag 21, with nothing but registers (no stack yet). EAX and EBX are
    # the loader's and kept in ESI/EDI meanwhile; EBP = the delta, 0 without the tag.
    movl %eax, %esi
    movl %ebx, %edi
    xorl %ebp, %ebp
    xorl %edx, %edx                    # the load base the tag gave
    cmpl $MB2_LOADER_MAGIC, %eax
    jne 2f                             # no Multiboot 2 information to read
    testl $7, %ebx
    jnz 2f
    movl (%ebx), %ecx                  # total_size, capped to 1 MiB of walking
    cmpl $0x100000, %ecx
    ja 2f
    addl %ebx, %ecx                    # its end
    leal 8(%ebx), %eax                 # the first tag
1:  leal 8(%eax), %ebx
    cmpl %ecx, %ebx
    ja 2f
    cmpl $0, (%eax)                    # the end tag
    je 2f
    cmpl $21, (%eax)
    jne 3f
    movl 8(%eax), %edx
    movl %edx, %ebp
    subl $__kernel_start, %ebp
    jmp 2f
3:  movl 4(%eax), %ebx                 # the size, up to the next 8-byte boundary
    cmpl $8, %ebx
    jb 2f
    addl $7, %ebx
    andl $-8, %ebx
    addl %ebx, %eax
    jmp 1b
2:  movl %esi, %ds:entry_state + 0(%ebp)
    movl %edi, %ds:entry_state + 4(%ebp)
    movl %ebp, %ds:entry_state + 84(%ebp)
    movl %edx, %ds:entry_state + 88(%ebp)
    movl %ebp, %ebx                    # the delta, from here on
    leal entry_stack_top(%ebx), %esp   # ESP is undefined at entry; this stack is in .mbtest
    pushfl
    popl %eax
    movl %eax, entry_state + 12(%ebx)
    movl %cr0, %eax
    movl %eax, entry_state + 8(%ebx)
    cld

    # --- Segment selectors, then their limits as the descriptor tables say (informational).
.macro SELECTOR seg, idx
    xorl %eax, %eax
    movw \seg, %ax
    movl %eax, entry_state + 16 + 4 * \idx(%ebx)
.endm
    SELECTOR %cs, 0
    SELECTOR %ds, 1
    SELECTOR %es, 2
    SELECTOR %ss, 3
    SELECTOR %fs, 4
    SELECTOR %gs, 5

.macro LIMIT idx
    movl entry_state + 16 + 4 * \idx(%ebx), %eax
    lsll %eax, %ecx
    jnz 1f
    movl %ecx, entry_state + 40 + 4 * \idx(%ebx)
    orl $(1 << \idx), %edx
1:
.endm
    xorl %edx, %edx
    LIMIT 0
    LIMIT 1
    LIMIT 2
    LIMIT 3
    LIMIT 4
    LIMIT 5
    movl %edx, entry_state + 64(%ebx)

    # --- Flat data segments by behaviour (see entry.s).
.macro BASE seg, idx
    cmpl $CANARY, \seg:seg_canary(%ebx)
    jne 1f
    orl $(1 << \idx), %edx
1:
    movl \seg:0xfffffffc, %eax
.endm
    xorl %edx, %edx
    BASE %ds, 1
    BASE %es, 2
    BASE %ss, 3
    BASE %fs, 4
    BASE %gs, 5
    movl %edx, entry_state + 68(%ebx)
    movl $1, entry_state + 72(%ebx)

    # --- .bss must arrive zeroed.
    movl $0xffffffff, entry_state + 80(%ebx)
    leal __bss_start(%ebx), %edi
    leal __bss_end(%ebx), %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    repe scasl
    je 2f
    subl %ebx, %edi
    subl $(__bss_start + 4), %edi
    movl %edi, entry_state + 80(%ebx)
2:

    # --- A20 (see entry.s).
    leal a20_probe(%ebx), %esi
    movl %esi, %edi
    xorl $0x100000, %edi
    movl (%edi), %eax
    movl %eax, %ecx
    notl %ecx
    movl %ecx, (%esi)
    movl $1, entry_state + 76(%ebx)
    cmpl (%edi), %ecx
    jne 3f
    movl $0, entry_state + 76(%ebx)
    movl %eax, (%esi)
3:

.ifdef KERNEL32
    # --- 32-bit (the bin defines KERNEL32, see entry.s): paging stays off, so the kernel
    # runs only where it was linked.
    testl %ebx, %ebx
    jz 5f
    leal msg_moved(%ebx), %esi
    jmp fatal
5:  movl $stack_top, %esp
    lgdtl gdt_descriptor32
    ljmpl $0x08, $6f
6:  movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl $fault_entry2, %eax           # every vector: an interrupt gate to fault_entry2
    movl %eax, %ecx
    andl $0xffff, %ecx
    orl $(0x08 << 16), %ecx
    andl $0xffff0000, %eax
    orl $0x8e00, %eax
    movl $idt, %edi
    movl $32, %edx
7:  movl %ecx, (%edi)
    movl %eax, 4(%edi)
    addl $8, %edi
    decl %edx
    jnz 7b
    lidtl idt_descriptor32
    subl $4, %esp                      # 16-byte aligned at the call
    pushl $entry_state
    pushl entry_state + 4
    pushl entry_state + 0
    call kernel2_main
13: cli
    hlt
    jmp 13b

fault_entry2:
    movl %esp, %eax                    # the exception frame (with or without an error code)
    andl $-16, %esp
    subl $12, %esp
    pushl %eax
    call kernel_fault
    jmp 13b

.else
    # --- The alias below needs a delta of whole 2 MiB pages.
    testl $0x1fffff, %ebx
    jz 4f
    leal msg_bad_delta(%ebx), %esi
    jmp fatal

    # --- Long mode must exist (CPUID writes EBX: keep the delta on the stack).
4:  pushl %ebx
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb 5f
    movl $0x80000001, %eax
    cpuid
    btl $29, %edx
    popl %ebx
    jc 6f
    jmp 7f
5:  popl %ebx
7:  leal msg_no_long_mode(%ebx), %esi
    jmp fatal

    # --- Page tables: 4 GiB 1:1 in 2 MiB pages, then the kernel's linked pages moved by the
    # delta.
6:  leal page_tables(%ebx), %edi
    movl $(PT_BYTES / 4), %ecx
    xorl %eax, %eax
    rep stosl
    leal page_tables(%ebx), %edi       # EDI: the PML4's physical address
    leal 0x1003(%edi), %eax
    movl %eax, (%edi)
    leal 0x2003(%edi), %eax
    movl %eax, 0x1000(%edi)
    leal 0x3003(%edi), %eax
    movl %eax, 0x1008(%edi)
    leal 0x4003(%edi), %eax
    movl %eax, 0x1010(%edi)
    leal 0x5003(%edi), %eax
    movl %eax, 0x1018(%edi)
    leal 0x2000(%edi), %esi
    movl $0x83, %eax                   # present, writable, 2 MiB
    movl $2048, %ecx
8:  movl %eax, (%esi)
    addl $0x200000, %eax
    addl $8, %esi
    loop 8b
    movl $__kernel_start, %ecx         # linked 2 MiB pages, up to __bss_end
    shrl $21, %ecx
9:  movl %ecx, %eax
    shll $21, %eax
    cmpl $__bss_end, %eax
    jae 10f
    addl %ebx, %eax
    orl $0x83, %eax
    movl %eax, 0x2000(%edi, %ecx, 8)
    incl %ecx
    jmp 9b

    # --- Long mode: own GDT (its base as loaded: paging is off), PAE, CR3, EFER.LME, paging.
10: leal stack_top(%ebx), %esp
    leal gdt(%ebx), %eax
    movl %eax, gdt_descriptor + 2(%ebx)
    lgdtl gdt_descriptor(%ebx)
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl %edi, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0
    ljmpl $0x08, $long_mode_entry      # a linked address: mapped to where it was loaded
.endif

fatal:                                 # say so on COM1 and fail (ESI: the message)
    pushl %esi
    leal msg_begin(%ebx), %esi
    call print32
    leal mbtest_variant(%ebx), %esi
    call print32
    popl %esi
    call print32
    movb $0x11, %al
    outb %al, $0xf4
11: hlt
    jmp 11b

# print32: the NUL-terminated string at ESI to COM1.
print32:
    lodsb
    testb %al, %al
    jz 1f
    movw $COM1, %dx
    outb %al, %dx
    jmp print32
1:  ret

.ifndef KERNEL32
    .code64
long_mode_entry:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    leaq stack_top(%rip), %rsp
    # The GDT again, at its linked address now that paging maps it there.
    leaq gdt(%rip), %rax
    movq %rax, gdt_descriptor + 2(%rip)
    lgdtq gdt_descriptor(%rip)

    # SSE: CR0.EM off, CR0.MP on, CR4.OSFXSR and CR4.OSXMMEXCPT on.
    movq %cr0, %rax
    andq $-5, %rax
    orq $2, %rax
    movq %rax, %cr0
    movq %cr4, %rax
    orq $0x600, %rax
    movq %rax, %cr4

    # IDT: every exception vector goes to fault_entry2, which reports and fails.
    leaq fault_entry2(%rip), %rax
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
    leaq idt(%rip), %rdi
    movl $32, %r9d
12: movq %rcx, (%rdi)
    movq %rdx, 8(%rdi)
    addq $16, %rdi
    decl %r9d
    jnz 12b
    leaq idt(%rip), %rax
    movq %rax, idt_descriptor + 2(%rip)
    lidtq idt_descriptor(%rip)

    movl entry_state(%rip), %edi
    movl entry_state + 4(%rip), %esi
    leaq entry_state(%rip), %rdx
    call kernel2_main
13: cli
    hlt
    jmp 13b

fault_entry2:
    movq %rsp, %rdi                    # the exception frame (with or without an error code)
    andq $-16, %rsp
    call kernel_fault
    jmp 13b
.endif

# Per-variant data the host build step patches, and scratch written at entry. Outside the
# hashed range (see kernel.ld).
    .section .mbtest.patch, "aw"
    .balign 16
    .globl mbtest_variant
mbtest_variant:
    .ascii "unpatched"
    .fill 16 - 9, 1, 0
    .globl mbtest_image_sha256
mbtest_image_sha256:
    .fill 32, 1, 0
    # SHA-256 of the contents of every section no segment loads, in section order (what the
    # loader must put in memory for the ELF sections tag); all zero when the file has none.
    .globl mbtest_sections_sha256
mbtest_sections_sha256:
    .fill 32, 1, 0

    .section .mbtest.entry, "aw"
    .balign 16
    .globl entry_state
entry_state:
    .fill 96, 1, 0
a20_probe:
    .long 0
    .balign 8
gdt:
    .quad 0
    .quad 0x00af9b000000ffff           # 0x08: 64-bit code (accessed bit preset)
    .quad 0x00cf93000000ffff           # 0x10: flat data
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .quad 0                            # the base, written before each lgdt
.ifdef KERNEL32
    .balign 8
gdt32:
    .quad 0
    .quad 0x00cf9b000000ffff           # 0x08: 32-bit code, flat (accessed bit preset)
    .quad 0x00cf93000000ffff           # 0x10: flat data
gdt32_end:
gdt_descriptor32:
    .word gdt32_end - gdt32 - 1
    .long gdt32
idt_descriptor32:
    .word 32 * 8 - 1
    .long idt
.endif
    .balign 8
idt_descriptor:
    .word 32 * 16 - 1
    .quad 0                            # the base, written before lidt
    .balign 16
entry_stack:
    .fill 64, 1, 0
entry_stack_top:

    .section .bss.mbtest, "aw", @nobits
    .balign 4096
page_tables:
    .skip PT_BYTES
idt:
    .skip 32 * 16
    .balign 16
stack:
    .skip 256 * 1024
stack_top:

    .text
.ifdef KERNEL32
    .code32
.else
    .code64
.endif
