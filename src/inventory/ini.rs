//! The INI inventory format, read the way Ansible's `ini` plugin reads it.
//!
//! `[group]` sections list hosts (`name[ranges][:port] key=value ...`), `[group:vars]` sets
//! group variables, `[group:children]` nests groups. Values are typed like Python literals
//! (see [`super::pyliteral`]). Lines before any section belong to `ungrouped`.

use std::path::Path;

use indexmap::IndexMap;

use super::{Inventory, InventoryError, pyliteral, range};
use crate::yaml::Pos;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Hosts,
    Vars,
    Children,
}

/// A `[child]` named under `[parent:children]` before any section defined it.
struct Pending {
    line: u32,
    parents: Vec<String>,
    kind: State,
}

/// Parses INI inventory text into `inv`. `path` names the file in errors and is recorded as
/// the source of the hosts it defines.
pub(super) fn parse(inv: &mut Inventory, text: &str, path: &Path) -> Result<(), InventoryError> {
    let mut group = "ungrouped".to_string();
    let mut state = State::Hosts;
    let mut pending: IndexMap<String, Pending> = IndexMap::new();
    let err = |line: usize, col: usize, msg: String, hint: Option<String>| {
        InventoryError::parse(
            path,
            Pos {
                line: u32::try_from(line).unwrap_or(u32::MAX),
                col: u32::try_from(col).unwrap_or(u32::MAX),
            },
            msg,
            hint,
        )
    };

    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim();
        let col = raw.len() - raw.trim_start().len() + 1;
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            let Some((name, kind)) = parse_section(line) else {
                return Err(err(
                    lineno,
                    col,
                    format!("invalid section header '{line}'"),
                    Some("a section is [group], [group:vars] or [group:children], with no spaces inside the brackets".into()),
                ));
            };
            state = match kind.as_deref() {
                None | Some("hosts") => State::Hosts,
                Some("vars") => State::Vars,
                Some("children") => State::Children,
                Some(other) => {
                    let hint = crate::suggest::did_you_mean(other, ["vars", "children", "hosts"]);
                    return Err(err(
                        lineno,
                        col,
                        format!(
                            "section [{name}:{other}] has unknown type '{other}'; expected 'vars' or 'children'"
                        ),
                        Some(hint),
                    ));
                }
            };
            group = name;
            if !inv.has_group(&group) {
                if state == State::Vars && !pending.contains_key(&group) {
                    pending.insert(
                        group.clone(),
                        Pending {
                            line: lineno as u32,
                            parents: Vec::new(),
                            kind: State::Vars,
                        },
                    );
                }
                inv.add_group(&group);
            }
            if state != State::Vars
                && let Some(p) = pending.get(&group)
            {
                if p.kind == State::Children {
                    add_pending_children(inv, &group, &mut pending)
                        .map_err(|m| err(lineno, col, m, None))?;
                } else {
                    pending.shift_remove(&group);
                }
            }
            continue;
        }

        match state {
            State::Hosts => {
                let tokens = shlex_split(line).map_err(|m| {
                    err(
                        lineno,
                        col,
                        format!("cannot parse host line '{line}': {m}"),
                        None,
                    )
                })?;
                let Some((first, rest)) = tokens.split_first() else {
                    continue;
                };
                let (pattern, port) = range::split_port(first);
                if pattern.ends_with(':') && port.is_none() {
                    return Err(err(
                        lineno,
                        col,
                        format!(
                            "invalid host '{first}': a trailing ':' must be followed by a port number"
                        ),
                        None,
                    ));
                }
                if pattern == "---" {
                    return Err(err(
                        lineno,
                        col,
                        "invalid host '---'".into(),
                        Some("this looks like a YAML file: name it .yml or .yaml".into()),
                    ));
                }
                let names = if range::has_range(&pattern) {
                    range::expand(&pattern).map_err(|m| err(lineno, col, m, None))?
                } else {
                    vec![pattern]
                };
                let mut vars = Vec::with_capacity(rest.len());
                for t in rest {
                    let Some((k, v)) = t.split_once('=') else {
                        let c = raw.find(t.as_str()).map_or(col, |i| i + 1);
                        return Err(err(
                            lineno,
                            c,
                            format!("expected key=value after the host name, got '{t}'"),
                            Some("quote values that contain spaces: key=\"a b\"".into()),
                        ));
                    };
                    vars.push((k.to_string(), pyliteral::parse_value(v)));
                }
                for name in names {
                    inv.add_host(&name, Some(&group), port, Some(path));
                    for (k, v) in &vars {
                        inv.set_host_var(&name, k, v.clone());
                    }
                }
            }
            State::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(err(
                        lineno,
                        col,
                        format!("expected key=value in [{group}:vars], got '{line}'"),
                        None,
                    ));
                };
                let (k, v) = (k.trim(), v.trim());
                if k.is_empty() {
                    return Err(err(
                        lineno,
                        col,
                        format!("missing variable name before '=' in '{line}'"),
                        None,
                    ));
                }
                inv.set_group_var(&group, k, pyliteral::parse_value(v))
                    .map_err(|m| err(lineno, col, m, None))?;
            }
            State::Children => {
                let (name, rest) = match line.find(char::is_whitespace) {
                    Some(i) => (&line[..i], line[i..].trim_start()),
                    None => (line, ""),
                };
                if name.contains([':', ']']) || !(rest.is_empty() || rest.starts_with('#')) {
                    return Err(err(
                        lineno,
                        col,
                        format!("expected a group name in [{group}:children], got '{line}'"),
                        None,
                    ));
                }
                let child = name.to_string();
                if inv.has_group(&child) {
                    inv.add_child(&group, &child)
                        .map_err(|m| err(lineno, col, m, None))?;
                } else {
                    pending
                        .entry(child)
                        .and_modify(|p| p.parents.push(group.clone()))
                        .or_insert(Pending {
                            line: lineno as u32,
                            parents: vec![group.clone()],
                            kind: State::Children,
                        });
                }
            }
        }
    }

    for (name, p) in pending {
        match p.kind {
            State::Vars => {
                let known: Vec<String> = inv
                    .groups()
                    .map(|g| g.name.clone())
                    .filter(|g| *g != name)
                    .collect();
                let hint = crate::suggest::did_you_mean(&name, known.iter().map(String::as_str));
                return Err(err(
                    p.line as usize,
                    1,
                    format!(
                        "section [{name}:vars] sets variables of group '{name}', which no [{name}] or [{name}:children] section defines"
                    ),
                    Some(if hint.is_empty() {
                        format!("add a [{name}] section, even an empty one")
                    } else {
                        hint
                    }),
                ));
            }
            _ => {
                // Ansible rejects the whole file here; olympus creates the group empty, as
                // older Ansible did, and says so.
                inv.warn(format!(
                    "{}:{}: group '{name}' in [{}:children] is not defined by any section; created empty",
                    path.display(),
                    p.line,
                    p.parents.last().map(String::as_str).unwrap_or("?"),
                ));
                for parent in &p.parents {
                    inv.add_child(parent, &name)
                        .map_err(|m| err(p.line as usize, 1, m, None))?;
                }
            }
        }
    }
    Ok(())
}

