//! Roles (`roles:` on a play): `tasks/`, `handlers/`, `defaults/` and `vars/` `main.yml`,
//! and `meta/main.yml` dependencies, found under `roles/` next to the playbook (or the
//! current directory), resolved statically like Ansible's `roles:` keyword.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Action, Common, Ctx, PlaybookError, Task, parse_tasks};
use crate::yaml::{self, Node, NodeValue, Pos, Vars};

/// A role's contribution to a play.
#[derive(Debug, Clone, Default)]
pub struct Expanded {
    /// One block per role application, in order (dependencies first).
    pub tasks: Vec<Task>,
    pub handlers: Vec<Task>,
    /// Role defaults, lowest precedence of all, visible to the whole play.
    pub defaults: Vars,
}

fn find_role(ctx: &Ctx<'_>, name: &str) -> Option<PathBuf> {
    // Ansible's order: `roles/` beside the playbook, the roles path, the playbook's own
    // directory; olympus also tries `roles/` in the current directory.
    let mut cands = vec![
        ctx.dir.join("roles").join(name),
        PathBuf::from("roles").join(name),
    ];
    cands.extend(ctx.roles_path.iter().map(|r| r.join(name)));
    cands.extend([ctx.dir.join(name), PathBuf::from(name)]);
    cands.into_iter().find(|p| {
        p.join("tasks").is_dir()
            || p.join("handlers").is_dir()
            || p.join("meta").is_dir()
            || p.join("defaults").is_dir()
    })
}

fn main_file(dir: &Path, sub: &str) -> Option<PathBuf> {
    ["main.yml", "main.yaml", "main"]
        .iter()
        .map(|f| dir.join(sub).join(f))
        .find(|p| p.is_file())
}

fn vars_file(dir: &Path, sub: &str) -> Result<Vars, PlaybookError> {
    let Some(p) = main_file(dir, sub) else {
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

const ROLE_KEYWORDS: [&str; 5] = ["role", "name", "tags", "when", "vars"];

/// Expands the `roles:` list of a play.
pub(super) fn expand(ctx: &Ctx<'_>, node: &Node) -> Result<Expanded, PlaybookError> {
    let mut out = Expanded::default();
    let mut seen: Vec<PathBuf> = Vec::new();
    let NodeValue::Seq(items) = &node.value else {
        return Err(ctx.err(node.pos, "roles must be a list", None));
    };
    for item in items {
        apply(ctx, item, &mut out, &mut seen, 0)?;
    }
    Ok(out)
}

fn apply(
    ctx: &Ctx<'_>,
    item: &Node,
    out: &mut Expanded,
    seen: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<(), PlaybookError> {
    if depth > 16 {
        return Err(ctx.err(
            item.pos,
            "role dependencies nest too deeply (a loop?)",
            None,
        ));
    }
    let (name, mut common, params) = match &item.value {
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
    let Some(dir) = find_role(ctx, &name) else {
        return Err(ctx.err(
            item.pos,
            format!("role '{name}' not found"),
            Some({
                let mut looked = vec![
                    format!("{}/roles/{name}", ctx.dir.display()),
                    format!("./roles/{name}"),
                ];
                looked.extend(
                    ctx.roles_path
                        .iter()
                        .map(|r| format!("{}", r.join(&name).display())),
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
    if let Some(meta) = main_file(&dir, "meta") {
        let node = yaml::load_file(&meta)?;
        if let Some(pairs) = node.as_map() {
            for (k, v) in pairs {
                if k.as_str() == Some("dependencies")
                    && let NodeValue::Seq(deps) = &v.value
                {
                    let sub = Ctx {
                        file: std::sync::Arc::new(meta.clone()),
                        dir: ctx.dir,
                        roles_path: ctx.roles_path,
                        errors: ctx.errors,
                        stack: ctx.stack.clone(),
                    };
                    for d in deps {
                        apply(&sub, d, out, seen, depth + 1)?;
                    }
                }
            }
        }
    }
    // A role (with the same parameters) runs once per play, as in Ansible.
    if seen.contains(&canon) && params.is_empty() {
        return Ok(());
    }
    seen.push(canon);
    for (k, v) in vars_file(&dir, "defaults")? {
        out.defaults.entry(k).or_insert(v);
    }
    let mut vars = vars_file(&dir, "vars")?;
    vars.extend(params);
    vars.extend(common.vars.clone());
    vars.insert(
        "role_path".into(),
        Value::from(dir.to_string_lossy().into_owned()),
    );
    vars.insert("role_name".into(), Value::from(name.as_str()));
    // Ansible's magic variable for the role a task belongs to (the name as written).
    vars.insert("ansible_role_name".into(), Value::from(name.as_str()));
    common.vars = vars;
    let load = |sub: &str, handler: bool| -> Result<Vec<Task>, PlaybookError> {
        let Some(p) = main_file(&dir, sub) else {
            return Ok(Vec::new());
        };
        let root = yaml::load_file(&p)?;
        let mut stack = ctx.stack.clone();
        stack.push(p.canonicalize().unwrap_or_else(|_| p.clone()));
        let sub_ctx = Ctx {
            file: std::sync::Arc::new(p.clone()),
            dir: p.parent().unwrap_or(Path::new(".")),
            roles_path: ctx.roles_path,
            errors: ctx.errors,
            stack,
        };
        parse_tasks(&sub_ctx, &root, handler)
    };
    let tasks = load("tasks", false)?;
    let handlers = load("handlers", true)?;
    let origin = ctx.origin(item.pos);
    out.tasks.push(Task {
        origin: origin.clone(),
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
        common: common.clone(),
    });
    // Handlers see the role's variables too.
    for mut h in handlers {
        let mut v = common.vars.clone();
        v.extend(h.common.vars.clone());
        h.common.vars = v;
        out.handlers.push(h);
    }
    let _ = Pos::default();
    Ok(())
}
