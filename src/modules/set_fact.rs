//! `set_fact`: variables set on the host for the rest of the run. Their values are data:
//! rendered once, here, and never rendered again.

use serde_json::Value;

use super::args::Param;
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::yaml::Vars;

pub static SPEC: Spec = Spec {
    name: "set_fact",
    summary: "Set variables on the host for the rest of the run: every parameter name is a variable to set (`cacheable` excepted: facts live for the run, there is no fact cache).",
    params: PARAMS,
    ..Spec::controller::<SetFact>()
};

/// Any name is a fact; no fixed parameters.
const PARAMS: &[Param] = &[];

pub struct SetFact;

impl Module for SetFact {
    /// Every key is a variable to set.
    type Args = Vars;

    fn check(args: &Vars) -> Result<(), String> {
        let mut any = false;
        for k in args.keys() {
            if k == "cacheable" {
                continue;
            }
            if k == "_raw_params"
                || !k.chars().all(|c| c.is_alphanumeric() || c == '_')
                || k.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(format!("'{k}' is not a valid variable name"));
            }
            any = true;
        }
        if any {
            Ok(())
        } else {
            Err("no facts given".into())
        }
    }

    fn plan(args: Vars, _ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let mut r = ModuleResult::ok();
        for (k, v) in args {
            if k != "cacheable" {
                r.facts.insert(k, v);
            }
        }
        r.data
            .insert("ansible_facts".into(), Value::Object(r.facts.clone()));
        Ok(Plan::Done(r))
    }
}
