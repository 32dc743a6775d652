//! An Ansible project directory as its users run it: `cd project && olympus run site.yml`,
//! no flags. ansible.cfg gives the inventory, the login user, the key, host key checking,
//! forks, the roles path, fact gathering and become; ANSIBLE_* variables win over it; a
//! `--limit` or an inventory that leaves no host is an error (exit 3), not a quiet success.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::fleet::{FLEET_SUDO_PASSWORD, Fleet};
use serde_json::Value;

/// A project: ansible.cfg, hosts.ini (no ansible_user: remote_user comes from the cfg), a
/// role in a roles_path outside the project, and site.yml.
fn project(fleet: &Fleet, out: &Path) -> tempfile::TempDir {
    let base = tempfile::tempdir().expect("tmp");
    let p = base.path().join("project");
    let shared = base.path().join("shared-roles/marker/tasks");
    std::fs::create_dir_all(&shared).expect("mkdir");
    std::fs::create_dir_all(&p).expect("mkdir");
    std::fs::write(
        shared.join("main.yml"),
        format!(
            "- name: mark\n  copy: {{content: \"{{{{ inventory_hostname }}}} as {{{{ ansible_user_id | default('no facts') }}}}\\n\", dest: \"{}/{{{{ inventory_hostname }}}}\"}}\n",
            out.display()
        ),
    )
    .expect("role");
    let mut hosts = String::from("[web]\n");
    for h in &fleet.hosts {
        hosts.push_str(&format!(
            "{} ansible_host={} ansible_port={}\n",
            h.name, h.addr, h.port
        ));
    }
    std::fs::write(p.join("hosts.ini"), hosts).expect("hosts");
    std::fs::write(
        p.join("ansible.cfg"),
        format!(
            "[defaults]\ninventory = hosts.ini\nremote_user = {user}\nprivate_key_file = {key}\nhost_key_checking = False\nforks = 2\nroles_path = ../shared-roles\ngathering = explicit\nretry_files_enabled = False\n\n[privilege_escalation]\nbecome = False\n",
            user = fleet.user,
            key = fleet.key.display()
        ),
    )
    .expect("cfg");
    std::fs::write(
        p.join("site.yml"),
        "- hosts: web\n  roles:\n    - marker\n  tasks:\n    - name: who\n      command: id -un\n",
    )
    .expect("site");
    base
}

fn olympus(dir: &Path, home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_olympus"))
        .current_dir(dir)
        .args(args)
        .env("HOME", home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("ANSIBLE_INVENTORY")
        .envs(env.iter().copied())
        .output()
        .expect("run olympus")
}

#[test]
fn an_ansible_project_runs_with_no_flags() {
    let fleet = Fleet::start(2);
    let out = common::play::shared_dir();
    let base = project(&fleet, out.path());
    let p = base.path().join("project");
    let home = tempfile::tempdir().expect("home");

    let r = olympus(
        &p,
        home.path(),
        &["run", "site.yml", "--output", "json"],
        &[],
    );
    let doc: Value = serde_json::from_slice(&r.stdout).unwrap_or(Value::Null);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&r.stderr),
        String::from_utf8_lossy(&r.stdout)
    );
    for h in &fleet.hosts {
        // gathering = explicit: no facts, so the role saw no ansible_user_id.
        assert_eq!(
            std::fs::read_to_string(out.path().join(&h.name)).expect("marker"),
            format!("{} as no facts\n", h.name),
            "the role from roles_path ran on {}",
            h.name
        );
        assert_eq!(doc["recap"][&h.name]["failed"], 0);
    }
    let who = doc["plays"][0]["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "who"))
        .map(|t| t["hosts"]["h01"]["result"]["stdout"].clone())
        .unwrap_or(Value::Null);
    assert_eq!(
        who,
        Value::from(fleet.user.as_str()),
        "remote_user from ansible.cfg"
    );

    // ANSIBLE_* variables win over the file, and a bad one is named.
    let r = olympus(
        &p,
        home.path(),
        &["run", "site.yml"],
        &[("ANSIBLE_FORKS", "none")],
    );
    assert_eq!(r.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("ANSIBLE_FORKS: forks must be a whole number"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let r = olympus(
        &p,
        home.path(),
        &["run", "site.yml", "--output", "json"],
        &[("ANSIBLE_GATHERING", "implicit")],
    );
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("h01")).expect("marker"),
        format!("h01 as {}\n", fleet.user),
        "ANSIBLE_GATHERING=implicit gathered facts"
    );

    // ansible.cfg's become, with ANSIBLE_BECOME_* : the tasks run as root through sudo.
    let r = olympus(
        &p,
        home.path(),
        &["run", "site.yml", "--output", "json"],
        &[
            ("ANSIBLE_BECOME", "true"),
            ("OLYMPUS_BECOME_PASSWORD", FLEET_SUDO_PASSWORD),
        ],
    );
    let doc: Value = serde_json::from_slice(&r.stdout).unwrap_or(Value::Null);
    let who = doc["plays"][0]["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "who"))
        .map(|t| t["hosts"]["h01"]["result"]["stdout"].clone())
        .unwrap_or(Value::Null);
    assert_eq!(
        who,
        Value::from("root"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}

#[test]
fn nothing_to_run_on_is_an_error() {
    let fleet = Fleet::start(1);
    let out = common::play::shared_dir();
    let base = project(&fleet, out.path());
    let p = base.path().join("project");
    let home = tempfile::tempdir().expect("home");

    let r = olympus(&p, home.path(), &["run", "site.yml", "-l", "nothere"], &[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(3), "{err}");
    assert!(
        err.contains("--limit 'nothere' leaves no host to target"),
        "{err}"
    );

    // `--limit localhost` with no inventory targets the implicit localhost, as in
    // ansible-core (which runs `hosts: localhost` then, with a warning).
    std::fs::write(
        base.path().join("local.yml"),
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - debug: msg=local\n",
    )
    .expect("local");
    let r = olympus(
        base.path(),
        home.path(),
        &["run", "local.yml", "-l", "localhost"],
        &[],
    );
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(String::from_utf8_lossy(&r.stdout).contains("ok: [localhost]"));

    // Run from elsewhere, without the project's ansible.cfg: the inventory is empty, so
    // no play matches a host — refused, with the way out.
    std::fs::write(
        p.join("plain.yml"),
        "- hosts: web\n  tasks:\n    - debug: msg=x\n",
    )
    .expect("plain");
    let r = olympus(base.path(), home.path(), &["run", "project/plain.yml"], &[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(3), "{err}");
    assert!(err.contains("no play matches any host"), "{err}");
    assert!(err.contains("ansible.cfg"), "{err}");

    // A play that matches nothing beside one that does is skipped, as in ansible-core.
    std::fs::write(
        p.join("two.yml"),
        "- hosts: db\n  tasks:\n    - debug: msg=never\n- hosts: web\n  tasks:\n    - debug: msg=ran\n",
    )
    .expect("two");
    let r = olympus(&p, home.path(), &["run", "two.yml"], &[]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(String::from_utf8_lossy(&r.stdout).contains("skipping: no hosts matched"));

    // A world-writable project directory: its ansible.cfg is not trusted (ansible-core
    // does the same), which leaves no inventory here.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let r = olympus(&p, home.path(), &["run", "site.yml"], &[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(3), "{err}");
    assert!(err.contains("world writable"), "{err}");
}
