//! memcpy, memmove, memset, memcmp and bcmp: the linux-gnu core expects libc to provide them.
//! Written in assembly so that LLVM cannot turn their bodies back into calls to themselves.

core::arch::global_asm!(
    r#"
    .section .text.memfns, "ax"
    .globl memcpy
memcpy:
    mov rax, rdi
    mov rcx, rdx
    rep movsb
    ret

    .globl memmove
memmove:
    mov rax, rdi
    mov rcx, rdx
    cmp rdi, rsi
    jbe 2f
    lea r8, [rsi + rdx]
    cmp rdi, r8
    jae 2f
    lea rsi, [rsi + rdx - 1]       # overlapping, destination above: copy backwards
    lea rdi, [rdi + rdx - 1]
    std
    rep movsb
    cld
    ret
2:
    rep movsb
    ret

    .globl memset
memset:
    mov r8, rdi
    mov eax, esi
    mov rcx, rdx
    rep stosb
    mov rax, r8
    ret

    .globl memcmp
    .globl bcmp
memcmp:
bcmp:
    xor eax, eax
    test rdx, rdx
    jz 4f
3:
    movzx eax, byte ptr [rdi]
    movzx ecx, byte ptr [rsi]
    sub eax, ecx
    jnz 4f
    inc rdi
    inc rsi
    dec rdx
    jnz 3b
4:
    ret
"#
);
