//! Roles: `roles:` on a play, `import_role` (both resolved when the playbook is read) and
//! `include_role` (loaded when the task runs, through [`load_role`]). A role is its
//! `tasks/`, `handlers/`, `defaults/` and `vars/` files (`main.yml`, or the files a
//! `*_from` argument names) and its `meta/main.yml` dependencies, found under `roles/`
//! beside the playbook, in the roles path, or beside the playbook itself.
//!
//! Owns: finding a role, reading its files, and the block a role application becomes.
//! Must not: run anything, or render templates (role names are fixed here; `include_role`'s
//! templated names are rendered by the engine first).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Action, Common, Ctx, Origin, PlaybookError, Task, parse_tasks};
use crate::modules::include_role::RoleRef;
use crate::yaml::{self, Node, NodeValue, Pos, Vars};

/// A role's contribution to a play.
#[derive(Debug, Clone, Default)]
pub struct Expanded {
    /// One block per role application, in order (dependencies first).
    pub tasks: Vec<Task>,
    pub handlers: Vec<Task>,
    /// Role defaults, lowest precedence of all.
    pub defaults: Vars,
    /// The role's own variables (`vars/`), for `include_role`'s `public`.
    pub vars: Vars,
}

fn find_role(ctx: &Ctx<'_>, name: &str) -> Option<PathBuf> {
    // Ansible's order: `roles/` beside the playbook, the roles path, the playbook's own
    // directory; olympus also tries `roles/` in the current directory. A role's tasks may
    // name a sibling role, found beside it.
    let mut cands = vec![
        ctx.base.join("roles").join(name),
        PathBuf::from("roles").join(name),
    ];
    cands.extend(ctx.roles_path.iter().map(|r| r.join(name)));
    cands.extend([ctx.base.join(name), PathBuf::from(name)]);
    if let Some(roles_dir) = ctx.role_dir().and_then(Path::parent) {
        cands.push(roles_dir.join(name));
    }
    cands.into_iter().find(|p| {
        p.join("tasks").is_dir()
            || p.join("handlers").is_dir()
            || p.join("meta").is_dir()
            || p.join("defaults").is_dir()
    })
}

/// The file of a role's `sub/` directory: `from` (with or without `.yml`), else `main`.
/// A named file that does not exist is an error; a missing `main` is not.
fn role_file(
    ctx: &Ctx<'_>,
    pos: Pos,
    dir: &Path,
    sub: &str,
    from: Option<&str>,
) -> Result<Option<PathBuf>, PlaybookError> {
    let name = from.unwrap_or("main");
    let found = ["", ".yml", ".yaml", ".json"]
        .iter()
        .map(|ext| dir.join(sub).join(format!("{name}{ext}")))
        .find(|p| p.is_file());
    match (found, from) {
        (Some(p), _) => Ok(Some(p)),
        (None, None) => Ok(None),
        (None, Some(f)) => Err(ctx.err(
            pos,
            format!(
                "role '{}' has no {sub} file '{f}' (looked for {f}, {f}.yml, {f}.yaml in {})",
                dir.file_name().unwrap_or_default().to_string_lossy(),
                dir.join(sub).display()
            ),
            None,
        )),
    }
}

fn vars_file(path: Option<PathBuf>) -> Result<Vars, PlaybookError> {
    let Some(p) = path else {
        return Ok(Vars::new());
    };
    let node = yaml::load_file(&p)?;
    match node.to_value() {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Vars::new()),
        _ => Err(PlaybookError::Parse {
            path: p,
            pos: node.pos,
            message: "role variables must be a mapping".into(),
            hint: None,
        }),
    }
}

/// Expands the `roles:` list of a play.
pub(super) fn expand(ctx: &Ctx<'_>, node: &Node) -> Result<Expanded, PlaybookError> {
    let mut out = Expanded::default();
    let mut seen: Vec<PathBuf> = Vec::new();
    let NodeValue::Seq(items) = &node.value else {
        return Err(ctx.err(node.pos, "roles must be a list", None));
    };
    for item in items {
        apply_entry(ctx, item, &mut out, &mut seen, 0)?;
    }
    Ok(out)
}

