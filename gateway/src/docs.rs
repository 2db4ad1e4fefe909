//! The generated tool reference, checked and written by `cargo xtask`.

use std::collections::BTreeMap;
use std::path::Path;

/// Generated files by path relative to the repository root.
pub fn render() -> Result<BTreeMap<String, String>, String> {
    Ok(authgate_core::docs::render(&crate::registry()?))
}

/// Files under `root` that differ from what would be generated, and
/// generated-looking files no tool produces any more.
pub fn stale_files(root: &Path) -> Result<Vec<String>, String> {
    let files = render()?;
    let mut stale: Vec<String> = files
        .iter()
        .filter(|(path, content)| {
            std::fs::read_to_string(root.join(path)).ok().as_deref() != Some(content.as_str())
        })
        .map(|(path, _)| path.clone())
        .collect();
    if let Ok(entries) = std::fs::read_dir(root.join("docs/tools")) {
        for entry in entries.flatten() {
            let path = format!("docs/tools/{}", entry.file_name().to_string_lossy());
            if !files.contains_key(&path) {
                stale.push(path);
            }
        }
    }
    Ok(stale)
}

/// Writes every generated file and removes leftovers.
pub fn write(root: &Path) -> Result<usize, String> {
    let files = render()?;
    let _ = std::fs::remove_dir_all(root.join("docs/tools"));
    for (path, content) in &files {
        let full = root.join(path);
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&full, content).map_err(|e| format!("{}: {e}", full.display()))?;
    }
    Ok(files.len())
}
