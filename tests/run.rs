//! `olympus run`: playbook features end to end on the real-sshd fleet. The playbooks say
//! `hosts: localhost`, and the inventory the helpers pass defines `localhost` as a fleet
//! host: every task goes over SSH to sshd, as the unprivileged fleet user.

mod common;

use std::path::Path;
use std::process::Command;

use common::fleet::{FLEET_SUDO_PASSWORD, Fleet};
use serde_json::Value;

struct Run {
    code: Option<i32>,
    doc: Value,
    stderr: String,
}

/// A temporary directory the fleet user can use too.
fn shared_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    d
}

/// Writes `yaml` as a playbook and runs it on the fleet (`--output json` and `extra`
/// options): the JSON document and the process output.
fn run_on_fleet(fleet: &Fleet, yaml: &str, extra: &[&str]) -> (Value, std::process::Output) {
    let dir = shared_dir();
    let pb = dir.path().join("site.yml");
    std::fs::write(&pb, yaml).expect("write");
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .args(["--output", "json"])
        .args(extra)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (doc, out)
}

fn run_playbook(yaml: &str, extra: &[&str]) -> Run {
    let dir = shared_dir();
    let pb = dir.path().join("play.yml");
    std::fs::write(&pb, yaml).expect("write");
    run_file(&pb, extra)
}

/// Runs a playbook where `localhost` is a real-sshd fleet host.
fn run_file(pb: &Path, extra: &[&str]) -> Run {
    let fleet = Fleet::start(1);
    let h = &fleet.hosts[0];
    let inv = fleet.dir.path().join("localhost.ini");
    std::fs::write(
        &inv,
        format!(
            "localhost ansible_host={} ansible_port={} ansible_user={} ansible_ssh_private_key_file={}\n",
            h.addr,
            h.port,
            fleet.user,
            fleet.key.display()
        ),
    )
    .expect("inventory");
    let out = fleet
        .olympus("run", &inv)
        .arg(pb)
        .args(["--output", "json"])
        .args(extra)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("OLYMPUS_BECOME_PASSWORD")
        .output()
        .expect("run olympus");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Run {
        code: out.status.code(),
        doc: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// (task name, host) → status, across all plays.
fn status(doc: &Value, task: &str, host: &str) -> Option<String> {
    doc["plays"]
        .as_array()?
        .iter()
        .flat_map(|p| p["tasks"].as_array().cloned().unwrap_or_default())
        .find_map(|t| {
            (t["name"] == task)
                .then(|| t["hosts"][host]["status"].as_str().map(str::to_string))
                .flatten()
        })
}

fn result<'a>(doc: &'a Value, task: &str, host: &str) -> &'a Value {
    doc["plays"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .flat_map(|p| p["tasks"].as_array().into_iter().flatten())
                .find(|t| t["name"] == task)
        })
        .map(|t| &t["hosts"][host]["result"])
        .unwrap_or(&Value::Null)
}

#[test]
fn variables_templates_register_set_fact_and_assert() {
    let r = run_playbook(
        r#"
- hosts: localhost
  gather_facts: false
  vars:
    a: play
    b: "{{ a }}-derived"
    port: 80
  tasks:
    - name: derive
      set_fact:
        c: "{{ b }}!"
    # As ansible-core 2.19 does (expand_argument_vars): $NAME is read from the host's
    # environment (quotes do not stop it), an unset one stays as written, `|` is a word.
    - name: echo
      command: echo {{ port }} '$HOME' $OLYMPUS_UNSET_X '|' wc
      register: out
    - name: check
      assert:
        that:
          - c == 'play-derived!'
          - out.stdout is match('^80 /[^ $]+ [$]OLYMPUS_UNSET_X [|] wc$')
          - out.cmd == ['echo', '80', '$HOME', '$OLYMPUS_UNSET_X', '|', 'wc']
          - out is changed
          - extra == 'cli'
          - inventory_hostname == 'localhost'
          - ansible_play_batch == ['localhost']
          - play_hosts | length == 1
          - groups['ungrouped'] == ['localhost']
    - name: show
      debug:
        var: c
"#,
        &["-e", "extra=cli"],
    );
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.doc);
    assert_eq!(status(&r.doc, "check", "localhost").as_deref(), Some("ok"));
    assert_eq!(result(&r.doc, "show", "localhost")["c"], "play-derived!");
    assert_eq!(r.doc["recap"]["localhost"]["changed"], 1);
}

#[test]
fn check_mode_changes_nothing() {
    let dir = shared_dir();
    let marker = dir.path().join("made");
    let r = run_playbook(
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: make\n      command: touch {m}\n    - name: guarded\n      command: touch {m}\n      args:\n        creates: /\n",
            m = marker.display()
        ),
        &["--check"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!marker.exists(), "check mode ran the command");
    assert_eq!(
        status(&r.doc, "make", "localhost").as_deref(),
        Some("skipped")
    );
    assert_eq!(
        status(&r.doc, "guarded", "localhost").as_deref(),
        Some("ok"),
        "creates= says it would not run"
    );
}

#[test]
fn handlers_run_once_per_notification_in_definition_order() {
    let r = run_playbook(
        r#"
- hosts: localhost
  gather_facts: false
  tasks:
    - name: change one
      command: /bin/true
      notify: [second, first]
    - name: change two
      command: /bin/true
      notify: first
    - name: no change
      command: /bin/true
      changed_when: false
      notify: never
    - name: flush now
      meta: flush_handlers
    - name: after flush
      command: /bin/true
      notify: by topic
  handlers:
    - name: first
      debug: {msg: first}
    - name: second
      debug: {msg: second}
    - name: never
      debug: {msg: never}
    - name: listener
      debug: {msg: listened}
      listen: by topic
"#,
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let names: Vec<String> = r.doc["plays"][0]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        names,
        [
            "change one",
            "change two",
            "no change",
            "flush now",
            "first",
            "second",
            "after flush",
            "listener"
        ]
    );
    assert_eq!(r.doc["recap"]["localhost"]["ok"], 7);
}

