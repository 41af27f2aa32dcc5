//! The command line itself: usage errors, help and completions, through the
//! real binary. (Building this test also makes cargo build the `ayni`
//! binary that the end-to-end tests in the root package drive.)

use std::process::Command;

fn ayni(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ayni")).args(args).env_remove("AYNI_HOME").output().unwrap()
}

#[test]
fn bad_usage_exits_2_and_names_the_problem() {
    let out = ayni(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
    let out = ayni(&["add"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KIND"));
}

#[test]
fn help_lists_the_contract_commands() {
    let out = ayni(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "init",
        "id",
        "add",
        "set",
        "unset",
        "get",
        "list",
        "delete",
        "transition",
        "history",
        "conflicts",
        "resolve",
        "import",
        "export",
        "check",
        "compact",
        "seed",
        "completions",
    ] {
        assert!(
            help.contains(&format!("  {cmd} ")) || help.contains(&format!("  {cmd}\n")),
            "{cmd} missing from:\n{help}"
        );
    }
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = ayni(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("transition"), "{shell} completion lacks subcommands");
    }
    assert_eq!(ayni(&["completions", "cmd.exe"]).status.code(), Some(2));
}

#[test]
fn commands_without_a_node_say_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = ayni(&["--home", dir.path().to_str().unwrap(), "list", "edan"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ayni init"));
}
