//! The command line: parses the arguments, captures the environment, hands each command to its
//! wiring, and turns the outcome into an exit code (the table in `exit`). It reads the mesh
//! description, the environment and the clock (`edge`) and is the only module that prints.

mod args;
mod check;
mod completion;
mod edge;
mod exit;
mod failure;
mod init;
mod keys;
mod locks;
mod progress;
mod render;
mod upgrade;
mod worktree;

use std::process::ExitCode;

use clap::Parser;

pub use args::{
    CheckArgs, Cli, Command, DiffArgs, Format, InitArgs, PkiCommand, RenderArgs, RotateStage,
    TargetArg, TemplateArgs, UpgradeArgs, UpgradeStage,
};
pub use exit::{ExitKind, Failure, Outcome};
pub use render::report;

pub fn main() -> ExitCode {
    let cli = Cli::parse().resolved();
    let env = edge::env();
    match run(&cli, &env) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(failure) => {
            // A value pasted into the wrong field never reaches a CI log through a message.
            eprintln!("error: {}", crate::shown::scrub(&failure.to_string()));
            ExitCode::from(failure.kind.code())
        }
    }
}

/// Runs one command in `env`.
pub fn run(cli: &Cli, env: &crate::env::Env) -> Result<Outcome, Failure> {
    let done = |r: Result<(), Failure>| r.map(|()| Outcome::Clean);
    let wait = std::time::Duration::from_secs(cli.wait);
    match &cli.command {
        Some(Command::Check(args)) => check::check(args, env, wait),
        Some(Command::Diff(args)) => check::diff(args, env, wait),
        Some(Command::Template(args)) => check::template(args, env, wait),
        Some(Command::Completion { shell }) => {
            edge::print(&completion::script(*shell))?;
            Ok(Outcome::Clean)
        }
        Some(Command::Init(args)) => done(init::init(args, env, wait)),
        Some(Command::Upgrade(args)) => done(upgrade::upgrade(args, env, wait)),
        Some(Command::Keys { config }) => done(keys::keys(config.as_deref(), env, wait)),
        Some(Command::Pki {
            command: PkiCommand::Renew { cluster, config },
        }) => done(keys::renew(config.as_deref(), cluster, env, wait)),
        Some(Command::Pki {
            command: PkiCommand::RotateRoot { stage, config },
        }) => done(keys::rotate_root(config.as_deref(), *stage, env, wait)),
        None => done(render::render(&cli.render, env, wait)),
    }
}
