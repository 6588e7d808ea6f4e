# Multiboot 1 test kernel: header and 32-bit entry.
#
# The entry first records what the loader handed over (EAX, EBX, CR0, EFLAGS, segment
# selectors and limits) and probes what the spec promises by behaviour (flat segments, A20,
# a zeroed .bss), all before it changes anything. Then it builds its own GDT and identity page
# tables for the first 4 GiB, enters long mode, turns on SSE, installs an IDT that reports any
# exception, and calls kernel_main(magic, mbi, &entry_state) in Rust.
#
# Built for i586 (the bin defines KERNEL32: a 32-bit kernel for CPUs without long mode), it
# stays in 32-bit protected mode with paging off instead: its own flat GDT, a 32-bit IDT, and
# kernel_main called with the arguments on the stack.
#
# entry_state layout (u32 each; mirrored by EntryState in lib.rs):
#    0 eax        4 ebx        8 cr0       12 eflags
#   16 selectors cs, ds, es, ss, fs, gs (6 x u32)
#   40 limits from LSL, same order (6 x u32)
#   64 bit i set: LSL succeeded for selector i
#   68 bit i set: reading a known word through segment i (1..5 = ds..gs) gave its value
#   72 1: reads at 0xfffffffc through ds, es, ss, fs, gs did not fault
#   76 1: A20 on
#   80 offset of the first non-zero dword in .bss, or 0xffffffff when all of it is zero

    .set MB_MAGIC, 0x1badb002
    .set MB_FLAGS, 0x00010003          # bit 0 page-aligned modules, bit 1 memory info,
                                       # bit 16 address fields (the build step may clear it;
                                       # it sets bit 2, video, for the `video` variant)
    .set CANARY, 0x4b54424d            # "MBTK"
    .set COM1, 0x3f8
    .set PT_BYTES, 6 * 4096            # PML4, PDPT, 4 PDs of 2 MiB pages

    .section .multiboot, "a"
    .balign 4
    .globl mbtest_header
mbtest_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long mbtest_header                # header_addr
    .long __kernel_start               # load_addr
    .long __load_end                   # load_end_addr
    .long __bss_end                    # bss_end_addr
    .long mbtest_entry32               # entry_addr
    .long 0                            # mode_type: linear graphics (read with flag 2 only:
    .long 1024, 768, 32                # the `video` variant's), width, height, depth

    .section .rodata.mbtest, "a"
    .balign 4
seg_canary:
    .long CANARY
msg_begin:
    .asciz "\nMB BEGIN variant="
msg_no_long_mode:
    .asciz "\nMB FATAL the CPU has no long mode\nMB VERDICT fail\n"

    .section .text.entry32, "ax"
    .code32
    .globl mbtest_entry32
mbtest_entry32:
    movl %eax, entry_state + 0
    movl %ebx, entry_state + 4
    movl $entry_stack_top, %esp        # ESP is undefined at entry; this stack is in .mbtest
    pushfl
    popl %eax
    movl %eax, entry_state + 12
    movl %cr0, %eax
    movl %eax, entry_state + 8
    cld

    # --- Segment selectors, then their limits as the descriptor tables say (informational:
    # GDTR is undefined at entry, so the table may already be gone).
.macro SELECTOR seg, idx
    xorl %eax, %eax
    movw \seg, %ax
    movl %eax, entry_state + 16 + 4 * \idx
.endm
    SELECTOR %cs, 0
    SELECTOR %ds, 1
    SELECTOR %es, 2
    SELECTOR %ss, 3
    SELECTOR %fs, 4
    SELECTOR %gs, 5

.macro LIMIT idx
    movl entry_state + 16 + 4 * \idx, %eax
    lsll %eax, %ecx
    jnz 1f
    movl %ecx, entry_state + 40 + 4 * \idx
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
    movl %edx, entry_state + 64

    # --- Flat data segments by behaviour: a known word reads back at its linked address
    # (base 0), and the top of the 4 GiB space can be read (limit 4 GiB; a smaller limit
    # faults, and with no IDT yet that ends the run with no verdict, which the tests catch).
.macro BASE seg, idx
    cmpl $CANARY, \seg:seg_canary
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
    movl %edx, entry_state + 68
    movl $1, entry_state + 72

    # --- .bss must arrive zeroed (bss_end_addr, or p_memsz beyond p_filesz).
    movl $0xffffffff, entry_state + 80
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    repe scasl
    je 2f
    subl $(__bss_start + 4), %edi
    movl %edi, entry_state + 80
