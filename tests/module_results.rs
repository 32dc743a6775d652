//! Module results against ansible-core, on the real-sshd fleet: for each playbook in
//! tests/fixtures/results/, every task's registered result on every host (and its status,
//! and the recap) must be what ansible-core 2.19 returned for the same task on the same host.
//!
//! Compared: every key ansible-core returns, recursively, except those that cannot be equal
//! between two runs (times, inode numbers, temporary paths: [`VOLATILE`]) and those listed
//! in [`NOT_YET`] with the reason. Keys only olympus returns are not compared.
//!
//! The expected files are recorded by `record_results_with_ansible_core` below:
//!   OLYMPUS_ANSIBLE_PLAYBOOK=/path/to/venv/bin/ansible-playbook \
//!     cargo test --test module_results -- --ignored record
//! (`OLYMPUS_RECORD_ONLY=packages` records one playbook)
//! (ansible-core from PyPI in a throwaway venv; never a dependency of olympus), with the
//! stdout callback in tests/fixtures/results/callback_plugins/.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::booted::Booted;
use common::fleet::Fleet;
use serde_json::{Map, Value};

const HOSTS: usize = 2;

/// Where the playbooks write (on every fleet host, which is this machine): results hold
/// these paths, so the same root is used when recording and when checking.
const ROOT: &str = "/tmp/olympus-module-results";

/// Keys whose values differ between any two runs (`version`: a file's generation number),
/// or that only describe Ansible's own machinery (`src`: the temporary file Ansible
/// uploaded; `exception`: its traceback).
const VOLATILE: &[&str] = &[
    "start",
    "end",
    "delta",
    "atime",
    "mtime",
    "ctime",
    "inode",
    "dev",
    "backup_file",
    "elapsed",
    "src",
    "exception",
    "failed_when_suppressed_exception",
    "version",
    "cache_update_time",
    "date",
    "ansible_job_id",
    "child_pid",
];

/// Keys ansible-core returns that olympus does not (yet), with the reason. Each is a known
/// gap, printed by the test so that it stays visible.
const NOT_YET: &[(&str, &str)] = &[
    (
        "diff",
        "olympus returns `diff` only with --diff, as one before/after pair",
    ),
    (
        "deprecations",
        "ansible-core's notices about how a module is written (ansible.posix's mount passes `warnings` to exit_json), not about the task",
    ),
    (
        "results_file",
        "a job's file is named by its random id; with a poll above 0 olympus runs the job in the foreground and makes no file",
    ),
];

