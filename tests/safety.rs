//! Safety: olympus never runs what the user did not write, never takes an empty host list for
//! "all", never aborts on a number or a nesting a user controls, stops cleanly on SIGINT and
//! SIGTERM (remote commands included), finds template errors before touching a host, and keeps
//! memory bounded whatever hosts print. Each test is one finding of issue #9, reproduced the
//! way a user meets it: the olympus binary against real sshd hosts.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::fleet::{FLEET_SUDO_PASSWORD, Fleet};
use common::play::{PlayRun, localhost_inventory, run_command, run_measured, run_yaml, shared_dir};
use serde_json::Value;

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Every `msg` the debug tasks of a run printed, in order.
fn debug_messages(doc: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for play in doc["plays"].as_array().into_iter().flatten() {
        for task in play["tasks"].as_array().into_iter().flatten() {
            for (_, h) in task["hosts"].as_object().into_iter().flatten() {
                if let Some(results) = h["result"]["results"].as_array() {
                    out.extend(results.iter().filter_map(|r| r.get("msg").cloned()));
                } else if let Some(m) = h["result"].get("msg") {
                    out.push(m.clone());
                }
            }
        }
    }
    out
}

#[test]
fn host_data_is_never_rendered_as_a_template_on_the_controller() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let logs = dir.path().join("logs");
    // What a template run on the controller would create: it must never appear.
    let marker = dir.path().join("controller-ran");
    // (A file name holds no '/': the command finds the marker's path in the environment.)
    let evil = "{{ lookup('pipe', 'touch \"$SAFETY_MARKER\"') }}".to_string();
    // An unprivileged user on the managed host names a log file and writes a file with it.
    let out = fleet.ssh(
        0,
        &format!(
            "mkdir -p {logs} && touch {logs}/{name} && printf '%s\\n' {text} > {logs}/content.txt",
            logs = sh_quote(&logs.display().to_string()),
            name = sh_quote(&format!("{evil}.log")),
            text = sh_quote(&evil),
        ),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = r#"
- hosts: localhost
  gather_facts: false
  vars:
    authored: "{{ files.stdout }}"
    written: !unsafe "{{ lookup('pipe', 'touch MARKER') }}"
  tasks:
    - name: list logs
      command: ls LOGS
      register: files
    - name: loop over host data
      debug: msg="{{ item }}"
      loop: "{{ files.stdout_lines }}"
    - name: set_fact from host data
      set_fact:
        names: "{{ files.stdout }}"
    - name: fact
      debug: msg="{{ names }}"
    - name: authored var using host data
      debug: msg="{{ authored }}"
    - name: slurp
      slurp: src=LOGS/content.txt
      register: s
    - name: slurped
      debug: msg="{{ s.content | b64decode | trim }}"
    - name: hostvars
      debug: msg="{{ hostvars['localhost'].files.stdout_lines[0] }}"
    - name: unsafe in the playbook
      debug: msg="{{ written }}"
"#
    .replace("LOGS", &logs.display().to_string())
    .replace("MARKER", &marker.display().to_string());
    let pb = dir.path().join("play.yml");
    std::fs::write(&pb, &yaml).expect("write");
    let inv = localhost_inventory(&fleet);
    let out = run_command(&fleet, &inv, &pb, &[])
        .env("SAFETY_MARKER", &marker)
        .output()
        .expect("run");
    let r = PlayRun::from_output(out);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.stdout);
    assert!(
        !marker.exists(),
        "data from the host was rendered as a template on the controller"
    );
    let msgs = debug_messages(&r.doc);
    let log_name = Value::from(format!("{evil}.log"));
    assert!(msgs.contains(&log_name), "{msgs:?}");
    assert!(msgs.contains(&Value::from(evil.clone())), "{msgs:?}");
    assert!(
        msgs.contains(&Value::from(format!(
            "{{{{ lookup('pipe', 'touch {}') }}}}",
            marker.display()
        ))),
        "{msgs:?}"
    );
    // The same lookup written by the author does run: the mark is what kept it from running
    // above, not a lookup that cannot work.
    let authored = dir.path().join("authored-ran");
    let r = run_yaml(
        &fleet,
        dir.path(),
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - debug: msg=\"{{{{ lookup('pipe', 'touch {}') }}}}\"\n",
            authored.display()
        ),
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(authored.exists());
    // The file list came back whole through set_fact and an authored variable.
    assert!(
        msgs.iter()
            .filter(|m| m
                .as_str()
                .is_some_and(|s| s.ends_with(&format!("\n{evil}.log"))))
            .count()
            >= 2,
        "{msgs:?}"
    );
}

