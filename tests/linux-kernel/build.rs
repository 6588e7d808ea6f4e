//! Link the kernel as a freestanding image by lxtest.ld (high virtual addresses for the 64-bit
//! part, the 16-bit setup at its file offset).
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
    println!("cargo:rustc-link-arg-bins=-Wl,-T{dir}/lxtest.ld");
    for file in ["lxtest.ld", "src/entry.s", "src/setup16.s"] {
        println!("cargo:rerun-if-changed={file}");
    }
}