/// `import_role`: the role's tasks (dependencies first) become one block in place of the
/// task, carrying the task's keywords; its handlers and defaults join the play's.
pub(super) fn import(ctx: &Ctx<'_>, mut task: Task, role: &RoleRef) -> Result<Task, PlaybookError> {
    let pos = task.origin.pos;
    let mut out = Expanded::default();
    // The task's own vars are the role's parameters.
    let params = std::mem::take(&mut task.common.vars);
    apply(
        ctx,
        pos,
        role,
        Common::default(),
        params,
        &mut out,
        &mut Vec::new(),
        0,
    )?;
    if let Ok(mut extras) = ctx.extras.try_borrow_mut() {
        extras.handlers.append(&mut out.handlers);
        for (k, v) in std::mem::take(&mut out.defaults) {
            extras.defaults.entry(k).or_insert(v);
        }
    }
    super::add_notify(&mut out.tasks, &std::mem::take(&mut task.notify));
    task.action = Action::Block {
        block: out.tasks,
        rescue: Vec::new(),
        always: Vec::new(),
    };
    Ok(task)
}

/// `include_role`, when the task runs: the role read as `import_role` reads it, from the
/// play's file (`base`, where `roles/` is looked for) and the roles path. The task's vars
/// are the role's parameters.
pub fn load_role(
    origin: &Origin,
    base: &Path,
    roles_path: &[PathBuf],
    role: &RoleRef,
    params: Vars,
) -> Result<Expanded, PlaybookError> {
    let errors = std::cell::RefCell::new(Vec::new());
    let extras = std::cell::RefCell::new(Expanded::default());
    let ctx = Ctx {
        file: origin.file.clone(),
        dir: origin.file.parent().unwrap_or(Path::new(".")),
        base,
        roles_path,
        errors: &errors,
        extras: &extras,
        stack: Vec::new(),
    };
    let mut out = Expanded::default();
    apply(
        &ctx,
        origin.pos,
        role,
        Common::default(),
        params,
        &mut out,
        &mut Vec::new(),
        0,
    )?;
    let mut errors = errors.into_inner();
    match errors.len() {
        0 => {}
        1 => return Err(errors.remove(0)),
        _ => return Err(PlaybookError::Many(errors)),
    }
    // Roles imported inside the role.
    let mut extras = extras.into_inner();
    out.handlers.append(&mut extras.handlers);
    for (k, v) in extras.defaults {
        out.defaults.entry(k).or_insert(v);
    }
    Ok(out)
}

const ROLE_KEYWORDS: [&str; 5] = ["role", "name", "tags", "when", "vars"];

