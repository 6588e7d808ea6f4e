//! memcpy, memmove, memset, memcmp and bcmp for the 32-bit platform: the linux-gnu core expects
//! libc to provide them. Written in assembly so that LLVM cannot turn their bodies back into
//! calls to themselves. The i386 C convention: arguments on the stack, EAX/ECX/EDX free,
//! ESI/EDI/EBX/EBP kept, the direction flag clear.
//!
//! Copies and fills move four 32-bit words per loop pass, and `rep movsb`/`rep stosb` only the
//! last 0-15 bytes: QEMU's TCG runs each iteration of a `rep` string instruction as a trip
//! through its dispatcher, so a frame copied by `rep movsb` cost ~7 us there, the unrolled loop
//! a fraction of it (and no less on a 486 or Pentium, where unaligned words are legal).

core::arch::global_asm!(
    r#"
    .section .text.memfns, "ax"
    .globl memcpy
memcpy:
    push esi
    push edi
    mov edi, [esp + 12]
    mov esi, [esp + 16]
    mov ecx, [esp + 20]
5:                                 # memmove joins here: forward is safe (see there)
    mov edx, ecx
    shr edx, 4
    jz 6f
    and ecx, 15
1:                                 # 16 bytes per pass, each read before its write
    mov eax, [esi]
    mov [edi], eax
    mov eax, [esi + 4]
    mov [edi + 4], eax
    mov eax, [esi + 8]
    mov [edi + 8], eax
    mov eax, [esi + 12]
    mov [edi + 12], eax
    add esi, 16
    add edi, 16
    dec edx
    jnz 1b
6:
    rep movsb                      # the last 0-15 bytes
    mov eax, [esp + 12]
    pop edi
    pop esi
    ret

    .globl memmove
memmove:
    push esi
    push edi
    mov edi, [esp + 12]
    mov esi, [esp + 16]
    mov ecx, [esp + 20]
    cmp edi, esi
    jbe 5b                         # destination below: every word is read before it is overwritten
    lea edx, [esi + ecx]
    cmp edi, edx
    jae 5b                         # no overlap
    lea esi, [esi + ecx - 1]       # overlapping, destination above: copy backwards
    lea edi, [edi + ecx - 1]
    std
    rep movsb
    cld
    mov eax, [esp + 12]
    pop edi
    pop esi
    ret

    .globl memset
memset:
    push edi
    mov edi, [esp + 8]
    movzx eax, byte ptr [esp + 12]
    mov ecx, [esp + 16]
    imul eax, eax, 0x01010101      # the byte in all four lanes
    mov edx, ecx
    shr edx, 4
    jz 8f
    and ecx, 15
7:
    mov [edi], eax
    mov [edi + 4], eax
    mov [edi + 8], eax
    mov [edi + 12], eax
    add edi, 16
    dec edx
    jnz 7b
8:
    rep stosb
    mov eax, [esp + 8]
    pop edi
    ret

    .globl memcmp
    .globl bcmp
memcmp:
bcmp:
    push esi
    push edi
    mov esi, [esp + 12]
    mov edi, [esp + 16]
    mov edx, [esp + 20]
    xor eax, eax
    test edx, edx
    jz 4f
3:
    movzx eax, byte ptr [esi]
    movzx ecx, byte ptr [edi]
    sub eax, ecx
    jnz 4f
    inc esi
    inc edi
    dec edx
    jnz 3b
4:
    pop edi
    pop esi
    ret
"#
);
