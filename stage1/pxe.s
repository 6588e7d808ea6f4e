# netloader PXE entry: the first 1 KiB of netloader.pxe, the network boot program (NBP).
#
# A card's PXE ROM (or iPXE) downloads netloader.pxe over TFTP to 0:7C00 and jumps to its first
# byte in real mode with (PXE 2.1, section 4.4.5):
#   ES:BX     -> the PXENV+ structure
#   SS:SP+4   -> the !PXE structure (far pointer; SS:SP holds the far return into the ROM)
# netloader.pxe is these 1024 bytes, then the runtime image, which thus sits at 0x8000 where it
# is linked: nothing needs to be moved.
#
# Here: validate !PXE (else PXENV+, and the !PXE it points to), ask the ROM for its cached
# DHCP packets (PXENV_GET_CACHED_INFO: the DHCPACK, and the boot server's reply) and copy them
# into the hand-off record. Then the PXE stack either stays, for the runtime to decide on
# (runtime/src/pxe_stack.rs: it drives a card without a native driver through UNDI, or
# unloads the stack through its real-mode thunk), or is unloaded here (PXENV_UNDI_SHUTDOWN,
# PXENV_UNLOAD_STACK, then PXENV_STOP_UNDI, or PXENV_UNDI_CLEANUP on a pre-2.1 PXENV+-only
# stack) so that the card is quiet: when the build says never to use UNDI (UNDI_POLICY), or
# when the stack's memory (free base memory ends where it begins, INT 12h) would lie under
# netloader's own (up to __runtime_end, which stage 2 clears). Then jump to stage 2 at 0:8000
# with BL = 6 (PXE), DL = 0. Nothing here is fatal: without a usable PXE API the runtime
# simply does its own DHCP (the runtime reports what happened from the fields below).
#
# Hand-off fields (boot_info + BI_PXE; mirrored by runtime/src/boot_info.rs `PxeHandoff`):
#   +0  u8  API used: 0 none, 1 !PXE, 2 PXENV+, 3 netloader's option ROM (packets, no API)
#   +1  u8  found: bit 0 PXENV+ valid, bit 1 !PXE (stack pointer) valid, bit 2 !PXE via PXENV+,
#           bit 7 started by netloader's option ROM (ESI = "NLRM"; no API then)
#   +2  u16 PXENV+ version (0 when PXENV+ is invalid)
#   +4  u16 status of PXENV_UNDI_SHUTDOWN
#   +6  u16 status of PXENV_UNLOAD_STACK
#   +8  u16 status of PXENV_STOP_UNDI / PXENV_UNDI_CLEANUP
#       (each: 0 success, 0xFFFF not called, 0xFFFE failed with status 0, else the PXE status)
#   +10 u16 length of the cached DHCPACK (0: none)
#   +12 u16 length of the cached boot server reply (0: none)
#   +16 the DHCPACK, PACKET_MAX bytes; +16+PACKET_MAX the boot server reply
#   +2960 u32 the API entry used (offset, segment; 0 when none)
#   +2964 u32 the valid !PXE (offset, segment; 0 when none)
#   +2968 u32 the valid PXENV+ (offset, segment; 0 when none)
#   +2972 u8  the build's UNDI policy (UNDI_POLICY below)
#   +2973 u8  the stack: 0 no API, 1 kept for the runtime, 2 unloaded (its memory lies under
#             netloader's), 3 unloaded (the build says never UNDI)
#   +2974 u16 free base memory in KiB (INT 12h) when this entry started
#
# The code is linked far from 0x7C00 (like bootsector.s), so every absolute address of its own
# is written as PXE_BASE + (label - pxe_entry_start). Scratch variables live at 0x510.

    .section .pxe.entry, "ax"
    .code16
    .set PXE_BASE, 0x7c00
    .set FORM_PXE, 6
    .set BI_PXE, 3088                  # offset of the PXE fields in boot_info
    .set PACKET_MAX, 1472
    .set PXE_API, boot_info + BI_PXE
    .set PXE_FOUND, PXE_API + 1
    .set PXE_VERSION, PXE_API + 2
    .set PXE_ST_SHUTDOWN, PXE_API + 4
    .set PXE_ST_UNLOAD, PXE_API + 6
    .set PXE_ST_STOP, PXE_API + 8
    .set PXE_ACK_LEN, PXE_API + 10
    .set PXE_REPLY_LEN, PXE_API + 12
    .set PXE_ACK, PXE_API + 16
    .set PXE_REPLY, PXE_ACK + PACKET_MAX
    .set PXE_ENTRY_USED, PXE_API + 2960
    .set PXE_BANGPXE, PXE_API + 2964
    .set PXE_PXENV, PXE_API + 2968
    .set PXE_POLICY, PXE_API + 2972
    .set PXE_STACK, PXE_API + 2973
    .set PXE_BASE_KIB, PXE_API + 2974
    .set STACK_KEPT, 1
    .set STACK_UNDER_US, 2
    .set STACK_POLICY, 3
    .set POLICY_NEVER, 2
    # Scratch (0x500..0x7BFF is free; bootsector.s uses 0x500..0x505 on other forms).
    .set VAR_PXENV, 0x510              # far pointer from ES:BX
    .set VAR_BANGPXE, 0x514            # far pointer from SS:SP+4
    .set VAR_ENTRY, 0x518              # far pointer: the API entry we call
    .set PARAMS, 0x520                 # the parameter block of one call (16 bytes)
    .set OP_UNDI_CLEANUP, 0x02
    .set OP_UNDI_SHUTDOWN, 0x05
    .set OP_STOP_UNDI, 0x15
    .set OP_UNLOAD_STACK, 0x70
    .set OP_GET_CACHED_INFO, 0x71
    .set PACKET_DHCP_ACK, 2
    .set PACKET_CACHED_REPLY, 3
    .set CHAINED_MAGIC, 0x4d524c4e         # "NLRM" in ESI: from netloader's option ROM
    .set FOUND_CHAINED, 0x80
    .set API_NETLOADER_ROM, 3
    .set CHAIN_LEASE, 0x2000               # LEASE_AT in runtime/src/chain.rs

    .globl pxe_entry_start
