//! The roles in roles/, as playbooks/site.yml puts them together, on the real-sshd fleet and
//! against ansible-core: nginx (webserver), PostgreSQL (postgresql), accounts and sshd
//! (users), nftables and sysctl (firewall), and a release deployed one batch at a time with
//! a health check and rollback (app).
//!
//! Five runs in a row, from the same starting state, each compared with what ansible-core
//! did in the same run on the same hosts: every task's status on every host, the recap, and
//! the state the run leaves (the files the roles write, with modes and owners; accounts;
//! the loaded firewall table; PostgreSQL's roles and databases; each host's release and
//! what its application answers):
//! 1. `check` (`--check`): what would change, and nothing changes;
//! 2. `first`: everything is made;
//! 3. `again`: nothing changes (also asserted on its own: the roles are idempotent);
//! 4. `upgrade` (`-e app_version=2.0`): the application rolls out, one host then the rest;
//! 5. `broken` (`-e app_version=3.0`, a release that fails its health check): the first host
//!    is put back on 2.0 and fails, and the rollout stops there.
//!
//! The fleet's hosts are one machine, so the roles that change the machine itself run on one
//! host each (their paths, ports, accounts and table are the test's own), and the
//! application, which every host runs, lives under a directory per host.
//!
//! Recorded with ansible-core from PyPI (never a dependency of olympus):
//!   OLYMPUS_ANSIBLE_PLAYBOOK=/path/to/venv/bin/ansible-playbook \
//!     cargo test --test roles_vs_ansible -- --ignored record
//! (the venv needs the `ansible` package too, for `ansible.posix`).
//! Needs root (CI runs as root); elsewhere it prints SKIPPED.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::fleet::Fleet;
use serde_json::{Value, json};

const HOSTS: usize = 3;

/// Where the application lives (a directory per host) and its release archives are served.
const ROOT: &str = "/tmp/olympus-site";
const WEB_PORTS: [u16; 2] = [18181, 18182];
const APP_PORT: u16 = 18183;
const ARTIFACT_PORT: u16 = 18184;
const PG_VERSION: &str = "15";
const PG_CLUSTER: &str = "olympus_site";
const PG_PORT: u16 = 15433;
const NFT_TABLE: &str = "olympus_site";

/// The runs, in order: name and extra arguments.
const RUNS: &[(&str, &[&str])] = &[
    ("check", &["--check"]),
    ("first", &[]),
    ("again", &[]),
    ("upgrade", &["-e", "app_version=2.0"]),
    ("broken", &["-e", "app_version=3.0"]),
];

/// Files the roles write on the machine (beside everything under [`ROOT`]).
const FILES: &[&str] = &[
    "/etc/nginx/nginx.conf",
    "/etc/nginx/sites-available/olympus-site.conf",
    "/etc/nginx/sites-available/olympus-docs.conf",
    "/etc/nginx/sites-enabled/olympus-site.conf",
    "/etc/nginx/sites-enabled/olympus-docs.conf",
    "/etc/nginx/sites-enabled/default",
    "/var/www/olympus-site/index.html",
    "/var/www/olympus-docs/index.html",
    "/etc/postgresql/15/olympus_site/conf.d/50-settings.conf",
    "/etc/postgresql/15/olympus_site/pg_hba.conf",
    "/etc/sudoers.d/50-olympus-site",
    "/etc/ssh/sshd_config.d/50-olympus-site.conf",
    "/home/olympus-alice/.ssh/authorized_keys",
    "/home/olympus-deploy/.ssh/authorized_keys",
    "/home/olympus-olddev",
    "/etc/nftables.d/olympus-site.nft",
    "/etc/sysctl.d/90-olympus-site.conf",
];

const ACCOUNTS: &[&str] = &["olympus-alice", "olympus-deploy", "olympus-olddev"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/site")
}

fn sh(script: &str) -> Output {
    Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("sh")
}

fn is_root() -> bool {
    String::from_utf8_lossy(&sh("id -u").stdout).trim() == "0"
}

