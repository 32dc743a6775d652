//! Benchmark (not a test): `olympus exec` against `parallel-ssh` and a shell loop of OpenSSH
//! clients, all running `hostname` on the same real-sshd fleet with the same parallelism.
//!
//!   cargo bench --bench exec                 # 50 hosts, 5 runs each
//!   OLYMPUS_BENCH_HOSTS=200 OLYMPUS_BENCH_RUNS=3 cargo bench --bench exec
//!
//! Prints the median wall time of each and the ratios. parallel-ssh comes from Debian's
//! `pssh` package; the row is skipped when it is not installed.

mod common;
#[path = "../tests/common/fleet.rs"]
mod fleet;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::median;
use fleet::Fleet;

fn time_runs(runs: usize, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        if !f() {
            return None;
        }
        times.push(t.elapsed());
    }
    Some(median(times))
}

fn ok(cmd: &mut Command) -> bool {
    match cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!("{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr));
            false
        }
        Err(e) => {
            eprintln!("{cmd:?}: {e}");
            false
        }
    }
}

fn main() {
    let n: usize = common::env_usize("OLYMPUS_BENCH_HOSTS", 50);
    let runs: usize = common::env_usize("OLYMPUS_BENCH_RUNS", 5);
    let fleet = Fleet::start(n);
    println!("exec of `hostname` on {n} hosts, parallelism {n}, median of {runs} runs");

    let t_olympus = time_runs(runs, || {
        ok(fleet.olympus("exec", &fleet.inventory).args([
            "all",
            "-f",
            &n.to_string(),
            "--",
            "hostname",
        ]))
    })
    .expect("olympus exec failed");

    let hosts_file = fleet.dir.path().join("pssh_hosts");
    let hosts: String = fleet
        .hosts
        .iter()
        .map(|h| format!("{}@{}:{}\n", fleet.user, h.addr, h.port))
        .collect();
    std::fs::write(&hosts_file, hosts).expect("hosts file");
    let t_pssh = if Command::new("parallel-ssh")
        .arg("--version")
        .output()
        .is_ok()
    {
        time_runs(runs, || {
            ok(Command::new("parallel-ssh")
                .arg("-h")
                .arg(&hosts_file)
                .args(["-p", &n.to_string(), "-t", "60", "-x"])
                .arg(format!("-F {}", fleet.ssh_config.display()))
                .arg("hostname"))
        })
    } else {
        None
    };

    let script = format!(
        "for spec in $(cat {hosts}); do a=${{spec#*@}}; ssh -F {cfg} -p ${{a##*:}} ${{a%:*}} hostname >/dev/null & done; wait",
        hosts = hosts_file.display(),
        cfg = fleet.ssh_config.display()
    );
    let t_loop =
        time_runs(runs, || ok(Command::new("sh").arg("-c").arg(&script))).expect("ssh loop failed");

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| tool | median (ms) | olympus / tool |");
    println!("| --- | ---: | ---: |");
    println!("| olympus exec | {:.0} | 1.00 |", ms(t_olympus));
    match t_pssh {
        Some(t) => println!(
            "| parallel-ssh (pssh 2.3) | {:.0} | {:.2} |",
            ms(t),
            ms(t_olympus) / ms(t)
        ),
        None => println!("| parallel-ssh | not installed | |"),
    }
    println!(
        "| sh loop of ssh clients | {:.0} | {:.2} |",
        ms(t_loop),
        ms(t_olympus) / ms(t_loop)
    );
}
