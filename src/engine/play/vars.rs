//! Variables of a host as a task sees them: the layers (inventory, play, role, block and
//! task vars, facts and registered results, `-e`), facts kept per host for the run, and the
//! `hostvars` every template can read.
//!
//! Owns: [`Facts`], inventory variables merged once per run, the variable set of one host
//! for one task, the connection settings taken out of it, `-e` parsing and a play's host
//! pattern. Must not: run anything on hosts.

use super::*;

/// Facts and registered variables of every host, shared with `hostvars`. Each keeps its
/// mark: registered results, gathered facts and `set_fact` values are data from hosts (never
/// rendered as templates); `include_vars` files are the author's.
/// A host's set is shared (`Arc`) by the variables of every task that runs meanwhile; a new
/// value copies the set only while such a task still holds it.
#[derive(Default)]
pub(super) struct Facts(Mutex<HashMap<String, Arc<TemplateVars>>>);

impl Facts {
    pub(super) fn get(&self, host: &str) -> Arc<TemplateVars> {
        self.0
            .lock()
            .map(|m| m.get(host).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Records a value that came from a host or from templating: data, never a template.
    pub(super) fn set(&self, host: &str, key: &str, value: Value) {
        if let Ok(mut m) = self.0.lock() {
            Arc::make_mut(m.entry(host.to_string()).or_default())
                .insert_data(key.to_string(), value);
        }
    }

    /// Forgets the facts gathered on a host (`meta: clear_facts`): `ansible_facts` and the
    /// `ansible_*` variables.
    pub(super) fn clear_gathered(&self, host: &str) {
        if let Ok(mut m) = self.0.lock()
            && let Some(vars) = m.get_mut(host)
        {
            let names: Vec<String> = vars
                .names()
                .into_iter()
                .filter(|n| n.starts_with("ansible_"))
                .map(str::to_string)
                .collect();
            let vars = Arc::make_mut(vars);
            for n in names {
                vars.remove_own(&n);
            }
        }
    }

    /// Records a value the author wrote (an `include_vars` file).
    pub(super) fn set_authored(&self, host: &str, key: &str, value: Value) {
        if let Ok(mut m) = self.0.lock() {
            Arc::make_mut(m.entry(host.to_string()).or_default())
                .insert_authored(key.to_string(), value);
        }
    }
}

/// Inventory variables per host, merged from the host's groups once per run (the
/// inventory does not change during a run).
pub(super) struct InventoryVars {
    /// The run's inventory; `add_host` and `group_by` replace it while the run goes on.
    pub(super) inv: std::sync::RwLock<Arc<Inventory>>,
    pub(super) merged: std::sync::RwLock<HashMap<String, Arc<Vars>>>,
}

impl InventoryVars {
    pub(super) fn new(inv: Arc<Inventory>) -> Self {
        InventoryVars {
            inv: std::sync::RwLock::new(inv),
            merged: std::sync::RwLock::new(HashMap::new()),
        }
    }

    /// The inventory as it is now.
    pub(super) fn inventory(&self) -> Arc<Inventory> {
        self.inv
            .read()
            .map(|i| i.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Changes the inventory (one change at a time); merged variables are computed again.
    pub(super) fn change<T>(&self, f: impl FnOnce(&mut Inventory) -> T) -> T {
        let mut guard = self.inv.write().unwrap_or_else(|e| e.into_inner());
        let out = f(Arc::make_mut(&mut guard));
        if let Ok(mut m) = self.merged.write() {
            m.clear();
        }
        out
    }

    pub(super) fn get(&self, host: &str) -> Option<Arc<Vars>> {
        if let Ok(m) = self.merged.read()
            && let Some(v) = m.get(host)
        {
            return Some(v.clone());
        }
        let v = Arc::new(self.inventory().host_vars(host)?);
        if let Ok(mut m) = self.merged.write() {
            m.insert(host.to_string(), v.clone());
        }
        Some(v)
    }
}

pub(super) struct HostVarsProvider {
    pub(super) inv: Arc<InventoryVars>,
    pub(super) facts: Arc<Facts>,
}

impl HostVars for HostVarsProvider {
    fn get(&self, host: &str) -> Option<TemplateVars> {
        let mut v = TemplateVars::default();
        v.insert_data("inventory_hostname".into(), Value::from(host));
        v.push_below(self.facts.get(host));
        v.push_below(Arc::new(TemplateVars::new((*self.inv.get(host)?).clone())));
        Some(v)
    }

    fn names(&self) -> Vec<String> {
        self.inv
            .inventory()
            .hosts()
            .map(|h| h.name.clone())
            .collect()
    }
}

/// The variable a `vars_prompt` entry sets.
/// The variables a connection is made from (`ansible_*`), merged out of a task's layers.
pub(super) fn connection_settings(vars: &TemplateVars) -> Vars {
    vars.flatten_matching(|k| k.starts_with("ansible_"))
}

/// A play's host pattern with extra vars rendered in (`hosts: "{{ target }}"`). A pattern that
/// is empty once rendered is refused: an empty pattern would otherwise select every host.
pub fn host_pattern(templar: &Templar, play: &Play, extra_vars: &Vars) -> Result<String, RunError> {
    let pattern = templar
        .render(
            &Value::from(play.hosts.as_str()),
            &Arc::new(TemplateVars::new(extra_vars.clone())),
        )
        .map(|v| text(&v))
        .map_err(|e| RunError::Task {
            origin: play.origin.to_string(),
            message: e.to_string(),
        })?;
    if pattern.split(',').all(|p| p.trim().is_empty()) {
        return Err(RunError::Task {
            origin: play.origin.to_string(),
            message: format!(
                "the play's host list '{}' rendered empty: refusing to guess which hosts were meant",
                play.hosts
            ),
        });
    }
    Ok(pattern)
}

/// `-e`: `key=value ...`, a YAML/JSON mapping, or `@file`.
pub fn parse_extra_vars(s: &str) -> Result<Vars, String> {
    let s = s.trim();
    if let Some(file) = s.strip_prefix('@') {
        let node = crate::yaml::load_file(Path::new(file)).map_err(|e| e.to_string())?;
        return match node.to_value() {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Vars::new()),
            _ => Err(format!("{file}: extra vars must be a mapping")),
        };
    }
    if s.starts_with('{') {
        let node = crate::yaml::parse_str(s, Path::new("<-e>")).map_err(|e| e.to_string())?;
        return match node.to_value() {
            Value::Object(m) => Ok(m),
            _ => Err("extra vars must be a mapping".into()),
        };
    }
    let mut out = Vars::new();
    for word in crate::playbook::split_args(s)? {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!("extra var '{word}' is not key=value"));
        };
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v);
        out.insert(k.to_string(), Value::from(v));
    }
    Ok(out)
}

