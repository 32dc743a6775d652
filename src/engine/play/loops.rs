//! Loop items: `loop`, `with_items`, `with_list`, `with_dict`, `with_fileglob` and
//! `with_sequence` turned into the list of items a task runs for.
//!
//! Owns: rendering a loop's source with a host's variables and Ansible's flattening and
//! sequence rules. Must not: run items (the task runner does) or touch hosts.

use super::*;

/// `with_sequence`: `start=1 end=5 stride=1 format=web%02d` or `count=3`, or `1-5`.
pub(super) fn sequence(spec: &str) -> Result<Vec<Value>, String> {
    let (mut start, mut end, mut stride, mut format, mut count) =
        (1i64, None, 1i64, "%d".to_string(), None);
    for word in spec.split_whitespace() {
        if let Some((k, v)) = word.split_once('=') {
            let num = || {
                v.parse::<i64>()
                    .map_err(|_| format!("with_sequence: bad number '{v}'"))
            };
            match k {
                "start" => start = num()?,
                "end" => end = Some(num()?),
                "stride" => stride = num()?,
                "count" => count = Some(num()?),
                "format" => format = v.to_string(),
                other => return Err(format!("with_sequence: unknown option '{other}'")),
            }
        } else if let Some((a, b)) = word.split_once('-') {
            start = a
                .parse()
                .map_err(|_| format!("with_sequence: bad range '{word}'"))?;
            end = Some(
                b.parse()
                    .map_err(|_| format!("with_sequence: bad range '{word}'"))?,
            );
        }
    }
    let end = match (end, count) {
        (Some(e), _) => e,
        (None, Some(c)) => start + (c - 1) * stride,
        (None, None) => return Err("with_sequence needs 'end' or 'count'".into()),
    };
    if stride == 0 {
        return Err("with_sequence: stride cannot be 0".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::from(printf_int(&format, i)));
        i += stride;
        if out.len() > 1_000_000 {
            return Err("with_sequence: too many items".into());
        }
    }
    Ok(out)
}

/// Enough of printf for sequence formats: `%d`, `%02d`, `%x`, `%o` inside other text.
pub(super) fn printf_int(fmt: &str, n: i64) -> String {
    let Some(p) = fmt.find('%') else {
        return fmt.to_string();
    };
    let rest = &fmt[p + 1..];
    let spec_end = rest
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let (flags, conv) = (
        &rest[..spec_end],
        rest[spec_end..].chars().next().unwrap_or('d'),
    );
    let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0);
    let zero = flags.starts_with('0');
    let body = match conv {
        'x' => format!("{n:x}"),
        'X' => format!("{n:X}"),
        'o' => format!("{n:o}"),
        _ => n.to_string(),
    };
    let padded = if zero {
        format!("{body:0>width$}")
    } else {
        format!("{body:>width$}")
    };
    format!(
        "{}{}{}",
        &fmt[..p],
        padded,
        &rest[(spec_end + 1).min(rest.len())..]
    )
}