/// Task results compared differently on purpose: (task, keys, why).
const BY_DESIGN: &[(&str, &[&str], &str)] = &[
    (
        "status until done",
        &["attempts"],
        "how many checks find a job still running depends on how soon each comes after the start: olympus's come sooner than ansible-core's (the status and output are compared)",
    ),
    (
        "its status",
        &["attempts"],
        "how many checks find a job still running depends on how soon each comes after the start: olympus's come sooner than ansible-core's (the status and output are compared)",
    ),
    (
        "a reboot command that fails",
        &["msg"],
        "Ansible runs reboot's commands through a terminal (ssh -tt): stderr merged into stdout with CR LF, ssh's own message as stderr",
    ),
    (
        "a boot time command that fails",
        &["msg"],
        "Ansible runs reboot's commands through a terminal (ssh -tt): stderr merged into stdout with CR LF, ssh's own message as stderr",
    ),
    (
        "set the name",
        &["ansible_facts"],
        "ansible_fqdn is what the machine's own name resolves to (the next task compares the rest)",
    ),
    (
        "hostnamectl sets the name",
        &["ansible_facts"],
        "ansible_fqdn is what the machine's own name resolves to",
    ),
    (
        "hostnamectl again",
        &["ansible_facts"],
        "ansible_fqdn is what the machine's own name resolves to",
    ),
    (
        "set again",
        &["ansible_facts"],
        "ansible_fqdn is what the machine's own name resolves to",
    ),
    (
        "another name in check mode",
        &["ansible_facts"],
        "ansible_fqdn is what the machine's own name resolves to",
    ),
    (
        "status until done",
        &["attempts"],
        "how many looks a background job takes before it has finished depends on timing",
    ),
    (
        "its status",
        &["attempts"],
        "how many looks a background job takes before it has finished depends on timing",
    ),
    (
        "cleanup",
        &["erased"],
        "the job's file is named by its random id",
    ),
    (
        "a wrong checksum",
        &["msg"],
        "the message names the temporary download, whose name is random",
    ),
    (
        "tempfile",
        &["path"],
        "a random name (its form is asserted in the playbook)",
    ),
    (
        "tempfile directory",
        &["path"],
        "a random name (its form is asserted in the playbook)",
    ),
    ("install a pinned version", OUTPUT, APT_OUTPUT),
    ("latest", OUTPUT, APT_OUTPUT),
    ("two packages with package", OUTPUT, APT_OUTPUT),
    ("remove in check mode", OUTPUT, APT_OUTPUT),
    ("remove with purge", OUTPUT, APT_OUTPUT),
    ("a deb file", OUTPUT, APT_OUTPUT),
    ("a deb file again", OUTPUT, APT_OUTPUT),
    ("clean up", OUTPUT, APT_OUTPUT),
    (
        "Gathering Facts",
        &["ansible_facts"],
        "olympus gathers a smaller set of facts; the playbooks compare those it has in tasks",
    ),
    (
        "add a host",
        &["add_host"],
        "its variables name the test fleet's port and key file, different on every run (the next task compares a fixed one)",
    ),
    (
        "a missing repository",
        &["cmd"],
        "the command line starts with where git is installed on the machine that recorded the fixture",
    ),
    (
        "not an archive",
        &["msg"],
        "ansible-core's message quotes each of its seven handlers' errors; olympus tries unzip and tar, and says so",
    ),
    (
        "from the controller",
        &["extract_results"],
        "the command names the archive's temporary copy on the host, whose name is random",
    ),
    (
        "tgz in check mode sees the change",
        &["*"],
        "ansible-core skips unarchive in check mode with GNU tar; olympus compares and reports changed without unpacking (the next task shows the member untouched)",
    ),
    (
        "raw",
        OUTPUT,
        "Ansible runs raw through a terminal (ssh -tt): CR LF line ends, ssh's own message in stderr",
    ),
    (
        "script",
        OUTPUT,
        "Ansible runs script through a terminal (ssh -tt): CR LF line ends, stderr merged into stdout",
    ),
];

const OUTPUT: &[&str] = &["stdout", "stderr", "stdout_lines", "stderr_lines"];

/// apt-get's and dpkg's own words (ansible-core drives python-apt, olympus apt-get).
const APT_OUTPUT: &str = "apt's output: ansible-core drives python-apt and dpkg, olympus apt-get";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results")
}

/// `become: true` tasks (services, packages) sudo with the fleet user's password.
fn become_password() -> String {
    format!(
        "ansible_become_password={}",
        common::fleet::FLEET_SUDO_PASSWORD
    )
}

/// `--vault-id ID@FILE` for vault.yml's password files (given to every run alike).
fn vault_id(id: &str, file: &str) -> String {
    format!("{id}@{}", fixtures().join("vault").join(file).display())
}

fn playbooks() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    v.sort();
    v
}

/// Where packages.yml finds its apt repository.
const APT_REPO: &str = "/tmp/olympus-apt-repo";

