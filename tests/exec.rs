//! `olympus exec` against real sshd: many hosts, unreachable hosts, host keys, quoting,
//! non-UTF-8 output, become.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::fleet::{FLEET_SUDO_PASSWORD, Fleet};
use serde_json::Value;

fn olympus(fleet: &Fleet, known_hosts: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_olympus"))
        .arg("exec")
        .arg(args[0])
        .arg("-i")
        .arg(&fleet.inventory)
        .arg("--known-hosts")
        .arg(known_hosts)
        .arg("--ssh-config")
        .arg("/dev/null")
        .args(&args[1..])
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("OLYMPUS_BECOME_PASSWORD")
        .output()
        .expect("run olympus")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn fifty_hosts_all_answer_correctly() {
    let fleet = Fleet::start(50);
    let out = olympus(
        &fleet,
        &fleet.known_hosts,
        &[
            "all",
            "--output",
            "json",
            "--",
            "echo",
            "$(id -un)",
            "$SSH_CONNECTION",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 50);
    for (line, host) in lines.iter().zip(&fleet.hosts) {
        assert_eq!(
            line["host"],
            host.name.as_str(),
            "results in inventory order"
        );
        assert_eq!(line["status"], "ok");
        assert_eq!(line["rc"], 0);
        let fields: Vec<&str> = line["stdout"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(fields.len(), 5, "{line}");
        assert_eq!(fields[0], fleet.user);
        assert_eq!(
            fields[3],
            host.addr.to_string(),
            "{}: the answer came from its own address",
            host.name
        );
    }

    // The same command folded: every host printed the same thing.
    let out = olympus(&fleet, &fleet.known_hosts, &["all", "--", "echo", "same"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, "==== h[01-50] (50 hosts) rc=0 ====\nsame\n");
}

#[test]
fn a_stopped_host_is_unreachable_and_the_rest_finish() {
    let mut fleet = Fleet::builder(4).sshd_per_host().start();
    fleet.stop_host(2);
    let out = olympus(
        &fleet,
        &fleet.known_hosts,
        &["all", "--output", "json", "--", "echo", "up"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4);
    for (i, line) in lines.iter().enumerate() {
        if i == 2 {
            assert_eq!(line["status"], "unreachable");
            assert!(
                line["error"]
                    .as_str()
                    .unwrap_or("")
                    .contains("cannot connect"),
                "{line}"
            );
        } else {
            assert_eq!(line["status"], "ok", "{line}");
            assert_eq!(line["stdout"], "up\n");
        }
    }
}

#[test]
fn failed_commands_exit_2_and_fold_by_result() {
    let fleet = Fleet::start(3);
    let out = olympus(
        &fleet,
        &fleet.known_hosts,
        &[
            "all",
            "--",
            "case $SSH_CONNECTION in *.2\\ *) echo two; exit 3;; *) echo other;; esac",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("==== h[01,03] (2 hosts) rc=0 ====\nother\n"),
        "{text}"
    );
    assert!(
        text.contains("==== h02 (1 host) rc=3 ====\ntwo\n"),
        "{text}"
    );
}

#[test]
fn host_keys_strict_changed_and_accept_new() {
    let fleet = Fleet::start(3);
    let dir = tempfile::tempdir().expect("tmp");

    // Unknown hosts are refused in strict mode (the default).
    let empty = dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").expect("write");
    let out = olympus(&fleet, &empty, &["all", "--output", "json", "--", "true"]);
    assert_eq!(out.status.code(), Some(4));
    for line in json_lines(&out) {
        assert_eq!(line["status"], "unreachable");
        assert!(
            line["error"]
                .as_str()
                .unwrap_or("")
                .contains("not in known_hosts"),
            "{line}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&empty).expect("read"),
        "",
        "strict records nothing"
    );

    // accept-new records unknown keys, after which strict mode accepts them.
    let out = olympus(
        &fleet,
        &empty,
        &["all", "--host-key-checking", "accept-new", "--", "true"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let learned = std::fs::read_to_string(&empty).expect("read");
    assert_eq!(learned.lines().count(), 3, "{learned}");
    for h in &fleet.hosts {
        assert!(
            learned.contains(&format!("[{}]:{} ssh-ed25519 ", h.addr, h.port)),
            "{learned}"
        );
    }
    let out = olympus(&fleet, &empty, &["all", "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A changed key is refused, in strict and in accept-new mode, and never overwritten.
    let wrong = dir.path().join("wrong_known_hosts");
    let good = std::fs::read_to_string(&fleet.known_hosts).expect("read");
    let h = &fleet.hosts[1];
    let tampered = good
        .lines()
        .map(|l| {
            if l.starts_with(&format!("[{}]:{} ", h.addr, h.port)) {
                format!("[{}]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ", h.addr, h.port)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(&wrong, &tampered).expect("write");
    for mode in ["strict", "accept-new"] {
        let out = olympus(
            &fleet,
            &wrong,
            &[
                "all",
                "--output",
                "json",
                "--host-key-checking",
                mode,
                "--",
                "true",
            ],
        );
        assert_eq!(out.status.code(), Some(4), "{mode}");
        let lines = json_lines(&out);
        assert_eq!(lines[0]["status"], "ok");
        assert_eq!(lines[2]["status"], "ok");
        assert_eq!(lines[1]["status"], "unreachable");
        let err = lines[1]["error"].as_str().unwrap_or("");
        assert!(err.contains("HOST KEY CHANGED"), "{mode}: {err}");
        assert!(err.contains(":2"), "names the known_hosts line: {err}");
        assert_eq!(
            std::fs::read_to_string(&wrong).expect("read"),
            tampered,
            "{mode} left known_hosts alone"
        );
    }
}

#[test]
fn quotes_dollars_newlines_and_non_utf8_round_trip() {
    let fleet = Fleet::start(1);
    let tricky = "it's \"quoted\" $HOME `x` \\ back\nsecond line\t tab";
    let script = format!("printf '%s' {}", olympus::connection::quote(tricky));
    let out = olympus(
        &fleet,
        &fleet.known_hosts,
        &["all", "--output", "json", "--", &script],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out)[0]["stdout"], tricky);

    // Bytes that are not UTF-8 come back exactly, raw in text mode and as base64 in JSON.
    let bytes_cmd = "printf '\\377\\376a\\000b\\n'";
    let out = olympus(
        &fleet,
        &fleet.known_hosts,
        &["all", "--no-fold", "--", bytes_cmd],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected: &[u8] = b"\xff\xfea\x00b\n";
    let body = out
        .stdout
        .splitn(2, |b| *b == b'\n')
        .nth(1)
        .expect("a header line, then the output");
    assert_eq!(body, expected);
    let out = olympus(
        &fleet,
        &fleet.known_hosts,
        &["all", "--output", "json", "--", bytes_cmd],
    );
    let line = &json_lines(&out)[0];
    let raw = data_encoding::BASE64
        .decode(
            line["stdout_base64"]
                .as_str()
                .expect("base64 field")
                .as_bytes(),
        )
        .expect("base64");
    assert_eq!(raw, expected);

    // Arguments after -- are joined with spaces and run by /bin/sh, like ansible -a.
    let out = olympus(
        &fleet,
        &fleet.known_hosts,
        &[
            "all", "--output", "json", "--", "echo", "a", "&&", "echo", "b",
        ],
    );
    assert_eq!(json_lines(&out)[0]["stdout"], "a\nb\n");
}

#[test]
fn become_runs_as_root_from_an_unprivileged_login() {
    let fleet = Fleet::start(2);
    if fleet.user == "root" || !Path::new("/usr/bin/sudo").exists() {
        panic!("this test needs to run as root with sudo installed (tests/run-all.sh installs it)");
    }
    let run = |pw: Option<&str>, args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_olympus"));
        c.arg("exec")
            .arg("all")
            .arg("-i")
            .arg(&fleet.inventory)
            .arg("--known-hosts")
            .arg(&fleet.known_hosts)
            .arg("--ssh-config")
            .arg("/dev/null")
            .args(["--output", "json", "-vvv"])
            .args(args)
            .env_remove("OLYMPUS_BECOME_PASSWORD")
            .env_remove("SSH_AUTH_SOCK");
        if let Some(pw) = pw {
            c.env("OLYMPUS_BECOME_PASSWORD", pw);
        }
        c.output().expect("run")
    };

    let out = run(None, &["--", "id", "-un"]);
    assert_eq!(
        json_lines(&out)[0]["stdout"],
        format!("{}\n", fleet.user),
        "without become: the login user"
    );

    let out = run(
        Some(FLEET_SUDO_PASSWORD),
        &["--become", "--", "id -u; whoami"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for line in json_lines(&out) {
        assert_eq!(line["stdout"], "0\nroot\n", "{line}");
        assert_eq!(line["stderr"], "", "the sudo prompt is not shown: {line}");
    }
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        !all.contains(FLEET_SUDO_PASSWORD),
        "the become password must never be printed or logged"
    );

    // Without a password sudo refuses at once instead of hanging; a wrong one is reported.
    let out = run(None, &["--become", "--", "id -u"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        json_lines(&out)[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("password is required")
    );
    let out = run(
        Some("wrong-password"),
        &["--become", "--timeout", "20", "--", "id -u"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = json_lines(&out)[0]["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(err.contains("incorrect password"), "{err}");
}

#[test]
fn list_hosts_and_limit() {
    let fleet = Fleet::start(3);
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .args(["exec", "all", "-i"])
        .arg(&fleet.inventory)
        .args(["--limit", "~h0[12]", "--list-hosts"])
        .output()
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "  hosts (2):\n    h01\n    h02\n"
    );
}

#[test]
fn a_host_that_never_answers_times_out_without_stalling_the_others() {
    let fleet = Fleet::start(2);
    // A "host" that accepts TCP connections and then says nothing, like a hung server.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    // Detached: it dies with the test process.
    std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(1) {
            conns.push(c);
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    });
    let dir = tempfile::tempdir().expect("tmp");
    let inv = dir.path().join("hosts");
    let mut text = std::fs::read_to_string(&fleet.inventory).expect("inventory");
    text = text.replacen(
        "[fleet]\n",
        &format!("[fleet]\nhung ansible_host=127.0.0.1 ansible_port={port}\n"),
        1,
    );
    std::fs::write(&inv, text).expect("write");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .args(["exec", "all", "-i"])
        .arg(&inv)
        .arg("--known-hosts")
        .arg(&fleet.known_hosts)
        .args([
            "--ssh-config",
            "/dev/null",
            "--connect-timeout",
            "2",
            "--output",
            "json",
            "--",
            "echo",
            "fine",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["host"], "hung");
    assert_eq!(lines[0]["status"], "unreachable");
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("timed out"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["stdout"], "fine\n");
    assert_eq!(lines[2]["stdout"], "fine\n");
    // Not a speed assertion: only that the 2 s connect timeout, not the hung host's 60 s,
    // bounded the run (the margin is wide on purpose).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the hung host stalled the run"
    );
}

#[test]
fn password_authentication_only_when_a_password_is_given() {
    let fleet = Fleet::builder(1).password_auth().start();
    let dir = tempfile::tempdir().expect("tmp");
    let missing_key = dir.path().join("no-such-key");
    let run = |pw: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_olympus"));
        c.args(["exec", "all", "-i"])
            .arg(format!("{}:{},", fleet.hosts[0].addr, fleet.hosts[0].port))
            .args(["-u", &fleet.user, "--private-key"])
            .arg(&missing_key)
            .arg("--known-hosts")
            .arg(&fleet.known_hosts)
            .args([
                "--ssh-config",
                "/dev/null",
                "--output",
                "json",
                "--",
                "id",
                "-un",
            ])
            .env("HOME", dir.path())
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("OLYMPUS_PASSWORD");
        if let Some(pw) = pw {
            c.env("OLYMPUS_PASSWORD", pw);
        }
        c.output().expect("run")
    };
    let out = run(None);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = json_lines(&out)[0]["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(err.contains("no-such-key (does not exist)"), "{err}");
    assert!(!err.contains(", password"), "no password was tried: {err}");
    let out = run(Some(FLEET_SUDO_PASSWORD));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out)[0]["stdout"], format!("{}\n", fleet.user));
    let out = run(Some("not-the-password"));
    assert_eq!(out.status.code(), Some(4));
    assert!(
        json_lines(&out)[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("password")
    );
}

#[test]
fn become_with_su_answers_its_prompt() {
    use common::fleet::{SU_PASSWORD, SU_USER};
    let fleet = Fleet::start(1);
    if fleet.user == "root" {
        panic!("this test needs to run as root (it creates the fleet users)");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .args(["exec", "all", "-i"])
        .arg(&fleet.inventory)
        .arg("--known-hosts")
        .arg(&fleet.known_hosts)
        .args([
            "--ssh-config",
            "/dev/null",
            "--output",
            "json",
            "--timeout",
            "20",
        ])
        .args([
            "--become",
            "--become-method",
            "su",
            "--become-user",
            SU_USER,
        ])
        .args(["--", "id", "-un"])
        .env("OLYMPUS_BECOME_PASSWORD", SU_PASSWORD)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = &json_lines(&out)[0];
    assert_eq!(
        line["stdout"].as_str().map(str::trim),
        Some(SU_USER),
        "{line}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SU_PASSWORD));
}
