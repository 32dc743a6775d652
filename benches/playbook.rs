//! Benchmark (not a test): a realistic 10-task playbook on the real-sshd fleet, run by
//! olympus, by ansible-core (when available), and by a shell script issuing the same remote
//! commands through OpenSSH ControlMaster connections (one per host, all hosts in parallel:
//! the practical floor). Prints median wall times, ratios and olympus's peak RSS.
//!
//!   cargo bench --bench playbook                          # 20 hosts, 3 runs
//!   OLYMPUS_BENCH_HOSTS=50 cargo bench --bench playbook
//!   OLYMPUS_BENCH_ANSIBLE=/path/to/venv/bin/ansible-playbook cargo bench --bench playbook
//!
//! OLYMPUS_BENCH_BECOME=1 runs the same play with `become: true` (run as root, so the fleet
//! logs in as its unprivileged user and sudo asks it for its password every time): olympus
//! answers through OLYMPUS_BECOME_PASSWORD, the script pipes the password to `sudo -S` in
//! front of each remote command, ansible-core gets it as ansible_become_password.
//!
//! OLYMPUS_BENCH_WRAP="perf record -e cpu-clock -g -o /tmp/olympus.perf --" runs olympus under
//! a profiler (the wrapper's words, then olympus's command line).
//!
//! Without OLYMPUS_BENCH_ANSIBLE, the harness installs ansible-core into a throwaway venv
//! under /tmp (from PyPI) unless OLYMPUS_BENCH_NO_ANSIBLE is set. Ansible is never a
//! dependency of olympus.

mod common;
#[path = "../tests/common/fleet.rs"]
mod fleet;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::median;
use fleet::Fleet;

const PLAYBOOK: &str = r#"
- hosts: fleet
  gather_facts: false
  vars:
    base: "{{ root }}/{{ inventory_hostname }}"
  tasks:
    - name: uptime
      command: uptime
      changed_when: false
    - name: directory
      file: {path: "{{ base }}", state: directory, mode: "0755"}
    - name: config
      copy: {content: "port=8080\n", dest: "{{ base }}/app.conf", mode: "0644"}
      notify: reload
    - name: template
      template: {src: motd.j2, dest: "{{ base }}/motd"}
    - name: line
      lineinfile: {path: "{{ base }}/app.conf", line: "workers=4"}
    - name: shell
      shell: "echo $(hostname) > {{ base }}/who"
    - name: stat
      stat: {path: "{{ base }}/app.conf"}
      register: st
    - name: assert
      assert:
        that: st.stat.exists
    - name: loop
      command: "echo {{ item }}"
      loop: [a, b, c]
    - name: conditional
      command: /bin/true
      when: inventory_hostname == 'h01'
  handlers:
    - name: reload
      command: /bin/true
"#;

/// Runs a command, returning its wall time and peak RSS in KiB (VmHWM, sampled from /proc).
fn timed(cmd: &mut Command) -> Option<(Duration, u64)> {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let pid = child.id();
    let mut peak = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        match child.try_wait() {
            Ok(Some(st)) => {
                let took = start.elapsed();
                if !st.success() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut err);
                    }
                    eprintln!("{cmd:?} failed ({st}): {err}");
                    return None;
                }
                return Some((took, peak));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return None,
        }
    }
}

fn ansible_playbook() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("OLYMPUS_BENCH_ANSIBLE") {
        return Some(PathBuf::from(p));
    }
    if std::env::var_os("OLYMPUS_BENCH_NO_ANSIBLE").is_some() {
        return None;
    }
    let venv = PathBuf::from("/tmp/olympus-bench-ansible");
    let bin = venv.join("bin/ansible-playbook");
    if !bin.exists() {
        eprintln!("installing ansible-core into {} (once)…", venv.display());
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "ansible-core>=2.19,<2.20"])
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("could not install ansible-core; its row is skipped");
            return None;
        }
    }
    Some(bin)
}

