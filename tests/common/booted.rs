//! A host that runs systemd as its init: a Debian root made with debootstrap (once, kept in
//! /var/tmp) and booted with `systemd-nspawn --boot`, sharing the machine's network, its
//! sshd listening on a loopback address of the fleet's with the fleet's host key and
//! letting the fleet's key log in as root. The container is powered off when dropped. One
//! such container runs on a machine at a time: test runs in other processes wait for it.
//!
//! Needs root, `systemd-nspawn` (systemd-container) and `debootstrap`, which
//! tests/run-all.sh installs; [`Booted::start`] says why when it cannot boot.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::fleet::Fleet;

/// Where the booted host's root is made, once (a new name when what it needs changes).
const ROOT: &str = "/var/tmp/olympus-booted-root-v1";

/// Held (an exclusive file lock) from before the root is touched until the container is powered off: the root
/// is one per machine and each boot rewrites its host key and sshd settings, which sshd reads
/// again for every connection — a second test run booting beside this one would change the
/// host key under it.
const LOCK: &str = "/var/tmp/olympus-booted-root.lock";

pub struct Booted {
    pub name: String,
    pub addr: Ipv4Addr,
    pub port: u16,
    /// An inventory file with the host in group `booted`.
    pub inventory: PathBuf,
    nspawn: Child,
    /// Released after `Drop` has powered the container off (fields drop after it).
    _lock: std::fs::File,
}

fn run(c: &mut Command) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{c:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The Debian root with systemd, sshd and Python (for ansible-core when recording).
fn root() -> Result<PathBuf, String> {
    let root = PathBuf::from(ROOT);
    if root.join("etc/olympus-ready").exists() {
        return Ok(root);
    }
    let _ = std::fs::remove_dir_all(&root);
    let mirror = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("URIs: ").map(str::to_string))
        })
        .unwrap_or_else(|| "http://deb.debian.org/debian".into());
    run(Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "--include=systemd,systemd-sysv,dbus,openssh-server,python3",
            "bookworm",
        ])
        .arg(&root)
        .arg(
            mirror
                .split_whitespace()
                .next()
                .unwrap_or("http://deb.debian.org/debian"),
        ))?;
    std::fs::write(root.join("etc/olympus-ready"), "").map_err(|e| e.to_string())?;
    Ok(root)
}

impl Booted {
    /// Boots the host beside `fleet` (its address `127.A.B.200`, the fleet's port + 1).
    pub fn start(fleet: &Fleet) -> Result<Booted, String> {
        if !super::fleet::is_root() {
            return Err("booting a container needs root".into());
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK)
            .map_err(|e| format!("{LOCK}: {e}"))?;
        lock.lock().map_err(|e| format!("{LOCK}: {e}"))?;
        let root = root()?;
        // What an earlier run's playbooks left (units, masks, the name) goes: every run
        // starts alike.
        std::fs::write(root.join("etc/hostname"), "olympus-container\n")
            .map_err(|e| e.to_string())?;
        run(Command::new("sh").arg("-c").arg(format!(
            "rm -rf {r}/etc/systemd/system/olympus-* {r}/etc/systemd/system/*.wants/olympus-*; \
             for f in {r}/etc/systemd/system/*; do [ \"$(readlink \"$f\")\" = /dev/null ] && rm -f \"$f\"; done; true",
            r = root.display()
        )))?;
        let base = fleet.hosts[0].addr.octets();
        let addr = Ipv4Addr::new(127, base[1], base[2], 200);
        let port = fleet.hosts[0].port + 1;
        // sshd: the fleet's host key, the fleet's user key for root, this address only.
        let etc = root.join("etc/ssh");
        std::fs::copy(
            fleet.dir.path().join("ssh_host_ed25519_key"),
            etc.join("olympus_host_key"),
        )
        .map_err(|e| e.to_string())?;
        run(Command::new("chmod")
            .arg("600")
            .arg(etc.join("olympus_host_key")))?;
        std::fs::write(
            etc.join("sshd_config.d/olympus.conf"),
            format!(
                "ListenAddress {addr}:{port}\nHostKey /etc/ssh/olympus_host_key\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let ssh_dir = root.join("root/.ssh");
        std::fs::create_dir_all(&ssh_dir).map_err(|e| e.to_string())?;
        let key =
            std::fs::read_to_string(fleet.key.with_extension("pub")).map_err(|e| e.to_string())?;
        std::fs::write(ssh_dir.join("authorized_keys"), key).map_err(|e| e.to_string())?;
        let host_pub = std::fs::read_to_string(fleet.dir.path().join("ssh_host_ed25519_key.pub"))
            .map_err(|e| e.to_string())?;
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let mut known = std::fs::read_to_string(&fleet.known_hosts).unwrap_or_default();
        known.push_str(&format!("[{addr}]:{port} {}\n", host_pub.join(" ")));
        std::fs::write(&fleet.known_hosts, known).map_err(|e| e.to_string())?;
        let name = "sd1".to_string();
        let inventory = fleet.dir.path().join("booted.ini");
        std::fs::write(
            &inventory,
            format!(
                "[booted]\n{name} ansible_host={addr} ansible_port={port} ansible_user=root ansible_ssh_private_key_file={}\n",
                fleet.key.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let log = fleet.dir.path().join("nspawn.log");
        let nspawn = Command::new("systemd-nspawn")
            .args(["--quiet", "--register=no", "--keep-unit", "--boot", "-D"])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("systemd-nspawn: {e}"))?;
        let mut booted = Booted {
            name,
            addr,
            port,
            inventory,
            nspawn,
            _lock: lock,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(
            &SocketAddr::from((addr, port)),
            Duration::from_millis(200),
        )
        .is_err()
        {
            if let Ok(Some(status)) = booted.nspawn.try_wait() {
                return Err(format!(
                    "the container stopped ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "sshd in the container never listened on {addr}:{port}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(booted)
    }

    /// The container's root on this machine.
    pub fn root(&self) -> &Path {
        Path::new(ROOT)
    }
}

impl Drop for Booted {
    fn drop(&mut self) {
        // SIGTERM: systemd-nspawn asks the container's systemd to power off.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.nspawn.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}