/// `with_fileglob`: files (not directories) matching a pattern, relative to the playbook.
pub(super) fn fileglob(base: &Path, pattern: &str) -> Vec<String> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    let (dir, file_pat) = match (full.parent(), full.file_name()) {
        (Some(d), Some(f)) => (d.to_path_buf(), f.to_string_lossy().into_owned()),
        _ => return Vec::new(),
    };
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .filter(|e| {
                    crate::connection::known_hosts::wildcard_match_case(
                        &file_pat,
                        &e.file_name().to_string_lossy(),
                    )
                })
                .map(|e| e.path().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The items of a `with_<name>` lookup loop from its rendered terms, as ansible-core's
/// lookup plugins of those names give them.
pub(super) fn lookup_items(name: &str, terms: Value) -> Result<Vec<Value>, String> {
    let lists = |terms: Value| -> Result<Vec<Vec<Value>>, String> {
        match terms {
            Value::Array(a) => Ok(a
                .into_iter()
                .map(|t| match t {
                    Value::Array(inner) => inner,
                    other => vec![other],
                })
                .collect()),
            other => Err(format!("with_{name} needs a list of lists, got {other}")),
        }
    };
    match name {
        "nested" | "cartesian" => {
            let lists = lists(terms)?;
            if lists.is_empty() {
                return Err(format!(
                    "with_{name} requires at least one element in the list"
                ));
            }
            let mut out: Vec<Vec<Value>> = vec![Vec::new()];
            for l in lists {
                let mut next = Vec::with_capacity(out.len().saturating_mul(l.len()));
                for prefix in &out {
                    for x in &l {
                        let mut p = prefix.clone();
                        p.push(x.clone());
                        next.push(p);
                    }
                }
                if next.len() > crate::bounds::MAX_COUNT as usize {
                    return Err(format!(
                        "with_{name} gives more than {} items",
                        crate::bounds::MAX_COUNT as usize
                    ));
                }
                out = next;
            }
            Ok(out.into_iter().map(Value::Array).collect())
        }
        "together" => {
            let lists = lists(terms)?;
            if lists.is_empty() {
                return Err("with_together requires at least one element in each list".into());
            }
            let n = lists.iter().map(Vec::len).max().unwrap_or(0);
            Ok((0..n)
                .map(|i| {
                    Value::Array(
                        lists
                            .iter()
                            .map(|l| l.get(i).cloned().unwrap_or(Value::Null))
                            .collect(),
                    )
                })
                .collect())
        }
        "indexed_items" => {
            let items = match terms {
                Value::Array(a) => a,
                other => return Err(format!("with_indexed_items expects a list, got {other}")),
            };
            Ok(flatten_once(items)
                .into_iter()
                .enumerate()
                .map(|(i, x)| Value::Array(vec![Value::from(i), x]))
                .collect())
        }
        "flattened" => {
            let mut out = Vec::new();
            flatten_all(terms, &mut out, 0)?;
            Ok(out)
        }
        "random_choice" => {
            let items = match terms {
                Value::Array(a) => a,
                other => vec![other],
            };
            if items.is_empty() {
                return Ok(Vec::new());
            }
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as usize)
                .unwrap_or(0);
            Ok(vec![items[seed % items.len()].clone()])
        }
        "subelements" => subelements(terms),
        other => Err(format!("with_{other} is not supported by olympus yet")),
    }
}

fn flatten_once(items: Vec<Value>) -> Vec<Value> {
    items
        .into_iter()
        .flat_map(|i| match i {
            Value::Array(inner) => inner,
            other => vec![other],
        })
        .collect()
}

fn flatten_all(v: Value, out: &mut Vec<Value>, depth: usize) -> Result<(), String> {
    if depth > 64 {
        return Err("with_flattened: lists nest too deeply".into());
    }
    match v {
        Value::Array(a) => {
            for x in a {
                flatten_all(x, out, depth + 1)?;
            }
        }
        // ansible-core leaves out None and the string 'None'.
        Value::Null => {}
        Value::String(s) if s == "None" => {}
        other => out.push(other),
    }
    Ok(())
}

