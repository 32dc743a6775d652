//! Beyond one controller, as a user meets it: `olympus run --shard I/N` on a real-sshd fleet
//! (each shard a separate olympus process, as in a CI matrix), `olympus report merge`
//! joining their JSON into the recap and exit code of one run, and what sharding refuses
//! because the shards together would do something else than one run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::fleet::Fleet;
use serde_json::Value;

/// Held by the tests that time a takeover and by the 200-host fleet's, so the one does not
/// starve the other of the machine's two cores.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

fn olympus() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_olympus"));
    c.env(
        "OLYMPUS_STATE_DIR",
        std::env::temp_dir().join("olympus-scale-out-state"),
    )
    .env_remove("ANSIBLE_CONFIG");
    c
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `o` ended with exit code `code` and said `what` (on stdout or stderr).
fn ended(o: &Output, code: i32, what: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
    assert!(text(o).contains(what), "{}", text(o));
}

/// The PLAY RECAP block of a text run, to its end.
fn recap_block(stdout: &[u8]) -> String {
    let s = String::from_utf8_lossy(stdout);
    let at = s
        .find("PLAY RECAP")
        .unwrap_or_else(|| panic!("no recap in {s}"));
    s[at..].trim_end().to_string()
}

/// Each task's status per host, by task position: what a run did where.
fn statuses(doc: &Value) -> BTreeMap<(usize, usize, String), String> {
    let mut out = BTreeMap::new();
    for (p, play) in doc["plays"].as_array().into_iter().flatten().enumerate() {
        for (t, task) in play["tasks"].as_array().into_iter().flatten().enumerate() {
            for (host, r) in task["hosts"].as_object().into_iter().flatten() {
                let status = r["status"].as_str().unwrap_or_default().to_string();
                out.insert((p, t, host.clone()), status);
            }
        }
    }
    out
}

