//! The rules file `olympus heal` reads: checks (a source, how its samples name hosts, how
//! long a condition must hold, the action, the per-rule guards) and global guards.
//!
//! Owns: reading the file into [`Rules`], refusing every unknown key and every source or
//! action olympus does not implement by name, with file, line and column. Must not: query a
//! source, read state or run anything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::yaml::{self, Node, NodeValue, Pos};

/// A rules file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(transparent)]
    Yaml(#[from] yaml::YamlError),
    #[error("{path}:{pos}: {message}")]
    At {
        path: PathBuf,
        pos: Pos,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct Rules {
    pub path: PathBuf,
    pub checks: Vec<Check>,
    pub guards: Guards,
}

/// Guards over every rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Guards {
    /// Actions started in the last hour, all rules, beyond which none starts.
    pub max_actions_per_hour: Option<u32>,
    /// Failed actions (since the kill switch was last released) at which heal engages the
    /// kill switch itself.
    pub max_failed_actions: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub pos: Pos,
    pub source: Source,
    /// How long the source (each host's probe) may take.
    pub timeout: Duration,
    /// The sample label that names the host (`instance`): `:port` stripped, matched against
    /// inventory names and `ansible_host`.
    pub hosts_from: String,
    /// Evaluations in a row the condition must hold on a host before heal acts (1: at once).
    pub for_evaluations: u32,
    pub action: Action,
    /// After an action on a host, how long the rule leaves that host alone.
    pub cooldown: Duration,
    /// More hosts than this firing in one evaluation: act on none, report it.
    pub max_hosts: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A Prometheus instant query: every sample of the vector result is a firing condition.
    Prometheus { url: String, query: String },
    /// Alertmanager's active alerts (`/api/v2/alerts`, not silenced or inhibited), narrowed
    /// by `alertname` and Alertmanager matchers (`severity="critical"`).
    Alertmanager { url: String, filter: Vec<String> },
    /// Graphite's render API: every series whose last non-null datapoint passes a threshold.
    Graphite {
        url: String,
        target: String,
        /// Graphite's `from` (`-5min`).
        from: String,
        above: Option<f64>,
        below: Option<f64>,
    },
    /// An HTTP GET per host of `hosts`, its URL a template of the host's variables; fires
    /// on no answer, another status, a body the regex does not find, or a slow answer.
    Http {
        hosts: String,
        url: String,
        /// Statuses that are well (empty: any 2xx).
        status: Vec<u16>,
        body: Option<String>,
        max_latency: Option<Duration>,
    },
    /// A command run on every host of `hosts` over SSH, read as a Nagios plugin: exit 0 OK,
    /// 1 WARNING, 2 CRITICAL, 3 (or anything else) UNKNOWN, perfdata after `|`.
    Command {
        hosts: String,
        command: String,
        /// The states that fire.
        on: Vec<NagiosState>,
    },
    /// Lines matching an extended regular expression (POSIX ERE, `grep -E`), counted on
    /// every host of `hosts`; fires when more than `above`.
    Log {
        hosts: String,
        from: LogFrom,
        pattern: String,
        above: u64,
    },
}

/// Where a log source counts.
#[derive(Debug, Clone, PartialEq)]
pub enum LogFrom {
    /// The last `lines` lines of a file.
    File { path: String, lines: u32 },
    /// A systemd unit's journal over the last `since`.
    Journal { unit: String, since: Duration },
}

/// A Nagios plugin's state, from its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum NagiosState {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl NagiosState {
    /// Exit status 0–3; anything else is UNKNOWN (as Nagios reads it).
    pub fn of_exit(rc: u32) -> NagiosState {
        match rc {
            0 => NagiosState::Ok,
            1 => NagiosState::Warning,
            2 => NagiosState::Critical,
            _ => NagiosState::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NagiosState::Ok => "OK",
            NagiosState::Warning => "WARNING",
            NagiosState::Critical => "CRITICAL",
            NagiosState::Unknown => "UNKNOWN",
        }
    }
}

