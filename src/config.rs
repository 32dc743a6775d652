//! `ansible.cfg` and `ANSIBLE_*` environment variables, read the way ansible-core finds and
//! layers them, for the settings olympus acts on.
//!
//! Owns: finding the one config file (`ANSIBLE_CONFIG`, `./ansible.cfg`, `~/.ansible.cfg`,
//! `/etc/ansible/ansible.cfg`; a `./ansible.cfg` in a world-writable directory is ignored, as
//! ansible-core does, with a warning), parsing its INI text, resolving relative paths against
//! the file's directory, letting `ANSIBLE_*` variables win over the file, and naming every
//! setting olympus does not act on (a warning with file and line, never silent).
//! Must not: apply anything; the command line layer decides what wins over what.

use std::path::{Path, PathBuf};

/// The settings olympus acts on, and where they came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnsibleConfig {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    pub inventory: Vec<String>,
    pub forks: Option<usize>,
    pub remote_user: Option<String>,
    pub roles_path: Vec<PathBuf>,
    pub host_key_checking: Option<bool>,
    pub private_key_file: Option<PathBuf>,
    pub timeout: Option<u64>,
    /// `implicit` (gather unless a play says no), `explicit` (only when a play says yes) or
    /// `smart` (olympus keeps no fact cache: as `implicit`).
    pub gathering: Option<String>,
    pub vault_password_file: Option<PathBuf>,
    pub become_: Option<bool>,
    pub become_method: Option<String>,
    pub become_user: Option<String>,
    pub become_ask_pass: Option<bool>,
    /// Settings read but not acted on, and other notes, with file and line.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}:{line}: {message}")]
    Parse {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{var}: {message}")]
    Env { var: String, message: String },
}

/// Settings that only change Ansible's own display or Python machinery: read, and noted as
/// not needed, not warned about.
const NOT_NEEDED: &[&str] = &[
    "retry_files_enabled",
    "retry_files_save_path",
    "stdout_callback",
    "callbacks_enabled",
    "callback_whitelist",
    "callback_enabled",
    "interpreter_python",
    "ansible_python_interpreter",
    "deprecation_warnings",
    "nocows",
    "nocolor",
    "command_warnings",
    "localhost_warning",
    "bin_ansible_callbacks",
    "display_skipped_hosts",
    "display_ok_hosts",
    "show_custom_stats",
    "log_path",
    "pipelining",
    "control_path",
    "control_path_dir",
    "fact_caching",
    "fact_caching_connection",
    "fact_caching_timeout",
    "collections_path",
    "collections_paths",
    "library",
    "module_utils",
    "action_plugins",
    "callback_plugins",
    "filter_plugins",
    "lookup_plugins",
    "strategy_plugins",
    "inventory_plugins",
    "enable_plugins",
    "ansible_managed",
    "transport",
    "poll_interval",
    "internal_poll_interval",
    "force_color",
    "any_errors_fatal",
];

/// Reads the config ansible-core would read: `env` gives environment variables, `cwd` is
/// the current directory, `home` the user's home.
pub fn load(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    home: Option<&Path>,
) -> Result<AnsibleConfig, ConfigError> {
    let mut cfg = AnsibleConfig::default();
    if let Some(file) = find(env, cwd, home, &mut cfg.warnings) {
        let text =
            std::fs::read_to_string(&file).map_err(|e| ConfigError::Read(file.clone(), e))?;
        apply_file(&mut cfg, &file, &text)?;
        cfg.file = Some(file);
    }
    apply_env(&mut cfg, env, cwd)?;
    Ok(cfg)
}

fn find(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    home: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Option<PathBuf> {
    if let Some(p) = env("ANSIBLE_CONFIG").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        let p = if p.is_dir() { p.join("ansible.cfg") } else { p };
        if p.is_file() {
            return Some(p);
        }
    }
    let local = cwd.join("ansible.cfg");
    if local.is_file() {
        if world_writable(cwd) {
            warnings.push(format!(
                "Ansible is being run in a world writable directory ({}), ignoring it as an ansible.cfg source",
                cwd.display()
            ));
        } else {
            return Some(local);
        }
    }
    if let Some(h) = home {
        let p = h.join(".ansible.cfg");
        if p.is_file() {
            return Some(p);
        }
    }
    let etc = PathBuf::from("/etc/ansible/ansible.cfg");
    etc.is_file().then_some(etc)
}

fn world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

