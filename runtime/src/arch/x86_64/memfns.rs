//! memcpy, memmove, memset, memcmp and bcmp: the linux-gnu core expects libc to provide them.
//! Written in assembly so that LLVM cannot turn their bodies back into calls to themselves.
//! Copies and fills move four 64-bit words per loop pass (see the 32-bit platform's memfns.rs
//! for why not `rep movsb` alone).

core::arch::global_asm!(
    r#"
    .section .text.memfns, "ax"
    .globl memcpy
memcpy:
    mov rax, rdi
    mov rcx, rdx
5:                                 # memmove joins here: forward is safe (see there)
    mov r8, rcx
    shr r8, 5
    jz 6f
    and ecx, 31
1:                                 # 32 bytes per pass, each read before its write
    mov r9, [rsi]
    mov [rdi], r9
    mov r9, [rsi + 8]
    mov [rdi + 8], r9
    mov r9, [rsi + 16]
    mov [rdi + 16], r9
    mov r9, [rsi + 24]
    mov [rdi + 24], r9
    add rsi, 32
    add rdi, 32
    dec r8
    jnz 1b
6:
    rep movsb                      # the last 0-31 bytes
    ret

    .globl memmove
memmove:
    mov rax, rdi
    mov rcx, rdx
    cmp rdi, rsi
    jbe 5b                         # destination below: every word is read before it is overwritten
    lea r8, [rsi + rdx]
    cmp rdi, r8
    jae 5b                         # no overlap
    lea rsi, [rsi + rdx - 1]       # overlapping, destination above: copy backwards
    lea rdi, [rdi + rdx - 1]
    std
    rep movsb
    cld
    ret

    .globl memset
memset:
    mov r8, rdi
    movzx eax, sil
    mov rcx, 0x0101010101010101    # the byte in all eight lanes
    imul rax, rcx
    mov rcx, rdx
    mov r9, rcx
    shr r9, 5
    jz 8f
    and ecx, 31
7:
    mov [rdi], rax
    mov [rdi + 8], rax
    mov [rdi + 16], rax
    mov [rdi + 24], rax
    add rdi, 32
    dec r9
    jnz 7b
8:
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
