# The 16-bit entry, for loaders that run a bzImage's real-mode setup code (QEMU's -kernel,
# GRUB's linux16): a miniature of what Linux's setup does before its 32-bit entry. It builds
# the zero page from the header the loader filled in (copied 0x1F1 .. 0x202 + byte[0x201]),
# the BIOS memory map (INT 15h E820) and the text screen (INT 10h), switches to protected mode
# with a flat GDT (CS = 0x10, DS = ES = SS = 0x18) and jumps to code32_start with ESI = the
# zero page and EBP = EDI = EBX = 0: the 32-bit boot protocol, which is what the kernel checks.
#
# Entered at file offset 0x200 (a short jump there leads here, past the setup header) with
# CS = setup segment + 0x20, IP = 0. Linked at its file offset, so that with DS = the setup
# segment every label is its own offset.

    .set ZERO_PAGE, 0x4000             # in the setup segment, past the setup code
    .set STACK_TOP, 0x3ff0
    .set SMAP, 0x534d4150

    .section .lxsetup, "ax"
    .code16
    .globl lx_setup16
lx_setup16:
    cli
    cld
    movw %cs, %ax
    subw $0x20, %ax                    # the setup segment: offset 0 is the file's first byte
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw $STACK_TOP, %sp
    pushw %ax
    pushw $1f
    lretw                              # CS = the setup segment, IP = the file offset
1:
    # --- The zero page: zeroed, then the setup header as the loader left it.
    movw $ZERO_PAGE, %di
    movw $2048, %cx
    xorw %ax, %ax
    rep stosw
    movw $0x1f1, %si
    movw $(ZERO_PAGE + 0x1f1), %di
    xorw %cx, %cx
    movb 0x201, %cl
    addw $(0x202 - 0x1f1), %cx
    rep movsb

    # --- E820, at most 128 entries of 20 bytes.
    movw $(ZERO_PAGE + 0x2d0), %di
    xorl %ebx, %ebx
    xorw %bp, %bp
2:  movl $0xe820, %eax
    movl $20, %ecx
    movl $SMAP, %edx
    int $0x15
    jc 3f
    cmpl $SMAP, %eax
    jne 3f
    incw %bp
    addw $20, %di
    cmpw $128, %bp
    jae 3f
    testl %ebx, %ebx
    jnz 2b
3:  movw %bp, %ax
    movb %al, ZERO_PAGE + 0x1e8

    # --- screen_info: the mode and columns (INT 10h AH=0Fh), the cursor (AH=03h), as the
    # kernel's setup reports a VGA text screen.
    movb $0x0f, %ah
    int $0x10
    movb %al, ZERO_PAGE + 0x06
    movb %ah, ZERO_PAGE + 0x07
    movb $0x03, %ah
    xorb %bh, %bh
    int $0x10
    movb %dl, ZERO_PAGE + 0x00
    movb %dh, ZERO_PAGE + 0x01
    movb $25, ZERO_PAGE + 0x0e
    movb $1, ZERO_PAGE + 0x0f
    movw $16, ZERO_PAGE + 0x10

    # --- A20 through port 92h (fast A20), then protected mode.
    inb $0x92, %al
    orb $2, %al
    andb $0xfe, %al
    outb %al, $0x92
    xorl %esi, %esi
    movw %ds, %si
    shll $4, %esi                      # ESI = the setup segment's linear base
    leal gdt(%esi), %eax
    movl %eax, gdt_descriptor + 2
    leal protected(%esi), %eax
    movl %eax, far_jump
    lgdtl gdt_descriptor
    movl %cr0, %eax
    orb $1, %al
    movl %eax, %cr0
    ljmpl *far_jump

    .code32
protected:
    movl $0x18, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    addl $ZERO_PAGE, %esi
    movl 0x214(%esi), %eax             # code32_start, as the loader left it
    xorl %ebp, %ebp
    xorl %edi, %edi
    xorl %ebx, %ebx
    jmp *%eax

gdt:                                   # (unaligned: an alignment here would pad the section's
                                       # start, where the jump from 0x200 lands)
    .quad 0
    .quad 0
    .quad 0x00cf9a000000ffff           # 0x10: flat 32-bit code
    .quad 0x00cf92000000ffff           # 0x18: flat data
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long 0                            # base: set above
far_jump:
    .long 0                            # offset: set above
    .word 0x10
