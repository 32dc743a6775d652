//! A test fleet: real OpenSSH `sshd` on loopback, several "hosts" that are distinct
//! 127.x.y.z addresses, generated host and user keys, and an inventory that reaches them.
//!
//! `Fleet::start(n)` starts one sshd per 16 hosts (sshd binds at most 16 listen addresses);
//! `Fleet::builder(n).sshd_per_host()` gives each host its own sshd so a test can stop one.
//! Everything lives in a temporary directory and the sshd processes die with the `Fleet`.
//!
//! Run as root (as CI does), the fleet logs in as a dedicated unprivileged user
//! `olympus-fleet` whose shell is `/bin/sh` and who has no start-up files, so remote commands
//! are not slowed by a heavy `.bashrc`. Run as another user, it logs in as that user.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The login user the fleet creates when the tests run as root.
pub const FLEET_USER: &str = "olympus-fleet";
/// The fleet user's password, which sudo asks for (`become` tests) and which password
/// authentication accepts on fleets started with `password_auth()`.
pub const FLEET_SUDO_PASSWORD: &str = "fleet-sudo-pw";
/// A second unprivileged user that `become_method: su` tests switch to.
pub const SU_USER: &str = "olympus-fleet-su";
pub const SU_PASSWORD: &str = "fleet-su-pw";
const MAX_LISTEN_PER_SSHD: usize = 16;

static FLEET_SEQ: AtomicU32 = AtomicU32::new(0);

/// One host of the fleet.
#[derive(Debug, Clone)]
pub struct FleetHost {
    pub name: String,
    pub addr: Ipv4Addr,
    pub port: u16,
    sshd: usize,
}

pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub hosts: Vec<FleetHost>,
    pub user: String,
    /// Private key that logs in as `user` on every host.
    pub key: PathBuf,
    /// known_hosts with every host's key, as `[addr]:port`.
    pub known_hosts: PathBuf,
    /// An INI inventory of all hosts in group `fleet`.
    pub inventory: PathBuf,
    /// An OpenSSH client config for the fleet (user, key, known_hosts, strict checking).
    pub ssh_config: PathBuf,
    sshd_configs: Vec<PathBuf>,
    sshds: Vec<Option<Child>>,
    /// Pid files of sshd processes started again by [`Fleet::reboot_script`].
    restarted: Vec<PathBuf>,
}

pub struct FleetBuilder {
    n: usize,
    per_host: bool,
    password_auth: bool,
}

impl FleetBuilder {
    /// Each host gets its own sshd (so `stop_host` can take one down).
    pub fn sshd_per_host(mut self) -> Self {
        self.per_host = true;
        self
    }

    /// sshd also accepts password authentication (the fleet user's password).
    pub fn password_auth(mut self) -> Self {
        self.password_auth = true;
        self
    }