/// The machine as no run has touched it: no application, cluster, sites, accounts, rules or
/// settings of the test's; the "olddev" account exists (the users role removes it), and
/// nginx's default site is enabled (the webserver role removes it).
fn reset_machine() {
    let script = format!(
        r#"
        for p in {ROOT}/*/shop/shared/app.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
        rm -rf {ROOT}; mkdir -p {ROOT}; chmod 755 {ROOT}
        pg_dropcluster --stop {PG_VERSION} {PG_CLUSTER} >/dev/null 2>&1
        # pg_dropcluster leaves files it did not make (the role's conf.d file).
        rm -rf /etc/postgresql/{PG_VERSION}/{PG_CLUSTER} /var/lib/postgresql/{PG_VERSION}/{PG_CLUSTER}
        service nginx stop >/dev/null 2>&1
        rm -f /etc/nginx/nginx.conf /etc/nginx/sites-available/olympus-* /etc/nginx/sites-enabled/olympus-*
        [ -f /etc/nginx/sites-available/default ] && ln -sfn /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
        rm -rf /var/www/olympus-*
        for u in {accounts}; do userdel -r "$u" >/dev/null 2>&1; done
        groupdel olympus-admins >/dev/null 2>&1
        useradd -m -s /bin/sh olympus-olddev
        rm -f /etc/sudoers.d/50-olympus-site /etc/ssh/sshd_config.d/50-olympus-site.conf
        nft delete table inet {NFT_TABLE} >/dev/null 2>&1
        rm -f /etc/nftables.d/olympus-site.nft /etc/sysctl.d/90-olympus-site.conf
        rmdir /etc/nftables.d 2>/dev/null
        true
        "#,
        accounts = ACCOUNTS.join(" "),
    );
    let out = sh(&script);
    assert!(
        out.status.success(),
        "reset: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Leaves the machine as reset_machine does, without the "olddev" account, when the test
/// ends however it ends; and the machine's own sshd as it was (the users role's handler
/// reloads it, which starts it when it was not running, as Ansible's service module does).
struct Cleanup {
    sshd_was_running: bool,
}

impl Cleanup {
    fn new() -> Cleanup {
        Cleanup {
            sshd_was_running: sh("service ssh status").status.success(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        reset_machine();
        let _ = sh("userdel -r olympus-olddev >/dev/null 2>&1; rm -rf /tmp/olympus-site");
        if !self.sshd_was_running {
            let _ = sh("service ssh stop >/dev/null 2>&1");
        }
    }
}

/// The project the runs use: the fleet's hosts in the groups site.yml names, and the test's
/// own paths, ports, accounts and releases in group_vars.
fn project(fleet: &Fleet, sums: &BTreeMap<String, String>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let host_line = |i: usize| {
        let h = &fleet.hosts[i];
        format!(
            "{} ansible_host={} ansible_port={}\n",
            h.name, h.addr, h.port
        )
    };
    let mut inv = String::from("[baseline]\n");
    inv.push_str(&host_line(0));
    inv.push_str("\n[web]\n");
    inv.push_str(&host_line(0));
    inv.push_str("\n[db]\n");
    inv.push_str(&host_line(1));
    inv.push_str("\n[app]\n");
    for i in 0..HOSTS {
        inv.push_str(&host_line(i));
    }
    inv.push_str(&format!(
        "\n[all:vars]\nansible_user={}\nansible_ssh_private_key_file={}\nansible_become_password={}\n",
        fleet.user,
        fleet.key.display(),
        common::fleet::FLEET_SUDO_PASSWORD
    ));
    std::fs::write(dir.path().join("hosts.ini"), inv).expect("inventory");
    let gv = dir.path().join("group_vars");
    std::fs::create_dir_all(&gv).expect("group_vars");
    let checksums: String = sums
        .iter()
        .map(|(v, s)| format!("  \"{v}\": \"{s}\"\n"))
        .collect();
    let all = format!(
        r#"---
users_groups:
  - name: olympus-admins
users_accounts:
  - name: olympus-alice
    comment: Alice Example
    groups: [olympus-admins]
    ssh_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq9gnxMgKx8EfE4CVcK3SKrp9l9cxq5oQ9l2yOBHxL0 alice@laptop
    exclusive_keys: true
  - name: olympus-deploy
    comment: Deployments
    shell: /bin/sh
    ssh_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbkpQ8W1w3Dd6U5bSQkJ3kD3m3Xc1c2fL0d3VnZq2cR ci@build
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHt2uAqk2n0D3bPZkDq3Zq9yL0i7vV6JxWm1r8mX2KcA ci@release
users_removed: [olympus-olddev]
users_sudo_groups:
  - name: olympus-admins
  - name: olympus-deploy
    nopasswd: true
users_sudoers_file: /etc/sudoers.d/50-olympus-site
users_sshd_config_file: /etc/ssh/sshd_config.d/50-olympus-site.conf
users_allow_groups: [olympus-admins, olympus-deploy]
firewall_table: {NFT_TABLE}
firewall_rules_file: /etc/nftables.d/olympus-site.nft
firewall_sysctl_file: /etc/sysctl.d/90-olympus-site.conf
firewall_allowed_tcp_ports: [{w0}, {w1}, {APP_PORT}]
firewall_allowed_udp_ports: [53]
firewall_trusted_sources:
  - {{source: 10.20.0.0/16, comment: monitoring}}
  - {{source: 192.0.2.10}}
webserver_www_root: /var/www
webserver_worker_connections: 256
webserver_http_extra:
  - client_max_body_size 8m;
webserver_sites:
  - name: olympus-site
    port: {w0}
    default: true
    server_names: [www.example.test, example.test]
    redirects:
      /old: https://example.test/new
      /blog: https://blog.example.test/
  - name: olympus-docs
    port: {w1}
    server_names: [docs.example.test]
    index: "<h1>docs</h1>\n"
postgresql_cluster: {PG_CLUSTER}
postgresql_port: {PG_PORT}
postgresql_max_connections: 40
postgresql_shared_buffers_max_mb: 128
postgresql_settings:
  log_min_duration_statement: 500
  timezone: UTC
postgresql_users:
  - name: olympus_app
  - name: olympus_report
    createdb: true
postgresql_databases:
  - name: olympus_app
    owner: olympus_app
app_name: shop
app_version: "1.0"
app_root: "{ROOT}/{{{{ inventory_hostname }}}}/shop"
app_bind: "{{{{ ansible_host }}}}"
app_port: {APP_PORT}
app_health_timeout: 3
app_keep_releases: 1
app_artifact_url: "http://127.0.0.1:{ARTIFACT_PORT}/shop-{{{{ app_version }}}}.tar.gz"
app_artifact_checksum: "{{{{ app_checksums[app_version] }}}}"
app_settings:
  log_level: info
  greeting: hello world
app_checksums:
{checksums}"#,
        w0 = WEB_PORTS[0],
        w1 = WEB_PORTS[1],
    );
    std::fs::write(gv.join("all.yml"), all).expect("all.yml");
    dir
}

/// (play, task, host) → status, from olympus's `--output json` or the recorded document.
type Statuses = BTreeMap<String, String>;

fn statuses(doc: &Value) -> Statuses {
    let mut out = Statuses::new();
    for play in doc["plays"].as_array().into_iter().flatten() {
        let p = play["name"].as_str().unwrap_or("?");
        for task in play["tasks"].as_array().into_iter().flatten() {
            let t = task["name"].as_str().unwrap_or("?");
            for (h, r) in task["hosts"].as_object().into_iter().flatten() {
                let status = r["status"].as_str().or(r.as_str()).unwrap_or("?");
                out.insert(format!("{p} | {t} | {h}"), status.to_string());
            }
        }
    }
    out
}

/// Olympus's result for "play | task | host", for a failure report.
fn result_of(doc: &Value, key: &str) -> String {
    let parts: Vec<&str> = key.split(" | ").collect();
    let [p, t, h] = parts[..] else {
        return String::new();
    };
    for play in doc["plays"].as_array().into_iter().flatten() {
        for task in play["tasks"].as_array().into_iter().flatten() {
            if play["name"] == p && task["name"] == t && task["hosts"].get(h).is_some() {
                let text = task["hosts"][h]["result"].to_string();
                return text.chars().take(1500).collect();
            }
        }
    }
    String::new()
}

/// Each failed task's host and message, for a failure report.
fn failed_results(doc: &Value) -> String {
    let mut out = String::new();
    for play in doc["plays"].as_array().into_iter().flatten() {
        for task in play["tasks"].as_array().into_iter().flatten() {
            for (h, r) in task["hosts"].as_object().into_iter().flatten() {
                if r["status"] == "failed" {
                    out.push_str(&format!(
                        "  {h} | {}: {}\n",
                        task["name"].as_str().unwrap_or("?"),
                        r["result"]
                    ));
                }
            }
        }
    }
    out
}

/// host → counters, under olympus's names, from either document.
fn recap(doc: &Value) -> BTreeMap<String, BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    if let Some(stats) = doc["stats"].as_object() {
        for (h, c) in stats {
            let mut m = BTreeMap::new();
            for &(a, o) in common::ansible::RECAP_NAMES {
                m.insert(o.to_string(), c[a].as_i64().unwrap_or(-1));
            }
            out.insert(h.clone(), m);
        }
    } else if let Some(r) = doc["recap"].as_object() {
        for (h, c) in r {
            let mut m = BTreeMap::new();
            for &(_, o) in common::ansible::RECAP_NAMES {
                m.insert(o.to_string(), c[o].as_i64().unwrap_or(-1));
            }
            out.insert(h.clone(), m);
        }
    }
    out
}

/// What a run left on the machine, with the fleet's addresses written as host names.
fn observe(fleet: &Fleet) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    let mut files: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    let tree = sh(&format!("cd {ROOT} && find . -mindepth 1 | sort"));
    for rel in String::from_utf8_lossy(&tree.stdout).lines() {
        if rel.contains("/artifacts/") || rel.ends_with("/app.log") || rel.ends_with("/app.pid") {
            // The archives are the test's own; the log and pid are the application's.
            state.insert(format!("exists {ROOT}/{}", &rel[2..]), String::new());
            continue;
        }
        files.push(format!("{ROOT}/{}", &rel[2..]));
    }
    for f in files {
        let meta = sh(&format!(
            "if [ -L '{f}' ]; then echo \"link -> $(readlink '{f}')\"; \
             elif [ -d '{f}' ]; then stat -c 'dir %a %U:%G' '{f}'; \
             elif [ -e '{f}' ]; then stat -c 'file %a %U:%G' '{f}'; cat '{f}'; \
             else echo absent; fi"
        ));
        state.insert(f, String::from_utf8_lossy(&meta.stdout).into_owned());
    }
    for u in ACCOUNTS {
        let out = sh(&format!(
            "getent passwd {u} | cut -d: -f1,5-7; id -Gn {u} 2>/dev/null"
        ));
        state.insert(
            format!("account {u}"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        );
    }
    let probes = [
        (
            "nft table",
            format!("nft list table inet {NFT_TABLE} 2>&1 | sed 's/ # handle [0-9]*//'"),
        ),
        (
            "sysctl",
            "sysctl net.ipv4.conf.all.accept_redirects net.ipv4.tcp_syncookies".to_string(),
        ),
        (
            "postgresql cluster",
            format!("pg_lsclusters -h | awk '$2 == \"{PG_CLUSTER}\" {{print $1, $2, $3, $4}}'"),
        ),
        (
            "postgresql roles and databases",
            format!(
                "su postgres -c \"psql -p {PG_PORT} -tA -c \\\"SELECT rolname, rolcreatedb FROM pg_roles WHERE rolname LIKE 'olympus%' ORDER BY 1\\\" -c \\\"SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname LIKE 'olympus%' ORDER BY 1\\\" -c 'SHOW max_connections' -c 'SHOW shared_buffers' -c 'SHOW log_min_duration_statement'\" 2>&1"
            ),
        ),
        (
            "nginx answers",
            format!(
                "for p in {} {}; do curl -s -H 'Host: docs.example.test' http://127.0.0.1:$p/; done; curl -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}\\n' http://127.0.0.1:{}/old",
                WEB_PORTS[0], WEB_PORTS[1], WEB_PORTS[0]
            ),
        ),
    ];
    for (name, script) in probes {
        state.insert(
            name.to_string(),
            String::from_utf8_lossy(&sh(&script).stdout).into_owned(),
        );
    }
    for h in &fleet.hosts {
        let out = sh(&format!(
            "curl -s --max-time 2 http://{}:{APP_PORT}/health || echo 'no answer'",
            h.addr
        ));
        state.insert(
            format!("app on {}", h.name),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        );
    }
    let mut text = serde_json::to_string(&state).expect("json");
    for h in &fleet.hosts {
        text = text.replace(&h.addr.to_string(), &format!("<{}>", h.name));
    }
    serde_json::from_str(&text).expect("json")
}

