//! The `first_found` lookup (and `with_first_found`): the first of several files that
//! exists, as ansible-core looks for it.
//!
//! Owns: reading the terms (names, `files`/`paths`/`skip` mappings, comma or semicolon
//! lists) and the order candidates are tried in. Must not: know where the role or the
//! playbook is (the caller gives the directories to search).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The first file that exists among `terms`: each name tried under `paths` when given,
/// else under each base's `subdir`, then the base itself. `Ok(None)` when none exists and
/// a term said `skip: true`.
pub fn first_found(
    terms: &Value,
    subdir: &str,
    bases: &[PathBuf],
) -> Result<Option<String>, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(a) => a.iter().map(text).collect(),
            Value::String(s) => s
                .split([',', ';'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            other => vec![text(other)],
        }
    };
    let mut files: Vec<String> = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    let mut skip = false;
    let items = match terms {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    for item in items {
        match item {
            Value::Object(m) => {
                if let Some(f) = m.get("files") {
                    files.extend(strings(f));
                }
                if let Some(p) = m.get("paths") {
                    paths.extend(strings(p));
                }
                skip |= m.get("skip").is_some_and(super::ansible_bool);
            }
            other => files.push(text(&other)),
        }
    }
    for f in &files {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if Path::new(f).is_absolute() {
            candidates.push(PathBuf::from(f));
        } else if !paths.is_empty() {
            for p in &paths {
                let p = Path::new(p);
                if p.is_absolute() {
                    candidates.push(p.join(f));
                } else {
                    candidates.extend(bases.iter().map(|b| b.join(p).join(f)));
                }
            }
        } else {
            for b in bases {
                candidates.push(b.join(subdir).join(f));
                candidates.push(b.join(f));
            }
        }
        if let Some(found) = candidates.into_iter().find(|c| c.is_file()) {
            return Ok(Some(found.to_string_lossy().into_owned()));
        }
    }
    if skip {
        return Ok(None);
    }
    tracing::debug!("first_found: none of {} exists", files.join(", "));
    Err("No file was found when using first_found.".into())
}
