//! Prints the path of the example kernel (the Multiboot test kernel, ELF32), for scripts/demo.
fn main() {
    println!(
        "{}",
        netloader_tests::kernels::path(netloader_tests::kernels::Variant::Elf32).display()
    );
}