    pub fn start(self) -> Fleet {
        Fleet::start_with(self.n, self.per_host, self.password_auth)
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sshd_path() -> PathBuf {
    for p in ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "OpenSSH sshd not found: run the tests with tests/run-all.sh (it installs openssh-server), \
         or install it yourself (apt-get install openssh-server)"
    );
}

/// True when the tests run as root (as CI does): the fleet then logs in as its own user,
/// which may become root with sudo.
pub fn is_root() -> bool {
    current_user().1
}

fn current_user() -> (String, bool) {
    let uid = String::from_utf8_lossy(&run(Command::new("id").arg("-u")).stdout)
        .trim()
        .to_string();
    let name = String::from_utf8_lossy(&run(Command::new("id").arg("-un")).stdout)
        .trim()
        .to_string();
    (name, uid == "0")
}

/// Creates the unprivileged fleet user once (safe when several test processes race).
fn ensure_fleet_user() {
    // sudo asks the fleet user for FLEET_SUDO_PASSWORD every time (no cached credentials),
    // so become tests see the password prompt.
    let script = format!(
        "id -u {u} >/dev/null 2>&1 || useradd --create-home --shell /bin/sh {u}; \
         echo '{u}:{pw}' | chpasswd; \
         id -u {su} >/dev/null 2>&1 || useradd --create-home --shell /bin/sh {su}; \
         echo '{su}:{supw}' | chpasswd; \
         home=$(getent passwd {u} | cut -d: -f6); rm -f \"$home/.bashrc\" \"$home/.profile\" \"$home/.bash_logout\"; \
         if [ -d /etc/sudoers.d ]; then \
           printf 'Defaults:{u} timestamp_timeout=0\\n{u} ALL=(ALL:ALL) ALL\\n' > /etc/sudoers.d/olympus-fleet; \
           chmod 0440 /etc/sudoers.d/olympus-fleet; \
           rm -f /etc/sudoers.d/olympus-fleet-nopasswd; fi",
        u = FLEET_USER,
        pw = FLEET_SUDO_PASSWORD,
        su = SU_USER,
        supw = SU_PASSWORD,
    );
    run(Command::new("flock")
        .arg("/tmp/olympus-fleet-user.lock")
        .arg("sh")
        .arg("-c")
        .arg(script));
}

/// A loopback /24 of our own for each fleet: 127.A.B.0 with A from the process id and B from
/// a counter, so concurrent fleets (threads or processes) do not share addresses.
fn fleet_base(attempt: u32) -> (u8, u8) {
    let seq = FLEET_SEQ.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let a = 10 + ((pid ^ (nanos >> 8)).wrapping_add(attempt * 7) % 200) as u8;
    let b = (seq.wrapping_mul(13).wrapping_add(nanos >> 16) % 250) as u8;
    (a, b)
}

impl Fleet {
    /// Starts `n` hosts sharing sshd processes, 16 to a process.
    pub fn start(n: usize) -> Fleet {
        Fleet::builder(n).start()
    }

    pub fn builder(n: usize) -> FleetBuilder {
        FleetBuilder {
            n,
            per_host: false,
            password_auth: false,
        }
    }

