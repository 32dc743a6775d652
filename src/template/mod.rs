//! Jinja templating with Ansible's semantics, on minijinja.
//!
//! Owns: rendering `{{ }}` in any string of a value, lazily (a variable whose value is itself
//! a template is rendered when used, as Ansible does — but only a variable the playbook's
//! author wrote: see [`TemplateVars`]); native types for whole-value templates
//! (`"{{ ports }}"` stays a list); conditions (`when:`, `failed_when:`, `that:`) as bare
//! expressions with Ansible's boolean rules; `omit`; the Ansible filters, tests and lookups
//! playbooks use; Python's way of printing `True`, `None`, lists and dicts.
//! Must not: know about hosts, connections or modules; it is given variables and returns
//! values or a [`TemplateError`].

mod backslash;
mod cache;
mod filters;
mod first_found;
mod ini;
mod lookup_password;
mod password;
mod percent;
mod pyrandom;
pub use cache::Whitespace;
pub use first_found::first_found;

/// Python `re.sub` replacement syntax (`\\1`, `\\g<name>`) in the regex crate's form.
pub(crate) use filters::python_json;
pub(crate) use filters::python_replacement as python_to_rust_replacement;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as JValue};
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;

use crate::yaml::Vars;

/// The placeholder `omit` renders to; module arguments equal to it are dropped.
pub const OMIT: &str = "__omit_place_holder__olympus__";

/// The most steps one rendering may take (minijinja's fuel): far beyond any real template
/// (a config file looping over thousands of items takes well under a million).
pub const TEMPLATE_FUEL: u64 = 50_000_000;

/// How deep variables may refer to variables that are templates themselves.
const MAX_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template error in {what}: {message}")]
    Render { what: String, message: String },
    #[error("conditional '{expr}' gave {got}, which is neither true nor false")]
    NotBoolean { expr: String, got: String },
    #[error("recursive loop in template: variable '{0}' refers to itself")]
    Recursive(String),
}

/// Variables as templates see them, with the mark Ansible calls "unsafe": which variables
/// are *data* — registered results, facts, `set_fact` values, loop items, anything that came
/// from a host or is the result of templating — and so are never rendered as templates, even
/// when their text holds `{{`. Only what the author wrote (inventory, play, role, block, task
/// and extra vars, vars files) is rendered when used. A value the author marked `!unsafe` in
/// YAML is kept as a template that renders to its own text (see [`crate::yaml::unsafe_text`]).
///
/// Layers: a host's facts and registered results are shared (`Arc`) by every task's variables
/// instead of copied into each; a name is looked up in this layer's own variables first, then
/// in the layers below, in order.
#[derive(Debug, Clone, Default)]
pub struct TemplateVars {
    vars: Vars,
    data: HashSet<String>,
    below: Vec<Arc<TemplateVars>>,
}

impl TemplateVars {
    /// Variables the author wrote: all of them may hold templates.
    pub fn new(vars: Vars) -> TemplateVars {
        TemplateVars {
            vars,
            data: HashSet::new(),
            below: Vec::new(),
        }
    }

    /// An empty layer with room for `vars` variables, `data` of them data: the engine fills
    /// one per host per task, and growing its maps entry by entry was a good part of that
    /// work's allocations.
    pub fn with_capacity(vars: usize, data: usize) -> TemplateVars {
        TemplateVars {
            vars: Vars::with_capacity(vars),
            data: HashSet::with_capacity(data),
            below: Vec::with_capacity(2),
        }
    }

    /// Sets a variable the author wrote (it replaces a data variable of that name).
    pub fn insert_authored(&mut self, name: String, value: Value) {
        self.data.remove(&name);
        self.vars.insert(name, value);
    }

    /// Sets a variable that is data: its text is never rendered as a template.
    pub fn insert_data(&mut self, name: String, value: Value) {
        self.vars.insert(name.clone(), value);
        self.data.insert(name);
    }

    /// Removes a variable of this layer's own (layers below are shared and left alone).
    pub fn remove_own(&mut self, name: &str) {
        self.vars.shift_remove(name);
        self.data.remove(name);
    }