#[test]
fn four_shards_touch_every_host_once_and_merge_to_the_recap_of_one_run() {
    let _one = one_at_a_time();
    let fleet = Fleet::start(200);
    let dir = tempfile::tempdir().expect("tempdir");
    let touched = dir.path().join("touched");
    std::fs::create_dir(&touched).expect("mkdir");
    // Written by the fleet's user.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&touched, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    // Every host appends which run touched it to a file of its own (the fleet's hosts share
    // one machine); a few fail, the rest go on to a later play.
    let playbook = dir.path().join("site.yml");
    std::fs::write(
        &playbook,
        format!(
            r#"- hosts: all
  gather_facts: false
  tasks:
    - name: record the run
      shell: echo "{{{{ run }}}}" >> {touched}/{{{{ inventory_hostname }}}}
    - name: a few hosts fail
      fail:
        msg: "down"
      when: inventory_hostname is match('h0?[0-9]*7$')
    - name: only some hosts change
      command: echo changed
      changed_when: inventory_hostname is match('h0?[0-9]*[02468]$')
- hosts: all
  gather_facts: false
  tasks:
    - name: a second play
      debug:
        msg: "{{{{ inventory_hostname }}}}"
"#,
            touched = touched.display()
        ),
    )
    .expect("write playbook");
    let run = |extra: &[&str], tag: &str| {
        let mut c = fleet.olympus("run", &fleet.inventory);
        c.arg(&playbook)
            .args(["-f", "50", "-e"])
            .arg(format!("run={tag}"))
            .args(extra);
        c
    };

    // One unsharded run, as JSON and as text.
    let whole_json = run(&["--output", "json"], "whole-json")
        .output()
        .expect("run");
    assert_eq!(whole_json.status.code(), Some(2), "{}", text(&whole_json));
    let whole: Value = serde_json::from_slice(&whole_json.stdout).expect("json");
    let whole_text = run(&[], "whole-text").output().expect("run");
    assert_eq!(whole_text.status.code(), Some(2), "{}", text(&whole_text));

    // Four shards, at once, each its own process writing its own JSON.
    let children: Vec<(std::path::PathBuf, std::process::Child)> = (1..=4)
        .map(|i| {
            let out = dir.path().join(format!("shard-{i}.json"));
            let file = std::fs::File::create(&out).expect("create");
            let child = run(&["--output", "json", "--shard", &format!("{i}/4")], "shard")
                .stdout(file)
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn shard");
            (out, child)
        })
        .collect();
    let mut files = Vec::new();
    let mut per_shard: Vec<BTreeSet<String>> = Vec::new();
    for (path, child) in children {
        let o = child.wait_with_output().expect("shard");
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).expect("read"))
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), text(&o)));
        assert_eq!(doc["shard"]["of"], 4, "{doc}");
        let hosts: BTreeSet<String> = doc["recap"]
            .as_object()
            .expect("recap")
            .keys()
            .cloned()
            .collect();
        // A shard's exit code is its own hosts' (2 where one of them failed).
        let failed = doc["recap"]
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, c)| c["failed"].as_u64() > Some(0));
        assert_eq!(
            o.status.code(),
            Some(if failed { 2 } else { 0 }),
            "{}",
            text(&o)
        );
        assert!(!hosts.is_empty(), "shard {} got no host", path.display());
        per_shard.push(hosts);
        files.push(path);
    }

    // Every host in exactly one shard, and touched exactly once by the shards.
    let all: BTreeSet<String> = fleet.hosts.iter().map(|h| h.name.clone()).collect();
    let mut union = BTreeSet::new();
    for s in &per_shard {
        assert!(union.is_disjoint(s), "a host is in two shards");
        union.extend(s.iter().cloned());
    }
    assert_eq!(union, all);
    for h in &all {
        let lines = std::fs::read_to_string(touched.join(h)).expect("touched file");
        let runs: Vec<&str> = lines.lines().collect();
        assert_eq!(
            runs.iter().filter(|l| **l == "shard").count(),
            1,
            "{h}: {runs:?}"
        );
        assert_eq!(runs.len(), 3, "{h}: {runs:?}");
    }

    // Merged: the recap, every task's status on every host and the exit code of one run.
    let merged_json = olympus()
        .args(["report", "merge", "--output", "json"])
        .args(&files)
        .output()
        .expect("merge");
    assert_eq!(merged_json.status.code(), Some(2), "{}", text(&merged_json));
    let merged: Value = serde_json::from_slice(&merged_json.stdout).expect("merged json");
    assert_eq!(merged["recap"], whole["recap"]);
    // The merged JSON is a run's: the report page is made from it as from one run's.
    let merged_file = dir.path().join("merged.json");
    std::fs::write(&merged_file, &merged_json.stdout).expect("write");
    let page = dir.path().join("run.html");
    let report = olympus()
        .arg("report")
        .arg(&merged_file)
        .arg("--html")
        .arg(&page)
        .output()
        .expect("report");
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(
        html.contains("h200") && html.contains("a second play"),
        "page lacks hosts or plays"
    );
    assert_eq!(statuses(&merged), statuses(&whole));
    // Four tasks on 200 hosts but the two after a host's failure on the 20 that failed.
    assert_eq!(statuses(&whole).len(), 200 * 4 - 20 * 2);

    let merged_text = olympus()
        .args(["report", "merge", "--color", "never"])
        .args(files.iter().rev())
        .output()
        .expect("merge");
    assert_eq!(merged_text.status.code(), Some(2), "{}", text(&merged_text));
    assert!(
        String::from_utf8_lossy(&merged_text.stdout).starts_with("4 shards merged: 200 hosts"),
        "{}",
        text(&merged_text)
    );
    assert_eq!(
        recap_block(&merged_text.stdout),
        recap_block(&whole_text.stdout)
    );

    // A shard's file missing, given twice, or cut short: refused, never a partial recap.
    let three = olympus()
        .args(["report", "merge"])
        .args(&files[..3])
        .output()
        .expect("merge");
    ended(&three, 3, "missing");
    let twice = olympus()
        .args(["report", "merge"])
        .args(&files)
        .arg(&files[0])
        .output()
        .expect("merge");
    assert_eq!(twice.status.code(), Some(3), "{}", text(&twice));
    let cut = dir.path().join("cut.json");
    let whole_file = std::fs::read(&files[3]).expect("read");
    std::fs::write(&cut, &whole_file[..whole_file.len() / 2]).expect("write");
    let cut_short = olympus()
        .args(["report", "merge"])
        .args(&files[..3])
        .arg(&cut)
        .output()
        .expect("merge");
    assert_eq!(cut_short.status.code(), Some(3), "{}", text(&cut_short));
    let unsharded = dir.path().join("whole.json");
    std::fs::write(&unsharded, &whole_json.stdout).expect("write");
    let not_shards = olympus()
        .args(["report", "merge"])
        .arg(&unsharded)
        .output()
        .expect("merge");
    ended(&not_shards, 3, "--shard");
}