/// A local apt repository of small packages built here with dpkg-deb: olympus-test-a 1.0
/// and 2.0, olympus-test-b 1.0, and olympus-test-c 1.0 (only as a file, not indexed).
fn apt_repo() {
    let repo = Path::new(APT_REPO);
    let _ = std::fs::remove_dir_all(repo);
    std::fs::create_dir_all(repo).expect("repo");
    let mut index = String::new();
    for (name, version, indexed) in [
        ("olympus-test-a", "1.0", true),
        ("olympus-test-a", "2.0", true),
        ("olympus-test-b", "1.0", true),
        ("olympus-test-c", "1.0", false),
    ] {
        let build = tempfile::tempdir().expect("tmp");
        let root = build.path().join("pkg");
        std::fs::create_dir_all(root.join("DEBIAN")).expect("DEBIAN");
        std::fs::create_dir_all(root.join("usr/share/doc").join(name)).expect("doc");
        let control = format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: olympus tests <tests@example.invalid>\nDescription: a package for olympus's tests\n"
        );
        std::fs::write(root.join("DEBIAN/control"), &control).expect("control");
        std::fs::write(
            root.join("usr/share/doc").join(name).join("README"),
            format!("{name} {version}\n"),
        )
        .expect("readme");
        let file = format!("{name}_{version}_all.deb");
        let out = Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&root)
            .arg(repo.join(&file))
            .output()
            .expect("dpkg-deb");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if indexed {
            let data = std::fs::read(repo.join(&file)).expect("deb");
            use sha2_free::sha256_hex;
            index.push_str(&control);
            index.push_str(&format!(
                "Filename: ./{file}\nSize: {}\nSHA256: {}\n\n",
                data.len(),
                sha256_hex(&data)
            ));
        }
    }
    std::fs::write(repo.join("Packages"), index).expect("Packages");
    std::fs::create_dir_all(repo.join("none.d")).expect("none.d");
    // apt's package lists for the local repository, apart from the machine's.
    std::fs::create_dir_all(repo.join("lists/partial")).expect("lists");
    let _ = Command::new("chmod")
        .args(["-R", "a+rX", APT_REPO])
        .status();
}

/// hostname.yml changes /etc/hostname and puts it back; a run that stopped half-way must not
/// leave it changed: dropping this writes back what it held when the test began.
struct HostnameGuard(Option<Vec<u8>>);

impl HostnameGuard {
    fn new() -> HostnameGuard {
        HostnameGuard(std::fs::read("/etc/hostname").ok())
    }
}

impl Drop for HostnameGuard {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            let _ = std::fs::write("/etc/hostname", b);
        }
    }
}

/// Where dnf.yml finds its RPM repository and dnf configuration.
const RPM_REPO: &str = "/tmp/olympus-rpm-repo";

/// Small RPM packages built here with rpmbuild, in a repository made with createrepo_c:
/// olympus-test-a 1.0 and 2.0, olympus-test-b 1.0 (needs olympus-test-a), and
/// olympus-test-c 1.0 (only as a file, not in the repository), olympus-test-d and -e 1.0 (a
/// group's mandatory and default package: the repository's comps has the group
/// `olympus-tools` and the environment `olympus-env` holding it); and a dnf configuration
/// that sees only that repository.
fn rpm_repo() {
    let top = Path::new(RPM_REPO);
    let _ = std::fs::remove_dir_all(top);
    std::fs::create_dir_all(top.join("repo")).expect("repo");
    std::fs::create_dir_all(top.join("SPECS")).expect("SPECS");
    for (name, version, requires) in [
        ("olympus-test-a", "1.0", ""),
        ("olympus-test-a", "2.0", ""),
        ("olympus-test-b", "1.0", "Requires: olympus-test-a\n"),
        ("olympus-test-c", "1.0", ""),
        ("olympus-test-d", "1.0", ""),
        ("olympus-test-e", "1.0", ""),
    ] {
        let spec = top.join("SPECS").join(format!("{name}-{version}.spec"));
        std::fs::write(
            &spec,
            format!(
                "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: a package for olympus's tests\nLicense: MIT\nBuildArch: noarch\n{requires}%description\nolympus test\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\necho {version} > %{{buildroot}}/usr/share/{name}/VERSION\n%files\n/usr/share/{name}\n"
            ),
        )
        .expect("spec");
        let out = Command::new("rpmbuild")
            .args(["-bb", "--quiet", "--define"])
            .arg(format!("_topdir {RPM_REPO}/build"))
            .arg(&spec)
            .output()
            .expect("rpmbuild (tests/run-all.sh installs rpm)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rpm = top
            .join("build/RPMS/noarch")
            .join(format!("{name}-{version}-1.noarch.rpm"));
        let dest = if name == "olympus-test-c" {
            top.join(format!("{name}-{version}-1.noarch.rpm"))
        } else {
            top.join("repo")
                .join(format!("{name}-{version}-1.noarch.rpm"))
        };
        std::fs::copy(&rpm, &dest).expect("copy rpm");
    }
    std::fs::write(top.join("comps.xml"), COMPS).expect("comps.xml");
    let out = Command::new("createrepo_c")
        .arg("--quiet")
        .arg("-g")
        .arg(top.join("comps.xml"))
        .arg(top.join("repo"))
        .output()
        .expect("createrepo_c");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        top.join("dnf.conf"),
        format!(
            "[main]\nreposdir=/dev/null\ngpgcheck=0\ncachedir={RPM_REPO}/cache\n\n[olympus-local]\nname=olympus local\nbaseurl=file://{RPM_REPO}/repo\nenabled=1\ngpgcheck=0\n"
        ),
    )
    .expect("dnf.conf");
    let _ = Command::new("chmod")
        .args(["-R", "a+rX", RPM_REPO])
        .status();
}