/// `with_subelements: [list of mappings, 'key.path', {skip_missing: bool}]`: each mapping
/// with each element of its list at `key.path`; the mapping loses that key, as in
/// ansible-core.
fn subelements(terms: Value) -> Result<Vec<Value>, String> {
    let Value::Array(terms) = terms else {
        return Err("subelements lookup expects a list of two or three items".into());
    };
    if !(2..=3).contains(&terms.len()) {
        return Err("subelements lookup expects a list of two or three items".into());
    }
    let skip_missing = terms
        .get(2)
        .and_then(|f| f.get("skip_missing"))
        .map(crate::template::ansible_bool)
        .unwrap_or(false);
    if let Some(Value::Object(flags)) = terms.get(2)
        && let Some(bad) = flags.keys().find(|k| *k != "skip_missing")
    {
        return Err(format!(
            "the optional third item of the subelements lookup must be a dictionary with skip_missing, got '{bad}'"
        ));
    }
    let elements = match &terms[0] {
        Value::Array(a) => a.clone(),
        // A registered loop result: its items.
        Value::Object(m) if m.get("skipped").is_some_and(crate::template::ansible_bool) => {
            return Ok(Vec::new());
        }
        Value::Object(m) => match m.get("results") {
            Some(Value::Array(a)) => a.clone(),
            _ => {
                return Err(
                    "subelements lookup expects a list (or a registered loop result)".into(),
                );
            }
        },
        other => return Err(format!("subelements lookup expects a list, got {other}")),
    };
    let Some(path) = terms[1].as_str() else {
        return Err("the second item of the subelements lookup must be a key name".into());
    };
    let keys: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    for mut element in elements {
        let Value::Object(_) = &element else {
            return Err(format!(
                "subelements lookup expects a dictionary, got '{}'",
                crate::pyrepr::str_of(&element)
            ));
        };
        if element
            .get("skipped")
            .is_some_and(crate::template::ansible_bool)
        {
            continue;
        }
        // Walk to the mapping that holds the last key.
        let mut holder = &mut element;
        let mut found = true;
        for (i, k) in keys.iter().enumerate() {
            let last = i + 1 == keys.len();
            if holder.get(*k).is_none() {
                if skip_missing {
                    found = false;
                    break;
                }
                return Err(format!(
                    "could not find '{k}' key in iterated item '{}'",
                    crate::pyrepr::str_of(holder)
                ));
            }
            if last {
                break;
            }
            if !holder[*k].is_object() {
                if skip_missing {
                    found = false;
                    break;
                }
                return Err(format!(
                    "the key {k} should point to a dictionary, got '{}'",
                    crate::pyrepr::str_of(&holder[*k])
                ));
            }
            holder = &mut holder[*k];
        }
        if !found {
            continue;
        }
        let last = keys[keys.len() - 1];
        let sub = match holder.as_object_mut().and_then(|m| m.shift_remove(last)) {
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(format!(
                    "the key {last} should point to a list, got '{}'",
                    crate::pyrepr::str_of(&other)
                ));
            }
            None => Vec::new(),
        };
        for s in sub {
            out.push(Value::Array(vec![element.clone(), s]));
        }
    }
    Ok(out)
}

