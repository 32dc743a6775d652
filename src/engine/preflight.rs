//! Checks a loaded playbook before anything runs on any host.
//!
//! Owns: refusing, with the task's file and line, what would otherwise fail only when its
//! task runs — after earlier tasks had already changed hosts: module arguments the module
//! would refuse (unknown parameter names always; types, conflicts and unsupported values
//! when no value is a template), and template syntax errors anywhere in the playbook, its
//! roles and statically imported files (task arguments, names, conditions, loops,
//! keywords, vars, and the template files of tasks whose `src` is written literally).
//! Must not: render anything, touch hosts or read variables' values; a template that is
//! valid but fails when rendered (an undefined variable) is the run's business.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::play::RunError;
use crate::playbook::{Action, Common, Loop, Play, Playbook, Task};
use crate::template::{self, Templar, TemplateError};

/// Checks every play of `pb`; every problem found (one error, or [`RunError::Many`]).
pub fn check(pb: &Playbook) -> Result<(), RunError> {
    let templar = Templar::new();
    let base = pb.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut problems = Vec::new();
    for play in &pb.plays {
        if let Err((what, e)) = check_play(&templar, play) {
            problems.push(RunError::Task {
                origin: play.origin.to_string(),
                message: format!("{what}: {e}"),
            });
        }
        let w = Walker {
            templar: &templar,
            base: &base,
        };
        for list in play.task_lists() {
            let defaults: Vec<&Value> = play.common.module_defaults.iter().collect();
            w.tasks(list, None, &defaults, &mut problems);
        }
    }
    match problems.len() {
        0 => Ok(()),
        1 => Err(problems.remove(0)),
        _ => Err(RunError::Many(problems)),
    }
}

type Found = (String, TemplateError);

fn check_play(t: &Templar, play: &Play) -> Result<(), Found> {
    let tag = |what: &'static str| move |e| (what.to_string(), e);
    if let Some(name) = &play.name {
        t.check_templates(&Value::from(name.as_str()))
            .map_err(tag("name"))?;
    }
    t.check_templates(&Value::from(play.hosts.as_str()))
        .map_err(tag("hosts"))?;
    t.check_templates(&Value::Array(play.vars_files.clone()))
        .map_err(tag("vars_files"))?;
    for v in [
        &play.serial,
        &play.max_fail_percentage,
        &play.force_handlers,
    ]
    .into_iter()
    .flatten()
    {
        t.check_templates(v).map_err(tag("a play keyword"))?;
    }
    common(t, &play.common)
}

/// The keywords plays, blocks and tasks share.
fn common(t: &Templar, c: &Common) -> Result<(), Found> {
    for (k, v) in &c.vars {
        t.check_templates(v)
            .map_err(|e| (format!("vars '{k}'"), e))?;
    }
    for w in &c.when {
        t.check_expression(w).map_err(|e| ("when".to_string(), e))?;
    }
    let keywords = [
        ("become", &c.become_),
        ("become_user", &c.become_user),
        ("become_method", &c.become_method),
        ("remote_user", &c.remote_user),
        ("environment", &c.environment),
        ("no_log", &c.no_log),
        ("check_mode", &c.check_mode),
        ("diff", &c.diff),
        ("ignore_errors", &c.ignore_errors),
        ("ignore_unreachable", &c.ignore_unreachable),
        ("any_errors_fatal", &c.any_errors_fatal),
        ("run_once", &c.run_once),
        ("delegate_to", &c.delegate_to),
        ("timeout", &c.timeout),
        ("connection", &c.connection),
    ];
    for (what, v) in keywords {
        if let Some(v) = v {
            t.check_templates(v).map_err(|e| (what.to_string(), e))?;
        }
    }
    Ok(())
}

/// True when `defaults` (a `module_defaults` value) may give `module` arguments.
fn gives_defaults(defaults: &Value, module: &'static crate::modules::Spec) -> bool {
    match defaults {
        Value::String(_) => true,
        Value::Array(items) => items.iter().any(|i| gives_defaults(i, module)),
        Value::Object(m) => m
            .keys()
            .any(|k| crate::modules::registry::find(k).is_some_and(|s| std::ptr::eq(s, module))),
        _ => false,
    }
}

struct Walker<'a> {
    templar: &'a Templar,
    /// The playbook's directory (where `templates/` is looked up).
    base: &'a Path,
}

