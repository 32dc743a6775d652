//! `olympus heal` the way an operator's timer meets it: a real Prometheus (fed by a real
//! Pushgateway) says what is wrong where, rules decide, playbooks run over real sshd on the
//! fleet, and `olympus history` shows what happened.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::fleet::Fleet;
use common::prometheus::Prometheus;
use serde_json::Value;

const LAG: &str = "mysql_slave_lag_seconds";

struct Setup {
    fleet: Fleet,
    prom: Prometheus,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(hosts: usize) -> Setup {
        let dir = tempfile::tempdir().expect("tmp");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        Setup {
            fleet: Fleet::start(hosts),
            prom: Prometheus::start(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the rules file (`PROM` is this Prometheus) and a playbook beside it.
    fn rules(&self, rules: &str, playbook: &str) -> PathBuf {
        std::fs::write(self.path("fix.yml"), playbook).expect("playbook");
        let p = self.path("rules.yml");
        std::fs::write(&p, rules.replace("PROM", &self.prom.url)).expect("rules");
        p
    }

    fn heal(&self, rules: &Path, extra: &[&str]) -> Output {
        self.fleet
            .olympus("heal", &self.fleet.inventory)
            .arg(rules)
            .arg("--once")
            .args(extra)
            .output()
            .expect("heal")
    }

    fn olympus(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_olympus"))
            .args(args)
            .env("OLYMPUS_STATE_DIR", self.fleet.dir.path().join("state"))
            .output()
            .expect("olympus")
    }

    fn history(&self) -> Vec<Value> {
        history_of(&self.fleet)
    }

    /// `olympus heal RULES ARGS` started in the background (its output kept for
    /// `wait_with_output`), once its action has made `started`.
    fn spawn_heal(&self, rules: &Path, args: &[&str], started: &Path) -> std::process::Child {
        let child = self
            .fleet
            .olympus("heal", &self.fleet.inventory)
            .arg(rules)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("heal");
        wait_for_file(started);
        child
    }

    fn actions(&self) -> Vec<(String, String)> {
        actions_of(&self.fleet)
    }
}

/// `olympus history --output json` of the fleet's state.
fn history_of(fleet: &Fleet) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .args(["history", "--output", "json"])
        .env("OLYMPUS_STATE_DIR", fleet.dir.path().join("state"))
        .output()
        .expect("history");
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The actions in the fleet's history: (host, outcome), oldest first.
fn actions_of(fleet: &Fleet) -> Vec<(String, String)> {
    history_of(fleet)
        .iter()
        .filter(|e| e["kind"] == "action")
        .map(|e| {
            (
                e["host"].as_str().unwrap_or_default().to_string(),
                e["what"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Waits (a minute at most) for an action to show it started by making `path`.
fn wait_for_file(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the action never started ({} never appeared)",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The playbook every action runs: it writes what it was given into a file per host.
fn writer(dir: &Path) -> String {
    format!(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy:\n        dest: '{}/fixed-{{{{ inventory_hostname }}}}'\n        content: \"{{{{ lag }}}} {{{{ heal.labels.job | default('') }}}}\"\n",
        dir.display()
    )
}

#[test]
fn heal_runs_the_playbook_on_exactly_the_affected_hosts_once_per_event() {
    let s = Setup::new(3);
    let [h1, h2, h3] = [0, 1, 2].map(|i| s.fleet.hosts[i].name.clone());
    let addr3 = s.fleet.hosts[2].addr.to_string();
    // A label an attacker could set: if it were rendered, a file would appear.
    let marker = s.path("rendered");
    let hostile = format!("{{{{ lookup('pipe', 'touch {}') }}}}", marker.display());
    s.prom.set(LAG, &hostile, &format!("{h1}:9104"), 301.0);
    s.prom.set(LAG, "mysql", &format!("{h2}:9104"), 12.0);
    // Named by its address (ansible_host), not its inventory name.
    s.prom.set(LAG, "mysql", &format!("{addr3}:9104"), 400.0);
    s.prom.wait_for(&format!("{LAG} > 300"), 2);
    let rules = s.rules(
        "checks:\n  - name: mysql-replication-lag\n    source: {prometheus: 'PROM', query: 'mysql_slave_lag_seconds > 300'}\n    hosts_from: instance\n    for: 2\n    action: {playbook: fix.yml, vars: {lag: '{{ value }}'}}\n    cooldown: 30m\n    max_hosts: 2\nguards: {max_actions_per_hour: 10, max_failed_actions: 3}\n",
        &writer(s.dir.path()),
    );
    let fixed = |h: &str| std::fs::read_to_string(s.path(&format!("fixed-{h}"))).ok();

    // First evaluation: the condition held once; `for: 2` waits.
    let out = s.heal(&rules, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "mysql-replication-lag: {h1} [value 301]: waiting: held 1 of 2"
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!("mysql-replication-lag: {h3} [value 400]: waiting")),
        "{t}"
    );
    assert!(fixed(&h1).is_none() && fixed(&h3).is_none());

    // A dry run says what would run and changes nothing.
    let out = s.heal(&rules, &["--dry-run"]);
    let t = text(&out);
    assert!(
        t.contains(&format!("{h1} [value 301]: act (dry run: would): runs")),
        "{t}"
    );
    assert!(fixed(&h1).is_none());

    // Second: both act, with the values as data.
    let out = s.heal(&rules, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("{h1} [value 301]: act: runs")) && t.contains("→ ok"),
        "{t}"
    );
    assert_eq!(
        fixed(&h1).as_deref(),
        Some(format!("301 {hostile}").as_str())
    );
    assert_eq!(fixed(&h3).as_deref(), Some("400 mysql"));
    assert_eq!(fixed(&h2), None, "below the threshold");
    assert!(
        !marker.exists(),
        "a monitoring label was rendered as a template"
    );

    // Third: the same event is not acted on again.
    std::fs::remove_file(s.path(&format!("fixed-{h1}"))).expect("rm");
    let out = s.heal(&rules, &[]);
    let t = text(&out);
    assert!(
        t.contains(&format!("{h1} [value 301]: acted: acted on this event at")),
        "{t}"
    );
    assert_eq!(fixed(&h1), None);

    let mut actions = s.actions();
    actions.sort();
    let mut want = vec![
        (h1.clone(), "ok".to_string()),
        (h3.clone(), "ok".to_string()),
    ];
    want.sort();
    assert_eq!(actions, want);
    let h = s.history();
    assert!(
        h.iter()
            .any(|e| e["kind"] == "decision" && e["what"] == "waiting" && e["host"] == h1.as_str()),
        "{h:?}"
    );
    // Filters.
    let out = s.olympus(&["history", "--host", &h3, "--since", "1h"]);
    let t = text(&out);
    assert!(
        t.contains(&format!("mysql-replication-lag {h3}")) && !t.contains(&h1),
        "{t}"
    );
}

#[test]
fn guards_blast_radius_cooldown_and_the_kill_switch() {
    let s = Setup::new(3);
    let names: Vec<String> = s.fleet.hosts.iter().map(|h| h.name.clone()).collect();
    for h in &names {
        s.prom.set(LAG, "mysql", &format!("{h}:9104"), 500.0);
    }
    s.prom.wait_for(&format!("{LAG} > 300"), 3);
    let rules = s.rules(
        "checks:\n  - name: lag\n    source: {prometheus: 'PROM', query: 'mysql_slave_lag_seconds > 300'}\n    hosts_from: instance\n    action: {playbook: fix.yml, vars: {lag: '{{ value }}'}}\n    cooldown: 1h\n    max_hosts: 2\n",
        &writer(s.dir.path()),
    );
    // Three hosts fire, at most two may be touched: none is, and the operator is told.
    let (handler, events) = notify_handler(s.dir.path());
    let out = s.heal(&rules, &["--notify-exec", &handler]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_eq!(
        t.matches(": max_hosts: 3 hosts fire at once").count(),
        3,
        "{t}"
    );
    assert!(s.actions().is_empty());
    let heard = std::fs::read_to_string(&events).expect("told");
    let (env, json) = heard.trim().split_once("|{").expect("one event");
    assert_eq!(env, "max_hosts||", "{heard}");
    let e: Value = serde_json::from_str(&format!("{{{json}")).expect("json");
    assert_eq!(e["hosts"], serde_json::json!(names), "{e}");
    assert_eq!(e["rule"], "lag");

    // One host left firing: it is acted on.
    s.prom.clear("mysql", &format!("{}:9104", names[1]));
    s.prom.clear("mysql", &format!("{}:9104", names[2]));
    s.prom.wait_for(&format!("{LAG} > 300"), 1);
    let out = s.heal(&rules, &[]);
    assert!(text(&out).contains(": act: runs"), "{}", text(&out));
    // It clears, then fires again within the cooldown: a new event, held back.
    s.prom.clear("mysql", &format!("{}:9104", names[0]));
    s.prom.wait_for(&format!("{LAG} > 300"), 0);
    let out = s.heal(&rules, &[]);
    assert!(text(&out).contains("lag: nothing fires"), "{}", text(&out));
    s.prom
        .set(LAG, "mysql", &format!("{}:9104", names[0]), 600.0);
    s.prom.wait_for(&format!("{LAG} > 300"), 1);
    let out = s.heal(&rules, &[]);
    let t = text(&out);
    assert!(
        t.contains(": cooldown: last acted at") && t.contains("cooling down until"),
        "{t}"
    );

    // An engaged kill switch: heal evaluates and records, and runs nothing.
    let out = s.olympus(&["lock", "--reason", "maintenance"]);
    assert_eq!(out.status.code(), Some(0));
    s.prom
        .set(LAG, "mysql", &format!("{}:9104", names[1]), 700.0);
    s.prom.wait_for(&format!("{LAG} > 300"), 2);
    let out = s.heal(&rules, &[]);
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "{} [value 700]: locked: the kill switch is engaged by",
            names[1]
        )) && t.contains("maintenance"),
        "{t}"
    );
    assert_eq!(s.actions().len(), 1, "only the first action ran");
    let h = s.history();
    assert!(
        h.iter()
            .any(|e| e["kind"] == "lock" && e["what"] == "engaged"),
        "{h:?}"
    );
}

/// A `--notify-exec` program that appends `EVENT|HOST|OUTCOME|<the JSON on stdin>` as one
/// line to a file; the program and the file.
fn notify_handler(dir: &Path) -> (String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let events = dir.join("events");
    let handler = dir.join("handler.sh");
    std::fs::write(
        &handler,
        format!(
            "#!/bin/sh\nline=\"$OLYMPUS_EVENT|$OLYMPUS_HOST|$OLYMPUS_OUTCOME|$(cat)\"\nprintf '%s\\n' \"$line\" >> {}\n",
            events.display()
        ),
    )
    .expect("handler");
    std::fs::set_permissions(&handler, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (handler.display().to_string(), events)
}

/// A webhook that accepts POSTs and passes each body on.
fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            let mut len = 0;
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, rx)
}

#[test]
fn failed_actions_past_the_budget_engage_the_kill_switch() {
    let s = Setup::new(2);
    let names: Vec<String> = s.fleet.hosts.iter().map(|h| h.name.clone()).collect();
    for h in &names {
        s.prom.set("up_broken", "app", &format!("{h}:80"), 1.0);
    }
    s.prom.wait_for("up_broken == 1", 2);
    let rules = s.rules(
        "checks:\n  - name: app-broken\n    source: {prometheus: 'PROM', query: 'up_broken == 1'}\n    hosts_from: instance\n    action: {playbook: fix.yml}\nguards: {max_failed_actions: 2}\n",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - fail: {msg: the fix does not work}\n",
    );
    // The operator's handlers hear of each failed action and of the switch.
    let (handler, events) = notify_handler(s.dir.path());
    let (hook, posted) = webhook_receiver();
    let out = s.heal(&rules, &["--notify-exec", &handler, "--notify-url", &hook]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "heal did its job: {t}");
    assert_eq!(t.matches("→ failed").count(), 2, "{t}");
    let mut heard = std::fs::read_to_string(&events)
        .expect("the handler ran")
        .lines()
        .map(String::from)
        .collect::<Vec<_>>();
    heard.sort();
    assert_eq!(heard.len(), 3, "{heard:?}");
    for (line, host) in heard.iter().zip(&names) {
        let (env, json) = line.split_once("|{").expect("env|json");
        assert_eq!(env, format!("action|{host}|failed"), "{line}");
        let e: Value = serde_json::from_str(&format!("{{{json}")).expect("json on stdin");
        assert_eq!(
            (
                e["rule"].as_str(),
                e["outcome"].as_str(),
                e["labels"]["job"].as_str()
            ),
            (Some("app-broken"), Some("failed"), Some("app")),
            "{e}"
        );
    }
    assert!(
        heard[2].starts_with("kill_switch||") && heard[2].contains("2 heal actions failed"),
        "{heard:?}"
    );
    let mut bodies: Vec<Value> = (0..3)
        .map(|_| {
            let b = posted
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("posted");
            serde_json::from_str(&b).expect("json posted")
        })
        .collect();
    bodies.sort_by_key(|b| b["event"].to_string() + b["host"].as_str().unwrap_or_default());
    assert_eq!(
        bodies
            .iter()
            .map(|b| b["event"].as_str().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["action", "action", "kill_switch"]
    );
    let out = s.olympus(&["lock", "--status", "--output", "json"]);
    let st: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(st["engaged"], true, "{st}");
    assert!(
        st["lock"]["reason"].as_str().is_some_and(
            |r| r.contains("2 heal actions failed") && r.contains("max_failed_actions 2")
        ),
        "{st}"
    );
    assert!(
        st["lock"]["by"]
            .as_str()
            .is_some_and(|b| b.ends_with("(olympus heal)")),
        "{st}"
    );
    // `olympus run` is refused too.
    let out = s
        .fleet
        .olympus("run", &s.fleet.inventory)
        .arg(s.path("fix.yml"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
}

#[test]
fn two_heals_at_once_act_once() {
    let s = Setup::new(1);
    let h = s.fleet.hosts[0].name.clone();
    s.prom.set(LAG, "mysql", &format!("{h}:9104"), 999.0);
    s.prom.wait_for(&format!("{LAG} > 300"), 1);
    let rules = s.rules(
        "checks:\n  - name: lag\n    source: {prometheus: 'PROM', query: 'mysql_slave_lag_seconds > 300'}\n    hosts_from: instance\n    action: {playbook: fix.yml, vars: {lag: '{{ value }}'}}\n",
        &writer(s.dir.path()),
    );
    let spawn = || {
        s.fleet
            .olympus("heal", &s.fleet.inventory)
            .arg(&rules)
            .arg("--once")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("heal")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)));
    assert_eq!(
        s.actions(),
        vec![(h, "ok".to_string())],
        "{}\n{}",
        text(&a),
        text(&b)
    );
}

#[test]
fn a_heal_killed_mid_action_leaves_it_recorded_interrupted_and_not_retried() {
    let s = Setup::new(1);
    let h = s.fleet.hosts[0].name.clone();
    s.prom.set(LAG, "mysql", &format!("{h}:9104"), 999.0);
    s.prom.wait_for(&format!("{LAG} > 300"), 1);
    let started = s.path("started");
    let rules = s.rules(
        "checks:\n  - name: lag\n    source: {prometheus: 'PROM', query: 'mysql_slave_lag_seconds > 300'}\n    hosts_from: instance\n    action: {playbook: fix.yml}\n",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: touch {}; sleep 30\n",
            started.display()
        ),
    );
    let mut child = s.spawn_heal(&rules, &["--once"], &started);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(s.actions(), vec![(h.clone(), "running".to_string())]);
    let out = s.heal(&rules, &[]);
    let t = text(&out);
    assert!(
        t.contains(
            "1 action(s) left running by a heal that ended first: recorded interrupted, not retried"
        ) && t.contains(": acted: acted on this event at"),
        "{t}"
    );
    assert_eq!(s.actions(), vec![(h, "interrupted".to_string())]);
}

#[test]
fn bad_rules_are_refused_with_their_place_and_unread_sources_exit_1() {
    let s = Setup::new(1);
    let rules = s.rules(
        "checks:\n  - name: lag\n    source: {graphite: 'http://127.0.0.1:9093', target: a.b, abve: 3}\n    hosts_from: instance\n    action: {playbook: fix.yml}\n",
        &writer(s.dir.path()),
    );
    let out = s.heal(&rules, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(
        t.contains(
            "rules.yml:3:62: unknown key 'abve' in a graphite source; did you mean 'above'?"
        ),
        "{t}"
    );
    // Prometheus gone: the pass records it and exits 1.
    let rules = s.rules(
        "checks:\n  - name: lag\n    source: {prometheus: 'http://127.0.0.1:1', query: 'up'}\n    hosts_from: instance\n    action: {playbook: fix.yml}\n",
        &writer(s.dir.path()),
    );
    let out = s.heal(&rules, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("lag: cannot evaluate: http://127.0.0.1:1/api/v1/query"),
        "{t}"
    );
    let h = s.history();
    assert!(
        h.iter()
            .any(|e| e["kind"] == "evaluation" && e["what"] == "error"),
        "{h:?}"
    );
}

/// A stub Prometheus (the edge case real Prometheus cannot be made to do quickly: a new
/// random answer on every query) on a loopback port: each answer names a random subset of
/// `hosts` with a random value.
fn flapping_prometheus(hosts: Vec<String>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut result: Vec<Value> = Vec::new();
            for h in &hosts {
                if next() % 2 == 0 {
                    result.push(serde_json::json!({
                        "metric": {"instance": format!("{h}:9100")},
                        "value": [1.0, (next() % 1000).to_string()],
                    }));
                }
            }
            let body = serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// 1,000 passes against a source that flaps at random keep every guard, and leave the
/// database sound.
#[test]
fn a_thousand_flapping_evaluations_keep_every_guard() {
    use olympus::app::heal::{HealRequest, once};
    use olympus::app::setup::{Connection, Sources};
    use olympus::state::{SqliteStore, Store};
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tmp");
    let hosts: Vec<String> = (1..=5).map(|i| format!("h{i}")).collect();
    let url = flapping_prometheus(hosts.clone());
    let inv = dir.path().join("hosts.ini");
    let lines: Vec<String> = hosts
        .iter()
        .map(|h| format!("{h} ansible_connection=local"))
        .collect();
    std::fs::write(&inv, lines.join("\n")).expect("inventory");
    std::fs::write(
        dir.path().join("fix.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - fail: {msg: unlucky}\n      when: heal.value % 5 == 0\n",
    )
    .expect("playbook");
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        format!(
            "checks:\n  - name: a\n    source: {{prometheus: '{url}', query: q}}\n    hosts_from: instance\n    for: 2\n    max_hosts: 2\n    action: {{playbook: fix.yml}}\n  - name: b\n    source: {{prometheus: '{url}', query: q}}\n    hosts_from: instance\n    max_hosts: 3\n    action: {{playbook: fix.yml}}\nguards: {{max_actions_per_hour: 40, max_failed_actions: 3}}\n"
        ),
    )
    .expect("rules");
    let store = Arc::new(SqliteStore::open(&dir.path().join("state")).expect("state"));
    let req = HealRequest {
        rules: rules.clone(),
        sources: Sources {
            inventory: vec![inv.display().to_string()],
            limit: None,
        },
        roles_path: Vec::new(),
        connection: Connection::for_listing(),
        store: store.clone(),
        dry_run: false,
        stop: olympus::stop::Stop::new(),
        lock_poll: std::time::Duration::from_millis(200),
        on_signals: false,
        notify: Default::default(),
    };
    // (check, host) → fired in the check's previous evaluation; fired in every evaluation
    // since its last action.
    let mut fired_before: BTreeMap<(String, String), bool> = BTreeMap::new();
    let mut held_since_act: BTreeSet<(String, String)> = BTreeSet::new();
    let mut actions = 0;
    let mut unlocks = 0;
    for i in 0..1000 {
        let locked_before = store.lock().expect("lock").is_some();
        let pass = once(&req).expect("pass");
        let mut acted_hosts = BTreeSet::new();
        for c in &pass.checks {
            assert!(c.error.is_none(), "{:?}", c.error);
            let acts: Vec<&str> = c
                .decisions
                .iter()
                .filter(|d| d.decision == "act")
                .map(|d| d.host.as_str())
                .collect();
            let max = if c.name == "a" { 2 } else { 3 };
            assert!(acts.len() <= max, "pass {i}: {} acted on {acts:?}", c.name);
            if c.decisions.iter().any(|d| d.decision == "max_hosts") {
                assert!(acts.is_empty(), "pass {i}: acted past max_hosts");
            }
            assert!(
                !locked_before || acts.is_empty(),
                "pass {i}: acted while locked"
            );
            let firing: BTreeSet<&str> = c.decisions.iter().map(|d| d.host.as_str()).collect();
            for h in &hosts {
                let key = (c.name.clone(), h.clone());
                let now = firing.contains(h.as_str());
                if acts.contains(&h.as_str()) {
                    assert!(
                        acted_hosts.insert(h.clone()),
                        "pass {i}: {h} acted on twice"
                    );
                    if c.name == "a" {
                        assert!(
                            fired_before.get(&key).copied().unwrap_or(false),
                            "pass {i}: for: 2 not held"
                        );
                    }
                    assert!(
                        !held_since_act.contains(&key),
                        "pass {i}: acted twice on one event"
                    );
                    held_since_act.insert(key.clone());
                } else if !now {
                    held_since_act.remove(&key);
                }
                fired_before.insert(key, now);
            }
            actions += c.actions.len();
        }
        let failed = store.failed_actions_since_release().expect("failed");
        assert!(
            failed < 3 || store.lock().expect("lock").is_some(),
            "pass {i}: {failed} failures and no kill switch"
        );
        // An operator releases the switch now and then, so the budget is spent again.
        if i % 100 == 99 && store.release("operator@test").expect("release").is_some() {
            unlocks += 1;
        }
    }
    assert!(actions <= 40, "{actions} actions in the hour, max 40");
    assert!(
        actions > 0 && unlocks > 0,
        "the run exercised actions ({actions}) and the budget ({unlocks})"
    );
    assert!(store.integrity_ok().expect("integrity_check"));
}

/// `olympus schedule`: systemd units that `systemd-analyze verify` accepts without a word, and
/// a crontab line that Debian's `crontab` installs and that, run as cron runs it, starts heal
/// on the chosen state directory.
#[test]
fn schedule_writes_units_systemd_accepts_and_a_cron_line_that_runs() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    // A directory and a rules file whose names need quoting everywhere.
    let project = dir.path().join("my project");
    std::fs::create_dir_all(&project).expect("mkdir");
    for p in [dir.path(), &project] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    std::fs::write(project.join("fix.yml"), "- hosts: all\n  tasks: []\n").expect("pb");
    let rules = project.join("lag 100%.yml");
    std::fs::write(
        &rules,
        "checks:\n  - name: lag\n    source: {prometheus: 'http://127.0.0.1:1', query: up}\n    hosts_from: instance\n    action: {playbook: fix.yml}\n",
    )
    .expect("rules");
    std::fs::set_permissions(&rules, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let olympus = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_olympus"))
            .args(args)
            .current_dir(&project)
            .output()
            .expect("olympus")
    };
    let units = dir.path().join("units");
    let units_s = units.display().to_string();
    let out = olympus(&[
        "schedule",
        "install",
        "lag 100%.yml",
        "-i",
        "h1,",
        "--every",
        "5m",
        "--unit-dir",
        &units_s,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let service = units.join("olympus-heal-lag-100-.service");
    let timer = units.join("olympus-heal-lag-100-.timer");
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .args([&service, &timer])
        .output()
        .expect("systemd-analyze (systemd is installed by tests/run-all.sh)");
    assert!(
        verify.status.success() && verify.stderr.is_empty() && verify.stdout.is_empty(),
        "{}",
        text(&verify)
    );
    let unit = std::fs::read_to_string(&timer).expect("timer");
    assert!(unit.contains("OnCalendar=*-*-* *:00/5:00") && unit.contains("Persistent=true"));
    let out = olympus(&["schedule", "show", "--unit-dir", &units_s]);
    assert!(
        text(&out).starts_with("olympus-heal-lag-100-.timer: *-*-* *:00/5:00"),
        "{}",
        text(&out)
    );
    let out = olympus(&[
        "schedule",
        "install",
        "lag 100%.yml",
        "--every",
        "7m",
        "--unit-dir",
        &units_s,
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "7 minutes is not a calendar both can say"
    );
    let out = olympus(&["schedule", "remove", "lag 100%.yml", "--unit-dir", &units_s]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!service.exists() && !timer.exists());

    // cron, as an unprivileged user's own crontab.
    let state = dir.path().join("state");
    let state_s = state.display().to_string();
    let as_nobody = |args: &[&str]| {
        Command::new("runuser")
            .args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_olympus")])
            .args(args)
            .current_dir(&project)
            .output()
            .expect("runuser")
    };
    let out = as_nobody(&[
        "schedule",
        "install",
        "lag 100%.yml",
        "--every",
        "10m",
        "--cron",
        "--user",
        "--state-dir",
        &state_s,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let tab = Command::new("crontab")
        .args(["-l", "-u", "nobody"])
        .output()
        .expect("crontab");
    let tab = String::from_utf8_lossy(&tab.stdout).into_owned();
    let line = tab
        .lines()
        .skip_while(|l| *l != "# olympus schedule: olympus-heal-lag-100-")
        .nth(1)
        .unwrap_or_else(|| panic!("no job line: {tab}"))
        .to_string();
    assert!(line.starts_with("*/10 * * * * cd "), "{line}");
    // Run it the way cron does: the command after five fields, `\%` made `%`, by sh.
    let command: String = line
        .splitn(6, ' ')
        .nth(5)
        .expect("command")
        .replace("\\%", "%");
    let ran = Command::new("runuser")
        .args(["-u", "nobody", "--", "sh", "-c", &command])
        .output()
        .expect("sh");
    assert!(ran.status.success(), "{}", text(&ran));
    // heal ran on that state: the unreachable source is recorded.
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .args(["history", "--state-dir", &state_s, "--output", "json"])
        .output()
        .expect("history");
    let h: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        h.as_array().is_some_and(|a| a
            .iter()
            .any(|e| e["kind"] == "evaluation" && e["rule"] == "lag")),
        "{h}"
    );
    let out = as_nobody(&["schedule", "remove", "lag 100%.yml", "--cron", "--user"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let tab = Command::new("crontab")
        .args(["-l", "-u", "nobody"])
        .output()
        .expect("crontab");
    assert!(!String::from_utf8_lossy(&tab.stdout).contains("olympus"));
}

/// An alert in a real Alertmanager names the host; silenced or other alerts do not act.
#[test]
fn an_alertmanager_alert_runs_the_playbook_on_its_host() {
    let s = Setup::new(2);
    let am = common::prometheus::Alertmanager::start();
    let [h1, h2] = [0, 1].map(|i| s.fleet.hosts[i].name.clone());
    am.fire(
        &[
            ("alertname", "ReplicationLag"),
            ("instance", &format!("{h1}:9104")),
            ("severity", "critical"),
        ],
        "412",
    );
    am.fire(
        &[
            ("alertname", "ReplicationLag"),
            ("instance", &format!("{h2}:9104")),
            ("severity", "warning"),
        ],
        "50",
    );
    am.fire(
        &[
            ("alertname", "DiskFull"),
            ("instance", &format!("{h2}:9100")),
            ("severity", "critical"),
        ],
        "99",
    );
    am.wait_for(3);
    let rules = s.rules(
        &format!(
            "checks:\n  - name: lag\n    source: {{alertmanager: '{}', alertname: ReplicationLag, filter: ['severity=\"critical\"']}}\n    hosts_from: instance\n    action: {{playbook: fix.yml, vars: {{lag: '{{{{ value }}}}'}}}}\n",
            am.url
        ),
        &writer(s.dir.path()),
    );
    let out = s.heal(&rules, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("lag: {h1} [value 412]: act: runs")),
        "{t}"
    );
    assert!(!t.contains(&h2), "{t}");
    assert_eq!(
        std::fs::read_to_string(s.path(&format!("fixed-{h1}")))
            .ok()
            .as_deref(),
        Some("412 ")
    );
    assert!(!s.path(&format!("fixed-{h2}")).exists());
}

/// `heal --watch` as a service: Alertmanager's webhook starts a pass at once (the interval is
/// an hour), SIGHUP starts another, SIGTERM stops it cleanly.
#[test]
fn heal_watch_acts_on_an_alertmanager_webhook_and_stops_on_sigterm() {
    let s = Setup::new(1);
    let h1 = s.fleet.hosts[0].name.clone();
    let listen = format!("127.0.0.1:{}", common::prometheus::port());
    let am = common::prometheus::Alertmanager::with_webhook(Some(&format!("http://{listen}/")));
    let rules = s.rules(
        &format!(
            "checks:\n  - name: lag\n    source: {{alertmanager: '{}', alertname: ReplicationLag}}\n    hosts_from: instance\n    action: {{playbook: fix.yml, vars: {{lag: '{{{{ value }}}}'}}}}\n",
            am.url
        ),
        &writer(s.dir.path()),
    );
    let log = s.path("watch.out");
    let mut child = s
        .fleet
        .olympus("heal", &s.fleet.inventory)
        .arg(&rules)
        .args(["--watch", "--interval", "1h", "--listen", &listen])
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(std::fs::File::create(s.path("watch.err")).expect("log"))
        .spawn()
        .expect("heal --watch");
    let output = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait = |what: &str, ok: &dyn Fn(&str) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !ok(&output()) {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {}\n{}",
                output(),
                std::fs::read_to_string(s.path("watch.err")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    wait("the first pass", &|o| o.contains("lag: nothing fires"));
    am.fire(
        &[
            ("alertname", "ReplicationLag"),
            ("instance", &format!("{h1}:9104")),
        ],
        "333",
    );
    wait("the webhook's pass", &|o| {
        o.contains(&format!("lag: {h1} [value 333]: act: runs"))
    });
    assert_eq!(
        std::fs::read_to_string(s.path(&format!("fixed-{h1}")))
            .ok()
            .as_deref(),
        Some("333 ")
    );
    let pid = child.id().to_string();
    let kill = |sig: &str| {
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .expect("kill")
                .success()
        );
    };
    kill("-HUP");
    wait("the SIGHUP pass", &|o| {
        o.contains(": acted: acted on this event at")
    });
    // The rules are read again on SIGHUP: a changed file is what the next pass uses.
    let text = std::fs::read_to_string(&rules).expect("rules");
    std::fs::write(
        &rules,
        text.replace("name: lag\n", "name: lag-reloaded\n    for: 5\n"),
    )
    .expect("rules");
    kill("-HUP");
    wait("the reloaded rules' pass", &|o| {
        o.contains(&format!(
            "lag-reloaded: {h1} [value 333]: waiting: held 1 of 5"
        ))
    });
    kill("-TERM");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(s.actions(), vec![(h1, "ok".to_string())]);
}

/// Rules and a playbook in a directory the fleet user can read; heal run once on them.
fn heal_fleet(fleet: &Fleet, dir: &Path, name: &str, rules: &str) -> Output {
    let p = dir.join(name);
    std::fs::write(&p, rules).expect("rules");
    fleet
        .olympus("heal", &fleet.inventory)
        .arg(&p)
        .arg("--once")
        .output()
        .expect("heal")
}

fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

#[test]
fn a_nagios_plugin_run_on_each_host_decides_where_to_act() {
    let plugin = "/usr/lib/nagios/plugins/check_file_age";
    assert!(
        Path::new(plugin).exists(),
        "{plugin} is missing: tests/run-all.sh installs monitoring-plugins-basic"
    );
    let fleet = Fleet::start(3);
    let dir = shared_dir();
    let d = dir.path();
    std::fs::write(d.join("fix.yml"), writer(d)).expect("playbook");
    // Each host's backup heartbeat: fresh (OK), 90 s old (WARNING), 300 s old (CRITICAL).
    // The fleet's hosts share this machine, so each finds its own by its address.
    for (i, age) in [(0, 0), (1, 90), (2, 300)] {
        let f = d.join(format!("beat-{}", fleet.hosts[i].addr));
        std::fs::write(&f, "").expect("beat");
        let status = Command::new("touch")
            .arg("-d")
            .arg(format!("-{age} seconds"))
            .arg(&f)
            .status()
            .expect("touch");
        assert!(status.success());
    }
    let check = format!(
        "{plugin} -w 60 -c 120 -f {}/beat-$(echo \"$SSH_CONNECTION\" | cut -d\" \" -f3)",
        d.display()
    );
    let [h1, h2, h3] = [0, 1, 2].map(|i| fleet.hosts[i].name.clone());
    let rules = format!(
        "checks:\n  - name: backup-heartbeat\n    source: {{command: '{check}', hosts: all, timeout: 20s}}\n    action: {{playbook: fix.yml, vars: {{lag: '{{{{ labels.perf_age }}}}{{{{ labels.perf_age_uom }}}}'}}}}\n"
    );
    let out = heal_fleet(&fleet, d, "rules.yml", &rules);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!(
            "backup-heartbeat: {h3} [value \"CRITICAL\"]: act: runs"
        )),
        "{t}"
    );
    assert!(
        !t.contains(&format!(": {h1} ")) && !t.contains(&format!(": {h2} ")),
        "{t}"
    );
    let fixed = std::fs::read_to_string(d.join(format!("fixed-{h3}"))).expect("acted on h3");
    assert!(fixed.starts_with("30") && fixed.contains("s "), "{fixed}");
    assert!(!d.join(format!("fixed-{h1}")).exists() && !d.join(format!("fixed-{h2}")).exists());

    // With `states: [warning, critical]` the WARNING host fires too (h3 is now acted on).
    let rules = rules
        .replace("name: backup-heartbeat", "name: beat-warn")
        .replace("timeout: 20s", "timeout: 20s, states: [warning, critical]");
    let out = heal_fleet(&fleet, d, "warn.yml", &rules);
    let t = text(&out);
    assert!(
        t.contains(&format!("beat-warn: {h2} [value \"WARNING\"]: act: runs")),
        "{t}"
    );
    assert!(d.join(format!("fixed-{h2}")).exists());

    // A host the plugin cannot run on is UNKNOWN only when asked for; an unreachable host
    // is "unknown" (its streak kept), never a reason to act.
    let rules = format!(
        "checks:\n  - name: missing-plugin\n    source: {{command: '/nonexistent/check_x', hosts: '{h1}', states: [unknown]}}\n    action: {{playbook: fix.yml, vars: {{lag: '{{{{ labels.code }}}}'}}}}\n"
    );
    let out = heal_fleet(&fleet, d, "unknown.yml", &rules);
    let t = text(&out);
    assert!(
        t.contains(&format!("missing-plugin: {h1} [value \"UNKNOWN\"]: act")),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join(format!("fixed-{h1}"))).expect("acted"),
        "127 "
    );
}

#[test]
fn a_log_count_and_an_http_check_on_each_host() {
    let mut fleet = Fleet::builder(3).sshd_per_host().start();
    let dir = shared_dir();
    let d = dir.path();
    std::fs::write(d.join("fix.yml"), writer(d)).expect("playbook");
    let [h1, h2, h3] = [0, 1, 2].map(|i| fleet.hosts[i].name.clone());
    let log = d.join("app.log");
    std::fs::write(
        &log,
        "start\nERROR db timeout\nok\nERROR db timeout\nERROR db timeout\n",
    )
    .expect("log");
    // Three matching lines in the last 1000: more than 2 fires; h1 only is asked.
    let rules = format!(
        "checks:\n  - name: app-errors\n    source: {{log: '{}', pattern: 'ERROR (db|cache) timeout', above: 2, hosts: '{h1}:{h2}'}}\n    action: {{playbook: fix.yml, vars: {{lag: '{{{{ value }}}}'}}}}\n",
        log.display()
    );
    let out = heal_fleet(&fleet, d, "log.yml", &rules);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("app-errors: {h1} [value 3]: act: runs")),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join(format!("fixed-{h1}"))).expect("acted"),
        "3 "
    );
    assert!(
        t.contains(&format!("app-errors: {h2} [value 3]: act: runs")),
        "{t}"
    );

    // The HTTP check: each host's URL from its inventory variables; a 404 and a body that
    // does not match fire, a good answer does not.
    let port = common::prometheus::port();
    let www = d.join("www");
    std::fs::create_dir(&www).expect("www");
    std::fs::write(www.join(format!("health-{h1}")), "status: ok\n").expect("h1");
    std::fs::write(www.join(format!("health-{h2}")), "status: degraded\n").expect("h2");
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&www)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 http.server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "http.server never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let rules = format!(
        "checks:\n  - name: health\n    source: {{http: 'http://127.0.0.1:{port}/health-{{{{ inventory_hostname }}}}', hosts: all, body: 'status: ok', status: [200], timeout: 5s}}\n    action: {{playbook: fix.yml, vars: {{lag: '{{{{ labels.reason }}}}'}}}}\n"
    );
    let out = heal_fleet(&fleet, d, "http.yml", &rules);
    let t = text(&out);
    assert!(!t.contains(&format!("health: {h1} ")), "{t}");
    assert!(
        t.contains(&format!("health: {h2} [value 200]: act: runs")),
        "{t}"
    );
    assert!(
        t.contains(&format!("health: {h3} [value 404]: act: runs")),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join(format!("fixed-{h2}"))).expect("acted"),
        "the body does not match status: ok "
    );
    let _ = server.kill();
    let _ = server.wait();

    // A host whose sshd is down cannot be probed: recorded unknown, not acted on.
    fleet.stop_host(2);
    let rules = format!(
        "checks:\n  - name: app-errors-2\n    source: {{log: '{}', pattern: 'ERROR', hosts: all}}\n    action: {{playbook: fix.yml}}\n",
        log.display()
    );
    let out = heal_fleet(&fleet, d, "log2.yml", &rules);
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "app-errors-2: {h3} [value null]: unknown: unreachable"
        )),
        "{t}"
    );
    let h = history_of(&fleet);
    assert!(
        h.iter().any(|e| e["rule"] == "app-errors-2"
            && e["host"] == h3.as_str()
            && e["what"] == "unknown"),
        "{h:?}"
    );
}

