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
        server_states(&self.socket)
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

/// Every server's status (`UP`, `DOWN`, `MAINT`...) in HAProxy's `show stat`, by name.
fn server_states(socket: &Path) -> BTreeMap<String, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo 'show stat' | socat -t 2 - UNIX-CONNECT:{}",
            socket.display()
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

/// An inventory of the fleet: its first host in group `lb`, the others in `web` (each line
/// ending with `web_vars(i)` for web host `i`), logging in as the fleet's user.
fn lb_web_inventory(fleet: &Fleet, web_vars: impl Fn(usize) -> String) -> String {
    let lb = &fleet.hosts[0];
    let mut inv = format!(
        "[lb]\n{} ansible_host={} ansible_port={}\n\n[web]\n",
        lb.name, lb.addr, lb.port
    );
    for (i, h) in fleet.hosts[1..].iter().enumerate() {
        inv.push_str(&format!(
            "{} ansible_host={} ansible_port={}{}\n",
            h.name,
            h.addr,
            h.port,
            web_vars(i)
        ));
    }
    inv.push_str(&format!(
        "\n[all:vars]\nansible_user={}\nansible_ssh_private_key_file={}\n",
        fleet.user,
        fleet.key.display()
    ));
    inv
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
    let web: Vec<(String, String)> = fleet.hosts[1..]
        .iter()
        .map(|h| (h.name.clone(), h.addr.to_string()))
        .collect();
    let haproxy = Haproxy::start(d, &web, app_port);

    // The project: inventory, and the roles' variables.
    let project = d.join("project");
    std::fs::create_dir_all(project.join("group_vars")).expect("project");
    let inv = lb_web_inventory(&fleet, |_| String::new());
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
        .filter(|t| t["name"] != "debug" && t["name"] != "pause")
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

/// A web host's HTTP server (python3's http.server on the host's address), serving every site
/// under `/<site>/`, each page naming the host, and `/health`.
struct WebServer {
    child: Child,
}

impl WebServer {
    fn start(root: &Path, addr: &str, port: u16) -> WebServer {
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", addr])
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("http://{addr}:{port}/health"))
            .call()
            .is_err()
        {
            assert!(Instant::now() < deadline, "{addr}:{port} never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        WebServer { child }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HAProxy as the load balancer's own service: run as the fleet's user (who reloads it with
/// SIGUSR2 from the playbook's handler), master-worker, from the configuration the failover
/// playbook rendered.
struct ManagedHaproxy {
    child: Child,
    pidfile: PathBuf,
}

impl ManagedHaproxy {
    fn start(cfg: &Path, pidfile: &Path, user: &str) -> ManagedHaproxy {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new("haproxy");
        c.arg("-W")
            .arg("-db")
            .arg("-f")
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(pidfile.with_extension("log")).expect("log"));
        if common::fleet::is_root() {
            let id = |flag: &str| -> u32 {
                let out = Command::new("id").args([flag, user]).output().expect("id");
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .expect("a numeric id")
            };
            c.gid(id("-g")).uid(id("-u"));
        }
        let child = c.spawn().expect("haproxy");
        // Its pid where the reload command finds it, as a service manager keeps it (haproxy
        // writes no pid file in the foreground).
        std::fs::write(pidfile, format!("{}\n", child.id())).expect("pid file");
        ManagedHaproxy {
            child,
            pidfile: pidfile.to_path_buf(),
        }
    }
}

impl Drop for ManagedHaproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The workers leave with their master; a reload leaves none behind either.
        let _ = std::fs::remove_file(&self.pidfile);
    }
}

/// Where Debian put haproxy (/usr/sbin: not on an unprivileged user's PATH).
fn haproxy_path() -> String {
    let out = Command::new("sh")
        .args(["-c", "command -v haproxy"])
        .output()
        .expect("sh");
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !p.is_empty(),
        "haproxy (tests/run-all.sh installs Debian's)"
    );
    p
}

/// Which host answered `site`'s page through the load balancer (the pages name their host).
fn served_by(front: u16, site: &str) -> String {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build(),
    );
    match agent
        .get(&format!("http://127.0.0.1:{front}/index.html"))
        .header("Host", format!("{site}:{front}"))
        .call()
    {
        Ok(mut r) if r.status() == 200 => r
            .body_mut()
            .read_to_string()
            .unwrap_or_default()
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string(),
        Ok(r) => format!("HTTP {}", r.status().as_u16()),
        Err(e) => e.to_string(),
    }
}