/// Ansible's booleans in config files.
fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "y" | "t" => Some(true),
        "false" | "no" | "off" | "0" | "n" | "f" => Some(false),
        _ => None,
    }
}

/// A path as ansible-core resolves a config path: `~` expanded, relative to `base`.
fn path(v: &str, base: &Path) -> PathBuf {
    let v = v.trim();
    let expanded = match v.strip_prefix("~/") {
        Some(rest) => crate::connection::ssh_config::home_dir().join(rest),
        None => PathBuf::from(v),
    };
    if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    }
}

/// One setting's value, from the file (`at` = file:line) or the environment.
fn set(
    cfg: &mut AnsibleConfig,
    section: &str,
    key: &str,
    value: &str,
    base: &Path,
    at: &str,
) -> Result<(), String> {
    let num = |what: &str| {
        value
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("{what} must be a whole number, got '{value}'"))
    };
    let flag = |what: &str| {
        boolean(value).ok_or_else(|| format!("{what} must be a boolean, got '{value}'"))
    };
    let list = || -> Vec<String> {
        value
            .split([',', ':'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    match (section, key) {
        ("defaults", "inventory" | "hostfile") => {
            cfg.inventory = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    // A host list ("a,b,") stays text; a path is resolved.
                    if s.contains(',') {
                        s.to_string()
                    } else {
                        path(s, base).to_string_lossy().into_owned()
                    }
                })
                .collect();
        }
        ("defaults", "forks") => {
            let n = num("forks")?;
            if !(1..=100_000).contains(&n) {
                return Err(format!("forks must be between 1 and 100000, got {n}"));
            }
            cfg.forks = Some(n as usize);
        }
        ("defaults", "remote_user") => cfg.remote_user = Some(value.trim().to_string()),
        ("defaults", "roles_path") => {
            cfg.roles_path = list().iter().map(|p| path(p, base)).collect();
        }
        ("defaults", "host_key_checking") => {
            cfg.host_key_checking = Some(flag("host_key_checking")?)
        }
        ("defaults", "private_key_file") => cfg.private_key_file = Some(path(value, base)),
        ("defaults", "timeout") => {
            let t = num("timeout")?;
            if !(1..=3600).contains(&t) {
                return Err(format!(
                    "timeout must be between 1 and 3600 seconds, got {t}"
                ));
            }
            cfg.timeout = Some(t);
        }
        ("defaults", "gathering") => {
            let g = value.trim().to_ascii_lowercase();
            if !matches!(g.as_str(), "implicit" | "explicit" | "smart") {
                return Err(format!(
                    "gathering must be implicit, explicit or smart, got '{value}'"
                ));
            }
            cfg.gathering = Some(g);
        }
        ("defaults", "vault_password_file") => {
            cfg.vault_password_file = Some(path(value, base));
        }
        ("privilege_escalation", "become") => cfg.become_ = Some(flag("become")?),
        ("privilege_escalation", "become_method") => {
            let m = value.trim().to_string();
            if !matches!(m.as_str(), "sudo" | "su") {
                return Err(format!(
                    "become_method '{m}' is not supported by olympus yet (sudo, su)"
                ));
            }
            cfg.become_method = Some(m);
        }
        ("privilege_escalation", "become_user") => cfg.become_user = Some(value.trim().to_string()),
        ("privilege_escalation", "become_ask_pass") => {
            cfg.become_ask_pass = Some(flag("become_ask_pass")?)
        }
        (_, k) if NOT_NEEDED.contains(&k) => {}
        (s, k) => cfg.warnings.push(format!(
            "{at}: [{s}] {k} is not acted on by olympus; it is ignored"
        )),
    }
    Ok(())
}

fn apply_file(cfg: &mut AnsibleConfig, file: &Path, text: &str) -> Result<(), ConfigError> {
    let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |message: String| ConfigError::Parse {
            file: file.to_path_buf(),
            line: line_no,
            message,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err(err(format!("'{line}' is not a [section] header")));
            };
            section = name.trim().to_string();
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            // A continuation line of the previous value: not a setting of its own.
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            return Err(err(format!("expected 'key = value', got '{line}'")));
        };
        if section.is_empty() {
            return Err(err("a setting before any [section]".into()));
        }
        // Inline comments start with ';' after a space (Ansible's parser).
        let v = match v.find(" ;") {
            Some(i) => &v[..i],
            None => v,
        };
        let at = format!("{}:{line_no}", file.display());
        set(cfg, &section, k.trim(), v.trim(), &base, &at).map_err(err)?;
    }
    Ok(())
}

