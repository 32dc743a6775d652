//! A real Prometheus (Debian's) scraping a real Pushgateway every second, both on loopback
//! ports of their own, for heal's tests: a test pushes a metric for an instance and waits
//! until Prometheus answers with it.
#![allow(dead_code)] // only heal.rs uses it; every test binary compiles common/

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prometheus {
    pub url: String,
    push: String,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

/// A free loopback port (see [`free_port`]), for a server a test starts itself.
pub fn port() -> u16 {
    free_port()
}

/// A loopback port free now and never handed out before in this process (tests start
/// their Prometheus at the same time; the kernel may offer a just-released port twice).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn wait_up(url: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq::get(url).call().is_err() {
        assert!(Instant::now() < deadline, "{what} did not start ({url})");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Prometheus {
    fn start_once() -> Prometheus {
        for bin in ["prometheus", "prometheus-pushgateway"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {bin}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "{bin} is not installed (tests/run-all.sh installs Debian's)"
            );
        }
        let dir = tempfile::tempdir().expect("tmp");
        let (pp, gp) = (free_port(), free_port());
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: push\n    honor_labels: true\n    static_configs: [{{targets: ['127.0.0.1:{gp}']}}]\n"
            ),
        )
        .expect("config");
        let log = |name: &str| {
            std::fs::File::create(dir.path().join(name))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null())
        };
        let gateway = Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{gp}"))
            // Debian's build persists to /var/lib/prometheus by default: shared by every
            // gateway on the machine. In memory only.
            .arg("--persistence.file=")
            .stdout(log("pushgateway.out"))
            .stderr(log("pushgateway.log"))
            .spawn()
            .expect("pushgateway");
        let prometheus = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{pp}"))
            .stdout(log("prometheus.out"))
            .stderr(log("prometheus.log"))
            .spawn()
            .expect("prometheus");
        let p = Prometheus {
            url: format!("http://127.0.0.1:{pp}"),
            push: format!("http://127.0.0.1:{gp}"),
            children: vec![gateway, prometheus],
            _dir: dir,
        };
        wait_up(&format!("{}/metrics", p.push), "the pushgateway");
        wait_up(&format!("{}/-/ready", p.url), "prometheus");
        p
    }

    /// Started, and the servers answering are ours (another process may have taken a port
    /// between choosing it and binding it: then ours exited, and this starts again).
    pub fn start() -> Prometheus {
        for _ in 0..5 {
            let mut p = Prometheus::start_once();
            if p.children
                .iter_mut()
                .all(|c| matches!(c.try_wait(), Ok(None)))
            {
                return p;
            }
        }
        panic!("prometheus or the pushgateway could not bind a port five times");
    }

    /// Sets `metric{instance=..., job=...}` to `value` (labels base64-encoded in the path, so
    /// any text goes).
    pub fn set(&self, metric: &str, job: &str, instance: &str, value: f64) {
        use data_encoding::BASE64URL;
        let url = format!(
            "{}/metrics/job@base64/{}/instance@base64/{}",
            self.push,
            BASE64URL.encode(job.as_bytes()),
            BASE64URL.encode(instance.as_bytes())
        );
        ureq::put(&url)
            .send(format!("{metric} {value}\n"))
            .unwrap_or_else(|e| panic!("push to {url}: {e}"));
    }

    /// Removes the instance's metrics.
    pub fn clear(&self, job: &str, instance: &str) {
        use data_encoding::BASE64URL;
        let url = format!(
            "{}/metrics/job@base64/{}/instance@base64/{}",
            self.push,
            BASE64URL.encode(job.as_bytes()),
            BASE64URL.encode(instance.as_bytes())
        );
        ureq::delete(&url)
            .call()
            .unwrap_or_else(|e| panic!("delete {url}: {e}"));
    }

    /// Waits until `query` answers exactly `n` series.
    pub fn wait_for(&self, query: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = ureq::get(&format!("{}/api/v1/query", self.url))
                .query("query", query)
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
                .and_then(|v| v["data"]["result"].as_array().map(Vec::len));
            if got == Some(n) {
                return;
            }
            if Instant::now() >= deadline {
                let all = ureq::get(&format!("{}/api/v1/query", self.url))
                    .query("query", query)
                    .call()
                    .ok()
                    .and_then(|mut r| r.body_mut().read_to_string().ok());
                panic!("prometheus never answered {n} series for {query} (last: {got:?}): {all:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A real Alertmanager (Debian's) on a loopback port of its own, clustering off; a test posts
/// alerts to it as Prometheus would.
pub struct Alertmanager {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    pub fn start() -> Alertmanager {
        Alertmanager::with_webhook(None)
    }

    /// Started, notifying `webhook` (a URL) of every alert at once when given.
    pub fn with_webhook(webhook: Option<&str>) -> Alertmanager {
        for _ in 0..5 {
            let mut a = Alertmanager::start_once(webhook);
            if matches!(a.child.try_wait(), Ok(None)) {
                return a;
            }
        }
        panic!("alertmanager could not bind a port five times");
    }

    fn start_once(webhook: Option<&str>) -> Alertmanager {
        let dir = tempfile::tempdir().expect("tmp");
        let port = free_port();
        let config = dir.path().join("alertmanager.yml");
        let text = match webhook {
            None => "route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n".to_string(),
            Some(url) => format!(
                "route: {{receiver: heal, group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}\nreceivers: [{{name: heal, webhook_configs: [{{url: '{url}'}}]}}]\n"
            ),
        };
        std::fs::write(&config, text).expect("config");
        let log = std::fs::File::create(dir.path().join("alertmanager.log"))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null());
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus-alertmanager (tests/run-all.sh installs Debian's)");
        let a = Alertmanager {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        wait_up(&format!("{}/-/ready", a.url), "alertmanager");
        a
    }

    /// Fires an alert with these labels (and a `value` annotation) until resolved.
    pub fn fire(&self, labels: &[(&str, &str)], value: &str) {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let body = serde_json::json!([{
            "labels": labels,
            "annotations": {"value": value},
            "endsAt": "2100-01-01T00:00:00Z",
        }]);
        ureq::post(&format!("{}/api/v2/alerts", self.url))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("post alert: {e}"));
    }

    /// Waits until Alertmanager lists `n` active alerts.
    pub fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = ureq::get(&format!("{}/api/v2/alerts", self.url))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
                .and_then(|v| v.as_array().map(Vec::len));
            if got == Some(n) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "alertmanager never listed {n} alerts ({got:?})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