    fn start_with(n: usize, per_host: bool, password_auth: bool) -> Fleet {
        assert!(n > 0, "a fleet needs at least one host");
        let sshd = sshd_path();
        let (me, root) = current_user();
        let user = if root {
            ensure_fleet_user();
            std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
            FLEET_USER.to_string()
        } else {
            me
        };
        let dir = tempfile::Builder::new()
            .prefix("olympus-fleet-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path().to_path_buf();
        let d = d.as_path();
        if root {
            // The fleet user must be able to read the authorized keys under our temp dir.
            run(Command::new("chmod").arg("755").arg(d));
        }
        let host_key = d.join("ssh_host_ed25519_key");
        let key = d.join("id_ed25519");
        for (path, comment) in [(&host_key, "fleet-host"), (&key, "fleet-user")] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(path));
        }
        let auth = d.join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &auth).expect("authorized_keys");
        let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).expect("host pub");
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let host_pub = host_pub.join(" ");

        let per = if per_host { 1 } else { MAX_LISTEN_PER_SSHD };
        let mut last_err = String::new();
        let mut fleet = Fleet {
            hosts: Vec::new(),
            user,
            key: key.clone(),
            known_hosts: d.join("known_hosts"),
            inventory: d.join("inventory.ini"),
            ssh_config: d.join("ssh_config"),
            sshd_configs: Vec::new(),
            sshds: Vec::new(),
            restarted: Vec::new(),
            dir,
        };
        for attempt in 0..8 {
            let (a, b) = fleet_base(attempt);
            let port = 2200 + ((a as u16 * 31 + b as u16) % 700);
            fleet.hosts = (0..n)
                .map(|i| {
                    // Host i lives at 127.A.(B + i/250).(i%250 + 1).
                    let third = b.wrapping_add((i / 250) as u8);
                    FleetHost {
                        name: format!("h{:0width$}", i + 1, width = n.to_string().len().max(2)),
                        addr: Ipv4Addr::new(127, a, third, (i % 250) as u8 + 1),
                        port,
                        sshd: i / per,
                    }
                })
                .collect();
            fleet.sshd_configs.clear();
            fleet.sshds.clear();
            let groups = n.div_ceil(per);
            let mut ok = true;
            for g in 0..groups {
                let cfg = d.join(format!("sshd_config.{g}"));
                let listen: String = fleet
                    .hosts
                    .iter()
                    .filter(|h| h.sshd == g)
                    .map(|h| format!("ListenAddress {}:{}\n", h.addr, h.port))
                    .collect();
                let text = format!(
                    "{listen}HostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {auth}\nStrictModes no\n\
                     UsePAM no\nPasswordAuthentication {pwauth}\nKbdInteractiveAuthentication no\n\
                     PermitRootLogin prohibit-password\nUseDNS no\nPrintMotd no\n\
                     MaxStartups 200:30:500\nMaxSessions 10\nLogLevel INFO\n\
                     Subsystem sftp internal-sftp\nAllowUsers {user}\n",
                    hk = host_key.display(),
                    pid = d.join(format!("sshd.{g}.pid")).display(),
                    auth = auth.display(),
                    user = fleet.user,
                    pwauth = if password_auth { "yes" } else { "no" },
                );
                std::fs::write(&cfg, text).expect("sshd_config");
                fleet.sshd_configs.push(cfg);
            }
            for g in 0..groups {
                match fleet.spawn_sshd(&sshd, g) {
                    Ok(child) => fleet.sshds.push(Some(child)),
                    Err(e) => {
                        last_err = e;
                        ok = false;
                        break;
                    }
                }
            }
            if ok && let Err(e) = fleet.wait_listening(Duration::from_secs(15)) {
                last_err = e;
                ok = false;
            }
            if !ok {
                fleet.kill_all();
                continue;
            }
            fleet.write_client_files(&host_pub);
            return fleet;
        }
        panic!("could not start the sshd fleet after 8 attempts: {last_err}");
    }

    fn spawn_sshd(&self, sshd: &Path, g: usize) -> Result<Child, String> {
        let log = self.sshd_configs[g].with_extension(format!("{g}.log"));
        Command::new(sshd)
            .arg("-D")
            .arg("-f")
            .arg(&self.sshd_configs[g])
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", sshd.display()))
    }

    fn wait_listening(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        for h in self.hosts.clone() {
            loop {
                let addr = SocketAddr::from((h.addr, h.port));
                // Our own sshd must say it listens there: a connection alone could reach
                // another fleet's sshd that won the address first.
                let log = self.sshd_configs[h.sshd].with_extension(format!("{}.log", h.sshd));
                let log = std::fs::read_to_string(log).unwrap_or_default();
                if log.contains(&format!("Bind to port {} on {} failed", h.port, h.addr)) {
                    return Err(format!("{}:{} is taken by another sshd", h.addr, h.port));
                }
                let ours = log.contains(&format!("Server listening on {} port {}", h.addr, h.port));
                if ours && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    break;
                }
                if let Some(Some(child)) = self.sshds.get_mut(h.sshd)
                    && let Ok(Some(status)) = child.try_wait()
                {
                    let log = self.sshd_configs[h.sshd].with_extension(format!("{}.log", h.sshd));
                    let log = std::fs::read_to_string(log).unwrap_or_default();
                    return Err(format!("sshd for {} exited ({status}): {log}", h.name));
                }
                if Instant::now() > deadline {
                    return Err(format!("{}:{} never accepted connections", h.addr, h.port));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    fn write_client_files(&self, host_pub: &str) {
        let known: String = self
            .hosts
            .iter()
            .map(|h| format!("[{}]:{} {host_pub}\n", h.addr, h.port))
            .collect();
        std::fs::write(&self.known_hosts, known).expect("known_hosts");

        let mut inv = String::from("[fleet]\n");
        for h in &self.hosts {
            inv.push_str(&format!(
                "{} ansible_host={} ansible_port={}\n",
                h.name, h.addr, h.port
            ));
        }
        inv.push_str(&format!(
            "\n[fleet:vars]\nansible_user={}\nansible_ssh_private_key_file={}\n",
            self.user,
            self.key.display()
        ));
        std::fs::write(&self.inventory, inv).expect("inventory");

        let cfg = format!(
            "Host *\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
             GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  \
             LogLevel ERROR\n  ConnectTimeout 10\n",
            self.user,
            self.key.display(),
            self.known_hosts.display()
        );
        std::fs::write(&self.ssh_config, cfg).expect("ssh_config");
    }

    /// What the sshd serving host `i` has logged so far.
    pub fn sshd_log(&self, i: usize) -> String {
        let g = self.hosts[i].sshd;
        std::fs::read_to_string(self.sshd_configs[g].with_extension(format!("{g}.log")))
            .unwrap_or_default()
    }

    /// Adds a public key (OpenSSH one-line format) to every host's authorized keys.
    pub fn authorize(&self, public_key: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("authorized_keys"))
            .expect("authorized_keys");
        writeln!(f, "{}", public_key.trim()).expect("append key");
    }

    /// `olympus SUBCOMMAND -i INVENTORY` aimed at this fleet: its known_hosts, no
    /// ~/.ssh/config, no ssh-agent, a state directory (kill switch) of its own.
    pub fn olympus(&self, subcommand: &str, inventory: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_olympus"));
        c.arg(subcommand)
            .arg("-i")
            .arg(inventory)
            .arg("--known-hosts")
            .arg(&self.known_hosts)
            .args(["--ssh-config", "/dev/null"])
            .env_remove("SSH_AUTH_SOCK")
            // The fleet's own kill switch, never the machine's.
            .env("OLYMPUS_STATE_DIR", self.dir.path().join("state"));
        c
    }

    /// Runs `command` on host `i` with OpenSSH's own client.
    pub fn ssh(&self, i: usize, command: &str) -> Output {
        self.ssh_command(i, command)
            .output()
            .expect("run ssh client")
    }

    /// The OpenSSH client command for host `i`, ready to spawn.
    pub fn ssh_command(&self, i: usize, command: &str) -> Command {
        let h = &self.hosts[i];
        let mut c = Command::new("ssh");
        c.arg("-F")
            .arg(&self.ssh_config)
            .arg("-p")
            .arg(h.port.to_string())
            .arg(h.addr.to_string())
            .arg(command)
            .stdin(Stdio::null());
        c
    }

    /// Stops the sshd serving host `i` (and any host sharing it), as a crashed server would.
    pub fn stop_host(&mut self, i: usize) {
        let g = self.hosts[i].sshd;
        if let Some(slot) = self.sshds.get_mut(g)
            && let Some(mut child) = slot.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A shell script that does to host `i` what a reboot does to its SSH server: stops
    /// the sshd serving it, waits `down` seconds, runs `meanwhile`, and starts sshd again
    /// (daemonized, its pid in the same pid file). Run it as root, detached. The sshd it
    /// starts is stopped when the fleet is dropped.
    pub fn reboot_script(&mut self, i: usize, down: u32, meanwhile: &str) -> String {
        let g = self.hosts[i].sshd;
        let pid = self.dir.path().join(format!("sshd.{g}.pid"));
        let log = self.sshd_configs[g].with_extension(format!("{g}.log"));
        self.restarted.push(pid.clone());
        format!(
            "kill $(cat {pid}); sleep {down}; {meanwhile}; {sshd} -f {cfg} -E {log}",
            pid = pid.display(),
            sshd = sshd_path().display(),
            cfg = self.sshd_configs[g].display(),
            log = log.display(),
        )
    }

    fn kill_all(&mut self) {
        for pid in &self.restarted {
            if let Ok(p) = std::fs::read_to_string(pid) {
                let _ = Command::new("kill").arg(p.trim()).status();
            }
        }
        for slot in &mut self.sshds {
            if let Some(mut child) = slot.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.kill_all();
    }
}
