//! The small web application the roles deploy (`roles/app`), as release archives served
//! over HTTP: `shop-1.0`, `shop-2.0` and `shop-3.0` (a release that fails its health check).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The application's releases: `shop-VERSION.tar.gz`, each a directory `shop-VERSION/`
/// with `VERSION`, a `run` script serving `public/` with python3's http.server, and
/// `public/health` (3.0's says it is something else: it fails its health check).
pub fn build(dir: &Path) -> BTreeMap<String, String> {
    let mut sums = BTreeMap::new();
    for version in ["1.0", "2.0", "3.0"] {
        let top = dir.join(format!("build/shop-{version}"));
        std::fs::create_dir_all(top.join("public")).expect("mkdir");
        std::fs::write(top.join("VERSION"), format!("{version}\n")).expect("VERSION");
        std::fs::write(
            top.join("run"),
            "#!/bin/sh\nexec python3 -m http.server \"$APP_PORT\" --bind \"$APP_BIND\" --directory public\n",
        )
        .expect("run");
        let health = if version == "3.0" { "2.9-rc1" } else { version };
        std::fs::write(top.join("public/health"), format!("{health}\n")).expect("health");
        std::fs::write(
            top.join("public/index.html"),
            format!("<h1>shop {version}</h1>\n"),
        )
        .expect("index");
        let archive = dir.join(format!("shop-{version}.tar.gz"));
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "chmod 755 run && cd .. && tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -cf - shop-{version} | gzip -n > {}",
                archive.display()
            ))
            .current_dir(&top)
            .output()
            .expect("tar");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sum = Command::new("sha256sum")
            .arg(&archive)
            .output()
            .expect("sha256sum");
        let sum = String::from_utf8_lossy(&sum.stdout);
        sums.insert(
            version.to_string(),
            format!("sha256:{}", sum.split_whitespace().next().unwrap_or("")),
        );
    }
    sums
}

/// python3's http.server serving the release archives on 127.0.0.1:`port`.
pub struct ArtifactServer(std::process::Child);

impl ArtifactServer {
    pub fn start(dir: &Path, port: u16) -> ArtifactServer {
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        ArtifactServer(child)
    }
}

impl Drop for ArtifactServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
