//! memcpy, memmove, memset, memcmp and bcmp for the 32-bit platform: the linux-gnu core expects
//! libc to provide them. Written in assembly so that LLVM cannot turn their bodies back into
//! calls to themselves. The i386 C convention: arguments on the stack, EAX/ECX/EDX free,
//! ESI/EDI/EBX/EBP kept, the direction flag clear.

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
    mov eax, edi
    rep movsb
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
    mov eax, edi
    cmp edi, esi
    jbe 2f
    lea edx, [esi + ecx]
    cmp edi, edx
    jae 2f
    lea esi, [esi + ecx - 1]       # overlapping, destination above: copy backwards
    lea edi, [edi + ecx - 1]
    std
    rep movsb
    cld
    pop edi
    pop esi
    ret
2:
    rep movsb
    pop edi
    pop esi
    ret

    .globl memset
memset:
    push edi
    mov edi, [esp + 8]
    mov eax, [esp + 12]
    mov ecx, [esp + 16]
    mov edx, edi
    rep stosb
    mov eax, edx
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