/// One entry of `roles:` (a name, or a mapping with `role:`, keywords and parameters).
fn apply_entry(
    ctx: &Ctx<'_>,
    item: &Node,
    out: &mut Expanded,
    seen: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<(), PlaybookError> {
    let (name, common, params) = match &item.value {
        NodeValue::Str(s) => (s.clone(), Common::default(), Vars::new()),
        NodeValue::Map(pairs) => {
            let mut name = None;
            let mut common = Common::default();
            let mut params = Vars::new();
            for (k, v) in pairs {
                let key = k.as_str().unwrap_or_default();
                match key {
                    "role" | "name" => name = v.as_key(),
                    "tags" | "when" | "vars" => {
                        super::set_common(ctx, &mut common, key, v)?;
                    }
                    "become" | "become_user" | "become_method" | "environment"
                    | "ignore_errors" | "no_log" | "delegate_to" | "any_errors_fatal" => {
                        super::set_common(ctx, &mut common, key, v)?;
                    }
                    other if ROLE_KEYWORDS.contains(&other) => {}
                    // Anything else is a role parameter.
                    other => {
                        params.insert(other.to_string(), v.to_value());
                    }
                }
            }
            let Some(name) = name else {
                return Err(ctx.err(item.pos, "a role entry needs 'role:'", None));
            };
            (name, common, params)
        }
        other => {
            return Err(ctx.err(
                item.pos,
                format!("a role must be a name or a mapping, got {}", other.kind()),
                None,
            ));
        }
    };
    let role = RoleRef {
        name,
        ..RoleRef::default()
    };
    apply(ctx, item.pos, &role, common, params, out, seen, depth)
}

#[allow(clippy::too_many_arguments)]
fn apply(
    ctx: &Ctx<'_>,
    pos: Pos,
    role: &RoleRef,
    mut common: Common,
    params: Vars,
    out: &mut Expanded,
    seen: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<(), PlaybookError> {
    if depth > 16 {
        return Err(ctx.err(pos, "role dependencies nest too deeply (a loop?)", None));
    }
    let name = role.name.as_str();
    let Some(dir) = find_role(ctx, name) else {
        return Err(ctx.err(
            pos,
            format!("role '{name}' not found"),
            Some({
                let mut looked = vec![
                    format!("{}/roles/{name}", ctx.base.display()),
                    format!("./roles/{name}"),
                ];
                looked.extend(
                    ctx.roles_path
                        .iter()
                        .map(|r| format!("{}", r.join(name).display())),
                );
                format!(
                    "looked in {}; set roles_path in ansible.cfg or ANSIBLE_ROLES_PATH for roles elsewhere",
                    looked.join(", ")
                )
            }),
        ));
    };
    let canon = dir.canonicalize().unwrap_or_else(|_| dir.clone());
    // Dependencies first (meta/main.yml).
    if let Some(meta) = role_file(ctx, pos, &dir, "meta", None)? {
        let node = yaml::load_file(&meta)?;
        if let Some(pairs) = node.as_map() {
            for (k, v) in pairs {
                if k.as_str() == Some("dependencies")
                    && let NodeValue::Seq(deps) = &v.value
                {
                    let sub = ctx.child(
                        std::sync::Arc::new(meta.clone()),
                        ctx.dir,
                        ctx.stack.clone(),
                    );
                    for d in deps {
                        apply_entry(&sub, d, out, seen, depth + 1)?;
                    }
                }
            }
        }
    }
    // A role (with the same parameters) runs once per play, as in Ansible.
    let plain = params.is_empty() && role.tasks_from.is_none();
    if seen.contains(&canon) && plain {
        return Ok(());
    }
    seen.push(canon);
    let defaults = vars_file(role_file(
        ctx,
        pos,
        &dir,
        "defaults",
        role.defaults_from.as_deref(),
    )?)?;
    for (k, v) in defaults {
        out.defaults.entry(k).or_insert(v);
    }
    let mut vars = vars_file(role_file(
        ctx,
        pos,
        &dir,
        "vars",
        role.vars_from.as_deref(),
    )?)?;
    out.vars.extend(vars.clone());
    vars.extend(params.clone());
    vars.extend(common.vars.clone());
    // Parameters also rank above facts and registered values (their own layer).
    common.params.extend(params);
    vars.insert(
        "role_path".into(),
        Value::from(dir.to_string_lossy().into_owned()),
    );
    vars.insert("role_name".into(), Value::from(name));
    // Ansible's magic variable for the role a task belongs to (the name as written).
    vars.insert("ansible_role_name".into(), Value::from(name));
    common.vars = vars;
    let load = |sub: &str, from: Option<&str>, handler: bool| -> Result<Vec<Task>, PlaybookError> {
        let Some(p) = role_file(ctx, pos, &dir, sub, from)? else {
            return Ok(Vec::new());
        };
        let root = yaml::load_file(&p)?;
        let mut stack = ctx.stack.clone();
        stack.push(p.canonicalize().unwrap_or_else(|_| p.clone()));
        let file = std::sync::Arc::new(p.clone());
        let sub_ctx = ctx.child(file, p.parent().unwrap_or(Path::new(".")), stack);
        parse_tasks(&sub_ctx, &root, handler)
    };
    let tasks = load("tasks", role.tasks_from.as_deref(), false)?;
    let handlers = load("handlers", role.handlers_from.as_deref(), true)?;
    out.tasks.push(Task {
        origin: ctx.origin(pos),
        name: Some(format!("role {name}")),
        action: Action::Block {
            block: tasks,
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
        common: common.clone(),
    });
    // Handlers see the role's variables too.
    for mut h in handlers {
        let mut v = common.vars.clone();
        v.extend(h.common.vars.clone());
        h.common.vars = v;
        h.common.params.extend(common.params.clone());
        out.handlers.push(h);
    }
    Ok(())
}