fn add_pending_children(
    inv: &mut Inventory,
    group: &str,
    pending: &mut IndexMap<String, Pending>,
) -> Result<(), String> {
    let Some(p) = pending.shift_remove(group) else {
        return Ok(());
    };
    for parent in &p.parents {
        inv.add_child(parent, group)?;
        if pending
            .get(parent)
            .is_some_and(|pp| pp.kind == State::Children)
        {
            add_pending_children(inv, parent, pending)?;
        }
    }
    Ok(())
}

/// `[name]` or `[name:kind]`, optionally followed by a comment.
fn parse_section(line: &str) -> Option<(String, Option<String>)> {
    let inner_end = line.find(']')?;
    let after = line[inner_end + 1..].trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let inner = &line[1..inner_end];
    let (name, kind) = match inner.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (inner, None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains('[') {
        return None;
    }
    if let Some(k) = kind
        && (k.is_empty() || !k.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        return None;
    }
    Some((name.to_string(), kind.map(str::to_string)))
}

/// Python's `shlex.split(line, comments=True)` in POSIX mode: whitespace separates words,
/// quotes group, backslash escapes, and an unquoted `#` starts a comment.
pub(crate) fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err("no closing quotation".into()),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => cur.push(ch),
                    None => return Err("no escaped character".into()),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shlex_like_python() {
        assert_eq!(shlex_split("a b=1").unwrap(), ["a", "b=1"]);
        assert_eq!(
            shlex_split(r#"h c="x y" d='p q'"#).unwrap(),
            ["h", "c=x y", "d=p q"]
        );
        assert_eq!(shlex_split(r#"h j='"q"'"#).unwrap(), ["h", "j=\"q\""]);
        assert_eq!(shlex_split(r#"h k="a\"b\n""#).unwrap(), ["h", "k=a\"b\\n"]);
        assert_eq!(shlex_split(r"h k=a\ b").unwrap(), ["h", "k=a b"]);
        assert_eq!(shlex_split("h a=1 # comment").unwrap(), ["h", "a=1"]);
        assert_eq!(shlex_split("h color=#fff").unwrap(), ["h", "color="]);
        assert!(shlex_split("h a='x").is_err());
    }

    #[test]
    fn sections() {
        assert_eq!(parse_section("[web]"), Some(("web".into(), None)));
        assert_eq!(
            parse_section("[web:vars]  # c"),
            Some(("web".into(), Some("vars".into())))
        );
        assert_eq!(parse_section("[web servers]"), None);
        assert_eq!(parse_section("[web] x"), None);
    }
}
