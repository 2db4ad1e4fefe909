//! `cargo xtask schemas` writes the generated tool reference (docs/tools.md
//! and docs/tools/*.json); `cargo xtask check` fails when it is stale or
//! when a tool adapter or gateway handler does a domain's work
//! (`structure.rs`; its test runs the same check in `cargo test`).

use std::path::PathBuf;
use std::process::ExitCode;

mod structure;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    match command.as_str() {
        "schemas" | "docs" => match authgate_gateway::docs::write(&root()) {
            Ok(n) => {
                println!("wrote {n} files under docs/");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xtask: writing docs: {e}");
                ExitCode::FAILURE
            }
        },
        "check" => {
            let stale = match authgate_gateway::docs::stale_files(&root()) {
                Ok(stale) => stale,
                Err(e) => {
                    eprintln!("xtask: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let thick = structure::check(&root());
            if !thick.is_empty() {
                eprintln!(
                    "tool adapters or handlers doing a domain's work:\n{}",
                    thick.join("\n")
                );
                return ExitCode::FAILURE;
            }
            if stale.is_empty() {
                println!("docs are fresh; tools and handlers are thin");
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "stale generated docs: {stale:?}\nrun `cargo xtask schemas` and commit docs/"
                );
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: cargo xtask schemas|docs|check");
            ExitCode::FAILURE
        }
    }
}