#[test]
fn tags_select_and_skip() {
    let pb = r#"
- hosts: localhost
  gather_facts: false
  tasks:
    - {name: tagged a, debug: {msg: a}, tags: [a]}
    - {name: tagged b, debug: {msg: b}, tags: b}
    - {name: always runs, debug: {msg: c}, tags: [always]}
    - {name: never runs, debug: {msg: d}, tags: [never]}
    - {name: untagged, debug: {msg: e}}
"#;
    let names = |r: &Run| -> Vec<String> {
        r.doc["plays"][0]["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let r = run_playbook(pb, &["--tags", "a"]);
    assert_eq!(names(&r), ["tagged a", "always runs"]);
    let r = run_playbook(pb, &["--skip-tags", "a,always"]);
    assert_eq!(names(&r), ["tagged b", "untagged"]);
    let r = run_playbook(pb, &[]);
    assert_eq!(
        names(&r),
        ["tagged a", "tagged b", "always runs", "untagged"]
    );
    let r = run_playbook(pb, &["--tags", "never"]);
    assert_eq!(names(&r), ["always runs", "never runs"]);
}

#[test]
fn loops_until_and_exit_codes() {
    let dir = shared_dir();
    let counter = dir.path().join("n");
    let r = run_playbook(
        &format!(
            r#"
- hosts: localhost
  gather_facts: false
  tasks:
    - name: items
      debug: {{msg: "{{{{ i }}}}-{{{{ idx }}}}"}}
      loop: "{{{{ ['x', 'y'] }}}}"
      loop_control: {{loop_var: i, index_var: idx}}
      register: looped
    - name: dict
      debug: {{msg: "{{{{ item.key }}}}={{{{ item.value }}}}"}}
      with_dict: {{k1: v1}}
    - name: sequence
      debug: {{msg: "{{{{ item }}}}"}}
      with_sequence: start=1 end=3 format=n%02d
      register: seq
    - name: retry until third try
      shell: echo x >> {c}; wc -l < {c}
      register: tries
      until: tries.stdout | int >= 3
      retries: 5
      delay: 0
    - name: check
      assert:
        that:
          - looped.results | length == 2
          - looped.results[1].msg == 'y-1'
          - seq.results | map(attribute='msg') | list == ['n01', 'n02', 'n03']
          - tries.attempts == 3
"#,
            c = counter.display()
        ),
        &[],
    );
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.doc);

    let r = run_playbook(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: boom\n      command: /bin/false\n    - name: not reached\n      debug: {msg: x}\n",
        &[],
    );
    assert_eq!(r.code, Some(2));
    assert_eq!(
        status(&r.doc, "boom", "localhost").as_deref(),
        Some("failed")
    );
    assert_eq!(status(&r.doc, "not reached", "localhost"), None);

    let r = run_playbook(
        "- hosts: localhost\n  gather_facts: false\n  any_errors_fatal: true\n  tasks:\n    - name: boom\n      command: /bin/false\n",
        &[],
    );
    assert_eq!(
        r.code,
        Some(8),
        "stopped by any_errors_fatal (8) outranks failed (2)"
    );
}

#[test]
fn bad_playbooks_are_refused_before_anything_runs() {
    let dir = shared_dir();
    let marker = dir.path().join("ran");
    let r = run_playbook(
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - command: touch {}\n    - name: later\n      expect: {{command: passwd, responses: {{x: y}}}}\n",
            marker.display()
        ),
        &[],
    );
    assert_eq!(r.code, Some(3));
    assert!(
        r.stderr.contains("play.yml:6:7"),
        "names the task's file and line: {}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("module 'expect' is not implemented by olympus yet"),
        "{}",
        r.stderr
    );
    assert!(
        !marker.exists(),
        "nothing may run when the playbook is refused"
    );

    let r = run_playbook(
        "- hosts: localhost\n  tasks:\n    - debug: msg=x\n      notifiy: h\n",
        &[],
    );
    assert_eq!(r.code, Some(3));
    assert!(r.stderr.contains("did you mean 'notify'"), "{}", r.stderr);
}

#[test]
fn fleet_facts_become_delegate_and_free_strategy() {
    let fleet = Fleet::start(3);
    let dir = shared_dir();
    let pb = dir.path().join("site.yml");
    std::fs::write(
        &pb,
        r#"
- hosts: fleet
  strategy: free
  tasks:
    - name: facts are there
      assert:
        that:
          - ansible_hostname | length > 0
          - ansible_facts.system == 'Linux'
          - ansible_user_id == 'olympus-fleet'
    - name: as root
      command: id -u
      become: true
      register: rootid
    - name: root it was
      assert:
        that: rootid.stdout == '0'
    - name: on the controller
      command: echo controller
      delegate_to: localhost
      run_once: true
      register: ctl
    - name: hostvars of another host
      debug:
        msg: "{{ hostvars['h01'].ansible_port }}"
"#,
    )
    .expect("write");
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .args(["--output", "json"])
        .env("OLYMPUS_BECOME_PASSWORD", FLEET_SUDO_PASSWORD)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{doc}",
        String::from_utf8_lossy(&out.stderr)
    );
    for h in ["h01", "h02", "h03"] {
        assert_eq!(doc["recap"][h]["failed"], 0, "{h}: {doc}");
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains(FLEET_SUDO_PASSWORD));
}

