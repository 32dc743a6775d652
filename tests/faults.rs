//! Faults on the way to hosts, on the real-sshd fleet: sshd killed mid-play, a host that
//! accepts TCP and never speaks SSH, a host frozen mid-command, latency and stalls through a
//! userspace proxy (these kernels lack netem), a full disk, and a command printing 1 GB.
//! Each must end in a clear per-host result, a recap and a meaningful exit code — never a
//! hang, a panic or a half-written file. (Signals mid-run are in tests/safety.rs.)

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::fleet::Fleet;
use common::play::{PlayRun, localhost_inventory, run_command, run_measured, shared_dir};

/// An inventory of the fleet's hosts (h01, h02, ...), with extra lines appended.
fn inventory(fleet: &Fleet, extra: &str) -> std::path::PathBuf {
    let inv = fleet.dir.path().join("faults.ini");
    let mut text = std::fs::read_to_string(&fleet.inventory).expect("inventory");
    text.push_str(extra);
    std::fs::write(&inv, text).expect("write inventory");
    inv
}

fn run(fleet: &Fleet, inv: &Path, pb: &Path, extra: &[&str]) -> (PlayRun, Duration) {
    let started = Instant::now();
    let out = run_command(fleet, inv, pb, extra)
        .output()
        .expect("run olympus");
    (PlayRun::from_output(out), started.elapsed())
}

fn host_status(r: &PlayRun, task: &str, host: &str) -> String {
    r.result(task, host)["status"]
        .as_str()
        .unwrap_or("none")
        .to_string()
}

/// The sshd processes serving `fleet`'s host `i` (listener and its sessions).
fn sshd_pids(fleet: &Fleet, i: usize) -> Vec<String> {
    let cfg = fleet.dir.path().join(format!("sshd_config.{i}"));
    let out = Command::new("pgrep")
        .args(["-f", &cfg.display().to_string()])
        .output()
        .expect("pgrep");
    let mut pids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    // Session processes descend from the listener ([priv], then user@notty).
    let mut i = 0;
    while i < pids.len() {
        let out = Command::new("pgrep")
            .args(["-P", &pids[i]])
            .output()
            .expect("pgrep");
        pids.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
        i += 1;
    }
    pids
}

/// Starts `olympus run PLAYBOOK` on the whole fleet and gives its first task a second to
/// start on every host.
fn start_then_wait(fleet: &Fleet, pb: &Path) -> std::process::Child {
    let child = run_command(fleet, &fleet.inventory, pb, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1000));
    child
}

#[test]
fn sshd_killed_mid_play_makes_that_host_unreachable_and_the_rest_finish() {
    let mut fleet = Fleet::builder(3).sshd_per_host().start();
    let dir = shared_dir();
    let pb = dir.path().join("play.yml");
    std::fs::write(
        &pb,
        "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - name: slow\n      shell: sleep 2\n    - name: after\n      command: 'true'\n",
    )
    .expect("write");
    let child = start_then_wait(&fleet, &pb);
    // The listener and the running session of host 2 die, as in a crash.
    for p in sshd_pids(&fleet, 1) {
        let _ = Command::new("kill").args(["-KILL", &p]).status();
    }
    fleet.stop_host(1);
    let r = PlayRun::from_output(child.wait_with_output().expect("wait"));
    assert_eq!(r.code, Some(4), "{}\n{}", r.stderr, r.stdout);
    assert_eq!(r.doc["recap"]["h02"]["unreachable"], 1, "{}", r.stdout);
    for h in ["h01", "h03"] {
        assert_eq!(host_status(&r, "after", h), "changed", "{h}: {}", r.stdout);
    }
    assert_eq!(
        host_status(&r, "after", "h02"),
        "none",
        "an unreachable host leaves the play"
    );
}

#[test]
fn a_host_that_never_speaks_ssh_times_out_as_unreachable() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    // Accepts TCP connections and then says nothing, ever.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for s in silent.incoming().flatten() {
            keep.lock().expect("lock").push(s);
        }
    });
    let inv = inventory(
        &fleet,
        &format!("\n[mute]\nmute ansible_host=127.0.0.1 ansible_port={port}\n"),
    );
    let pb = dir.path().join("play.yml");
    std::fs::write(
        &pb,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: p\n      command: 'true'\n",
    )
    .expect("write");
    let (r, took) = run(&fleet, &inv, &pb, &["--connect-timeout", "2"]);
    assert_eq!(r.code, Some(4), "{}\n{}", r.stderr, r.stdout);
    assert_eq!(host_status(&r, "p", "mute"), "unreachable", "{}", r.stdout);
    assert_eq!(host_status(&r, "p", "h01"), "changed");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        !held.lock().expect("lock").is_empty(),
        "olympus never connected"
    );
}

#[test]
fn a_host_frozen_mid_command_is_cut_off_by_the_task_timeout() {
    let fleet = Fleet::builder(2).sshd_per_host().start();
    let dir = shared_dir();
    let pb = dir.path().join("play.yml");
    std::fs::write(
        &pb,
        "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - name: frozen\n      shell: sleep 3; echo done\n      timeout: 5\n",
    )
    .expect("write");
    let child = start_then_wait(&fleet, &pb);
    // Host 2's sshd processes stop answering (as a host that froze or lost its network).
    let pids = sshd_pids(&fleet, 1);
    assert!(!pids.is_empty());
    for p in &pids {
        let _ = Command::new("kill").args(["-STOP", p]).status();
    }
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    let took = started.elapsed();
    for p in &pids {
        let _ = Command::new("kill").args(["-CONT", p]).status();
    }
    let r = PlayRun::from_output(out);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(r.code, Some(2), "{}\n{}", r.stderr, r.stdout);
    assert_eq!(host_status(&r, "frozen", "h01"), "changed", "{}", r.stdout);
    assert_eq!(host_status(&r, "frozen", "h02"), "failed", "{}", r.stdout);
    assert!(
        r.result("frozen", "h02")["result"]["msg"]
            .to_string()
            .contains("timed out"),
        "{}",
        r.stdout
    );
}