#[test]
fn multi_line_scripts_run_line_by_line_exactly_as_written() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let d = dir.path().join("d");
    let yaml = r#"
- hosts: localhost
  gather_facts: false
  tasks:
    - name: set up
      shell: mkdir -p D/cache D/keep_me && touch D/cache/x D/keep_me/y
    - name: two commands
      shell: |
        rm -rf D/cache
        ls D/keep_me
      register: two
    - name: comment first
      shell: |
        # a comment line first
        echo ran > D/commented
    - name: raw keeps lines too
      raw: |
        echo one > D/raw
        echo two >> D/raw
    - name: trailing option still read
      shell: echo again >> D/once creates=D/raw
"#
    .replace('D', &d.display().to_string());
    let r = run_yaml(&fleet, dir.path(), &yaml, &[]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.stdout);
    assert!(
        d.join("keep_me/y").exists(),
        "the second line deleted keep_me"
    );
    assert!(!d.join("cache").exists());
    assert_eq!(
        r.result("two commands", "localhost")["result"]["stdout"],
        "y"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("commented")).expect("a script starting with a comment ran"),
        "ran\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("raw")).expect("raw"),
        "one\ntwo\n"
    );
    assert!(
        !d.join("once").exists(),
        "creates= at the end of the line was not honoured"
    );
}