/// A Graphite render API stand-in: each request's first line is sent to the returned
/// channel; the answers are given in turn (status, body).
fn graphite_stub(answers: Vec<(u16, String)>) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for ((status, body), stream) in answers.into_iter().zip(listener.incoming()) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = tx.send(first.trim().to_string());
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, rx)
}

#[test]
fn a_graphite_series_past_its_threshold_runs_the_playbook_on_its_host() {
    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let d = dir.path();
    std::fs::write(d.join("fix.yml"), writer(d)).expect("playbook");
    let [h1, h2] = [0, 1].map(|i| fleet.hosts[i].name.clone());
    let series = serde_json::json!([
        {"target": format!("servers.{h1}.replication_lag"), "datapoints": [[120.0, 1], [512.5, 2], [null, 3]]},
        {"target": format!("servers.{h2}.replication_lag"), "datapoints": [[900.0, 1], [4.0, 2]]},
    ])
    .to_string();
    let (url, requests) = graphite_stub(vec![
        (200, series),
        (500, "carbon is down".into()),
        (200, "<html>".into()),
    ]);
    let rules = format!(
        "checks:\n  - name: lag\n    source: {{graphite: '{url}', target: 'servers.*.replication_lag', from: -10min, above: 300}}\n    hosts_from: node1\n    action: {{playbook: fix.yml, vars: {{lag: '{{{{ value }}}}'}}}}\n"
    );
    let out = heal_fleet(&fleet, d, "rules.yml", &rules);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let asked = requests.recv().expect("asked");
    assert!(
        asked.starts_with("GET /render?")
            && asked.contains("target=servers.*.replication_lag")
            && asked.contains("from=-10min")
            && asked.contains("format=json"),
        "{asked}"
    );
    assert!(
        t.contains(&format!("lag: {h1} [value 512.5]: act: runs")),
        "{t}"
    );
    assert!(!t.contains(&format!("lag: {h2} ")), "{t}");
    assert_eq!(
        std::fs::read_to_string(d.join(format!("fixed-{h1}"))).expect("acted"),
        "512.5 "
    );
    // An error answer and a malformed one: the check cannot be evaluated, said so, exit 1.
    for want in ["HTTP 500: carbon is down", "the answer is not JSON"] {
        let out = heal_fleet(&fleet, d, "rules.yml", &rules);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(
            t.contains("lag: cannot evaluate:") && t.contains(want),
            "{t}"
        );
    }
}

