//! The part of OpenSSH's `ssh_config` olympus honours.
//!
//! `Host` blocks with patterns (`*`, `?`, `!negation`); keywords HostName, User, Port,
//! IdentityFile (repeatable), IdentitiesOnly, UserKnownHostsFile, StrictHostKeyChecking,
//! ProxyJump, ConnectTimeout, ServerAliveInterval, ServerAliveCountMax. Like OpenSSH, the
//! first value found for a keyword wins (IdentityFile accumulates). `Match` blocks and
//! `Include` are not supported: they are skipped and reported as warnings; other unknown
//! keywords are ignored, as they only tune OpenSSH's own client.

use std::path::{Path, PathBuf};

use super::known_hosts::wildcard_match;

/// Settings for one host, as far as the config file gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<String>,
    pub identities_only: Option<bool>,
    pub user_known_hosts_files: Vec<String>,
    pub strict_host_key_checking: Option<String>,
    pub proxy_jump: Option<String>,
    pub connect_timeout: Option<u64>,
    pub server_alive_interval: Option<u64>,
    pub server_alive_count_max: Option<u64>,
}

#[derive(Debug, Clone)]
struct Block {
    patterns: Vec<String>,
    settings: Vec<(String, String, usize)>,
}

/// A parsed config file.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    blocks: Vec<Block>,
    pub warnings: Vec<String>,
}

impl SshConfig {
    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> std::io::Result<SshConfig> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(SshConfig::parse(&text, path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SshConfig::default()),
            Err(e) => Err(e),
        }
    }

    pub fn parse(text: &str, path: &Path) -> SshConfig {
        let mut cfg = SshConfig::default();
        // Settings before any Host line apply to every host.
        let mut cur = Block {
            patterns: vec!["*".into()],
            settings: Vec::new(),
        };
        let mut skipping = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = split_keyword(line);
            let key = key.to_ascii_lowercase();
            match key.as_str() {
                "host" => {
                    cfg.blocks.push(std::mem::replace(
                        &mut cur,
                        Block {
                            patterns: split_args(&value),
                            settings: Vec::new(),
                        },
                    ));
                    skipping = false;
                }
                "match" => {
                    cfg.warnings.push(format!(
                        "{}:{}: 'Match' blocks are not supported by olympus; the block is ignored",
                        path.display(),
                        i + 1
                    ));
                    cfg.blocks.push(std::mem::replace(
                        &mut cur,
                        Block {
                            patterns: Vec::new(),
                            settings: Vec::new(),
                        },
                    ));
                    skipping = true;
                }
                "include" => cfg.warnings.push(format!(
                    "{}:{}: 'Include' is not supported by olympus; '{value}' is not read",
                    path.display(),
                    i + 1
                )),
                _ if skipping => {}
                _ => cur.settings.push((key, value, i + 1)),
            }
        }
        cfg.blocks.push(cur);
        cfg
    }

    /// The settings for `host` (the name given to ssh, before HostName is applied).
    pub fn for_host(&self, host: &str) -> HostConfig {
        let mut out = HostConfig::default();
        for block in &self.blocks {
            if !block_matches(&block.patterns, host) {
                continue;
            }
            for (key, value, _) in &block.settings {
                let first_arg = split_args(value).into_iter().next().unwrap_or_default();
                match key.as_str() {
                    "hostname" => {
                        out.hostname.get_or_insert(first_arg);
                    }
                    "user" => {
                        out.user.get_or_insert(first_arg);
                    }
                    "port" => set_once(&mut out.port, first_arg.parse().ok()),
                    "identityfile" => out.identity_files.push(first_arg),
                    "identitiesonly" => {
                        out.identities_only.get_or_insert(yes(&first_arg));
                    }
                    "userknownhostsfile" if out.user_known_hosts_files.is_empty() => {
                        out.user_known_hosts_files = split_args(value);
                    }
                    "stricthostkeychecking" => {
                        out.strict_host_key_checking
                            .get_or_insert(first_arg.to_ascii_lowercase());
                    }
                    "proxyjump" => {
                        out.proxy_jump.get_or_insert(first_arg);
                    }
                    "connecttimeout" => set_once(&mut out.connect_timeout, first_arg.parse().ok()),
                    "serveraliveinterval" => {
                        set_once(&mut out.server_alive_interval, first_arg.parse().ok())
                    }
                    "serveralivecountmax" => {
                        set_once(&mut out.server_alive_count_max, first_arg.parse().ok())
                    }
                    _ => {}
                }
            }
        }
        out
    }
}