impl Source {
    /// The host pattern a per-host source runs on; `None` for a source whose samples name
    /// hosts by a label.
    pub fn hosts(&self) -> Option<&str> {
        match self {
            Source::Http { hosts, .. }
            | Source::Command { hosts, .. }
            | Source::Log { hosts, .. } => Some(hosts),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub what: Remedy,
    /// Extra vars for the run; templates rendered with `value`, `labels`, `host` and `rule`.
    pub vars: serde_json::Map<String, serde_json::Value>,
}

/// What an action runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Remedy {
    /// A playbook (relative to the rules file's directory), limited to the host.
    Playbook(PathBuf),
    /// A program on the controller (no shell): the event as JSON on stdin and `OLYMPUS_*`
    /// variables; exit 0 is `ok`. It may take `timeout`.
    Exec {
        argv: Vec<String>,
        timeout: Duration,
    },
}

impl Remedy {
    /// How history and the decisions name it.
    pub fn describe(&self) -> String {
        match self {
            Remedy::Playbook(p) => p.display().to_string(),
            Remedy::Exec { argv, .. } => format!("exec {}", argv.join(" ")),
        }
    }
}

/// What a source is, by the key that names its kind; and the keys each kind takes.
const SOURCE_KINDS: &[(&str, &[&str])] = &[
    ("prometheus", &["query"]),
    ("alertmanager", &["alertname", "filter"]),
    ("graphite", &["target", "from", "above", "below"]),
    ("http", &["hosts", "status", "body", "max_latency"]),
    ("command", &["hosts", "states"]),
    ("log", &["hosts", "pattern", "lines", "above"]),
    ("journal", &["hosts", "pattern", "since", "above"]),
];

/// The label a per-host source's samples name their host by.
pub const HOST_LABEL: &str = "host";

/// How long a source's query (or a host's command) may take unless its `timeout` says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

impl Rules {
    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let node = yaml::load_file(path)?;
        let r = Reader { path };
        r.rules(&node)
    }
}

struct Reader<'a> {
    path: &'a Path,
}