/// Waits until every site is answered by the host `want` says (the load balancer may take
/// a moment after a reload); the last answers when it never is.
fn wait_served(front: u16, want: &BTreeMap<&str, &str>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got: BTreeMap<&str, String> = want.keys().map(|s| (*s, served_by(front, s))).collect();
        if want.iter().all(|(s, h)| got[s] == *h) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sites served {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_lb_state(socket: &Path, host: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = server_states(socket);
        if s.get(host).is_some_and(|v| v == want) {
            return;
        }
        assert!(Instant::now() < deadline, "{host} never {want}: {s:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Failover of sites (`playbooks/failover.yml` run by `playbooks/failover-rules.yml`): sites
/// are assigned to web hosts in the inventory and routed by name through real HAProxy on the
/// load balancer host. When a host stops answering HAProxy's health check, `olympus heal`
/// (its check on the load balancer firing twice) runs the playbook: the host's sites go to
/// the UP hosts with the least load (read from real Prometheus), HAProxy's map and
/// configuration are rendered and checked again, and HAProxy reloads. When the host is back,
/// the next passes give it its sites back.
#[test]
fn sites_fail_over_to_the_least_loaded_host_and_come_back() {
    let fleet = Fleet::start(4);
    let dir = tempfile::tempdir().expect("tmp");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let d = dir.path();
    let lb_dir = d.join("lb");
    std::fs::create_dir(&lb_dir).expect("lb dir");
    std::fs::set_permissions(&lb_dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let web_port = common::prometheus::port();
    let front = common::prometheus::port();
    let web = &fleet.hosts[1..];
    let (w1, w2, w3) = (
        web[0].name.as_str(),
        web[1].name.as_str(),
        web[2].name.as_str(),
    );
    let own: [(&str, &[&str]); 3] = [
        (w1, &["alpha.test", "beta.test"]),
        (w2, &["gamma.test"]),
        (w3, &["delta.test"]),
    ];

    // Every web host can serve every site (the content is everywhere); each page names it.
    let mut servers: Vec<Option<WebServer>> = Vec::new();
    for h in web {
        let root = d.join(format!("www-{}", h.name));
        for (_, sites) in &own {
            for s in *sites {
                std::fs::create_dir_all(root.join(s)).expect("site dir");
                std::fs::write(
                    root.join(s).join("index.html"),
                    format!("{s} on {}\n", h.name),
                )
                .expect("page");
            }
        }
        std::fs::write(root.join("health"), "ok\n").expect("health");
        servers.push(Some(WebServer::start(&root, &h.addr.to_string(), web_port)));
    }

    // Load from monitoring: w2 busier than w3.
    let prom = common::prometheus::Prometheus::start();
    prom.set("site_load", "node", w2, 0.5);
    prom.set("site_load", "node", w3, 0.1);
    prom.set("site_load", "node", w1, 0.0);
    prom.wait_for("site_load", 3);

    let project = d.join("project");
    std::fs::create_dir_all(project.join("group_vars")).expect("project");
    let inv = lb_web_inventory(&fleet, |i| {
        let list: Vec<String> = own[i].1.iter().map(|s| format!("\"{s}\"")).collect();
        format!(" sites='[{}]'", list.join(", "))
    });
    std::fs::write(project.join("hosts.ini"), inv).expect("inventory");
    let pidfile = lb_dir.join("haproxy.pid");
    let socket = lb_dir.join("admin.sock");
    let check = lb_dir.join("check_sites");
    std::fs::write(
        project.join("group_vars/all.yml"),
        format!(
            "sites_port: {web_port}\nsites_path_prefix: true\nsites_prometheus_url: \"{prom}\"\nsites_load_query: site_load\nsites_lb_config: {lb}/haproxy.cfg\nsites_lb_map: {lb}/sites.map\nsites_lb_placement: {lb}/sites.placement\nsites_lb_socket: {sock}\nsites_lb_state_file: {lb}/server-state\nsites_lb_bind: \"127.0.0.1:{front}\"\nsites_lb_global: []\nsites_lb_haproxy: {haproxy}\nsites_lb_check: {check}\nsites_lb_check_inter: 300ms\nsites_lb_check_fall: 2\nsites_lb_check_rise: 1\nsites_lb_reload_command: sh -c 'if [ -s {pid} ]; then kill -USR2 \"$(cat {pid})\"; fi'\n",
            prom = prom.url,
            lb = lb_dir.display(),
            sock = socket.display(),
            check = check.display(),
            pid = pidfile.display(),
            haproxy = haproxy_path(),
        ),
    )
    .expect("group_vars");

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let failover = || {
        fleet
            .olympus("run", &project.join("hosts.ini"))
            .arg(repo.join("playbooks/failover.yml"))
            .arg("--roles-path")
            .arg(repo.join("roles"))
            .output()
            .expect("olympus run")
    };

    // First run: HAProxy is not running yet, every site on its own host.
    let out = failover();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let map = std::fs::read_to_string(lb_dir.join("sites.map")).expect("map");
    for (h, sites) in &own {
        for s in *sites {
            assert!(map.contains(&format!("\n{s} be_{h}\n")), "{map}");
        }
    }
    let _haproxy = ManagedHaproxy::start(&lb_dir.join("haproxy.cfg"), &pidfile, &fleet.user);
    for h in [w1, w2, w3] {
        wait_lb_state(&socket, h, "UP");
    }
    let home: BTreeMap<&str, &str> = own
        .iter()
        .flat_map(|(h, sites)| sites.iter().map(move |s| (*s, *h)))
        .collect();
    wait_served(front, &home);
    assert_eq!(served_by(front, "nosuch.test"), "HTTP 404");

    // Run again: nothing to change.
    let out = failover();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("changed=0") && t.contains("failed=0"), "{t}");

    // Heal, with the shipped rules aimed at this load balancer's check.
    let shipped =
        std::fs::read_to_string(repo.join("playbooks/failover-rules.yml")).expect("rules");
    for part in [
        "/usr/local/lib/olympus/check_sites",
        "cooldown: 1m",
        "playbook: failover.yml",
    ] {
        assert!(shipped.contains(part), "the shipped rules changed: {part}");
    }
    let rules = shipped
        .replace(
            "/usr/local/lib/olympus/check_sites",
            &check.display().to_string(),
        )
        // Passes seconds apart here, not minutes: no cooldown between failing over and
        // taking the sites back.
        .replace("cooldown: 1m", "cooldown: 0s")
        .replace(
            "playbook: failover.yml",
            &format!(
                "playbook: {}",
                repo.join("playbooks/failover.yml").display()
            ),
        );
    let rules_path = project.join("failover-rules.yml");
    std::fs::write(&rules_path, rules).expect("rules");
    let heal = || {
        let out = fleet
            .olympus("heal", &project.join("hosts.ini"))
            .arg(&rules_path)
            .arg("--once")
            .arg("--roles-path")
            .arg(repo.join("roles"))
            .output()
            .expect("olympus heal");
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "{t}");
        t
    };
    let t = heal();
    assert!(t.contains("nothing fires"), "{t}");

    // w1 stops answering: HAProxy sees it DOWN; the check fires twice, the playbook runs.
    servers[0] = None;
    wait_lb_state(&socket, w1, "DOWN");
    let t = heal();
    assert!(t.contains("held 1 of 2"), "{t}");
    let t = heal();
    assert!(t.contains("act: runs") && t.contains("→ ok"), "{t}");
    // w2 has load 0.5 + 0.5 for its site, w3 0.1 + 0.5: alpha goes to w3 (now 1.1), then
    // beta to w2 (1.0 < 1.1).
    let mut moved = home.clone();
    moved.insert("alpha.test", w3);
    moved.insert("beta.test", w2);
    wait_served(front, &moved);
    let placement = std::fs::read_to_string(lb_dir.join("sites.placement")).expect("placement");
    assert!(
        placement.contains(&format!("alpha.test {w1} {w3}\n"))
            && placement.contains(&format!("beta.test {w1} {w2}\n")),
        "{placement}"
    );
    // The reload kept HAProxy's knowledge that w1 is DOWN: nothing fires.
    assert_eq!(server_states(&socket)[w1], "DOWN");
    let t = heal();
    assert!(t.contains("nothing fires") || t.contains("acted"), "{t}");

    // w1 is back: HAProxy sees it UP; the check warns twice; the sites go home.
    servers[0] = Some(WebServer::start(
        &d.join(format!("www-{w1}")),
        &web[0].addr.to_string(),
        web_port,
    ));
    wait_lb_state(&socket, w1, "UP");
    let t = heal();
    assert!(t.contains("held 1 of 2") && t.contains("WARNING"), "{t}");
    let t = heal();
    assert!(t.contains("act: runs") && t.contains("→ ok"), "{t}");
    wait_served(front, &home);
    let t = heal();
    assert!(t.contains("nothing fires") || t.contains("acted"), "{t}");

    // Check mode on a settled fleet: nothing would change.
    let out = fleet
        .olympus("run", &project.join("hosts.ini"))
        .arg(repo.join("playbooks/failover.yml"))
        .arg("--roles-path")
        .arg(repo.join("roles"))
        .arg("--check")
        .output()
        .expect("olympus run --check");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("changed=0") && t.contains("failed=0"), "{t}");
}
