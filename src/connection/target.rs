//! Where and how to connect to one host, resolved from its inventory variables, the user's
//! `ssh_config` and command-line options.
//!
//! Precedence, as with Ansible driving OpenSSH: inventory variables (`ansible_host`,
//! `ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`, ...) beat `ssh_config`,
//! which beats built-in defaults (port 22, the local user name, `~/.ssh/id_*`).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::ssh_config::{SshConfig, expand_path, home_dir, local_user};
use super::{DEFAULT_OUTPUT_CAP, Escalation, EscalationMethod, Secret};
use crate::yaml::Vars;

/// `--host-key-checking`: what to do with a host key that is not (or not yet) known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyChecking {
    /// Refuse unknown and changed keys (OpenSSH `StrictHostKeyChecking yes`; Ansible's default).
    #[default]
    Strict,
    /// Record unknown keys, refuse changed ones.
    AcceptNew,
    /// Accept any key and record nothing.
    Off,
}

impl HostKeyChecking {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "strict" | "yes" | "true" => Some(HostKeyChecking::Strict),
            "accept-new" => Some(HostKeyChecking::AcceptNew),
            "off" | "no" | "false" => Some(HostKeyChecking::Off),
            _ => None,
        }
    }
}

/// Options shared by every connection of a run.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `--known-hosts FILE`: read and record host keys there instead of the usual files.
    pub known_hosts: Option<PathBuf>,
    /// `--host-key-checking`; `None` lets ssh_config and inventory decide (default strict).
    pub host_key_checking: Option<HostKeyChecking>,
    /// The parsed `~/.ssh/config` (or `--ssh-config FILE`).
    pub ssh_config: SshConfig,
    pub connect_timeout: Duration,
    pub keepalive_interval: Option<Duration>,
    pub keepalive_max: usize,
    /// Passphrase for encrypted private keys (`--ask-pass` or `OLYMPUS_KEY_PASSPHRASE`).
    pub key_passphrase: Option<Secret>,
    /// Password for password authentication, only when asked for (`--ask-pass`).
    pub password: Option<Secret>,
    /// `--ask-become-pass`.
    pub become_password: Option<Secret>,
    /// Channels open at once on one connection (sshd's `MaxSessions`, default 10).
    pub max_sessions: usize,
    /// Use ssh-agent (`SSH_AUTH_SOCK`) after key files.
    pub use_agent: bool,
    pub output_cap: usize,
    /// Run commands through one persistent remote shell per connection instead of a new
    /// SSH session each (`--no-persistent-shell` turns it off).
    pub persistent_shell: bool,
    /// Raised to stop the run: running commands are signalled (TERM, then KILL) and their
    /// channels closed; new commands are refused.
    pub stop: Option<crate::stop::Stop>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            known_hosts: None,
            host_key_checking: None,
            ssh_config: SshConfig::default(),
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_max: 3,
            key_passphrase: None,
            password: None,
            become_password: None,
            max_sessions: 10,
            use_agent: true,
            output_cap: DEFAULT_OUTPUT_CAP,
            persistent_shell: true,
            stop: None,
        }
    }
}

/// How to reach a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ssh,
    Local,
}

/// Everything needed to open one host's connection.
#[derive(Debug, Clone)]
pub struct Target {
    /// The inventory name (`inventory_hostname`).
    pub name: String,
    pub kind: Kind,
    /// The address to connect to (after `ansible_host` / `HostName`).
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Key files to try, in order.
    pub identity_files: Vec<PathBuf>,
    /// Whether the first `explicit_identities_len` identity files were named explicitly
    /// (a missing one is then reported).
    pub explicit_identities: bool,
    pub explicit_identities_len: usize,
    pub identities_only: bool,
    pub password: Option<Secret>,
    /// known_hosts files to read, in order; the first is where new keys are recorded.
    pub known_hosts: Vec<PathBuf>,
    pub host_key_checking: HostKeyChecking,
    pub proxy_jump: Option<Box<Target>>,
    pub connect_timeout: Duration,
    pub keepalive_interval: Option<Duration>,
    pub escalation: Option<Escalation>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("host '{host}': connection type '{kind}' is not supported (olympus has ssh and local)")]
    UnsupportedConnection { host: String, kind: String },
    #[error("host '{host}': {var} must be {expected}, got {got}")]
    BadVar {
        host: String,
        var: String,
        expected: String,
        got: String,
    },
    #[error("host '{host}': ProxyJump '{jump}' is not a usable [user@]host[:port]")]
    BadJump { host: String, jump: String },
}

