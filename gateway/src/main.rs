//! The `authgate` binary: parses the command line and runs it
//! (`authgate_gateway::cli`).

use std::process::ExitCode;

use clap::Parser as _;

use authgate_gateway::cli::{Cli, run};

// A request allocates and frees many small objects (JSON values, headers,
// futures); glibc's allocator was a quarter of the server's instructions
// per call (docs/benchmarks.md), mimalloc a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("authgate: {err}");
            ExitCode::FAILURE
        }
    }
}
