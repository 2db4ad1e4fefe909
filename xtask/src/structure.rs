//! Checks of the source tree's structure that the compiler cannot make:
//! a tool adapter (`crates/*/src/tools.rs`) and a gateway handler
//! (`gateway/src/{rest,mcp,auth,oauth,admin}/`) write no audit record and
//! open no unit of work or connection of their own: that is the domain's.

use std::path::{Path, PathBuf};

/// What an adapter or handler may not write, with why.
const FORBIDDEN: &[(&str, &str)] = &[
    (".read(async", "opens a unit of work"),
    (".write(async", "opens a unit of work"),
    (".autocommit(async", "opens a connection"),
    ("with_conn!", "runs a query"),
    ("diesel::", "runs a query"),
    ("authgate_audit::record(", "writes an audit record"),
    ("NewAuditEvent", "writes an audit record"),
    (".record(conn", "writes an audit record"),
];

/// The places the rule covers, under the repository root.
pub fn covered_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(crates) = std::fs::read_dir(root.join("crates")) {
        for krate in crates.flatten() {
            let tools = krate.path().join("src/tools.rs");
            if tools.is_file() {
                out.push(tools);
            }
        }
    }
    for dir in ["rest", "mcp", "auth", "oauth", "admin"] {
        collect_rs(&root.join("gateway/src").join(dir), &mut out);
    }
    out.sort();
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each forbidden use in `source` (the file's code before its test
/// module), as `line: what (why)`.
pub fn violations(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let text = line.split("//").next().unwrap_or(line);
        for (needle, why) in FORBIDDEN {
            if text.contains(needle) {
                out.push(format!("{}: `{needle}` {why}", n + 1));
            }
        }
    }
    out
}

/// Every forbidden use in the covered files, as `path:line: what (why)`.
pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for file in covered_files(root) {
        let source = std::fs::read_to_string(&file).unwrap_or_default();
        for v in violations(&source) {
            problems.push(format!("{}:{v}", file.display()));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_finds_what_it_forbids() {
        let handler = "async fn h(app: App) -> Answer {\n    let x = app.store.write(async |conn| {\n        NewAuditEvent::new(p, t).record(conn, now).await\n    }).await?;\n}\n#[cfg(test)]\nmod tests { fn t() { store.read(async |c| 1); } }\n";
        let found = violations(handler);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("2: `.write(async`"), "{found:?}");
        assert!(
            found.iter().any(|f| f.contains("NewAuditEvent")),
            "{found:?}"
        );
        assert!(violations("// app.store.write(async |c| ...)\nfn thin() {}\n").is_empty());
    }

    #[test]
    fn tools_and_handlers_stay_thin() {
        let root = crate::root();
        let files = covered_files(&root);
        // Every domain's tools.rs and every gateway handler directory that exists.
        assert!(files.iter().filter(|f| f.ends_with("tools.rs")).count() >= 10);
        assert!(
            files
                .iter()
                .any(|f| f.ends_with("gateway/src/rest/identity.rs"))
        );
        let problems = check(&root);
        assert!(
            problems.is_empty(),
            "a tool adapter or handler does the domain's work; move it into a domain function:\n{}",
            problems.join("\n")
        );
    }
}
