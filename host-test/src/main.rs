//! `kinema`: render and inspect OpenFX effects through the strict Kinema host.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = kinema_host::cli::Cli::parse();
    // detect has three outcomes (found, not found, unreadable), which scripts tell apart by status.
    if let kinema_host::cli::Command::Detect(args) = &cli.command {
        return std::process::ExitCode::from(kinema_host::cli::detect(args));
    }
    match kinema_host::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
