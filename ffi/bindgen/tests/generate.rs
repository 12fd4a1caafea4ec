//! The bindings the phones build against, generated from the library `cargo test` just built.
//!
//! `uniffi-bindgen` (this crate's binary) reads the metadata of `libdoorstep_ffi.so` and writes
//! Kotlin, Swift and Python. Kotlin and Swift are not compiled here (no Android NDK or Xcode
//! on this machine); this test checks that each language's file is generated and exposes the
//! agent's API, with `sync_now` as a coroutine in each. The Python file is what
//! `ffi/tests/python` then imports (scripts/test).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The ffi library `cargo test` built: in `target/<profile>/deps` beside this test (a
/// dependency's cdylib is not copied up to `target/<profile>`), or there after a `cargo build`.
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let name = format!(
        "{}doorstep_ffi{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let deps = exe
        .parent()
        .expect("the test runs from target/<profile>/deps");
    [deps.join(&name), deps.parent().unwrap_or(deps).join(&name)]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{name} is built with the workspace's tests, beside {}",
                exe.display()
            )
        })
}

fn read_all(dir: &Path, ext: &str) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("the output directory") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&read_all(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    text
}

#[test]
fn kotlin_swift_and_python_bindings_are_generated_from_the_built_library() {
    let library = library();
    let out = tempfile::TempDir::new().unwrap();
    // (language, file extension, what the agent's API must look like there)
    let expected: [(&str, &str, &[&str]); 3] = [
        (
            "kotlin",
            "kt",
            &["class Home", "suspend fun `syncNow`", "DoorstepException"],
        ),
        (
            "swift",
            "swift",
            &["class Home", "func syncNow() async throws", "DoorstepError"],
        ),
        (
            "python",
            "py",
            &["class Home", "async def sync_now", "class DoorstepError"],
        ),
    ];
    for (language, ext, needles) in expected {
        let dir = out.path().join(language);
        let status = Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
            .arg("generate")
            .arg(&library)
            .args(["--language", language, "--no-format", "--out-dir"])
            .arg(&dir)
            .status()
            .expect("uniffi-bindgen runs");
        assert!(status.success(), "uniffi-bindgen failed for {language}");
        let text = read_all(&dir, ext);
        for needle in needles {
            assert!(
                text.contains(needle),
                "the {language} bindings lack `{needle}`"
            );
        }
    }
}