/// The repository's groups: one (a mandatory and a default package) and an environment
/// holding it.
const COMPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>olympus-tools</id>
    <name>Olympus tools</name>
    <description>packages for olympus's tests</description>
    <default>false</default>
    <uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory">olympus-test-d</packagereq>
      <packagereq type="default">olympus-test-e</packagereq>
    </packagelist>
  </group>
  <environment>
    <id>olympus-env</id>
    <name>Olympus environment</name>
    <description>an environment for olympus's tests</description>
    <grouplist><groupid>olympus-tools</groupid></grouplist>
  </environment>
</comps>
"#;

/// Where pip.yml finds its packages.
const PIP_WHEELS: &str = "/tmp/olympus-pip-wheels";

/// Small wheels built here (no index, no network): olympus-pip-a 1.0 and 2.0,
/// olympus-pip-b 1.0.
fn pip_wheels() {
    let _ = std::fs::remove_dir_all(PIP_WHEELS);
    std::fs::create_dir_all(PIP_WHEELS).expect("wheels");
    let script = r#"
import sys, zipfile
out = sys.argv[1]
for name, version in [("olympus-pip-a", "1.0"), ("olympus-pip-a", "2.0"), ("olympus-pip-b", "1.0")]:
    mod = name.replace("-", "_")
    info = f"{mod}-{version}.dist-info"
    files = {
        f"{mod}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: olympus-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{p},,\n" for p in list(files) + [f"{info}/RECORD"])
    with zipfile.ZipFile(f"{out}/{mod}-{version}-py3-none-any.whl", "w") as z:
        for p, text in files.items():
            z.writestr(zipfile.ZipInfo(p, (2023, 1, 1, 0, 0, 0)), text)
"#;
    let out = Command::new("python3")
        .args(["-c", script, PIP_WHEELS])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = Command::new("chmod")
        .args(["-R", "a+rX", PIP_WHEELS])
        .status();
}

/// packages.yml points apt at the local repository only; a run that stopped half-way (a
/// failed assertion, a panic) must not leave the machine's apt that way: dropping this
/// removes the setting.
struct AptSettingGuard;

impl Drop for AptSettingGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file("/etc/apt/apt.conf.d/99olympus-test");
    }
}

/// SHA-256 through coreutils (the tests need no hashing crate of their own).
mod sha2_free {
    pub fn sha256_hex(data: &[u8]) -> String {
        use std::io::Write;
        let mut c = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sha256sum");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(data)
            .expect("write");
        let out = c.wait_with_output().expect("sha256sum");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    }
}

/// web.yml's HTTP server: `webserver.py` (python3's http.server) on 127.0.0.1:18089,
/// serving a directory with `hello.txt` and a few answers for `uri`; stopped when dropped.
struct WebServer {
    server: std::process::Child,
    /// The served directory, removed with the server.
    _dir: tempfile::TempDir,
}