#[test]
fn include_tasks_script_fetch_wait_for_and_pause() {
    let dir = shared_dir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("files")).expect("mkdir");
    std::fs::write(
        d.join("inc-a.yml"),
        "- name: from a\n  set_fact: {which: a}\n",
    )
    .expect("write");
    std::fs::write(
        d.join("inc-b.yml"),
        "- name: from b\n  set_fact: {which: b}\n",
    )
    .expect("write");
    std::fs::write(d.join("files/hello.sh"), "#!/bin/sh\necho \"hello $1\"\n").expect("write");
    let src = d.join("remote.txt");
    std::fs::write(&src, "fetched\n").expect("write");
    std::fs::write(
        d.join("site.yml"),
        format!(
            r#"
- hosts: localhost
  gather_facts: false
  vars: {{part: b}}
  tasks:
    - name: include by variable
      include_tasks: "inc-{{{{ part }}}}.yml"
    - name: skipped include
      include_tasks: inc-a.yml
      when: false
    - name: script
      script: hello.sh world
      register: sc
    - name: fetch
      fetch: {{src: "{src}", dest: "{out}/", flat: true}}
    - name: wait for a file
      wait_for: {{path: "{src}", search_regex: "^fetched", timeout: 5}}
    - name: wait for a missing file times out
      wait_for: {{path: "{src}.nope", timeout: 1}}
      ignore_errors: true
      register: w
    - name: pause
      pause: {{seconds: 0}}
    - name: check
      assert:
        that:
          - which == 'b'
          - sc.stdout == 'hello world'
          - w is failed
"#,
            src = src.display(),
            out = d.join("out").display()
        ),
    )
    .expect("write");
    let r = run_file(&d.join("site.yml"), &[]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.doc);
    assert_eq!(status(&r.doc, "from b", "localhost").as_deref(), Some("ok"));
    assert_eq!(status(&r.doc, "from a", "localhost"), None);
    assert_eq!(
        std::fs::read_to_string(d.join("out/remote.txt")).expect("fetched"),
        "fetched\n"
    );
}

#[test]
fn junit_list_options_syntax_check_and_extra_vars_forms() {
    let dir = shared_dir();
    let pb = dir.path().join("site.yml");
    std::fs::write(
        &pb,
        "- name: p1\n  hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: ok <1>\n      debug: {msg: '{{ a }}-{{ b.c }}'}\n    - name: skipped\n      debug: {msg: x}\n      when: false\n      tags: [t1]\n    - name: bad & fails\n      fail: {msg: \"nope\"}\n      when: fail_it | bool\n",
    )
    .expect("write");
    let vars = dir.path().join("vars.yml");
    std::fs::write(&vars, "b: {c: from-file}\n").expect("write");
    let junit = dir.path().join("report.xml");
    let at_vars = format!("@{}", vars.display());
    let junit_s = junit.to_string_lossy().to_string();
    let r = run_file(
        &pb,
        &[
            "-e",
            "{\"a\": \"json\", \"fail_it\": true}",
            "-e",
            &at_vars,
            "--junit",
            &junit_s,
        ],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(
        result(&r.doc, "ok <1>", "localhost")["msg"],
        "json-from-file"
    );
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(
        xml.contains(
            "<testsuite name=\"p1\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\">"
        ),
        "{xml}"
    );
    assert!(xml.contains("name=\"[localhost] ok &lt;1&gt;\"/>"), "{xml}");
    assert!(xml.contains("<failure message=\"nope\"/>"), "{xml}");

    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .arg("run")
        .arg(&pb)
        .args(["--list-tasks", "--list-hosts"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text.contains("hosts (1):\n      localhost"), "{text}");
    assert!(text.contains("      skipped\tTAGS: [t1]"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .arg("run")
        .arg(&pb)
        .arg("--syntax-check")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("playbook: "));
}

#[test]
fn roles_with_defaults_vars_handlers_templates_and_dependencies() {
    let dir = shared_dir();
    let d = dir.path();
    let w = |rel: &str, text: &str| {
        let p = d.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    w(
        "roles/common/tasks/main.yml",
        "- name: common task\n  set_fact: {common_ran: true}\n",
    );
    w("roles/web/meta/main.yml", "dependencies: [common]\n");
    w(
        "roles/web/defaults/main.yml",
        "port: 80\nlisten: \"{{ port }}\"\n",
    );
    w("roles/web/vars/main.yml", "service: nginx\n");
    w(
        "roles/web/tasks/main.yml",
        "- name: render\n  template: {src: site.conf.j2, dest: \"{{ out }}/site.conf\"}\n  notify: restart web\n- name: role vars\n  assert:\n    that: [service == 'nginx', common_ran, role_name == 'web']\n",
    );
    w(
        "roles/web/templates/site.conf.j2",
        "listen {{ listen }}; # {{ service }}\n",
    );
    w(
        "roles/web/handlers/main.yml",
        "- name: restart web\n  debug: {msg: \"restart {{ service }}\"}\n",
    );
    let out_dir = d.join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&out_dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    w(
        "site.yml",
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  vars: {{out: \"{}\"}}\n  pre_tasks:\n    - name: before roles\n      debug: {{msg: pre}}\n  roles:\n    - role: web\n      port: 8080\n  tasks:\n    - name: after roles\n      debug: {{msg: \"{{{{ port | default('no-leak') }}}}\"}}\n",
            out_dir.display()
        ),
    );
    let r = run_file(&d.join("site.yml"), &[]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.doc);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("site.conf")).expect("rendered"),
        "listen 8080; # nginx\n"
    );
    let names: Vec<String> = r.doc["plays"][0]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        names,
        // A role's tasks and handlers are named `role : task`, as ansible-core names them.
        [
            "before roles",
            "common : common task",
            "web : render",
            "web : role vars",
            "after roles",
            "web : restart web"
        ]
    );
    // Role defaults are play-wide (lowest precedence); role params stay in the role.
    assert_eq!(result(&r.doc, "after roles", "localhost")["msg"], 80);
}

#[test]
fn more_keywords_environment_no_log_meta_order_check_mode_timeout_fileglob() {
    let dir = shared_dir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("globs")).expect("mkdir");
    std::fs::write(d.join("globs/a.conf"), "a").expect("write");
    std::fs::write(d.join("globs/b.conf"), "b").expect("write");
    std::fs::write(d.join("globs/c.txt"), "c").expect("write");
    let marker = d.join("made");
    std::fs::write(
        d.join("site.yml"),
        format!(
            r#"
- hosts: localhost
  gather_facts: false
  environment: {{GREETING: hello}}
  tasks:
    - name: env
      shell: echo "$GREETING $EXTRA"
      environment: {{EXTRA: world}}
      register: env
    - name: secret
      debug: {{msg: "s3cr3t-value"}}
      no_log: true
    - name: forced check mode
      command: touch {m}
      check_mode: true
    - name: timeout
      command: sleep 5
      timeout: 1
      ignore_errors: true
      register: slow
    - name: globbed
      debug: {{msg: "{{{{ item | basename }}}}"}}
      with_fileglob: ["globs/*.conf"]
      loop_control: {{label: "{{{{ item | basename }}}}"}}
      register: globbed
    - name: check
      assert:
        that:
          - env.stdout == 'hello world'
          - slow is failed
          - globbed.results | map(attribute='msg') | list == ['a.conf', 'b.conf']
    - name: stop here
      meta: end_play
    - name: never
      debug: {{msg: unreachable}}
"#,
            m = marker.display()
        ),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .arg("run")
        .arg(d.join("site.yml"))
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("s3cr3t-value"),
        "no_log result was printed:\n{text}"
    );
    assert!(text.contains("the output has been hidden"), "{text}");
    assert!(text.contains("(item=a.conf)"), "loop_control label: {text}");
    assert!(
        !text.contains("TASK [never]"),
        "end_play stops the play: {text}"
    );
    assert!(
        !marker.exists(),
        "check_mode: true on the task must not run it"
    );
}

#[test]
fn unreachable_hosts_leave_the_play_unless_ignored() {
    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let inv = dir.path().join("hosts");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut text = std::fs::read_to_string(&fleet.inventory).expect("inventory");
    text = text.replacen(
        "[fleet]\n",
        &format!("[fleet]\ndown ansible_host=127.0.0.1 ansible_port={port}\n"),
        1,
    );
    std::fs::write(&inv, text).expect("write");
    let pb = dir.path().join("site.yml");
    std::fs::write(
        &pb,
        "- hosts: fleet\n  gather_facts: false\n  order: sorted\n  tasks:\n    - name: tolerated\n      command: /bin/true\n      ignore_unreachable: true\n    - name: first\n      command: /bin/true\n    - name: second\n      command: /bin/true\n- hosts: fleet\n  gather_facts: false\n  tasks:\n    - name: next play\n      command: /bin/true\n",
    )
    .expect("write");
    let out = fleet
        .olympus("run", &inv)
        .arg(&pb)
        .args(["--output", "json", "--connect-timeout", "3"])
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(4), "{doc}");
    assert_eq!(doc["recap"]["down"]["unreachable"], 1, "{doc}");
    assert_eq!(
        doc["recap"]["down"]["ignored"], 1,
        "ignore_unreachable kept it for one more task: {doc}"
    );
    assert_eq!(
        status(&doc, "first", "down").as_deref(),
        Some("unreachable")
    );
    assert_eq!(
        status(&doc, "second", "down"),
        None,
        "an unreachable host leaves the play"
    );
    assert_eq!(status(&doc, "second", "h01").as_deref(), Some("changed"));
    assert_eq!(
        doc["plays"][0]["hosts"],
        serde_json::json!(["down", "h01", "h02"]),
        "order: sorted"
    );
    // The unreachable host has left the run, so the second play does not see it at all.
    assert_eq!(status(&doc, "next play", "down"), None);
    assert_eq!(status(&doc, "next play", "h02").as_deref(), Some("changed"));
}