impl Runner<'_> {
    /// Variables for a task on a host, lowest precedence first.
    pub(super) fn vars_for(
        &self,
        st: &PlayState<'_>,
        host: &str,
        chain: &[&Common],
    ) -> TemplateVars {
        let exposed = st.exposed.lock().ok().and_then(|e| e.get(host).cloned());
        let inventory = self.inventory_vars(host);
        // What the author wrote, lowest precedence first: role defaults (the play's, an
        // included role's, the chain's), inventory, play vars, an included role's vars, the
        // chain's (block, task) vars. Listed once: sized for, then copied in.
        let sources = || {
            std::iter::once(&st.play.role_defaults)
                .chain(exposed.iter().map(|e| &e.defaults))
                .chain(chain.iter().skip(1).map(|c| &c.defaults))
                .chain([&*inventory, &st.vars])
                .chain(exposed.iter().map(|e| &e.vars))
                .chain(chain.iter().skip(1).map(|c| &c.vars))
        };
        let mut v = Vars::with_capacity(sources().map(Vars::len).sum());
        for from in sources() {
            for (k, val) in from {
                v.insert(k.clone(), val.clone());
            }
        }
        // Layers, highest first: -e and the engine's own variables; the host's facts and
        // registered results (shared, not copied); what the author wrote for this task.
        let authored = Arc::new(TemplateVars::new(v));
        // Room for the engine's own variables (the eight set below, each data).
        const ENGINE: usize = 8;
        let data: usize = chain.iter().skip(1).map(|c| c.data.len()).sum();
        let params: usize = chain.iter().skip(1).map(|c| c.params.len()).sum();
        let mut v = TemplateVars::with_capacity(
            params + data + self.opts.extra_vars.len() + ENGINE,
            data + ENGINE,
        );
        v.push_below(self.facts.get(host));
        v.push_below(authored);
        // Role parameters rank above facts and registered values.
        for c in chain.iter().skip(1) {
            for (k, val) in &c.params {
                v.insert_authored(k.clone(), val.clone());
            }
        }
        // Loop values an include binds for the tasks inside it.
        for c in chain.iter().skip(1) {
            for (k, val) in &c.data {
                v.insert_data(k.clone(), val.clone());
            }
        }
        for (k, val) in &self.opts.extra_vars {
            v.insert_authored(k.clone(), val.clone());
        }
        // The engine's own variables are data.
        let inv = self.inv_vars.inventory();
        let h = inv.host(host);
        v.insert_data("inventory_hostname".into(), Value::from(host));
        v.insert_data(
            "inventory_hostname_short".into(),
            Value::from(host.split('.').next().unwrap_or(host)),
        );
        if let Some(h) = h {
            let names: Vec<Value> = h
                .group_names()
                .filter(|g| *g != "all" && *g != "ungrouped")
                .map(Value::from)
                .collect();
            v.insert_data("group_names".into(), Value::Array(names));
        }
        v.insert_data(
            "playbook_dir".into(),
            Value::from(self.playbook_dir.to_string_lossy().into_owned()),
        );
        v.insert_data("ansible_check_mode".into(), Value::Bool(self.opts.check));
        v.insert_data("ansible_diff_mode".into(), Value::Bool(self.opts.diff));
        v.insert_data("ansible_forks".into(), Value::from(self.opts.forks));
        v.insert_data("omit".into(), Value::from(template::OMIT));
        v
    }

    /// The innermost setting of a boolean keyword along the chain (task over block over
    /// play), rendered; `on_error` when it does not render to a boolean.
    pub(super) fn flag(
        &self,
        chain: &[&Common],
        pick: fn(&Common) -> &Option<Value>,
        vars: &Arc<TemplateVars>,
        on_error: bool,
    ) -> Option<bool> {
        chain
            .iter()
            .rev()
            .find_map(|c| pick(c).as_ref())
            .map(|v| self.templar.condition(v, vars).unwrap_or(on_error))
    }

    /// A host's inventory variables (groups merged in Ansible's order), computed once per run.
    pub(super) fn inventory_vars(&self, host: &str) -> Arc<Vars> {
        self.inv_vars.get(host).unwrap_or_default()
    }
}
