//! Inventory sources on disk: single files (format detected like Ansible does), directories
//! of them, and the `group_vars/` / `host_vars/` trees beside them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Inventory, InventoryError, VarsDir, ini, yaml_inv};
use crate::yaml::{self, NodeValue, Vars};

/// File endings Ansible skips when it reads an inventory directory
/// (`INVENTORY_IGNORE_EXTS`: `REJECT_EXTS` plus `.orig`, `.cfg`, `.retry`).
const IGNORED_ENDINGS: [&str; 12] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];
/// Names Ansible always skips in an inventory directory.
const IGNORED_NAMES: [&str; 3] = ["host_vars", "group_vars", "vars_plugins"];
/// Endings of variable files (`YAML_FILENAME_EXTENSIONS`); a file with no ending counts too.
const VARS_ENDINGS: [&str; 3] = [".yml", ".yaml", ".json"];

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> InventoryError + '_ {
    move |err| InventoryError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// Every inventory file in `dir`, recursively, sorted by name, skipping hidden files,
/// `group_vars`/`host_vars` and ignored endings.
pub(super) fn load_dir(inv: &mut Inventory, dir: &Path) -> Result<(), InventoryError> {
    for path in sorted_entries(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.')
            || IGNORED_NAMES.contains(&name.as_str())
            || IGNORED_ENDINGS.iter().any(|e| name.ends_with(e))
        {
            continue;
        }
        if path.is_dir() {
            load_dir(inv, &path)?;
        } else {
            load_file(inv, &path)?;
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    Ok(entries)
}

/// One inventory file. `.yml`/`.yaml`/`.json` are YAML; a file with no ending is YAML when
/// it parses as a YAML mapping and INI otherwise; anything else is INI.
pub(super) fn load_file(inv: &mut Inventory, path: &Path) -> Result<(), InventoryError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        InventoryError::parse(
            path,
            yaml::Pos { line: 1, col: 1 },
            "inventory file is not valid UTF-8",
            None,
        )
    })?;
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if text.starts_with("#!") && is_executable(path) {
        return Err(InventoryError::Unsupported {
            path: path.to_path_buf(),
            what: "a dynamic inventory script".into(),
            hint: Some(
                "run the script yourself and give olympus its output saved as a .json file".into(),
            ),
        });
    }
    match ext.as_deref() {
        Some("yml" | "yaml" | "json") => {
            let root = yaml::parse_str(&text, path)?;
            if root.is_null() {
                return Err(InventoryError::parse(
                    path,
                    root.pos,
                    "the YAML inventory is empty",
                    None,
                ));
            }
            yaml_inv::parse(inv, &root, path)
        }
        Some("toml") => Err(InventoryError::Unsupported {
            path: path.to_path_buf(),
            what: "a TOML inventory".into(),
            hint: Some("convert it to YAML or INI".into()),
        }),
        None => match yaml::parse_str(&text, path) {
            Ok(root) if matches!(root.value, NodeValue::Map(_)) => {
                yaml_inv::parse(inv, &root, path)
            }
            _ => ini::parse(inv, &text, path),
        },
        Some(_) => ini::parse(inv, &text, path),
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}

/// `group_vars/` and `host_vars/` beside one inventory source, for the groups and hosts the
/// inventory has. Each directory is listed once, however many hosts there are.
pub(super) fn load_vars_dirs(inv: &Inventory, base: &Path) -> Result<VarsDir, InventoryError> {
    let mut out = VarsDir::default();
    let gdir = base.join("group_vars");
    if gdir.is_dir() {
        let listing = listing(&gdir)?;
        for g in inv.groups() {
            if let Some(vars) = entity_vars(&gdir, &listing, &g.name)? {
                out.groups.insert(g.name.clone(), vars);
            }
        }
    }
    let hdir = base.join("host_vars");
    if hdir.is_dir() {
        let listing = listing(&hdir)?;
        let names = inv
            .hosts()
            .map(|h| h.name.as_str())
            .chain(super::LOCALHOST_NAMES);
        for h in names {
            if out.hosts.contains_key(h) {
                continue;
            }
            if let Some(vars) = entity_vars(&hdir, &listing, h)? {
                out.hosts.insert(h.to_string(), vars);
            }
        }
    }
    Ok(out)
}

/// Names in a directory, with whether each is a directory.
fn listing(dir: &Path) -> Result<HashMap<String, bool>, InventoryError> {
    Ok(std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(Result::ok)
        .map(|e| {
            let is_dir = e.path().is_dir();
            (e.file_name().to_string_lossy().into_owned(), is_dir)
        })
        .collect())
}

/// The variables for one group or host: the first of `NAME`, `NAME.yml`, `NAME.yaml`,
/// `NAME.json` that exists; a directory contributes all its variable files, sorted.
fn entity_vars(
    dir: &Path,
    listing: &HashMap<String, bool>,
    name: &str,
) -> Result<Option<Vars>, InventoryError> {
    let candidates =
        std::iter::once(name.to_string()).chain(VARS_ENDINGS.iter().map(|e| format!("{name}{e}")));
    for cand in candidates {
        let Some(is_dir) = listing.get(&cand) else {
            continue;
        };
        let path = dir.join(&cand);
        let mut files = Vec::new();
        if *is_dir {
            collect_vars_files(&path, &mut files)?;
        } else {
            files.push(path);
        }
        let mut vars = Vars::new();
        for f in files {
            for (k, v) in load_vars_file(&f)? {
                vars.insert(k, v);
            }
        }
        return Ok(Some(vars));
    }
    Ok(None)
}

fn collect_vars_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    for path in sorted_entries(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        if path.is_dir() {
            collect_vars_files(&path, out)?;
        } else if path.extension().is_none() || VARS_ENDINGS.iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
    Ok(())
}

/// A variables file: a YAML/JSON mapping, or empty.
pub(crate) fn load_vars_file(path: &Path) -> Result<Vars, InventoryError> {
    let root = yaml::load_file(path)?;
    match root.to_value() {
        serde_json::Value::Null => Ok(Vars::new()),
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(InventoryError::parse(
            path,
            root.pos,
            format!(
                "a variables file must be a mapping of names to values, got {}",
                root.value.kind()
            ),
            None,
        )),
    }
}