#[test]
fn vars_prompt_include_vars_end_host_force_handlers_start_at_and_limit() {
    let dir = shared_dir();
    let d = dir.path();
    std::fs::write(d.join("extra.yml"), "from_file: 42\n").expect("write");
    let pb = d.join("site.yml");
    std::fs::write(
        &pb,
        r#"
- hosts: localhost
  gather_facts: false
  vars_prompt:
    - name: answer
      prompt: What is it?
  tasks:
    - name: load vars
      include_vars: extra.yml
    - name: check
      assert:
        that: [answer == 'yes', from_file == 42]
    - name: notify
      command: /bin/true
      notify: h
    - name: fail after notify
      command: /bin/false
  handlers:
    - name: h
      debug: {msg: handled}
"#,
    )
    .expect("write");
    // Without a terminal, an unanswered prompt is refused before anything runs.
    let r = run_file(&pb, &[]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr.contains("vars_prompt 'answer' needs an answer"),
        "{}",
        r.stderr
    );
    // Answered with -e: runs; the failure keeps handlers from running unless forced.
    let r = run_file(&pb, &["-e", "answer=yes"]);
    assert_eq!(r.code, Some(2), "{}\n{}", r.stderr, r.doc);
    assert_eq!(status(&r.doc, "check", "localhost").as_deref(), Some("ok"));
    assert_eq!(status(&r.doc, "h", "localhost"), None);
    let r = run_file(&pb, &["-e", "answer=yes", "--force-handlers"]);
    assert_eq!(
        status(&r.doc, "h", "localhost").as_deref(),
        Some("ok"),
        "{}",
        r.doc
    );
    let r = run_file(&pb, &["-e", "answer=yes", "--start-at-task", "notify"]);
    assert_eq!(
        status(&r.doc, "check", "localhost"),
        None,
        "tasks before the start are skipped"
    );
    assert_eq!(
        status(&r.doc, "notify", "localhost").as_deref(),
        Some("changed")
    );

    // meta: end_host ends one host; --limit narrows the play.
    let fleet = Fleet::start(3);
    let pb2 = d.join("hosts.yml");
    std::fs::write(
        &pb2,
        "- hosts: fleet\n  gather_facts: false\n  remote_user: nobody-here\n  tasks:\n    - name: end h02\n      meta: end_host\n      when: inventory_hostname == 'h02'\n    - name: after\n      command: whoami\n      register: who\n",
    )
    .expect("write");
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb2)
        .args(["--output", "json", "--limit", "h01:h02"])
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(
        doc["plays"][0]["hosts"],
        serde_json::json!(["h01", "h02"]),
        "--limit"
    );
    assert_eq!(status(&doc, "after", "h01").as_deref(), Some("changed"));
    assert_eq!(status(&doc, "after", "h02"), None, "end_host stopped h02");
    // The inventory's ansible_user beats the play's remote_user, as in Ansible.
    assert_eq!(result(&doc, "after", "h01")["stdout"], fleet.user.as_str());
}

