//! The `warden` binary: one entry point for serving, operating and checking Warden.

mod demo;
mod init;
mod offline;
mod ops;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: the request path allocates many small short-lived objects (JSON values, headers);
/// glibc malloc spent a quarter of the CPU time on them under load (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "warden",
    version,
    about = "Security gateway and sandbox for LLM agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the data-plane and admin listeners until SIGINT/SIGTERM.
    Serve {
        #[arg(long, default_value = "warden.toml")]
        config: PathBuf,
    },
    /// Write a runnable starter project (config, sample agent, tool, policies, fresh secrets).
    Init {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite files that already exist.
        #[arg(long)]
        force: bool,
    },
    /// Run Warden's main scenario end to end on its embedded defaults.
    Demo {
        /// Keep the demo project directory instead of deleting it.
        #[arg(long)]
        keep: bool,
    },
    /// Issue a development token signed with the configured HS256 key.
    Token {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "dev-user")]
        sub: String,
        /// Lifetime, e.g. `1h`, `30m`.
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[arg(long, default_value = "warden.toml")]
        config: PathBuf,
    },
    /// Show or flip the kill switch (global, per tenant, per agent) in the store.
    Killswitch {
        #[command(subcommand)]
        action: ops::KillAction,
        #[arg(long, default_value = "warden.toml", global = true)]
        config: PathBuf,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Screen text with a configured guardrail; prints the ApplyGuardrail response JSON.
    Guard {
        #[arg(long)]
        guardrail: String,
        #[arg(long, value_enum, default_value = "input")]
        source: ops::GuardSource,
        /// The text to screen: a file, or `-` for standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
        #[arg(long, default_value = "warden.toml")]
        config: PathBuf,
    },
    /// Scan IAM policies, CloudFormation, Terraform, Bedrock agent definitions and warden.toml
    /// projects for risky posture; text, JSON or SARIF; exit 1 at or above --fail-on.
    Scan(warden_posture::ScanArgs),
    /// Judge a Bedrock trace against egress evidence (Warden events, VPC Flow Logs, Route 53
    /// Resolver logs); prints the verdict; exit 0 allow, 1 warn, 3 block.
    Inspect(offline::InspectArgs),
    /// Run one action-group call through the broker and its sandbox; prints the Lambda
    /// response and every egress event.
    Tool(offline::ToolArgs),
    /// The control plane: receive and list verdicts exported by data planes.
    Console(offline::ConsoleArgs),
    /// Config file tools.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Verify the hash chain, sequence, segment digests and HEAD; name the first bad record.
    Verify {
        /// An audit directory or one segment file; default: the configured audit directory.
        path: Option<PathBuf>,
        #[arg(long, default_value = "warden.toml")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate a config file and everything it references; print every problem.
    Check {
        #[arg(long, default_value = "warden.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("warden: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve { config } => ops::serve(&config),
        Command::Init { dir, force } => {
            init::write_starter(&dir, force)?;
            println!("Wrote a starter project to {}.", dir.display());
            println!("Next: cd {} && warden serve", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { keep } => demo::run(keep),
        Command::Token {
            tenant,
            sub,
            ttl,
            config,
        } => ops::token(&config, &tenant, &sub, &ttl),
        Command::Killswitch { action, config } => ops::killswitch(&config, action),
        Command::Audit {
            action: AuditAction::Verify { path, config },
        } => ops::audit_verify(path, &config),
        Command::Config {
            action: ConfigAction::Check { config },
        } => ops::config_check(&config),
        Command::Scan(args) => Ok(ExitCode::from(
            u8::try_from(warden_posture::cli::run_to_exit_code(&args)).unwrap_or(2),
        )),
        Command::Inspect(args) => offline::inspect(&args),
        Command::Tool(args) => offline::tool(&args),
        Command::Console(args) => offline::console(&args),
        Command::Guard {
            guardrail,
            source,
            file,
            config,
        } => ops::guard(&config, &guardrail, source, &file),
    }
}
