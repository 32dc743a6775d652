//! Playbooks, parsed and checked before anything runs.
//!
//! Owns: reading playbook files (with `import_playbook` and `import_tasks` resolved
//! statically), turning plays, blocks, tasks and handlers into typed structures that keep
//! their file and line, splitting free-form module arguments, and refusing — by name, with
//! file, line and the nearest valid name — every keyword or module olympus does not implement.
//! Must not: template values (they stay as written, rendered later per host), touch hosts, or
//! decide execution order.

pub mod keywords;
mod kv;
pub mod roles;
pub use roles::{Expanded, load_role};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

pub use kv::{parse_kv, split_args};

use crate::modules::Spec;
use crate::modules::registry::{self, FreeForm, Kind};
use crate::suggest;
use crate::yaml::{self, Node, NodeValue, Pos, Vars, YamlError};

/// Why a playbook was refused.
#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{}:{pos}: {message}{}", path.display(), hint.as_deref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        pos: Pos,
        message: String,
        hint: Option<String>,
    },
    /// Every problem found in one reading (a task or play that cannot be used does not stop
    /// the reading of the others).
    #[error("{} problems:\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<PlaybookError>),
}

/// Where something was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<PathBuf>,
    pub pos: Pos,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.pos)
    }
}

/// `strategy:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    #[default]
    Linear,
    Free,
}

/// A playbook file: its plays in order (imported playbooks inlined).
#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    pub plays: Vec<Play>,
}

/// Keywords that plays, blocks and tasks share; values stay as written (templated later).
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub vars: Vars,
    /// Role defaults that belong to this block only (an included role's): below every
    /// other variable.
    pub defaults: Vars,
    /// Values the engine binds for the tasks inside (an include's loop item): data, never
    /// rendered as templates.
    pub data: Vars,
    /// Role parameters (`roles: [{role: x, level: 1}]`, an include_role's vars): above
    /// facts and registered values, as in ansible-core's precedence.
    pub params: Vars,
    pub tags: Vec<String>,
    pub when: Vec<Value>,
    pub become_: Option<Value>,
    pub become_user: Option<Value>,
    pub become_method: Option<Value>,
    pub remote_user: Option<Value>,
    pub environment: Option<Value>,
    pub no_log: Option<Value>,
    pub check_mode: Option<Value>,
    pub diff: Option<Value>,
    pub ignore_errors: Option<Value>,
    pub ignore_unreachable: Option<Value>,
    pub any_errors_fatal: Option<Value>,
    pub run_once: Option<Value>,
    pub delegate_to: Option<Value>,
    pub timeout: Option<Value>,
    /// `connection:` — `ssh` or `local` (the controller runs the task for the host).
    pub connection: Option<Value>,
    /// `module_defaults:` — arguments a module gets when the task does not give them: a
    /// mapping of module name to arguments, or a list of such mappings (a template too).
    pub module_defaults: Option<Value>,
}

/// One play.
#[derive(Debug, Clone)]
pub struct Play {
    pub origin: Origin,
    pub name: Option<String>,
    /// The host pattern (a list is joined with ',').
    pub hosts: String,
    pub vars_files: Vec<Value>,
    pub vars_prompt: Vec<Value>,
    pub gather_facts: Option<Value>,
    pub serial: Option<Value>,
    pub max_fail_percentage: Option<Value>,
    pub strategy: Strategy,
    /// `strategy:` written as a template, rendered when the play starts.
    pub strategy_template: Option<String>,
    pub order: Option<String>,
    pub force_handlers: Option<Value>,
    /// `roles:` as written (they are expanded into `role_tasks`/handlers at parse time).
    pub roles: Vec<Value>,
    /// The roles' tasks: one block per role, run after `pre_tasks` and before `tasks`.
    pub role_tasks: Vec<Task>,
    /// Role defaults (lowest variable precedence).
    pub role_defaults: Vars,
    pub pre_tasks: Vec<Task>,
    pub tasks: Vec<Task>,
    pub post_tasks: Vec<Task>,
    pub handlers: Vec<Task>,
    pub common: Common,
    /// Where `include_role` looks for roles after `roles/` beside the play's file.
    pub roles_path: Vec<PathBuf>,
}

impl Play {
    /// Every task list of the play, in the order they run: pre_tasks, the roles' tasks,
    /// tasks, post_tasks, and the handlers.
    pub fn task_lists(&self) -> [&[Task]; 5] {
        [
            &self.pre_tasks,
            &self.role_tasks,
            &self.tasks,
            &self.post_tasks,
            &self.handlers,
        ]
    }
}

/// How a task loops.
#[derive(Debug, Clone, PartialEq)]
pub enum Loop {
    /// `loop:` (no flattening).
    Items(Value),
    /// `with_items:` / `with_list:`: `with_items` flattens one level, as Ansible does.
    WithItems {
        items: Value,
        flatten: bool,
    },
    WithDict(Value),
    WithFileglob(Value),
    WithSequence(Value),
    /// `with_first_found`: the first file of a list that exists, looked up as Ansible does.
    WithFirstFound(Value),
    /// The other `with_<lookup>` loops computed from their terms alone (`nested`,
    /// `cartesian`, `together`, `subelements`, `indexed_items`, `random_choice`,
    /// `flattened`).
    Lookup {
        name: &'static str,
        terms: Value,
    },
}

pub use keywords::LOOKUP_LOOPS;

