//! `uniffi-bindgen`: generates the foreign bindings of `doorstep_ffi` from the built library.
//!
//! Library mode reads the metadata uniffi's proc macros left in `libdoorstep_ffi.so`, so the
//! bindings always match the library they ship with:
//! `uniffi-bindgen generate --library target/debug/libdoorstep_ffi.so --language kotlin
//! --out-dir OUT` (also `swift`, `python`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