#[test]
fn the_kill_switch_engaged_mid_action_stops_it_at_the_next_task() {
    let s = Setup::new(1);
    let h = s.fleet.hosts[0].name.clone();
    s.prom.set(LAG, "mysql", &format!("{h}:9104"), 999.0);
    s.prom.wait_for(&format!("{LAG} > 300"), 1);
    let (started, go, second) = (s.path("started"), s.path("go"), s.path("second"));
    let rules = s.rules(
        "checks:\n  - name: lag\n    source: {prometheus: 'PROM', query: 'mysql_slave_lag_seconds > 300'}\n    hosts_from: instance\n    action: {playbook: fix.yml}\n",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: touch {}; i=0; while [ ! -e {} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n    - copy: {{dest: '{}', content: too far}}\n",
            started.display(),
            go.display(),
            second.display()
        ),
    );
    let child = s.spawn_heal(&rules, &["--once"], &started);
    let out = s.olympus(&["lock", "--reason", "replication incident"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // heal reads the switch every second; then the first task may end.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::fs::write(&go, "").expect("go");
    let out = child.wait_with_output().expect("heal ends");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "heal did its job: {t}");
    assert!(
        t.contains("→ halted") && t.contains("replication incident"),
        "{t}"
    );
    assert!(!second.exists(), "the task after the switch ran");
    assert_eq!(s.actions(), vec![(h, "halted".to_string())]);
}

#[test]
fn an_exec_action_runs_a_local_program_with_the_event() {
    use std::os::unix::fs::PermissionsExt;
    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let d = dir.path();
    let [h1, h2] = [0, 1].map(|i| fleet.hosts[i].name.clone());
    let got = d.join("got");
    std::fs::write(
        d.join("remedy.sh"),
        format!(
            "#!/bin/sh\n[ \"$OLYMPUS_HOST\" = {h2} ] && {{ echo cannot fix {h2} >&2; exit 3; }}\nprintf '%s|%s|%s\\n' \"$*\" \"$OLYMPUS_HOST\" \"$(cat)\" >> {}\necho restarted\n",
            got.display()
        ),
    )
    .expect("remedy");
    std::fs::set_permissions(d.join("remedy.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let series = serde_json::json!([
        {"target": format!("q.{h1}.depth"), "datapoints": [[90, 1]]},
        {"target": format!("q.{h2}.depth"), "datapoints": [[80, 1]]},
    ])
    .to_string();
    let (url, _requests) = graphite_stub(vec![(200, series)]);
    let rules = format!(
        "checks:\n  - name: queue\n    source: {{graphite: '{url}', target: 'q.*.depth', above: 50}}\n    hosts_from: node1\n    action: {{exec: [./remedy.sh, --drain], vars: {{depth: '{{{{ value }}}}'}}, timeout: 30s}}\n"
    );
    let out = heal_fleet(&fleet, d, "rules.yml", &rules);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!(
            "queue: {h1} [value 90]: act: runs exec {}/remedy.sh --drain → ok (restarted)",
            d.display()
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!("queue: {h2} [value 80]: act"))
            && t.contains("→ failed")
            && t.contains(&format!("cannot fix {h2}")),
        "{t}"
    );
    let line = std::fs::read_to_string(&got).expect("ran");
    let (head, json) = line.trim().split_once("|{").expect("args|host|json");
    assert_eq!(head, format!("--drain|{h1}"));
    let e: Value = serde_json::from_str(&format!("{{{json}")).expect("json");
    assert_eq!(
        (
            e["event"].as_str(),
            e["rule"].as_str(),
            e["vars"]["depth"].as_i64(),
            e["labels"]["node1"].as_str()
        ),
        (
            Some("remediate"),
            Some("queue"),
            Some(90),
            Some(h1.as_str())
        ),
        "{e}"
    );
    let mut outcomes = actions_of(&fleet);
    outcomes.sort();
    assert_eq!(
        outcomes,
        vec![(h1, "ok".to_string()), (h2, "failed".to_string())]
    );
}