    /// Adds a shared layer, looked up after this one's own variables and the layers added
    /// before it.
    pub fn push_below(&mut self, layer: Arc<TemplateVars>) {
        self.below.push(layer);
    }

    /// A variable's value and whether it is data.
    pub fn lookup(&self, name: &str) -> Option<(&Value, bool)> {
        match self.vars.get(name) {
            Some(v) => Some((v, self.data.contains(name))),
            None => self.below.iter().find_map(|l| l.lookup(name)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.lookup(name).map(|(v, _)| v)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.lookup(name).is_some()
    }

    /// True when the variable is data (never rendered as a template).
    pub fn is_data(&self, name: &str) -> bool {
        self.lookup(name).is_some_and(|(_, d)| d)
    }

    /// Every name, each once, in lookup order.
    pub fn names(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        self.collect_names(&mut seen, &mut out);
        out
    }

    fn collect_names<'a>(&'a self, seen: &mut HashSet<&'a str>, out: &mut Vec<&'a str>) {
        for k in self.vars.keys() {
            if seen.insert(k.as_str()) {
                out.push(k.as_str());
            }
        }
        for l in &self.below {
            l.collect_names(seen, out);
        }
    }

    /// The variables whose names pass `keep`, merged into one plain map (the winning value
    /// of each), e.g. the `ansible_*` connection settings.
    /// Walks the layers in lookup order, so the first value met is the one [`Self::get`]
    /// gives; only names that pass `keep` are looked at (this runs per host per task).
    pub fn flatten_matching(&self, keep: impl Fn(&str) -> bool) -> Vars {
        let mut out = Vars::new();
        self.flatten_into(&keep, &mut out);
        out
    }

    fn flatten_into(&self, keep: &impl Fn(&str) -> bool, out: &mut Vars) {
        for (k, v) in &self.vars {
            if keep(k) && !out.contains_key(k) {
                out.insert(k.clone(), v.clone());
            }
        }
        for l in &self.below {
            l.flatten_into(keep, out);
        }
    }
}

impl From<Vars> for TemplateVars {
    fn from(vars: Vars) -> TemplateVars {
        TemplateVars::new(vars)
    }
}

/// Gives other hosts' variables to templates (`hostvars['web1'].x`), looked up only when a
/// template asks, so a run over thousands of hosts does not copy them all for every task.
pub trait HostVars: Send + Sync {
    fn get(&self, host: &str) -> Option<TemplateVars>;
    fn names(&self) -> Vec<String>;
}

/// A compiled set of filters and tests; cheap to clone, shared by every host of a run.
#[derive(Clone)]
pub struct Templar {
    /// Compiled forms of the templates and expressions seen in this run.
    compiled: Arc<cache::Cache>,
    hostvars: Option<Arc<dyn HostVars>>,
    /// Variables shared by every host (e.g. `groups`, `ansible_play_batch`), looked up after
    /// the host's own. Shared, not copied per host: with N hosts, per-host copies of the
    /// play's host lists would cost N² memory.
    globals: Option<Arc<Vars>>,
    /// Play-wide variables the engine replaces between batches.
    play_globals: Arc<std::sync::RwLock<Arc<Vars>>>,
}

/// `hostvars` as templates see it.
struct HostVarsObject(Arc<dyn HostVars>, Templar);

impl std::fmt::Debug for HostVarsObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hostvars")
    }
}

impl Object for HostVarsObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let vars = self.0.get(key.as_str()?)?;
        // Each host's variables are lazily templated in that host's own scope.
        Some(JValue::from_dyn_object(self.1.scope(Arc::new(vars))))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.names().into_iter().map(JValue::from).collect())
    }
}

impl Default for Templar {
    fn default() -> Self {
        Self::new()
    }
}

/// True when a string would be changed by templating.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// True when a value holds a template anywhere (strings inside lists and maps too).
pub fn has_template(v: &Value) -> bool {
    match v {
        Value::String(s) => is_template(s),
        Value::Array(a) => a.iter().any(has_template),
        Value::Object(m) => m.values().any(has_template),
        _ => false,
    }
}

