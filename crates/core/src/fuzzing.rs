//! The fuzz corpora (`fuzz/corpus/<target>`), replayed on stable: each
//! crate's harness bodies are plain functions that `fuzz/` drives under
//! libFuzzer and the crate's tests replay through [`replay`].

/// Runs `body` on every input of `fuzz/corpus/<target>`; how many there
/// were. A missing corpus fails the calling test.
pub fn replay(target: &str, body: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut n = 0;
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if let Ok(input) = std::fs::read(&path) {
            body(&input);
            n += 1;
        }
    }
    n
}
