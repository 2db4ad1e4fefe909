//! Generated docs are fresh, and the two migration trees agree.

#[test]
fn generated_tool_docs_are_fresh() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let stale = authgate_gateway::docs::stale_files(&root);
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
