//! `oversight health`: asks a server's standard `grpc.health.v1.Health/Check` and exits 0 only
//! when the answer is SERVING (used by the container's HEALTHCHECK).

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Flags of `oversight health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The server's gRPC address.
    #[arg(
        long,
        env = "OVERSIGHT_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    server: String,
    /// The service to ask about; empty means the server as a whole.
    #[arg(long, value_name = "NAME", default_value = "")]
    service: String,
    /// Seconds to wait for the connection and the answer.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    timeout: u64,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// Prints the status and fails unless it is SERVING.
pub fn run(args: HealthArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let status = runtime.block_on(check(&args))?;
    let name = status.as_str_name();
    println!("{name}");
    if status != ServingStatus::Serving {
        let service = if args.service.is_empty() {
            "the server"
        } else {
            args.service.as_str()
        };
        bail!("{service} at {} is {name}, not SERVING", args.server);
    }
    Ok(())
}

async fn check(args: &HealthArgs) -> anyhow::Result<ServingStatus> {
    let timeout = Duration::from_secs(args.timeout.max(1));
    let channel = args
        .tls
        .endpoint(&args.server)?
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", args.server))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: args.service.clone(),
        })
        .await?
        .into_inner();
    Ok(response.status())
}