#[test]
fn an_empty_host_list_is_refused_not_taken_for_every_host() {
    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let marker = dir.path().join("ran");
    for hosts in ["", "\"\"", "[]", "\"{{ target }}\"", "\" , \""] {
        let yaml = format!(
            "- hosts: {hosts}\n  gather_facts: false\n  tasks:\n    - shell: touch {}\n",
            marker.display()
        );
        let r = run_yaml(&fleet, dir.path(), &yaml, &["-e", "target="]);
        assert_eq!(r.code, Some(3), "hosts: {hosts}: {}", r.stderr);
        assert!(
            r.stderr.contains("play.yml:1:"),
            "hosts: {hosts}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("empty"), "{}", r.stderr);
        assert!(!marker.exists(), "hosts: {hosts} ran on some host");
        // --list-hosts says the same instead of "0 hosts".
        let r = run_yaml(
            &fleet,
            dir.path(),
            &yaml,
            &["-e", "target=", "--list-hosts"],
        );
        assert_eq!(r.code, Some(3), "--list-hosts with hosts: {hosts}");
    }
}

#[test]
fn numbers_and_nesting_users_control_give_errors_never_aborts() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let play =
        |tasks: &str| format!("- hosts: localhost\n  gather_facts: false\n  tasks:\n{tasks}");
    // Written in the playbook: refused before anything runs, with file:line.
    for (tasks, what) in [
        (
            "    - command: 'true'\n      register: r\n      until: r.rc == 1\n      retries: 2\n      delay: -1\n",
            "delay",
        ),
        (
            "    - debug: msg={{ item }}\n      loop: [1, 2]\n      loop_control: {pause: 1e300}\n",
            "pause",
        ),
        ("    - command: 'true'\n      timeout: soon\n", "timeout"),
        (
            "    - command: 'true'\n      register: r\n      until: r.rc == 1\n      retries: -3\n",
            "retries",
        ),
    ] {
        let r = run_yaml(&fleet, dir.path(), &play(tasks), &[]);
        assert_eq!(r.code, Some(3), "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains("play.yml:") && r.stderr.contains(what),
            "{}",
            r.stderr
        );
    }
    // Rendered at run time: the task fails with the reason; the run reports and exits 2.
    let r = run_yaml(
        &fleet,
        dir.path(),
        &play(
            "    - name: bad delay\n      command: 'true'\n      register: r\n      until: r.rc == 1\n      retries: 1\n      delay: \"{{ -1 }}\"\n",
        ),
        &[],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let msg = r.result("bad delay", "localhost")["result"]["msg"].to_string();
    assert!(msg.contains("delay must be between 0"), "{msg}");
    // A task file that includes itself, and a chain of 3,000 includes: the host fails that
    // include with a clear reason (as any failing include does), the run reaches its recap.
    std::fs::write(dir.path().join("self.yml"), "- include_tasks: self.yml\n").expect("write");
    let r = run_yaml(
        &fleet,
        dir.path(),
        &play("    - include_tasks: self.yml\n"),
        &[],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stdout.contains("nested more than 64 deep"),
        "{}",
        r.stdout
    );
    assert!(
        r.doc["recap"].is_object(),
        "the JSON document is complete: {}",
        r.stdout
    );
    for i in 0..3000 {
        std::fs::write(
            dir.path().join(format!("inc{i}.yml")),
            format!("- include_tasks: inc{}.yml\n", i + 1),
        )
        .expect("write");
    }
    let r = run_yaml(
        &fleet,
        dir.path(),
        &play("    - include_tasks: inc0.yml\n"),
        &[],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stdout.contains("nested more than 64 deep"),
        "{}",
        r.stdout
    );
    assert_eq!(r.doc["recap"]["localhost"]["failed"], 1, "{}", r.stdout);
}

/// Waits until a process whose command line contains `needle` runs (or gives up).
fn wait_for_process(needle: &str, present: bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let found = Command::new("pgrep")
            .args(["-f", needle])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if found == present {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `sleep` duration no other run uses, so a test finds its own remote command only.
fn unique_sleep(base: u32) -> String {
    format!("{base}.{}", std::process::id())
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

#[test]
fn sigint_and_sigterm_stop_remote_commands_and_still_report() {
    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let inv = localhost_inventory(&fleet);
    let junit = dir.path().join("junit.xml");
    for (sig, become_, base) in [("INT", false, 313), ("TERM", true, 312)] {
        let secs = unique_sleep(base);
        let yaml = format!(
            "- hosts: fleet\n  gather_facts: false\n  become: {become_}\n  tasks:\n    - name: long\n      shell: sleep {secs}; echo done\n    - name: never\n      shell: touch {}/never\n",
            dir.path().display()
        );
        let pb = dir.path().join("play.yml");
        std::fs::write(&pb, yaml).expect("write");
        let mut cmd = run_command(&fleet, &inv, &pb, &["--junit"]);
        cmd.arg(&junit)
            .env("OLYMPUS_BECOME_PASSWORD", FLEET_SUDO_PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().expect("spawn olympus");
        let needle = format!("sleep {secs}");
        assert!(
            wait_for_process(&needle, true, Duration::from_secs(20)),
            "the remote command never started"
        );
        // Both hosts' commands are running: wait for the second one too.
        std::thread::sleep(Duration::from_millis(500));
        signal(child.id(), sig);
        let r = PlayRun::from_output(child.wait_with_output().expect("wait"));
        assert_eq!(r.code, Some(99), "SIG{sig}: {}\n{}", r.stderr, r.stdout);
        assert!(
            wait_for_process(&needle, false, Duration::from_secs(5)),
            "SIG{sig}: the remote command kept running (become: {become_})"
        );
        assert!(
            !dir.path().join("never").exists(),
            "a task started after the signal"
        );
        assert_eq!(r.doc["recap"]["localhost"]["failed"], 1, "{}", r.stdout);
        let stopped = r.doc["interrupted"]["hosts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(stopped.len(), 2, "{}", r.stdout);
        let xml = std::fs::read_to_string(&junit).expect("the JUnit file was written");
        assert!(xml.contains("interrupted"), "{xml}");
        std::fs::remove_file(&junit).expect("rm junit");
    }
}

#[test]
fn a_second_signal_exits_at_once() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let inv = localhost_inventory(&fleet);
    let pb = dir.path().join("play.yml");
    let secs = unique_sleep(314);
    let needle = format!("sleep {secs}");
    // A command that ignores TERM keeps the first stop waiting; the second signal ends it.
    std::fs::write(
        &pb,
        format!("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - shell: trap '' TERM INT; sleep {secs}\n"),
    )
    .expect("write");
    let log = dir.path().join("olympus.log");
    let mut child = run_command(&fleet, &inv, &pb, &[])
        .env("RUST_LOG", "olympus=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    assert!(wait_for_process(&needle, true, Duration::from_secs(20)));
    signal(child.id(), "INT");
    // The first stop sends TERM (ignored here), then KILL half a second later.
    if !wait_for_process(&needle, false, Duration::from_secs(5)) {
        let ps = Command::new("ps")
            .args(["-eo", "pid,pgid,sid,user,args"])
            .output()
            .expect("ps");
        panic!(
            "KILL did not follow the ignored TERM\n{}\n{}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            String::from_utf8_lossy(&ps.stdout)
                .lines()
                .filter(|l| l.contains("314") || l.contains("sshd"))
                .collect::<Vec<_>>()
                .join("\n"),
            fleet.sshd_log(0)
        );
    }
    signal(child.id(), "INT");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no exit after a second SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(99));
}

#[test]
fn a_timed_out_last_task_leaves_nothing_running() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let inv = localhost_inventory(&fleet);
    for (become_, base) in [(false, 315), (true, 316)] {
        let secs = unique_sleep(base);
        let pb = dir.path().join("play.yml");
        std::fs::write(
            &pb,
            format!(
                "- hosts: localhost\n  gather_facts: false\n  become: {become_}\n  tasks:\n    - shell: sleep {secs}\n      timeout: 1\n"
            ),
        )
        .expect("write");
        let out = run_command(&fleet, &inv, &pb, &[])
            .env("OLYMPUS_BECOME_PASSWORD", FLEET_SUDO_PASSWORD)
            .output()
            .expect("run");
        let r = PlayRun::from_output(out);
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(
            wait_for_process(&format!("sleep {secs}"), false, Duration::from_secs(3)),
            "the timed-out command still runs after olympus exited (become: {become_})"
        );
    }
}

#[test]
fn template_syntax_errors_are_found_before_any_host_changes() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let marker = dir.path().join("changed");
    let first = format!(
        "    - name: changes a host\n      file: path={} state=touch\n",
        marker.display()
    );
    std::fs::create_dir_all(dir.path().join("roles/r/tasks")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("roles/r/templates")).expect("mkdir");
    std::fs::write(
        dir.path().join("roles/r/tasks/main.yml"),
        "- template: src=bad.j2 dest=/tmp/never\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("roles/r/templates/bad.j2"),
        "ok\n{% if x %}\nno end\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("static.yml"),
        "- debug: msg=\"{{ broken \"\n",
    )
    .expect("write");
    for (tasks, want) in [
        ("    - debug: msg=\"{{ a \"\n".to_string(), "play.yml:6:7"),
        (
            "    - debug: msg=x\n      when: a ==\n".to_string(),
            "play.yml:6:7",
        ),
        (
            "    - debug: msg=x\n      loop: \"{{ [1, }}\"\n".to_string(),
            "play.yml:6:7",
        ),
        (
            "    - import_tasks: static.yml\n".to_string(),
            "static.yml:1:3",
        ),
        // A second play whose role has a broken template file.
        ("- hosts: localhost\n  roles: [r]\n".to_string(), "bad.j2"),
    ] {
        let yaml = format!("- hosts: localhost\n  gather_facts: false\n  tasks:\n{first}{tasks}");
        let r = run_yaml(&fleet, dir.path(), &yaml, &[]);
        assert_eq!(r.code, Some(3), "{tasks}: {}", r.stderr);
        assert!(
            r.stderr.contains(want),
            "{tasks}: wanted {want} in {}",
            r.stderr
        );
        assert!(
            !marker.exists(),
            "{tasks}: a host was changed before the error was found"
        );
    }
}

#[test]
fn outputs_are_capped_marked_and_memory_stays_bounded() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let big = dir.path().join("big");
    // 64 MiB of short lines (the costliest shape as stdout_lines) on stdout.
    let yaml = r#"
- hosts: localhost
  gather_facts: false
  tasks:
    - name: loud
      shell: yes | head -c 67108864
    - name: make a big file
      shell: head -c 3000000 /dev/zero > BIG
    - name: slurp it
      slurp: src=BIG
      ignore_errors: true
"#
    .replace("BIG", &big.display().to_string());
    let pb = dir.path().join("play.yml");
    std::fs::write(&pb, yaml).expect("write");
    let inv = localhost_inventory(&fleet);
    let (r, peak) = run_measured(&fleet, &inv, &pb, &["--output-cap", "1M"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let loud = &r.result("loud", "localhost")["result"];
    assert_eq!(loud["truncated"], true, "a cut output says so");
    assert!(
        loud["warnings"].to_string().contains("output cut"),
        "{loud}"
    );
    assert!(loud["stdout"].as_str().map_or(0, str::len) <= 1 << 20);
    // A slurped file that does not fit fails instead of arriving cut short.
    let slurp = &r.result("slurp it", "localhost");
    assert_eq!(slurp["status"], "failed", "{slurp}");
    assert!(slurp["result"]["msg"].to_string().contains("--output-cap"));
    assert!(peak < 200_000, "peak RSS {peak} KB for a 1 MiB cap");
}

#[test]
fn lookups_of_endless_files_and_commands_fail_fast() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    for (expr, want) in [
        ("lookup('file', '/dev/zero')", "not a regular file"),
        ("lookup('pipe', 'yes')", "more than 16 MiB"),
    ] {
        let yaml = format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: l\n      debug: msg=\"{{{{ {expr} | length }}}}\"\n"
        );
        let started = Instant::now();
        let r = run_yaml(&fleet, dir.path(), &yaml, &[]);
        assert_eq!(r.code, Some(2), "{expr}: {}", r.stderr);
        let msg = r.result("l", "localhost")["result"]["msg"].to_string();
        assert!(msg.contains(want), "{expr}: {msg}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{expr} took too long"
        );
    }
}

#[test]
fn smaller_findings_names_passwords_and_positions() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    // `y` and `n` are names, as PyYAML reads them.
    let r = run_yaml(
        &fleet,
        dir.path(),
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - command: echo hi\n      register: y\n    - name: show\n      debug: msg=\"{{ y.stdout }}\"\n",
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.result("show", "localhost")["result"]["msg"], "hi");
    // An `until` naming an undefined variable fails at once and names it (it was retried
    // as if false, and the failure never said why).
    let r = run_yaml(
        &fleet,
        dir.path(),
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: u\n      command: 'true'\n      register: r\n      until: nope\n",
        &[],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let msg = r.result("u", "localhost")["result"]["msg"].to_string();
    assert!(msg.contains("nope") && !msg.contains("Retried"), "{msg}");
    // -K with OLYMPUS_BECOME_PASSWORD set and no terminal: the variable answers.
    let pb = dir.path().join("become.yml");
    std::fs::write(
        &pb,
        "- hosts: localhost\n  gather_facts: false\n  become: true\n  tasks:\n    - name: who\n      command: id -u\n",
    )
    .expect("write");
    let inv = localhost_inventory(&fleet);
    let out = run_command(&fleet, &inv, &pb, &["-K"])
        .env("OLYMPUS_BECOME_PASSWORD", FLEET_SUDO_PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let r = PlayRun::from_output(out);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.result("who", "localhost")["result"]["stdout"], "0");
    // Errors say where.
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "missing vars file",
            b"- hosts: localhost\n  gather_facts: false\n  vars_files: [nope.yml]\n  tasks:\n    - ping:\n",
            "play.yml:1:3: vars_files",
        ),
        (
            "not UTF-8",
            b"- hosts: localhost\n  tasks:\n    - debug: msg=\"caf\xe9\"\n",
            "play.yml:3:",
        ),
        (
            "missing copy src",
            b"- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: src=nope.txt dest=/tmp/x\n",
            "task at ",
        ),
    ];
    for (what, yaml, want) in cases {
        let pb = dir.path().join("play.yml");
        std::fs::write(&pb, yaml).expect("write");
        let out = run_command(&fleet, &inv, &pb, &[]).output().expect("run");
        let r = PlayRun::from_output(out);
        let shown = format!("{}{}", r.stderr, r.stdout);
        assert!(shown.contains(want), "{what}: wanted {want} in {shown}");
        assert_ne!(r.code, Some(0), "{what}");
    }
    let _ = Path::new("");
}

#[test]
fn exec_stops_remote_commands_on_sigint_too() {
    let fleet = Fleet::start(2);
    let secs = unique_sleep(317);
    let child = fleet
        .olympus("exec", &fleet.inventory)
        .args(["fleet", "--", &format!("sleep {secs}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn olympus exec");
    let needle = format!("sleep {secs}");
    assert!(wait_for_process(&needle, true, Duration::from_secs(20)));
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), "INT");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(99),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        wait_for_process(&needle, false, Duration::from_secs(5)),
        "exec left its remote commands running"
    );
}
