//! Entry point: parse the command line and run it; one clear line on failure.

use clap::Parser;

/// mimalloc instead of the system allocator: a GraphQL response is thousands of small
/// allocations, and glibc's malloc spent a fifth of the server's time on them under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = mcu::cli::Cli::parse();
    // Boxed: the command's future holds the settings and the whole start-up (16 KiB), which
    // belongs on the heap rather than the main thread's stack.
    match Box::pin(mcu::cli::run(cli)).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcu: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
