//! Inventories, compatible with Ansible's: which hosts exist, which groups they are in, and
//! which variables each of them sees.
//!
//! Owns: reading inventory sources (INI files, YAML/JSON files, directories of them,
//! `host1,host2,` lists), `group_vars/` and `host_vars/` beside them, the group tree with its
//! depths and priorities, variable precedence between inventory layers, host patterns
//! (`web:&prod:!db1`), `--limit`, and the `olympus inventory` views (`--list`, `--host`,
//! `--graph`).
//! Must not: open connections, run anything on hosts, or print; it returns data, warnings and
//! errors that the caller reports.

mod dirs;
mod error;
mod ini;
pub mod pattern;
pub mod pyliteral;
pub mod range;
pub mod render;
mod yaml_inv;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use indexmap::{IndexMap, IndexSet};
use serde_json::Value;

pub use error::InventoryError;
pub use pattern::PatternError;

use crate::yaml::Vars;

/// Names that refer to this machine when no inventory defines them (Ansible's `C.LOCALHOST`).
pub const LOCALHOST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// One host of the inventory.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    /// Variables set on the host by inventory sources (host lines, `hosts:` entries).
    pub vars: Vars,
    /// Groups the host was put in directly, in the order it was added to them.
    groups: IndexSet<String>,
    /// Every group the host belongs to, ancestors included (`all` too), after loading.
    all_groups: Vec<String>,
    /// The implicit `localhost`, which exists without being in any inventory.
    pub implicit: bool,
    /// The inventory source that first named the host (Ansible's `inventory_file`).
    pub source: Option<PathBuf>,
}

impl Host {
    fn new(name: &str, source: Option<PathBuf>) -> Self {
        Host {
            name: name.to_string(),
            vars: Vars::new(),
            groups: IndexSet::new(),
            all_groups: Vec::new(),
            implicit: false,
            source,
        }
    }

    /// Every group the host is in, ancestors included, sorted by name.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.all_groups.iter().map(String::as_str)
    }
}

/// One group of the inventory.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    /// Variables set on the group by inventory sources (`[g:vars]`, `vars:`).
    pub vars: Vars,
    /// Hosts put directly in this group, in inventory order.
    pub hosts: IndexSet<String>,
    /// Child groups, in the order they were added.
    pub children: Vec<String>,
    pub parents: Vec<String>,
    /// Longest distance from `all` (all = 0, top-level groups = 1).
    pub depth: u32,
    /// `ansible_group_priority`: among groups of equal depth, higher wins. Default 1.
    pub priority: i64,
}

impl Group {
    fn new(name: &str) -> Self {
        Group {
            name: name.to_string(),
            vars: Vars::new(),
            hosts: IndexSet::new(),
            children: Vec::new(),
            parents: Vec::new(),
            depth: 0,
            priority: 1,
        }
    }
}

/// Variables from one `group_vars/` + `host_vars/` pair beside an inventory source.
#[derive(Debug, Clone, Default)]
struct VarsDir {
    groups: IndexMap<String, Vars>,
    hosts: IndexMap<String, Vars>,
}

/// A loaded inventory.
#[derive(Debug, Clone)]
pub struct Inventory {
    hosts: IndexMap<String, Host>,
    groups: IndexMap<String, Group>,
    vars_dirs: Vec<VarsDir>,
    /// `localhost`, `127.0.0.1` and `::1` when the inventory does not define them.
    implicit: IndexMap<String, Host>,
    warnings: Vec<String>,
}

impl Default for Inventory {
    fn default() -> Self {
        Self::new()
    }
}

impl Inventory {
    /// An empty inventory: groups `all` and `ungrouped`, and the implicit localhost.
    pub fn new() -> Self {
        let mut inv = Inventory {
            hosts: IndexMap::new(),
            groups: IndexMap::new(),
            vars_dirs: Vec::new(),
            implicit: LOCALHOST_NAMES
                .iter()
                .map(|n| (n.to_string(), implicit_localhost(n)))
                .collect(),
            warnings: Vec::new(),
        };
        inv.add_group("all");
        inv.add_group("ungrouped");
        // Cannot fail: `ungrouped` has no children yet.
        let _ = inv.add_child("all", "ungrouped");
        inv
    }

