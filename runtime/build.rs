//! Link the runtime as a freestanding image at 0x8000 (see link.ld). The arguments go to the
//! binary only, so nothing here leaks into host builds.
fn main() {
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=../stage1");
    // netloader.efi: the target's own linker settings (lld-link, a PE32+ EFI application
    // entered at efi_main) are all it needs.
    if std::env::var("TARGET").is_ok_and(|target| target.ends_with("-uefi")) {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-Wl,-z,norelro",
        "-Wl,-z,max-page-size=4096",
        "-Wl,--gc-sections",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T{dir}/link.ld");
}