pxe_entry_start:
    cli
    movw %sp, %bp
    movw 4(%bp), %cx                   # !PXE offset (SS is the ROM's stack segment)
    movw 6(%bp), %dx                   # !PXE segment
    xorw %ax, %ax
    movw %ax, %ds
    movw %bx, VAR_PXENV
    movw %es, VAR_PXENV + 2
    movw %cx, VAR_BANGPXE
    movw %dx, VAR_BANGPXE + 2
    movw %ax, %ss                      # our own stack below the NBP
    movw $PXE_BASE, %sp
    movw %ax, %es
    ljmp $0, $(PXE_BASE + pxe_normalised - pxe_entry_start)
pxe_normalised:
    sti
    cld
    movw $0xffff, %ax
    movw %ax, PXE_ST_SHUTDOWN
    movw %ax, PXE_ST_UNLOAD
    movw %ax, PXE_ST_STOP

    # --- Started by netloader's own option ROM (runtime/src/chain.rs): no PXE API to look for;
    # its DHCP answers wait at CHAIN_LEASE (u16 ACK length, u16 proxy answer length, then each
    # in a PACKET_MAX slot) and are taken as a PXE ROM's cached packets would be.
    cmpl $CHAINED_MAGIC, %esi
    jne 1f
    orb $FOUND_CHAINED, PXE_FOUND
    movb $API_NETLOADER_ROM, PXE_API
    movw $CHAIN_LEASE + 4, %si
    movw $PXE_ACK, %di
    movw CHAIN_LEASE, %cx
    movw $PXE_ACK_LEN, %bx
    call pxe_take_packet
    movw $CHAIN_LEASE + 4 + PACKET_MAX, %si
    movw $PXE_REPLY, %di
    movw CHAIN_LEASE + 2, %cx
    movw $PXE_REPLY_LEN, %bx
    call pxe_take_packet
    jmp pxe_no_api
1:
    # --- Which API: the !PXE from the stack, else PXENV+ (and, from 2.1 on, its !PXE).
    lesw VAR_PXENV, %di
    call pxe_check_pxenv
    jc 1f
    orb $1, PXE_FOUND
    movw %es:6(%di), %ax
    movw %ax, PXE_VERSION
    movw %di, PXE_PXENV
    movw %es, PXE_PXENV + 2