/// The journal source against a host running systemd (journald): lines a unit logged in
/// the window are counted there; older ones are outside a short window.
#[test]
fn a_journal_window_is_counted_on_a_host_running_systemd() {
    let fleet = Fleet::start(1);
    let booted = common::booted::Booted::start(&fleet)
        .unwrap_or_else(|e| panic!("a host running systemd is needed: {e}"));
    let dir = shared_dir();
    let d = dir.path();
    std::fs::write(
        d.join("fix.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy: {dest: /root/olympus-heal-fixed, content: '{{ n }}'}\n",
    )
    .expect("playbook");
    let fixed = booted.root().join("root/olympus-heal-fixed");
    let _ = std::fs::remove_file(&fixed);
    // A unit of its own: the container's journal outlives a run. systemd logs the unit's
    // command line under the unit too, so the pattern is not spelled in it.
    let unit = format!(
        "olympus-heal-demo-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    );
    let out = fleet
        .olympus("exec", &booted.inventory)
        .args([
            "all",
            "--",
            &format!("systemd-run --quiet --wait --unit={unit} sh -c 'echo XRROR db timeout | tr X E; echo fine; echo XRROR db timeout | tr X E'"),
        ])
        .output()
        .expect("exec");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rules = |since: &str| {
        format!(
            "checks:\n  - name: app-errors\n    source: {{journal: {unit}.service, pattern: 'ERROR db', since: {since}, above: 1, hosts: all}}\n    action: {{playbook: fix.yml, vars: {{n: '{{{{ value }}}}'}}}}\n"
        )
    };
    let heal = |since: &str| {
        let p = d.join("rules.yml");
        std::fs::write(&p, rules(since)).expect("rules");
        fleet
            .olympus("heal", &booted.inventory)
            .arg(&p)
            .arg("--once")
            .output()
            .expect("heal")
    };
    let out = heal("10m");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("app-errors: {} [value 2]: act: runs", booted.name))
            && t.contains("→ ok"),
        "{t}"
    );
    assert_eq!(std::fs::read_to_string(&fixed).expect("acted").trim(), "2");
    // Three seconds later, a one-second window holds none of those lines.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let out = heal("1s");
    let t = text(&out);
    assert!(t.contains("app-errors: nothing fires"), "{t}");
}

