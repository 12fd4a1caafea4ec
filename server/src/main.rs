//! The `doorstep` binary: parses the command line and hands over to the library.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use doorstep_server::admin::{self, AdminArgs};
use doorstep_server::agent::{self, AgentArgs};
use doorstep_server::demo::{self, DemoArgs};
use doorstep_server::serve::{self, ServeArgs};

/// Doorstep: offline-first field work for door-to-door agents.
#[derive(Debug, Parser)]
#[command(name = "doorstep", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once; boxing would only add noise
enum Command {
    /// A field agent's phone on the command line (offline journal).
    Agent(AgentArgs),
    /// Runs the sync server over a data directory or a PostgreSQL database (`--database-url`).
    Serve(ServeArgs),
    /// Manages teams, members, devices and data in a server's data directory or database.
    Admin(AdminArgs),
    /// Starts a server with a sample team and a month of synced work, for a first look.
    Demo(DemoArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let (json, result) = match cli.command {
        Command::Agent(args) => (args.json, agent::run(args)),
        Command::Serve(args) => (false, serve::run(args)),
        Command::Admin(args) => (args.json, admin::run(args)),
        Command::Demo(args) => (false, demo::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                let body = serde_json::json!({ "error": e.body() });
                let _ = doorstep_server::text::print_stdout(&body.to_string());
            } else {
                // One line, as the README promises (a playbook's problems are several).
                let _ = writeln!(std::io::stderr(), "error: {}", one_line(&e.to_string()));
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// A command line that does not parse: help and version print as clap writes them; anything
/// else (an unknown flag, a missing value) is one line, or `{"error": …}` under `--json`, with
/// exit status 2 (bad input).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let text = e.to_string();
    // clap's first line says what is wrong; the rest is usage and a hint.
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("bad command line")
        .trim()
        .trim_start_matches("error: ")
        .to_string();
    let message = format!("{first} (see --help)");
    if std::env::args().any(|a| a == "--json") {
        let body = serde_json::json!({ "error": { "code": "usage", "message": message } });
        println!("{body}");
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::from(2)
}

/// The lines of a message joined with "; ".
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
