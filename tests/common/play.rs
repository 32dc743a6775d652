//! `olympus run` on a playbook against the real-sshd fleet, the way a user runs it: the
//! binary, an inventory file, `--output json` parsed back.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::fleet::Fleet;

/// What a run printed and how it ended.
pub struct PlayRun {
    pub code: Option<i32>,
    /// `--output json`, parsed (`Null` when stdout was not JSON).
    pub doc: Value,
    pub stdout: String,
    pub stderr: String,
}

impl PlayRun {
    pub fn from_output(out: Output) -> PlayRun {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        PlayRun {
            code: out.status.code(),
            doc: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The result of the task named `task` on `host` (first play that has it).
    pub fn result(&self, task: &str, host: &str) -> &Value {
        self.doc["plays"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["tasks"].as_array().into_iter().flatten())
            .find(|t| t["name"] == task)
            .map(|t| &t["hosts"][host])
            .unwrap_or(&Value::Null)
    }
}

/// A temporary directory the fleet user can use too.
pub fn shared_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    d
}

/// An inventory where `localhost` is fleet host 0 (and `h02`... the others, in group `fleet`).
pub fn localhost_inventory(fleet: &Fleet) -> PathBuf {
    let inv = fleet.dir.path().join("localhost.ini");
    let mut text = String::from("[fleet]\n");
    for (i, h) in fleet.hosts.iter().enumerate() {
        let name = if i == 0 {
            "localhost".to_string()
        } else {
            h.name.clone()
        };
        text.push_str(&format!(
            "{name} ansible_host={} ansible_port={} ansible_user={} ansible_ssh_private_key_file={}\n",
            h.addr,
            h.port,
            fleet.user,
            fleet.key.display()
        ));
    }
    std::fs::write(&inv, text).expect("inventory");
    inv
}

/// `olympus run PLAYBOOK --output json EXTRA...` on the fleet, not yet started.
pub fn run_command(fleet: &Fleet, inv: &Path, pb: &Path, extra: &[&str]) -> Command {
    let mut c = fleet.olympus("run", inv);
    c.arg(pb)
        .args(["--output", "json"])
        .args(extra)
        .env_remove("OLYMPUS_BECOME_PASSWORD");
    c
}

/// Runs `olympus run PLAYBOOK --output json EXTRA...` on the fleet under `/usr/bin/time`:
/// the run, and olympus's peak resident memory in kB.
pub fn run_measured(fleet: &Fleet, inv: &Path, pb: &Path, extra: &[&str]) -> (PlayRun, u64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "PEAK_KB=%M"])
        .arg(env!("CARGO_BIN_EXE_olympus"))
        .args(run_command(fleet, inv, pb, extra).get_args())
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("OLYMPUS_BECOME_PASSWORD")
        .output()
        .expect("run under /usr/bin/time (apt-get install time)");
    let r = PlayRun::from_output(out);
    let peak = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_KB="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in: {}", r.stderr));
    (r, peak)
}

/// Runs a playbook (written to `dir/play.yml`) on the fleet and waits for it.
pub fn run_yaml(fleet: &Fleet, dir: &Path, yaml: &str, extra: &[&str]) -> PlayRun {
    let pb = dir.join("play.yml");
    std::fs::write(&pb, yaml).expect("write playbook");
    let inv = localhost_inventory(fleet);
    PlayRun::from_output(
        run_command(fleet, &inv, &pb, extra)
            .output()
            .expect("run olympus"),
    )
}