impl Reader<'_> {
    fn err(&self, pos: Pos, message: impl Into<String>) -> RulesError {
        RulesError::At {
            path: self.path.to_path_buf(),
            pos,
            message: message.into(),
        }
    }

    /// The mapping's entries, refusing keys not in `known`.
    fn map<'n>(
        &self,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Result<Vec<(String, &'n Node, Pos)>, RulesError> {
        let Some(pairs) = node.as_map() else {
            return Err(self.err(
                node.pos,
                format!("{what} must be a mapping, not {}", node.value.kind()),
            ));
        };
        let mut out = Vec::new();
        for (k, v) in pairs {
            let key = k.as_key().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                let hint = crate::suggest::did_you_mean(&key, known.iter().copied());
                let hint = if hint.is_empty() {
                    format!("expected one of: {}", known.join(", "))
                } else {
                    hint
                };
                return Err(self.err(k.pos, format!("unknown key '{key}' in {what}; {hint}")));
            }
            out.push((key, v, k.pos));
        }
        Ok(out)
    }

    fn string(&self, node: &Node, what: &str) -> Result<String, RulesError> {
        match &node.value {
            NodeValue::Str(s) if !s.trim().is_empty() => Ok(s.clone()),
            _ => Err(self.err(
                node.pos,
                format!(
                    "{what} must be a non-empty string, not {}",
                    node.value.kind()
                ),
            )),
        }
    }

    fn count(&self, node: &Node, what: &str, min: i64) -> Result<u32, RulesError> {
        match node.value {
            NodeValue::Int(i) if i >= min => u32::try_from(i)
                .map_err(|_| self.err(node.pos, format!("{what} is too large: {i}"))),
            _ => Err(self.err(
                node.pos,
                format!("{what} must be a whole number of at least {min}"),
            )),
        }
    }

    fn rules(&self, node: &Node) -> Result<Rules, RulesError> {
        let mut checks = Vec::new();
        let mut guards = Guards::default();
        let mut seen_checks = false;
        for (key, v, _) in self.map(node, "the rules file", &["checks", "guards"])? {
            match key.as_str() {
                "checks" => {
                    seen_checks = true;
                    let NodeValue::Seq(items) = &v.value else {
                        return Err(self.err(v.pos, "checks must be a list"));
                    };
                    for item in items {
                        let c = self.check(item)?;
                        if checks.iter().any(|o: &Check| o.name == c.name) {
                            return Err(
                                self.err(item.pos, format!("a second check named '{}'", c.name))
                            );
                        }
                        checks.push(c);
                    }
                }
                _ => {
                    for (gk, gv, _) in
                        self.map(v, "guards", &["max_actions_per_hour", "max_failed_actions"])?
                    {
                        let n = Some(self.count(gv, &gk, 1)?);
                        match gk.as_str() {
                            "max_actions_per_hour" => guards.max_actions_per_hour = n,
                            _ => guards.max_failed_actions = n,
                        }
                    }
                }
            }
        }
        if !seen_checks {
            return Err(self.err(node.pos, "the rules file has no 'checks' list"));
        }
        Ok(Rules {
            path: self.path.to_path_buf(),
            checks,
            guards,
        })
    }

    fn check(&self, node: &Node) -> Result<Check, RulesError> {
        const KEYS: &[&str] = &[
            "name",
            "source",
            "hosts_from",
            "for",
            "action",
            "cooldown",
            "max_hosts",
        ];
        let entries = self.map(node, "a check", KEYS)?;
        let get = |k: &str| entries.iter().find(|(key, _, _)| key == k).map(|e| e.1);
        let need =
            |k: &str| get(k).ok_or_else(|| self.err(node.pos, format!("a check needs '{k}'")));
        let name = self.string(need("name")?, "name")?;
        let (source, timeout) = self.source(need("source")?)?;
        let hosts_from = match (source.hosts(), get("hosts_from")) {
            (None, _) => self.string(need("hosts_from")?, "hosts_from")?,
            (Some(_), None) => HOST_LABEL.to_string(),
            (Some(_), Some(n)) => {
                return Err(self.err(
                    n.pos,
                    "hosts_from does not apply to a source that runs on 'hosts': its events are about the host it ran on",
                ));
            }
        };
        let action = self.action(need("action")?)?;
        let for_evaluations = match get("for") {
            Some(n) => self.count(n, "for", 1)?,
            None => 1,
        };
        let cooldown = match get("cooldown") {
            Some(n) => self.duration(n, "cooldown")?,
            None => Duration::ZERO,
        };
        let max_hosts = get("max_hosts")
            .map(|n| self.count(n, "max_hosts", 1))
            .transpose()?;
        Ok(Check {
            name,
            pos: node.pos,
            source,
            timeout,
            hosts_from,
            for_evaluations,
            action,
            cooldown,
            max_hosts,
        })
    }

    /// The source, and how long reading it may take.
    fn source(&self, node: &Node) -> Result<(Source, Duration), RulesError> {
        let Some(pairs) = node.as_map() else {
            return Err(self.err(
                node.pos,
                format!("a source must be a mapping, not {}", node.value.kind()),
            ));
        };
        let kinds: Vec<&str> = SOURCE_KINDS.iter().map(|(k, _)| *k).collect();
        let named: Vec<String> = pairs
            .iter()
            .filter_map(|(k, _)| k.as_key())
            .filter(|k| kinds.contains(&k.as_str()))
            .collect();
        let kind = match named.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(self.err(
                    node.pos,
                    format!("a source needs one of: {}", kinds.join(", ")),
                ));
            }
            [a, b, ..] => {
                return Err(self.err(
                    node.pos,
                    format!("a source is one kind: {a} or {b}, not both"),
                ));
            }
        };
        let takes = SOURCE_KINDS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, t)| *t)
            .unwrap_or_default();
        let mut known = vec![kind.as_str(), "timeout"];
        known.extend(takes);
        let entries = self.map(node, &format!("a {kind} source"), &known)?;
        let get = |k: &str| entries.iter().find(|(key, _, _)| key == k).map(|e| e.1);
        let need = |k: &str| {
            get(k).ok_or_else(|| self.err(node.pos, format!("a {kind} source needs '{k}'")))
        };
        let url = |n: &Node, what: &str| -> Result<String, RulesError> {
            let url = self.string(n, what)?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(self.err(
                    n.pos,
                    format!("{what} must be an http:// or https:// URL, not '{url}'"),
                ));
            }
            Ok(url.trim_end_matches('/').to_string())
        };
        let timeout = match get("timeout") {
            Some(n) => {
                let t = self.duration(n, "timeout")?;
                if t.is_zero() || t > Duration::from_secs(3600) {
                    return Err(self.err(n.pos, "timeout must be more than 0s and at most 1h"));
                }
                t
            }
            None => DEFAULT_TIMEOUT,
        };
        let hosts = || self.string(need("hosts")?, "hosts");
        let pattern = || -> Result<String, RulesError> {
            let n = need("pattern")?;
            let p = self.string(n, "pattern")?;
            if p.contains('\n') || p.contains('\0') {
                return Err(self.err(n.pos, "pattern must be one line"));
            }
            Ok(p)
        };
        let above_count = || match get("above") {
            Some(n) => self.count(n, "above", 0).map(u64::from),
            None => Ok(0),
        };
        let source = match kind.as_str() {
            "prometheus" => Source::Prometheus {
                url: url(need("prometheus")?, "prometheus")?,
                query: self.string(need("query")?, "query")?,
            },
            "alertmanager" => {
                let mut filter = Vec::new();
                if let Some(n) = get("alertname") {
                    let name = self.string(n, "alertname")?;
                    filter.push(format!("alertname={}", serde_json::Value::from(name)));
                }
                if let Some(n) = get("filter") {
                    let NodeValue::Seq(items) = &n.value else {
                        return Err(self.err(
                            n.pos,
                            "filter must be a list of Alertmanager matchers such as 'severity=\"critical\"'",
                        ));
                    };
                    for item in items {
                        filter.push(self.string(item, "a filter matcher")?);
                    }
                }
                Source::Alertmanager {
                    url: url(need("alertmanager")?, "alertmanager")?,
                    filter,
                }
            }
            "graphite" => {
                let threshold = |k: &str| -> Result<Option<f64>, RulesError> {
                    get(k)
                        .map(|n| match n.value {
                            NodeValue::Int(i) => Ok(i as f64),
                            NodeValue::Float(f) if f.is_finite() => Ok(f),
                            _ => Err(self.err(n.pos, format!("{k} must be a number"))),
                        })
                        .transpose()
                };
                let (above, below) = (threshold("above")?, threshold("below")?);
                if above.is_none() && below.is_none() {
                    return Err(self.err(
                        node.pos,
                        "a graphite source needs 'above' or 'below' (the threshold that fires)",
                    ));
                }
                Source::Graphite {
                    url: url(need("graphite")?, "graphite")?,
                    target: self.string(need("target")?, "target")?,
                    from: match get("from") {
                        Some(n) => self.string(n, "from")?,
                        None => "-5min".into(),
                    },
                    above,
                    below,
                }
            }
            "http" => {
                let n = need("http")?;
                let url = self.string(n, "http")?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(self.err(
                        n.pos,
                        format!("http must be an http:// or https:// URL, not '{url}'"),
                    ));
                }
                let status = match get("status") {
                    None => Vec::new(),
                    Some(n) => {
                        let items: Vec<&Node> = match &n.value {
                            NodeValue::Seq(items) => items.iter().collect(),
                            _ => vec![n],
                        };
                        let mut out = Vec::new();
                        for i in items {
                            match i.value {
                                NodeValue::Int(c) if (100..=599).contains(&c) => out.push(c as u16),
                                _ => {
                                    return Err(self.err(
                                        i.pos,
                                        "status must be an HTTP status (100-599) or a list of them",
                                    ));
                                }
                            }
                        }
                        out
                    }
                };
                let body = match get("body") {
                    None => None,
                    Some(n) => {
                        let re = self.string(n, "body")?;
                        if let Err(e) = regex::Regex::new(&re) {
                            return Err(self.err(n.pos, format!("body is not a regex: {e}")));
                        }
                        Some(re)
                    }
                };
                Source::Http {
                    hosts: hosts()?,
                    url,
                    status,
                    body,
                    max_latency: get("max_latency")
                        .map(|n| self.duration(n, "max_latency"))
                        .transpose()?,
                }
            }
            "command" => {
                let n = need("command")?;
                let command = self.string(n, "command")?;
                let on = match get("states") {
                    None => vec![NagiosState::Critical],
                    Some(n) => {
                        let NodeValue::Seq(items) = &n.value else {
                            return Err(self.err(
                                n.pos,
                                "states must be a list of the states that fire: warning, critical, unknown",
                            ));
                        };
                        let mut on = Vec::new();
                        for i in items {
                            let s = self.string(i, "a state")?;
                            on.push(match s.to_ascii_lowercase().as_str() {
                                "warning" => NagiosState::Warning,
                                "critical" => NagiosState::Critical,
                                "unknown" => NagiosState::Unknown,
                                _ => {
                                    return Err(self.err(
                                        i.pos,
                                        format!(
                                            "'{s}' is not a state that fires; expected warning, critical or unknown"
                                        ),
                                    ));
                                }
                            });
                        }
                        on
                    }
                };
                Source::Command {
                    hosts: hosts()?,
                    command,
                    on,
                }
            }
            "log" => {
                let n = need("log")?;
                let path = self.string(n, "log")?;
                if !path.starts_with('/') {
                    return Err(self.err(n.pos, "log must be an absolute path on the hosts"));
                }
                let lines = match get("lines") {
                    Some(n) => self.count(n, "lines", 1)?,
                    None => 1000,
                };
                Source::Log {
                    hosts: hosts()?,
                    from: LogFrom::File { path, lines },
                    pattern: pattern()?,
                    above: above_count()?,
                }
            }
            _ => {
                let unit = self.string(need("journal")?, "journal")?;
                let since = match get("since") {
                    Some(n) => self.duration(n, "since")?,
                    None => Duration::from_secs(300),
                };
                if since.is_zero() {
                    return Err(self.err(node.pos, "since must be more than 0s"));
                }
                Source::Log {
                    hosts: hosts()?,
                    from: LogFrom::Journal { unit, since },
                    pattern: pattern()?,
                    above: above_count()?,
                }
            }
        };
        Ok((source, timeout))
    }

    fn action(&self, node: &Node) -> Result<Action, RulesError> {
        let entries = self.map(node, "an action", &["playbook", "exec", "timeout", "vars"])?;
        let get = |k: &str| entries.iter().find(|(key, _, _)| key == k).map(|e| e.1);
        let base = self.path.parent().unwrap_or(Path::new("."));
        let what = match (get("playbook"), get("exec")) {
            (Some(pb), None) => {
                if let Some(t) = get("timeout") {
                    return Err(self.err(
                        t.pos,
                        "timeout belongs to an exec action; a playbook's tasks take their own",
                    ));
                }
                let playbook = base.join(self.string(pb, "playbook")?);
                if !playbook.is_file() {
                    return Err(self.err(
                        pb.pos,
                        format!("playbook {} does not exist", playbook.display()),
                    ));
                }
                Remedy::Playbook(playbook)
            }
            (None, Some(ex)) => {
                let mut argv = match &ex.value {
                    NodeValue::Seq(items) if !items.is_empty() => items
                        .iter()
                        .map(|i| self.string(i, "an exec argument"))
                        .collect::<Result<Vec<_>, _>>()?,
                    NodeValue::Str(_) => vec![self.string(ex, "exec")?],
                    _ => {
                        return Err(self.err(
                            ex.pos,
                            "exec must be a program, or a list: the program and its arguments",
                        ));
                    }
                };
                // A path with a slash is relative to the rules file; a bare name is looked
                // up on PATH.
                if argv[0].contains('/') {
                    let rel: PathBuf = Path::new(&argv[0])
                        .components()
                        .filter(|c| *c != std::path::Component::CurDir)
                        .collect();
                    let program = base.join(rel);
                    if !program.is_file() {
                        return Err(self.err(
                            ex.pos,
                            format!("program {} does not exist", program.display()),
                        ));
                    }
                    argv[0] = program.display().to_string();
                }
                let timeout = match get("timeout") {
                    Some(n) => {
                        let t = self.duration(n, "timeout")?;
                        if t.is_zero() || t > Duration::from_secs(86400) {
                            return Err(
                                self.err(n.pos, "timeout must be more than 0s and at most 1d")
                            );
                        }
                        t
                    }
                    None => Duration::from_secs(600),
                };
                Remedy::Exec { argv, timeout }
            }
            (Some(_), Some(_)) => {
                return Err(self.err(node.pos, "an action is a playbook or an exec, not both"));
            }
            (None, None) => {
                return Err(self.err(node.pos, "an action needs 'playbook' or 'exec'"));
            }
        };
        let vars = match get("vars") {
            None => serde_json::Map::new(),
            Some(v) => match v.to_value() {
                serde_json::Value::Object(m) => m,
                _ => return Err(self.err(v.pos, "vars must be a mapping")),
            },
        };
        Ok(Action { what, vars })
    }

    fn duration(&self, node: &Node, what: &str) -> Result<Duration, RulesError> {
        let parsed = match &node.value {
            NodeValue::Int(i) => u64::try_from(*i).ok().map(Duration::from_secs),
            NodeValue::Str(s) => parse_duration(s),
            _ => None,
        };
        parsed.ok_or_else(|| {
            self.err(
                node.pos,
                format!("{what} must be a duration such as 30m, 2h or 1d (or seconds)"),
            )
        })
    }
}