fn var_str(vars: &Vars, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match vars.get(*n) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    })
}

fn var_bool(vars: &Vars, names: &[&str]) -> Option<bool> {
    names.iter().find_map(|n| match vars.get(*n) {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" => Some(true),
            "no" | "false" | "off" | "0" | "n" => Some(false),
            _ => None,
        },
        Some(Value::Number(n)) => n.as_i64().map(|i| i != 0),
        _ => None,
    })
}

/// Command-line fallbacks (`-u`, `--private-key`), used only where the inventory is silent,
/// as Ansible does (inventory `ansible_user` beats `-u`).
#[derive(Debug, Clone, Default)]
pub struct HostDefaults {
    pub user: Option<String>,
    pub private_key: Option<PathBuf>,
}

impl Target {
    /// How many of the identity files at the front were named explicitly.
    pub fn explicit_count(&self) -> usize {
        if self.explicit_identities {
            self.explicit_identities_len
        } else {
            0
        }
    }

    /// [`Target::resolve`] with command-line fallbacks filled in first.
    pub fn resolve_with(
        name: &str,
        vars: &Vars,
        defaults: &HostDefaults,
        opts: &ConnectOptions,
    ) -> Result<Target, TargetError> {
        let mut vars = vars.clone();
        if let Some(u) = &defaults.user
            && !vars.contains_key("ansible_user")
            && !vars.contains_key("ansible_ssh_user")
        {
            vars.insert("ansible_user".into(), Value::from(u.as_str()));
        }
        if let Some(k) = &defaults.private_key
            && !vars.contains_key("ansible_ssh_private_key_file")
            && !vars.contains_key("ansible_private_key_file")
        {
            vars.insert(
                "ansible_ssh_private_key_file".into(),
                Value::from(k.to_string_lossy().into_owned()),
            );
        }
        Target::resolve(name, &vars, opts)
    }

    /// Resolves a host's connection settings from its merged inventory variables.
    pub fn resolve(name: &str, vars: &Vars, opts: &ConnectOptions) -> Result<Target, TargetError> {
        let kind = match var_str(vars, &["ansible_connection"]).as_deref() {
            None | Some("ssh") | Some("smart") | Some("paramiko") | Some("paramiko_ssh") => {
                Kind::Ssh
            }
            Some("local") => Kind::Local,
            Some(other) => {
                return Err(TargetError::UnsupportedConnection {
                    host: name.to_string(),
                    kind: other.to_string(),
                });
            }
        };
        let ssh_name = var_str(vars, &["ansible_host", "ansible_ssh_host"])
            .unwrap_or_else(|| name.to_string());
        let port = match var_str(vars, &["ansible_port", "ansible_ssh_port"]) {
            Some(p) => Some(p.parse::<u16>().map_err(|_| TargetError::BadVar {
                host: name.to_string(),
                var: "ansible_port".into(),
                expected: "a port number".into(),
                got: p,
            })?),
            None => None,
        };
        let user = var_str(vars, &["ansible_user", "ansible_ssh_user"]);
        let key = var_str(
            vars,
            &["ansible_ssh_private_key_file", "ansible_private_key_file"],
        );
        let password = var_str(
            vars,
            &[
                "ansible_password",
                "ansible_ssh_pass",
                "ansible_ssh_password",
            ],
        )
        .map(Secret::new)
        .or_else(|| opts.password.clone());
        let hkc_var = var_bool(
            vars,
            &["ansible_host_key_checking", "ansible_ssh_host_key_checking"],
        );

        let mut t = Target::from_ssh_config(name, &ssh_name, port, user.as_deref(), opts, 0)?;
        t.kind = kind;
        if let Some(k) = key {
            let p = expand_path(&k, &t.address, t.port, &t.user);
            t.identity_files.retain(|f| f != &p);
            t.identity_files.insert(0, p);
            t.explicit_identities = true;
            t.explicit_identities_len += 1;
        }
        t.password = password;
        if opts.host_key_checking.is_none()
            && let Some(b) = hkc_var
        {
            t.host_key_checking = if b {
                HostKeyChecking::Strict
            } else {
                HostKeyChecking::Off
            };
        }
        t.escalation = escalation_from_vars(name, vars, opts)?;
        Ok(t)
    }