impl WebServer {
    fn start() -> WebServer {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("hello.txt"), "hello from the web\n").expect("hello");
        // A fixed time, so that `last_modified` compares between runs.
        let _ = Command::new("touch")
            .args(["-d", "@1700000000"])
            .arg(dir.path().join("hello.txt"))
            .status();
        let child = Command::new("python3")
            .arg(fixtures().join("webserver.py"))
            .arg("18089")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        for _ in 0..100 {
            if std::net::TcpStream::connect("127.0.0.1:18089").is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        WebServer {
            server: child,
            _dir: dir,
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A fresh, world-writable root (the fleet logs in as an unprivileged user).
fn reset_root() {
    // mounts.yml mounts under the root; a run that stopped half-way may leave mounts there.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut under: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(&format!("{ROOT}/")))
        .collect();
    under.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in under {
        let _ = Command::new("umount").args(["-l", m]).status();
    }
    let _ = std::fs::remove_dir_all(ROOT);
    std::fs::create_dir_all(ROOT).expect("root");
    let _ = Command::new("chmod").arg("1777").arg(ROOT).status();
}

/// task name → host → {status, result}, from olympus's `--output json`.
fn olympus_tasks(doc: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for play in doc["plays"].as_array().into_iter().flatten() {
        for task in play["tasks"].as_array().into_iter().flatten() {
            let name = task["name"].as_str().unwrap_or("?").to_string();
            let mut hosts = Map::new();
            for (h, r) in task["hosts"].as_object().into_iter().flatten() {
                hosts.insert(
                    h.clone(),
                    serde_json::json!({"status": r["status"], "result": r["result"]}),
                );
            }
            out.insert(name, Value::Object(hosts));
        }
    }
    out
}

/// The same shape from the recorded ansible-core document.
fn ansible_tasks(doc: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for task in doc["tasks"].as_array().into_iter().flatten() {
        let name = task["name"].as_str().unwrap_or("?").to_string();
        out.insert(name, task["hosts"].clone());
    }
    out
}

/// Differences between what ansible-core returned (`want`) and olympus (`got`) at `path`.
fn compare(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                if VOLATILE.contains(&k.as_str()) || NOT_YET.iter().any(|(n, _)| n == k) {
                    continue;
                }
                let task = path.split('\'').nth(1).unwrap_or("");
                if path.ends_with(".result")
                    && BY_DESIGN
                        .iter()
                        .any(|(t, keys, _)| *t == task && keys.contains(&k.as_str()))
                {
                    continue;
                }
                match g.get(k) {
                    None => out.push(format!("{path}.{k}: missing (ansible: {wv})")),
                    Some(gv) => compare(&format!("{path}.{k}"), wv, gv, out),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                compare(&format!("{path}[{i}]"), wv, gv, out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{path}: ansible {want} / olympus {got}")),
    }
}

/// ansible-core's dnf module lists the packages a transaction installed or removed from a
/// Python set (in the order of dnf's internal package numbers, an accident of the
/// repositories' loading order); olympus lists them by name. Each run of `Installed: ` or
/// `Removed: ` lines in a `results` list is put in order on both sides; what comes before
/// and after them (the groups' and packages' notes) is still compared in place.
fn sort_transaction_lines(tasks: &mut Map<String, Value>) {
    for hosts in tasks.values_mut() {
        for r in hosts
            .as_object_mut()
            .into_iter()
            .flat_map(|h| h.values_mut())
        {
            let Some(lines) = r["result"]["results"].as_array_mut() else {
                continue;
            };
            let kind = |v: &Value| {
                let s = v.as_str().unwrap_or("");
                ["Installed: ", "Removed: "]
                    .into_iter()
                    .position(|p| s.starts_with(p))
            };
            let mut i = 0;
            while i < lines.len() {
                let k = kind(&lines[i]);
                let mut j = i + 1;
                while j < lines.len() && k.is_some() && kind(&lines[j]) == k {
                    j += 1;
                }
                lines[i..j].sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                i = j;
            }
        }
    }
}

/// The recap counters (olympus's names) a task's status on a host adds to.
fn recap_counters(status: &str) -> &'static [&'static str] {
    match status {
        "ok" => &["ok"],
        "changed" => &["ok", "changed"],
        "skipped" => &["skipped"],
        "failed" => &["failed"],
        "unreachable" => &["unreachable"],
        _ => &[],
    }
}

/// A document with this checkout's fixture directory written as `<fixtures>`, so that
/// recorded paths compare on any checkout.
fn portable(doc: &str) -> Value {
    let dir = fixtures().to_string_lossy().into_owned();
    serde_json::from_str(&doc.replace(&dir, "<fixtures>")).expect("JSON")
}

/// Playbooks named `booted_*.yml` run against a host that runs systemd (a container booted
/// with systemd-nspawn, [`Booted`]), started when the first of them needs it.
fn booted_for<'a>(pb: &Path, booted: &'a mut Option<Booted>, fleet: &Fleet) -> Option<&'a Booted> {
    let wanted = pb
        .file_stem()
        .is_some_and(|s| s.to_string_lossy().starts_with("booted_"));
    if !wanted {
        return None;
    }
    if booted.is_none() {
        *booted =
            Some(Booted::start(fleet).unwrap_or_else(|e| {
                panic!("{}: a host running systemd is needed: {e}", pb.display())
            }));
    }
    booted.as_ref()
}

fn run_olympus(fleet: &Fleet, pb: &Path, booted: Option<&Booted>) -> Value {
    let mut cmd = fleet.olympus("run", &fleet.inventory);
    if let Some(b) = booted {
        cmd.arg("-i").arg(&b.inventory);
    }
    let out = cmd
        .arg(pb)
        .args(["--output", "json", "-f", "2", "-e", &format!("root={ROOT}")])
        .args(["-e", &become_password()])
        .args(["--vault-id", &vault_id("default", "password")])
        .args(["--vault-id", &vault_id("prod", "password-prod")])
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("OLYMPUS_UNSET_X")
        .output()
        .expect("run olympus");
    let text = String::from_utf8_lossy(&out.stdout);
    if let Err(e) = serde_json::from_str::<Value>(&text) {
        panic!(
            "{}: no JSON from olympus ({e}); exit {:?}\n{text}\n{}",
            pb.display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    }
    portable(&text)
}

#[test]
fn registered_results_match_ansible_core() {
    let _apt = AptSettingGuard;
    let _hostname = HostnameGuard::new();
    let _web = WebServer::start();
    let fleet = Fleet::start(HOSTS);
    let books = playbooks();
    assert!(books.len() >= 3, "result playbooks are missing");
    let mut booted: Option<Booted> = None;
    // OLYMPUS_RECORD_ONLY=roles compares roles.yml alone (while working on it).
    let only = std::env::var("OLYMPUS_RECORD_ONLY").ok();
    let mut failures = Vec::new();
    for pb in &books {
        if only
            .as_deref()
            .is_some_and(|o| pb.file_stem().is_none_or(|s| s != o))
        {
            continue;
        }
        let want_doc: Value = serde_json::from_str(
            &std::fs::read_to_string(pb.with_extension("expected.json"))
                .unwrap_or_else(|e| panic!("{}: {e}", pb.display())),
        )
        .expect("fixture JSON");
        reset_root();
        apt_repo();
        pip_wheels();
        rpm_repo();
        let got_doc = run_olympus(&fleet, pb, booted_for(pb, &mut booted, &fleet));
        let (mut want, mut got) = (ansible_tasks(&want_doc), olympus_tasks(&got_doc));
        if pb.file_stem().is_some_and(|s| s == "dnf") {
            for tasks in [&mut want, &mut got] {
                sort_transaction_lines(tasks);
            }
        }
        if pb.file_stem().is_some_and(|s| s == "booted_systemd") {
            // A unit's `status` is hundreds of properties, many of them times and process
            // ids; the playbook shows the ones a playbook reads in tasks of their own.
            for tasks in [&mut want, &mut got] {
                for hosts in tasks.values_mut() {
                    for r in hosts
                        .as_object_mut()
                        .into_iter()
                        .flat_map(|h| h.values_mut())
                    {
                        if let Some(m) = r["result"].as_object_mut()
                            && m.get("status").is_some_and(Value::is_object)
                        {
                            m.remove("status");
                        }
                    }
                }
            }
        }
        let mut diffs = Vec::new();
        // Tasks whose status differs on purpose are left out of the recap on both sides.
        let mut adjust: BTreeMap<(String, &str), i64> = BTreeMap::new();
        for (task, hosts) in &want {
            if BY_DESIGN
                .iter()
                .any(|(t, keys, _)| t == task && keys == &["*"])
            {
                for (side, tasks) in [("ansible", &want), ("olympus", &got)] {
                    for (h, r) in tasks
                        .get(task)
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                    {
                        for counter in recap_counters(r["status"].as_str().unwrap_or("")) {
                            *adjust.entry((format!("{side} {h}"), counter)).or_default() += 1;
                        }
                    }
                }
                continue;
            }
            let Some(g) = got.get(task) else {
                diffs.push(format!("task '{task}': olympus did not run it"));
                continue;
            };
            compare(&format!("'{task}'"), hosts, g, &mut diffs);
            // A status that differs: say why olympus's run ended as it did.
            for (h, r) in g.as_object().into_iter().flatten() {
                if hosts[h]["status"] != r["status"] && r["status"] == "failed" {
                    diffs.push(format!(
                        "'{task}'.{h}: olympus's message: {}",
                        r["result"]["msg"]
                    ));
                }
            }
        }
        for (h, c) in want_doc["stats"].as_object().into_iter().flatten() {
            let r = &got_doc["recap"][h];
            for &(a, o) in common::ansible::RECAP_NAMES {
                let less = |side: &str, v: &Value| {
                    v.as_i64().unwrap_or(-1)
                        - adjust
                            .get(&(format!("{side} {h}"), o))
                            .copied()
                            .unwrap_or(0)
                };
                let (wa, go) = (less("ansible", &c[a]), less("olympus", &r[o]));
                if wa != go {
                    diffs.push(format!("recap {h} {o}: ansible {wa} / olympus {go}"));
                }
            }
        }
        if !diffs.is_empty() {
            failures.push(format!("{}:\n  {}", pb.display(), diffs.join("\n  ")));
        }
    }
    let _ = std::fs::remove_dir_all(ROOT);
    for (k, why) in NOT_YET {
        eprintln!("not compared yet: {k}: {why}");
    }
    for (t, keys, why) in BY_DESIGN {
        eprintln!(
            "not compared by design: task '{t}' {}: {why}",
            keys.join(", ")
        );
    }
    assert!(
        failures.is_empty(),
        "olympus's results differ from ansible-core's:\n{}",
        failures.join("\n")
    );
}

#[test]
#[ignore = "needs ansible-core; records the committed fixtures"]
fn record_results_with_ansible_core() {
    let _apt = AptSettingGuard;
    let _hostname = HostnameGuard::new();
    let _web = WebServer::start();
    let fleet = Fleet::start(HOSTS);
    let home = tempfile::tempdir().expect("tmp");
    let mut booted: Option<Booted> = None;
    // OLYMPUS_RECORD_ONLY=packages records packages.yml alone.
    let only = std::env::var("OLYMPUS_RECORD_ONLY").ok();
    for pb in playbooks() {
        if only
            .as_deref()
            .is_some_and(|o| pb.file_stem().is_none_or(|s| s != o))
        {
            continue;
        }
        reset_root();
        apt_repo();
        pip_wheels();
        rpm_repo();
        let root = format!("root={ROOT}");
        let become_pw = become_password();
        let (vault_default, vault_prod) = (
            vault_id("default", "password"),
            vault_id("prod", "password-prod"),
        );
        let mut extra = vec![
            "-f",
            "2",
            "-e",
            &root,
            "-e",
            &become_pw,
            "--vault-id",
            &vault_default,
            "--vault-id",
            &vault_prod,
        ];
        let booted_inv = booted_for(&pb, &mut booted, &fleet)
            .map(|b| b.inventory.to_string_lossy().into_owned());
        if let Some(inv) = &booted_inv {
            extra.extend(["-i", inv.as_str()]);
        }
        let (doc, out) = common::ansible::run(
            &fleet,
            home.path(),
            &pb,
            &fixtures().join("callback_plugins"),
            "olympus_results",
            &extra,
        );
        let path = pb.with_extension("expected.json");
        let doc = portable(&doc.to_string());
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&doc).expect("json") + "\n",
        )
        .expect("write fixture");
        eprintln!(
            "wrote {} (ansible exit {:?})",
            path.display(),
            out.status.code()
        );
    }
    let _ = std::fs::remove_dir_all(ROOT);
}