/// What a task does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Run a module (found in the registry, whatever name the task used).
    Module { module: &'static Spec, args: Vars },
    Block {
        block: Vec<Task>,
        rescue: Vec<Task>,
        always: Vec<Task>,
    },
}

/// A task, block or handler.
#[derive(Debug, Clone)]
pub struct Task {
    pub origin: Origin,
    pub name: Option<String>,
    pub action: Action,
    pub loop_: Option<Loop>,
    pub loop_control: Option<Value>,
    pub register: Option<String>,
    pub notify: Vec<String>,
    pub listen: Vec<String>,
    pub changed_when: Option<Value>,
    pub failed_when: Option<Value>,
    pub until: Option<Value>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    /// `apply:` of `include_tasks`/`include_role`: keywords for every included task.
    pub apply: Option<Box<Common>>,
    /// `async:` — seconds the task may run; with `poll:` (seconds between checks, default
    /// 15; 0 is not supported yet).
    pub async_: Option<Value>,
    pub poll: Option<Value>,
    pub common: Common,
}

impl Task {
    /// The name shown in output: `name:`, else the module name (Ansible's default).
    pub fn display_name(&self) -> String {
        match (&self.name, &self.action) {
            (Some(n), _) => n.clone(),
            (None, Action::Module { module, .. }) => module.name.to_string(),
            (None, Action::Block { .. }) => "block".into(),
        }
    }
}

struct Ctx<'a> {
    file: Arc<PathBuf>,
    dir: &'a Path,
    /// The directory of the playbook file the play is in: `roles/` is looked for there.
    base: &'a Path,
    /// Where roles are looked for after `roles/` beside the playbook (`roles_path`).
    roles_path: &'a [PathBuf],
    /// Problems found so far in tasks and plays; reading goes on past them.
    errors: &'a std::cell::RefCell<Vec<PlaybookError>>,
    /// Handlers and defaults of roles imported by tasks (`import_role`), for the play.
    extras: &'a std::cell::RefCell<roles::Expanded>,
    /// Files being imported, to refuse import loops.
    stack: Vec<PathBuf>,
}

impl<'a> Ctx<'a> {
    /// The context of a file read from this one (an import, a role's file).
    fn child<'b>(&'b self, file: Arc<PathBuf>, dir: &'b Path, stack: Vec<PathBuf>) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            file,
            dir,
            base: self.base,
            roles_path: self.roles_path,
            errors: self.errors,
            extras: self.extras,
            stack,
        }
    }

    /// The role this file belongs to, when it is a role's `tasks/`, `handlers/` or `meta/`
    /// file.
    fn role_dir(&self) -> Option<&Path> {
        let parent = self.file.parent()?;
        matches!(parent.file_name()?.to_str()?, "tasks" | "handlers" | "meta")
            .then(|| parent.parent())
            .flatten()
    }

    fn err(&self, pos: Pos, message: impl Into<String>, hint: Option<String>) -> PlaybookError {
        PlaybookError::Parse {
            path: self.file.as_ref().clone(),
            pos,
            message: message.into(),
            hint: hint.filter(|h| !h.is_empty()),
        }
    }

    fn origin(&self, pos: Pos) -> Origin {
        Origin {
            file: self.file.clone(),
            pos,
        }
    }
}

/// Reads and checks a playbook file.
pub fn load(path: &Path) -> Result<Playbook, PlaybookError> {
    load_with(path, &[])
}

/// [`load`], looking for roles in `roles_path` too (ansible.cfg's `roles_path`,
/// `ANSIBLE_ROLES_PATH`), after `roles/` beside the playbook.
pub fn load_with(path: &Path, roles_path: &[PathBuf]) -> Result<Playbook, PlaybookError> {
    let (pb, mut errors) = load_partial(path, roles_path)?;
    match errors.len() {
        0 => Ok(pb),
        1 => Err(errors.remove(0)),
        _ => Err(PlaybookError::Many(errors)),
    }
}

/// Reads as much of a playbook as can be used, and every problem in the tasks and plays
/// that cannot (for `--syntax-check`, which reports them all with the checks that need the
/// playbook). A file that cannot be read or parsed at all is still an error of its own.
pub fn load_partial(
    path: &Path,
    roles_path: &[PathBuf],
) -> Result<(Playbook, Vec<PlaybookError>), PlaybookError> {
    let mut plays = Vec::new();
    let errors = std::cell::RefCell::new(Vec::new());
    let read = load_into(path, &mut plays, &mut Vec::new(), roles_path, &errors);
    let mut errors = errors.into_inner();
    if let Err(e) = read {
        if errors.is_empty() {
            return Err(e);
        }
        errors.push(e);
    }
    Ok((
        Playbook {
            path: path.to_path_buf(),
            plays,
        },
        errors,
    ))
}

/// Reads a task file (for `include_tasks`, at run time), with the play's file directory
/// (`base`) and roles path for the roles it imports. Their handlers and defaults come back
/// beside the tasks.
pub fn load_tasks(
    path: &Path,
    base: &Path,
    roles_path: &[PathBuf],
) -> Result<(Vec<Task>, roles::Expanded), PlaybookError> {
    let root = yaml::load_file(path)?;
    let errors = std::cell::RefCell::new(Vec::new());
    let extras = std::cell::RefCell::new(roles::Expanded::default());
    let ctx = Ctx {
        file: Arc::new(path.to_path_buf()),
        dir: path.parent().unwrap_or(Path::new(".")),
        base,
        roles_path,
        errors: &errors,
        extras: &extras,
        stack: vec![path.canonicalize().unwrap_or_else(|_| path.to_path_buf())],
    };
    let tasks = parse_tasks(&ctx, &root, false)?;
    let mut errors = errors.into_inner();
    match errors.len() {
        0 => Ok((tasks, extras.into_inner())),
        1 => Err(errors.remove(0)),
        _ => Err(PlaybookError::Many(errors)),
    }
}

