//! What an operator sees at a terminal: `olympus run` under a real pseudo-terminal (util-linux
//! `script`) streams each host's line the moment that host finishes, draws a live bar per
//! task naming the hosts still awaited, and draws banners as wide as the terminal; on a pipe
//! only plain lines. `-vv` logs connection events, `-vvv` the commands sent (never a
//! `no_log` task's).

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fleet::Fleet;

/// A POSIX-shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `cmd` as one shell command line (environment included).
fn shell_line(cmd: &Command) -> String {
    let mut words: Vec<String> = vec!["exec".into(), "env".into()];
    // env takes its -u options before the assignments.
    for (k, v) in cmd.get_envs() {
        if v.is_none() {
            words.push("-u".into());
            words.push(quote(&k.to_string_lossy()));
        }
    }
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            words.push(quote(&format!(
                "{}={}",
                k.to_string_lossy(),
                v.to_string_lossy()
            )));
        }
    }
    words.push(quote(&cmd.get_program().to_string_lossy()));
    words.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    words.join(" ")
}

/// Without the terminal's escape sequences and carriage returns.
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[test]
fn run_at_a_terminal_streams_hosts_and_draws_a_live_bar() {
    let fleet = Fleet::start(2);
    let dir = tempfile::tempdir().expect("tmp");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let go = dir.path().join("go");
    let [h1, h2] = [0, 1].map(|i| fleet.hosts[i].name.clone());
    let pb = dir.path().join("pb.yml");
    // The second host's task lasts until the test has seen the first host's line.
    std::fs::write(
        &pb,
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: wait for the go file on {h2}\n      shell: '[ \"{{{{ inventory_hostname }}}}\" != {h2} ] || while [ ! -e {go} ]; do sleep 0.1; done'\n",
            go = go.display()
        ),
    )
    .expect("playbook");
    let mut run = fleet.olympus("run", &fleet.inventory);
    run.arg(&pb);
    let line = format!("stty cols 120 rows 40; {}", shell_line(&run));
    let mut child = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs olympus on a pseudo-terminal");
    let seen = Arc::new(Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        let mut out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = seen.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        })
    };
    let now = || plain(&seen.lock().map(|s| s.clone()).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(60);
    // The first host's line arrives while the second host's task still runs, and the bar
    // says which host it waits on.
    while !(now().contains(&format!("changed: [{h1}]"))
        && now().contains(&format!("waiting on {h2}")))
    {
        assert!(
            Instant::now() < deadline,
            "no streamed line and bar: {}",
            now()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !now().contains(&format!("changed: [{h2}]")),
        "{h2} cannot be done yet: {}",
        now()
    );
    std::fs::write(&go, "").expect("go");
    let status = child.wait().expect("script ends");
    reader.join().expect("reader");
    let all = now();
    assert!(status.success(), "{all}");
    assert!(all.contains(&format!("changed: [{h2}]")), "{all}");
    assert!(all.contains("PLAY RECAP"), "{all}");
    let raw = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(raw.contains("\x1b[2K"), "the bar is redrawn in place");
    // Banners are as wide as the terminal (ansible-core: columns - 1 stars and text).
    let banner = all
        .lines()
        .find(|l| l.starts_with("TASK [wait for the go file"))
        .expect("task banner");
    assert_eq!(banner.trim_end().chars().count(), 120, "{banner:?}");

    // On a pipe: plain lines, no bar, 79-column banners.
    std::fs::remove_file(&go).expect("rm");
    std::fs::write(&go, "").expect("go");
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}{err}");
    assert!(
        !text.contains('\x1b') && !err.contains("waiting on"),
        "{text}{err}"
    );
    let banner = text
        .lines()
        .find(|l| l.starts_with("TASK [wait for the go file"))
        .expect("task banner");
    assert_eq!(banner.chars().count(), 80, "{banner:?}");
}

#[test]
fn verbose_levels_log_connections_and_commands_but_never_a_no_log_task() {
    let fleet = Fleet::start(1);
    let dir = tempfile::tempdir().expect("tmp");
    let pb = dir.path().join("pb.yml");
    std::fs::write(
        &pb,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo visible-marker\n    - command: echo hidden-s3cret\n      no_log: true\n    - command: echo third\n",
    )
    .expect("playbook");
    let run = |v: &str| {
        fleet
            .olympus("run", &fleet.inventory)
            .arg(&pb)
            .arg(v)
            .output()
            .expect("run")
    };
    let h = &fleet.hosts[0];
    let out = run("-vv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for want in [
        format!(
            "{}: connecting to {}:{} as {}",
            h.name, h.addr, h.port, fleet.user
        ),
        format!("[{}]:{}: host key ssh-ed25519 SHA256:", h.addr, h.port),
        format!("{}: authenticated as {} by public key", h.name, fleet.user),
        format!("{}: channel", h.name),
        format!("{}: persistent shell started", h.name),
    ] {
        assert!(err.contains(&want), "-vv lacks {want:?}:\n{err}");
    }
    assert!(
        !err.contains("visible-marker"),
        "-vv shows no commands:\n{err}"
    );

    let out = run("-vvv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("visible-marker"),
        "-vvv shows the commands:\n{err}"
    );
    assert!(err.contains("(not shown: no_log)"), "{err}");
    assert!(
        !err.contains("hidden-s3cret")
            && !String::from_utf8_lossy(&out.stdout).contains("hidden-s3cret"),
        "a no_log task's command was logged:\n{err}"
    );
}

/// A templated play name is shown rendered with the play's vars and the extra vars, as
/// ansible-core 2.19 shows it (`PLAY [fleet playvar]`, `PLAY [web playvar]` with
/// `-e target=web`); something undefined there stops the run with its place, as there.
#[test]
fn a_templated_play_name_is_rendered() {
    let dir = tempfile::tempdir().expect("tmp");
    let pb = dir.path().join("pb.yml");
    std::fs::write(
        &pb,
        "- name: \"{{ target | default('fleet') }} {{ pv }}\"\n  hosts: localhost\n  gather_facts: false\n  vars: {pv: playvar}\n  tasks:\n    - debug: msg=x\n- name: \"{{ nope }}\"\n  hosts: localhost\n  gather_facts: false\n  tasks:\n    - debug: msg=y\n",
    )
    .expect("playbook");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_olympus"))
            .arg("run")
            .arg(&pb)
            .args(extra)
            .env("OLYMPUS_STATE_DIR", dir.path().join("state"))
            .output()
            .expect("run")
    };
    let out = run(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("PLAY [fleet playvar] **"), "{text}");
    assert!(
        err.contains("pb.yml:7:3: Error processing keyword 'name':") && err.contains("nope"),
        "{err}"
    );
    assert_ne!(out.status.code(), Some(0));
    let out = run(&["-e", "target=web"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("PLAY [web playvar] **"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
