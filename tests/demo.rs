//! docs/getting-started.md's last step as a newcomer meets it: `demo/fleet.sh up` starts a
//! demo fleet on this machine (real sshd on four loopback addresses, real HAProxy, the
//! application's releases over HTTP), and the commands it prints run: an ad-hoc command on
//! every host, the first release and a rolling upgrade through HAProxy, then `down` stops
//! everything it started.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_demo_fleet_runs_the_rolling_upgrade_of_getting_started() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tmp");
    let demo = dir.path().join("demo");
    let ports: Vec<String> = (0..4)
        .map(|_| common::prometheus::port().to_string())
        .collect();
    let script = |what: &str| {
        Command::new(repo.join("demo/fleet.sh"))
            .arg(what)
            .arg(&demo)
            .env("OLYMPUS_DEMO_SSH_PORT", &ports[0])
            .env("OLYMPUS_DEMO_HTTP_PORT", &ports[1])
            .env("OLYMPUS_DEMO_APP_PORT", &ports[2])
            .env("OLYMPUS_DEMO_ARTIFACTS_PORT", &ports[3])
            .output()
            .expect("demo/fleet.sh")
    };
    let up = script("up");
    assert!(up.status.success(), "{}", text(&up));
    assert!(String::from_utf8_lossy(&up.stdout).contains("olympus run "));
    let olympus = |sub: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_olympus"))
            .arg(sub)
            .arg("-i")
            .arg(demo.join("inventory"))
            .arg("--known-hosts")
            .arg(demo.join("known_hosts"))
            .args(args)
            .env("OLYMPUS_STATE_DIR", dir.path().join("state"))
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .expect("olympus")
    };
    let front = format!("http://127.0.0.1:{}/", ports[1]);
    let page = || {
        ureq::get(&front)
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default()
    };
    // (The guide runs `uptime`; its load averages differ between hosts, which splits the
    // folded output, so the same answer from every host is asked for here.)
    let out = olympus("exec", &["all", "--", "echo", "hello"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(4 hosts) rc=0"),
        "{}",
        text(&out)
    );
    let playbook = repo.join("playbooks/rolling-upgrade.yml");
    let roles = repo.join("roles");
    for version in ["1.0", "2.0"] {
        let out = olympus(
            "run",
            &[
                &playbook.display().to_string(),
                "--roles-path",
                &roles.display().to_string(),
                "-e",
                &format!("app_version={version}"),
            ],
        );
        assert!(out.status.success(), "{version}: {}", text(&out));
        // HAProxy serves the release once its check sees a server UP.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !page().contains(&format!("shop {version}")) {
            assert!(
                std::time::Instant::now() < deadline,
                "{version}: {}",
                page()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let down = script("down");
    assert!(down.status.success(), "{}", text(&down));
    assert!(page().is_empty(), "HAProxy still answers after down");
    let left: Vec<_> = std::fs::read_dir(&demo)
        .expect("demo dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
        .collect();
    assert!(left.is_empty(), "pid files left: {left:?}");
}