2:

    # --- A20: write our own word P and see whether P ^ 1 MiB follows. Only P is written
    # (and put back if it turns out to alias), so whatever lies at P ^ 1 MiB survives.
    movl $a20_probe, %esi
    movl %esi, %edi
    xorl $0x100000, %edi
    movl (%edi), %eax
    movl %eax, %ecx
    notl %ecx
    movl %ecx, (%esi)
    movl $1, entry_state + 76
    cmpl (%edi), %ecx
    jne 3f
    movl $0, entry_state + 76
    movl %eax, (%esi)
3:

.ifdef KERNEL32
    # --- 32-bit: own GDT (GDTR is undefined at entry), an IDT, kernel_main(magic, mbi, state).
    movl $stack_top, %esp
    lgdtl gdt_descriptor
    ljmpl $0x08, $5f
5:  movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl $fault_entry, %eax            # every vector: an interrupt gate to fault_entry
    movl %eax, %ecx
    andl $0xffff, %ecx
    orl $(0x08 << 16), %ecx
    andl $0xffff0000, %eax
    orl $0x8e00, %eax
    movl $idt, %edi
    movl $32, %edx
6:  movl %ecx, (%edi)
    movl %eax, 4(%edi)
    addl $8, %edi
    decl %edx
    jnz 6b
    lidtl idt_descriptor
    subl $4, %esp                      # 16-byte aligned at the call
    pushl $entry_state
    pushl entry_state + 4
    pushl entry_state + 0
    call kernel_main
9:  cli
    hlt
    jmp 9b

fault_entry:
    movl %esp, %eax                    # the exception frame (with or without an error code)
    andl $-16, %esp
    subl $12, %esp
    pushl %eax
    call kernel_fault
    jmp 9b
.else
    # --- Long mode must exist.
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    btl $29, %edx
    jnc no_long_mode

    # --- Identity page tables for 4 GiB (2 MiB pages). Cleared first: a loader that did not
    # zero .bss has been recorded above, and must not make us crash here.
    movl $page_tables, %edi
    movl $(PT_BYTES / 4), %ecx
    xorl %eax, %eax
    rep stosl
    movl $(page_tables + 0x1003), page_tables
    movl $(page_tables + 0x2003), page_tables + 0x1000
    movl $(page_tables + 0x3003), page_tables + 0x1008
    movl $(page_tables + 0x4003), page_tables + 0x1010
    movl $(page_tables + 0x5003), page_tables + 0x1018
    movl $(page_tables + 0x2000), %edi
    movl $0x83, %eax                   # present, writable, 2 MiB
    movl $2048, %ecx
4:  movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 4b

    # --- Long mode: own GDT, PAE, CR3, EFER.LME, paging.
    movl $stack_top, %esp
    lgdtl gdt_descriptor
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl $page_tables, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0
    ljmpl $0x08, $long_mode_entry

no_long_mode:                          # say so on COM1 (as set up by the firmware) and fail
    movl $msg_begin, %esi
    call print32
    movl $mbtest_variant, %esi
    call print32
    movl $msg_no_long_mode, %esi
    call print32
    movb $0x11, %al
    outb %al, $0xf4
7:  hlt
    jmp 7b

# print32: the NUL-terminated string at ESI to COM1 (the stack is ours by now).
print32:
    lodsb
    testb %al, %al
    jz 1f
    movw $COM1, %dx
    outb %al, %dx
    jmp print32
1:  ret

    .code64
long_mode_entry:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movq $stack_top, %rsp

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
    leaq idt(%rip), %rdi
    movl $32, %r9d
8:  movq %rcx, (%rdi)
    movq %rdx, 8(%rdi)
    addq $16, %rdi
    decl %r9d
    jnz 8b
    lidtq idt_descriptor(%rip)

    movl entry_state(%rip), %edi
    movl entry_state + 4(%rip), %esi
    leaq entry_state(%rip), %rdx
    call kernel_main
9:  cli
    hlt
    jmp 9b

fault_entry:
    movq %rsp, %rdi                    # the exception frame (with or without an error code)
    andq $-16, %rsp
    call kernel_fault
    jmp 9b
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
.ifdef KERNEL32
    .quad 0x00cf9b000000ffff           # 0x08: 32-bit code, flat (accessed bit preset)
.else
    .quad 0x00af9b000000ffff           # 0x08: 64-bit code (accessed bit preset)
.endif
    .quad 0x00cf93000000ffff           # 0x10: flat data
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt, 0                       # (a 64-bit base in halves: ELF32 has no 64-bit reloc)
    .balign 8
idt_descriptor:
.ifdef KERNEL32
    .word 32 * 8 - 1
.else
    .word 32 * 16 - 1
.endif
    .long idt, 0
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