fn write(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

#[test]
fn sharding_refuses_what_the_shards_together_would_do_differently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let pb = write(
        dir.path(),
        "site.yml",
        &format!(
            r#"- hosts: localhost
  gather_facts: false
  serial: 2
  max_fail_percentage: 10
  tasks:
    - name: touch
      command: touch {marker}
    - name: once
      command: "true"
      run_once: true
    - block:
        - name: fatal
          command: "true"
          any_errors_fatal: "{{{{ fatal | default(true) }}}}"
- hosts: localhost
  gather_facts: false
  serial: "25%"
  tasks:
    - name: fine
      command: "true"
      run_once: false
"#,
            marker = marker.display()
        ),
    );
    let o = olympus()
        .args(["run", "--shard", "1/3"])
        .arg(&pb)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    // Every one of them, each with where it is written.
    for (what, line) in [
        ("serial: 2", 1),
        ("max_fail_percentage", 1),
        ("run_once", 8),
        ("any_errors_fatal", 12),
    ] {
        let at = format!("site.yml:{line}:");
        assert!(
            err.lines().any(|l| l.contains(&at) && l.contains(what)),
            "{what} at {at}: {err}"
        );
    }
    assert!(!err.contains("25%"), "a percentage serial is kept: {err}");
    assert!(!marker.exists(), "nothing ran");
    // Without --shard the same playbook is fine for olympus.
    let o = olympus()
        .args(["run", "--syntax-check"])
        .arg(&pb)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A percentage serial runs under sharding; a run_once brought in at run time fails the
    // hosts that include it, before any of its tasks runs.
    write(
        dir.path(),
        "once.yml",
        &format!(
            "- name: once\n  command: touch {}\n  run_once: true\n",
            marker.display()
        ),
    );
    let pb = write(
        dir.path(),
        "dynamic.yml",
        r#"- hosts: localhost
  gather_facts: false
  serial: "50%"
  tasks:
    - name: fine
      command: "true"
    - include_tasks: once.yml
"#,
    );
    // localhost is in one shard of two: run both, one has it.
    let mut saw = 0;
    for i in 1..=2 {
        let o = olympus()
            .args(["run", "--color", "never", "--shard", &format!("{i}/2")])
            .arg(&pb)
            .output()
            .expect("run");
        let out = String::from_utf8_lossy(&o.stdout);
        if out.contains("changed: [localhost]") {
            saw += 1;
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            assert!(out.contains("run_once"), "{}", text(&o));
        } else {
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            assert!(out.contains("skipping: no hosts matched"), "{}", text(&o));
        }
    }
    assert_eq!(saw, 1, "localhost is in exactly one shard");
    assert!(!marker.exists(), "the included run_once task did not run");
}

/// `olympus heal --once` on the implicit localhost (no SSH), its state at `state`: a
/// check whose Nagios command says CRITICAL while `flag` exists, an exec action appending
/// to `acted`.
fn heal_once(dir: &Path, state: &[(&str, String)]) -> Output {
    let mut c = olympus();
    c.args(["heal", "--once", "--log-format", "text"])
        .arg(dir.join("rules.yml"))
        .current_dir(dir)
        .env_remove("OLYMPUS_STATE_DIR")
        .env_remove("OLYMPUS_STATE_URL");
    for (k, v) in state {
        c.env(k, v);
    }
    c.output().expect("heal")
}

