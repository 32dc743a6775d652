//! Host patterns, evaluated the way Ansible's inventory manager does.
//!
//! `all` / `*`, group and host names, unions (`a:b`, `a,b`), intersections (`a:&b`),
//! exclusions (`a:!b`), shell wildcards (`web*`), regular expressions (`~web\d+`) and
//! subscripts (`web[0]`, `web[1:3]`, `web[-1]`), plus `--limit` (which may name a file with
//! `@file`, one pattern per line).

use std::collections::HashSet;
use std::path::PathBuf;

use regex::Regex;

use super::{Host, Inventory, LOCALHOST_NAMES};

#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("invalid host pattern '{pattern}': {reason}")]
    Invalid { pattern: String, reason: String },
    #[error("no hosts matched the subscripted pattern '{0}': the index is past the last host")]
    Subscript(String),
    #[error("cannot read limit file {}: {err}", path.display())]
    LimitFile {
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },
}

/// The hosts a pattern selected, in order, and patterns that matched nothing.
#[derive(Debug)]
pub struct Selection<'a> {
    pub hosts: Vec<&'a Host>,
    pub unmatched: Vec<String>,
}

impl Selection<'_> {
    pub fn names(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.name.as_str()).collect()
    }
}

/// Splits a pattern into its parts: on commas when there are any, else on colons that are
/// not inside `[...]` (a lone IPv6 address stays whole). Whitespace is dropped.
pub fn split(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if pattern.trim().parse::<std::net::Ipv6Addr>().is_ok() {
        vec![pattern.to_string()]
    } else {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut depth = 0u32;
        for c in pattern.chars() {
            match c {
                '[' => {
                    depth += 1;
                    cur.push(c);
                }
                ']' => {
                    depth = depth.saturating_sub(1);
                    cur.push(c);
                }
                ':' if depth == 0 => out.push(std::mem::take(&mut cur)),
                c if c.is_whitespace() && depth == 0 => out.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        out.push(cur);
        out
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Reads `--limit` into patterns: `@file` entries are replaced by the file's lines.
pub fn parse_limit(limit: &str) -> Result<Vec<String>, PatternError> {
    let mut out = Vec::new();
    for part in split(limit) {
        if let Some(file) = part.strip_prefix('@') {
            let path = PathBuf::from(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|err| PatternError::LimitFile { path, err })?;
            out.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        } else {
            out.push(part);
        }
    }
    Ok(out)
}

/// Regular patterns first, then intersections, then exclusions; `all` when only modifiers.
fn order(patterns: &[String]) -> Vec<&str> {
    let mut regular: Vec<&str> = Vec::new();
    let mut inter = Vec::new();
    let mut excl = Vec::new();
    for p in patterns {
        match p.as_bytes().first() {
            None => {}
            Some(b'!') => excl.push(p.as_str()),
            Some(b'&') => inter.push(p.as_str()),
            Some(_) => regular.push(p.as_str()),
        }
    }
    if regular.is_empty() {
        regular.push("all");
    }
    regular.into_iter().chain(inter).chain(excl).collect()
}

enum Subscript {
    Index(i64),
    Range(usize, Option<usize>),
}

fn split_subscript(pattern: &str) -> (&str, Option<Subscript>) {
    if pattern.starts_with('~') || !pattern.ends_with(']') {
        return (pattern, None);
    }
    let Some(open) = pattern.rfind('[') else {
        return (pattern, None);
    };
    if open == 0 {
        return (pattern, None);
    }
    let inner = &pattern[open + 1..pattern.len() - 1];
    let base = &pattern[..open];
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = inner.strip_prefix('-').filter(|r| digits(r))
        && let Ok(i) = rest.parse::<i64>()
    {
        return (base, Some(Subscript::Index(-i)));
    }
    if digits(inner)
        && let Ok(i) = inner.parse::<i64>()
    {
        return (base, Some(Subscript::Index(i)));
    }
    if let Some((a, b)) = inner.split_once([':', '-'])
        && digits(a)
        && (b.is_empty() || digits(b))
        && let Ok(start) = a.parse::<usize>()
    {
        let end = if b.is_empty() { None } else { b.parse().ok() };
        return (base, Some(Subscript::Range(start, end)));
    }
    (pattern, None)
}

fn matcher(pattern: &str) -> Result<Regex, PatternError> {
    let source = match pattern.strip_prefix('~') {
        Some(re) => format!("^(?:{re})"),
        None => crate::fnmatch::translate(pattern),
    };
    Regex::new(&source).map_err(|e| PatternError::Invalid {
        pattern: pattern.to_string(),
        reason: e
            .to_string()
            .lines()
            .last()
            .unwrap_or("bad expression")
            .to_string(),
    })
}

impl Inventory {
    /// The hosts `pattern` selects, narrowed by `limit` patterns when given (see
    /// [`parse_limit`]), each host once, in inventory order.
    pub fn select(
        &self,
        pattern: &str,
        limit: Option<&[String]>,
    ) -> Result<Selection<'_>, PatternError> {
        let mut unmatched = Vec::new();
        let mut hosts = self.evaluate(&split(pattern), &mut unmatched)?;
        if let Some(limit) = limit {
            let allowed: HashSet<&str> = self
                .evaluate(limit, &mut unmatched)?
                .into_iter()
                .map(|h| h.name.as_str())
                .collect();
            hosts.retain(|h| allowed.contains(h.name.as_str()));
        }
        let mut seen = HashSet::new();
        hosts.retain(|h| seen.insert(h.name.as_str()));
        Ok(Selection { hosts, unmatched })
    }

    /// The names of the hosts a `--limit` value lets through (`@file` read as patterns).
    pub fn limit_names(&self, limit: &str) -> Result<HashSet<&str>, PatternError> {
        let patterns = parse_limit(limit)?;
        Ok(self
            .select("all", Some(&patterns))?
            .hosts
            .into_iter()
            .map(|h| h.name.as_str())
            .collect())
    }

    fn evaluate(
        &self,
        patterns: &[String],
        unmatched: &mut Vec<String>,
    ) -> Result<Vec<&Host>, PatternError> {
        let mut hosts: Vec<&Host> = Vec::new();
        for p in order(patterns) {
            if let Some(h) = self.hosts.get(p) {
                hosts.push(h);
                continue;
            }
            let that = self.match_one(p, unmatched)?;
            match p.as_bytes()[0] {
                b'!' => {
                    let that: HashSet<&str> = that.iter().map(|h| h.name.as_str()).collect();
                    hosts.retain(|h| !that.contains(h.name.as_str()));
                }
                b'&' => {
                    let that: HashSet<&str> = that.iter().map(|h| h.name.as_str()).collect();
                    hosts.retain(|h| that.contains(h.name.as_str()));
                }
                _ => {
                    let existing: HashSet<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                    hosts.extend(
                        that.into_iter()
                            .filter(|h| !existing.contains(h.name.as_str())),
                    );
                }
            }
        }
        Ok(hosts)
    }

    fn match_one(
        &self,
        pattern: &str,
        unmatched: &mut Vec<String>,
    ) -> Result<Vec<&Host>, PatternError> {
        let bare = pattern.trim_start_matches(['!', '&']);
        if bare.is_empty() {
            return Err(PatternError::Invalid {
                pattern: pattern.to_string(),
                reason: "nothing follows the '!' or '&'".into(),
            });
        }
        let (expr, sub) = split_subscript(bare);
        let hosts = self.enumerate(expr, unmatched)?;
        match sub {
            None => Ok(hosts),
            Some(_) if hosts.is_empty() => Ok(hosts),
            Some(Subscript::Index(i)) => {
                let len = hosts.len() as i64;
                let idx = if i < 0 { len + i } else { i };
                if idx < 0 || idx >= len {
                    return Err(PatternError::Subscript(bare.to_string()));
                }
                Ok(vec![hosts[idx as usize]])
            }
            Some(Subscript::Range(start, end)) => {
                let last = hosts.len() - 1;
                let end = end.unwrap_or(last).min(last);
                if start > end {
                    return Ok(Vec::new());
                }
                Ok(hosts[start..=end].to_vec())
            }
        }
    }

    fn enumerate(
        &self,
        pattern: &str,
        unmatched: &mut Vec<String>,
    ) -> Result<Vec<&Host>, PatternError> {
        let mut results: Vec<&Host> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let re = matcher(pattern)?;
        let groups: Vec<&str> = if self.groups.contains_key(pattern) {
            vec![pattern]
        } else {
            self.groups
                .keys()
                .map(String::as_str)
                .filter(|g| re.is_match(g))
                .collect()
        };
        for g in &groups {
            for h in self.group_hosts(g) {
                if seen.insert(h)
                    && let Some(host) = self.hosts.get(h)
                {
                    results.push(host);
                }
            }
        }
        let special = pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']);
        if groups.is_empty() || special {
            if let Some(h) = self.hosts.get(pattern) {
                if seen.insert(h.name.as_str()) {
                    results.push(h);
                }
            } else {
                for h in self.hosts.values() {
                    if re.is_match(&h.name) && seen.insert(h.name.as_str()) {
                        results.push(h);
                    }
                }
            }
        }
        if results.is_empty()
            && LOCALHOST_NAMES.contains(&pattern)
            && let Some(h) = self.host(pattern)
        {
            results.push(h);
        }
        if results.is_empty() && groups.is_empty() && pattern != "all" {
            unmatched.push(pattern.to_string());
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(split("web:&prod:!db1"), ["web", "&prod", "!db1"]);
        assert_eq!(split("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(split("web[1:3]:db"), ["web[1:3]", "db"]);
        assert_eq!(split("fe80::1"), ["fe80::1"]);
        assert_eq!(split("~web\\d+"), ["~web\\d+"]);
        assert_eq!(split("all"), ["all"]);
    }

    #[test]
    fn ordering_puts_modifiers_last() {
        let p: Vec<String> = ["!a", "b", "&c", "d"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(order(&p), ["b", "d", "&c", "!a"]);
        let p: Vec<String> = vec!["!a".into()];
        assert_eq!(order(&p), ["all", "!a"]);
    }

    #[test]
    fn globs() {
        let m = |g: &str, s: &str| {
            Regex::new(&crate::fnmatch::translate(g))
                .unwrap()
                .is_match(s)
        };
        assert!(m("web*", "web01"));
        assert!(!m("web*", "aweb"));
        assert!(m("w?b", "wab"));
        assert!(m("db[12]", "db1"));
        assert!(!m("db[!12]", "db1"));
        assert!(m("db[!12]", "db3"));
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"));
        assert!(m("x[", "x["));
    }

    #[test]
    fn subscripts() {
        assert!(matches!(
            split_subscript("web[0]"),
            ("web", Some(Subscript::Index(0)))
        ));
        assert!(matches!(
            split_subscript("web[-1]"),
            ("web", Some(Subscript::Index(-1)))
        ));
        assert!(matches!(
            split_subscript("web[1:3]"),
            ("web", Some(Subscript::Range(1, Some(3))))
        ));
        assert!(matches!(
            split_subscript("web[2:]"),
            ("web", Some(Subscript::Range(2, None)))
        ));
        assert!(matches!(split_subscript("~web[0]"), ("~web[0]", None)));
        assert!(matches!(split_subscript("db[ab]"), ("db[ab]", None)));
    }
}
