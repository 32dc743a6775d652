//! What `--list-tasks` and `vars_prompt` need from a playbook, for the command line.
//!
//! Owns: task names as listed and prompt names. Must not: run anything.

use super::*;

pub fn prompt_name(entry: &Value) -> Option<String> {
    entry
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The tasks of a play `--list-tasks` shows, as ansible-core lists them: in order, a role's
/// tasks named `role : task`, each with its tags (its own and inherited, sorted), leaving
/// out what `--tags`/`--skip-tags` would not run (`never`-tagged tasks unless asked for).
pub fn task_names(play: &Play, only: &[String], skip: &[String]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let chain = vec![&play.common];
    for section in [
        &play.pre_tasks,
        &play.role_tasks,
        &play.tasks,
        &play.post_tasks,
    ] {
        walk(section, &chain, only, skip, &mut out);
    }
    out
}

fn walk(
    tasks: &[Task],
    chain: &[&Common],
    only: &[String],
    skip: &[String],
    out: &mut Vec<(String, Vec<String>)>,
) {
    for t in tasks {
        let mut inner: Vec<&Common> = chain.to_vec();
        inner.push(&t.common);
        match &t.action {
            Action::Module { .. } => {
                let tags: std::collections::BTreeSet<&str> = inner
                    .iter()
                    .flat_map(|c| c.tags.iter().map(String::as_str))
                    .collect();
                let set: HashSet<&str> = tags.iter().copied().collect();
                if !super::tags_selected(&set, only, skip) {
                    continue;
                }
                let name = match inner
                    .iter()
                    .rev()
                    .find_map(|c| c.vars.get("role_name").and_then(Value::as_str))
                {
                    Some(role) => format!("{role} : {}", t.display_name()),
                    None => t.display_name(),
                };
                out.push((name, tags.into_iter().map(str::to_string).collect()));
            }
            Action::Block {
                block,
                rescue,
                always,
            } => {
                walk(block, &inner, only, skip, out);
                walk(rescue, &inner, only, skip, out);
                walk(always, &inner, only, skip, out);
            }
        }
    }
}
