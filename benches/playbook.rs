//! Benchmark (not a test): a realistic 10-task playbook on the real-sshd fleet, run by
//! olympus, by its peers from PyPI — ansible-core (pipelining, ControlPersist), ansible-core
//! with Mitogen's `mitogen_linear` strategy, and pyinfra running a deploy file that does the
//! same work — and by a shell script issuing the same remote commands through OpenSSH
//! ControlMaster connections (one per host, all hosts in parallel: the practical floor).
//! Prints median wall times, ratios, and olympus's peak RSS and CPU time (user + system).
//!
//!   cargo bench --bench playbook                          # 20 hosts, 3 runs
//!   OLYMPUS_BENCH_HOSTS=50 cargo bench --bench playbook
//!   OLYMPUS_BENCH_HOSTS=1000 OLYMPUS_BENCH_RUNS=1 cargo bench --bench playbook
//!   OLYMPUS_BENCH_ANSIBLE=/path/to/venv/bin/ansible-playbook cargo bench --bench playbook
//!
//! OLYMPUS_BENCH_PEERS picks the peers (comma list of `ansible`, `mitogen`, `pyinfra`; empty
//! for none). The default is all three up to 200 hosts and none above (ansible-core needs
//! ~6 minutes a run at 200 hosts); OLYMPUS_BENCH_NO_ANSIBLE=1 is the same as an empty list.
//!
//! OLYMPUS_BENCH_BECOME=1 runs the same play with `become: true` (run as root, so the fleet
//! logs in as its unprivileged user and sudo asks it for its password every time): olympus
//! answers through OLYMPUS_BECOME_PASSWORD, the script pipes the password to `sudo -S` in
//! front of each remote command, ansible-core gets it as ansible_become_password.
//!
//! OLYMPUS_BENCH_BECOME=nopasswd is the same with sudo asking no password: the harness adds a
//! NOPASSWD rule for the fleet user while it runs (/etc/sudoers.d/olympus-fleet-nopasswd,
//! removed when it ends, and by the tests' fleet set-up should a killed run leave it); olympus
//! gets no become password (it runs `sudo -n`), the script runs `sudo -n` in front of each
//! remote command.
//!
//! OLYMPUS_BENCH_SHARDS=4 also times `run --shard 1/4` alone and all four shards at once
//! (four olympus processes, as a CI matrix on one machine would run them).
//!
//! OLYMPUS_BENCH_WRAP="perf record -e cpu-clock -g -o /tmp/olympus.perf --" runs olympus under
//! a profiler (the wrapper's words, then olympus's command line).
//!
//! Each peer is installed once into a throwaway venv under /tmp (from PyPI) unless given
//! (OLYMPUS_BENCH_ANSIBLE). None of them is ever a dependency of olympus.

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

/// A throwaway venv under /tmp with `packages` from PyPI (made once); its directory.
fn venv(name: &str, packages: &[&str]) -> Option<PathBuf> {
    let venv = PathBuf::from(format!("/tmp/olympus-bench-{name}"));
    let done = venv.join(".installed");
    if !done.exists() {
        eprintln!("installing {packages:?} into {} (once)…", venv.display());
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q"])
                .args(packages)
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("could not install {packages:?}; its row is skipped");
            return None;
        }
        let _ = std::fs::write(&done, "");
    }
    Some(venv)
}

const ANSIBLE_CORE: &str = "ansible-core>=2.19,<2.20";

fn ansible_playbook() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("OLYMPUS_BENCH_ANSIBLE") {
        return Some(PathBuf::from(p));
    }
    venv("ansible", &[ANSIBLE_CORE]).map(|v| v.join("bin/ansible-playbook"))
}

/// ansible-playbook from a venv that also has Mitogen, and Mitogen's strategy plugins.
fn mitogen() -> Option<(PathBuf, PathBuf)> {
    let v = venv("mitogen", &[ANSIBLE_CORE, "mitogen"])?;
    let lib = std::fs::read_dir(v.join("lib"))
        .ok()?
        .flatten()
        .next()?
        .path();
    let plugins = lib.join("site-packages/ansible_mitogen/plugins/strategy");
    plugins
        .is_dir()
        .then(|| (v.join("bin/ansible-playbook"), plugins))
}