#[test]
fn ping_raw_wait_for_port_touch_hard_links_diff_keyword_and_become_user() {
    let dir = shared_dir();
    let d = dir.path().to_string_lossy().to_string();
    // A port listening on this machine (the "host" is this machine too).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let r = run_playbook(
        &format!(
            r#"
- hosts: localhost
  gather_facts: false
  tasks:
    - name: ping
      ping:
      register: p
    - name: raw
      raw: echo raw-$((1+1))
      register: rw
    - name: port
      wait_for: {{port: {port}, timeout: 5}}
    - name: touch
      file: {{path: "{d}/t", state: touch}}
    - name: hard
      file: {{src: "{d}/t", path: "{d}/h", state: hard}}
    - name: dir with diff
      file: {{path: "{d}/newdir", state: directory}}
      diff: true
      register: nd
    - name: as another user
      command: id -un
      become: true
      become_user: root
      register: who
      ignore_errors: true
    - name: slow loop
      debug: {{msg: "{{{{ item }}}}"}}
      loop: [1, 2]
      loop_control: {{pause: 0.2}}
    - name: check
      assert:
        that:
          - p.ping == 'pong'
          - rw.stdout is search('raw-2')
          - nd.diff.after is search('directory')
"#
        ),
        &[],
    );
    drop(listener);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.doc);
    let ino = |p: &str| {
        std::fs::metadata(p)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .expect("stat")
    };
    assert_eq!(
        ino(&format!("{d}/t")),
        ino(&format!("{d}/h")),
        "state=hard makes a hard link"
    );
    // No become password was given: sudo refuses at once and the task fails (ignored).
    assert_eq!(
        status(&r.doc, "as another user", "localhost").as_deref(),
        Some("failed")
    );
}

/// As ansible-core 2.19 does (proven in tests/fixtures/compat/semantics.yml): a host that
/// failed is done with the play, but after `meta: clear_host_errors` it is no longer failed,
/// so the next play takes it again.
#[test]
fn clear_host_errors_brings_failed_hosts_back_in_later_plays() {
    let fleet = Fleet::start(2);
    let (doc, _out) = run_on_fleet(
        &fleet,
        "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - name: fail h01\n      command: /bin/false\n      when: inventory_hostname == 'h01'\n    - name: only h02\n      command: /bin/true\n    - name: clear\n      meta: clear_host_errors\n    - name: still only h02\n      command: /bin/true\n- hosts: fleet\n  gather_facts: false\n  tasks:\n    - name: both again\n      command: /bin/true\n",
        &[],
    );
    assert_eq!(status(&doc, "only h02", "h01"), None, "{doc}");
    assert_eq!(status(&doc, "still only h02", "h01"), None, "{doc}");
    assert_eq!(
        status(&doc, "both again", "h01").as_deref(),
        Some("changed"),
        "{doc}"
    );
    assert_eq!(
        status(&doc, "both again", "h02").as_deref(),
        Some("changed")
    );
    assert_eq!(doc["recap"]["h01"]["failed"], 1);
}

#[test]
fn connections_open_ahead_of_the_first_remote_task_and_only_once() {
    let fleet = Fleet::start(3);
    let dir = shared_dir();
    let logins = || fleet.sshd_log(0).matches("Accepted publickey").count();
    let run = |yaml: &str| {
        let pb = dir.path().join("site.yml");
        std::fs::write(&pb, yaml).expect("write");
        let out = fleet
            .olympus("run", &fleet.inventory)
            .arg(&pb)
            .args(["--output", "json"])
            .output()
            .expect("run");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_eq!(out.status.code(), Some(0), "{doc}");
        doc
    };
    // A play that never touches its hosts still has their connections opened while its
    // (controller-side) task runs: the opening overlaps the work instead of preceding it.
    let before = logins();
    run("- hosts: fleet\n  gather_facts: false\n  tasks:\n    - pause:\n        seconds: 2\n");
    assert_eq!(logins() - before, 3, "{}", fleet.sshd_log(0));
    // Opened ahead or on demand, each host gets one connection for every task of the run.
    let before = logins();
    let doc = run(
        "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - pause:\n        seconds: 1\n    - name: one\n      command: /bin/true\n    - name: two\n      command: /bin/true\n- hosts: fleet\n  gather_facts: false\n  tasks:\n    - name: three\n      command: /bin/true\n",
    );
    assert_eq!(status(&doc, "three", "h03").as_deref(), Some("changed"));
    assert_eq!(logins() - before, 3, "{}", fleet.sshd_log(0));
}