/// The same remote work as the playbook, as plain commands over one ControlMaster per host.
/// `s` as one single-quoted word for sh.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn ssh_script(fleet: &Fleet, root: &Path, dir: &Path, escalate: bool) -> PathBuf {
    let mut s = String::from("#!/bin/sh\nset -e\n");
    for h in &fleet.hosts {
        let sock = dir.join(format!("cm-{}", h.name));
        let base = root.join(&h.name);
        let ssh = format!(
            "ssh -F {cfg} -p {port} -o ControlPath={sock} {addr}",
            cfg = fleet.ssh_config.display(),
            port = h.port,
            sock = sock.display(),
            addr = h.addr
        );
        // One remote command, with `input` on its stdin; under sudo (password first on
        // stdin, read by sudo -S) when become.
        let run = |cmd: &str, input: Option<&str>| -> String {
            let remote = if escalate {
                format!("sudo -S -p '' sh -c {}", sq(cmd))
            } else {
                cmd.to_string()
            };
            let pw = if escalate {
                format!("{}\\n", fleet::FLEET_SUDO_PASSWORD)
            } else {
                String::new()
            };
            match (pw.is_empty(), input) {
                (true, None) => format!("{ssh} {} >/dev/null", sq(&remote)),
                (_, input) => format!(
                    "printf '{pw}{}' | {ssh} {} >/dev/null",
                    input.unwrap_or(""),
                    sq(&remote)
                ),
            }
        };
        let b = base.display();
        let mut cmds = vec![
            run("uptime", None),
            run(&format!("mkdir -p {b} && chmod 0755 {b}"), None),
            run(
                &format!(
                    "cat > {b}/app.conf.tmp && chmod 0644 {b}/app.conf.tmp && mv {b}/app.conf.tmp {b}/app.conf"
                ),
                Some("port=8080\\n"),
            ),
            run(
                &format!("cat > {b}/motd"),
                Some(&format!("welcome to {}\\n", h.name)),
            ),
            run(
                &format!("grep -qx workers=4 {b}/app.conf || echo workers=4 >> {b}/app.conf"),
                None,
            ),
            run(&format!("echo $(hostname) > {b}/who"), None),
            run(&format!("stat -c %s {b}/app.conf"), None),
        ];
        for i in ["a", "b", "c"] {
            cmds.push(run(&format!("echo {i}"), None));
        }
        cmds.push(run("/bin/true", None));
        cmds.push(run("/bin/true", None));
        s.push_str(&format!(
            "(\n  ssh -F {cfg} -p {port} -o ControlMaster=yes -o ControlPath={sock} -o ControlPersist=no -fN {addr}\n  {body}\n  ssh -o ControlPath={sock} -O exit {addr} 2>/dev/null || true\n) &\n",
            cfg = fleet.ssh_config.display(),
            port = h.port,
            sock = sock.display(),
            addr = h.addr,
            body = cmds.join("\n  "),
        ));
    }
    s.push_str("wait\n");
    let path = dir.join("floor.sh");
    std::fs::write(&path, s).expect("script");
    path
}