/// The peers to run: OLYMPUS_BENCH_PEERS, else all of them up to 200 hosts.
fn peers(n: usize) -> Vec<String> {
    if std::env::var_os("OLYMPUS_BENCH_NO_ANSIBLE").is_some() {
        return Vec::new();
    }
    match std::env::var("OLYMPUS_BENCH_PEERS") {
        Ok(list) => list
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Err(_) if n <= 200 => ["ansible", "mitogen", "pyinfra"].map(String::from).to_vec(),
        Err(_) => Vec::new(),
    }
}

/// The playbook's work as a pyinfra deploy: the same operations, in order, on every host
/// (`stat` as the remote command it is, pyinfra's facts being read before operations run).
const PYINFRA_DEPLOY: &str = r#"
from io import StringIO
from pyinfra import host
from pyinfra.operations import files, server

base = f"{host.data.root}/{host.name}"
server.shell(name="uptime", commands=["uptime"])
files.directory(name="directory", path=base, mode="755")
config = files.put(name="config", src=StringIO("port=8080\n"), dest=f"{base}/app.conf", mode="644")
files.template(name="template", src="templates/motd.j2", dest=f"{base}/motd", inventory_hostname=host.name)
files.line(name="line", path=f"{base}/app.conf", line="workers=4")
server.shell(name="shell", commands=[f"echo $(hostname) > {base}/who"])
server.shell(name="stat", commands=[f"stat -c %s {base}/app.conf"])
for item in ["a", "b", "c"]:
    server.shell(name="loop", commands=[f"echo {item}"])
if host.name == "h01":
    server.shell(name="conditional", commands=["/bin/true"])
server.shell(name="reload", commands=["/bin/true"], _if=config.did_change)
"#;

/// pyinfra's inventory and group data for the fleet, beside the deploy file in `dir`.
fn pyinfra_project(fleet: &Fleet, root: &Path, dir: &Path, escalate: bool) {
    std::fs::write(dir.join("deploy.py"), PYINFRA_DEPLOY).expect("deploy.py");
    let hosts: String = fleet
        .hosts
        .iter()
        .map(|h| {
            format!(
                "    (\"{}\", {{\"ssh_hostname\": \"{}\", \"ssh_port\": {}}}),\n",
                h.name, h.addr, h.port
            )
        })
        .collect();
    std::fs::write(dir.join("inventory.py"), format!("fleet = [\n{hosts}]\n"))
        .expect("inventory.py");
    let mut data = format!(
        "ssh_user = {:?}\nssh_key = {:?}\nssh_known_hosts_file = {:?}\n\
         ssh_strict_host_key_checking = \"yes\"\nroot = {:?}\n",
        fleet.user,
        fleet.key.display().to_string(),
        fleet.known_hosts.display().to_string(),
        root.display().to_string(),
    );
    if escalate {
        data.push_str(&format!(
            "_sudo = True\n_sudo_password = {:?}\n",
            fleet::FLEET_SUDO_PASSWORD
        ));
    }
    std::fs::create_dir_all(dir.join("group_data")).expect("group_data");
    std::fs::write(dir.join("group_data/all.py"), data).expect("group_data/all.py");
}

/// An empty directory every runner writes under (world-writable: the fleet's user and,
/// under become, root both write there), for a run that starts from nothing.
fn fresh_root(root: &Path) {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).expect("root");
    let _ = Command::new("chmod").arg("1777").arg(root).status();
}

/// The CPU time (user + system) of this process's waited-for children so far.
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): cutime and cstime are the
    // 16th and 17th fields of the line, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// A sudoers rule letting the fleet user run anything without a password, for the
/// benchmark's run; removed on drop.
struct NoPasswordSudo;

impl NoPasswordSudo {
    const FILE: &str = "/etc/sudoers.d/olympus-fleet-nopasswd";

    fn add() -> NoPasswordSudo {
        std::fs::write(
            Self::FILE,
            format!("{} ALL=(ALL:ALL) NOPASSWD: ALL\n", fleet::FLEET_USER),
        )
        .expect("sudoers rule (the bench runs as root)");
        let _ = Command::new("chmod").args(["0440", Self::FILE]).status();
        NoPasswordSudo
    }
}

impl Drop for NoPasswordSudo {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(Self::FILE);
    }
}