/// `ANSIBLE_*` variables win over the file.
fn apply_env(
    cfg: &mut AnsibleConfig,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<(), ConfigError> {
    const VARS: &[(&str, &str, &str)] = &[
        ("ANSIBLE_INVENTORY", "defaults", "inventory"),
        ("ANSIBLE_FORKS", "defaults", "forks"),
        ("ANSIBLE_REMOTE_USER", "defaults", "remote_user"),
        ("ANSIBLE_ROLES_PATH", "defaults", "roles_path"),
        ("ANSIBLE_HOST_KEY_CHECKING", "defaults", "host_key_checking"),
        ("ANSIBLE_PRIVATE_KEY_FILE", "defaults", "private_key_file"),
        ("ANSIBLE_TIMEOUT", "defaults", "timeout"),
        ("ANSIBLE_GATHERING", "defaults", "gathering"),
        (
            "ANSIBLE_VAULT_PASSWORD_FILE",
            "defaults",
            "vault_password_file",
        ),
        ("ANSIBLE_BECOME", "privilege_escalation", "become"),
        (
            "ANSIBLE_BECOME_METHOD",
            "privilege_escalation",
            "become_method",
        ),
        ("ANSIBLE_BECOME_USER", "privilege_escalation", "become_user"),
        (
            "ANSIBLE_BECOME_ASK_PASS",
            "privilege_escalation",
            "become_ask_pass",
        ),
    ];
    for (var, section, key) in VARS {
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            set(cfg, section, key, &v, cwd, var).map_err(|message| ConfigError::Env {
                var: var.to_string(),
                message,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with_env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn reads_the_file_then_the_environment() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("ansible.cfg"),
            "# a project\n[defaults]\ninventory = ./hosts.ini\nforks=20 ; inline\nremote_user: deploy\nroles_path = roles:/opt/roles\nhost_key_checking = False\nretry_files_enabled = False\nstrategy_plugins = x\nmystery = 1\n\n[privilege_escalation]\nbecome = True\nbecome_user = admin\n",
        )
        .unwrap();
        let env = with_env(&[("ANSIBLE_FORKS", "7")]);
        let cfg = load(&env, d.path(), None).unwrap();
        assert_eq!(cfg.file, Some(d.path().join("ansible.cfg")));
        assert_eq!(
            cfg.inventory,
            [d.path().join("./hosts.ini").to_string_lossy().into_owned()]
        );
        assert_eq!(cfg.forks, Some(7), "the environment wins over the file");
        assert_eq!(cfg.remote_user.as_deref(), Some("deploy"));
        assert_eq!(
            cfg.roles_path,
            [d.path().join("roles"), PathBuf::from("/opt/roles")]
        );
        assert_eq!(cfg.host_key_checking, Some(false));
        assert_eq!(cfg.become_, Some(true));
        assert_eq!(cfg.become_user.as_deref(), Some("admin"));
        assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
        assert!(
            cfg.warnings[0].contains("ansible.cfg:10: [defaults] mystery"),
            "{:?}",
            cfg.warnings
        );
    }

    #[test]
    fn refuses_bad_values_with_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ansible.cfg"), "[defaults]\nforks = many\n").unwrap();
        let e = load(&with_env(&[]), d.path(), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("ansible.cfg:2: forks must be a whole number, got 'many'"),
            "{e}"
        );
        let e = load(
            &with_env(&[("ANSIBLE_TIMEOUT", "0")]),
            Path::new("/nonexistent"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "ANSIBLE_TIMEOUT: timeout must be between 1 and 3600 seconds, got 0"
        );
    }

    #[test]
    fn ansible_config_wins_and_world_writable_cwd_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        let other = d.path().join("other.cfg");
        std::fs::write(&other, "[defaults]\nforks = 3\n").unwrap();
        std::fs::write(d.path().join("ansible.cfg"), "[defaults]\nforks = 4\n").unwrap();
        let env = with_env(&[("ANSIBLE_CONFIG", other.to_str().unwrap())]);
        assert_eq!(load(&env, d.path(), None).unwrap().forks, Some(3));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let cfg = load(&with_env(&[]), d.path(), None).unwrap();
        assert_eq!(cfg.forks, None);
        assert!(
            cfg.warnings[0].contains("world writable"),
            "{:?}",
            cfg.warnings
        );
    }
}