fn heal_rules(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let flag = dir.join("broken");
    let acted = dir.join("acted");
    write(
        dir,
        "remedy.sh",
        &format!(
            "#!/bin/sh\necho \"$OLYMPUS_STATE_URL$OLYMPUS_STATE_DIR\" >> {}\n",
            acted.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("remedy.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    write(
        dir,
        "rules.yml",
        &format!(
            "checks:\n  - name: broken\n    source: {{command: 'test -e {flag} && exit 2; exit 0', hosts: localhost}}\n    action: {{exec: [./remedy.sh]}}\n",
            flag = flag.display()
        ),
    );
    (flag, acted)
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p).map_or(0, |s| s.lines().count())
}

#[test]
fn the_state_in_postgresql_is_shared_by_every_controller_pointed_at_it() {
    let pg = common::postgres::Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (flag, acted) = heal_rules(dir.path());
    std::fs::write(&flag, "").expect("flag");
    let url = ("OLYMPUS_STATE_URL", pg.url.clone());

    // Controller A acts on the event; controller B (another machine: nothing local shared)
    // finds it acted on in the shared state and does not act again.
    let a = heal_once(dir.path(), std::slice::from_ref(&url));
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(lines(&acted), 1, "{}", text(&a));
    let b = heal_once(dir.path(), std::slice::from_ref(&url));
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    assert_eq!(lines(&acted), 1, "B acted again: {}", text(&b));
    // Two SQLite states, by contrast, are two memories: the second acts again.
    let own = tempfile::tempdir().expect("tempdir");
    let c = heal_once(
        dir.path(),
        &[("OLYMPUS_STATE_DIR", own.path().display().to_string())],
    );
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    assert_eq!(lines(&acted), 2, "{}", text(&c));

    // The kill switch engaged through one controller stops the others' runs.
    let lock = olympus()
        .args(["lock", "--reason", "db maintenance", "--state", &pg.url])
        .output()
        .expect("lock");
    assert_eq!(lock.status.code(), Some(0), "{}", text(&lock));
    let pb = write(
        dir.path(),
        "site.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
    );
    let run = olympus()
        .arg("run")
        .arg(&pb)
        .env("OLYMPUS_STATE_URL", &pg.url)
        .output()
        .expect("run");
    ended(&run, 5, "db maintenance");
    let status = olympus()
        .args(["lock", "--status", "--output", "json", "--state", &pg.url])
        .output()
        .expect("status");
    let st: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(st["engaged"], true, "{st}");
    let unlock = olympus()
        .args(["unlock", "--state", &pg.url])
        .output()
        .expect("unlock");
    assert_eq!(unlock.status.code(), Some(0), "{}", text(&unlock));

    // History from the shared state names both controllers' doings.
    let history = olympus()
        .args(["history", "--output", "json", "--state", &pg.url])
        .output()
        .expect("history");
    assert_eq!(history.status.code(), Some(0), "{}", text(&history));
    let h: Value = serde_json::from_slice(&history.stdout).expect("json");
    let kinds: Vec<(&str, &str)> = h
        .as_array()
        .expect("list")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or(""),
                e["what"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(kinds.contains(&("action", "ok")), "{kinds:?}");
    assert!(
        kinds.contains(&("decision", "acted")),
        "B's decision: {kinds:?}"
    );
    assert!(kinds.contains(&("lock", "engaged")), "{kinds:?}");
    assert!(kinds.contains(&("lock", "released")), "{kinds:?}");

    // The password never shows; a URL that is not PostgreSQL is refused by name.
    let bad = olympus()
        .args([
            "lock",
            "--status",
            "--state",
            "mysql://u:secret@127.0.0.1/x",
        ])
        .output()
        .expect("lock");
    assert_eq!(bad.status.code(), Some(3), "{}", text(&bad));
    assert!(!text(&bad).contains("secret"), "{}", text(&bad));
    // Asked for TLS, a server without it is refused, never fallen back from.
    let tls = olympus()
        .args(["history", "--state"])
        .arg(format!("{}?sslmode=require", pg.url))
        .output()
        .expect("history");
    assert_eq!(tls.status.code(), Some(1), "{}", text(&tls));
    assert!(
        text(&tls).contains("does not support TLS"),
        "{}",
        text(&tls)
    );
}

#[test]
fn postgresql_going_away_stops_heal_acting_and_it_resumes_when_it_returns() {
    let mut pg = common::postgres::Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (flag, acted) = heal_rules(dir.path());
    std::fs::write(&flag, "").expect("flag");
    let url = [("OLYMPUS_STATE_URL", pg.url.clone())];
    // The database is gone: heal does nothing (it cannot record, so it must not act), and
    // says why, with the password-free URL.
    pg.stop();
    let gone = heal_once(dir.path(), &url);
    assert_eq!(gone.status.code(), Some(1), "{}", text(&gone));
    assert_eq!(lines(&acted), 0, "acted without its state: {}", text(&gone));
    assert!(
        text(&gone).contains("127.0.0.1") && text(&gone).contains("refused"),
        "{}",
        text(&gone)
    );
    // Back: the event is acted on, once.
    pg.start_again();
    let back = heal_once(dir.path(), &url);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));
    assert_eq!(lines(&acted), 1, "{}", text(&back));
    // The schema is the olympus one, in a schema of its own.
    assert_eq!(pg.psql("SELECT version FROM olympus.schema_version"), "4");
    assert_eq!(
        pg.psql("SELECT count(*) FROM olympus.actions WHERE outcome = 'ok'"),
        "1"
    );
}

/// `engaged by a@h at 2026-12-05T15:03:36Z: why` → `engaged by a@h at T: why`: the two
/// stores are exercised one after the other, not always within one second.
fn without_times(detail: &str) -> String {
    match detail.split_once(" at 20") {
        Some((head, rest)) => match rest.split_once("Z: ") {
            Some((_, tail)) => format!("{head} at T: {tail}"),
            None => detail.to_string(),
        },
        None => detail.to_string(),
    }
}

