# netloader stage 1: the boot sector shared by every block-device form.
#
# One 512-byte sector serves the floppy (sector 0, BPB filled in by the builder), the USB/hard
# disk image (the MBR, partition table filled in by the builder), the hybrid ISO booted as a disk
# (the ISO's system area) and the El Torito no-emulation CD boot image (the BIOS loads it at
# 0:7C00 from the boot catalog). It loads the runtime image to 0:8000 and jumps there.
#
# The builder patches four fields at fixed offsets (see image-builder/src/stage1.rs):
#   0x1A4 u16  number of device sectors to read
#   0x1A6 u8   boot form (1 floppy, 2 cdrom, 3 usb/hdd, 4 iso as disk) -- passed on in BL
#   0x1A7 u8   sectors per 16 KiB read (32 for 512-byte sectors, 8 for 2048-byte CD sectors)
#   0x1B0 u32  first sector of the runtime image, in the device's sectors
# 0x1A8..0x1B8 is the INT 13h AH=42h disk address packet itself, kept in the sector to save
# code: FIELD_LBA is its low LBA half and its buffer segment is the running load address.
# A CD is read with INT 13h AH=42h only; a disk tries AH=42h (after AH=41h says the extensions
# exist) and falls back to CHS reads, with the geometry from AH=08h, else probed.
#
# The code is linked far from 0x7C00, so every absolute address is written as ORG(label).

    .section .boot.sector, "a"
    .code16
    .set BOOT_BASE, 0x7c00
    .set FIELD_COUNT, BOOT_BASE + 0x1a4
    .set FIELD_FORM, BOOT_BASE + 0x1a6
    .set FIELD_CHUNK, BOOT_BASE + 0x1a7
    .set DAP, BOOT_BASE + 0x1a8
    .set FIELD_LBA, DAP + 8
    .set VAR_SEG, DAP + 6
    .set FORM_CDROM, 2
    # Scratch variables in free low memory (0x500..0x7BFF is unused at boot).
    .set VAR_DRIVE, 0x500
    .set VAR_SPT, 0x502
    .set VAR_HEADS, 0x504
    .set LOAD_SEG, 0x0800          # runtime image at 0x8000
    .set SEG_PER_CHUNK, 0x400      # 16 KiB per chunk, whatever the sector size
    .set RETRIES, 3

    .globl boot_sector_start
boot_sector_start:
    .byte 0xeb, boot_main - boot_sector_start - 2   # jmp short over the BPB
    nop
    # 0x03..0x3E: BIOS parameter block (floppy) or zeros. Filled in by the builder.
    .fill 0x3e - 3, 1, 0

boot_main:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw $BOOT_BASE, %sp
    sti
    ljmp $0, $(BOOT_BASE + normalised - boot_sector_start)   # CS:IP = 0:7Cxx whatever the BIOS used
normalised:
    cld
    movb %dl, VAR_DRIVE
    cmpb $FORM_CDROM, FIELD_FORM
    je lba_next
    movb $0x41, %ah
    movw $0x55aa, %bx
    int $0x13
    jc chs_setup
    cmpw $0xaa55, %bx
    jne chs_setup
    testb $1, %cl                  # bit 0: the packet (AH=42h) interface exists
    jz chs_setup

lba_next:
    movw FIELD_COUNT, %cx
    testw %cx, %cx
    jz loaded
    movzbw FIELD_CHUNK, %ax
    cmpw %ax, %cx
    jae 1f
    movw %cx, %ax
1:  movw $RETRIES, %di
2:  movw %ax, DAP + 2              # (the BIOS may have changed it on a failed try)
    pushw %ax
    movw $DAP, %si
    movb VAR_DRIVE, %dl
    movb $0x42, %ah
    int $0x13
    popw %ax
    jnc 3f
    pushw %ax                      # reset the drive, then try again: USB sticks and slow
    xorb %ah, %ah                  # drives often fail a first read
    int $0x13
    popw %ax
    decw %di
    jnz 2b
    jmp disk_error
