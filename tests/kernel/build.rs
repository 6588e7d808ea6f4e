//! Link the bins as freestanding images: `mbtest` at 1 MiB, `mbtest-low` at 0x8000, `mb2test`
//! at 2 MiB (the per-bin scripts set the base and INCLUDE the common kernel.ld).
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
    println!("cargo:rustc-link-arg-bins=-Wl,-L{dir}");
    println!("cargo:rustc-link-arg-bin=mbtest=-Wl,-T{dir}/link-high.ld");
    println!("cargo:rustc-link-arg-bin=mbtest-low=-Wl,-T{dir}/link-low.ld");
    println!("cargo:rustc-link-arg-bin=mb2test=-Wl,-T{dir}/link-mb2.ld");
    for file in [
        "kernel.ld",
        "link-high.ld",
        "link-low.ld",
        "link-mb2.ld",
        "src/entry.s",
        "src/entry2.s",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }
}
