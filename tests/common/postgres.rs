//! A real PostgreSQL (Debian's package) of the test's own: `initdb` into a temporary
//! directory, the server on a free loopback port, trust authentication for the `postgres`
//! user on loopback only. Run as the `postgres` system user when the tests run as root
//! (PostgreSQL refuses root). Stopped (immediate shutdown) when dropped; [`Postgres::stop`]
//! and [`Postgres::start_again`] take it away and bring it back on the same port and data.
#![allow(dead_code)] // only some test binaries use it; every one compiles common/

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Postgres {
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub url: String,
    data: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

/// Debian's server binaries (`postgresql` package, any version installed).
fn bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian's postgresql (tests/run-all.sh installs it)")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions
        .last()
        .expect("a PostgreSQL version under /usr/lib/postgresql")
        .join("bin")
        .join(name)
}

/// `cmd` as the postgres system user when this process is root.
fn as_server_user(program: PathBuf) -> Command {
    if rustix::process::getuid().is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        if rustix::process::getuid().is_root() {
            let st = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(st.success());
        }
        let out = as_server_user(bin("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = super::prometheus::port();
        let mut pg = Postgres {
            port,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            data,
            child: None,
            _dir: dir,
        };
        pg.start_again();
        pg
    }

    /// Starts the server (again) on its port and data, and waits until it answers.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = as_server_user(bin("postgres"))
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.data.display()))
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(bin("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Takes the server away at once (SIGQUIT: immediate shutdown, every connection cut).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The postmaster's pid is its pid file's first line (runuser stays its parent).
            let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
                .ok()
                .and_then(|s| s.lines().next().map(str::to_string));
            if let Some(pid) = pid {
                let _ = Command::new("kill").args(["-QUIT", &pid]).status();
            }
            let _ = child.wait();
        }
    }

    /// Runs SQL with psql; its output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url,
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
