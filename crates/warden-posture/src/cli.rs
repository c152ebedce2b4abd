//! `warden scan` command-line interface: clap arguments and the entry point returning an exit code.

use crate::error::ScanError;
use crate::finding::Severity;
use crate::output;
use crate::scan::{scan_paths, ScanOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, grouped by file and resource.
    Text,
    /// JSON document.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Arguments of `warden scan`.
#[derive(clap::Args, Debug, Clone)]
pub struct ScanArgs {
    /// Files or directories to scan (IAM JSON, CloudFormation JSON/YAML, Terraform .tf or plan JSON,
    /// Bedrock agent JSON, OpenAPI tool schemas, warden.toml).
    #[arg(value_name = "PATH", required_unless_present = "list_rules")]
    pub paths: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit with code 1 when an unsuppressed finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = Severity::High, value_name = "SEV")]
    pub fail_on: Severity,
    /// Only report findings at or above this severity (text output).
    #[arg(long, value_enum, default_value_t = Severity::Info, value_name = "SEV")]
    pub min_severity: Severity,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Show suppressed findings in text output.
    #[arg(long)]
    pub show_suppressed: bool,
    /// Account id that is yours (repeatable); trust in other accounts counts as cross-account.
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    /// Colour text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print the rule catalogue and exit.
    #[arg(long)]
    pub list_rules: bool,
}

fn rules_table() -> String {
    let mut s = String::new();
    for r in crate::rules::RULES {
        s.push_str(&format!(
            "{:<12} {:<9} {:<36} {}\n",
            r.id,
            r.severity.as_str(),
            r.name,
            r.why
        ));
    }
    s
}

/// Runs a scan and writes the report. Returns the exit code: 0 = no unsuppressed finding at or
/// above `--fail-on` and no file errors, 1 = such findings exist, 2 = some input could not be
/// scanned (and no finding triggered 1). `Err` means a usage or IO problem (exit code 2).
pub fn run(args: &ScanArgs) -> Result<i32, ScanError> {
    if args.list_rules {
        write_out(args, &rules_table())?;
        return Ok(0);
    }
    if args.paths.is_empty() {
        return Err(ScanError::NoPaths);
    }
    if let Some(missing) = args.paths.iter().find(|p| !p.exists()) {
        return Err(ScanError::NotFound(missing.clone()));
    }
    let opts = ScanOptions {
        own_accounts: args.accounts.clone(),
        progress: !args.no_progress,
        ..ScanOptions::default()
    };
    let report = scan_paths(&args.paths, &opts);
    let body = match args.format {
        Format::Text => {
            let color = match args.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    args.output.is_none()
                        && std::io::stdout().is_terminal()
                        && std::env::var_os("NO_COLOR").is_none()
                }
            };
            output::text(&report, args.min_severity, args.show_suppressed, color)
        }
        Format::Json => serde_json::to_string_pretty(&output::json(&report))? + "\n",
        Format::Sarif => serde_json::to_string_pretty(&output::sarif(&report))? + "\n",
    };
    write_out(args, &body)?;
    Ok(if report.count_at_least(args.fail_on) > 0 {
        1
    } else if !report.errors.is_empty() {
        2
    } else {
        0
    })
}

/// Like [`run`], but prints a usage/IO error to stderr and maps it to exit code 2.
pub fn run_to_exit_code(args: &ScanArgs) -> i32 {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn write_out(args: &ScanArgs, body: &str) -> Result<(), ScanError> {
    match &args.output {
        Some(p) => std::fs::write(p, body).map_err(|source| ScanError::Output {
            path: p.display().to_string(),
            source,
        }),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(body.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|source| ScanError::Output {
                    path: "stdout".into(),
                    source,
                })
        }
    }
}
