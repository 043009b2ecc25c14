//! Compiles the C varargs shim (see src/shim.c).
fn main() {
    println!("cargo:rerun-if-changed=src/shim.c");
    cc::Build::new().file("src/shim.c").warnings(true).flag_if_supported("-Wextra").compile("kinema_host_shim");
}
