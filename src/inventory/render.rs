//! The views `olympus inventory` prints, in the exact shapes `ansible-inventory` prints them,
//! so tools written against Ansible's output read ours unchanged.
//!
//! Owns: building the `--list`, `--host` and `--graph` documents. Must not: decide which
//! hosts are selected (the caller passes the selection) or write anywhere.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::Inventory;

/// What `--list` and `--host` show for variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarsView {
    /// Each host's variables merged from every layer (Ansible's default).
    Merged,
    /// Variables where they are defined: on hosts and on groups (`--export`).
    Export,
}

/// The `ansible-inventory --list` document. `available` limits the hosts shown (as
/// `--limit` does); `None` shows them all.
pub fn list(inv: &Inventory, available: Option<&HashSet<&str>>, view: VarsView) -> Value {
    let all_hosts: Vec<&str> = inv.group_hosts("all");
    let shown: HashSet<&str> = match available {
        Some(a) => all_hosts
            .iter()
            .copied()
            .filter(|h| a.contains(h))
            .collect(),
        None => all_hosts.iter().copied().collect(),
    };
    let mut out = Map::new();
    let mut seen = HashSet::new();
    format_group(inv, "all", &shown, view, &mut seen, &mut out);

    let mut hostvars = Map::new();
    for h in all_hosts.iter().filter(|h| shown.contains(*h)) {
        let vars = match view {
            VarsView::Merged => inv.host_vars(h),
            VarsView::Export => inv.own_host_vars(h),
        }
        .unwrap_or_default();
        if !vars.is_empty() {
            hostvars.insert((*h).to_string(), Value::Object(vars));
        }
    }
    let mut meta = Map::new();
    meta.insert("hostvars".into(), Value::Object(hostvars));
    meta.insert("profile".into(), Value::from("inventory_legacy"));
    out.insert("_meta".into(), Value::Object(meta));
    Value::Object(out)
}

fn format_group<'a>(
    inv: &'a Inventory,
    name: &'a str,
    shown: &HashSet<&str>,
    view: VarsView,
    seen: &mut HashSet<&'a str>,
    out: &mut Map<String, Value>,
) {
    let Some(g) = inv.group(name) else { return };
    let mut entry = Map::new();
    if name != "all" {
        let hosts: Vec<Value> = g
            .hosts
            .iter()
            .filter(|h| shown.contains(h.as_str()))
            .map(|h| Value::from(h.as_str()))
            .collect();
        if !hosts.is_empty() {
            entry.insert("hosts".into(), Value::Array(hosts));
        }
    }
    let mut children = Vec::new();
    let mut nested = Map::new();
    for c in &g.children {
        children.push(Value::from(c.as_str()));
        if seen.insert(c.as_str()) {
            format_group(inv, c, shown, view, seen, &mut nested);
        }
    }
    if !children.is_empty() {
        entry.insert("children".into(), Value::Array(children));
    }
    if view == VarsView::Export {
        let vars = inv.group_vars(name).unwrap_or_default();
        if !vars.is_empty() {
            entry.insert("vars".into(), Value::Object(vars));
        }
    }
    if !entry.is_empty() {
        out.insert(name.to_string(), Value::Object(entry));
    }
    for (k, v) in nested {
        out.insert(k, v);
    }
}

/// The `ansible-inventory --host NAME` document: that host's variables.
pub fn host(inv: &Inventory, name: &str, view: VarsView) -> Option<Value> {
    let vars = match view {
        VarsView::Merged => inv.host_vars(name),
        VarsView::Export => inv.own_host_vars(name),
    }?;
    Some(Value::Object(vars))
}

/// The `ansible-inventory --graph [GROUP]` tree; `None` when the group does not exist.
pub fn graph(inv: &Inventory, start: &str, with_vars: bool, view: VarsView) -> Option<String> {
    inv.group(start)?;
    let mut out = String::new();
    let show = with_vars.then_some(view);
    graph_group(inv, start, 0, show, &mut out, 0);
    Some(out)
}

fn graph_line(out: &mut String, depth: usize, text: &str) {
    if depth > 0 {
        out.push_str(&"  |".repeat(depth));
        out.push_str("--");
    }
    out.push_str(text);
    out.push('\n');
}

fn graph_vars(out: &mut String, depth: usize, vars: &Map<String, Value>) {
    let mut keys: Vec<&String> = vars.keys().collect();
    keys.sort();
    for k in keys {
        graph_line(
            out,
            depth,
            &format!("{{{k} = {}}}", crate::pyrepr::str_of(&vars[k])),
        );
    }
}

fn graph_group(
    inv: &Inventory,
    name: &str,
    depth: usize,
    vars: Option<VarsView>,
    out: &mut String,
    guard: usize,
) {
    let Some(g) = inv.group(name) else { return };
    if guard > 512 {
        return;
    }
    graph_line(out, depth, &format!("@{name}:"));
    for c in &g.children {
        graph_group(inv, c, depth + 1, vars, out, guard + 1);
    }
    if name != "all" {
        for h in &g.hosts {
            graph_line(out, depth + 1, h);
            if let Some(view) = vars {
                let hv = match view {
                    VarsView::Merged => inv.host_vars(h),
                    VarsView::Export => inv.own_host_vars(h),
                };
                graph_vars(out, depth + 2, &hv.unwrap_or_default());
            }
        }
    }
    if vars.is_some() {
        graph_vars(out, depth + 1, &inv.group_vars(name).unwrap_or_default());
    }
}

/// JSON as Python's `json.dumps(v, sort_keys=True, indent=4, ensure_ascii=False)` writes it,
/// which is what `ansible-inventory` prints.
pub fn to_python_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0);
    out
}

fn write_value(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_value(out, item, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_string(out, k);
                out.push_str(": ");
                write_value(out, &map[k.as_str()], depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
    }
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("    ");
    }
}

pub(crate) fn write_number(out: &mut String, n: &serde_json::Number) {
    if n.is_f64() {
        let f = n.as_f64().unwrap_or(0.0);
        // Python's repr: 1e+16 rather than 1e16, and always a '.0' on whole floats.
        let s = n.to_string();
        if let Some((m, e)) = s.split_once('e') {
            let sign = if e.starts_with(['-', '+']) { "" } else { "+" };
            let _ = write!(out, "{m}e{sign}{e}");
        } else if f.fract() == 0.0 && !s.contains('.') {
            let _ = write!(out, "{s}.0");
        } else {
            out.push_str(&s);
        }
    } else {
        let _ = write!(out, "{n}");
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_json_shape() {
        let v = json!({"b": [1, 2.5, "é"], "a": {}, "c": [], "d": 1e20, "e": 2.0});
        assert_eq!(
            to_python_json(&v),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        2.5,\n        \"é\"\n    ],\n    \"c\": [],\n    \"d\": 1e+20,\n    \"e\": 2.0\n}"
        );
    }

    #[test]
    fn python_json_keeps_unicode_and_escapes_controls() {
        assert_eq!(to_python_json(&json!("é😀")), "\"é😀\"");
        assert_eq!(to_python_json(&json!("a\u{1}\n")), "\"a\\u0001\\n\"");
    }
}