/// The same calls on both stores, answered alike (times aside): PostgreSQL is the SQLite
/// store shared, not another behaviour.
fn exercise(s: &dyn olympus::state::Store) -> Vec<String> {
    use olympus::state::{Claim, DecisionRecord, EvaluationRecord, HistoryFilter, Streak};
    let mut out = Vec::new();
    let lock = |l: Option<olympus::state::Lock>| l.map(|l| (l.by, l.reason));
    out.push(format!("{:?}", lock(s.lock().expect("lock"))));
    out.push(format!(
        "{:?}",
        matches!(
            s.engage("a@h", "why").expect("engage"),
            olympus::state::Engaged::Now(_)
        )
    ));
    out.push(format!(
        "{:?}",
        matches!(
            s.engage("b@h", "other").expect("engage"),
            olympus::state::Engaged::Already(_)
        )
    ));
    out.push(format!("{:?}", lock(s.lock().expect("lock"))));
    let held = s.try_heal_lock().expect("heal lock");
    out.push(format!("first heal lock: {}", held.is_some()));
    out.push(format!(
        "second heal lock: {}",
        s.try_heal_lock().expect("heal lock").is_some()
    ));
    drop(held);
    out.push(format!(
        "after release: {}",
        s.try_heal_lock().expect("heal lock").is_some()
    ));
    let mut streaks = std::collections::BTreeMap::new();
    streaks.insert(
        "h1".to_string(),
        Streak {
            count: 2,
            acted_at: None,
        },
    );
    let recorded = s
        .record_evaluation(&EvaluationRecord {
            at: jiff::Timestamp::now(),
            rule: "r".into(),
            error: None,
            decisions: vec![DecisionRecord {
                host: "h1".into(),
                value: serde_json::json!(5),
                decision: "waiting".into(),
                detail: "1 of 2".into(),
            }],
            streaks,
            claims: ["h1", "h2"]
                .iter()
                .map(|h| Claim {
                    host: h.to_string(),
                    playbook: "fix.yml".into(),
                })
                .collect(),
        })
        .expect("evaluation");
    assert_eq!(recorded.actions.len(), 2);
    out.push(format!("{:?}", s.streaks("r").expect("streaks")));
    s.finish_action(recorded.actions[0], "failed", "boom")
        .expect("finish");
    out.push(format!(
        "failed: {}",
        s.failed_actions_since_release().expect("failed")
    ));
    out.push(format!(
        "stale: {}",
        s.interrupt_stale_actions().expect("stale")
    ));
    out.push(format!(
        "since: {}",
        s.actions_since(jiff::Timestamp::UNIX_EPOCH).expect("since")
    ));
    out.push(format!(
        "last: {}",
        s.last_action("r", "h1").expect("last").is_some()
    ));
    out.push(format!("{:?}", lock(s.release("c@h").expect("release"))));
    // The failure above happened before the release, most likely within the same second:
    // it is not one "since the release" (a timestamp in seconds once counted it as one).
    let after = s.failed_actions_since_release().expect("failed");
    assert_eq!(after, 0, "a failure before the release counted after it");
    out.push(format!("failed after release: {after}"));
    s.record_override("d@h", "run x").expect("override");
    for e in s.history(&HistoryFilter::default()).expect("history") {
        out.push(format!(
            "{} {:?} {:?} {} {}",
            e.kind,
            e.rule,
            e.host,
            e.what,
            without_times(&e.detail.replace(" in 0s", ""))
        ));
    }
    out.push(format!(
        "h1 only: {}",
        s.history(&HistoryFilter {
            host: Some("h1".into()),
            ..Default::default()
        })
        .expect("history")
        .len()
    ));
    out
}

#[test]
fn the_postgresql_store_answers_as_the_sqlite_store_does() {
    use olympus::state::Store;
    let pg = common::postgres::Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = olympus::state::SqliteStore::open(dir.path()).expect("sqlite");
    let postgres = olympus::state::PostgresStore::open(&pg.url).expect("postgres");
    let a = exercise(&sqlite);
    let b = exercise(&postgres);
    assert_eq!(a, b);
    assert!(a.iter().any(|l| l == "failed: 1"), "{a:?}");
    assert!(a.iter().any(|l| l == "second heal lock: false"), "{a:?}");
    // A second process's view (another connection) is the same database.
    let again = olympus::state::PostgresStore::open(&pg.url).expect("postgres");
    assert!(again.try_heal_lock().expect("heal lock").is_some());
    assert_eq!(
        again.history(&Default::default()).expect("history").len(),
        postgres
            .history(&Default::default())
            .expect("history")
            .len()
    );
}

/// `olympus heal --watch` processes, killed when dropped.
struct Watchers(Vec<std::process::Child>);

