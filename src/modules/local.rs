//! Modules decided on the controller: `debug`, `set_fact`, `assert`, `fail`.

use serde_json::Value;

use super::{ModuleCtx, ModuleError, ModuleResult, Plan, args_error, check_keys};
use crate::yaml::Vars;

pub(super) fn debug(args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys("debug", args, &["msg", "var", "verbosity"])?;
    let mut r = ModuleResult::ok();
    match (args.get("msg"), args.get("var")) {
        (Some(_), Some(_)) => {
            return Err(args_error(
                "debug",
                "'msg' and 'var' are mutually exclusive",
            ));
        }
        (_, Some(var)) => {
            let name = var
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| var.to_string());
            let value = match ctx.templar.eval(&name, ctx.vars) {
                Ok(v) => v,
                Err(_) => Value::from("VARIABLE IS NOT DEFINED!"),
            };
            r.data.insert(name, value);
        }
        (Some(msg), None) => {
            r.data.insert("msg".into(), msg.clone());
        }
        (None, None) => {
            r.data.insert("msg".into(), Value::from("Hello world!"));
        }
    }
    Ok(Plan::Done(r))
}

pub(super) fn set_fact(args: &Vars) -> Result<Plan, ModuleError> {
    let mut r = ModuleResult::ok();
    for (k, v) in args {
        if k == "cacheable" {
            continue;
        }
        if k == "_raw_params"
            || !k.chars().all(|c| c.is_alphanumeric() || c == '_')
            || k.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(args_error(
                "set_fact",
                format!("'{k}' is not a valid variable name"),
            ));
        }
        r.facts.insert(k.clone(), v.clone());
    }
    if r.facts.is_empty() {
        return Err(args_error("set_fact", "no facts given"));
    }
    r.data
        .insert("ansible_facts".into(), Value::Object(r.facts.clone()));
    Ok(Plan::Done(r))
}

pub(super) fn assert(args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys(
        "assert",
        args,
        &["that", "fail_msg", "msg", "success_msg", "quiet"],
    )?;
    let that: Vec<Value> = match args.get("that") {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => return Err(args_error("assert", "'that' is required")),
    };
    for cond in &that {
        let ok = match ctx.templar.condition(cond, ctx.vars) {
            Ok(b) => b,
            Err(e) => {
                let mut r = ModuleResult::failed(format!(
                    "The conditional check '{}' failed: {e}",
                    cond_text(cond)
                ));
                r.data.insert("assertion".into(), cond.clone());
                return Ok(Plan::Done(r));
            }
        };
        if !ok {
            let msg = args
                .get("fail_msg")
                .or_else(|| args.get("msg"))
                .map(|m| {
                    m.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| m.to_string())
                })
                .unwrap_or_else(|| "Assertion failed".into());
            let mut r = ModuleResult::failed(msg);
            r.data.insert("assertion".into(), cond.clone());
            r.data.insert("evaluated_to".into(), Value::Bool(false));
            return Ok(Plan::Done(r));
        }
    }
    let mut r = ModuleResult::ok();
    r.msg = Some(
        args.get("success_msg")
            .and_then(Value::as_str)
            .unwrap_or("All assertions passed")
            .to_string(),
    );
    Ok(Plan::Done(r))
}

fn cond_text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

pub(super) fn fail(args: &Vars) -> ModuleResult {
    let msg = args
        .get("msg")
        .or_else(|| args.get("_raw_params"))
        .map(cond_text)
        .unwrap_or_else(|| "Failed as requested from task".into());
    ModuleResult::failed(msg)
}