1:  lesw VAR_BANGPXE, %di
    call pxe_check_bangpxe
    jc 2f
    orb $2, PXE_FOUND
    jmp pxe_use_bangpxe
2:  testb $1, PXE_FOUND
    jz pxe_no_api
    lesw VAR_PXENV, %di
    cmpw $0x201, %es:6(%di)
    jb pxe_use_pxenv
    lesw %es:0x28(%di), %di            # PXENV+.PXEPtr
    call pxe_check_bangpxe
    jc pxe_use_pxenv
    orb $4, PXE_FOUND
pxe_use_bangpxe:                       # ES:DI -> a valid !PXE
    movw %di, PXE_BANGPXE
    movw %es, PXE_BANGPXE + 2
    movw %es:16(%di), %ax              # EntryPointSP
    movw %ax, VAR_ENTRY
    movw %es:18(%di), %ax
    movw %ax, VAR_ENTRY + 2
    movb $1, PXE_API
    jmp pxe_have_api
pxe_use_pxenv:
    lesw VAR_PXENV, %di
    movw %es:10(%di), %ax              # RMEntry
    movw %ax, VAR_ENTRY
    movw %es:12(%di), %ax
    movw %ax, VAR_ENTRY + 2
    movb $2, PXE_API
pxe_have_api:
    xorw %ax, %ax
    movw %ax, %es
    movl VAR_ENTRY, %eax
    movl %eax, PXE_ENTRY_USED

    # --- The cached DHCP packets: the ACK (our address) and the boot server's reply.
    movw $PACKET_DHCP_ACK, %ax
    movw $PXE_ACK, %di
    movw $PXE_ACK_LEN, %si
    call pxe_get_cached
    movw $PACKET_CACHED_REPLY, %ax
    movw $PXE_REPLY, %di
    movw $PXE_REPLY_LEN, %si
    call pxe_get_cached

    # --- Keep the stack for the runtime, unless the build says never or it lies under us.
    movb PXE_BASE + (pxe_undi_policy - pxe_entry_start), %al
    movb %al, PXE_POLICY
    int $0x12
    movw %ax, PXE_BASE_KIB
    movb $STACK_POLICY, PXE_STACK
    cmpb $POLICY_NEVER, PXE_BASE + (pxe_undi_policy - pxe_entry_start)
    je 4f
    movb $STACK_UNDER_US, PXE_STACK
    movzwl %ax, %eax
    shll $10, %eax
    cmpl $__runtime_end, %eax
    jb 4f
    movb $STACK_KEPT, PXE_STACK
    jmp pxe_no_api

    # --- Unload: the card goes quiet, the base code and UNDI leave.
4:  movw $OP_UNDI_SHUTDOWN, %bx
    call pxe_status_call
    movw %ax, PXE_ST_SHUTDOWN
    movw $OP_UNLOAD_STACK, %bx
    call pxe_status_call
    movw %ax, PXE_ST_UNLOAD
    movw $OP_STOP_UNDI, %bx
    cmpb $2, PXE_API                   # a PXENV+-only stack before 2.1 has no STOP_UNDI
    jne 3f
    cmpw $0x201, PXE_VERSION
    jae 3f
    movw $OP_UNDI_CLEANUP, %bx
3:  call pxe_status_call
    movw %ax, PXE_ST_STOP

pxe_no_api:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw $PXE_BASE, %sp
    movb $FORM_PXE, %bl
    xorb %dl, %dl
    ljmp $0, $stage2_entry

# ---------------------------------------------------------------------------------------------
# pxe_take_packet: CX bytes (at most PACKET_MAX) from 0:SI to 0:DI; the length to 0:BX.
pxe_take_packet:
    cmpw $PACKET_MAX, %cx
    jbe 1f
    movw $PACKET_MAX, %cx
1:  movw %cx, (%bx)
    rep movsb
    ret

# pxe_check_pxenv: CF clear when ES:DI is "PXENV+" with length >= 0x2C whose bytes sum to zero.
pxe_check_pxenv:
    cmpl $0x4e455850, %es:(%di)        # "PXEN"
    jne 9f
    cmpw $0x2b56, %es:4(%di)           # "V+"
    jne 9f
    movzbw %es:8(%di), %cx
    cmpw $0x2c, %cx
    jb 9f
    jmp pxe_checksum