/// The names `loop_control` gives a task's loop item and index (`item` and none by default).
pub(super) fn loop_names(task: &Task) -> (String, Option<String>) {
    let lc = task.loop_control.as_ref();
    let name = |k: &str| {
        lc.and_then(|l| l.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    (
        name("loop_var").unwrap_or_else(|| "item".into()),
        name("index_var"),
    )
}

impl Runner<'_> {
    /// Items a task loops over, rendered with the host's variables.
    pub(super) fn loop_items(
        &self,
        l: &Loop,
        task: &Task,
        vars: &Arc<TemplateVars>,
    ) -> Result<Vec<Value>, String> {
        let render = |v: &Value| -> Result<Value, String> {
            match v {
                Value::String(s) if !template::is_template(s) => {
                    self.templar.eval(s, vars).map_err(|e| e.to_string())
                }
                other => self.templar.render(other, vars).map_err(|e| e.to_string()),
            }
        };
        let list = |v: Value| -> Result<Vec<Value>, String> {
            match v {
                Value::Array(a) => Ok(a),
                Value::Null => Ok(Vec::new()),
                other => Err(format!("loop needs a list, got {other}")),
            }
        };
        match l {
            Loop::Items(v) => list(render(v)?),
            Loop::WithItems { items, flatten } => {
                let rendered = match items {
                    Value::Array(a) => Value::Array(
                        a.iter()
                            .map(|i| self.templar.render(i, vars).map_err(|e| e.to_string()))
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    other => render(other)?,
                };
                let items = list(rendered)?;
                if !flatten {
                    return Ok(items);
                }
                Ok(items
                    .into_iter()
                    .flat_map(|i| match i {
                        Value::Array(inner) => inner,
                        other => vec![other],
                    })
                    .collect())
            }
            Loop::WithDict(v) => match render(v)? {
                Value::Object(m) => Ok(m
                    .into_iter()
                    .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
                    .collect()),
                other => Err(format!("with_dict needs a mapping, got {other}")),
            },
            Loop::WithSequence(v) => {
                let spec = text(&self.templar.render(v, vars).map_err(|e| e.to_string())?);
                sequence(&spec)
            }
            Loop::WithFirstFound(v) => {
                let terms = self.templar.render(v, vars).map_err(|e| e.to_string())?;
                self.first_found(&terms, task, vars)
            }
            Loop::Lookup { name, terms } => {
                // Terms are text unless templated (`subelements`' key name stays a name).
                let terms = self
                    .templar
                    .render(terms, vars)
                    .map_err(|e| e.to_string())?;
                if matches!(
                    *name,
                    "file" | "env" | "lines" | "password" | "ini" | "csvfile"
                ) {
                    return self.lookup_loop(name, terms, vars);
                }
                if *name == "inventory_hostnames" {
                    return self.inventory_hostnames(&terms);
                }
                lookup_items(name, terms)
                    .map_err(|e| format!("The lookup plugin '{name}' failed: {e}"))
            }
            Loop::WithFileglob(v) => {
                let patterns = match self.templar.render(v, vars).map_err(|e| e.to_string())? {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                let mut out = Vec::new();
                for p in patterns {
                    out.extend(
                        fileglob(&self.playbook_dir, &text(&p))
                            .into_iter()
                            .map(Value::from),
                    );
                }
                Ok(out)
            }
        }
    }

    /// `with_inventory_hostnames`: the inventory's hosts a pattern selects (`--limit` left
    /// out), in inventory order.
    fn inventory_hostnames(&self, terms: &Value) -> Result<Vec<Value>, String> {
        let pattern = match terms {
            Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(":"),
            other => text(other),
        };
        let inv = self.inv_vars.inventory();
        let sel = inv.select(&pattern, None).map_err(|e| e.to_string())?;
        Ok(sel
            .hosts
            .iter()
            .map(|h| Value::from(h.name.as_str()))
            .collect())
    }

    /// `with_file`/`with_env`/`with_password` (one item per term, from the lookup of that
    /// name) and `with_lines` (each line of each command's output, run on the controller).
    fn lookup_loop(
        &self,
        name: &str,
        terms: Value,
        vars: &Arc<TemplateVars>,
    ) -> Result<Vec<Value>, String> {
        let terms = match terms {
            Value::Array(a) => a,
            other => vec![other],
        };
        let plugin = if name == "lines" { "pipe" } else { name };
        let mut out = Vec::new();
        for t in terms {
            let mut v = (**vars).clone();
            v.insert_data("__olympus_term".into(), Value::from(text(&t)));
            let got = self
                .templar
                .eval(
                    &format!("lookup('{plugin}', __olympus_term, wantlist=True)"),
                    &Arc::new(v),
                )
                .map_err(|e| e.to_string())?;
            let got = match got {
                Value::Array(a) => a,
                other => vec![other],
            };
            if name == "lines" {
                for g in got {
                    out.extend(text(&g).lines().map(Value::from));
                }
            } else {
                out.extend(got);
            }
        }
        Ok(out)
    }

    /// `with_first_found`: the first of the files that exists, as a one-item list (none
    /// with `skip: true`), looked up in the role's and the playbook's directory for the
    /// task's module (`templates/` for `template`, `vars/` for `include_vars`, else
    /// `files/`) — see [`crate::template::first_found`].
    fn first_found(
        &self,
        terms: &Value,
        task: &Task,
        vars: &Arc<TemplateVars>,
    ) -> Result<Vec<Value>, String> {
        let subdir = match &task.action {
            Action::Module { module, .. } => match (module.source, module.step()) {
                (Some(src), _) => src.dir,
                (None, Some(modules::registry::Step::IncludeVars)) => "vars",
                _ => "files",
            },
            Action::Block { .. } => "files",
        };
        let mut bases: Vec<PathBuf> = Vec::new();
        if let Some(role) = vars.get("role_path").and_then(Value::as_str) {
            bases.push(PathBuf::from(role));
        }
        bases.push(self.playbook_dir.clone());
        Ok(crate::template::first_found(terms, subdir, &bases)?
            .into_iter()
            .map(Value::from)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences() {
        assert_eq!(
            sequence("start=1 end=3").unwrap(),
            vec![Value::from("1"), Value::from("2"), Value::from("3")]
        );
        assert_eq!(
            sequence("count=2 format=web%02d").unwrap(),
            vec![Value::from("web01"), Value::from("web02")]
        );
        assert_eq!(sequence("0-6 stride=3").unwrap().len(), 3);
        assert!(sequence("start=1").is_err());
    }
}
