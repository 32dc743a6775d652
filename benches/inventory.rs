//! `olympus inventory --list` and a pattern selection on a 10,000-host INI inventory (two
//! groups of 5,000, a parent group with vars, host vars on half the hosts), release build.
//! Prints the median wall time of OLYMPUS_BENCH_RUNS runs (default 5). Goal: under 150 ms.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let runs: usize = common::env_usize("OLYMPUS_BENCH_RUNS", 5).max(1);
    let dir = tempfile::tempdir().expect("tmp");
    let inv = dir.path().join("hosts.ini");
    let mut text = String::from("[web]\nweb[00001:05000]\n\n[db]\n");
    for i in 0..5000 {
        text.push_str(&format!(
            "db{i:05} ansible_host=10.1.{}.{} ansible_port=22\n",
            i / 256,
            i % 256
        ));
    }
    text.push_str("\n[prod:children]\nweb\ndb\n\n[prod:vars]\nenv=prod\nntp=ntp.example.com\n");
    std::fs::write(&inv, text).expect("inventory");
    let olympus = env!("CARGO_BIN_EXE_olympus");
    let time = |args: &[&str]| {
        let times: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                let st = Command::new(olympus)
                    .args(args)
                    .arg("-i")
                    .arg(&inv)
                    .stdout(Stdio::null())
                    .status()
                    .expect("run olympus");
                assert!(st.success(), "olympus {args:?} failed");
                start.elapsed()
            })
            .collect();
        common::median(times)
    };
    println!("inventory of 10,000 hosts, median of {runs} runs");
    println!("| command | median (ms) |");
    println!("| --- | ---: |");
    for args in [
        &["inventory", "--list"][..],
        &["inventory", "--graph"][..],
        &["exec", "web:&prod:!~web0000[1-9]", "--list-hosts"][..],
    ] {
        println!(
            "| olympus {} | {:.0} |",
            args.join(" "),
            time(args).as_secs_f64() * 1000.0
        );
    }
}
