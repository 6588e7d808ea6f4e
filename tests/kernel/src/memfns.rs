//! memcpy, memmove, memset, memcmp and bcmp, which the linux-gnu core expects libc to provide:
//! netloader's runtime's own (its platform layer's), for the target this kernel is built for.

#[cfg(target_arch = "x86_64")]
#[path = "../../../runtime/src/arch/x86_64/memfns.rs"]
mod platform;
#[cfg(target_arch = "x86")]
#[path = "../../../runtime/src/arch/x86/memfns.rs"]
mod platform;