/// The same remote work as the playbook, as plain commands over one ControlMaster per host.
/// `s` as one single-quoted word for sh.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn ssh_script(fleet: &Fleet, root: &Path, dir: &Path, escalate: bool, nopasswd: bool) -> PathBuf {
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
        // stdin, read by sudo -S) when become, or `sudo -n` when sudo asks no password.
        let run = |cmd: &str, input: Option<&str>| -> String {
            let remote = if escalate && nopasswd {
                format!("sudo -n sh -c {}", sq(cmd))
            } else if escalate {
                format!("sudo -S -p '' sh -c {}", sq(cmd))
            } else {
                cmd.to_string()
            };
            let pw = if escalate && !nopasswd {
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
    let nopasswd = std::env::var("OLYMPUS_BENCH_BECOME").is_ok_and(|v| v == "nopasswd");
    let fleet = Fleet::start(n);
    let _nopasswd = nopasswd.then(NoPasswordSudo::add);
    if escalate {
        assert!(
            fleet.user != "root",
            "OLYMPUS_BENCH_BECOME needs the bench to run as root (the fleet then logs in as its own user)"
        );
    }
    let work = tempfile::tempdir().expect("tmp");
    let root = PathBuf::from(format!("/tmp/olympus-bench-{}", fleet.hosts[0].addr));
    fresh_root(&root);
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
    let under = match (escalate, nopasswd) {
        (true, true) => ", become: true (sudo, no password: sudo -n)",
        (true, false) => ", become: true (sudo)",
        _ => "",
    };
    println!("10-task playbook on {n} hosts{under}, forks {n}, median of {runs} runs");

    let olympus = env!("CARGO_BIN_EXE_olympus");
    let olympus_cmd = |extra: &[&str]| {
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
        // With no password, olympus runs `sudo -n`.
        if !nopasswd {
            cmd.env("OLYMPUS_BECOME_PASSWORD", fleet::FLEET_SUDO_PASSWORD);
        }
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
            .args(extra);
        cmd
    };
    let run_olympus = |extra: &[&str]| {
        let mut times = Vec::new();
        let mut cpus = Vec::new();
        let mut peak = 0;
        for _ in 0..runs {
            fresh_root(&root);
            let cpu_before = children_cpu();
            let (t, rss) = timed(&mut olympus_cmd(extra)).expect("olympus run failed");
            cpus.push(children_cpu().saturating_sub(cpu_before));
            times.push(t);
            peak = peak.max(rss);
        }
        (median(times), peak, cpus)
    };
    let (t_olympus, peak, cpus) = run_olympus(&[]);
    // The same without the persistent remote shell: a new SSH session per command.
    let (t_sessions, _, _) = run_olympus(&["--no-persistent-shell"]);
    // Sharded: one shard alone, and all of them at once (separate processes, as a CI matrix
    // on one machine would run them).
    let shards = common::env_usize("OLYMPUS_BENCH_SHARDS", 0);
    let t_shards = (shards > 1).then(|| {
        let mut one = Vec::new();
        let mut all = Vec::new();
        for _ in 0..runs {
            fresh_root(&root);
            let (t, _) = timed(&mut olympus_cmd(&["--shard", &format!("1/{shards}")]))
                .expect("olympus run --shard failed");
            one.push(t);
            fresh_root(&root);
            let start = Instant::now();
            std::thread::scope(|s| {
                let running: Vec<_> = (1..=shards)
                    .map(|i| {
                        let mut cmd = olympus_cmd(&["--shard", &format!("{i}/{shards}")]);
                        s.spawn(move || timed(&mut cmd).expect("olympus run --shard failed"))
                    })
                    .collect();
                for r in running {
                    let _ = r.join();
                }
            });
            all.push(start.elapsed());
        }
        (median(one), median(all))
    });

    let floor = ssh_script(&fleet, &root, work.path(), escalate, nopasswd);
    let mut times = Vec::new();
    for _ in 0..runs {
        let (t, _) = timed(Command::new("sh").arg(&floor)).expect("ssh script failed");
        times.push(t);
    }
    let t_floor = median(times);

    let peers = peers(n);
    let wanted = |p: &str| peers.iter().any(|x| x == p);
    // ansible-core, plain or with Mitogen's strategy.
    let run_ansible = |ap: &Path, strategy: Option<&Path>| -> Option<Duration> {
        let home = tempfile::tempdir().ok()?;
        let ssh_args = format!(
            "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=60s",
            fleet.known_hosts.display()
        );
        let mut times = Vec::new();
        for _ in 0..runs {
            fresh_root(&root);
            let mut cmd = Command::new(ap);
            cmd.arg(work.path().join("site.yml"))
                .arg("-i")
                .arg(&fleet.inventory)
                .args(["-f", &n.to_string(), "-e", &root_var])
                .args([
                    "-e",
                    &format!("ansible_become_password={}", fleet::FLEET_SUDO_PASSWORD),
                ])
                .env("ANSIBLE_SSH_ARGS", &ssh_args)
                .env("ANSIBLE_PIPELINING", "True")
                .env("ANSIBLE_HOST_KEY_CHECKING", "True")
                .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
                .env("ANSIBLE_HOME", home.path())
                .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
                .env_remove("SSH_AUTH_SOCK");
            if let Some(plugins) = strategy {
                cmd.env("ANSIBLE_STRATEGY_PLUGINS", plugins)
                    .env("ANSIBLE_STRATEGY", "mitogen_linear");
            }
            let (t, _) = timed(&mut cmd)?;
            times.push(t);
        }
        Some(median(times))
    };
    let t_ansible = wanted("ansible")
        .then(ansible_playbook)
        .flatten()
        .and_then(|ap| run_ansible(&ap, None));
    let t_mitogen = wanted("mitogen")
        .then(mitogen)
        .flatten()
        .and_then(|(ap, plugins)| run_ansible(&ap, Some(&plugins)));
    let t_pyinfra = wanted("pyinfra")
        .then(|| venv("pyinfra", &["pyinfra>=3,<4"]))
        .flatten()
        .and_then(|v| {
            pyinfra_project(&fleet, &root, work.path(), escalate);
            let mut times = Vec::new();
            for _ in 0..runs {
                fresh_root(&root);
                let (t, _) = timed(
                    Command::new(v.join("bin/pyinfra"))
                        .args(["-y", "--parallel", &n.to_string()])
                        .args(["inventory.py", "deploy.py"])
                        .current_dir(work.path())
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
    if let Some((one, all)) = t_shards {
        println!(
            "| olympus run --shard 1/{shards} (alone) | {:.0} | {:.2} |",
            ms(one),
            ms(t_olympus) / ms(one)
        );
        println!(
            "| olympus run --shard I/{shards}, all {shards} at once | {:.0} | {:.2} |",
            ms(all),
            ms(t_olympus) / ms(all)
        );
    }
    println!(
        "| OpenSSH ControlMaster script | {:.0} | {:.2} |",
        ms(t_floor),
        ms(t_olympus) / ms(t_floor)
    );
    for (name, t, wanted) in [
        (
            "ansible-core (pipelining, ControlPersist)",
            t_ansible,
            wanted("ansible"),
        ),
        (
            "ansible-core + Mitogen (mitogen_linear)",
            t_mitogen,
            wanted("mitogen"),
        ),
        ("pyinfra", t_pyinfra, wanted("pyinfra")),
    ] {
        match t {
            Some(t) => println!("| {name} | {:.0} | {:.3} |", ms(t), ms(t_olympus) / ms(t)),
            None if wanted => println!("| {name} | failed or not installed | |"),
            None => println!("| {name} | not run | |"),
        }
    }
    println!("olympus peak RSS: {:.1} MiB", peak as f64 / 1024.0);
    // CPU time moves by several per cent between runs of the same binary on a busy machine:
    // the spread says whether a difference between two harness runs means anything.
    let lowest = cpus.iter().min().copied().unwrap_or_default();
    let highest = cpus.iter().max().copied().unwrap_or_default();
    let cpu = median(cpus);
    println!(
        "olympus CPU (user + system, median run): {:.0} ms, {:.2} ms per host (runs: {:.2}–{:.2})",
        ms(cpu),
        ms(cpu) / n as f64,
        ms(lowest) / n as f64,
        ms(highest) / n as f64
    );
    let _ = std::fs::remove_dir_all(&root);
}
