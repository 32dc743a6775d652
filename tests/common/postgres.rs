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
    /// With [`Postgres::start_tls`]: the CA (PEM) that signed the server's certificate.
    pub ca: Option<PathBuf>,
    /// Extra server settings (`-c` values).
    settings: Vec<String>,
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

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    /// A server that accepts TCP connections over TLS only (`hostssl` in pg_hba.conf), its
    /// certificate (for `localhost` and 127.0.0.1) signed by a CA of the test's own.
    pub fn start_tls() -> Postgres {
        let mut pg = Postgres::start();
        pg.stop();
        let dir = pg.data.parent().expect("parent").to_path_buf();
        let p = |n: &str| dir.join(n).display().to_string();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        let (ca_key, ca_pem) = (p("ca.key"), p("ca.pem"));
        ca.extend(["-keyout", &ca_key, "-out", &ca_pem, "-days", "2"]);
        ca.extend(["-subj", "/CN=olympus test CA"]);
        openssl(&ca);
        let (key, csr, pem, ext) = (p("server.key"), p("server.csr"), p("server.pem"), p("ext"));
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]);
        openssl(&req);
        std::fs::write(&ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
        if rustix::process::getuid().is_root() {
            let st = Command::new("chown")
                .args(["postgres:postgres", &key, &pem])
                .status()
                .expect("chown");
            assert!(st.success());
        }
        let st = Command::new("chmod")
            .args(["600", &key])
            .status()
            .expect("chmod");
        assert!(st.success());
        std::fs::write(
            pg.data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .expect("pg_hba.conf");
        pg.settings = vec![
            "ssl=on".into(),
            format!("ssl_cert_file={pem}"),
            format!("ssl_key_file={key}"),
        ];
        pg.url = format!("postgres://postgres@localhost:{}/postgres", pg.port);
        pg.ca = Some(PathBuf::from(ca_pem));
        pg.start_again();
        pg
    }

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
            ca: None,
            settings: Vec::new(),
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
            .args(self.settings.iter().flat_map(|s| ["-c", s.as_str()]))
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
        // Over TLS when the server wants it (psql's `require` checks no certificate).
        let url = match self.ca {
            Some(_) => format!("{}?sslmode=require", self.url),
            None => self.url.clone(),
        };
        let out = Command::new("psql")
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &url,
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
