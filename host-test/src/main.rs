//! `kinema`: render and inspect OpenFX effects through the strict Kinema host.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = kinema_host::cli::Cli::parse();
    match kinema_host::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
