//! The scenarios olympus ships, run end to end the way a team runs them.
//!
//! Rolling upgrade (`playbooks/rolling-upgrade.yml`): real HAProxy from Debian on loopback in
//! front of three fleet hosts (real sshd), each serving the small application roles/app
//! deploys; the load balancer is a fleet host too, driven through HAProxy's admin socket
//! (`community.general.haproxy`, delegated to it). A bounded load of requests runs through
//! HAProxy during the rollouts: a good rollout loses none; a broken release stops the
//! rollout at its first host, which is put back on its previous release and left out of the
//! pool, and the hosts after it are not touched.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::fleet::Fleet;
use common::releases::{ArtifactServer, build};

/// HAProxy in the foreground, killed when dropped.
struct Haproxy {
    child: Child,
    socket: PathBuf,
    front: u16,
}

impl Haproxy {
    fn start(dir: &Path, servers: &[(String, String)], app_port: u16) -> Haproxy {
        let front = common::prometheus::port();
        let socket = dir.join("admin.sock");
        let mut cfg = format!(
            "global\n  stats socket {} mode 666 level admin\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n  retries 2\n  option redispatch\nfrontend fe\n  bind 127.0.0.1:{front}\n  default_backend app\nbackend app\n  option httpchk GET /health\n",
            socket.display()
        );
        for (name, addr) in servers {
            cfg.push_str(&format!(
                "  server {name} {addr}:{app_port} check inter 300ms fall 2 rise 1\n"
            ));
        }
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, cfg).expect("haproxy.cfg");
        let check = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("haproxy (tests/run-all.sh installs Debian's haproxy)");
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "haproxy never made its socket");
            std::thread::sleep(Duration::from_millis(50));
        }
        Haproxy {
            child,
            socket,
            front,
        }
    }

    /// server → status, from the admin socket.
    fn states(&self) -> BTreeMap<String, String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo 'show stat' | socat -t 2 - UNIX-CONNECT:{}",
                self.socket.display()
            ))
            .output()
            .expect("socat");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = |n: &str| header.iter().position(|h| *h == n).unwrap_or(0);
        let (sv, st) = (col("svname"), col("status"));
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f.len() > st && f[sv] != "FRONTEND" && f[sv] != "BACKEND")
            .map(|f| (f[sv].to_string(), f[st].to_string()))
            .collect()
    }

    fn wait_all_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.states();
            if !s.is_empty() && s.values().all(|v| v == "UP") {
                return;
            }
            assert!(Instant::now() < deadline, "servers not UP: {s:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Requests through the load balancer, one every 20 ms, until stopped: how many, and the
/// failures (anything but 200, or no answer).
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(front: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            let agent = ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(5)))
                    .http_status_as_error(false)
                    .build(),
            );
            let url = format!("http://127.0.0.1:{front}/index.html");
            let mut failures = Vec::new();
            while !s.load(Ordering::Relaxed) {
                n.fetch_add(1, Ordering::Relaxed);
                match agent.get(&url).call() {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => failures.push(format!("HTTP {}", r.status())),
                    Err(e) => failures.push(e.to_string()),
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            failures
        });
        Load {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    /// Requests sent, and the failures.
    fn finish(mut self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        (self.sent.load(Ordering::Relaxed), failures)
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What each web host's application answers on /health (its release), or why not.
fn releases(web: &[(String, String)], port: u16) -> BTreeMap<String, String> {
    web.iter()
        .map(|(name, addr)| {
            let got = ureq::get(&format!("http://{addr}:{port}/health"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| "no answer".into());
            (name.clone(), got)
        })
        .collect()
}

#[test]
fn a_rolling_upgrade_behind_haproxy_loses_no_request_and_stops_at_a_broken_host() {
    let fleet = Fleet::start(4);
    let dir = tempfile::tempdir().expect("tmp");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let d = dir.path();
    let artifacts = d.join("artifacts");
    std::fs::create_dir(&artifacts).expect("artifacts");
    let sums = build(&artifacts);
    let artifact_port = common::prometheus::port();
    let _server = ArtifactServer::start(&artifacts, artifact_port);
    let app_port = common::prometheus::port();
    let lb = &fleet.hosts[0];
    let web: Vec<(String, String)> = fleet.hosts[1..]
        .iter()
        .map(|h| (h.name.clone(), h.addr.to_string()))
        .collect();
    let haproxy = Haproxy::start(d, &web, app_port);

    // The project: inventory, and the roles' variables.
    let project = d.join("project");
    std::fs::create_dir_all(project.join("group_vars")).expect("project");
    let mut inv = format!(
        "[lb]\n{} ansible_host={} ansible_port={}\n\n[web]\n",
        lb.name, lb.addr, lb.port
    );
    for h in &fleet.hosts[1..] {
        inv.push_str(&format!(
            "{} ansible_host={} ansible_port={}\n",
            h.name, h.addr, h.port
        ));
    }
    inv.push_str(&format!(
        "\n[all:vars]\nansible_user={}\nansible_ssh_private_key_file={}\n",
        fleet.user,
        fleet.key.display()
    ));
    std::fs::write(project.join("hosts.ini"), inv).expect("inventory");
    let checksums: String = sums
        .iter()
        .map(|(v, s)| format!("  \"{v}\": \"{s}\"\n"))
        .collect();
    std::fs::write(
        project.join("group_vars/all.yml"),
        format!(
            "app_name: shop\napp_version: \"1.0\"\napp_user: {user}\napp_root: \"{root}/{{{{ inventory_hostname }}}}/shop\"\napp_bind: \"{{{{ ansible_host }}}}\"\napp_port: {app_port}\napp_health_timeout: 5\napp_keep_releases: 2\napp_artifact_url: \"http://127.0.0.1:{artifact_port}/shop-{{{{ app_version }}}}.tar.gz\"\napp_artifact_checksum: \"{{{{ app_checksums[app_version] }}}}\"\napp_checksums:\n{checksums}lb_member_socket: {sock}\nlb_member_backend: app\nlb_member_wait_interval: 1\nlb_member_wait_retries: 30\n",
            user = fleet.user,
            root = d.display(),
            sock = haproxy.socket.display(),
        ),
    )
    .expect("group_vars");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rollout = |version: &str| {
        fleet
            .olympus("run", &project.join("hosts.ini"))
            .arg(repo.join("playbooks/rolling-upgrade.yml"))
            .arg("--roles-path")
            .arg(repo.join("roles"))
            .args(["-e", &format!("app_version={version}"), "--output", "json"])
            .output()
            .expect("olympus run")
    };

    // First release: nothing runs yet, so HAProxy has every server DOWN; the rollout brings
    // them up one batch at a time.
    let out = rollout("1.0");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    haproxy.wait_all_up();
    assert!(
        releases(&web, app_port).values().all(|v| v == "1.0"),
        "{:?}",
        releases(&web, app_port)
    );

    // A good rollout under load: no request fails.
    let load = Load::start(haproxy.front);
    std::thread::sleep(Duration::from_millis(500));
    let out = rollout("2.0");
    std::thread::sleep(Duration::from_millis(500));
    let (sent, failures) = load.finish();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(sent > 50, "the load ran: {sent} requests");
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed during a good rollout: {failures:?}",
        failures.len()
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // serial [1, "25%"] of 3 hosts: three batches of one (each gathers facts first).
    let batches = doc["plays"][0]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["name"] == "Gathering Facts")
        .map(|t| t["hosts"].as_object().map_or(0, |h| h.len()))
        .collect::<Vec<_>>();
    assert_eq!(batches, [1, 1, 1]);
    haproxy.wait_all_up();
    assert!(releases(&web, app_port).values().all(|v| v == "2.0"));

    // A broken release (3.0 fails its health check): the first host is put back on 2.0 and
    // left out of the pool; the rollout stops; the others are untouched; no request fails.
    let load = Load::start(haproxy.front);
    std::thread::sleep(Duration::from_millis(500));
    let out = rollout("3.0");
    std::thread::sleep(Duration::from_millis(500));
    let (sent, failures) = load.finish();
    let t = text(&out);
    // 8: a play stopped by max_fail_percentage (docs/cli.md).
    assert_eq!(out.status.code(), Some(8), "{t}");
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed during the broken rollout: {failures:?}",
        failures.len()
    );
    let first = &web[0].0;
    let states = haproxy.states();
    assert_eq!(states[first], "MAINT", "{states:?}");
    for (name, _) in &web[1..] {
        assert_eq!(states[name], "UP", "{states:?}");
        assert!(
            !d.join(format!("{name}/shop/releases/shop-3.0")).exists(),
            "{name} was touched"
        );
    }
    assert!(
        releases(&web, app_port).values().all(|v| v == "2.0"),
        "{:?}",
        releases(&web, app_port)
    );
    assert!(
        t.contains(&format!("shop 3.0 failed its health check on {first}")),
        "{t}"
    );
}

/// `community.general.haproxy` as ansible gives it: the same `command`, `output`,
/// `state_before`, `state_after` and `changed` (tests/fixtures/haproxy, recorded with
/// ansible from PyPI), against Debian's HAProxy with two servers UP.
#[test]
fn the_haproxy_module_answers_as_community_general_does() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let port = common::prometheus::port();
    let www = d.join("www");
    std::fs::create_dir(&www).expect("www");
    std::fs::write(www.join("health"), "ok\n").expect("health");
    let servers: Vec<Child> = ["127.0.0.1", "127.0.0.2"]
        .iter()
        .map(|addr| {
            Command::new("python3")
                .args(["-m", "http.server", &port.to_string(), "--bind", addr])
                .current_dir(&www)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("python3 http.server")
        })
        .collect();
    let haproxy = Haproxy::start(
        d,
        &[
            ("web1".into(), "127.0.0.1".into()),
            ("web2".into(), "127.0.0.2".into()),
        ],
        port,
    );
    haproxy.wait_all_up();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/haproxy");
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .arg("run")
        .arg(fixtures.join("playbook.yml"))
        .args(["-e", &format!("sock={}", haproxy.socket.display())])
        .args(["--output", "json"])
        .env("OLYMPUS_STATE_DIR", d.join("state"))
        .output()
        .expect("olympus");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut got: Vec<serde_json::Value> = doc["plays"][0]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["name"] != "debug")
        .map(|t| t["hosts"]["localhost"]["result"].clone())
        .collect();
    // A server rising after maintenance reads `UP 1/3` for a moment: written `UP`.
    for r in &mut got {
        for key in ["state_before", "state_after"] {
            for s in r[key].as_array_mut().into_iter().flatten() {
                if s["status"].as_str().is_some_and(|v| v.starts_with("UP")) {
                    s["status"] = "UP".into();
                }
            }
        }
    }
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("expected.json")).expect("fixture"),
    )
    .expect("fixture json");
    assert_eq!(serde_json::Value::Array(got), want["results"]);
    for mut s in servers {
        let _ = s.kill();
        let _ = s.wait();
    }
}