/// `{{ expr }}` and nothing else: its expression, to evaluate to a native value.
/// A template with statements (`{% %}`), its `{{ expr }}` wrapped so that a render records
/// what each printed: when exactly one expression printed and nothing else did, ansible-core
/// gives that expression's value with its type (Jinja's native rendering: one output node),
/// as for a lone expression. `None` when there is nothing to wrap.
fn recording(s: &str) -> Option<String> {
    if !s.contains("{%") {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 32);
    let mut rest = s;
    let mut any = false;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let r = &rest[i + 2..];
        let end = tag_end(r, "}}")?;
        let body = &r[..end];
        let (lead, body) = match body.strip_prefix('-') {
            Some(b) => ("-", b),
            None => ("", body),
        };
        let (body, trail) = match body.strip_suffix('-') {
            Some(b) => (b, "-"),
            None => (body, ""),
        };
        out.push_str(&format!(
            "{{{{{lead} __olympus_out(({})) {trail}}}}}",
            body.trim()
        ));
        any = true;
        rest = &r[end + 2..];
    }
    out.push_str(rest);
    any.then_some(out)
}

/// Where `close` ends a tag's body `r`, outside string constants.
fn tag_end(r: &str, close: &str) -> Option<usize> {
    let b = r.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        match quote {
            Some(_) if b[i] == b'\\' => i += 1,
            Some(q) if b[i] == q => quote = None,
            Some(_) => {}
            None if b[i] == b'\'' || b[i] == b'"' => quote = Some(b[i]),
            None if r[i..].starts_with(close) => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

fn single_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    // The first `}}` outside string constants and braces must be the final one; a `{%` or
    // another `{{` outside strings means more than one expression.
    let b = inner.as_bytes();
    let (mut depth, mut quote, mut i) = (0usize, None::<u8>, 0usize);
    while i < b.len() {
        match (quote, b[i]) {
            (Some(_), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b[i]),
            (None, b'{') if matches!(b.get(i + 1), Some(b'{' | b'%')) => return None,
            (None, b'{') => depth += 1,
            (None, b'}') if depth == 0 => return None,
            (None, b'}') => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    if quote.is_some() || depth != 0 {
        return None;
    }
    Some(inner.trim())
}

pub(crate) fn to_json(v: &JValue) -> Value {
    if v.is_undefined() || v.is_none() {
        return Value::Null;
    }
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub(crate) fn from_json(v: &Value) -> JValue {
    JValue::from(minijinja::value::Serde(v))
}

/// Variables seen by templates. Values that hold templates are rendered when looked up, in
/// this same scope, so `a: "{{ b }}"` with `b: 1` makes `{{ a }}` give 1.
#[derive(Debug)]
struct Scope {
    vars: Arc<TemplateVars>,
    templar: Templar,
    /// Names being rendered right now, to stop `a: "{{ a }}"`.
    active: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Templar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templar")
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let name = key.as_str()?;
        if name == "vars" {
            return Some(JValue::from_dyn_object(self.clone()));
        }
        if name == "hostvars"
            && !self.vars.contains_key("hostvars")
            && let Some(h) = &self.templar.hostvars
        {
            return Some(JValue::from_object(HostVarsObject(
                h.clone(),
                self.templar.clone(),
            )));
        }
        let play_globals;
        // Globals are the engine's own (host lists, groups): data, never templates.
        let (raw, data) = match self.vars.lookup(name) {
            Some(found) => found,
            None => match self.templar.globals.as_ref().and_then(|g| g.get(name)) {
                Some(v) => (v, true),
                None => {
                    play_globals = self.templar.play_globals.read().ok()?.clone();
                    (play_globals.get(name)?, true)
                }
            },
        };
        if data || !has_template(raw) {
            return Some(from_json(raw));
        }
        {
            let Ok(mut active) = self.active.lock() else {
                return Some(JValue::from(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "poisoned",
                )));
            };
            if active.len() > MAX_DEPTH || !active.insert(name.to_string()) {
                return Some(JValue::from(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("recursive loop: variable '{name}' refers to itself"),
                )));
            }
        }
        let rendered = self.templar.render_in(raw, self, name);
        if let Ok(mut active) = self.active.lock() {
            active.remove(name);
        }
        Some(match rendered {
            Ok(v) => from_json(&v),
            Err(e) => JValue::from(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                e.to_string(),
            )),
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<JValue> = self.vars.names().into_iter().map(JValue::from).collect();
        Enumerator::Values(keys)
    }
}

/// The environment shared by every run: Ansible's syntax settings, filters and tests.
fn environment(ws: Whitespace) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Ansible's templating keeps a template's final newline and (by default) trims the
    // newline after a block tag.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(ws.trim_blocks)
        .lstrip_blocks(ws.lstrip_blocks)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_recursion_limit(200);
    // A template runs at most this many steps: a runaway loop ends in an error, not a hang.
    env.set_fuel(Some(TEMPLATE_FUEL));
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(filters::python_methods);
    env.set_formatter(|out, _state, value| {
        // ansible-core 2.19 writes nothing for a None in a larger template ("a{{ none }}b"
        // is "ab"); a template that is only `{{ none }}` keeps the None itself.
        let text = if value.is_none() {
            String::new()
        } else if value.kind() == minijinja::value::ValueKind::Bool {
            if value.is_true() { "True" } else { "False" }.to_string()
        } else {
            match value.kind() {
                minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map => {
                    crate::pyrepr::str_of(&to_json(value))
                }
                _ => value.to_string(),
            }
        };
        out.write_str(&text).map_err(minijinja::Error::from)
    });
    env.add_global("omit", OMIT);
    filters::register(&mut env);
    env
}

impl Templar {
    /// A templar with its own cache of compiled templates: make one per run and clone it.
    pub fn new() -> Templar {
        Templar {
            compiled: Arc::new(cache::Cache::default()),
            hostvars: None,
            globals: None,
            play_globals: Arc::new(std::sync::RwLock::new(Arc::new(Vars::new()))),
        }
    }

    /// Replaces the play-wide variables (`ansible_play_batch`, ...) every host sees.
    pub fn set_play_globals(&self, vars: Vars) {
        if let Ok(mut g) = self.play_globals.write() {
            *g = Arc::new(vars);
        }
    }

    /// Sets one play-wide variable, keeping the others (`groups` after `group_by`).
    pub fn set_play_global(&self, name: &str, value: Value) {
        if let Ok(mut g) = self.play_globals.write() {
            Arc::make_mut(&mut g).insert(name.to_string(), value);
        }
    }

    /// The same templar, with `hostvars` answered by `provider`.
    pub fn with_hostvars(&self, provider: Arc<dyn HostVars>) -> Templar {
        Templar {
            hostvars: Some(provider),
            ..self.clone()
        }
    }

    /// The same templar, with variables every host sees unless it has its own of that name.
    pub fn with_globals(&self, globals: Arc<Vars>) -> Templar {
        Templar {
            globals: Some(globals),
            ..self.clone()
        }
    }

    fn scope(&self, vars: Arc<TemplateVars>) -> Arc<Scope> {
        Arc::new(Scope {
            vars,
            templar: self.clone(),
            active: Mutex::new(HashSet::new()),
        })
    }

    /// Renders every template inside `value` (strings, and strings inside lists and maps).
    /// A string that is exactly one `{{ expression }}` becomes the expression's native value.
    pub fn render(&self, value: &Value, vars: &Arc<TemplateVars>) -> Result<Value, TemplateError> {
        if !has_template(value) {
            return Ok(value.clone());
        }
        let scope = self.scope(vars.clone());
        self.render_in(value, &scope, "a value")
    }

    fn render_in(
        &self,
        value: &Value,
        scope: &Arc<Scope>,
        what: &str,
    ) -> Result<Value, TemplateError> {
        match value {
            Value::String(s) if is_template(s) => self.render_str_in(s, scope, what),
            Value::Array(items) => items
                .iter()
                .map(|i| self.render_in(i, scope, what))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(map) => {
                let mut out = Vars::new();
                for (k, v) in map {
                    let key = if is_template(k) {
                        match self.render_str_in(k, scope, what)? {
                            Value::String(s) => s,
                            other => other.to_string(),
                        }
                    } else {
                        k.clone()
                    };
                    out.insert(key, self.render_in(v, scope, what)?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn render_str_in(
        &self,
        s: &str,
        scope: &Arc<Scope>,
        what: &str,
    ) -> Result<Value, TemplateError> {
        let ctx = JValue::from_dyn_object(scope.clone());
        let err = |e: minijinja::Error| TemplateError::Render {
            what: what.to_string(),
            message: describe(&e),
        };
        if let Some(expr) = single_expression(s) {
            // String constants in YAML-written expressions keep their backslashes, as in
            // ansible-core (see backslash.rs).
            let escaped = backslash::escape_expression(expr);
            let compiled = self.compiled.expression(&escaped).map_err(err)?;
            let v = compiled.eval(ctx).map_err(err)?;
            if v.is_undefined() {
                return Err(TemplateError::Render {
                    what: what.to_string(),
                    message: format!("'{expr}' is undefined"),
                });
            }
            return Ok(to_json(&v));
        }
        if let Some(src) = recording(s) {
            let t = self
                .compiled
                .template(&backslash::escape_in_expressions(&src))
                .map_err(err)?;
            let (text, one) = t.render_recorded(ctx).map_err(err)?;
            return Ok(match one {
                // One expression printed, and nothing else: its value, typed.
                Some(v) if v.to_string() == text || (v.is_none() && text.is_empty()) => to_json(&v),
                _ => Value::String(text),
            });
        }
        self.compiled
            .template(&backslash::escape_in_expressions(s))
            .and_then(|t| t.render(ctx))
            .map(Value::String)
            .map_err(err)
    }

    /// Compiles every template inside `value` (strings, keys, lists, maps) without rendering
    /// any: the first syntax error, with the text it is in.
    pub fn check_templates(&self, value: &Value) -> Result<(), TemplateError> {
        match value {
            Value::String(s) if is_template(s) => self.check_template(s),
            Value::Array(items) => items.iter().try_for_each(|i| self.check_templates(i)),
            Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                if is_template(k) {
                    self.check_template(k)?;
                }
                self.check_templates(v)
            }),
            _ => Ok(()),
        }
    }

    /// Compiles one template text (a string with `{{ }}`, or a template file's content).
    pub fn check_template(&self, s: &str) -> Result<(), TemplateError> {
        let err = |e: minijinja::Error| TemplateError::Render {
            what: match e.line() {
                Some(n) if s.contains('\n') => format!("'{}' (its line {n})", shorten(s)),
                _ => format!("'{}'", shorten(s)),
            },
            message: describe(&e),
        };
        let unknown = if let Some(expr) = single_expression(s) {
            self.compiled.expression(expr).map_err(err)?;
            cache::unknown_callable(s)
        } else {
            self.compiled.template(s).map_err(err)?.unknown_callable()
        };
        match unknown {
            Some(message) => Err(TemplateError::Render {
                what: format!("'{}'", shorten(s)),
                message,
            }),
            None => Ok(()),
        }
    }

    /// Compiles a condition (`when:`, `until:`, ...) or bare expression as [`Templar::condition`]
    /// and [`Templar::eval`] would read it.
    pub fn check_expression(&self, cond: &Value) -> Result<(), TemplateError> {
        match cond {
            Value::String(s) => {
                let expr = single_expression(s).unwrap_or(s).trim();
                self.compiled
                    .expression(expr)
                    .map(|_| ())
                    .map_err(|e| TemplateError::Render {
                        what: format!("'{}'", shorten(expr)),
                        message: describe(&e),
                    })?;
                match cache::unknown_callable(&format!("{{{{ {expr} }}}}")) {
                    Some(message) => Err(TemplateError::Render {
                        what: format!("'{}'", shorten(expr)),
                        message,
                    }),
                    None => Ok(()),
                }
            }
            Value::Array(items) => items.iter().try_for_each(|i| self.check_expression(i)),
            _ => Ok(()),
        }
    }

    /// Renders a string to text (a template's result is always a string here).
    pub fn render_text(&self, s: &str, vars: &Arc<TemplateVars>) -> Result<String, TemplateError> {
        self.render_text_with(s, vars, Whitespace::ANSIBLE)
    }

    /// [`Templar::render_text`] with other whitespace settings (the `template` module's
    /// `trim_blocks`/`lstrip_blocks`).
    pub fn render_text_with(
        &self,
        s: &str,
        vars: &Arc<TemplateVars>,
        ws: Whitespace,
    ) -> Result<String, TemplateError> {
        let scope = self.scope(vars.clone());
        let ctx = JValue::from_dyn_object(scope);
        self.compiled
            .template_with(s, ws)
            .and_then(|t| t.render(ctx))
            .map_err(|e| TemplateError::Render {
                what: match e.line() {
                    Some(n) => format!("a template, line {n}"),
                    None => "a template".into(),
                },
                message: describe(&e),
            })
    }

    /// Evaluates a bare expression (`loop:` values written without braces, `that:` items).
    pub fn eval(&self, expr: &str, vars: &Arc<TemplateVars>) -> Result<Value, TemplateError> {
        let expr = single_expression(expr).unwrap_or(expr).trim();
        let scope = self.scope(vars.clone());
        let err = |e: minijinja::Error| TemplateError::Render {
            what: format!("'{expr}'"),
            message: describe(&e),
        };
        let v = self
            .compiled
            .expression(expr)
            .map_err(err)?
            .eval(JValue::from_dyn_object(scope))
            .map_err(err)?;
        if v.is_undefined() {
            return Err(TemplateError::Render {
                what: format!("'{expr}'"),
                message: "it is undefined".into(),
            });
        }
        Ok(to_json(&v))
    }

    /// Evaluates a condition (`when:`, `failed_when:`, `changed_when:`, `until:`). Booleans
    /// are taken as they are; strings are bare expressions (braces allowed, as Ansible
    /// tolerates). A result that is a string must read as a boolean (`yes`, `False`, ...).
    pub fn condition(&self, cond: &Value, vars: &Arc<TemplateVars>) -> Result<bool, TemplateError> {
        match cond {
            Value::Bool(b) => Ok(*b),
            Value::Null => Ok(false),
            Value::Number(n) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
            Value::String(s) => {
                let v = self.eval(s, vars)?;
                truth(&v).ok_or_else(|| TemplateError::NotBoolean {
                    expr: s.clone(),
                    got: v.to_string(),
                })
            }
            Value::Array(items) => {
                for i in items {
                    if !self.condition(i, vars)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Value::Object(_) => Err(TemplateError::NotBoolean {
                expr: cond.to_string(),
                got: "a mapping".into(),
            }),
        }
    }
}

/// Ansible's `bool` filter: true for `true`, `yes`, `on`, `1`, `y`, `t` (any case) and 1.
pub fn ansible_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::String(s) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "true" | "yes" | "on" | "1" | "y" | "t"
        ),
        _ => false,
    }
}

/// The truth of a condition's result; `None` when it is not a boolean in any reading.
fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Null => Some(false),
        Value::Number(n) => Some(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "y" | "t" => Some(true),
            "false" | "no" | "off" | "0" | "n" | "f" | "" => Some(false),
            _ => None,
        },
        Value::Array(a) => Some(!a.is_empty()),
        Value::Object(m) => Some(!m.is_empty()),
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut msg = match e.kind() {
        ErrorKind::UndefinedError => match e.detail() {
            Some(d) => format!("undefined variable: {d}"),
            None => "a variable is undefined".to_string(),
        },
        _ => e
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| e.kind().to_string()),
    };
    if let Some(src) = std::error::Error::source(e) {
        msg.push_str(&format!(" ({src})"));
    }
    msg
}

/// A template's text for an error message: its first line, cut at 80 characters.
fn shorten(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    let cut: String = line.chars().take(80).collect();
    if cut.len() < s.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

/// Drops arguments whose value is `omit`.
pub fn strip_omitted(args: &mut Vars) {
    args.retain(|_, v| v.as_str() != Some(OMIT));
}

#[cfg(test)]
mod tests;