/// As ansible-core 2.19 does (checked with ansible-playbook on the same playbook): a notified
/// handler (a role's or the play's) runs under `--tags` even when it has no tag, and
/// `--list-tasks` names role tasks `role : task`, numbers plays and leaves out `never` tasks.
#[test]
fn handlers_run_under_tags_and_list_tasks_follows_tags() {
    let dir = shared_dir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("roles/r/tasks")).expect("mkdir");
    std::fs::create_dir_all(d.join("roles/r/handlers")).expect("mkdir");
    std::fs::write(
        d.join("roles/r/tasks/main.yml"),
        "- name: role task\n  command: /bin/true\n  notify: role handler\n  tags: [t]\n",
    )
    .expect("write");
    std::fs::write(
        d.join("roles/r/handlers/main.yml"),
        "- name: role handler\n  debug: {msg: role-handler-ran}\n",
    )
    .expect("write");
    let pb = d.join("pb.yml");
    std::fs::write(
        &pb,
        "- hosts: localhost\n  gather_facts: false\n  roles: [r]\n  tasks:\n    - name: play task\n      command: /bin/true\n      notify: play handler\n      tags: [t]\n    - name: never task\n      debug: {msg: never}\n      tags: [never]\n  handlers:\n    - name: play handler\n      debug: {msg: play-handler-ran}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .current_dir(d)
        .args(["run", "pb.yml", "--tags", "t"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("RUNNING HANDLER [r : role handler]"),
        "{text}"
    );
    assert!(text.contains("RUNNING HANDLER [play handler]"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .current_dir(d)
        .args(["run", "pb.yml", "--list-tasks"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "  play #1 (localhost): localhost\tTAGS: []\n    tasks:\n      r : role task\tTAGS: [t]\n      play task\tTAGS: [t]\n"
        ),
        "{text}"
    );
    assert!(!text.contains("never task"), "{text}");
}

/// `wait_for_connection` as a user meets it: a host that answers is reached at once; a host
/// whose sshd is down is tried with a new connection every `sleep` until `timeout`, then
/// fails with ansible-core's message (the others are not held up).
#[test]
fn wait_for_connection_reaches_live_hosts_and_times_out_on_dead_ones() {
    let mut fleet = Fleet::builder(2).sshd_per_host().start();
    fleet.stop_host(1);
    let (doc, out) = run_on_fleet(
        &fleet,
        "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - name: wait\n      wait_for_connection: {timeout: 3, sleep: 1, connect_timeout: 1}\n",
        &[],
    );
    assert_eq!(status(&doc, "wait", "h01").as_deref(), Some("ok"), "{doc}");
    assert_eq!(
        status(&doc, "wait", "h02").as_deref(),
        Some("failed"),
        "{doc}"
    );
    let r = result(&doc, "wait", "h02");
    assert!(
        r["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("timed out waiting for ping module test: ")),
        "{r}"
    );
    assert!(
        r["elapsed"].as_u64().is_some_and(|e| (2..=5).contains(&e)),
        "{r}"
    );
    assert_eq!(result(&doc, "wait", "h01")["elapsed"], 0, "{doc}");
    assert_eq!(out.status.code(), Some(2));
}

/// `poll: 0` as a user meets it: the run ends at once, the job goes on by itself on the host
/// (it is detached, as ansible-core's async wrapper detaches it), and a later run reads its
/// result with `async_status`.
#[test]
fn a_background_job_outlives_the_run_that_started_it() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let marker = dir.path().join("done");
    let started = std::time::Instant::now();
    let (doc, out) = run_on_fleet(
        &fleet,
        &format!(
            "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - name: bg\n      shell: sleep 2; echo finished > {}; echo out\n      async: 60\n      poll: 0\n",
            marker.display()
        ),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the run waited for the job"
    );
    assert!(!marker.exists(), "the job ran in the foreground");
    let r = result(&doc, "bg", "h01");
    assert_eq!(r["started"], true, "{r}");
    assert_eq!(r["finished"], false, "{r}");
    let jid = r["ansible_job_id"].as_str().expect("job id").to_string();
    for _ in 0..50 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(marker.exists(), "the job did not go on after the run ended");
    // A new run has no record of the job but reads its output from the host.
    let (doc, out) = run_on_fleet(
        &fleet,
        &format!(
            "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - name: status\n      async_status: {{jid: {jid}}}\n"
        ),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let r = result(&doc, "status", "h01");
    assert_eq!(r["finished"], true, "{r}");
    assert_eq!(r["rc"], 0, "{r}");
    assert_eq!(r["stdout"], "out", "{r}");
}

/// `reboot` as a user meets it on a host that really goes away: the reboot command stops the
/// host's SSH server, which comes back two seconds later with a new boot id; olympus waits on
/// new connections (growing pauses) until the boot id has changed and the test command runs.
#[test]
fn reboot_waits_for_a_host_that_goes_away_and_comes_back() {
    let mut fleet = Fleet::builder(1).sshd_per_host().start();
    if !common::fleet::is_root() {
        eprintln!("SKIPPED: stopping and starting sshd needs root");
        return;
    }
    let dir = shared_dir();
    let boot_id = dir.path().join("boot_id");
    std::fs::write(&boot_id, "before\n").expect("boot id");
    let script = fleet.reboot_script(0, 2, &format!("echo after > {}", boot_id.display()));
    let yaml = format!(
        "- hosts: fleet\n  gather_facts: false\n  become: true\n  tasks:\n    - name: reboot\n      reboot:\n        reboot_command: {cmd}\n        boot_time_command: cat {bid}\n        reboot_timeout: 60\n    - name: after\n      command: cat {bid}\n",
        cmd = serde_json::to_string(&format!("setsid -f sh -c '{script}' > /dev/null 2>&1"))
            .expect("json"),
        bid = boot_id.display()
    );
    let (doc, out) = run_on_fleet(
        &fleet,
        &yaml,
        &[
            "-e",
            &format!(
                "ansible_become_password={}",
                common::fleet::FLEET_SUDO_PASSWORD
            ),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = result(&doc, "reboot", "h01");
    assert_eq!(r["rebooted"], true, "{r}");
    assert_eq!(r["changed"], true, "{r}");
    assert!(r["elapsed"].as_u64().is_some_and(|e| e >= 2), "{r}");
    assert_eq!(result(&doc, "after", "h01")["stdout"], "after", "{doc}");
    assert!(
        fleet.sshd_log(0).matches("Server listening on").count() >= 2,
        "sshd did not start again: {}",
        fleet.sshd_log(0)
    );
}

/// A run started from code, as `heal` starts one: limited to one host, with extra vars,
/// silent, its recap returned; and a second one stopped by its switch mid-task.
#[test]
fn a_run_started_from_code_is_limited_parameterised_and_stoppable() {
    use olympus::app::run::{Listing, Report, RunRequest, run};
    use olympus::app::setup::{Connection, Sources};
    use olympus::connection::{ConnectOptions, HostDefaults};
    use olympus::exit::Outcome;
    use olympus::stop::Stop;

    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let request = |playbook: &Path, limit: &str, extra: Vec<String>, stop: Stop| RunRequest {
        playbooks: vec![playbook.to_path_buf()],
        sources: Sources {
            inventory: vec![fleet.inventory.display().to_string()],
            limit: Some(limit.to_string()),
        },
        roles_path: Vec::new(),
        gather_explicit: false,
        listing: Listing::default(),
        check: false,
        diff: false,
        extra_vars: extra,
        data_vars: Default::default(),
        tags: Vec::new(),
        skip_tags: Vec::new(),
        force_handlers: false,
        start_at_task: None,
        connection: Connection {
            options: ConnectOptions {
                known_hosts: Some(fleet.known_hosts.clone()),
                use_agent: false,
                ..ConnectOptions::default()
            },
            defaults: HostDefaults::default(),
            escalation: None,
            forks: 5,
        },
        report: Report::Silent,
        junit: None,
        report_html: None,
        profile: false,
        verbosity: 0,
        stop,
        on_signals: false,
        kill_switch: None,
        shard: None,
    };

    let marker = dir.path().join("marker");
    let pb = dir.path().join("heal.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: write\n      \
             copy: {{dest: '{}-{{{{ inventory_hostname }}}}', content: '{{{{ lag }}}}'}}\n",
            marker.display()
        ),
    )
    .expect("write");
    let target = fleet.hosts[1].name.clone();
    let ran = run(
        request(&pb, &target, vec![r#"{"lag": 301}"#.into()], Stop::new()),
        None,
    )
    .expect("run");
    assert_eq!(ran.outcome, Outcome::Ok);
    assert_eq!(ran.recap.keys().collect::<Vec<_>>(), vec![&target]);
    assert_eq!(ran.recap[&target].changed, 1);
    let written = |host: &str| std::fs::read_to_string(format!("{}-{host}", marker.display()));
    assert_eq!(written(&target).expect("the limited host's file"), "301");
    assert!(written(&fleet.hosts[0].name).is_err(), "outside the limit");

    // Stopped mid-task: the sleep is cut short and the task after it never runs.
    let pb = dir.path().join("slow.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: sleep 60\n    \
             - file: {{path: '{}-after', state: touch}}\n",
            marker.display()
        ),
    )
    .expect("write");
    let stop = Stop::new();
    let raiser = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(2));
            stop.raise();
        })
    };
    let started = std::time::Instant::now();
    let ran = run(request(&pb, "all", Vec::new(), stop), None).expect("run");
    raiser.join().expect("raiser");
    assert_eq!(ran.outcome, Outcome::Interrupted);
    assert!(
        std::fs::metadata(format!("{}-after", marker.display())).is_err(),
        "no task starts after the stop"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(55),
        "the remote sleep was stopped, not waited for"
    );
}

/// `olympus SUBCOMMAND` on the fleet's state directory (lock, unlock).
fn state_cmd(fleet: &Fleet, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_olympus"))
        .args(args)
        .env("OLYMPUS_STATE_DIR", fleet.dir.path().join("state"))
        .output()
        .expect("olympus")
}

/// The kill switch as an operator meets it: engaged, `run` is refused before any host is
/// touched (exit 5, who/when/why named); `--override-lock` runs and is recorded; released,
/// runs go again.
#[test]
fn an_engaged_kill_switch_refuses_runs_until_released_or_overridden() {
    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let marker = dir.path().join("ran");
    let pb = dir.path().join("site.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - file: {{path: '{}-{{{{ inventory_hostname }}}}', state: touch}}\n",
            marker.display()
        ),
    )
    .expect("write");
    let ran = |host: &str| std::path::Path::new(&format!("{}-{host}", marker.display())).exists();
    let status = |fleet: &Fleet| -> Value {
        let out = state_cmd(fleet, &["lock", "--status", "--output", "json"]);
        assert_eq!(out.status.code(), Some(0));
        serde_json::from_slice(&out.stdout).expect("json")
    };
    assert_eq!(status(&fleet)["engaged"], false);

    let out = state_cmd(&fleet, &["lock"]);
    assert_eq!(out.status.code(), Some(3), "a reason is required");
    let out = state_cmd(&fleet, &["lock", "--reason", "incident 7: hands off"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("kill switch engaged by "), "{text}");
    let st = status(&fleet);
    assert_eq!(st["engaged"], true);
    assert_eq!(st["lock"]["reason"], "incident 7: hands off");
    assert!(
        st["lock"]["by"].as_str().is_some_and(|b| b.contains('@')),
        "{st}"
    );

    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("the kill switch is engaged by")
            && stderr.contains("incident 7: hands off")
            && stderr.contains("--override-lock"),
        "{stderr}"
    );
    assert!(!ran(&fleet.hosts[0].name) && !ran(&fleet.hosts[1].name));
    // Listings touch no host: they are not refused.
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .arg("--list-hosts")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));

    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .arg("--override-lock")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("running anyway (--override-lock, recorded)"),
        "{stderr}"
    );
    assert!(ran(&fleet.hosts[0].name) && ran(&fleet.hosts[1].name));

    let out = state_cmd(&fleet, &["unlock"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kill switch released"));
    assert_eq!(status(&fleet)["engaged"], false);
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
}

/// Engaged while a run is in progress, the switch lets the running task finish on every
/// host and starts no task after it: "HALTED BY THE KILL SWITCH", the recap, exit 5.
#[test]
fn a_kill_switch_engaged_mid_run_halts_it_at_the_next_task() {
    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let d = dir.path().display();
    let pb = dir.path().join("slow.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    \
             - shell: touch {d}/started-{{{{ inventory_hostname }}}}; sleep 4\n    \
             - file: {{path: '{d}/after-{{{{ inventory_hostname }}}}', state: touch}}\n"
        ),
    )
    .expect("write");
    let child = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .args(["--color", "never"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let started = |h: &str| dir.path().join(format!("started-{h}")).exists();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !fleet.hosts.iter().all(|h| started(&h.name)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first task never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = state_cmd(&fleet, &["lock", "--reason", "stop the rollout"]);
    assert_eq!(out.status.code(), Some(0));
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{stdout}");
    assert!(
        stdout.contains("HALTED BY THE KILL SWITCH: engaged by")
            && stdout.contains("stop the rollout"),
        "{stdout}"
    );
    for h in &fleet.hosts {
        assert!(!dir.path().join(format!("after-{}", h.name)).exists());
        // The running task finished (changed), nothing failed or was interrupted.
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{} ", h.name)) && l.contains("ok="))
            .unwrap_or_else(|| panic!("no recap line for {}: {stdout}", h.name));
        assert!(
            line.contains("ok=1 ") && line.contains("changed=1 ") && line.contains("failed=0 "),
            "{line}"
        );
    }
}

/// Many `olympus lock` at once: one engages, the others find it engaged; the database
/// stays sound.
#[test]
fn concurrent_locks_engage_once() {
    let state = tempfile::tempdir().expect("tmp");
    let children: Vec<_> = (0..12)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_olympus"))
                .args(["lock", "--reason", &format!("reason {i}")])
                .env("OLYMPUS_STATE_DIR", state.path())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("lock")
        })
        .collect();
    let mut engaged = 0;
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        if text.starts_with("kill switch engaged by") {
            engaged += 1;
        } else {
            assert!(text.starts_with("kill switch already engaged by"), "{text}");
        }
    }
    assert_eq!(engaged, 1);
    let store = olympus::state::SqliteStore::open(state.path()).expect("open");
    assert!(store.integrity_ok().expect("integrity_check"));
}

