//! Module arguments as a user meets them: a mistyped parameter, a wrong type or a
//! conflict is refused before any host is touched, with the task's file and line and the
//! nearest valid name; Ansible's aliases and value spellings are accepted; options that used
//! to be accepted and ignored now act.

mod common;

use common::fleet::Fleet;
use common::play::{run_yaml, shared_dir};

/// A playbook whose first task would leave a mark on the host, and whose `bad` task is
/// refused: the mark must not exist afterwards.
fn refused(fleet: &Fleet, bad: &str) -> (Option<i32>, String, bool) {
    let dir = shared_dir();
    let mark = dir.path().join("touched");
    let yaml = format!(
        r#"
- hosts: localhost
  gather_facts: false
  tasks:
    - name: first
      file: {{path: "{mark}", state: touch}}
    - name: bad
{bad}
"#,
        mark = mark.display()
    );
    let r = run_yaml(fleet, dir.path(), &yaml, &[]);
    (r.code, r.stderr, mark.exists())
}

#[test]
fn bad_arguments_are_refused_before_any_host_is_touched() {
    let fleet = Fleet::start(1);
    let cases = [
        (
            "      copy: {dest: /tmp/x, contnet: hi}",
            "module 'copy': unsupported parameter 'contnet'; did you mean 'content'?",
        ),
        (
            // Names are checked even when a value is still a template.
            "      file: {path: \"{{ p }}\", stat: directory}",
            "module 'file': unsupported parameter 'stat'; did you mean 'state'?",
        ),
        (
            "      lineinfile: {path: /tmp/x, line: a, insertafter: x, insertbefore: y}",
            "parameters are mutually exclusive: insertbefore|insertafter",
        ),
        (
            "      copy: {dest: /tmp/x, content: a, force: perhaps}",
            "force: 'perhaps' is not a boolean",
        ),
        (
            "      file: {path: /tmp/x, mode: 'rwx; rm -rf /'}",
            "mode: 'rwx; rm -rf /' is not a mode",
        ),
        (
            "      stat: {path: /tmp/x, checksum_algorithm: crc32}",
            "checksum_algorithm 'crc32' is not one of",
        ),
        (
            "      pause: {prompt: continue?}",
            "olympus runs unattended",
        ),
        (
            "      meta: refresh_inventory",
            "meta action 'refresh_inventory' is not supported",
        ),
        (
            "      template: {src: a.j2, dest: /tmp/x, newline_sequence: \"\\r\\n\"}",
            "newline_sequence \"\\r\\n\" is not supported by olympus yet",
        ),
        (
            "      dnf: {name: [\"@nodejs:18/minimal\"]}",
            "@nodejs:18/minimal: dnf module streams are not supported by olympus yet",
        ),
        (
            "      dnf: {name: vim, list: installed}",
            "parameters are mutually exclusive: name|list",
        ),
    ];
    for (task, want) in cases {
        let (code, stderr, touched) = refused(&fleet, task);
        assert_eq!(code, Some(3), "{task}: {stderr}");
        assert!(
            stderr.contains("play.yml:7:7"),
            "{task}: no file:line in {stderr}"
        );
        assert!(
            stderr.contains(want),
            "{task}: expected '{want}' in {stderr}"
        );
        assert!(!touched, "{task}: the first task ran before the refusal");
    }
    // A keyword olympus cannot honour yet is refused at its own line and column.
    let (code, stderr, touched) = refused(&fleet, "      command: /bin/true\n      throttle: 2");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("play.yml:9:7: keyword 'throttle' is not supported by olympus yet"),
        "{stderr}"
    );
    assert!(!touched);
}

#[test]
fn aliases_value_spellings_and_options_that_used_to_be_ignored() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let d = dir.path().join("work");
    std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
    std::fs::write(
        dir.path().join("templates/list.j2"),
        "items:\n  {% for i in [1, 2] %}\n  - {{ i }}\n  {% endfor %}\n",
    )
    .expect("template");
    let yaml = format!(
        r#"
- hosts: localhost
  gather_facts: false
  vars:
    d: "{d}"
  tasks:
    - name: alias dest and an integer mode
      file: {{dest: "{{{{ d }}}}/tree/sub", state: directory, mode: 0700}}
    - name: thirsty is force
      copy: {{content: "k=1\nx\nk=2\n", dest: "{{{{ d }}}}/multi", thirsty: "yes"}}
    - name: firstmatch
      lineinfile: {{path: "{{{{ d }}}}/multi", regexp: "^k=", line: "k=first", firstmatch: "True"}}
    - name: lstrip_blocks
      template: {{src: list.j2, dest: "{{{{ d }}}}/list.yml", lstrip_blocks: on}}
    - name: recurse
      file: {{path: "{{{{ d }}}}/tree", state: directory, recurse: true, mode: "u=rwX,go=rX"}}
    - name: recurse again
      file: {{path: "{{{{ d }}}}/tree", state: directory, recurse: true, mode: "u=rwX,go=rX"}}
    - name: hidden below -v
      debug: {{msg: hidden, verbosity: 1}}
"#,
        d = d.display()
    );
    let r = run_yaml(&fleet, dir.path(), &yaml, &[]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.stdout);
    assert_eq!(
        std::fs::read_to_string(d.join("multi")).expect("multi"),
        "k=first\nx\nk=2\n",
        "firstmatch replaces the first match"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("list.yml")).expect("list"),
        "items:\n  - 1\n  - 2\n",
        "lstrip_blocks strips the indentation before block tags"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(d.join(p))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("tree/sub"), 0o755, "recurse reached the subdirectory");
    assert_eq!(r.result("recurse", "localhost")["status"], "changed");
    assert_eq!(r.result("recurse again", "localhost")["status"], "ok");
    assert_eq!(
        r.result("hidden below -v", "localhost")["status"],
        "skipped"
    );
}

#[test]
fn syntax_check_lists_every_problem_with_file_and_line() {
    let dir = shared_dir();
    std::fs::write(
        dir.path().join("more.yml"),
        "- name: in an imported file\n  copy: {dest: /tmp/x, contnet: a}\n",
    )
    .expect("more");
    let pb = dir.path().join("site.yml");
    std::fs::write(
        &pb,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: unknown module\n      expect: {command: passwd}\n    - name: typo in a keyword\n      debug: msg=x\n      whenn: true\n    - import_tasks: more.yml\n    - name: bad template\n      debug: {msg: \"{{ x \"}\n    - name: fine\n      debug: msg=ok\n- hosts: all\n  gather_facts: false\n  tasks:\n    - name: second play\n      file: {path: /tmp/x, stat: directory}\n",
    )
    .expect("site");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_olympus"))
        .args(["run", "--syntax-check"])
        .arg(&pb)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    for want in [
        "site.yml:5:7: module 'expect' is not implemented by olympus yet",
        "site.yml:8:7",
        "whenn",
        "more.yml:1:3",
        "unsupported parameter 'contnet'",
        "site.yml:10:7",
        "site.yml:17:7",
        "unsupported parameter 'stat'",
    ] {
        assert!(err.contains(want), "missing '{want}' in:\n{err}");
    }
}
