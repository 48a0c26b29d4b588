//! `mesh-render completion SHELL`: the shell completion script clap_complete generates for the
//! command line, mended where the generator gets a hyphenated binary name wrong.

use super::args::Cli;

const BIN: &str = "mesh-render";

/// The completion script for `shell`.
pub(super) fn script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut script);
    match shell {
        clap_complete::Shell::Bash => mend_bash(script),
        _ => script,
    }
}

/// clap_complete's bash script tracks the words typed as `mesh__render__subcmd__check`, but
/// labels its per-subcommand arms by escaping the whole path at once, `mesh__subcmd__render__…`,
/// so no subcommand's flags ever complete (clap-rs/clap#6421, open). The arms get the label the
/// tracking builds; the test in tests/completion.rs runs the script in bash.
fn mend_bash(script: Vec<u8>) -> Vec<u8> {
    let escaped = BIN.replace('-', "__");
    let wrong = BIN.replace('-', "__subcmd__");
    match String::from_utf8(script) {
        Ok(text) => text.replace(&wrong, &escaped).into_bytes(),
        Err(e) => e.into_bytes(),
    }
}
