//! Generated docs are fresh, and the two migration trees agree.

#[test]
fn generated_tool_docs_are_fresh() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let stale = authgate_gateway::docs::stale_files(&root).expect("the registry builds");
    assert!(
        stale.is_empty(),
        "generated docs are stale: {stale:?}; run `cargo xtask schemas` and commit docs/"
    );
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_versions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let list = |backend: &str| {
        let mut names: Vec<String> = std::fs::read_dir(root.join(backend))
            .expect("migrations folder")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let sqlite = list("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, list("postgres"));
}

/// No manifest of the gateway or a crate enables the store's `testing`
/// feature in `[dependencies]`: the test helpers (fresh databases) are a
/// feature of the store that only dev-dependencies enable, so the server
/// never has them.
#[test]
fn test_helpers_are_not_a_normal_dependency() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut manifests = vec![root.join("gateway/Cargo.toml")];
    for entry in std::fs::read_dir(root.join("crates")).expect("crates") {
        manifests.push(entry.expect("entry").path().join("Cargo.toml"));
    }
    for manifest in manifests {
        let text = std::fs::read_to_string(&manifest).expect("manifest");
        let value: toml::Table = toml::from_str(&text).expect("toml");
        let deps = value.get("dependencies").and_then(|d| d.as_table());
        for (name, dep) in deps.into_iter().flatten() {
            let features = dep
                .get("features")
                .and_then(|f| f.as_array())
                .map(|f| f.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>())
                .unwrap_or_default();
            assert!(
                !(name == "authgate-store" && features.contains(&"testing")),
                "{}: the testing feature belongs in [dev-dependencies]",
                manifest.display()
            );
        }
    }
}

/// docs/webhooks.md lists every change type of the one typed list with
/// its meaning, and shows a sample payload of each with the pinned keys.
#[test]
fn the_webhook_docs_show_every_change_type() {
    use authgate_core::ChangeType;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/webhooks.md")).expect("docs/webhooks.md");
    let samples = doc
        .split("## A sample of each")
        .nth(1)
        .expect("the samples section");
    for t in ChangeType::ALL {
        let row = format!("| `{}` | {} |", t.name(), t.meaning().trim());
        assert!(doc.contains(&row), "docs/webhooks.md lacks the row {row}");
        let section = samples
            .split(&format!("### {}\n", t.name()))
            .nth(1)
            .unwrap_or_else(|| panic!("no sample of {}", t.name()));
        let json = section
            .split("```json\n")
            .nth(1)
            .and_then(|s| s.split("\n```").next());
        let sample: serde_json::Value =
            serde_json::from_str(json.expect("a json block")).expect("the sample parses");
        let mut keys: Vec<&String> = sample.as_object().expect("an object").keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["data", "project_id", "timestamp", "type"],
            "{}",
            t.name()
        );
        assert_eq!(sample["type"], t.name());
    }
    assert_eq!(samples.matches("\n### ").count(), ChangeType::ALL.len());
}
