//! `support-relay`: see [`support_relay::cli::relay`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    support_relay::cli::relay::main().await
}
