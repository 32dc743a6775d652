//! Ansible Vault as a user meets it on the command line: vaulted files and values written by
//! ansible-vault (tests/fixtures/results/vault/, the playbook vault.yml; their decrypted
//! values are compared with ansible-core's in module_results.rs) are refused with a clear
//! error, naming the file and line, when no password or a wrong one is given — before any
//! host is touched — and read with the password from a file, a script, a vault id or
//! ansible.cfg.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results")
}

fn syntax_check(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_olympus"))
        .current_dir(dir)
        .args(["run", "--syntax-check"])
        .arg(fixtures().join("vault.yml"))
        .args(args)
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("ANSIBLE_CONFIG")
        .output()
        .expect("run olympus")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn vaulted_content_needs_the_right_password() {
    let dir = tempfile::tempdir().expect("tmp");
    let pw = fixtures().join("vault/password");
    let prod = format!("prod@{}", fixtures().join("vault/password-prod").display());

    // No password: refused by name, with the file and line of the first vaulted value.
    let o = syntax_check(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("vault.yml:9:15: vault: "), "{}", text(&o));
    assert!(
        text(&o).contains("no vault password was given"),
        "{}",
        text(&o)
    );

    // A wrong password: refused, never decrypted into garbage.
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not the password\n").expect("write");
    let o = syntax_check(
        dir.path(),
        &["--vault-password-file", wrong.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("no vault password given decrypts"),
        "{}",
        text(&o)
    );

    // The right ones: from a file and a vault id.
    let o = syntax_check(
        dir.path(),
        &[
            "--vault-password-file",
            pw.to_str().unwrap(),
            "--vault-id",
            &prod,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A script that prints the password, and ansible.cfg's vault_password_file.
    let script = dir.path().join("pw.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat '{}'\n", pw.display())).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(
        dir.path().join("ansible.cfg"),
        format!("[defaults]\nvault_password_file = {}\n", script.display()),
    )
    .expect("cfg");
    // ansible.cfg's script is used beside --vault-id.
    let o = syntax_check(dir.path(), &["--vault-id", &prod]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // --vault-password-file on the command line replaces it.
    let o = syntax_check(
        dir.path(),
        &["--vault-password-file", wrong.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}