9:  stc
    ret

# pxe_check_bangpxe: CF clear when ES:DI is "!PXE" with length >= 0x1C (up to EntryPointSP and
# beyond) whose bytes sum to zero.
pxe_check_bangpxe:
    movw %es, %ax                      # a null pointer (no !PXE on the stack) is not one
    orw %di, %ax
    jz 9b
    cmpl $0x45585021, %es:(%di)        # "!PXE"
    jne 9b
    movzbw %es:4(%di), %cx
    cmpw $0x1c, %cx
    jb 9b
pxe_checksum:                          # CX bytes from ES:DI sum to zero
    xorb %al, %al
    movw %di, %si
1:  addb %es:(%si), %al
    incw %si
    loop 1b
    testb %al, %al
    jnz 9b
    clc
    ret

# pxe_call: API call BX (opcode) with the parameter block at 0:PARAMS. AX = 0 on success.
# The !PXE entry takes (segment, offset, opcode) on the stack; the PXENV+ entry takes BX and
# ES:DI. Segment registers are reloaded afterwards: only our own values are trusted.
pxe_call:
    pushal
    cmpb $1, PXE_API
    jne 1f
    pushw $0                           # parameter segment
    pushw $PARAMS                      # parameter offset
    pushw %bx                          # opcode
    lcallw *VAR_ENTRY
    addw $6, %sp
    jmp 2f
1:  xorw %di, %di
    movw %di, %es
    movw $PARAMS, %di
    lcallw *VAR_ENTRY
    jnc 2f
    orw $1, %ax                        # PXENV+: carry means failure whatever AX says
2:  cli
    movw %ax, %cx
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    sti
    cld
    movw %cx, PARAMS + 14              # AX survives popal through the scratch word
    popal
    movw PARAMS + 14, %ax
    ret

# pxe_status_call: zero the parameter block, call BX, return AX = 0 on success, else the block's
# status word (0xFFFE when the call failed without one).
pxe_status_call:
    call pxe_clear_params
    call pxe_call
    testw %ax, %ax
    jz 1f
    movw PARAMS, %ax
    testw %ax, %ax
    jnz 1f
    movw $0xfffe, %ax
1:  ret

pxe_clear_params:
    pushw %di
    pushw %cx
    pushw %ax
    movw $PARAMS, %di
    movw $8, %cx
    xorw %ax, %ax
    rep stosw
    popw %ax
    popw %cx
    popw %di
    ret

# pxe_get_cached: PXENV_GET_CACHED_INFO for packet type AX; copy at most PACKET_MAX bytes of the
# packet to 0:DI and store its length at 0:SI (left 0 on failure). BufferSize 0 asks the ROM
# for a pointer to its own copy, which every PXE stack supports.
pxe_get_cached:
    call pxe_clear_params
    movw %ax, PARAMS + 2               # PacketType
    pushw %di
    pushw %si
    movw $OP_GET_CACHED_INFO, %bx
    call pxe_call
    popw %si
    popw %di
    testw %ax, %ax
    jnz 2f
    movw PARAMS + 4, %cx               # BufferSize
    cmpw $PACKET_MAX, %cx
    jbe 1f
    movw $PACKET_MAX, %cx
1:  movw PARAMS + 6, %ax               # Buffer: offset, then segment
    orw PARAMS + 8, %ax
    jz 2f
    movw %cx, (%si)
    pushw %ds
    ldsw PARAMS + 6, %si
    rep movsb                          # DS:SI (the ROM's packet) -> 0:DI
    popw %ds
2:  ret

# The build's UNDI policy (`netloader build --form pxe --undi`, image-builder/src/pxe.rs
# patches it): 0 auto (UNDI for a card without a native driver), 1 always, 2 never.
    .org 0x3e0, 0
pxe_undi_policy:
    .byte 0

# What the option ROM's first stage checks before it starts a downloaded file as netloader.pxe
# (runtime/src/chain.rs, NBP_SIGNATURE): the last 16 bytes of this entry.
    .org 0x3f0, 0
    .ascii "netloader NBP v1"
    .org 0x400, 0
