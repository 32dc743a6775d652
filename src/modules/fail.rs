//! `fail`: the task fails with a message.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::{FreeForm, Spec};
use super::{Module, ModuleCtx, ModuleResult, Plan};

pub static SPEC: Spec = Spec {
    name: "fail",
    summary: "Fail the task with a message.",
    params: PARAMS,
    free_form: FreeForm::RawUnlessKeyValue,
    ..Spec::controller::<Fail>()
};

const PARAMS: &[Param] = &[
    param(
        "msg",
        &[],
        "The message, default `Failed as requested from task`.",
    ),
    param("_raw_params", &[], "The message, written free form."),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default)]
    msg: Option<Value>,
    #[serde(default, rename = "_raw_params")]
    raw: Option<Value>,
}

pub struct Fail;

impl Module for Fail {
    type Args = Args;

    fn plan(a: Args, _ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let msg = a
            .msg
            .or(a.raw)
            .map(|m| args::text_of(&m).unwrap_or_else(|| m.to_string()))
            .unwrap_or_else(|| "Failed as requested from task".into());
        Ok(Plan::Done(ModuleResult::failed(msg)))
    }
}
