//! The YAML (and JSON) inventory format, read the way Ansible's `yaml` plugin reads it:
//! top-level keys are groups, each with optional `hosts`, `vars` and `children`, nested to any
//! depth. Where Ansible only warns and skips (a key other than those three, a group that is
//! not a mapping), olympus refuses with the file, line and column.

use std::path::Path;

use super::{Inventory, InventoryError, range};
use crate::suggest;
use crate::yaml::{Node, NodeValue};

const GROUP_KEYS: [&str; 3] = ["hosts", "vars", "children"];

pub(super) fn parse(inv: &mut Inventory, root: &Node, path: &Path) -> Result<(), InventoryError> {
    let Some(map) = root.as_map() else {
        return Err(InventoryError::parse(
            path,
            root.pos,
            format!(
                "a YAML inventory must be a mapping of group names, got {}",
                root.value.kind()
            ),
            Some("start with 'all:' and put 'hosts:', 'vars:' and 'children:' under it".into()),
        ));
    };
    if map.iter().any(|(k, _)| k.as_str() == Some("plugin")) {
        return Err(InventoryError::Unsupported {
            path: path.to_path_buf(),
            what: "an inventory plugin configuration ('plugin:')".into(),
            hint: Some(
                "list hosts and groups statically, or generate a YAML/INI inventory file".into(),
            ),
        });
    }
    for (k, v) in map {
        let name = group_name(k, path)?;
        parse_group(inv, &name, v, path, 0)?;
    }
    Ok(())
}

fn group_name(k: &Node, path: &Path) -> Result<String, InventoryError> {
    match &k.value {
        NodeValue::Str(s) if !s.is_empty() => Ok(s.clone()),
        other => Err(InventoryError::parse(
            path,
            k.pos,
            format!(
                "a group name must be a non-empty string, got {}",
                other.kind()
            ),
            Some("quote names that look like numbers: '\"2024\":'".into()),
        )),
    }
}

fn parse_group(
    inv: &mut Inventory,
    name: &str,
    data: &Node,
    path: &Path,
    depth: usize,
) -> Result<(), InventoryError> {
    if depth > 256 {
        return Err(InventoryError::parse(
            path,
            data.pos,
            "groups are nested too deeply".to_string(),
            None,
        ));
    }
    inv.add_group(name);
    let entries = match &data.value {
        NodeValue::Null => return Ok(()),
        NodeValue::Map(m) => m,
        other => {
            return Err(InventoryError::parse(
                path,
                data.pos,
                format!(
                    "group '{name}' must be a mapping with 'hosts', 'vars' or 'children', got {}",
                    other.kind()
                ),
                None,
            ));
        }
    };
    for (k, v) in entries {
        let key = k.as_str().unwrap_or_default();
        if !GROUP_KEYS.contains(&key) {
            let shown = k.as_key().unwrap_or_else(|| k.value.kind().to_string());
            let hint = suggest::did_you_mean(&shown, GROUP_KEYS);
            return Err(InventoryError::parse(
                path,
                k.pos,
                format!(
                    "unexpected key '{shown}' in group '{name}': only 'hosts', 'vars' and 'children' are valid"
                ),
                Some(if hint.is_empty() {
                    format!(
                        "to put a group named '{shown}' under '{name}', nest it under 'children:'"
                    )
                } else {
                    hint
                }),
            ));
        }
        // Ansible accepts a bare string as a one-entry mapping: `hosts: web1`.
        let single;
        let pairs: &[(Node, Node)] = match &v.value {
            NodeValue::Null => continue,
            NodeValue::Map(m) => m,
            NodeValue::Str(_) => {
                single = [(
                    v.clone(),
                    Node {
                        value: NodeValue::Null,
                        pos: v.pos,
                    },
                )];
                &single
            }
            other => {
                return Err(InventoryError::parse(
                    path,
                    v.pos,
                    format!(
                        "'{key}' of group '{name}' must be a mapping, got {}",
                        other.kind()
                    ),
                    (key == "hosts" && matches!(other, NodeValue::Seq(_))).then(|| {
                        "write hosts as a mapping: 'hosts: {web1: {}, web2: {}}' or one 'web1:' per line".to_string()
                    }),
                ));
            }
        };
        match key {
            "vars" => {
                for (vk, vv) in pairs {
                    let Some(var) = vk.as_key() else {
                        return Err(InventoryError::parse(
                            path,
                            vk.pos,
                            format!("variable names must be strings, got {}", vk.value.kind()),
                            None,
                        ));
                    };
                    inv.set_group_var(name, &var, vv.to_value())
                        .map_err(|m| InventoryError::parse(path, vv.pos, m, None))?;
                }
            }
            "children" => {
                for (ck, cv) in pairs {
                    let child = group_name(ck, path)?;
                    parse_group(inv, &child, cv, path, depth + 1)?;
                    inv.add_child(name, &child)
                        .map_err(|m| InventoryError::parse(path, ck.pos, m, None))?;
                }
            }
            _ => {
                for (hk, hv) in pairs {
                    let entry = match &hk.value {
                        NodeValue::Str(s) if !s.is_empty() => s.clone(),
                        other => {
                            return Err(InventoryError::parse(
                                path,
                                hk.pos,
                                format!("a host name must be a string, got {}", other.kind()),
                                Some("enclose numbers in quotes: '\"10.0.0.1\":'".into()),
                            ));
                        }
                    };
                    let (pattern, port) = range::split_port(&entry);
                    let names = if range::has_range(&pattern) {
                        range::expand(&pattern)
                            .map_err(|m| InventoryError::parse(path, hk.pos, m, None))?
                    } else {
                        vec![pattern]
                    };
                    let vars = match &hv.value {
                        NodeValue::Null => Vec::new(),
                        NodeValue::Map(m) => {
                            let mut out = Vec::with_capacity(m.len());
                            for (vk, vv) in m {
                                let Some(var) = vk.as_key() else {
                                    return Err(InventoryError::parse(
                                        path,
                                        vk.pos,
                                        format!(
                                            "variable names must be strings, got {}",
                                            vk.value.kind()
                                        ),
                                        None,
                                    ));
                                };
                                out.push((var, vv.to_value()));
                            }
                            out
                        }
                        other => {
                            return Err(InventoryError::parse(
                                path,
                                hv.pos,
                                format!(
                                    "host '{entry}' must map to its variables (a mapping) or nothing, got {}",
                                    other.kind()
                                ),
                                None,
                            ));
                        }
                    };
                    for h in names {
                        inv.add_host(&h, Some(name), port, Some(path));
                        for (k, v) in &vars {
                            inv.set_host_var(&h, k, v.clone());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
