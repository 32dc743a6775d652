//! The connection layer against real sshd: channels, MaxSessions, timeouts, signals,
//! atomic file transfer, ProxyJump and encrypted keys.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::fleet::Fleet;
use olympus::connection::{
    ConnectOptions, Connection, ConnectionError, ExecRequest, FileAttrs, HostKeyChecking, Secret,
    SshConfig, Target, Transport,
};
use serde_json::json;

fn opts(fleet: &Fleet) -> ConnectOptions {
    ConnectOptions {
        known_hosts: Some(fleet.known_hosts.clone()),
        use_agent: false,
        ..Default::default()
    }
}

fn target(fleet: &Fleet, i: usize, opts: &ConnectOptions) -> Target {
    let h = &fleet.hosts[i];
    let vars = json!({
        "ansible_host": h.addr.to_string(),
        "ansible_port": h.port,
        "ansible_user": fleet.user,
        "ansible_ssh_private_key_file": fleet.key.to_string_lossy(),
    });
    Target::resolve(&h.name, vars.as_object().expect("map"), opts).expect("target")
}

async fn connect(fleet: &Fleet, i: usize) -> Connection {
    let o = opts(fleet);
    Connection::open(&target(fleet, i, &o), &o)
        .await
        .expect("connect")
}

async fn run(c: &Connection, cmd: &str) -> olympus::connection::ExecOutput {
    c.exec(ExecRequest::new(cmd)).await.expect("exec")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_max_sessions_concurrent_commands_on_one_connection() {
    let fleet = Fleet::start(1);
    let c = connect(&fleet, 0).await;
    // sshd allows 10 sessions per connection (MaxSessions); ask for 30 at once.
    let cmds: Vec<String> = (0..30).map(|i| format!("sleep 0.2; echo {i}")).collect();
    let outs =
        futures::future::join_all(cmds.iter().map(|cmd| c.exec(ExecRequest::new(cmd)))).await;
    for (i, out) in outs.into_iter().enumerate() {
        let out = out.unwrap_or_else(|e| panic!("command {i}: {e}"));
        assert_eq!(out.rc, Some(0));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{i}\n"));
    }
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_stderr_status_signal_and_timeout() {
    let fleet = Fleet::start(1);
    // Each command on its own SSH session (a connection's first command always is).
    let o = ConnectOptions {
        persistent_shell: false,
        ..opts(&fleet)
    };
    let c = Connection::open(&target(&fleet, 0, &o), &o)
        .await
        .expect("connect");
    let out = run(&c, "echo out; echo err >&2; exit 7").await;
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice(), out.rc),
        (&b"out\n"[..], &b"err\n"[..], Some(7))
    );

    let out = run(&c, "kill -KILL $$").await;
    assert_eq!(out.rc, None, "{out:?}");
    assert_eq!(out.signal.as_deref(), Some("KILL"));

    let e = c
        .exec(ExecRequest {
            command: "sleep 30",
            timeout: Some(Duration::from_millis(300)),
            ..Default::default()
        })
        .await
        .expect_err("times out");
    assert!(matches!(e, ConnectionError::Timeout(_)), "{e}");
    // Timed-out channels are closed, so they do not use up the host's MaxSessions.
    for _ in 0..12 {
        let e = c
            .exec(ExecRequest {
                command: "sleep 30",
                timeout: Some(Duration::from_millis(50)),
                ..Default::default()
            })
            .await;
        assert!(matches!(e, Err(ConnectionError::Timeout(_))));
    }
    let outs =
        futures::future::join_all((0..10).map(|_| c.exec(ExecRequest::new("echo ok")))).await;
    assert!(
        outs.iter()
            .all(|o| o.as_ref().is_ok_and(|o| o.stdout == b"ok\n")),
        "{outs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_transfer_sets_mode_and_an_interrupted_one_leaves_the_old_file() {
    let fleet = Fleet::start(1);
    let dir = format!("/tmp/olympus-xfer-{}", fleet.hosts[0].addr);
    let dest = format!("{dir}/app.conf");
    let c = connect(&fleet, 0).await;
    run(&c, &format!("rm -rf {dir}; mkdir -p {dir}")).await;

    let attrs = FileAttrs {
        mode: Some("0640".into()),
        ..Default::default()
    };
    let out = c
        .put_file(b"old contents\n", &dest, &attrs, None)
        .await
        .expect("put");
    assert!(out.success(), "{out:?}");
    let out = run(&c, &format!("stat -c %a {dest}; cat {dest}")).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "640\nold contents\n");

    // Start a large transfer and cut the connection while the temporary file is filling.
    let big = vec![b'x'; 256 * 1024 * 1024];
    let o = opts(&fleet);
    let t = target(&fleet, 0, &o);
    let dest2 = dest.clone();
    let transfer = tokio::spawn(async move {
        let c2 = Connection::open(&t, &o).await.expect("connect");
        c2.put_file(&big, &dest2, &FileAttrs::default(), None).await
    });
    let mut seen_temp = false;
    for _ in 0..200 {
        let out = run(&c, &format!("ls -A {dir}")).await;
        if String::from_utf8_lossy(&out.stdout).contains(".olympus.") {
            seen_temp = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        seen_temp,
        "the transfer never started writing its temporary file"
    );
    transfer.abort();
    let _ = transfer.await;

    // The remote side notices the cut, removes its temporary file and leaves the old one.
    let mut listing = String::new();
    for _ in 0..100 {
        listing =
            String::from_utf8_lossy(&run(&c, &format!("ls -A {dir}")).await.stdout).into_owned();
        if !listing.contains(".olympus.") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        listing, "app.conf\n",
        "no temporary file may be left behind"
    );
    let out = run(&c, &format!("cat {dest}")).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "old contents\n");
    run(&c, &format!("rm -rf {dir}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_jump_goes_through_the_bastion() {
    let fleet = Fleet::builder(2).sshd_per_host().start();
    let (b, t) = (&fleet.hosts[0], &fleet.hosts[1]);
    let cfg = format!(
        "Host target\n  HostName {}\n  Port {}\n  ProxyJump {}:{}\nHost *\n  User {}\n  IdentityFile {}\n",
        t.addr,
        t.port,
        b.addr,
        b.port,
        fleet.user,
        fleet.key.display()
    );
    let o = ConnectOptions {
        ssh_config: SshConfig::parse(&cfg, Path::new("test-config")),
        ..opts(&fleet)
    };
    let before = fleet.sshd_log(0).matches("Accepted publickey").count();
    let tg = Target::resolve("target", &serde_json::Map::new(), &o).expect("target");
    assert!(tg.proxy_jump.is_some());
    let c = Connection::open(&tg, &o)
        .await
        .expect("connect through the bastion");
    let out = run(&c, "echo $SSH_CONNECTION").await;
    let fields: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(
        fields.get(2).map(String::as_str),
        Some(t.addr.to_string().as_str()),
        "{fields:?}"
    );
    let after = fleet.sshd_log(0).matches("Accepted publickey").count();
    assert_eq!(after, before + 1, "the bastion authenticated the jump");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_key_needs_its_passphrase() {
    let fleet = Fleet::start(1);
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("id_locked");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "open sesame", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    fleet.authorize(&std::fs::read_to_string(key.with_extension("pub")).expect("pub"));
    let h = &fleet.hosts[0];
    let vars = json!({
        "ansible_host": h.addr.to_string(), "ansible_port": h.port, "ansible_user": fleet.user,
        "ansible_ssh_private_key_file": key.to_string_lossy(),
    });
    let mut o = opts(&fleet);
    let mut t = Target::resolve("h", vars.as_object().expect("map"), &o).expect("target");
    t.identity_files.truncate(1);
    let e = Connection::open(&t, &o)
        .await
        .err()
        .expect("no passphrase, no login");
    assert!(e.to_string().contains("encrypted"), "{e}");
    o.key_passphrase = Some(Secret::new("open sesame"));
    let c = Connection::open(&t, &o)
        .await
        .expect("connects with the passphrase");
    assert_eq!(run(&c, "echo in").await.stdout, b"in\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_key_checking_off_connects_without_known_hosts() {
    let fleet = Fleet::start(1);
    let dir = tempfile::tempdir().expect("tmp");
    let mut o = opts(&fleet);
    o.known_hosts = Some(dir.path().join("none"));
    o.host_key_checking = Some(HostKeyChecking::Off);
    let t = target(&fleet, 0, &o);
    let c = Connection::open(&t, &o).await.expect("connect");
    assert_eq!(run(&c, "echo x").await.stdout, b"x\n");
    assert!(!dir.path().join("none").exists(), "off records nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_transfer_as_root_sets_owner_through_become() {
    use olympus::connection::{Escalation, EscalationMethod};
    let fleet = Fleet::start(1);
    if fleet.user == "root" {
        panic!("this test needs to run as root (it logs in as the unprivileged fleet user)");
    }
    let c = connect(&fleet, 0).await;
    let dir = format!("/tmp/olympus-owner-{}", fleet.hosts[0].addr);
    let esc = Escalation {
        method: EscalationMethod::Sudo,
        user: "root".into(),
        password: Some(Secret::new(common::fleet::FLEET_SUDO_PASSWORD)),
    };
    let mk = c
        .exec(ExecRequest {
            command: &format!("rm -rf {dir} && mkdir -m 0755 {dir}"),
            escalation: Some(&esc),
            ..Default::default()
        })
        .await
        .expect("mkdir");
    assert!(mk.success(), "{mk:?}");
    let attrs = FileAttrs {
        mode: Some("0600".into()),
        owner: Some("root".into()),
        group: Some("root".into()),
    };
    let data = b"secret: yes\n";
    let out = c
        .put_file(data, &format!("{dir}/f"), &attrs, Some(&esc))
        .await
        .expect("put");
    assert!(out.success(), "{out:?}");
    let st = run(&c, &format!("stat -c '%U %G %a %s' {dir}/f")).await;
    assert_eq!(
        String::from_utf8_lossy(&st.stdout),
        format!("root root 600 {}\n", data.len())
    );
    let _ = c
        .exec(ExecRequest {
            command: &format!("rm -rf {dir}"),
            escalation: Some(&esc),
            ..Default::default()
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_shell_keeps_commands_apart_and_recovers_when_killed() {
    let fleet = Fleet::start(1);
    let c = connect(&fleet, 0).await;
    // Every command runs on the one shell, the first too (in a subshell of it each, whose
    // `$$` is the shell's).
    let shell = run(&c, "echo $$").await;
    assert_eq!(run(&c, "echo $$").await.stdout, shell.stdout, "same shell");

    let out = run(&c, "echo out; echo err >&2; exit 7").await;
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice(), out.rc),
        (&b"out\n"[..], &b"err\n"[..], Some(7))
    );
    // Output without a final newline, empty output, blank lines, and text that looks like
    // the protocol's own lines.
    assert_eq!(run(&c, "printf abc").await.stdout, b"abc");
    assert_eq!(run(&c, "true").await.stdout, b"");
    assert_eq!(run(&c, "printf '\\n\\n'").await.stdout, b"\n\n");
    let out = run(&c, "echo 'OLYMPUS-END-x 0'; echo 'OLYMPUS-END-x' >&2").await;
    assert_eq!(out.stdout, b"OLYMPUS-END-x 0\n");
    assert_eq!(out.stderr, b"OLYMPUS-END-x\n");
    // Binary standard input arrives intact, written into the shell's input (200 kB) or on
    // a channel of its own (300 kB, over what is written inline); input a command leaves
    // unread does not reach the next command.
    for n in [200_000, 300_000] {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(n).collect();
        let out = c
            .exec(ExecRequest {
                command: "od -An -tx1 -v | tr -s ' \\n' '\\n\\n' | grep -c .",
                stdin: Some(&bytes),
                ..Default::default()
            })
            .await
            .expect("exec");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), n.to_string());
        let out = c
            .exec(ExecRequest {
                command: "cat",
                stdin: Some(&bytes),
                ..Default::default()
            })
            .await
            .expect("exec");
        assert!(out.stdout == bytes, "{n} bytes came back changed");
    }
    let out = c
        .exec(ExecRequest {
            command: "head -c 3",
            stdin: Some(b"abcdef-and-more"),
            ..Default::default()
        })
        .await
        .expect("exec");
    assert_eq!(out.stdout, b"abc");
    let out = run(&c, "cat; echo done").await;
    assert_eq!(
        out.stdout, b"done\n",
        "no leftover input, stdin is /dev/null"
    );
    // A command the shell reports killed by a signal: 128 + the signal, as sh says it.
    assert_eq!(run(&c, "sh -c 'kill -KILL $$'").await.rc, Some(137));
    assert_eq!(run(&c, "echo $$").await.stdout, shell.stdout, "same shell");
    // Big output is capped while it streams, and said.
    let out = run(&c, "head -c 20000000 /dev/zero").await;
    assert!(out.truncated);
    assert_eq!(out.stdout.len(), olympus::connection::DEFAULT_OUTPUT_CAP);
    assert_eq!(run(&c, "echo after").await.stdout, b"after\n");
    // Killing the shell itself fails that command; the next one gets a new shell.
    let e = c
        .exec(ExecRequest::new("kill -KILL $$; sleep 5"))
        .await
        .expect_err("the shell died under it");
    assert!(e.to_string().contains("remote shell"), "{e}");
    let again = run(&c, "echo $$").await;
    assert_eq!(again.rc, Some(0));
    assert_ne!(again.stdout, shell.stdout, "a new shell");
    assert_eq!(run(&c, "echo $$").await.stdout, again.stdout);
    c.close().await;
}

async fn as_root(
    c: &Connection,
    cmd: &str,
    e: &olympus::connection::Escalation,
) -> Result<olympus::connection::ExecOutput, ConnectionError> {
    c.exec(ExecRequest {
        command: cmd,
        escalation: Some(e),
        ..Default::default()
    })
    .await
}

/// become on the persistent shell: every command of one become user shares one escalated
/// shell (sudo asks the fleet user for the password every time it runs — timestamp_timeout
/// is 0 — so the password is answered once, when the shell starts); the login user's
/// commands keep their own shell; a wrong or missing password is the command's error;
/// su with a password needs a terminal, so its commands keep their own channels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn become_commands_share_one_escalated_shell() {
    use common::fleet::{FLEET_SUDO_PASSWORD, SU_PASSWORD, SU_USER};
    use olympus::connection::{Escalation, EscalationMethod};
    let fleet = Fleet::start(1);
    if fleet.user == "root" {
        panic!("this test needs to run as root (it logs in as the unprivileged fleet user)");
    }
    let sudo = |pw: Option<&str>| Escalation {
        method: EscalationMethod::Sudo,
        user: "root".into(),
        password: pw.map(Secret::new),
    };
    let c = connect(&fleet, 0).await;
    let esc = sudo(Some(FLEET_SUDO_PASSWORD));
    let first = as_root(&c, "id -u; echo $PPID", &esc)
        .await
        .expect("become");
    let text = String::from_utf8_lossy(&first.stdout).to_string();
    let (uid, shell) = text.split_once('\n').expect("two lines");
    assert_eq!(uid, "0", "{first:?}");
    for _ in 0..3 {
        let again = as_root(&c, "id -u; echo $PPID", &esc)
            .await
            .expect("become");
        assert_eq!(
            String::from_utf8_lossy(&again.stdout),
            text,
            "the same root shell"
        );
    }
    // Standard input and status through the escalated shell.
    let out = c
        .exec(ExecRequest {
            command: "cat; echo err >&2; exit 3",
            stdin: Some(b"in\n"),
            escalation: Some(&esc),
            ..Default::default()
        })
        .await
        .expect("become");
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice(), out.rc),
        (&b"in\n"[..], &b"err\n"[..], Some(3))
    );
    // The login user's commands are not root, and not on the root shell.
    let _ = run(&c, "true").await;
    let mine = run(&c, "id -u; echo $PPID").await;
    let mine = String::from_utf8_lossy(&mine.stdout).to_string();
    assert_ne!(mine.lines().next(), Some("0"));
    assert_ne!(mine.lines().nth(1), Some(shell.trim()));
    // The root shell still answers after them.
    let again = as_root(&c, "id -u; echo $PPID", &esc)
        .await
        .expect("become");
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);
    c.close().await;

    // A wrong password, and none where sudo needs one: the command's error, said once.
    let c = connect(&fleet, 0).await;
    let e = as_root(&c, "id -u", &sudo(Some("not-the-password")))
        .await
        .expect_err("wrong password");
    assert!(e.to_string().contains("incorrect password"), "{e}");
    let e = as_root(&c, "id -u", &sudo(None))
        .await
        .expect_err("no password");
    assert!(e.to_string().contains("a password is required"), "{e}");
    c.close().await;

    // su with a password answers on a terminal: each command its own channel, still right.
    let c = connect(&fleet, 0).await;
    let su = Escalation {
        method: EscalationMethod::Su,
        user: SU_USER.into(),
        password: Some(Secret::new(SU_PASSWORD)),
    };
    let a = as_root(&c, "id -un; echo $PPID", &su).await.expect("su");
    let b = as_root(&c, "id -un; echo $PPID", &su).await.expect("su");
    let (a, b) = (
        String::from_utf8_lossy(&a.stdout).replace('\r', ""),
        String::from_utf8_lossy(&b.stdout).replace('\r', ""),
    );
    assert_eq!(a.lines().next(), Some(SU_USER), "{a}");
    assert_eq!(b.lines().next(), Some(SU_USER), "{b}");
    assert_ne!(a.lines().nth(1), b.lines().nth(1), "separate sessions");
    c.close().await;
}
