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

/// Every task of a play, flattened, for `--list-tasks`.
pub fn task_names(tasks: &[Task], out: &mut Vec<(String, Vec<String>)>) {
    for t in tasks {
        match &t.action {
            Action::Module { .. } => out.push((t.display_name(), t.common.tags.clone())),
            Action::Block {
                block,
                rescue,
                always,
            } => {
                task_names(block, out);
                task_names(rescue, out);
                task_names(always, out);
            }
        }
    }
}
