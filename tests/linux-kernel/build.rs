//! Link the kernel as a freestanding image by lxtest.ld (high virtual addresses for the 64-bit
//! part, the 16-bit setup at its file offset), or lxtest32.ld for the i586 build (the image at
//! 1 GiB).
fn main() {
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
    let script = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86") => "lxtest32.ld",
        _ => "lxtest.ld",
    };
    println!("cargo:rustc-link-arg-bins=-Wl,-L{dir}");
    println!("cargo:rustc-link-arg-bins=-Wl,-T{dir}/{script}");
    for file in [
        "lxtest.ld",
        "lxtest32.ld",
        "lxtest-layout.ld",
        "src/entry.s",
        "src/setup16.s",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }
}