    /// A target from ssh_config alone (also used for ProxyJump hops).
    fn from_ssh_config(
        name: &str,
        ssh_name: &str,
        port: Option<u16>,
        user: Option<&str>,
        opts: &ConnectOptions,
        depth: usize,
    ) -> Result<Target, TargetError> {
        let cfg = opts.ssh_config.for_host(ssh_name);
        let address = cfg
            .hostname
            .as_deref()
            .map(|h| h.replace("%h", ssh_name))
            .unwrap_or_else(|| ssh_name.to_string());
        let port = port.or(cfg.port).unwrap_or(22);
        let user = user
            .map(str::to_string)
            .or(cfg.user.clone())
            .unwrap_or_else(local_user);
        let mut identity_files: Vec<PathBuf> = cfg
            .identity_files
            .iter()
            .map(|f| expand_path(f, ssh_name, port, &user))
            .collect();
        let explicit_identities = !identity_files.is_empty();
        let explicit_identities_len = identity_files.len();
        if !cfg.identities_only.unwrap_or(false) {
            for default in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                let p = home_dir().join(".ssh").join(default);
                if !identity_files.contains(&p) {
                    identity_files.push(p);
                }
            }
        }
        let known_hosts = match &opts.known_hosts {
            Some(f) => vec![f.clone()],
            None if !cfg.user_known_hosts_files.is_empty() => cfg
                .user_known_hosts_files
                .iter()
                .map(|f| expand_path(f, ssh_name, port, &user))
                .collect(),
            None => vec![
                home_dir().join(".ssh/known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
            ],
        };
        let host_key_checking = opts.host_key_checking.unwrap_or_else(|| {
            cfg.strict_host_key_checking
                .as_deref()
                .and_then(HostKeyChecking::parse)
                .unwrap_or_default()
        });
        let proxy_jump = match cfg.proxy_jump.as_deref() {
            None | Some("none") => None,
            Some(_) if depth >= 4 => None,
            Some(jump) => {
                // Only the first hop of a comma list is honoured per level; each hop's own
                // config may chain further.
                let first = jump.split(',').next().unwrap_or(jump);
                let (juser, rest) = match first.split_once('@') {
                    Some((u, r)) => (Some(u), r),
                    None => (None, first),
                };
                let (jhost, jport) = super::super::inventory::range::split_port(rest);
                if jhost.is_empty() {
                    return Err(TargetError::BadJump {
                        host: name.to_string(),
                        jump: jump.to_string(),
                    });
                }
                Some(Box::new(Target::from_ssh_config(
                    &jhost,
                    &jhost,
                    jport,
                    juser,
                    opts,
                    depth + 1,
                )?))
            }
        };
        Ok(Target {
            name: name.to_string(),
            kind: Kind::Ssh,
            address,
            port,
            user,
            identity_files,
            explicit_identities,
            explicit_identities_len,
            identities_only: cfg.identities_only.unwrap_or(false),
            password: None,
            known_hosts,
            host_key_checking,
            proxy_jump,
            connect_timeout: cfg
                .connect_timeout
                .map(Duration::from_secs)
                .unwrap_or(opts.connect_timeout),
            keepalive_interval: cfg
                .server_alive_interval
                .map(Duration::from_secs)
                .or(opts.keepalive_interval),
            escalation: None,
        })
    }
}

