//! `support-customer`: see [`support_relay::cli::customer`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    support_relay::cli::customer::main().await
}