impl Watchers {
    /// Kills the leading controller (SIGKILL: no goodbye); its name.
    fn kill_leader(&mut self, url: &str) -> String {
        let leader = status(url)["leader"]
            .as_str()
            .expect("a leader")
            .to_string();
        let pid: u32 = leader
            .rsplit(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("pid in the leader's name");
        let i = self
            .0
            .iter()
            .position(|c| c.id() == pid)
            .expect("the leader is ours");
        self.0[i].kill().expect("kill");
        let _ = self.0[i].wait();
        leader
    }
}

impl Drop for Watchers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn watcher(dir: &Path, url: &str, i: usize) -> std::process::Child {
    let log = std::fs::File::create(dir.join(format!("watch-{i}.log"))).expect("log");
    olympus()
        .args([
            "heal",
            "--watch",
            "--interval",
            "1s",
            "--lease",
            "3s",
            "--log-format",
            "text",
        ])
        .arg(dir.join("rules.yml"))
        .current_dir(dir)
        .env_remove("OLYMPUS_STATE_DIR")
        .env("OLYMPUS_STATE_URL", url)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("heal --watch")
}

fn status(url: &str) -> Value {
    let o = olympus()
        .args(["heal", "--status", "--output", "json", "--state", url])
        .output()
        .expect("status");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).expect("json")
}

/// Polls `f` every 100 ms for up to `secs`; whether it came true.
fn within(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    f()
}

