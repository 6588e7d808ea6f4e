# netloader stage 1 for the PCI option ROM form: the ROM header, PCI data structure, PnP
# expansion header, and the code the BIOS runs from the ROM's shadow copy.
#
# The BIOS copies the ROM into the C0000-EFFFF area and far-calls `rom_init` (offset 3) at POST;
# it returns at once: booting happens only if the BIOS picks this card, through the PnP boot
# entry vector `rom_bev`. That unpacks the LZ4-compressed runtime image (a block appended by the
# builder) to 0:8000, undoes the builder's branch filter, and enters stage 2 there with BL = 5
# (option ROM) and DL = 0 (no drive).
#
# The decompressor runs in "unreal" mode: DS and ES get 4 GiB limits from a moment in protected
# mode, so 16-bit code can address the ROM copy and the image with 32-bit offsets.
#
# The code is linked far away and runs at CS:offset with CS = the ROM's segment, so every
# address in it is written as (label - rom_start). The builder
# (image-builder/src/rom.rs) fills in these fields:
#   0x02 u8   ROM size in 512-byte units
#   0x08 u16  offset of the compressed payload in the ROM
#   0x0C u32  compressed payload length
#   0x10 u32  unpacked image length (checked after unpacking)
#   PCIR + 0x04/0x06 vendor/device, + 0x08 device list offset, + 0x10 image length
#   PnP + 0x09 header checksum; the ROM's last byte: the checksum of the whole ROM.

    .section .rom.header, "a"
    .code16
    .set ROM_LOAD_ADDRESS, 0x8000
    .set ROM_FORM_OPTION_ROM, 5
    .set ROM_FIELD_PAYLOAD_OFFSET, 0x08
    .set ROM_FIELD_PAYLOAD_LEN, 0x0c
    .set ROM_FIELD_IMAGE_LEN, 0x10
    .set ROM_COM1, 0x3f8

    .globl rom_start
rom_start:
    .byte 0x55, 0xaa
    .byte 0                                  # size, from the builder
    .byte 0xeb, rom_init - rom_start - 5     # jmp short rom_init (offset 3: the init vector)
    nop
    .fill 0x18 - 6, 1, 0                     # builder fields at 0x08, 0x0C, 0x10
    .word rom_pcir - rom_start
    .word rom_pnp - rom_start

    .balign 4
rom_pcir:                                        # PCI Firmware 3.0 data structure
    .ascii "PCIR"
    .word 0, 0                               # vendor, device (builder)
    .word 0                                  # device list offset from PCIR (builder)
    .word rom_pcir_end - rom_pcir                    # structure length
    .byte 3                                  # structure revision: PCI 3.0
    .byte 0x00, 0x00, 0x02                   # class: network controller, Ethernet
    .word 0                                  # image length in 512-byte units (builder)
    .word 1                                  # code revision
    .byte 0                                  # code type: x86 (legacy BIOS)
    .byte 0x80                               # indicator: last image
    .word 0                                  # maximum runtime image length: the whole ROM
    .word 0                                  # configuration utility header: none
    .word 0                                  # DMTF CLP entry point: none
rom_pcir_end:

    .balign 16
rom_pnp:                                         # PnP BIOS 1.0A expansion header
    .ascii "$PnP"
    .byte 1                                  # structure revision
    .byte (rom_pnp_end - rom_pnp) / 16               # length in 16-byte units
    .word 0                                  # next header: none
    .byte 0                                  # reserved
    .byte 0                                  # checksum (builder)
    .long 0                                  # device identifier
    .word rom_manufacturer - rom_start
    .word rom_product - rom_start
    .byte 0x02, 0x00, 0x00                   # device type: network, Ethernet
    .byte 0x54                               # indicators: IPL device, may be shadowed/cached
    .word 0                                  # boot connection vector: none (not a disk)
    .word 0                                  # disconnect vector
    .word rom_bev - rom_start                # bootstrap entry vector
    .word 0                                  # reserved
    .word 0                                  # static resource information vector
rom_pnp_end:

# Init (far call at POST): nothing to set up; the boot happens through the BEV.
rom_init:
    movw $0x0020, %ax                        # PnP status: an IPL device is attached
    lret

# Boot entry vector (called by INT 19h when the BIOS boots this card; never returns).
rom_bev:
    cli
    cld
    xorw %ax, %ax
    movw %ax, %ss
    movw $0x7c00, %sp
    movw %cs, %ax
    movzwl %ax, %ebx
    shll $4, %ebx                            # EBX = the ROM copy's linear address

    # Unreal mode: a GDTR on the stack pointing at the GDT in this ROM, flat data segments.
    leal (rom_gdt - rom_start)(%ebx), %eax
    pushl %eax
    pushw $(rom_gdt_end - rom_gdt - 1)
    movw %sp, %bp
    lgdtl (%bp)
    addw $6, %sp
    movl %cr0, %eax
    orb $1, %al
    movl %eax, %cr0
    jmp 1f
