# netloader stage 2: the 16-bit path every form shares, from the loaded image to protected mode.
#
# Entered at 0:8000 in real mode with DL = BIOS drive and BL = boot form (see bootsector.s;
# later forms enter here the same way). It fills the hand-off record `boot_info` (read by
# runtime/src/boot_info.rs), checks the CPU (`check_cpu`), collects the memory map (E820, else
# E801, else AH=88h), enables A20 and verifies it, then enters 32-bit protected mode and jumps
# to `protected_mode`. Those two come from the platform's end of stage 2, assembled right
# after this file: stage2_long.s (page tables, long mode, 64-bit Rust) or stage2_x86.s (32-bit
# Rust, paging off). Anything that stops the boot here prints a message through the BIOS and
# on COM1, then halts.

    .set COM1, 0x3f8
    .set E820_MAX, 128
    .set BOOT_INFO_MAGIC, 0x49424c4e     # "NLBI"
    .set SEL_CODE32, 0x08
    .set SEL_DATA, 0x10
    .set SEL_CODE64, 0x18

    .section .stage2, "ax"
    .code16
    .globl stage2_entry
stage2_entry:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw $0x7c00, %sp
    cld
    movb %bl, boot_info + 6        # form
    movb %dl, boot_info + 7        # drive
    call serial_init

    # --- CPU: what the platform's runtime needs (the platform's end of stage 2).
    call check_cpu

    # --- Memory: conventional memory size, then the map.
    int $0x12
    movw %ax, boot_info + 12
    call memory_map

    # --- A20.
    call enable_a20

    # --- Protected mode, then long mode.
    cli
    lgdtl gdt_descriptor
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $SEL_CODE32, $protected_mode

# ---------------------------------------------------------------------------------------------
# memory_map: E820 into boot_info's table; where E820 gives nothing, build the same table from
# E801 or AH=88h. Records the source in boot_info + 8 (1 E820, 2 E801, 3 AH=88h).
memory_map:
    movw $e820_table, %di
    xorl %ebx, %ebx
    xorw %bp, %bp                  # entries kept
1:  movl $0xe820, %eax
    movl $24, %ecx
    movl $0x534d4150, %edx         # "SMAP"
    movl $1, 20(%di)               # ACPI 3 attributes: "valid" unless the BIOS says otherwise
    int $0x15
    jc 3f                          # carry: the end of the list (or no E820 at all)
    cmpl $0x534d4150, %eax
    jne 3f
    movl 8(%di), %eax              # skip empty entries
    orl 12(%di), %eax
    jz 2f
    addw $24, %di
    incw %bp
    cmpw $E820_MAX, %bp
    je 3f
2:  testl %ebx, %ebx
    jnz 1b
3:  testw %bp, %bp
    jz 4f
    movw %bp, boot_info + 10
    movb $1, boot_info + 8
    ret
4:  # No E820: conventional memory from INT 12h plus extended memory from E801 or AH=88h.
    movw $e820_table, %di
    movzwl boot_info + 12, %eax
    shll $10, %eax
    movl $0, 0(%di)
    movl $0, 4(%di)
    movl %eax, 8(%di)
    movl $0, 12(%di)
    movl $1, 16(%di)
    movl $1, 20(%di)
    movw $0xe801, %ax
    xorw %bx, %bx
    xorw %cx, %cx
    xorw %dx, %dx
    int $0x15
    jc 6f
    testw %ax, %ax                 # some BIOSes answer in CX/DX only
    jnz 5f
    movw %cx, %ax
    movw %dx, %bx
5:  movb $2, boot_info + 8
    movw $2, boot_info + 10
    movzwl %ax, %eax               # KiB between 1 MiB and 16 MiB
    shll $10, %eax
    movl $0x100000, %ecx
    call add_ram_entry
    testw %bx, %bx
    jz 7f
    movzwl %bx, %eax               # 64 KiB blocks above 16 MiB
    shll $16, %eax
    movl $0x1000000, %ecx
    incw boot_info + 10
    jmp add_ram_entry
6:  movb $0x88, %ah
    int $0x15
    jc 8f
    movb $3, boot_info + 8
    movw $2, boot_info + 10
    movzwl %ax, %eax
    shll $10, %eax
    movl $0x100000, %ecx
    jmp add_ram_entry
7:  ret
8:  movw $msg_no_memory_map, %si
    jmp fatal

# add_ram_entry: append (base ECX, length EAX, type 1) after the entry at DI; DI advances.
add_ram_entry:
    addw $24, %di
    movl %ecx, 0(%di)
    movl $0, 4(%di)
    movl %eax, 8(%di)
    movl $0, 12(%di)
    movl $1, 16(%di)
    movl $1, 20(%di)
    ret

# ---------------------------------------------------------------------------------------------
# enable_a20: already on, else BIOS (INT 15h AX=2401h), else the keyboard controller, else
# port 92h; each followed by a check. Records the method in boot_info + 9.
enable_a20:
    call a20_is_on
    jnz 9f
    movb $1, boot_info + 9
    movw $0x2401, %ax
    int $0x15
    call a20_is_on
    jnz 9f
    movb $2, boot_info + 9
    call kbc_wait
    movb $0xd1, %al                # write output port
    outb %al, $0x64
    call kbc_wait
    movb $0xdf, %al                # ... with A20 on
    outb %al, $0x60
    call kbc_wait
    call a20_is_on
    jnz 9f
    movb $3, boot_info + 9
    inb $0x92, %al
    orb $2, %al
    andb $0xfe, %al                # never pulse the reset bit
    outb %al, $0x92
    call a20_is_on
    jnz 9f
    movw $msg_no_a20, %si
    jmp fatal