/// A TCP proxy that delays every chunk and stalls now and then, as a slow, lossy link
/// does (TCP hides loss as retransmission stalls). Stops with the returned flag.
fn slow_proxy(to: (std::net::Ipv4Addr, u16), delay: Duration) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let done = stop.clone();
    let chunks = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if done.load(Ordering::Relaxed) {
                break;
            }
            let Ok(server) = TcpStream::connect(to) else {
                continue;
            };
            for (mut from, mut into) in [
                (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                ),
                (server, client),
            ] {
                let chunks = chunks.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        // Every chunk waits `delay`; one in 16 stalls ten times longer.
                        let k = chunks.fetch_add(1, Ordering::Relaxed);
                        let wait = if k % 16 == 7 { delay * 10 } else { delay };
                        std::thread::sleep(wait);
                        if into.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = into.shutdown(Shutdown::Write);
                });
            }
        }
    });
    (port, stop)
}

#[test]
fn latency_and_stalls_slow_a_run_down_but_it_completes() {
    let fleet = Fleet::start(2);
    let dir = shared_dir();
    let (port, stop) = slow_proxy(
        (fleet.hosts[1].addr, fleet.hosts[1].port),
        Duration::from_millis(30),
    );
    // h2 is reached through the slow link (its host key is the fleet's, known as [addr]:port
    // of the real sshd, so the proxy's address is given the same key).
    let known = std::fs::read_to_string(&fleet.known_hosts).expect("known_hosts");
    let key = known
        .lines()
        .next()
        .and_then(|l| l.split_once(' '))
        .map(|(_, k)| k.to_string())
        .expect("key");
    std::fs::write(
        &fleet.known_hosts,
        format!("{known}[127.0.0.1]:{port} {key}\n"),
    )
    .expect("write");
    let inv = fleet.dir.path().join("slow.ini");
    std::fs::write(
        &inv,
        format!(
            "[fleet]\nh1 ansible_host={} ansible_port={}\nh2 ansible_host=127.0.0.1 ansible_port={port}\n[fleet:vars]\nansible_user={}\nansible_ssh_private_key_file={}\n",
            fleet.hosts[0].addr,
            fleet.hosts[0].port,
            fleet.user,
            fleet.key.display()
        ),
    )
    .expect("inventory");
    let target = dir.path().join("copied");
    let pb = dir.path().join("play.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - name: cmd\n      shell: seq 1 20000\n      register: r\n    - name: copy\n      copy: content=\"{{{{ r.stdout }}}}\" dest={}.{{{{ inventory_hostname }}}}\n    - name: check\n      assert:\n        that: r.stdout_lines | length == 20000\n",
            target.display()
        ),
    )
    .expect("write");
    let (r, _) = run(&fleet, &inv, &pb, &[]);
    stop.store(true, Ordering::Relaxed);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.stdout);
    for h in ["h1", "h2"] {
        assert_eq!(host_status(&r, "check", h), "ok", "{h}");
        let text = std::fs::read_to_string(format!("{}.{h}", target.display())).expect("copied");
        assert_eq!(text.lines().count(), 20000);
    }
}

#[test]
fn a_full_disk_fails_the_write_and_leaves_the_old_file_whole() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let small = dir.path().join("small");
    std::fs::create_dir(&small).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k,mode=0777", "tmpfs"])
        .arg(&small)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        // Mounting needs root (CI runs as root); say so rather than pass silently.
        eprintln!("SKIPPED a_full_disk_fails_the_write...: cannot mount a tmpfs (not root?)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&small);
    let dest = small.join("config");
    std::fs::write(&dest, "old contents\n").expect("write old");
    let filler = small.join("filler");
    let inv = localhost_inventory(&fleet);
    let pb = dir.path().join("play.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: fill\n      shell: head -c 200000 /dev/zero > {}\n    - name: write\n      copy:\n        content: \"{{{{ 'x' * 200000 }}}}\"\n        dest: {}\n",
            filler.display(),
            dest.display()
        ),
    )
    .expect("write");
    let (r, _) = run(&fleet, &inv, &pb, &[]);
    assert_eq!(r.code, Some(2), "{}\n{}", r.stderr, r.stdout);
    let msg = r.result("write", "localhost")["result"].to_string();
    assert!(
        msg.contains("No space left") || msg.contains("space"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_to_string(&dest).expect("dest"),
        "old contents\n",
        "the old file must stay whole"
    );
    let left: Vec<_> = std::fs::read_dir(&small)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "a temporary file was left behind: {left:?}");
}

#[test]
fn a_command_printing_a_gigabyte_is_cut_and_memory_stays_bounded() {
    let fleet = Fleet::start(1);
    let dir = shared_dir();
    let inv = localhost_inventory(&fleet);
    let pb = dir.path().join("play.yml");
    std::fs::write(
        &pb,
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: loud\n      shell: head -c 1073741824 /dev/zero | tr '\\0' 'y'\n",
    )
    .expect("write");
    let (r, peak) = run_measured(&fleet, &inv, &pb, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let loud = &r.result("loud", "localhost")["result"];
    assert_eq!(loud["truncated"], true);
    assert_eq!(loud["stdout"].as_str().map(str::len), Some(4 << 20));
    assert!(
        peak < 150_000,
        "peak RSS {peak} KB while a host printed 1 GB"
    );
}
