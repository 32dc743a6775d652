//! The `olympus` command line: help, version, completions, exit codes, colour.

use std::process::{Command, Output};

fn olympus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_olympus"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run olympus")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_and_help_with_examples() {
    let v = olympus(&["--version"]);
    assert!(v.status.success());
    assert_eq!(
        stdout(&v).trim(),
        format!("olympus {}", env!("CARGO_PKG_VERSION"))
    );

    let h = olympus(&["--help"]);
    assert!(h.status.success());
    let text = stdout(&h);
    for needle in [
        "run",
        "exec",
        "inventory",
        "completions",
        "Examples:",
        "--color",
        "Exit codes",
    ] {
        assert!(text.contains(needle), "--help lacks {needle:?}:\n{text}");
    }
    for sub in ["run", "exec", "inventory", "completions"] {
        let h = olympus(&[sub, "--help"]);
        assert!(h.status.success(), "{sub} --help");
        assert!(
            stdout(&h).contains("Examples:"),
            "{sub} --help has no examples"
        );
    }
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef olympus"),
        ("fish", "complete -c olympus"),
    ] {
        let o = olympus(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains(marker), "{shell} script lacks {marker:?}");
        assert!(
            text.contains("inventory"),
            "{shell} script does not know the subcommands"
        );
    }
}

