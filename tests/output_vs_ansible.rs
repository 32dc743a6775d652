//! The terminal output a user sees, against ansible-playbook's for the same project: the
//! project in tests/fixtures/project-output/ (ansible.cfg with a vault password file, a
//! vaulted vars file, a role included in a loop, a handler, a seeded `random`) is copied to
//! a fresh directory and run with no flags; every line olympus prints must be the line
//! ansible-core 2.19 printed (`expected.txt`, recorded as the fixture's README says).

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

#[test]
fn a_project_prints_what_ansible_playbook_prints() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/project-output");
    let dir = tempfile::tempdir().expect("tmp");
    copy_dir(&fixture, dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .current_dir(dir.path())
        .args(["run", "site.yml"])
        .env("NO_COLOR", "1")
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .output()
        .expect("run olympus");
    let got = String::from_utf8_lossy(&out.stdout);
    let want = std::fs::read_to_string(fixture.join("expected.txt")).expect("expected.txt");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{got}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert_eq!(a, b, "line {}: olympus / ansible-playbook\n{got}", i + 1);
    }
    assert_eq!(g.len(), w.len(), "{got}");
    // The role wrote its files, with the vaulted project's values.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out-a.conf")).expect("out-a"),
        "a:80\n"
    );
}