/// Timings (#13): command results carry `start`, `end` and `delta` as Ansible words them;
/// `--output json` gives each task its wall time and each host its start and duration;
/// `--profile` lists the slowest tasks and hosts after the recap (on stderr with JSON, on
/// stdout after the text recap).
#[test]
fn timings_in_results_json_and_profile() {
    let yaml = r#"
- hosts: localhost
  gather_facts: false
  tasks:
    - name: quick
      command: "true"
    - name: slow
      command: sleep 0.4
    - name: shell too
      shell: echo hi
"#;
    let r = run_playbook(yaml, &["--profile"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let slow = result(&r.doc, "slow", "localhost");
    let delta = slow["delta"].as_str().unwrap_or_default();
    let secs: f64 = delta
        .strip_prefix("0:00:")
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1.0);
    assert!((0.4..5.0).contains(&secs), "delta {delta}: {slow}");
    for key in ["start", "end"] {
        let v = slow[key].as_str().unwrap_or_default();
        // "2026-12-05 03:15:31.123456", as Python's str() of a datetime.
        assert!(
            v.len() == 26 && v.as_bytes()[10] == b' ' && v.as_bytes()[19] == b'.',
            "{key}: {v}"
        );
    }
    assert!(result(&r.doc, "shell too", "localhost")["delta"].is_string());
    let tasks = r.doc["plays"][0]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let task = |name: &str| {
        tasks
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    let took = task("slow")["duration"].as_f64().unwrap_or(-1.0);
    assert!((0.4..5.0).contains(&took), "{}", task("slow"));
    assert!(task("quick")["duration"].as_f64().unwrap_or(-1.0) < took);
    let host = &task("slow")["hosts"]["localhost"];
    assert!(host["duration"].as_f64().unwrap_or(-1.0) >= 0.4, "{host}");
    assert!(
        host["start"].as_str().is_some_and(|s| s.ends_with('Z')),
        "{host}"
    );
    // The profile went to stderr, slowest task first.
    let at = |s: &str| r.stderr.find(s).unwrap_or(usize::MAX);
    assert!(at("TASKS BY TIME") < at("slow ("), "{}", r.stderr);
    assert!(at("slow (") < at("quick ("), "{}", r.stderr);
    assert!(
        at("HOSTS BY TIME") < at("localhost (3 tasks)"),
        "{}",
        r.stderr
    );

    // Text output: after the recap, on stdout.
    let dir = shared_dir();
    let pb = dir.path().join("play.yml");
    std::fs::write(&pb, yaml.replace("hosts: localhost", "hosts: all")).expect("write");
    let fleet = Fleet::start(1);
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .arg("--profile")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let at = |s: &str| text.find(s).unwrap_or(usize::MAX);
    assert!(at("PLAY RECAP") < at("TASKS BY TIME"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("slow ("))
        .unwrap_or_default();
    assert!(line.len() == 79 && line.ends_with('s'), "{line:?}\n{text}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("TASKS BY TIME"));
}

/// become as a user meets it: a play of several become tasks (commands, a file written as
/// root, a become_user) runs with one escalated shell per host and become user — `-vvv`
/// logs each start once, every later become command goes "on the persistent shell
/// (sudo:root)" — and the password sudo asks for every time it runs appears nowhere in the
/// output or the logs.
#[test]
fn become_tasks_share_one_escalated_shell_per_host() {
    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let pb = dir.path().join("site.yml");
    let target = format!("/tmp/olympus-become-{}", fleet.hosts[0].addr);
    std::fs::write(
        &pb,
        format!(
            r#"
- hosts: fleet
  gather_facts: false
  become: true
  vars:
    d: "{target}-{{{{ inventory_hostname }}}}"
  tasks:
    - name: as root
      command: id -u
      register: a
    - name: a directory as root
      file: {{path: "{{{{ d }}}}", state: directory, mode: "0700"}}
    - name: a file as root
      copy: {{content: "secret\n", dest: "{{{{ d }}}}/f", mode: "0600"}}
    - name: as root again
      command: id -u
      register: b
    - name: as nobody
      command: id -un
      become_user: nobody
      register: c
    - name: all as asked
      assert:
        that: [a.stdout == '0', b.stdout == '0', c.stdout == 'nobody']
      become: false
    - name: clean up
      file: {{path: "{{{{ d }}}}", state: absent}}
"#
        ),
    )
    .expect("write");
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .arg("-vvv")
        .env("OLYMPUS_BECOME_PASSWORD", FLEET_SUDO_PASSWORD)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for h in ["h01", "h02"] {
        let started = |key: &str| {
            stderr
                .matches(&format!("{h}: persistent shell ({key}) started"))
                .count()
        };
        assert_eq!(started("sudo:root"), 1, "{h}:\n{stderr}");
        assert_eq!(started("sudo:nobody"), 1, "{h}:\n{stderr}");
    }
    assert!(
        stderr
            .matches("on the persistent shell (sudo:root)")
            .count()
            >= 2 * 5,
        "{stderr}"
    );
    assert!(!stdout.contains(FLEET_SUDO_PASSWORD) && !stderr.contains(FLEET_SUDO_PASSWORD));
}