fn main() {
    let n: usize = common::env_usize("OLYMPUS_BENCH_HOSTS", 20);
    let runs: usize = common::env_usize("OLYMPUS_BENCH_RUNS", 3);
    let escalate = std::env::var_os("OLYMPUS_BENCH_BECOME").is_some();
    let fleet = Fleet::start(n);
    if escalate {
        assert!(
            fleet.user != "root",
            "OLYMPUS_BENCH_BECOME needs the bench to run as root (the fleet then logs in as its own user)"
        );
    }
    let work = tempfile::tempdir().expect("tmp");
    let root = PathBuf::from(format!("/tmp/olympus-bench-{}", fleet.hosts[0].addr));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("root");
    let _ = Command::new("chmod").arg("1777").arg(&root).status();
    let playbook = if escalate {
        PLAYBOOK.replace(
            "  gather_facts: false\n",
            "  gather_facts: false\n  become: true\n",
        )
    } else {
        PLAYBOOK.to_string()
    };
    std::fs::write(work.path().join("site.yml"), playbook).expect("playbook");
    std::fs::create_dir_all(work.path().join("templates")).expect("templates");
    std::fs::write(
        work.path().join("templates/motd.j2"),
        "welcome to {{ inventory_hostname }}\n",
    )
    .expect("template");
    let root_var = format!("root={}", root.display());
    let under = if escalate {
        ", become: true (sudo)"
    } else {
        ""
    };
    println!("10-task playbook on {n} hosts{under}, forks {n}, median of {runs} runs");

    let olympus = env!("CARGO_BIN_EXE_olympus");
    let run_olympus = |extra: &[&str]| {
        let mut times = Vec::new();
        let mut peak = 0;
        for _ in 0..runs {
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).expect("root");
            let _ = Command::new("chmod").arg("1777").arg(&root).status();
            let wrap: Vec<String> = std::env::var("OLYMPUS_BENCH_WRAP")
                .map(|w| w.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default();
            let mut cmd = match wrap.split_first() {
                Some((first, rest)) => {
                    let mut c = Command::new(first);
                    c.args(rest).arg(olympus);
                    c
                }
                None => Command::new(olympus),
            };
            let (t, rss) = timed(
                cmd.arg("run")
                    .arg(work.path().join("site.yml"))
                    .arg("-i")
                    .arg(&fleet.inventory)
                    .arg("--known-hosts")
                    .arg(&fleet.known_hosts)
                    .args([
                        "--ssh-config",
                        "/dev/null",
                        "-f",
                        &n.to_string(),
                        "-e",
                        &root_var,
                    ])
                    .args(extra)
                    .env("OLYMPUS_BECOME_PASSWORD", fleet::FLEET_SUDO_PASSWORD),
            )
            .expect("olympus run failed");
            times.push(t);
            peak = peak.max(rss);
        }
        (median(times), peak)
    };
    let (t_olympus, peak) = run_olympus(&[]);
    // The same without the persistent remote shell: a new SSH session per command.
    let (t_sessions, _) = run_olympus(&["--no-persistent-shell"]);

    let floor = ssh_script(&fleet, &root, work.path(), escalate);
    let mut times = Vec::new();
    for _ in 0..runs {
        let (t, _) = timed(Command::new("sh").arg(&floor)).expect("ssh script failed");
        times.push(t);
    }
    let t_floor = median(times);

    let t_ansible = ansible_playbook().and_then(|ap| {
        let home = tempfile::tempdir().ok()?;
        let ssh_args = format!(
            "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=60s",
            fleet.known_hosts.display()
        );
        let mut times = Vec::new();
        for _ in 0..runs {
            let (t, _) = timed(
                Command::new(&ap)
                    .arg(work.path().join("site.yml"))
                    .arg("-i")
                    .arg(&fleet.inventory)
                    .args(["-f", &n.to_string(), "-e", &root_var])
                    .args(["-e", &format!("ansible_become_password={}", fleet::FLEET_SUDO_PASSWORD)])
                    .env("ANSIBLE_SSH_ARGS", &ssh_args)
                    .env("ANSIBLE_PIPELINING", "True")
                    .env("ANSIBLE_HOST_KEY_CHECKING", "True")
                    .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
                    .env("ANSIBLE_HOME", home.path())
                    .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
                    .env_remove("SSH_AUTH_SOCK"),
            )?;
            times.push(t);
        }
        Some(median(times))
    });

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| runner | median (ms) | olympus / runner |");
    println!("| --- | ---: | ---: |");
    println!("| olympus run | {:.0} | 1.00 |", ms(t_olympus));
    println!(
        "| olympus run --no-persistent-shell | {:.0} | {:.2} |",
        ms(t_sessions),
        ms(t_olympus) / ms(t_sessions)
    );
    println!(
        "| OpenSSH ControlMaster script | {:.0} | {:.2} |",
        ms(t_floor),
        ms(t_olympus) / ms(t_floor)
    );
    match t_ansible {
        Some(t) => println!(
            "| ansible-core (pipelining, ControlPersist) | {:.0} | {:.3} |",
            ms(t),
            ms(t_olympus) / ms(t)
        ),
        None => println!("| ansible-core | skipped | |"),
    }
    println!("olympus peak RSS: {:.1} MiB", peak as f64 / 1024.0);
    let _ = std::fs::remove_dir_all(&root);
}