1:  movw $0x08, %ax
    movw %ax, %ds
    movw %ax, %es
    movl %cr0, %eax
    andb $0xfe, %al
    movl %eax, %cr0
    jmp 2f
2:  xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es

    movzwl %cs:ROM_FIELD_PAYLOAD_OFFSET, %esi
    addl %ebx, %esi
    movl %cs:ROM_FIELD_PAYLOAD_LEN, %ebp
    addl %esi, %ebp                          # EBP = end of the compressed block
    movl $ROM_LOAD_ADDRESS, %edi
    call rom_lz4_unpack
    movl %cs:ROM_FIELD_IMAGE_LEN, %eax
    addl $ROM_LOAD_ADDRESS, %eax
    cmpl %eax, %edi
    jne rom_unpack_failed

    # Undo the branch filter (image-builder/src/rom/branch_filter.rs): walk the image as the
    # builder did; after each E8/E9 byte, the 4-byte operand goes from image-relative back to
    # relative to the next instruction (i + 5), and those 4 bytes are skipped.
    movl $ROM_LOAD_ADDRESS, %esi
    leal -4(%eax), %ebp                      # positions i with i + 5 <= length
1:  cmpl %ebp, %esi
    jae 2f
    movb (%esi), %al
    incl %esi
    andb $0xfe, %al
    cmpb $0xe8, %al
    jne 1b
    movl %esi, %eax
    subl $(ROM_LOAD_ADDRESS - 4), %eax       # i + 5, with ESI = load address + i + 1
    subl %eax, (%esi)
    addl $4, %esi
    jmp 1b
2:
    movb $ROM_FORM_OPTION_ROM, %bl
    xorb %dl, %dl
    ljmp $0, $ROM_LOAD_ADDRESS

# rom_lz4_unpack: one LZ4 block from DS:ESI (ending at EBP) to ES:EDI. Sequences: a token (high
# nibble literal count, low nibble match length - 4, 15 = more in 255-continued bytes), the
# literals, a 16-bit little-endian back offset, the length bytes; the last has literals only.
# Byte-wise copies make overlapping matches (offset < length) repeat, as the format wants.
rom_lz4_unpack:
    movzbl (%esi), %edx                      # DL = token
    incl %esi
    movl %edx, %eax
    shrl $4, %eax
    call rom_lz4_length
    movl %eax, %ecx
    rep movsb (%esi), %es:(%edi)
    cmpl %ebp, %esi
    jae 3f
    movzwl (%esi), %ebx                      # back offset
    addl $2, %esi
    movl %edx, %eax
    andl $15, %eax
    call rom_lz4_length
    leal 4(%eax), %ecx
    pushl %esi
    movl %edi, %esi
    subl %ebx, %esi
    rep movsb (%esi), %es:(%edi)
    popl %esi
    jmp rom_lz4_unpack
3:  ret

# rom_lz4_length: EAX = a 4-bit length field; if it is 15, add the continuation bytes at DS:ESI.
rom_lz4_length:
    cmpl $15, %eax
    jne 5f
4:  movzbl (%esi), %ecx
    incl %esi
    addl %ecx, %eax
    cmpl $255, %ecx
    je 4b
5:  ret

# The image did not unpack to its recorded length: say so on screen and COM1, then stop.
rom_unpack_failed:
    movw $(rom_unpack_failed_text - rom_start), %si
6:  movb %cs:(%si), %al
    testb %al, %al
    jz 8f
    movb $0x0e, %ah
    movw $0x0007, %bx
    int $0x10
    movw $ROM_COM1 + 5, %dx
    movw $0xffff, %cx
7:  inb %dx, %al                             # wait (bounded) for the transmitter
    testb $0x20, %al
    loopz 7b
    movb %cs:(%si), %al
    movw $ROM_COM1, %dx
    outb %al, %dx
    incw %si
    jmp 6b
8:  cli
    hlt
    jmp 8b

    .balign 8
rom_gdt:
    .quad 0
    .quad 0x00cf92000000ffff                 # 0x08: data, base 0, limit 4 GiB
rom_gdt_end:

rom_unpack_failed_text:
    .ascii "E-ROM-UNPACK: the option ROM's runtime image did not unpack to its recorded size: "
    .asciz "rebuild the ROM with netloader build --form rom\r\n"
rom_manufacturer:
    .asciz "netloader"
rom_product:
    .asciz "netloader network boot"
    .globl rom_end
rom_end:
