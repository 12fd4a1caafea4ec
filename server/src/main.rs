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
    /// Runs the sync server over a data directory.
    Serve(ServeArgs),
    /// Manages teams, members, devices and data in a server's data directory.
    Admin(AdminArgs),
    /// Starts a server with a sample team and a month of synced work, for a first look.
    Demo(DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
                let _ = writeln!(std::io::stderr(), "error: {e}");
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
