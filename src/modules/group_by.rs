//! `group_by` and `add_host`: the engine changes the run's inventory (later plays and
//! `groups` see the change). This file owns their arguments.

use serde::Deserialize;
use serde_json::Value;

use super::ModuleError;
use super::args::{self, Param, param};
use super::registry::{EngineArgs, Kind, Spec, Step};
use crate::yaml::Vars;

pub static SPEC: Spec = Spec {
    name: "group_by",
    summary: "Put each host in a group named from its variables (for later plays).",
    params: PARAMS,
    ..Spec::engine::<Args>(Kind::Engine(Step::GroupBy))
};

const PARAMS: &[Param] = &[
    param(
        "key",
        &[],
        "Required. The group's name (spaces become `-`).",
    ),
    param(
        "parents",
        &[],
        "list, default [all]. Groups the group is made a child of.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    key: String,
    #[serde(default, deserialize_with = "args::list")]
    parents: Vec<String>,
}

impl EngineArgs for Args {}

/// The group and its parents, from rendered arguments.
pub fn group(args: &Vars) -> Result<(String, Vec<String>), ModuleError> {
    let a = args::parse::<Args>(SPEC.params, args).map_err(|message| ModuleError::Args {
        module: SPEC.name,
        message,
    })?;
    let parents = if a.parents.is_empty() {
        vec!["all".to_string()]
    } else {
        a.parents
    };
    Ok((a.key.replace(' ', "-"), parents))
}

pub static ADD_HOST_SPEC: Spec = Spec {
    name: "add_host",
    summary: "Add a host (and its variables) to the run's inventory, in groups, for later plays; runs once, not per host.",
    params: ADD_HOST_PARAMS,
    ..Spec::engine::<AddHostArgs>(Kind::Engine(Step::AddHost))
};

const ADD_HOST_PARAMS: &[Param] = &[
    param(
        "name",
        &["host", "hostname"],
        "Required. The host, `name` or `name:port`.",
    ),
    param(
        "groups",
        &["group", "groupname"],
        "list. Groups to put it in (created as needed).",
    ),
    param(
        "<any other>",
        &[],
        "Any other parameter is a variable of the host (`ansible_host`, `ansible_port`...).",
    ),
];

#[derive(Debug, Deserialize)]
pub struct AddHostArgs {
    #[serde(alias = "host", alias = "hostname", deserialize_with = "args::text")]
    name: String,
    #[serde(
        default,
        alias = "group",
        alias = "groupname",
        deserialize_with = "args::list"
    )]
    groups: Vec<String>,
    /// Every other parameter: the host's variables.
    #[serde(flatten)]
    vars: Vars,
}

impl EngineArgs for AddHostArgs {}

/// The host, its groups and its variables, from rendered arguments.
pub fn add_host(args: &Vars) -> Result<(String, Vec<String>, Vars), ModuleError> {
    let a = args::parse::<AddHostArgs>(ADD_HOST_SPEC.params, args).map_err(|message| {
        ModuleError::Args {
            module: ADD_HOST_SPEC.name,
            message,
        }
    })?;
    let vars = a
        .vars
        .into_iter()
        .filter(|(_, v)| !matches!(v, Value::Null))
        .collect();
    Ok((a.name, a.groups, vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_host_takes_aliases_and_any_variable() {
        let args: Vars = serde_json::from_value(serde_json::json!({
            "hostname": "db1:2222", "group": "dbs", "ansible_user": "deploy", "gone": null
        }))
        .unwrap();
        let (name, groups, vars) = add_host(&args).unwrap();
        assert_eq!(name, "db1:2222");
        assert_eq!(groups, vec!["dbs".to_string()]);
        assert_eq!(vars.len(), 1);
        assert_eq!(vars["ansible_user"], "deploy");
        let missing: Vars = serde_json::from_value(serde_json::json!({"groups": "x"})).unwrap();
        assert!(add_host(&missing).is_err());
    }

    #[test]
    fn group_by_names_and_parents() {
        let args: Vars =
            serde_json::from_value(serde_json::json!({"key": "os Debian 12"})).unwrap();
        assert_eq!(
            group(&args).unwrap(),
            ("os-Debian-12".to_string(), vec!["all".to_string()])
        );
        let typo: Vars =
            serde_json::from_value(serde_json::json!({"key": "a", "parent": "b"})).unwrap();
        assert!(group(&typo).is_err());
    }
}