/// SIGTERM to a watching heal while an action runs: the action is stopped and recorded
/// interrupted (never lost), and heal exits 0.
#[test]
fn sigterm_mid_action_records_it_interrupted() {
    let s = Setup::new(1);
    let h = s.fleet.hosts[0].name.clone();
    s.prom.set(LAG, "mysql", &format!("{h}:9104"), 999.0);
    s.prom.wait_for(&format!("{LAG} > 300"), 1);
    let (started, after) = (s.path("started"), s.path("after"));
    let rules = s.rules(
        "checks:\n  - name: lag\n    source: {prometheus: 'PROM', query: 'mysql_slave_lag_seconds > 300'}\n    hosts_from: instance\n    action: {playbook: fix.yml}\n",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: touch {}; sleep 60\n    - copy: {{dest: '{}', content: too far}}\n",
            started.display(),
            after.display()
        ),
    );
    let child = s.spawn_heal(&rules, &["--watch", "--interval", "1h"], &started);
    let t0 = std::time::Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill")
            .success()
    );
    let out = child.wait_with_output().expect("heal ends");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(30),
        "heal waited for the 60 s task: {t}"
    );
    assert!(t.contains("→ interrupted"), "{t}");
    assert!(!after.exists(), "a task ran after SIGTERM");
    assert_eq!(s.actions(), vec![(h, "interrupted".to_string())]);
}

