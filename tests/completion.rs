//! `mesh-render completion SHELL`: scripts the shells themselves load and complete with.

mod common;

use std::process::Command;

fn script(shell: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let o = common::binary(dir.path(), dir.path())
        .args(["completion", shell])
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty());
    String::from_utf8(o.stdout).expect("a script is text")
}

/// Runs `shell` with `args` and `script` saved as a file, returning its standard output.
fn run_with(shell: &str, args: &[&str], script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("completion");
    std::fs::write(&file, script).unwrap();
    let o = Command::new(shell)
        .args(args)
        .arg(&file)
        .output()
        .expect("the shell runs");
    assert!(
        o.status.success(),
        "{shell} refused the script: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn bash_completes_subcommands_and_their_flags() {
    if !common::judge_available("bash", "loads the bash completion script") {
        return;
    }
    let script = script("bash");
    // The function bash's `complete -F` calls, with the words typed so far.
    let probe = |words: &str| {
        format!(
            "{script}\nCOMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
             _mesh__render mesh-render \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
    };
    let subcommands = run_with("bash", &[], &probe("mesh-render c"));
    let offered: Vec<&str> = subcommands.lines().collect();
    assert!(offered.contains(&"check"), "{subcommands}");
    assert!(offered.contains(&"completion"), "{subcommands}");
    let flags = run_with("bash", &[], &probe("mesh-render check --"));
    for flag in ["--against", "--schemas", "--format"] {
        assert!(
            flags.lines().any(|l| l == flag),
            "{flag} not offered: {flags}"
        );
    }
    let shells = run_with("bash", &[], &probe("mesh-render completion \"\""));
    for shell in ["bash", "zsh", "fish", "powershell"] {
        assert!(shells.lines().any(|l| l == shell), "{shell}: {shells}");
    }
}

#[test]
fn fish_completes_subcommands() {
    if !common::judge_available("fish", "loads the fish completion script") {
        return;
    }
    let script = format!("{}\ncomplete -C 'mesh-render ch'\n", script("fish"));
    let offered = run_with("fish", &[], &script);
    assert!(
        offered.lines().any(|l| l.starts_with("check\t")),
        "{offered}"
    );
}

#[test]
fn zsh_parses_its_completion_script() {
    if !common::judge_available("zsh", "parses the zsh completion script") {
        return;
    }
    let script = script("zsh");
    assert!(script.starts_with("#compdef mesh-render"), "{script}");
    run_with("zsh", &["-n"], &script);
}

#[test]
fn powershell_registers_a_completer_naming_every_subcommand() {
    // No PowerShell on a Debian machine: the script is read, not run.
    let script = script("powershell");
    assert!(
        script.contains("Register-ArgumentCompleter -Native -CommandName 'mesh-render'"),
        "{script}"
    );
    for sub in ["init", "keys", "check", "diff", "pki", "completion"] {
        assert!(script.contains(&format!("'{sub}'")), "{sub}");
    }
}

#[test]
fn an_unknown_shell_is_refused_with_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let o = common::binary(dir.path(), dir.path())
        .args(["completion", "tcsh"])
        .output()
        .expect("the binary runs");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bash") && err.contains("powershell"), "{err}");
}
