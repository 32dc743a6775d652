//! `getent`: entries of a system database (`passwd`, `group`, `hosts`, ...) as facts
//! (`getent_<database>`), read with the host's `getent`.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::args::{self, Param, param};
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "getent",
    summary: "Read entries of a system database (passwd, group, hosts, services...) into the fact getent_<database>.",
    params: PARAMS,
    ..Spec::host::<Getent>()
};

const PARAMS: &[Param] = &[
    param(
        "database",
        &[],
        "Required. The database, as `getent` names it.",
    ),
    param("key", &[], "The entry to read; all entries without it."),
    param(
        "split",
        &[],
        "Field separator; default `:` for passwd, group, shadow and gshadow, else whitespace.",
    ),
    param(
        "fail_key",
        &[],
        "bool, default yes. Fail when `key` is not found.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    database: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    key: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    split: Option<String>,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    fail_key: bool,
}

pub struct Getent;

impl Module for Getent {
    type Args = Args;

    fn plan(a: Args, _ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let script = format!(
            "getent {} {}\necho \"__rc=$?\" >&2\n",
            quote(&a.database),
            a.key.as_deref().map(quote).unwrap_or_default()
        );
        let colon = matches!(
            a.database.as_str(),
            "passwd" | "group" | "shadow" | "gshadow"
        );
        let split = a.split.clone().or(colon.then(|| ":".to_string()));
        Ok(Plan::remote(script, None, move |out| {
            let err = String::from_utf8_lossy(&out.stderr);
            let rc = err
                .lines()
                .find_map(|l| l.strip_prefix("__rc="))
                .and_then(|r| r.trim().parse::<i32>().ok())
                .unwrap_or(1);
            match rc {
                0 => {}
                2 if !a.fail_key => {}
                2 => {
                    return ModuleResult::failed(
                        "One or more supplied key could not be found in the database.",
                    );
                }
                1 => return ModuleResult::failed("Missing arguments, or database unknown."),
                3 => {
                    return ModuleResult::failed("Enumeration not supported on this database.");
                }
                _ => return ModuleResult::failed(format!("getent exited {rc}")),
            }
            let mut entries = Map::new();
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let fields: Vec<&str> = match &split {
                    Some(sep) => line.split(sep.as_str()).collect(),
                    None => line.split_whitespace().collect(),
                };
                let Some((first, rest)) = fields.split_first() else {
                    continue;
                };
                entries.insert(
                    first.to_string(),
                    Value::Array(rest.iter().map(|f| Value::from(*f)).collect()),
                );
            }
            let mut r = ModuleResult::ok();
            let fact = format!("getent_{}", a.database);
            r.facts.insert(fact.clone(), Value::Object(entries.clone()));
            let mut facts = Map::new();
            facts.insert(fact, Value::Object(entries));
            r.data.insert("ansible_facts".into(), Value::Object(facts));
            r
        }))
    }
}
