//! olympus against ansible-core on the same real-sshd fleet: for each playbook in
//! tests/fixtures/compat/ (serial, max_fail_percentage, any_errors_fatal, handlers, blocks,
//! loops, register/when, with hosts failing on purpose), the PLAY RECAP counters of every
//! host and the tasks each host ran (with their status) must be what ansible-core produced.
//!
//! The expected files were produced by `regenerate_fixtures_with_ansible_core` below:
//!   OLYMPUS_ANSIBLE_PLAYBOOK=/path/to/venv/bin/ansible-playbook \
//!     cargo test --test compat -- --ignored regenerate
//! (ansible-core from PyPI in a throwaway venv; never a dependency of olympus), with the
//! small stdout callback in tests/fixtures/compat/callback_plugins/ recording each host's
//! status per task and the recap.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::fleet::Fleet;
use serde_json::{Value, json};

const HOSTS: usize = 12;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat")
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

/// What is compared: per host, the recap counters and the sorted "task => status" list.
fn normalized(recap: BTreeMap<String, Value>, tasks: BTreeMap<String, Vec<String>>) -> Value {
    let mut hosts = serde_json::Map::new();
    for (h, c) in recap {
        let mut t = tasks.get(&h).cloned().unwrap_or_default();
        t.sort();
        hosts.insert(h, json!({"recap": c, "tasks": t}));
    }
    Value::Object(hosts)
}

fn counters(
    ok: &Value,
    changed: &Value,
    unreachable: &Value,
    failed: &Value,
    skipped: &Value,
    rescued: &Value,
    ignored: &Value,
) -> Value {
    json!({"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed,
           "skipped": skipped, "rescued": rescued, "ignored": ignored})
}

fn status_of(result: &Value) -> &'static str {
    let flag = |k: &str| result.get(k).and_then(Value::as_bool).unwrap_or(false);
    if flag("unreachable") {
        "unreachable"
    } else if flag("failed") {
        "failed"
    } else if flag("skipped") {
        "skipped"
    } else if flag("changed") {
        "changed"
    } else {
        "ok"
    }
}

fn normalize_olympus(doc: &Value) -> Value {
    let mut tasks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for play in doc["plays"].as_array().into_iter().flatten() {
        for task in play["tasks"].as_array().into_iter().flatten() {
            let name = task["name"].as_str().unwrap_or("?");
            for (h, r) in task["hosts"].as_object().into_iter().flatten() {
                let st = r["status"].as_str().unwrap_or("?");
                tasks
                    .entry(h.clone())
                    .or_default()
                    .push(format!("{name} => {st}"));
            }
        }
    }
    let mut recap = BTreeMap::new();
    for (h, c) in doc["recap"].as_object().into_iter().flatten() {
        recap.insert(
            h.clone(),
            counters(
                &c["ok"],
                &c["changed"],
                &c["unreachable"],
                &c["failed"],
                &c["skipped"],
                &c["rescued"],
                &c["ignored"],
            ),
        );
    }
    normalized(recap, tasks)
}

fn normalize_ansible(doc: &Value) -> Value {
    let mut tasks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for play in doc["plays"].as_array().into_iter().flatten() {
        for task in play["tasks"].as_array().into_iter().flatten() {
            let name = task["task"]["name"].as_str().unwrap_or("?");
            for (h, r) in task["hosts"].as_object().into_iter().flatten() {
                let st = r["status"].as_str().unwrap_or_else(|| status_of(r));
                tasks
                    .entry(h.clone())
                    .or_default()
                    .push(format!("{name} => {st}"));
            }
        }
    }
    let mut recap = BTreeMap::new();
    for (h, c) in doc["stats"].as_object().into_iter().flatten() {
        recap.insert(
            h.clone(),
            counters(
                &c["ok"],
                &c["changed"],
                &c["unreachable"],
                &c["failures"],
                &c["skipped"],
                &c["rescued"],
                &c["ignored"],
            ),
        );
    }
    normalized(recap, tasks)
}

fn run_olympus(fleet: &Fleet, playbook: &Path) -> Value {
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(playbook)
        .args(["--output", "json", "-f", "12"])
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run olympus");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{}: olympus printed no JSON document ({e}); exit {:?}\nstdout: {text}\nstderr: {}",
            playbook.display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn diff(expected: &Value, got: &Value) -> String {
    let mut lines = Vec::new();
    let (Some(e), Some(g)) = (expected.as_object(), got.as_object()) else {
        return format!("expected {expected}\ngot {got}");
    };
    for (h, ev) in e {
        let gv = g.get(h).cloned().unwrap_or(Value::Null);
        if ev["recap"] != gv["recap"] {
            lines.push(format!(
                "  {h} recap: ansible {} / olympus {}",
                ev["recap"], gv["recap"]
            ));
        }
        let et: Vec<&str> = ev["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let gt: Vec<&str> = gv["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for t in &et {
            if !gt.contains(t) {
                lines.push(format!("  {h}: ansible ran '{t}', olympus did not"));
            }
        }
        for t in &gt {
            if !et.contains(t) {
                lines.push(format!("  {h}: olympus ran '{t}', ansible did not"));
            }
        }
    }
    for h in g.keys() {
        if !e.contains_key(h) {
            lines.push(format!("  {h}: only olympus reported this host"));
        }
    }
    lines.join("\n")
}

#[test]
fn recap_and_tasks_match_ansible_core_on_the_fleet() {
    let fleet = Fleet::start(HOSTS);
    let books = playbooks();
    assert!(books.len() >= 3, "compat playbooks are missing");
    let mut failures = Vec::new();
    // OLYMPUS_RECORD_ONLY=semantics compares semantics.yml alone (while working on it).
    let only = std::env::var("OLYMPUS_RECORD_ONLY").ok();
    for pb in &books {
        if only
            .as_deref()
            .is_some_and(|o| pb.file_stem().is_none_or(|s| s != o))
        {
            continue;
        }
        let expected_path = pb.with_extension("expected.json");
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
        )
        .expect("fixture JSON");
        let got = normalize_olympus(&run_olympus(&fleet, pb));
        if got != expected {
            failures.push(format!("{}:\n{}", pb.display(), diff(&expected, &got)));
        }
    }
    assert!(
        failures.is_empty(),
        "olympus differs from ansible-core:\n{}",
        failures.join("\n")
    );
}

#[test]
#[ignore = "needs ansible-core; regenerates the committed fixtures"]
fn regenerate_fixtures_with_ansible_core() {
    let fleet = Fleet::start(HOSTS);
    let home = tempfile::tempdir().expect("tmp");
    // OLYMPUS_RECORD_ONLY=semantics records semantics.yml alone.
    let only = std::env::var("OLYMPUS_RECORD_ONLY").ok();
    for pb in playbooks() {
        if only
            .as_deref()
            .is_some_and(|o| pb.file_stem().is_none_or(|s| s != o))
        {
            continue;
        }
        let (doc, out) = common::ansible::run(
            &fleet,
            home.path(),
            &pb,
            &fixtures().join("callback_plugins"),
            "olympus_compat",
            &["-f", "12"],
        );
        let norm = normalize_ansible(&doc);
        let path = pb.with_extension("expected.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&norm).expect("json") + "\n",
        )
        .expect("write fixture");
        eprintln!(
            "wrote {} (ansible exit {:?})",
            path.display(),
            out.status.code()
        );
    }
}