fn load_into(
    path: &Path,
    plays: &mut Vec<Play>,
    stack: &mut Vec<PathBuf>,
    roles_path: &[PathBuf],
    errors: &std::cell::RefCell<Vec<PlaybookError>>,
) -> Result<(), PlaybookError> {
    let root = yaml::load_file(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = Arc::new(path.to_path_buf());
    let extras = std::cell::RefCell::new(roles::Expanded::default());
    let ctx = Ctx {
        file: file.clone(),
        dir,
        base: dir,
        roles_path,
        errors,
        extras: &extras,
        stack: stack.clone(),
    };
    let NodeValue::Seq(items) = &root.value else {
        return Err(ctx.err(
            root.pos,
            format!(
                "a playbook must be a list of plays, got {}",
                root.value.kind()
            ),
            Some("start each play with '- hosts: ...'".into()),
        ));
    };
    for item in items {
        let Some(map) = item.as_map() else {
            return Err(ctx.err(
                item.pos,
                format!("a play must be a mapping, got {}", item.value.kind()),
                None,
            ));
        };
        if let Some((k, v)) = map.iter().find(|(k, _)| {
            matches!(
                k.as_str(),
                Some("import_playbook" | "ansible.builtin.import_playbook")
            )
        }) {
            let Some(rel) = v.as_str() else {
                return Err(ctx.err(v.pos, "import_playbook needs a file name", None));
            };
            // `vars`, `when` and `tags` beside it apply to every imported play, as in
            // ansible-core: the vars over the play's own, the conditions before each task's,
            // the tags added to the play's.
            let mut keywords = Common::default();
            for (kk, kv) in map.iter().filter(|(kk, _)| kk.pos != k.pos) {
                let key = key_of(&ctx, kk)?;
                match key.as_str() {
                    "vars" | "when" | "tags" => {
                        set_common(&ctx, &mut keywords, &key, kv)?;
                    }
                    "name" => {}
                    _ => {
                        return Err(ctx.err(
                            kk.pos,
                            format!("'{key}' next to import_playbook is not supported"),
                            Some("import_playbook takes vars, when, tags and name".into()),
                        ));
                    }
                }
            }
            let target = dir.join(rel);
            let canon = target.canonicalize().unwrap_or_else(|_| target.clone());
            if stack.contains(&canon) {
                return Err(ctx.err(
                    v.pos,
                    format!("import_playbook loop: '{rel}' imports itself"),
                    None,
                ));
            }
            if !target.is_file() {
                return Err(ctx.err(
                    v.pos,
                    format!("imported playbook '{}' does not exist", target.display()),
                    None,
                ));
            }
            stack.push(canon);
            let first = plays.len();
            load_into(&target, plays, stack, roles_path, errors)?;
            stack.pop();
            for play in &mut plays[first..] {
                play.common.vars.extend(keywords.vars.clone());
                let mut when = keywords.when.clone();
                when.append(&mut play.common.when);
                play.common.when = when;
                for t in &keywords.tags {
                    if !play.common.tags.contains(t) {
                        play.common.tags.push(t.clone());
                    }
                }
            }
            continue;
        }
        match parse_play(&ctx, item) {
            Ok(p) => plays.push(p),
            // The other plays are still read, so that every problem is reported at once.
            Err(e @ PlaybookError::Parse { .. }) => ctx.errors.borrow_mut().push(e),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn key_of(ctx: &Ctx<'_>, k: &Node) -> Result<String, PlaybookError> {
    k.as_str().map(str::to_string).ok_or_else(|| {
        ctx.err(
            k.pos,
            format!("keys must be strings, got {}", k.value.kind()),
            None,
        )
    })
}

fn string_list(ctx: &Ctx<'_>, v: &Node, what: &str) -> Result<Vec<String>, PlaybookError> {
    match &v.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::Str(s) => Ok(s
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()),
        NodeValue::Int(_) | NodeValue::Float(_) | NodeValue::Bool(_) => {
            Ok(vec![v.as_key().unwrap_or_default()])
        }
        NodeValue::Seq(items) => items
            .iter()
            .map(|i| {
                i.as_key().ok_or_else(|| {
                    ctx.err(
                        i.pos,
                        format!("{what} must be strings, got {}", i.value.kind()),
                        None,
                    )
                })
            })
            .collect(),
        NodeValue::Map(_) => Err(ctx.err(
            v.pos,
            format!("{what} must be a string or a list, got a mapping"),
            None,
        )),
    }
}

fn vars_map(ctx: &Ctx<'_>, v: &Node) -> Result<Vars, PlaybookError> {
    match v.to_value() {
        Value::Null => Ok(Vars::new()),
        Value::Object(m) => Ok(m),
        _ => Err(ctx.err(
            v.pos,
            format!("vars must be a mapping, got {}", v.value.kind()),
            None,
        )),
    }
}

/// `module_defaults` as ansible-core reads it: module names (short or fully qualified, or
/// `group/NAME`) to mappings of arguments. The arguments of a module olympus has are checked
/// by name here; a group names collection modules, which olympus has none of.
fn check_module_defaults(ctx: &Ctx<'_>, v: &Node) -> Result<(), PlaybookError> {
    let value = v.to_value();
    let maps: Vec<&serde_json::Map<String, Value>> = match &value {
        Value::Object(m) => vec![m],
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        Value::Null => vec![],
        _ => {
            return Err(ctx.err(
                v.pos,
                "The field 'module_defaults' is supposed to be a dictionary or list of dictionaries, the keys of which must be static action, module, or group names. Only the values may contain templates.",
                Some("for example: {'ping': \"{{ ping_defaults }}\"}".into()),
            ));
        }
    };
    for m in maps {
        for (name, args) in m {
            if name.starts_with("group/") {
                continue;
            }
            let Some(spec) = registry::find(name) else {
                continue;
            };
            match args {
                Value::Object(a) => spec
                    .check_names(a)
                    .map_err(|e| ctx.err(v.pos, format!("module_defaults: {e}"), None))?,
                Value::Null => {}
                Value::String(s) if crate::template::is_template(s) => {}
                _ => {
                    return Err(ctx.err(
                        v.pos,
                        format!("module_defaults for '{name}' must be a mapping of arguments"),
                        None,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Sets a shared keyword; false when `key` is not one.
fn set_common(ctx: &Ctx<'_>, c: &mut Common, key: &str, v: &Node) -> Result<bool, PlaybookError> {
    let val = || Some(v.to_value());
    match key {
        "vars" => c.vars = vars_map(ctx, v)?,
        "tags" => c.tags = string_list(ctx, v, "tags")?,
        "when" => {
            c.when = match v.to_value() {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                other => vec![other],
            }
        }
        "become" => c.become_ = val(),
        "become_user" => c.become_user = val(),
        "become_method" => c.become_method = val(),
        "remote_user" => c.remote_user = val(),
        "connection" => {
            if let Some(t) = v.as_str()
                && !crate::template::is_template(t)
                && !matches!(t, "ssh" | "paramiko" | "smart" | "local")
            {
                return Err(ctx.err(
                    v.pos,
                    format!("connection '{t}' is not supported by olympus (ssh, local)"),
                    None,
                ));
            }
            c.connection = val()
        }
        "environment" => c.environment = val(),
        "module_defaults" => {
            check_module_defaults(ctx, v)?;
            c.module_defaults = val();
        }
        "no_log" => c.no_log = val(),
        "check_mode" => c.check_mode = val(),
        "diff" => c.diff = val(),
        "ignore_errors" => c.ignore_errors = val(),
        "ignore_unreachable" => c.ignore_unreachable = val(),
        "any_errors_fatal" => c.any_errors_fatal = val(),
        "run_once" => c.run_once = val(),
        "delegate_to" => c.delegate_to = val(),
        "timeout" => {
            check_number(ctx, v, "timeout", crate::bounds::seconds)?;
            c.timeout = val();
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Refuses a number written in the playbook that is out of its range (templates are
/// checked once rendered, when the task runs).
fn check_number<T>(
    ctx: &Ctx<'_>,
    v: &Node,
    what: &str,
    check: fn(&str, &Value) -> Result<T, String>,
) -> Result<(), PlaybookError> {
    let value = v.to_value();
    if crate::bounds::is_template(&value) {
        return Ok(());
    }
    check(what, &value)
        .map(|_| ())
        .map_err(|e| ctx.err(v.pos, e, None))
}

fn unsupported_or_unknown(
    ctx: &Ctx<'_>,
    k: &Node,
    key: &str,
    valid: &[&str],
    what: &str,
) -> PlaybookError {
    if keywords::UNSUPPORTED.contains(&key) {
        return ctx.err(
            k.pos,
            format!("keyword '{key}' is not supported by olympus yet"),
            None,
        );
    }
    let hint = suggest::did_you_mean(key, valid.iter().copied());
    ctx.err(
        k.pos,
        format!("'{key}' is not a valid {what} keyword"),
        Some(hint),
    )
}

fn parse_play(ctx: &Ctx<'_>, node: &Node) -> Result<Play, PlaybookError> {
    let map = node.as_map().unwrap_or_default();
    let mut play = Play {
        origin: ctx.origin(node.pos),
        name: None,
        hosts: String::new(),
        vars_files: Vec::new(),
        vars_prompt: Vec::new(),
        gather_facts: None,
        serial: None,
        max_fail_percentage: None,
        strategy: Strategy::Linear,
        strategy_template: None,
        order: None,
        force_handlers: None,
        roles: Vec::new(),
        role_tasks: Vec::new(),
        role_defaults: Vars::new(),
        pre_tasks: Vec::new(),
        tasks: Vec::new(),
        post_tasks: Vec::new(),
        handlers: Vec::new(),
        common: Common::default(),
        roles_path: ctx.roles_path.to_vec(),
    };
    // Roles the play's tasks import add their handlers and defaults to it.
    let _ = std::mem::take(&mut *ctx.extras.borrow_mut());
    let mut has_hosts = false;
    let mut role_handlers: Vec<Task> = Vec::new();
    for (k, v) in map {
        let key = key_of(ctx, k)?;
        if key == "name" {
            play.name = v.as_key();
            continue;
        }
        if set_common(ctx, &mut play.common, &key, v)? {
            continue;
        }
        match key.as_str() {
            "hosts" => {
                has_hosts = true;
                play.hosts = string_list(ctx, v, "hosts")?.join(",");
                // An empty pattern would otherwise mean every host: refuse it, as Ansible does.
                if play.hosts.trim().is_empty() {
                    return Err(ctx.err(
                        v.pos,
                        "the play's host list is empty",
                        Some("name the hosts to run on, e.g. 'hosts: all' or 'hosts: web'".into()),
                    ));
                }
            }
            "vars_files" => play.vars_files = list_values(v),
            "vars_prompt" => play.vars_prompt = list_values(v),
            "gather_facts" => play.gather_facts = Some(v.to_value()),
            "serial" => play.serial = Some(v.to_value()),
            "max_fail_percentage" => play.max_fail_percentage = Some(v.to_value()),
            "strategy" => {
                play.strategy = match v.as_str() {
                    Some("linear") => Strategy::Linear,
                    Some("free") => Strategy::Free,
                    // Rendered when the play starts (with its vars and -e).
                    Some(t) if crate::template::is_template(t) => {
                        play.strategy_template = Some(t.to_string());
                        Strategy::Linear
                    }
                    other => {
                        let got = other.unwrap_or("?");
                        return Err(ctx.err(
                            v.pos,
                            format!(
                                "strategy '{got}' is not supported; olympus has 'linear' and 'free'"
                            ),
                            Some(suggest::did_you_mean(got, ["linear", "free"])),
                        ));
                    }
                }
            }
            "order" => {
                let o = v.as_str().unwrap_or_default();
                const ORDERS: [&str; 5] = [
                    "inventory",
                    "reverse_inventory",
                    "sorted",
                    "reverse_sorted",
                    "shuffle",
                ];
                if !ORDERS.contains(&o) {
                    return Err(ctx.err(
                        v.pos,
                        format!("order '{o}' is not valid"),
                        Some(suggest::did_you_mean(o, ORDERS)),
                    ));
                }
                play.order = Some(o.to_string());
            }
            "force_handlers" => play.force_handlers = Some(v.to_value()),
            "roles" => {
                play.roles = list_values(v);
                let expanded = roles::expand(ctx, v)?;
                play.role_tasks = expanded.tasks;
                play.role_defaults = expanded.defaults;
                role_handlers = expanded.handlers;
            }
            "pre_tasks" => play.pre_tasks = parse_tasks(ctx, v, false)?,
            "tasks" => play.tasks = parse_tasks(ctx, v, false)?,
            "post_tasks" => play.post_tasks = parse_tasks(ctx, v, false)?,
            "handlers" => play.handlers = parse_tasks(ctx, v, true)?,
            _ => {
                let valid = keywords::valid_in(keywords::Place::Play);
                let mut e = unsupported_or_unknown(ctx, k, &key, &valid, "play");
                if registry::find(&key).is_some()
                    && let PlaybookError::Parse { hint, .. } = &mut e
                {
                    *hint = Some("modules go in a task, under 'tasks:'".into());
                }
                return Err(e);
            }
        }
    }
    if !has_hosts {
        return Err(ctx.err(
            node.pos,
            "a play needs 'hosts:'",
            Some("for example 'hosts: all' or 'hosts: localhost'".into()),
        ));
    }
    // Role handlers come before the play's own, as Ansible orders them; then those of roles
    // imported by tasks.
    role_handlers.append(&mut play.handlers);
    play.handlers = role_handlers;
    let imported = std::mem::take(&mut *ctx.extras.borrow_mut());
    play.handlers.extend(imported.handlers);
    for (k, v) in imported.defaults {
        play.role_defaults.entry(k).or_insert(v);
    }
    Ok(play)
}

fn list_values(v: &Node) -> Vec<Value> {
    match v.to_value() {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn parse_tasks(ctx: &Ctx<'_>, v: &Node, handlers: bool) -> Result<Vec<Task>, PlaybookError> {
    match &v.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match parse_task(ctx, item, handlers) {
                    Ok(t) => out.push(t),
                    // A task that cannot be used does not stop the reading of the others:
                    // every problem is reported at once.
                    Err(e @ PlaybookError::Parse { .. }) => ctx.errors.borrow_mut().push(e),
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        }
        other => Err(ctx.err(
            v.pos,
            format!("a task list must be a list, got {}", other.kind()),
            None,
        )),
    }
}

fn module_args(ctx: &Ctx<'_>, module: &'static Spec, v: &Node) -> Result<Vars, PlaybookError> {
    let raw = |text: String| {
        let mut m = Vars::new();
        m.insert("_raw_params".into(), Value::String(text));
        m
    };
    match &v.value {
        NodeValue::Null => Ok(Vars::new()),
        NodeValue::Map(_) => vars_map(ctx, v),
        NodeValue::Str(s) => match module.free_form {
            FreeForm::Raw => Ok(raw(s.clone())),
            FreeForm::RawUnlessKeyValue if !s.contains('=') => Ok(raw(s.clone())),
            FreeForm::CommandLine => kv::parse_kv(s, true).map_err(|e| ctx.err(v.pos, e, None)),
            FreeForm::RawUnlessKeyValue | FreeForm::KeyValue => {
                kv::parse_kv(s, false).map_err(|e| ctx.err(v.pos, e, None))
            }
        },
        NodeValue::Int(_) | NodeValue::Float(_) | NodeValue::Bool(_)
            if module.free_form == FreeForm::Raw =>
        {
            Ok(raw(v.as_key().unwrap_or_default()))
        }
        other => Err(ctx.err(
            v.pos,
            format!(
                "arguments of '{}' must be a mapping or a string, got {}",
                module.name,
                other.kind()
            ),
            None,
        )),
    }
}

fn parse_task(ctx: &Ctx<'_>, node: &Node, handler: bool) -> Result<Task, PlaybookError> {
    let Some(map) = node.as_map() else {
        return Err(ctx.err(
            node.pos,
            format!("a task must be a mapping, got {}", node.value.kind()),
            None,
        ));
    };
    let is_block = map.iter().any(|(k, _)| k.as_str() == Some("block"));
    let mut task = Task {
        origin: ctx.origin(node.pos),
        name: None,
        action: Action::Block {
            block: Vec::new(),
            rescue: Vec::new(),
            always: Vec::new(),
        },
        loop_: None,
        loop_control: None,
        register: None,
        notify: Vec::new(),
        listen: Vec::new(),
        changed_when: None,
        failed_when: None,
        until: None,
        retries: None,
        delay: None,
        apply: None,
        async_: None,
        poll: None,
        common: Common::default(),
    };
    let mut module: Option<(&'static Spec, &Node, &Node)> = None;
    let mut extra_args: Option<&Node> = None;
    let (mut block, mut rescue, mut always) = (Vec::new(), Vec::new(), Vec::new());
    for (k, v) in map {
        let key = key_of(ctx, k)?;
        if key == "name" {
            task.name = v.as_key();
            continue;
        }
        if set_common(ctx, &mut task.common, &key, v)? {
            continue;
        }
        if is_block {
            match key.as_str() {
                "block" => block = parse_tasks(ctx, v, handler)?,
                "rescue" => rescue = parse_tasks(ctx, v, handler)?,
                "always" => always = parse_tasks(ctx, v, handler)?,
                "notify" => task.notify = string_list(ctx, v, "notify")?,
                _ => {
                    let valid = keywords::valid_in(keywords::Place::Block);
                    if registry::find(&key).is_some() {
                        return Err(ctx.err(
                            k.pos,
                            format!("a block cannot also run a module ('{key}')"),
                            Some("put the module in a task inside 'block:'".into()),
                        ));
                    }
                    return Err(unsupported_or_unknown(ctx, k, &key, &valid, "block"));
                }
            }
            continue;
        }
        match key.as_str() {
            "args" => extra_args = Some(v),
            "loop" => set_loop(ctx, &mut task, k, Loop::Items(v.to_value()))?,
            "with_items" => set_loop(
                ctx,
                &mut task,
                k,
                Loop::WithItems {
                    items: v.to_value(),
                    flatten: true,
                },
            )?,
            "with_list" => set_loop(
                ctx,
                &mut task,
                k,
                Loop::WithItems {
                    items: v.to_value(),
                    flatten: false,
                },
            )?,
            "with_dict" => set_loop(ctx, &mut task, k, Loop::WithDict(v.to_value()))?,
            "with_fileglob" => set_loop(ctx, &mut task, k, Loop::WithFileglob(v.to_value()))?,
            "with_sequence" => set_loop(ctx, &mut task, k, Loop::WithSequence(v.to_value()))?,
            "with_first_found" => set_loop(ctx, &mut task, k, Loop::WithFirstFound(v.to_value()))?,
            other
                if other
                    .strip_prefix("with_")
                    .is_some_and(|n| LOOKUP_LOOPS.contains(&n)) =>
            {
                let name = LOOKUP_LOOPS
                    .iter()
                    .copied()
                    .find(|n| other.strip_prefix("with_") == Some(*n))
                    .unwrap_or("nested");
                set_loop(
                    ctx,
                    &mut task,
                    k,
                    Loop::Lookup {
                        name,
                        terms: v.to_value(),
                    },
                )?
            }
            "loop_control" => {
                if let Some(pause) = v
                    .as_map()
                    .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("pause")))
                {
                    check_number(ctx, &pause.1, "loop_control pause", crate::bounds::seconds)?;
                }
                task.loop_control = Some(v.to_value());
            }
            "async" => {
                check_number(ctx, v, "async", crate::bounds::seconds)?;
                task.async_ = Some(v.to_value());
            }
            "poll" => {
                check_number(ctx, v, "poll", crate::bounds::seconds)?;
                task.poll = Some(v.to_value());
            }
            "register" => {
                let r = v.as_str().unwrap_or_default();
                if r.is_empty()
                    || !r.chars().all(|c| c.is_alphanumeric() || c == '_')
                    || r.starts_with(|c: char| c.is_ascii_digit())
                {
                    return Err(ctx.err(
                        v.pos,
                        format!(
                            "register needs a variable name, got '{}'",
                            v.as_key().unwrap_or_default()
                        ),
                        None,
                    ));
                }
                task.register = Some(r.to_string());
            }
            "notify" => task.notify = string_list(ctx, v, "notify")?,
            "listen" if handler => task.listen = string_list(ctx, v, "listen")?,
            "changed_when" => task.changed_when = Some(v.to_value()),
            "failed_when" => task.failed_when = Some(v.to_value()),
            "until" => task.until = Some(v.to_value()),
            "retries" => {
                check_number(ctx, v, "retries", crate::bounds::count)?;
                task.retries = Some(v.to_value());
            }
            "delay" => {
                check_number(ctx, v, "delay", crate::bounds::seconds)?;
                task.delay = Some(v.to_value());
            }
            "action" | "local_action" => {
                let (resolved, _) = action_keyword(ctx, v)?;
                if key == "local_action" {
                    task.common.delegate_to = Some(Value::from("localhost"));
                }
                if let Some((prev, pk, _)) = &module {
                    return Err(ctx.err(
                        k.pos,
                        format!(
                            "conflicting actions: '{}' (line {}) and '{key}'",
                            prev.name, pk.pos.line
                        ),
                        None,
                    ));
                }
                module = Some((resolved, k, v));
            }
            _ => {
                let Some(canon) = registry::find(&key) else {
                    let mut valid = keywords::valid_in(if handler {
                        keywords::Place::Handler
                    } else {
                        keywords::Place::Task
                    });
                    valid.extend(registry::names());
                    if keywords::UNSUPPORTED.contains(&key.as_str()) {
                        return Err(ctx.err(
                            k.pos,
                            format!("keyword '{key}' is not supported by olympus yet"),
                            None,
                        ));
                    }
                    if registry::is_unimplemented_builtin(&key)
                        || (key.contains('.') && !key.starts_with("ansible."))
                    {
                        // Always an error for these names; it says why.
                        resolve_module(ctx, k, &key)?;
                    }
                    return Err(ctx.err(
                        k.pos,
                        format!("'{key}' is neither a task keyword nor a module"),
                        Some(suggest::did_you_mean(&key, valid.iter().copied())),
                    ));
                };
                if let Some((prev, pk, _)) = &module {
                    return Err(ctx.err(
                        k.pos,
                        format!(
                            "conflicting actions: '{}' (line {}) and '{key}'",
                            prev.name, pk.pos.line
                        ),
                        Some("a task runs one module; split it into two tasks".into()),
                    ));
                }
                module = Some((canon, k, v));
            }
        }
    }
    if is_block {
        if !handler {
            // A block's `notify` is its tasks' unless they name their own, as ansible-core
            // inherits it (the nearest block's wins).
            for list in [&mut block, &mut rescue, &mut always] {
                inherit_notify(list, &task.notify);
            }
        }
        task.action = Action::Block {
            block,
            rescue,
            always,
        };
        return Ok(task);
    }
    let Some((spec, k, v)) = module else {
        return Err(ctx.err(
            node.pos,
            "this task has no module to run",
            Some("add a module such as 'command: ...' or 'debug: msg=...'".into()),
        ));
    };
    let mut args = if matches!(k.as_str(), Some("action" | "local_action")) {
        action_keyword(ctx, v)?.1
    } else {
        module_args(ctx, spec, v)?
    };
    if let Some(extra) = extra_args {
        for (ak, av) in vars_map(ctx, extra)? {
            args.entry(ak).or_insert(av);
        }
    }
    if let Some(apply) = args.get("apply") {
        if spec.kind == Kind::Parser {
            return Err(ctx.err(
                k.pos,
                format!("'apply' is for include_tasks and include_role; {} takes the task's own keywords", spec.name),
                Some("put the keywords on the task itself".into()),
            ));
        }
        let node = v
            .as_map()
            .and_then(|m| {
                m.iter()
                    .find(|(ak, _)| ak.as_str() == Some("apply"))
                    .map(|(_, av)| av)
            })
            .or_else(|| {
                extra_args.and_then(|e| e.as_map()).and_then(|m| {
                    m.iter()
                        .find(|(ak, _)| ak.as_str() == Some("apply"))
                        .map(|(_, av)| av)
                })
            });
        let mut common = Common::default();
        match node.and_then(|n| n.as_map().map(|m| (n, m))) {
            Some((_, pairs)) => {
                for (ak, av) in pairs {
                    let key = key_of(ctx, ak)?;
                    if !set_common(ctx, &mut common, &key, av)? {
                        return Err(unsupported_or_unknown(
                            ctx,
                            ak,
                            &key,
                            &keywords::common(),
                            "apply",
                        ));
                    }
                }
            }
            None if apply.is_null() => {}
            None => {
                return Err(ctx.err(k.pos, "'apply' must be a mapping of task keywords", None));
            }
        }
        task.apply = Some(Box::new(common));
    }
    if spec.kind == Kind::Parser {
        if spec.name == crate::modules::include_role::IMPORT_SPEC.name {
            let req = crate::modules::include_role::request(spec, &args)
                .map_err(|e| ctx.err(k.pos, e.to_string(), None))?;
            if args.values().any(crate::bounds::is_template) {
                return Err(ctx.err(
                    k.pos,
                    "import_role is static: its role and file names cannot use variables",
                    Some("use include_role for templated names".into()),
                ));
            }
            return roles::import(ctx, task, &req.role);
        }
        return import_tasks(ctx, task, &args, k, handler);
    }
    task.action = Action::Module { module: spec, args };
    Ok(task)
}

fn set_loop(ctx: &Ctx<'_>, task: &mut Task, k: &Node, l: Loop) -> Result<(), PlaybookError> {
    if task.loop_.is_some() {
        return Err(ctx.err(
            k.pos,
            "a task can have only one loop ('loop' or one 'with_*')",
            None,
        ));
    }
    task.loop_ = Some(l);
    Ok(())
}

/// `action: module k=v` or `action: {module: x, k: v}`.
fn action_keyword(ctx: &Ctx<'_>, v: &Node) -> Result<(&'static Spec, Vars), PlaybookError> {
    match &v.value {
        NodeValue::Str(s) => {
            let s = s.trim();
            let (m, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
            let canon = resolve_module(ctx, v, m)?;
            let mut args = Vars::new();
            if !rest.trim().is_empty() {
                let node = Node {
                    value: NodeValue::Str(rest.trim().to_string()),
                    pos: v.pos,
                };
                args = module_args(ctx, canon, &node)?;
            }
            Ok((canon, args))
        }
        NodeValue::Map(pairs) => {
            let Some((_, mv)) = pairs.iter().find(|(k, _)| k.as_str() == Some("module")) else {
                return Err(ctx.err(v.pos, "action needs 'module:'", None));
            };
            let canon = resolve_module(ctx, mv, mv.as_str().unwrap_or_default())?;
            let mut args = vars_map(ctx, v)?;
            args.shift_remove("module");
            Ok((canon, args))
        }
        other => Err(ctx.err(
            v.pos,
            format!("action must be a string or mapping, got {}", other.kind()),
            None,
        )),
    }
}

fn resolve_module(ctx: &Ctx<'_>, at: &Node, name: &str) -> Result<&'static Spec, PlaybookError> {
    if let Some(c) = registry::find(name) {
        return Ok(c);
    }
    let short = name.rsplit('.').next().unwrap_or(name);
    if registry::is_unimplemented_builtin(name) {
        return Err(ctx.err(
            at.pos,
            format!("module '{name}' is not implemented by olympus yet"),
            None,
        ));
    }
    if name.contains('.') && !name.starts_with("ansible.") {
        return Err(ctx.err(
            at.pos,
            format!(
                "module '{name}' comes from a collection; olympus runs ansible.builtin modules only"
            ),
            None,
        ));
    }
    Err(ctx.err(
        at.pos,
        format!("unknown module '{name}'"),
        Some(suggest::did_you_mean(short, registry::names())),
    ))
}

/// `import_tasks: file.yml` is resolved now: a block holding the file's tasks, with the
/// import's own keywords (when, tags, vars, ...) on the block.
fn import_tasks(
    ctx: &Ctx<'_>,
    mut task: Task,
    args: &Vars,
    k: &Node,
    handler: bool,
) -> Result<Task, PlaybookError> {
    let Some(rel) = args
        .get("_raw_params")
        .or_else(|| args.get("file"))
        .and_then(Value::as_str)
    else {
        return Err(ctx.err(k.pos, "import_tasks needs a file name", None));
    };
    if rel.contains("{{") {
        return Err(ctx.err(
            k.pos,
            "import_tasks is static: its file name cannot use variables",
            Some("use include_tasks for a templated file name".into()),
        ));
    }
    let candidates = [ctx.dir.join(rel), ctx.dir.join("tasks").join(rel)];
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        return Err(ctx.err(
            k.pos,
            format!(
                "imported task file '{rel}' not found next to {} (or in tasks/)",
                ctx.file.display()
            ),
            None,
        ));
    };
    let canon = path.canonicalize().unwrap_or_else(|_| path.clone());
    if ctx.stack.contains(&canon) {
        return Err(ctx.err(
            k.pos,
            format!("import_tasks loop: '{rel}' imports itself"),
            None,
        ));
    }
    let root = yaml::load_file(path)?;
    let mut stack = ctx.stack.clone();
    stack.push(canon);
    let sub = ctx.child(
        Arc::new(path.clone()),
        path.parent().unwrap_or(Path::new(".")),
        stack,
    );
    let mut tasks = parse_tasks(&sub, &root, handler)?;
    // `notify` on the import is every imported task's, as ansible-core inherits it.
    add_notify(&mut tasks, &std::mem::take(&mut task.notify));
    task.action = Action::Block {
        block: tasks,
        rescue: Vec::new(),
        always: Vec::new(),
    };
    Ok(task)
}

/// Gives `notify` to every task inside `tasks` (blocks included) that has none of its own.
fn inherit_notify(tasks: &mut [Task], notify: &[String]) {
    if notify.is_empty() {
        return;
    }
    for t in tasks {
        match &mut t.action {
            Action::Module { .. } => {
                if t.notify.is_empty() {
                    t.notify = notify.to_vec();
                }
            }
            Action::Block {
                block,
                rescue,
                always,
            } => {
                for list in [block, rescue, always] {
                    inherit_notify(list, notify);
                }
            }
        }
    }
}

/// Adds handlers to notify to every task inside `tasks` (blocks included).
pub(crate) fn add_notify(tasks: &mut [Task], notify: &[String]) {
    if notify.is_empty() {
        return;
    }
    for t in tasks {
        match &mut t.action {
            Action::Module { .. } => {
                for n in notify {
                    if !t.notify.contains(n) {
                        t.notify.push(n.clone());
                    }
                }
            }
            Action::Block {
                block,
                rescue,
                always,
            } => {
                add_notify(block, notify);
                add_notify(rescue, notify);
                add_notify(always, notify);
            }
        }
    }
}

#[cfg(test)]
mod tests;