impl Walker<'_> {
    fn tasks(
        &self,
        tasks: &[Task],
        role: Option<&Path>,
        defaults: &[&Value],
        problems: &mut Vec<RunError>,
    ) {
        for task in tasks {
            let mut defaults: Vec<&Value> = defaults.to_vec();
            defaults.extend(task.common.module_defaults.iter());
            let at = |message: String| RunError::Task {
                origin: task.origin.to_string(),
                message,
            };
            if let Err((what, e)) = self.task(task) {
                problems.push(at(format!("in '{what}': {e}")));
            }
            // A role's tasks sit in a block that carries the role's path.
            let role = task
                .common
                .vars
                .get("role_path")
                .and_then(Value::as_str)
                .map(Path::new)
                .or(role);
            match &task.action {
                Action::Module { module, args } => {
                    // Arguments are read as the module will read them: unknown names and,
                    // when no value is a template, types and conflicts.
                    // Arguments `module_defaults` may give are not required of the task.
                    let defaulted = defaults.iter().any(|d| gives_defaults(d, module));
                    let checked =
                        if defaulted || template::has_template(&Value::Object(args.clone())) {
                            module.check_names(args)
                        } else {
                            module.check_args(args)
                        };
                    if let Err(e) = checked {
                        problems.push(at(e.to_string()));
                    }
                    if let Some(src) = module.source.filter(|s| s.is_template)
                        && let Err(e) = self.template_file(args.get("src"), src.dir, role)
                    {
                        problems.push(at(e));
                    }
                }
                Action::Block {
                    block,
                    rescue,
                    always,
                } => {
                    self.tasks(block, role, &defaults, problems);
                    self.tasks(rescue, role, &defaults, problems);
                    self.tasks(always, role, &defaults, problems);
                }
            }
        }
    }

    fn task(&self, task: &Task) -> Result<(), Found> {
        let t = self.templar;
        let tag = |what: &'static str| move |e| (what.to_string(), e);
        if let Some(name) = &task.name {
            t.check_templates(&Value::from(name.as_str()))
                .map_err(tag("name"))?;
        }
        if let Action::Module { module, args } = &task.action {
            t.check_templates(&Value::Object(args.clone()))
                .map_err(|e| (module.name.to_string(), e))?;
        }
        common(t, &task.common)?;
        for (what, cond) in [
            ("changed_when", &task.changed_when),
            ("failed_when", &task.failed_when),
            ("until", &task.until),
        ] {
            if let Some(c) = cond {
                t.check_expression(c).map_err(|e| (what.to_string(), e))?;
            }
        }
        for (what, v) in [
            ("retries", &task.retries),
            ("delay", &task.delay),
            ("loop_control", &task.loop_control),
        ] {
            if let Some(v) = v {
                t.check_templates(v).map_err(|e| (what.to_string(), e))?;
            }
        }
        match &task.loop_ {
            Some(Loop::Items(v)) | Some(Loop::WithDict(v)) => loop_value(t, v),
            Some(Loop::WithItems { items, .. }) => match items {
                Value::Array(_) => t.check_templates(items),
                other => loop_value(t, other),
            },
            Some(Loop::WithFileglob(v))
            | Some(Loop::WithSequence(v))
            | Some(Loop::WithFirstFound(v))
            | Some(Loop::Lookup { terms: v, .. }) => t.check_templates(v),
            None => Ok(()),
        }
        .map_err(tag("loop"))
    }

    /// The file of a `template` task whose `src` is written literally, found where the task
    /// will look for it; one that is not there yet is left to the run.
    fn template_file(
        &self,
        src: Option<&Value>,
        dir: &str,
        role: Option<&Path>,
    ) -> Result<(), String> {
        let Some(src) = src.and_then(Value::as_str) else {
            return Ok(());
        };
        if crate::template::is_template(src) {
            return Ok(());
        }
        let mut candidates: Vec<PathBuf> = Vec::new();
        if Path::new(src).is_absolute() {
            candidates.push(PathBuf::from(src));
        } else {
            if let Some(r) = role {
                candidates.push(r.join(dir).join(src));
                candidates.push(r.join(src));
            }
            candidates.push(self.base.join(dir).join(src));
            candidates.push(self.base.join(src));
        }
        let Some(path) = candidates.into_iter().find(|p| p.is_file()) else {
            return Ok(());
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        self.templar
            .check_template(&text)
            .map_err(|e| format!("template file {}: {e}", path.display()))
    }
}

/// A `loop:` value: a bare expression when it is a string without braces, else templates.
fn loop_value(t: &Templar, v: &Value) -> Result<(), TemplateError> {
    match v {
        Value::String(s) if !crate::template::is_template(s) => t.check_expression(v),
        other => t.check_templates(other),
    }
}