fn run_olympus(fleet: &Fleet, project: &Path, extra: &[&str]) -> (Value, Output) {
    let out = fleet
        .olympus("run", &project.join("hosts.ini"))
        .arg(repo().join("playbooks/site.yml"))
        .args(["--roles-path"])
        .arg(repo().join("roles"))
        .args(["--output", "json", "-f", "5"])
        .args(extra)
        .output()
        .expect("run olympus");
    let text = String::from_utf8_lossy(&out.stdout);
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "no JSON from olympus ({e}); exit {:?}\n{text}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (doc, out)
}

fn run_ansible(fleet: &Fleet, project: &Path, home: &Path, extra: &[&str]) -> (Value, Output) {
    let mut args = vec!["-f", "5"];
    args.extend_from_slice(extra);
    let roles = repo().join("roles");
    // become_user postgres from an unprivileged login needs no temporary files this way.
    let pipelining = PathBuf::from("True");
    common::ansible::run_with(
        fleet,
        &project.join("hosts.ini"),
        home,
        &repo().join("playbooks/site.yml"),
        &fixtures().join("callback_plugins"),
        "olympus_site",
        &args,
        &[
            ("ANSIBLE_ROLES_PATH", roles.as_path()),
            ("ANSIBLE_PIPELINING", pipelining.as_path()),
        ],
    )
}

