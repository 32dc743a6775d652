//! ansible-playbook from ansible-core, as the oracle the fixtures are recorded with: pointed
//! at the fleet (its known_hosts, strict host key checking, the system Python on hosts), a
//! throwaway ANSIBLE_HOME, and a recording stdout callback. Never a dependency of olympus:
//! only the ignored `record`/`regenerate` tests use it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::fleet::Fleet;

/// ansible-core's recap counters (`summarize()`'s names) and olympus's names for them.
pub const RECAP_NAMES: &[(&str, &str)] = &[
    ("ok", "ok"),
    ("changed", "changed"),
    ("failures", "failed"),
    ("skipped", "skipped"),
    ("ignored", "ignored"),
    ("rescued", "rescued"),
    ("unreachable", "unreachable"),
];

/// The ansible-playbook to record with (`OLYMPUS_ANSIBLE_PLAYBOOK`).
pub fn playbook_binary() -> String {
    std::env::var("OLYMPUS_ANSIBLE_PLAYBOOK").unwrap_or_else(|_| {
        panic!("set OLYMPUS_ANSIBLE_PLAYBOOK to an ansible-playbook from ansible-core")
    })
}

/// Runs `pb` on the fleet with the stdout callback `callback` from `callbacks_dir`, and
/// parses the JSON document the callback prints.
pub fn run(
    fleet: &Fleet,
    home: &Path,
    pb: &Path,
    callbacks_dir: &Path,
    callback: &str,
    extra: &[&str],
) -> (Value, Output) {
    run_with(
        fleet,
        &fleet.inventory,
        home,
        pb,
        callbacks_dir,
        callback,
        extra,
        &[],
    )
}

/// [`run`] with another inventory and more `ANSIBLE_*` settings.
#[allow(clippy::too_many_arguments)]
pub fn run_with(
    fleet: &Fleet,
    inventory: &Path,
    home: &Path,
    pb: &Path,
    callbacks_dir: &Path,
    callback: &str,
    extra: &[&str],
    envs: &[(&str, &Path)],
) -> (Value, Output) {
    let ssh_args = format!(
        "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=60s",
        fleet.known_hosts.display()
    );
    let out = Command::new(playbook_binary())
        .arg(pb)
        .arg("-i")
        .arg(inventory)
        .args(extra)
        .env("ANSIBLE_STDOUT_CALLBACK", callback)
        .env("ANSIBLE_CALLBACK_PLUGINS", callbacks_dir)
        .env("ANSIBLE_SSH_ARGS", &ssh_args)
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
        .env("ANSIBLE_HOME", home)
        .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_os_str())))
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("OLYMPUS_UNSET_X")
        .output()
        .expect("run ansible-playbook");
    let text = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{}: no JSON from ansible ({e}): {text}\n{}",
            pb.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (doc, out)
}
