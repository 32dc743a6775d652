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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Relative to the rules file's directory.
    pub playbook: PathBuf,
    /// Extra vars for the run; templates rendered with `value`, `labels`, `host` and `rule`.
    pub vars: serde_json::Map<String, serde_json::Value>,
}

/// Sources olympus knows of but does not implement yet (refused by name).
const LATER_SOURCES: &[&str] = &["graphite", "http", "command", "log"];

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
        let source = self.source(need("source")?)?;
        let hosts_from = self.string(need("hosts_from")?, "hosts_from")?;
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
            hosts_from,
            for_evaluations,
            action,
            cooldown,
            max_hosts,
        })
    }

    fn source(&self, node: &Node) -> Result<Source, RulesError> {
        let mut known: Vec<&str> =
            vec!["prometheus", "query", "alertmanager", "alertname", "filter"];
        known.extend(LATER_SOURCES);
        let entries = self.map(node, "a source", &known)?;
        if let Some((k, _, pos)) = entries
            .iter()
            .find(|(k, _, _)| LATER_SOURCES.contains(&k.as_str()))
        {
            return Err(self.err(
                *pos,
                format!(
                    "the '{k}' source is not implemented by olympus yet; implemented: prometheus, alertmanager"
                ),
            ));
        }
        let get = |k: &str| entries.iter().find(|(key, _, _)| key == k).map(|e| e.1);
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
        match (get("prometheus"), get("alertmanager")) {
            (Some(p), None) => {
                let Some(query) = get("query") else {
                    return Err(self.err(node.pos, "a prometheus source needs 'query'"));
                };
                if let Some((k, _, pos)) = entries
                    .iter()
                    .find(|(k, _, _)| k == "alertname" || k == "filter")
                {
                    return Err(self.err(*pos, format!("'{k}' belongs to an alertmanager source")));
                }
                Ok(Source::Prometheus {
                    url: url(p, "prometheus")?,
                    query: self.string(query, "query")?,
                })
            }
            (None, Some(a)) => {
                if let Some(q) = get("query") {
                    return Err(self.err(q.pos, "'query' belongs to a prometheus source"));
                }
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
                Ok(Source::Alertmanager {
                    url: url(a, "alertmanager")?,
                    filter,
                })
            }
            (Some(_), Some(_)) => Err(self.err(
                node.pos,
                "a source is either prometheus or alertmanager, not both",
            )),
            (None, None) => Err(self.err(
                node.pos,
                "a source needs 'prometheus' (with 'query') or 'alertmanager'",
            )),
        }
    }

    fn action(&self, node: &Node) -> Result<Action, RulesError> {
        let entries = self.map(node, "an action", &["playbook", "vars"])?;
        let get = |k: &str| entries.iter().find(|(key, _, _)| key == k).map(|e| e.1);
        let Some(pb) = get("playbook") else {
            return Err(self.err(node.pos, "an action needs 'playbook'"));
        };
        let base = self.path.parent().unwrap_or(Path::new("."));
        let playbook = base.join(self.string(pb, "playbook")?);
        if !playbook.is_file() {
            return Err(self.err(
                pb.pos,
                format!("playbook {} does not exist", playbook.display()),
            ));
        }
        let vars = match get("vars") {
            None => serde_json::Map::new(),
            Some(v) => match v.to_value() {
                serde_json::Value::Object(m) => m,
                _ => return Err(self.err(v.pos, "vars must be a mapping")),
            },
        };
        Ok(Action { playbook, vars })
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
                    "graphite: x",
                ),
                "rules.yml:3:14: the 'graphite' source is not implemented by olympus yet",
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
