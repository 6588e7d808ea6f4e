//! `netloader serve` for the boot tests (`tests/tests/serve.rs`) and `serve_bench`: the same
//! options and code as the CLI's subcommand (`netloader::serve`), as a binary of this package
//! so that the tests find it (`CARGO_BIN_EXE_serve`) without building the CLI separately.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "serve")]
struct Cli {
    #[command(flatten)]
    args: netloader::serve::ServeArgs,
}

fn main() -> ExitCode {
    match netloader::serve::run(Cli::parse().args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("netloader: {error:#}");
            ExitCode::FAILURE
        }
    }
}