/// `30s`, `30m`, `2h`, `1d`, `1h30m`, `90` (seconds); days are 24 hours. Negative or
/// beyond 100 years: `None`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let span: jiff::Span = s.parse().ok()?;
    let secs = span
        .total((jiff::Unit::Second, jiff::civil::date(2000, 1, 1)))
        .ok()?;
    (0.0..=100.0 * 365.0 * 86400.0)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Rules, RulesError> {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::write(d.path().join("fix.yml"), "- hosts: all\n  tasks: []\n").expect("pb");
        let p = d.path().join("rules.yml");
        std::fs::write(&p, text).expect("write");
        Rules::load(&p)
    }

    #[test]
    fn a_full_rule_reads() {
        let r = load(
            "checks:\n  - name: lag\n    source: {prometheus: 'http://127.0.0.1:9090/', query: 'lag > 300'}\n    hosts_from: instance\n    for: 2\n    action: {playbook: fix.yml, vars: {lag: '{{ value }}'}}\n    cooldown: 30m\n    max_hosts: 2\nguards: {max_actions_per_hour: 10, max_failed_actions: 3}\n",
        )
        .expect("rules");
        let c = &r.checks[0];
        assert_eq!(c.name, "lag");
        assert_eq!(
            c.source,
            Source::Prometheus {
                url: "http://127.0.0.1:9090".into(),
                query: "lag > 300".into()
            }
        );
        assert_eq!((c.for_evaluations, c.max_hosts), (2, Some(2)));
        assert_eq!(c.cooldown, Duration::from_secs(1800));
        assert_eq!(c.action.vars["lag"], "{{ value }}");
        assert_eq!(
            r.guards,
            Guards {
                max_actions_per_hour: Some(10),
                max_failed_actions: Some(3)
            }
        );
    }

    #[test]
    fn mistakes_are_named_with_their_place() {
        let base = "checks:\n  - name: lag\n    source: {prometheus: 'http://p:9090', query: 'up == 0'}\n    hosts_from: instance\n    action: {playbook: fix.yml}\n";
        for (text, want) in [
            (
                format!("{base}    cooldwn: 5m\n"),
                "rules.yml:6:5: unknown key 'cooldwn' in a check; did you mean 'cooldown'?",
            ),
            (
                base.replace(
                    "prometheus: 'http://p:9090', query: 'up == 0'",
                    "graphite: 'http://g', target: a.b",
                ),
                "rules.yml:3:13: a graphite source needs 'above' or 'below'",
            ),
            (
                base.replace(
                    "prometheus: 'http://p:9090', query: 'up == 0'",
                    "command: check_load, hosts: all, states: [critcal]",
                ),
                "rules.yml:3:56: 'critcal' is not a state that fires",
            ),
            (
                base.replace(
                    "prometheus: 'http://p:9090', query: 'up == 0'",
                    "command: check_load, hosts: all, query: x",
                ),
                "rules.yml:3:47: unknown key 'query' in a command source",
            ),
            (
                base.replace(
                    "prometheus: 'http://p:9090', query: 'up == 0'",
                    "command: check_load, hosts: all",
                ),
                "rules.yml:4:17: hosts_from does not apply",
            ),
            (
                base.replace(
                    "prometheus: 'http://p:9090', query: 'up == 0'",
                    "log: /var/log/x, hosts: all, pattern: x, journal: u",
                ),
                "a source is one kind: log or journal, not both",
            ),
            (
                base.replace(
                    "prometheus: 'http://p:9090', query: 'up == 0'",
                    "http: 'http://{{ ansible_host }}/', hosts: web, body: '('",
                ),
                "body is not a regex",
            ),
            (
                base.replace(
                    "prometheus: 'http://p:9090', query: 'up == 0'",
                    "http: 'http://{{ ansible_host }}/', hosts: web, timeout: 0",
                ),
                "timeout must be more than 0s and at most 1h",
            ),
            (
                base.replace("fix.yml", "missing.yml"),
                "rules.yml:5:24: playbook ",
            ),
            (
                format!("{base}    for: 0\n"),
                "rules.yml:6:10: for must be a whole number of at least 1",
            ),
            (
                format!("{base}    cooldown: soon\n"),
                "rules.yml:6:15: cooldown must be a duration",
            ),
            (
                base.replace("    hosts_from: instance\n", ""),
                "rules.yml:2:5: a check needs 'hosts_from'",
            ),
            (format!("{base}  - name: lag\n"), "a check needs 'source'"),
            (
                base.replace("{playbook: fix.yml}", "{playbook: fix.yml, exec: x}"),
                "rules.yml:5:13: an action is a playbook or an exec, not both",
            ),
            (
                base.replace("{playbook: fix.yml}", "{playbook: fix.yml, timeout: 5m}"),
                "timeout belongs to an exec action",
            ),
            (
                base.replace("{playbook: fix.yml}", "{exec: [./missing.sh]}"),
                "missing.sh does not exist",
            ),
            ("guards: {}\n".into(), "no 'checks' list"),
        ] {
            let e = load(&text).expect_err("refused").to_string();
            assert!(e.contains(want), "{e}\nwanted: {want}");
        }
    }

    #[test]
    fn an_alertmanager_source_reads() {
        let r = load(
            "checks:\n  - name: lag\n    source: {alertmanager: 'http://127.0.0.1:9093/', alertname: ReplicationLag, filter: ['severity=\"critical\"']}\n    hosts_from: instance\n    action: {playbook: fix.yml}\n",
        )
        .expect("rules");
        assert_eq!(
            r.checks[0].source,
            Source::Alertmanager {
                url: "http://127.0.0.1:9093".into(),
                filter: vec![
                    "alertname=\"ReplicationLag\"".into(),
                    "severity=\"critical\"".into()
                ],
            }
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("-5m"), None);
        assert_eq!(parse_duration("200y"), None);
        assert_eq!(parse_duration("soon"), None);
    }
}