    /// Loads inventory sources in order, as `-i` gives them: paths to files or directories,
    /// or comma-separated host lists (`web1,web2,`). No source at all gives an inventory
    /// holding only the implicit localhost.
    pub fn load<S: AsRef<str>>(sources: &[S]) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory::new();
        let mut bases: Vec<PathBuf> = Vec::new();
        for source in sources {
            let source = source.as_ref();
            let path = Path::new(source);
            if path.is_dir() {
                dirs::load_dir(&mut inv, path)?;
                bases.push(path.to_path_buf());
            } else if path.exists() {
                dirs::load_file(&mut inv, path)?;
                bases.push(
                    path.parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| PathBuf::from(".")),
                );
            } else if source.contains(',') {
                inv.load_host_list(source)?;
            } else {
                return Err(InventoryError::NotFound {
                    name: source.to_string(),
                });
            }
        }
        inv.reconcile();
        for base in &bases {
            let vd = dirs::load_vars_dirs(&inv, base)?;
            inv.vars_dirs.push(vd);
        }
        Ok(inv)
    }

    /// `-i web1,web2:2222,` : hosts in `ungrouped`, an optional port each.
    fn load_host_list(&mut self, list: &str) -> Result<(), InventoryError> {
        for entry in list.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (name, port) = range::split_port(entry);
            self.add_host(&name, Some("ungrouped"), port, None);
        }
        Ok(())
    }

    /// Warnings gathered while loading (things Ansible also accepts but that look wrong).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub(crate) fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }

    /// All hosts, in inventory order (the implicit localhost is not among them).
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// A host by name; `localhost`, `127.0.0.1` and `::1` exist implicitly.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.get(name).or_else(|| self.implicit.get(name))
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    // ---- building, used by the source parsers ----

    pub(crate) fn has_group(&self, name: &str) -> bool {
        self.groups.contains_key(name)
    }

    pub(crate) fn add_group(&mut self, name: &str) {
        if !self.groups.contains_key(name) {
            self.groups.insert(name.to_string(), Group::new(name));
        }
    }

    /// Adds a host (once) and puts it in `group` (which must exist).
    pub(crate) fn add_host(
        &mut self,
        name: &str,
        group: Option<&str>,
        port: Option<u16>,
        source: Option<&Path>,
    ) {
        if !self.hosts.contains_key(name) {
            let host = Host::new(name, source.map(Path::to_path_buf));
            self.hosts.insert(name.to_string(), host);
        }
        if let Some(port) = port {
            self.set_host_var(name, "ansible_port", Value::from(port));
        }
        if let Some(g) = group {
            self.add_group(g);
            if let Some(grp) = self.groups.get_mut(g) {
                grp.hosts.insert(name.to_string());
            }
            if let Some(h) = self.hosts.get_mut(name) {
                h.groups.insert(g.to_string());
            }
        }
    }

    pub(crate) fn set_host_var(&mut self, host: &str, key: &str, value: Value) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.vars.insert(key.to_string(), value);
        }
    }

    /// Sets a group variable; `ansible_group_priority` sets the priority instead, like Ansible.
    pub(crate) fn set_group_var(
        &mut self,
        group: &str,
        key: &str,
        value: Value,
    ) -> Result<(), String> {
        let Some(g) = self.groups.get_mut(group) else {
            return Ok(());
        };
        if key == "ansible_group_priority" {
            let p = match &value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            g.priority =
                p.ok_or_else(|| format!("ansible_group_priority must be an integer, got {value}"))?;
        } else {
            g.vars.insert(key.to_string(), value);
        }
        Ok(())
    }

    /// `add_host` while a playbook runs: the host (`name` or `name:port`) with these
    /// variables, put in these groups (a new group hangs under `all`). True when the
    /// inventory changed, as ansible-core reports it.
    pub fn add_host_at_runtime(&mut self, name: &str, groups: &[String], vars: &Vars) -> bool {
        let (name, port) = range::split_port(name);
        let mut changed = false;
        if !self.hosts.contains_key(&name) {
            self.add_host(&name, None, None, None);
            changed = true;
        }
        if let Some(port) = port {
            changed |= self.hosts[&name].vars.get("ansible_port") != Some(&Value::from(port));
            self.set_host_var(&name, "ansible_port", Value::from(port));
        }
        for (k, v) in vars {
            changed |= self.hosts[&name].vars.get(k) != Some(v);
            self.set_host_var(&name, k, v.clone());
        }
        for g in groups {
            let member = self
                .groups
                .get(g)
                .is_some_and(|grp| grp.hosts.contains(&name));
            if !member {
                self.add_host(&name, Some(g), None, None);
                changed = true;
            }
        }
        if changed {
            self.reconcile();
        }
        changed
    }

    /// `group_by` while a playbook runs: `host` put in `group`, which is made a child of
    /// each of `parents` (groups created as needed). True when the inventory changed.
    pub fn group_host_at_runtime(
        &mut self,
        host: &str,
        group: &str,
        parents: &[String],
    ) -> Result<bool, String> {
        let mut changed = !self.groups.contains_key(group);
        self.add_group(group);
        for p in parents {
            let known = self
                .groups
                .get(p)
                .is_some_and(|pg| pg.children.iter().any(|c| c == group));
            if !known {
                self.add_child(p, group)?;
                changed = true;
            }
        }
        if self.hosts.contains_key(host) && !self.groups[group].hosts.contains(host) {
            self.add_host(host, Some(group), None, None);
            changed = true;
        }
        if changed {
            self.reconcile();
        }
        Ok(changed)
    }

    /// Makes `child` a child group of `parent` (creating both as needed), refusing loops.
    pub(crate) fn add_child(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if parent == child {
            return Err(format!("group '{parent}' cannot be a child of itself"));
        }
        self.add_group(parent);
        self.add_group(child);
        if self.groups[parent].children.iter().any(|c| c == child) {
            return Ok(());
        }
        if self.is_ancestor(child, parent) {
            return Err(format!(
                "adding group '{child}' as a child of '{parent}' creates a loop ('{parent}' is already inside '{child}')"
            ));
        }
        if let Some(p) = self.groups.get_mut(parent) {
            p.children.push(child.to_string());
        }
        if let Some(c) = self.groups.get_mut(child) {
            c.parents.push(parent.to_string());
        }
        Ok(())
    }

    /// True when `a` is `b` or an ancestor of `b`.
    fn is_ancestor(&self, a: &str, b: &str) -> bool {
        let mut stack = vec![b];
        let mut seen = HashSet::new();
        while let Some(g) = stack.pop() {
            if g == a {
                return true;
            }
            if !seen.insert(g) {
                continue;
            }
            if let Some(grp) = self.groups.get(g) {
                stack.extend(grp.parents.iter().map(String::as_str));
            }
        }
        false
    }

    /// Ansible's reconcile step: top-level groups hang under `all`, hosts in no group go to
    /// `ungrouped` (and leave it once they are in another group), depths are computed, and
    /// every host learns all of its groups.
    fn reconcile(&mut self) {
        let orphans: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.name != "all" && g.parents.is_empty())
            .map(|g| g.name.clone())
            .collect();
        for g in orphans {
            // Cannot loop: the group has no parents.
            let _ = self.add_child("all", &g);
        }
        let names: Vec<String> = self.hosts.keys().cloned().collect();
        for name in &names {
            let (in_ungrouped, others) = {
                let h = &self.hosts[name];
                let in_u = h.groups.contains("ungrouped");
                let others = h.groups.iter().any(|g| g != "ungrouped" && g != "all");
                (in_u, others)
            };
            if in_ungrouped && others {
                if let Some(u) = self.groups.get_mut("ungrouped") {
                    u.hosts.shift_remove(name);
                }
                if let Some(h) = self.hosts.get_mut(name) {
                    h.groups.shift_remove("ungrouped");
                }
            } else if !in_ungrouped && !others {
                self.add_host(name, Some("ungrouped"), None, None);
            }
        }
        self.compute_depths();
        for name in &names {
            let all = self.ancestors_of_host(name);
            if let Some(h) = self.hosts.get_mut(name) {
                h.all_groups = all;
            }
        }
        for n in self.groups.keys() {
            if self.hosts.contains_key(n) {
                self.warnings
                    .push(format!("found both a group and a host named '{n}'"));
            }
        }
        // The implicit localhost takes vars from `all` and its own host_vars.
        for h in self.implicit.values_mut() {
            h.all_groups = vec!["all".to_string()];
        }
    }

    /// Longest path from `all`, like Ansible's incremental depth updates end up with.
    fn compute_depths(&mut self) {
        let mut depth: IndexMap<String, u32> = IndexMap::new();
        let mut queue = vec![("all".to_string(), 0u32)];
        // Groups form a DAG (loops are refused), so this terminates; the bound guards it.
        let bound = self.groups.len().saturating_mul(self.groups.len()) + 16;
        let mut steps = 0usize;
        while let Some((g, d)) = queue.pop() {
            steps += 1;
            if steps > bound {
                break;
            }
            let cur = depth.entry(g.clone()).or_insert(0);
            if d < *cur {
                continue;
            }
            *cur = d;
            if let Some(grp) = self.groups.get(&g) {
                for c in &grp.children {
                    if depth.get(c).is_none_or(|cd| *cd < d + 1) {
                        queue.push((c.clone(), d + 1));
                    }
                }
            }
        }
        for (g, d) in depth {
            if let Some(grp) = self.groups.get_mut(&g) {
                grp.depth = d;
            }
        }
    }

    fn ancestors_of_host(&self, name: &str) -> Vec<String> {
        let mut seen: IndexSet<String> = IndexSet::new();
        let mut stack: Vec<&str> = self.hosts[name].groups.iter().map(String::as_str).collect();
        while let Some(g) = stack.pop() {
            if seen.insert(g.to_string())
                && let Some(grp) = self.groups.get(g)
            {
                stack.extend(grp.parents.iter().map(String::as_str));
            }
        }
        seen.insert("all".to_string());
        let mut v: Vec<String> = seen.into_iter().collect();
        v.sort();
        v
    }

    /// Hosts of a group and of all its descendants, breadth first, each once: the order in
    /// which a pattern naming the group lists them.
    pub fn group_hosts(&self, group: &str) -> Vec<&str> {
        let Some(start) = self.groups.get(group) else {
            return Vec::new();
        };
        let mut order: Vec<&Group> = vec![start];
        let mut seen: HashSet<&str> = HashSet::from([start.name.as_str()]);
        let mut i = 0;
        while i < order.len() {
            let g = order[i];
            for c in &g.children {
                if seen.insert(c.as_str())
                    && let Some(cg) = self.groups.get(c)
                {
                    order.push(cg);
                }
            }
            i += 1;
        }
        let mut hosts = Vec::new();
        let mut seen_h: HashSet<&str> = HashSet::new();
        for g in order {
            for h in &g.hosts {
                if seen_h.insert(h.as_str()) {
                    hosts.push(h.as_str());
                }
            }
        }
        hosts
    }

    /// The variables a host sees from the inventory, merged in Ansible's precedence order
    /// (lowest first): inventory `all` vars, inventory vars of the host's other groups (by
    /// depth, then `ansible_group_priority`, then name), `group_vars/all`, `group_vars/<group>`
    /// in the same group order, inventory host vars, `host_vars/<host>`. Later layers replace
    /// whole top-level keys, as with Ansible's default `hash_behaviour=replace`.
    pub fn host_vars(&self, name: &str) -> Option<Vars> {
        let host = self.host(name)?;
        let mut groups: Vec<&Group> = host
            .all_groups
            .iter()
            .filter(|g| g.as_str() != "all")
            .filter_map(|g| self.groups.get(g))
            .collect();
        groups.sort_by(|a, b| (a.depth, a.priority, &a.name).cmp(&(b.depth, b.priority, &b.name)));
        let mut out = Vars::new();
        let mut merge = |v: &Vars| combine(&mut out, v);
        if let Some(all) = self.groups.get("all") {
            merge(&all.vars);
        }
        for g in &groups {
            merge(&g.vars);
        }
        for vd in &self.vars_dirs {
            if let Some(v) = vd.groups.get("all") {
                merge(v);
            }
        }
        for vd in &self.vars_dirs {
            for g in &groups {
                if let Some(v) = vd.groups.get(&g.name) {
                    merge(v);
                }
            }
        }
        merge(&host.vars);
        for vd in &self.vars_dirs {
            if let Some(v) = vd.hosts.get(&host.name) {
                merge(v);
            }
        }
        Some(out)
    }

    /// Variables of a group as `--export` shows them: the inventory's own plus those from
    /// `group_vars/` beside each source.
    pub fn group_vars(&self, name: &str) -> Option<Vars> {
        let g = self.groups.get(name)?;
        let mut out = g.vars.clone();
        for v in self.vars_dirs.iter().filter_map(|vd| vd.groups.get(name)) {
            combine(&mut out, v);
        }
        Some(out)
    }

    /// A host's own variables as `--export` shows them: inventory host vars and `host_vars/`.
    pub fn own_host_vars(&self, name: &str) -> Option<Vars> {
        let h = self.host(name)?;
        let mut out = h.vars.clone();
        for v in self.vars_dirs.iter().filter_map(|vd| vd.hosts.get(name)) {
            combine(&mut out, v);
        }
        Some(out)
    }
}

/// Ansible's `combine_vars` with `hash_behaviour=replace`: later keys replace earlier ones.
fn combine(out: &mut Vars, layer: &Vars) {
    for (k, v) in layer {
        out.insert(k.clone(), v.clone());
    }
}

fn implicit_localhost(name: &str) -> Host {
    let mut h = Host::new(name, None);
    h.implicit = true;
    h.vars
        .insert("ansible_connection".into(), Value::from("local"));
    h
}

#[cfg(test)]
mod tests;