#[test]
fn usage_errors_exit_3() {
    let o = olympus(&["inventory", "--bogus"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = olympus(&["inventory"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "a view (--list/--host/--graph) is required"
    );
    let o = olympus(&["nosuchcommand"]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn bad_inventory_exits_3_naming_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("hosts.yml");
    std::fs::write(&inv, "all:\n  hosts:\n    web1:\n  childern:\n    db: {}\n").expect("write");
    let o = olympus(&["inventory", "-i", inv.to_str().expect("utf8"), "--list"]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(err.contains("hosts.yml:4:3"), "{err}");
    assert!(err.contains("did you mean 'children'"), "{err}");
    assert!(stdout(&o).is_empty(), "nothing half-printed on stdout");

    let o = olympus(&["inventory", "-i", "/no/such/inventory", "--list"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("does not exist"));

    let o = olympus(&["inventory", "-i", "a,b,", "--host", "c"]);
    assert_eq!(o.status.code(), Some(3));
    let o = olympus(&["inventory", "-i", "a,b,", "--graph", "nogroup"]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn no_inventory_means_implicit_localhost_only() {
    let o = olympus(&["inventory", "--host", "localhost"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["ansible_connection"], "local");
    let o = olympus(&["inventory", "--graph"]);
    assert_eq!(stdout(&o).trim(), "@all:\n  |--@ungrouped:");
}

#[test]
fn color_flag_and_no_color() {
    // A warning is logged to stderr: an undefined child group is created with a warning.
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("hosts");
    std::fs::write(&inv, "[p:children]\nmissing\n").expect("write");
    let inv = inv.to_str().expect("utf8");

    let always = olympus(&["--color", "always", "inventory", "-i", inv, "--graph"]);
    assert!(always.status.success());
    assert!(stderr(&always).contains("missing"), "{}", stderr(&always));
    assert!(
        stderr(&always).contains("\u{1b}["),
        "--color always colours even a pipe"
    );

    let never = olympus(&["--color", "never", "inventory", "-i", inv, "--graph"]);
    assert!(stderr(&never).contains("missing"));
    assert!(!stderr(&never).contains("\u{1b}["));

    // auto on a pipe: no colour; NO_COLOR must not turn an explicit 'always' off.
    let auto = olympus(&["inventory", "-i", inv, "--graph"]);
    assert!(!stderr(&auto).contains("\u{1b}["));
    let o = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .args(["--color", "always", "inventory", "-i", inv, "--graph"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    assert!(stderr(&o).contains("\u{1b}["));

    let quiet = olympus(&["-q", "inventory", "-i", inv, "--graph"]);
    assert!(!stderr(&quiet).contains("missing"), "-q hides warnings");
}

#[test]
fn the_readme_playbook_runs_against_the_implicit_localhost() {
    let o = olympus(&["run", "playbooks/hello.yml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("PLAY [Say hello from olympus]"), "{out}");
    assert!(out.contains("changed: [localhost]"), "{out}");
    assert!(
        out.contains("\"msg\": \"olympus ran on localhost: Linux"),
        "{out}"
    );
    assert!(
        out.contains("localhost                  : ok=2    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0"),
        "{out}"
    );
    let o = olympus(&["run", "playbooks/hello.yml", "-i", "/no/such/inventory"]);
    assert_eq!(o.status.code(), Some(3));
}

/// The README's heal example: a Nagios-style disk check on the implicit localhost. The
/// disk here is whatever it is, so the check is made to fire by a copy whose thresholds are
/// 0%: the rule acts (dry run: would) and the playbook it names runs on localhost in check
/// mode.
#[test]
fn the_readme_heal_example_evaluates_on_the_implicit_localhost() {
    let state = tempfile::tempdir().expect("state");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_olympus"))
            .args(args)
            .env("OLYMPUS_STATE_DIR", state.path())
            .output()
            .expect("olympus")
    };
    let o = run(&["heal", "heal/disk.yml", "--once", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("root-disk-full: "), "{}", stdout(&o));

    let dir = tempfile::tempdir().expect("tmp");
    let rules = std::fs::read_to_string("heal/disk.yml")
        .expect("rules")
        .replace("-ge 90", "-ge 0")
        .replace("for: 2", "for: 1");
    std::fs::write(dir.path().join("disk.yml"), rules).expect("rules");
    std::fs::copy("heal/clean-tmp.yml", dir.path().join("clean-tmp.yml")).expect("playbook");
    let o = run(&[
        "heal",
        &dir.path().join("disk.yml").display().to_string(),
        "--once",
        "--dry-run",
    ]);
    let out = stdout(&o);
    assert!(
        out.contains("root-disk-full: localhost [value \"CRITICAL\"]: act (dry run: would): runs"),
        "{out}"
    );
    let o = run(&[
        "run",
        "heal/clean-tmp.yml",
        "--check",
        "-l",
        "localhost",
        "-e",
        r#"{"heal": {"host": "localhost"}, "used": "95"}"#,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("/tmp cleared on localhost (the disk was 95% full)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn the_open_files_limit_is_respected_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let pb = dir.path().join("site.yml");
    std::fs::write(
        &pb,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: /bin/true\n",
    )
    .expect("write");
    let hosts: String = (1..=20).map(|i| format!("h{i},")).collect();
    let bin = env!("CARGO_BIN_EXE_olympus");
    // Hard limit 70: after the reserve, room for 6 connections.
    let run = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 70; ulimit -Hn 70; exec {bin} run {} -i {hosts}",
            pb.display()
        ))
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(3), "{}", stderr(&run));
    assert!(stderr(&run).contains("ulimit -n"), "{}", stderr(&run));
    // A play keeps every host's connection open, so fewer forks would not help it.
    assert!(stderr(&run).contains("--limit"), "{}", stderr(&run));
    assert!(
        !stderr(&run).contains("lower -f/--forks"),
        "{}",
        stderr(&run)
    );
    let exec = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 70; ulimit -Hn 70; exec {bin} exec all -i {hosts} -- true"
        ))
        .output()
        .expect("exec");
    assert_eq!(exec.status.code(), Some(3), "{}", stderr(&exec));
    assert!(
        stderr(&exec).contains("lower -f/--forks"),
        "{}",
        stderr(&exec)
    );
}

/// The manual page, as `man` shows it, and one page per subcommand with --dir.
#[test]
fn the_manual_page_renders_with_man() {
    let page = olympus(&["man"]);
    assert_eq!(page.status.code(), Some(0), "{}", stderr(&page));
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("olympus.1");
    std::fs::write(&file, &page.stdout).expect("page");
    let shown = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man (tests/run-all.sh installs man-db)");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("NAME") && text.contains("olympus - Agentless"),
        "{text}"
    );
    for sub in [
        "olympus-run(1)",
        "olympus-heal(1)",
        "olympus-report(1)",
        "olympus-lock(1)",
    ] {
        assert!(text.contains(sub), "{sub} missing:\n{text}");
    }
    let out = olympus(&["man", "--dir", &dir.path().display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let run = Command::new("man")
        .arg("-l")
        .arg(dir.path().join("olympus-run.1"))
        .env("MANPAGER", "cat")
        .output()
        .expect("man");
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        text.contains("--report") && text.contains("--check"),
        "{text}"
    );
}

/// A connection type olympus does not have is refused before any host is touched.
#[test]
fn an_unsupported_connection_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let inv = dir.path().join("hosts.ini");
    std::fs::write(
        &inv,
        "[web]\nweb1 ansible_connection=local\nc1 ansible_connection=docker\n",
    )
    .expect("inventory");
    let pb = dir.path().join("pb.yml");
    let marker = dir.path().join("ran");
    std::fs::write(
        &pb,
        format!(
            "- hosts: web\n  gather_facts: false\n  tasks:\n    - command: touch {}\n",
            marker.display()
        ),
    )
    .expect("playbook");
    let o = olympus(&[
        "run",
        "-i",
        &inv.display().to_string(),
        &pb.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("host 'c1': ansible_connection 'docker' is not supported"),
        "{}",
        stderr(&o)
    );
    assert!(!marker.exists(), "a task ran on web1");
}

/// A filter or test olympus does not have (a project's own Python plugin) is refused
/// before any host is touched, with its place — not when its task runs.
#[test]
fn an_unknown_filter_or_test_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let marker = dir.path().join("ran");
    for (task, want) in [
        (
            "debug: {msg: \"{{ users | my_company_filter }}\"}",
            "filter 'my_company_filter' is unknown to olympus",
        ),
        (
            "debug: msg=x\n      when: inventory_hostname is our_test",
            "test 'our_test' is unknown to olympus",
        ),
    ] {
        let pb = dir.path().join("pb.yml");
        std::fs::write(
            &pb,
            format!(
                "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - command: touch {}\n    - {task}\n",
                marker.display()
            ),
        )
        .expect("playbook");
        let o = olympus(&["run", &pb.display().to_string()]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("pb.yml:5:7") && stderr(&o).contains(want),
            "{}",
            stderr(&o)
        );
        assert!(!marker.exists(), "the first task ran");
    }
    // Ansible's own filters and tests are known.
    let pb = dir.path().join("ok.yml");
    std::fs::write(
        &pb,
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - debug: {msg: \"{{ [3, 1] | sort | map('string') | join(',') | to_json | b64encode | regex_replace('=', '') }}\"}\n      when: (1 is number) and ('a' is match('a')) and ([] is iterable)\n",
    )
    .expect("ok");
    let o = olympus(&["run", &pb.display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}