3:  movzwl %ax, %eax
    subw %ax, FIELD_COUNT
    addl %eax, FIELD_LBA
    addw $SEG_PER_CHUNK, VAR_SEG
    jmp lba_next

chs_setup:
    xorw %di, %di                  # ES:DI = 0:0 works around BIOSes that write through it
    movb $0x08, %ah
    movb VAR_DRIVE, %dl
    int $0x13
    jc probe_geometry
    andw $0x3f, %cx
    jz probe_geometry
    movw %cx, VAR_SPT
    movb %dh, %al
    xorb %ah, %ah
    incw %ax
    movw %ax, VAR_HEADS
    jmp chs_next

probe_geometry:                    # floppy without AH=08h: find the largest readable sector
    movw $(BOOT_BASE + spt_candidates - boot_sector_start), %si
1:  lodsb
    testb %al, %al
    jz disk_error
    movb %al, %cl                  # cylinder 0, head 0, sector AL
    xorb %ch, %ch
    xorb %dh, %dh
    movb VAR_DRIVE, %dl
    movw $LOAD_SEG, %bx
    movw %bx, %es
    xorw %bx, %bx
    movw $0x0201, %ax
    pushw %cx
    int $0x13
    popw %cx
    jc 1b
    movw %cx, VAR_SPT
    movw $2, VAR_HEADS

chs_next:
    cmpw $0, FIELD_COUNT
    je loaded
    movw $RETRIES, %di
chs_retry:
    movw FIELD_LBA, %ax            # LBA / spt -> sector; / heads -> head, cylinder
    movw FIELD_LBA + 2, %dx
    divw VAR_SPT
    movb %dl, %cl
    incb %cl                       # sector, 1-based
    xorw %dx, %dx
    divw VAR_HEADS
    movb %dl, %dh                  # head
    movb %al, %ch                  # cylinder low 8 bits
    shlb $6, %ah
    orb %ah, %cl                   # cylinder bits 8-9 in CL bits 6-7
    movb VAR_DRIVE, %dl
    movw VAR_SEG, %bx
    movw %bx, %es
    xorw %bx, %bx
    movw $0x0201, %ax
    int $0x13
    jnc 2f
    xorb %ah, %ah                  # reset the controller, then try again
    int $0x13
    decw %di
    jnz chs_retry
    jmp disk_error
2:  decw FIELD_COUNT
    addl $1, FIELD_LBA
    addw $0x20, VAR_SEG
    jmp chs_next

loaded:
    movb VAR_DRIVE, %dl
    movb FIELD_FORM, %bl
    ljmp $0, $0x8000

disk_error:
    movw $(BOOT_BASE + disk_error_text - boot_sector_start), %si
1:  lodsb
    testb %al, %al
    jz 2f
    pushw %ax
    movb $0x01, %ah                # and on COM1 through the BIOS, for headless machines
    xorw %dx, %dx
    int $0x14
    popw %ax
    movb $0x0e, %ah
    movw $0x0007, %bx
    int $0x10
    jmp 1b
2:  hlt
    jmp 2b

spt_candidates:
    .byte 36, 18, 15, 9, 0
disk_error_text:
    .asciz "netloader: E-DISK-READ"

    .org 0x1a4, 0x00
    .word 0                        # FIELD_COUNT
    .byte 0                        # FIELD_FORM
    .byte 32                       # FIELD_CHUNK
    .byte 0x10, 0                  # DAP: packet size
    .word 0                        # DAP: sectors in this read
    .word 0, LOAD_SEG              # DAP: buffer offset, segment
    .long 0, 0                     # DAP: LBA (FIELD_LBA), high half
    # 0x1B8: disk signature, 0x1BE: partition table, 0x1FE: 0x55AA -- written by the builder.
    .org 0x1fe, 0x00
    .byte 0x55, 0xaa
