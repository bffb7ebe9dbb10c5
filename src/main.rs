//! Entry point: parse the command line and run it; one clear line on failure.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = mcu::cli::Cli::parse();
    match mcu::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcu: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