fn logs(dir: &Path) -> String {
    (0..3)
        .map(|i| {
            format!(
                "--- watch-{i}.log\n{}",
                std::fs::read_to_string(dir.join(format!("watch-{i}.log"))).unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn three_watching_controllers_act_once_per_event_and_hand_over_when_the_leader_dies() {
    let _one = one_at_a_time();
    let pg = common::postgres::Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (flag, acted) = heal_rules(d);
    let mut w = Watchers((0..3).map(|i| watcher(d, &pg.url, i)).collect());

    // One leads, two stand by.
    assert!(
        within(10, || {
            let st = status(&pg.url);
            st["leader"].is_string() && st["controllers"].as_array().map_or(0, Vec::len) == 3
        }),
        "{}\n{}",
        status(&pg.url),
        logs(d)
    );

    let text_status = olympus()
        .args(["heal", "--status", "--state", &pg.url])
        .output()
        .expect("status");
    let shown = String::from_utf8_lossy(&text_status.stdout).to_string();
    assert_eq!(
        (
            shown.lines().filter(|l| l.starts_with("leader ")).count(),
            shown.lines().filter(|l| l.starts_with("standby ")).count()
        ),
        (1, 2),
        "{shown}"
    );

    // An event: acted on once, not three times, and not again while it lasts.
    std::fs::write(&flag, "").expect("flag");
    assert!(within(10, || lines(&acted) >= 1), "{}", logs(d));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(lines(&acted), 1, "{}", logs(d));

    // It clears (the leader sees it), then the leader is killed (SIGKILL: no goodbye) and the
    // event comes back at once, while nobody leads: the next leader takes over within the
    // lease and acts on it — no event lost.
    std::fs::remove_file(&flag).expect("clear");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let killed = std::time::Instant::now();
    let leader = w.kill_leader(&pg.url);
    std::fs::write(&flag, "").expect("flag again");
    assert!(
        within(10, || status(&pg.url)["leader"]
            .as_str()
            .is_some_and(|l| l != leader)),
        "{}",
        logs(d)
    );
    let took = killed.elapsed();
    assert!(within(10, || lines(&acted) >= 2), "{}", logs(d));
    assert!(
        took < std::time::Duration::from_secs(3 + 3),
        "handed over in {took:?}, lease 3s"
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(lines(&acted), 2, "once per event: {}", logs(d));

    // The kill switch engaged through any controller stops them all.
    let lock = olympus()
        .args(["lock", "--reason", "hands off", "--state", &pg.url])
        .output()
        .expect("lock");
    assert_eq!(lock.status.code(), Some(0), "{}", text(&lock));
    std::fs::remove_file(&flag).expect("clear");
    std::thread::sleep(std::time::Duration::from_secs(3));
    std::fs::write(&flag, "").expect("flag again");
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(lines(&acted), 2, "acted past the kill switch: {}", logs(d));
    assert_ne!(
        pg.psql("SELECT count(*) FROM olympus.decisions WHERE decision = 'locked'"),
        "0",
        "{}",
        logs(d)
    );
    // Released: the event is acted on.
    let unlock = olympus()
        .args(["unlock", "--state", &pg.url])
        .output()
        .expect("unlock");
    assert_eq!(unlock.status.code(), Some(0), "{}", text(&unlock));
    assert!(within(10, || lines(&acted) >= 3), "{}", logs(d));
    drop(w);
}

#[test]
fn watching_controllers_stop_acting_while_the_database_is_away_and_resume_when_it_returns() {
    let _one = one_at_a_time();
    let mut pg = common::postgres::Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (flag, acted) = heal_rules(d);
    let w = Watchers((0..2).map(|i| watcher(d, &pg.url, i)).collect());
    assert!(
        within(10, || status(&pg.url)["leader"].is_string()),
        "{}",
        logs(d)
    );
    pg.stop();
    std::fs::write(&flag, "").expect("flag");
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(lines(&acted), 0, "acted without its state: {}", logs(d));
    assert!(logs(d).contains("lost the state database"), "{}", logs(d));
    pg.start_again();
    assert!(within(15, || lines(&acted) >= 1), "{}", logs(d));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(lines(&acted), 1, "{}", logs(d));
    // A rules file broken by an edit: the standby says so now, not when it takes over.
    write(d, "rules.yml", "checks: [{name: x}]\n");
    assert!(
        within(10, || logs(d)
            .contains("standing by with rules that do not load")),
        "{}",
        logs(d)
    );
    drop(w);
}

#[test]
fn a_role_that_may_not_create_schemas_uses_the_schema_made_for_it() {
    let pg = common::postgres::Postgres::start();
    pg.psql("CREATE ROLE heal LOGIN");
    let url = format!("postgres://heal@127.0.0.1:{}/postgres", pg.port);
    // Without a schema it may use, it cannot start, and says why.
    let refused = olympus()
        .args(["history", "--state", &url])
        .output()
        .expect("history");
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("permission denied"),
        "{}",
        text(&refused)
    );
    pg.psql("CREATE SCHEMA olympus AUTHORIZATION heal");
    let ok = olympus()
        .args(["history", "--state", &url])
        .output()
        .expect("history");
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert_eq!(pg.psql("SELECT version FROM olympus.schema_version"), "4");
}

#[test]
fn watching_controllers_run_each_hosts_playbook_once_per_event_on_the_fleet() {
    let _one = one_at_a_time();
    let pg = common::postgres::Postgres::start();
    let fleet = Fleet::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let flag = d.join("down");
    let acted = d.join("acted");
    // Probed on every host over SSH; the playbook runs on the host that fires, over SSH.
    write(
        d,
        "rules.yml",
        &format!(
            "checks:\n  - name: down\n    source: {{command: 'test -e {} && exit 2; exit 0', hosts: all}}\n    action: {{playbook: fix.yml}}\n",
            flag.display()
        ),
    );
    write(
        d,
        "fix.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo {{{{ inventory_hostname }}}} >> {}\n",
            acted.display()
        ),
    );
    let spawn = |i: usize| {
        let log = std::fs::File::create(d.join(format!("watch-{i}.log"))).expect("log");
        fleet
            .olympus("heal", &fleet.inventory)
            .args([
                "--watch",
                "--interval",
                "1s",
                "--lease",
                "3s",
                "--log-format",
                "text",
            ])
            .arg(d.join("rules.yml"))
            .current_dir(d)
            .env("OLYMPUS_STATE_URL", &pg.url)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("heal --watch")
    };
    let mut w = Watchers((0..3).map(spawn).collect());
    let per_host = || {
        let mut m = BTreeMap::new();
        for l in std::fs::read_to_string(&acted).unwrap_or_default().lines() {
            *m.entry(l.to_string()).or_insert(0) += 1;
        }
        m
    };
    let all = |n: usize| {
        fleet
            .hosts
            .iter()
            .map(|h| (h.name.clone(), n))
            .collect::<BTreeMap<_, _>>()
    };
    assert!(
        within(10, || status(&pg.url)["leader"].is_string()),
        "{}",
        logs(d)
    );
    std::fs::write(&flag, "").expect("flag");
    assert!(
        within(20, || per_host() == all(1)),
        "{:?}\n{}",
        per_host(),
        logs(d)
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(per_host(), all(1), "{}", logs(d));
    // Cleared, the leader killed, raised again: each host's playbook runs once more.
    std::fs::remove_file(&flag).expect("clear");
    std::thread::sleep(std::time::Duration::from_secs(3));
    w.kill_leader(&pg.url);
    std::fs::write(&flag, "").expect("flag again");
    assert!(
        within(20, || per_host() == all(2)),
        "{:?}\n{}",
        per_host(),
        logs(d)
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(per_host(), all(2), "{}", logs(d));
    drop(w);
}

/// Drops every packet of one TCP connection on loopback (both directions) while it lives:
/// a network cut between one controller and the database, nothing else touched.
struct Cut {
    table: String,
}

impl Cut {
    fn between(port_a: u16, port_b: u16) -> Cut {
        let table = format!("olympus_cut_{port_a}");
        let rules = format!(
            "table inet {table} {{\n chain input {{\n  type filter hook input priority -300; policy accept;\n  tcp sport {port_a} tcp dport {port_b} drop\n  tcp sport {port_b} tcp dport {port_a} drop\n }}\n}}\n"
        );
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft (tests/run-all.sh installs nftables)");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(rules.as_bytes())
            .expect("rules");
        assert!(child.wait().expect("nft").success(), "nft refused {rules}");
        Cut { table }
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .status();
    }
}

#[test]
fn a_leader_cut_off_from_the_database_stops_acting_and_a_standby_takes_over() {
    let _one = one_at_a_time();
    if !common::fleet::is_root() {
        eprintln!("skipped: cutting a connection with nft needs root (CI runs as root)");
        return;
    }
    let pg = common::postgres::Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (flag, acted) = heal_rules(d);
    let w = Watchers((0..2).map(|i| watcher(d, &pg.url, i)).collect());
    assert!(
        within(10, || status(&pg.url)["leader"].is_string()),
        "{}",
        logs(d)
    );
    let leader = status(&pg.url)["leader"]
        .as_str()
        .expect("leader")
        .to_string();
    // The leader's connection, as the server sees it: the one holding heal's lock.
    let port: u16 = pg
        .psql(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1",
        )
        .parse()
        .expect("the leader's client port");
    let cut = Cut::between(port, pg.port);
    let at = std::time::Instant::now();
    std::fs::write(&flag, "").expect("flag");
    // The server drops the silent session within the lease (3 s), the standby takes the
    // lock and acts; the cut-off leader records nothing, so it cannot act too.
    assert!(
        within(15, || status(&pg.url)["leader"]
            .as_str()
            .is_some_and(|l| l != leader)),
        "{}\n{}",
        status(&pg.url),
        logs(d)
    );
    let took = at.elapsed();
    assert!(within(10, || lines(&acted) >= 1), "{}", logs(d));
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(lines(&acted), 1, "both sides acted: {}", logs(d));
    // The network back: the old leader stands by, nothing runs twice.
    drop(cut);
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(lines(&acted), 1, "{}", logs(d));
    let st = status(&pg.url);
    assert_ne!(st["leader"].as_str(), Some(leader.as_str()), "{st}");
    assert!(
        took < std::time::Duration::from_secs(10),
        "took over {took:?} after the cut (lease 3 s)"
    );
    assert!(logs(d).contains("lost the state database"), "{}", logs(d));
    eprintln!("took over in {took:?}");
    drop(w);
}

#[test]
fn the_state_database_is_reached_over_tls_with_its_certificate_verified() {
    let pg = common::postgres::Postgres::start_tls();
    let ca = pg.ca.clone().expect("ca");
    let history = |url: String| {
        olympus()
            .args(["history", "--state", &url])
            .output()
            .expect("history")
    };
    // Verified against the CA given: it works (the server takes TLS connections only).
    let ok = history(format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        pg.url,
        ca.display()
    ));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert_eq!(pg.psql("SELECT version FROM olympus.schema_version"), "4");
    // `require` verifies too (libpq's does not): against the public roots, the test CA is
    // unknown, so it is refused.
    let unknown = history(format!("{}?sslmode=require", pg.url));
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
    assert!(
        text(&unknown).to_lowercase().contains("certificate"),
        "{}",
        text(&unknown)
    );
    // Plain text is what this server refuses: proof the first one used TLS.
    let plain = history(format!("{}?sslmode=disable", pg.url));
    assert_eq!(plain.status.code(), Some(1), "{}", text(&plain));
    assert!(
        text(&plain).contains("no encryption") || text(&plain).contains("pg_hba.conf"),
        "{}",
        text(&plain)
    );
    // A name the certificate does not carry is refused.
    let wrong_name = history(format!(
        "postgres://postgres@127.0.0.2:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port,
        ca.display()
    ));
    assert_ne!(wrong_name.status.code(), Some(0), "{}", text(&wrong_name));
    // A CA file that is not one: bad input, named.
    let bad = history(format!(
        "{}?sslmode=verify-full&sslrootcert=/etc/hostname",
        pg.url
    ));
    ended(&bad, 3, "sslrootcert");
}

#[test]
fn a_schedule_is_not_installed_for_a_state_its_job_would_not_see() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    heal_rules(d);
    let units = d.join("units");
    let o = olympus()
        .args(["schedule", "install"])
        .arg(d.join("rules.yml"))
        .args(["--every", "5m", "--unit-dir"])
        .arg(&units)
        .env("OLYMPUS_STATE_URL", "postgres://heal:s3cret@db.example/ops")
        .output()
        .expect("schedule");
    ended(&o, 3, "OLYMPUS_STATE_URL");
    assert!(!text(&o).contains("s3cret"), "{}", text(&o));
    assert!(!units.exists(), "nothing written");
}