9:  ret

kbc_wait:                          # until the controller's input buffer is empty (bounded)
    movw $0xffff, %cx
1:  inb $0x64, %al
    testb $2, %al
    jz 2f
    loop 1b
2:  ret

# a20_is_on: ZF clear (jnz) when A20 is on. Writes to 0:0600 and FFFF:0610, the same byte
# when A20 is off. Tried a few times, since the KBC and port 92h may take a moment.
a20_is_on:
    pushw %es
    pushw %cx
    movw $0xffff, %ax
    movw %ax, %es
    movw $0x100, %cx
1:  movb $0x00, 0x600
    movb $0xff, %es:0x610
    cmpb $0xff, 0x600              # wrapped around: A20 is off
    jne 2f
    loop 1b
    xorw %ax, %ax                  # ZF set: off
2:  popw %cx
    popw %es
    ret

# ---------------------------------------------------------------------------------------------
# Console for stage 2: COM1 (8N1, 115200: Bochs shows garbage on an unset line) and the BIOS.
serial_init:
    movw $COM1 + 1, %dx
    xorb %al, %al
    outb %al, %dx                  # no interrupts
    movw $COM1 + 3, %dx
    movb $0x80, %al
    outb %al, %dx                  # DLAB
    movw $COM1, %dx
    movb $1, %al
    outb %al, %dx                  # divisor 1: 115200 baud
    movw $COM1 + 1, %dx
    xorb %al, %al
    outb %al, %dx
    movw $COM1 + 3, %dx
    movb $0x03, %al
    outb %al, %dx                  # 8N1
    movw $COM1 + 2, %dx
    movb $0xc7, %al
    outb %al, %dx                  # FIFO on, cleared
    movw $COM1 + 4, %dx
    movb $0x03, %al
    outb %al, %dx                  # DTR, RTS
    ret

# print: the NUL-terminated string at DS:SI, on the BIOS screen and on COM1.
print:
1:  lodsb
    testb %al, %al
    jz 3f
    movb %al, %cl
    movb $0x0e, %ah
    movw $0x0007, %bx
    int $0x10
    movw $COM1 + 5, %dx
    movw $0xffff, %bp
2:  inb %dx, %al                   # wait for the transmitter (bounded: no UART, no hang)
    testb $0x20, %al
    jnz 4f
    decw %bp
    jnz 2b
4:  movw $COM1, %dx
    movb %cl, %al
    outb %al, %dx
    jmp 1b
3:  ret

# fatal: print the message at SI and halt for good.
fatal:
    pushw %si
    movw $msg_prefix, %si
    call print
    popw %si
    call print
    movw $msg_halted, %si
    call print
1:  cli
    hlt
    jmp 1b

msg_prefix:
    .asciz "\r\nnetloader: "
msg_halted:
    .asciz "\r\nnetloader: system halted.\r\n"
msg_no_a20:
    .asciz "E-A20: cannot enable the A20 line (BIOS, keyboard controller and port 92h all failed)."
msg_no_memory_map:
    .asciz "E-MEMMAP: the BIOS gives no memory map (INT 15h E820, E801 and 88h all failed)."

    .p2align 3
gdt:
    .quad 0                        # null
    .quad 0x00cf9a000000ffff       # 0x08: 32-bit code, flat 4 GiB
    .quad 0x00cf92000000ffff       # 0x10: data, flat 4 GiB
    .quad 0x00af9a000000ffff       # 0x18: 64-bit code
    .quad 0x00009a000000ffff       # 0x20: 16-bit code, 64 KiB (for a return to real mode)
    .quad 0x000092000000ffff       # 0x28: 16-bit data, 64 KiB
    .globl gdt_tss
gdt_tss:
    .quad 0, 0                     # 0x30: 64-bit TSS, filled in by the runtime
gdt_end:
    .globl gdt_descriptor
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt

# ---------------------------------------------------------------------------------------------
# The hand-off record. Layout mirrored by runtime/src/boot_info.rs.
    .section .stage2.data, "aw"
    .p2align 4
    .globl boot_info
boot_info:
    .long BOOT_INFO_MAGIC          # 0  magic
    .word 3                        # 4  layout version (2: the PXE fields, 3: the PXE stack kept)
    .byte 0                        # 6  form
    .byte 0                        # 7  BIOS drive
    .byte 0                        # 8  memory map source
    .byte 0                        # 9  A20 method
    .word 0                        # 10 memory map entries
    .word 0                        # 12 conventional memory, KiB (INT 12h)
    .word 0                        # 14 reserved
e820_table:                        # 16 E820_MAX entries of 24 bytes
    .fill E820_MAX * 24, 1, 0
pxe_fields:                         # 3088 PXE: API, statuses, cached DHCP packets (stage1/pxe.s);
    .fill 16 + 2 * 1472 + 16, 1, 0 #      zero on every other form

    .section .bss.boot, "aw", @nobits
    .p2align 4
boot_stack:                        # for the runtime's first steps only: from the network card
    .skip 16 * 1024                # on, it runs on a stack in upper memory (runtime/src/main.rs)
    .globl boot_stack_top
boot_stack_top:
