//! `assert`: conditions that must hold, evaluated on the controller.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};

pub static SPEC: Spec = Spec {
    name: "assert",
    summary: "Fail unless every condition holds.",
    params: PARAMS,
    ..Spec::controller::<Assert>()
};

const PARAMS: &[Param] = &[
    param(
        "that",
        &[],
        "Required. A condition or a list of them (expressions, as in `when`).",
    ),
    param(
        "fail_msg",
        &["msg"],
        "Message when a condition is false, default `Assertion failed`.",
    ),
    param(
        "success_msg",
        &[],
        "Message when all hold, default `All assertions passed`.",
    ),
    param(
        "quiet",
        &[],
        "bool, default no. Without it the result is always shown, as in Ansible.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    that: Value,
    #[serde(default, alias = "msg")]
    fail_msg: Option<Value>,
    #[serde(default)]
    success_msg: Option<Value>,
    #[serde(default, deserialize_with = "args::boolean")]
    quiet: bool,
}

pub struct Assert;

impl Module for Assert {
    type Args = Args;

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let that: Vec<Value> = match a.that {
            Value::Array(v) => v,
            other => vec![other],
        };
        let text = |v: &Value| args::text_of(v).unwrap_or_else(|| v.to_string());
        for cond in &that {
            let ok = match ctx.templar.condition(cond, ctx.vars) {
                Ok(b) => b,
                Err(e) => {
                    let mut r = ModuleResult::failed(format!(
                        "The conditional check '{}' failed: {e}",
                        text(cond)
                    ));
                    r.data.insert("assertion".into(), cond.clone());
                    return Ok(Plan::Done(r));
                }
            };
            if !ok {
                let msg = a
                    .fail_msg
                    .as_ref()
                    .map(text)
                    .unwrap_or_else(|| "Assertion failed".into());
                let mut r = ModuleResult::failed(msg);
                r.data.insert("assertion".into(), cond.clone());
                r.data.insert("evaluated_to".into(), Value::Bool(false));
                r.verbose_always = !a.quiet;
                return Ok(Plan::Done(r));
            }
        }
        let mut r = ModuleResult::ok();
        r.msg = Some(
            a.success_msg
                .as_ref()
                .map(text)
                .unwrap_or_else(|| "All assertions passed".into()),
        );
        r.verbose_always = !a.quiet;
        Ok(Plan::Done(r))
    }
}