fn escalation_from_vars(
    name: &str,
    vars: &Vars,
    opts: &ConnectOptions,
) -> Result<Option<Escalation>, TargetError> {
    if !var_bool(vars, &["ansible_become"]).unwrap_or(false) {
        return Ok(None);
    }
    let method = match var_str(vars, &["ansible_become_method"]).as_deref() {
        None | Some("sudo") => EscalationMethod::Sudo,
        Some("su") => EscalationMethod::Su,
        Some(other) => {
            return Err(TargetError::BadVar {
                host: name.to_string(),
                var: "ansible_become_method".into(),
                expected: "'sudo' or 'su'".into(),
                got: format!("'{other}'"),
            });
        }
    };
    Ok(Some(Escalation {
        method,
        user: var_str(vars, &["ansible_become_user"]).unwrap_or_else(|| "root".into()),
        password: var_str(vars, &["ansible_become_password", "ansible_become_pass"])
            .map(Secret::new)
            .or_else(|| opts.become_password.clone()),
    }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn vars(v: Value) -> Vars {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn inventory_vars_beat_ssh_config() {
        let cfg = SshConfig::parse(
            "Host web1\n  HostName 10.9.9.9\n  Port 2200\n  User cfguser\n  IdentityFile /k/cfg\n",
            Path::new("cfg"),
        );
        let opts = ConnectOptions {
            ssh_config: cfg,
            ..Default::default()
        };
        let t = Target::resolve("web1", &vars(json!({})), &opts).expect("resolves");
        assert_eq!(
            (t.address.as_str(), t.port, t.user.as_str()),
            ("10.9.9.9", 2200, "cfguser")
        );
        assert_eq!(t.identity_files[0], PathBuf::from("/k/cfg"));

        let t = Target::resolve(
            "web1",
            &vars(json!({"ansible_port": 2222, "ansible_user": "deploy", "ansible_ssh_private_key_file": "/k/inv"})),
            &opts,
        )
        .expect("resolves");
        assert_eq!((t.port, t.user.as_str()), (2222, "deploy"));
        assert_eq!(t.identity_files[0], PathBuf::from("/k/inv"));
        assert_eq!(
            t.address, "10.9.9.9",
            "ssh_config HostName applies to the name given"
        );

        let t = Target::resolve("web1", &vars(json!({"ansible_host": "192.0.2.1"})), &opts)
            .expect("resolves");
        assert_eq!(t.address, "192.0.2.1");
        assert_eq!(t.port, 22, "Host web1 does not match ansible_host");
    }

    #[test]
    fn connection_kinds_and_errors() {
        let opts = ConnectOptions::default();
        let t = Target::resolve(
            "localhost",
            &vars(json!({"ansible_connection": "local"})),
            &opts,
        )
        .expect("local");
        assert_eq!(t.kind, Kind::Local);
        let e = Target::resolve("w", &vars(json!({"ansible_connection": "winrm"})), &opts)
            .expect_err("winrm");
        assert!(e.to_string().contains("'winrm' is not supported"));
        let e =
            Target::resolve("w", &vars(json!({"ansible_port": "ssh"})), &opts).expect_err("port");
        assert!(e.to_string().contains("ansible_port"));
    }

    #[test]
    fn become_vars() {
        let opts = ConnectOptions::default();
        let t = Target::resolve(
            "w",
            &vars(json!({"ansible_become": "yes", "ansible_become_password": "pw"})),
            &opts,
        )
        .expect("ok");
        let e = t.escalation.expect("become");
        assert_eq!(e.user, "root");
        assert_eq!(e.method, EscalationMethod::Sudo);
        assert_eq!(e.password.as_ref().map(Secret::expose), Some("pw"));
    }

    #[test]
    fn proxy_jump_from_config() {
        let cfg = SshConfig::parse(
            "Host *.internal\n  ProxyJump ops@bastion:2202\n",
            Path::new("cfg"),
        );
        let opts = ConnectOptions {
            ssh_config: cfg,
            host_key_checking: Some(HostKeyChecking::AcceptNew),
            ..Default::default()
        };
        let t = Target::resolve("db.internal", &vars(json!({})), &opts).expect("ok");
        let j = t.proxy_jump.expect("jump");
        assert_eq!(
            (j.address.as_str(), j.port, j.user.as_str()),
            ("bastion", 2202, "ops")
        );
        assert_eq!(t.host_key_checking, HostKeyChecking::AcceptNew);
    }
}