fn set_once<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn yes(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "yes" | "true")
}

fn block_matches(patterns: &[String], host: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if wildcard_match(neg, host) {
                return false;
            }
        } else if wildcard_match(p, host) {
            matched = true;
        }
    }
    matched
}

/// `Keyword value`, `Keyword=value` or `Keyword = value`.
fn split_keyword(line: &str) -> (String, String) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let key = &line[..end];
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    (key.to_string(), rest.to_string())
}

/// Whitespace-separated arguments, with double quotes grouping.
fn split_args(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// Expands `~` and the tokens `%h` (host), `%p` (port), `%r` (remote user), `%u` (local
/// user), `%d` (home) and `%%` in a path from the config.
pub fn expand_path(raw: &str, host: &str, port: u16, user: &str) -> PathBuf {
    let home = home_dir();
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('h') => out.push_str(host),
                Some('p') => out.push_str(&port.to_string()),
                Some('r') => out.push_str(user),
                Some('u') => out.push_str(&local_user()),
                Some('d') => out.push_str(&home.to_string_lossy()),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
    if out == "~" {
        return home;
    }
    if let Some(rest) = out.strip_prefix("~/") {
        return home.join(rest);
    }
    PathBuf::from(out)
}

/// The invoking user's home directory (`$HOME`, else `/`).
pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The invoking user's name (`$USER`, `$LOGNAME`, else `root`).
pub fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "\
User globaluser
Host bastion
  HostName 10.0.0.1
  Port 2222
  User jump
Host *.internal !secret.internal
  ProxyJump bastion
  IdentityFile ~/.ssh/internal
  StrictHostKeyChecking accept-new
Host web*
  HostName=%h.example.com
  ConnectTimeout = 5
  ServerAliveInterval 30
Match host foo
  User ignored
Host *
  IdentityFile ~/.ssh/id_default
  UserKnownHostsFile /etc/a \"/etc/b c\"
  Port 22
";

    fn cfg() -> SshConfig {
        SshConfig::parse(CFG, Path::new("config"))
    }

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let c = cfg().for_host("a.internal");
        assert_eq!(c.user.as_deref(), Some("globaluser"));
        assert_eq!(c.proxy_jump.as_deref(), Some("bastion"));
        assert_eq!(c.identity_files, ["~/.ssh/internal", "~/.ssh/id_default"]);
        assert_eq!(c.strict_host_key_checking.as_deref(), Some("accept-new"));
        assert_eq!(c.port, Some(22));
        assert_eq!(c.user_known_hosts_files, ["/etc/a", "/etc/b c"]);
    }

    #[test]
    fn negation_and_equals_syntax() {
        let c = cfg().for_host("secret.internal");
        assert_eq!(c.proxy_jump, None);
        let c = cfg().for_host("web3");
        assert_eq!(c.hostname.as_deref(), Some("%h.example.com"));
        assert_eq!(c.connect_timeout, Some(5));
        assert_eq!(c.server_alive_interval, Some(30));
        let c = cfg().for_host("bastion");
        assert_eq!(c.hostname.as_deref(), Some("10.0.0.1"));
        assert_eq!(c.port, Some(2222));
        assert_eq!(
            c.user.as_deref(),
            Some("globaluser"),
            "first value wins, as in OpenSSH"
        );
    }

    #[test]
    fn match_blocks_are_skipped_with_a_warning() {
        let c = cfg();
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("config:14"), "{:?}", c.warnings);
        assert_ne!(c.for_host("foo").user.as_deref(), Some("ignored"));
    }

    #[test]
    fn path_tokens() {
        let p = expand_path("/keys/%r@%h:%p%%", "web1", 2222, "deploy");
        assert_eq!(p, PathBuf::from("/keys/deploy@web1:2222%"));
        let p = expand_path("~/.ssh/id", "h", 22, "u");
        assert_eq!(p, home_dir().join(".ssh/id"));
    }
}