/// Debian's BIND on a loopback port with one zone open to TSIG-signed dynamic updates.
struct Bind {
    child: std::process::Child,
    port: u16,
    key: PathBuf,
}

impl Bind {
    fn start(dir: &Path, zone: &str) -> Bind {
        let port = common::prometheus::port();
        let key = dir.join("olympus.key");
        let out = Command::new("tsig-keygen")
            .arg("olympus")
            .output()
            .expect("tsig-keygen (tests/run-all.sh installs bind9)");
        std::fs::write(&key, &out.stdout).expect("key");
        std::fs::write(dir.join("example.test.zone"), zone).expect("zone");
        let conf = dir.join("named.conf");
        std::fs::write(
            &conf,
            format!(
                "options {{ directory \"{d}\"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }}; pid-file \"{d}/named.pid\"; recursion no; dnssec-validation no; }};\ncontrols {{ }};\ninclude \"{key}\";\nzone \"example.test\" {{ type primary; file \"{d}/example.test.zone\"; allow-update {{ key \"olympus\"; }}; }};\n",
                d = dir.display(),
                key = key.display()
            ),
        )
        .expect("named.conf");
        let child = Command::new("named")
            .args(["-g", "-c"])
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("named.log")).expect("log"))
            .spawn()
            .expect("named");
        let bind = Bind { child, port, key };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while bind.a_records("ns.example.test").is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "named never answered: {}",
                std::fs::read_to_string(dir.join("named.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        bind
    }

    /// The name's A records, sorted.
    fn a_records(&self, name: &str) -> Vec<String> {
        let out = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &self.port.to_string(),
                name,
                "A",
                "+short",
            ])
            .output()
            .expect("dig");
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty() && !l.starts_with(';'))
            .collect();
        v.sort();
        v
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example handlers in playbooks/handlers/: `dns-rr.sh` as a heal action takes the
/// failing host out of a DNS round-robin name on a real BIND (nsupdate, TSIG), and
/// `chat.sh` as a --notify-exec handler posts the action's end to a chat webhook.
#[test]
fn example_handlers_update_dns_round_robin_and_post_to_chat() {
    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let d = dir.path();
    let [a1, a2] = [0, 1].map(|i| fleet.hosts[i].addr.to_string());
    let h2 = fleet.hosts[1].name.clone();
    let bind = Bind::start(
        d,
        &format!(
            "$TTL 60\n@ IN SOA ns.example.test. admin.example.test. 1 60 60 600 60\n@ IN NS ns.example.test.\nns IN A 127.0.0.1\nwww IN A {a1}\nwww IN A {a2}\n"
        ),
    );
    let mut both = vec![a1.clone(), a2.clone()];
    both.sort();
    assert_eq!(bind.a_records("www.example.test"), both);
    let handlers = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/handlers");
    // The application answers CRITICAL on the second host only.
    let rules = format!(
        "checks:\n  - name: app-down\n    source: {{command: 'if [ \"$(echo \"$SSH_CONNECTION\" | cut -d\" \" -f3)\" = {a2} ]; then echo \"APP CRITICAL - no answer\"; exit 2; fi; echo APP OK', hosts: all}}\n    action: {{exec: ['{}', remove]}}\n",
        handlers.join("dns-rr.sh").display()
    );
    std::fs::write(d.join("rules.yml"), rules).expect("rules");
    let (hook, posted) = webhook_receiver();
    let out = fleet
        .olympus("heal", &fleet.inventory)
        .arg(d.join("rules.yml"))
        .arg("--once")
        .arg("--notify-exec")
        .arg(handlers.join("chat.sh"))
        .env("DNS_PORT", bind.port.to_string())
        .env("DNS_ZONE", "example.test")
        .env("DNS_NAME", "www.example.test")
        .env("DNS_KEY_FILE", &bind.key)
        .env("CHAT_WEBHOOK", &hook)
        .output()
        .expect("heal");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!(
            "app-down: {h2} [value \"CRITICAL\"]: act: runs exec"
        )) && t.contains(&format!("→ ok (remove {a2} ({h2}) in www.example.test)")),
        "{t}"
    );
    assert_eq!(bind.a_records("www.example.test"), vec![a1.clone()]);
    let body = posted
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the chat webhook got a post");
    let msg: Value = serde_json::from_str(&body).expect("json");
    let line = msg["text"].as_str().unwrap_or_default();
    assert!(
        line.starts_with("heal app-down: exec ") && line.contains(&format!("on {h2} -> ok")),
        "{msg}"
    );

    // Put back by hand (the handler's other half), as an operator would after the repair.
    let out = Command::new(handlers.join("dns-rr.sh"))
        .arg("add")
        .env("OLYMPUS_ADDRESS", &a2)
        .env("OLYMPUS_HOST", &h2)
        .env("DNS_PORT", bind.port.to_string())
        .env("DNS_ZONE", "example.test")
        .env("DNS_NAME", "www.example.test")
        .env("DNS_KEY_FILE", &bind.key)
        .output()
        .expect("dns-rr.sh add");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bind.a_records("www.example.test"), both);
}
