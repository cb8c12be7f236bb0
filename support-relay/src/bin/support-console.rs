//! `support-console`: see [`support_relay::cli::console`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    support_relay::cli::console::main().await
}