struct Setup {
    fleet: Fleet,
    project: tempfile::TempDir,
    _artifacts: tempfile::TempDir,
    _server: common::releases::ArtifactServer,
    _cleanup: Cleanup,
}

fn setup() -> Option<Setup> {
    if !is_root() {
        eprintln!(
            "SKIPPED: the site roles change the machine (accounts, nginx, PostgreSQL): run as root"
        );
        return None;
    }
    // The fleet's user first: the accounts the reset makes must not take the uid other
    // tests' fixtures recorded for it.
    let fleet = Fleet::start(HOSTS);
    let cleanup = Cleanup::new();
    reset_machine();
    let artifacts = tempfile::tempdir().expect("tmp");
    let _ = sh(&format!("chmod 755 {}", artifacts.path().display()));
    let sums = common::releases::build(artifacts.path());
    let server = common::releases::ArtifactServer::start(artifacts.path(), ARTIFACT_PORT);
    let project = project(&fleet, &sums);
    Some(Setup {
        fleet,
        project,
        _artifacts: artifacts,
        _server: server,
        _cleanup: cleanup,
    })
}

#[test]
fn site_roles_match_ansible_core() {
    let Some(s) = setup() else { return };
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("expected.json")).expect("fixture"),
    )
    .expect("fixture JSON");
    let mut failures = Vec::new();
    for (run, extra) in RUNS {
        let (doc, out) = run_olympus(&s.fleet, s.project.path(), extra);
        let w = &want[run];
        let (got_status, want_status) = (statuses(&doc), statuses(w));
        for (k, ws) in &want_status {
            match got_status.get(k) {
                Some(gs) if gs == ws => {}
                Some(gs) => failures.push(format!(
                    "{run}: {k}: ansible {ws} / olympus {gs}: {}",
                    result_of(&doc, k)
                )),
                None => failures.push(format!("{run}: {k}: ansible {ws} / olympus did not run it")),
            }
        }
        for k in got_status.keys().filter(|k| !want_status.contains_key(*k)) {
            failures.push(format!(
                "{run}: {k}: olympus {} / ansible did not run it",
                got_status[k]
            ));
        }
        let (mut got_recap, want_recap) = (recap(&doc), recap(w));
        // ansible-core leaves hosts no play reached out of its recap; olympus lists them
        // with every counter at zero.
        got_recap.retain(|h, c| want_recap.contains_key(h) || c.values().any(|v| *v != 0));
        if got_recap != want_recap {
            failures.push(format!(
                "{run}: recap: ansible {want_recap:?} / olympus {got_recap:?}"
            ));
        }
        let state = observe(&s.fleet);
        for (k, wv) in w["state"].as_object().into_iter().flatten() {
            let gv = state.get(k).map(String::as_str).unwrap_or("(not observed)");
            if wv.as_str() != Some(gv) {
                failures.push(format!(
                    "{run}: {k}:\n--- ansible\n{}\n--- olympus\n{gv}",
                    wv.as_str().unwrap_or("")
                ));
            }
        }
        if *run == "again" {
            for (h, c) in &got_recap {
                if c["changed"] != 0 {
                    failures.push(format!("again: the second run changed something on {h}"));
                }
            }
        }
        let code = out.status.code();
        let should_fail = matches!(*run, "broken" | "check");
        if should_fail != (code != Some(0)) {
            failures.push(format!(
                "{run}: exit {code:?}\n{}\n{}",
                failed_results(&doc),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "olympus differs from ansible-core:\n{}",
        failures.join("\n")
    );
}

#[test]
#[ignore = "needs ansible-core; records the committed fixture"]
fn record_with_ansible_core() {
    let Some(s) = setup() else { return };
    let home = tempfile::tempdir().expect("tmp");
    let mut fixture = serde_json::Map::new();
    for (run, extra) in RUNS {
        let (doc, out) = run_ansible(&s.fleet, s.project.path(), home.path(), extra);
        eprintln!(
            "{run}: ansible exit {:?}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        let state = observe(&s.fleet);
        fixture.insert(
            run.to_string(),
            json!({"plays": doc["plays"], "stats": doc["stats"], "state": state}),
        );
    }
    std::fs::write(
        fixtures().join("expected.json"),
        serde_json::to_string_pretty(&Value::Object(fixture)).expect("json") + "\n",
    )
    .expect("write fixture");
}
