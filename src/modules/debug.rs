//! `debug`: a message or a variable's value, shown with the host's result.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};

pub static SPEC: Spec = Spec {
    name: "debug",
    summary: "Show a message or a variable's value.",
    params: PARAMS,
    bare_result: true,
    ..Spec::controller::<Debug>()
};

const PARAMS: &[Param] = &[
    param("msg", &[], "The message, default `Hello world!`."),
    param(
        "var",
        &[],
        "A variable name or expression whose value is shown instead.",
    ),
    param(
        "verbosity",
        &[],
        "Shown only from this many `-v` on (default 0); skipped below it.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default)]
    msg: Option<Value>,
    #[serde(default)]
    var: Option<Value>,
    #[serde(default, deserialize_with = "verbosity")]
    verbosity: u8,
}

fn verbosity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    match args::opt_number(d)? {
        None => Ok(0),
        Some(n) if n.fract() == 0.0 && (0.0..=255.0).contains(&n) => Ok(n as u8),
        Some(n) => Err(serde::de::Error::custom(format!("{n} is not a verbosity"))),
    }
}

pub struct Debug;

impl Module for Debug {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if a.msg.is_some() && a.var.is_some() {
            return Err("'msg' and 'var' are mutually exclusive".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let mut r = ModuleResult::ok();
        if ctx.verbosity < a.verbosity {
            r.skipped = true;
            r.data.insert(
                "skipped_reason".into(),
                Value::from("Verbosity threshold not met."),
            );
            return Ok(Plan::Done(r));
        }
        r.verbose_always = true;
        match (a.msg, a.var) {
            (_, Some(var)) => {
                let name = args::text_of(&var).unwrap_or_else(|| var.to_string());
                match ctx.templar.eval(&name, ctx.vars) {
                    Ok(value) => {
                        r.data.insert(name, value);
                    }
                    Err(e) => {
                        // ansible-core 2.19 shows the error in place of the value, and warns.
                        let simple = !name.is_empty()
                            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
                        let why = if simple && !ctx.vars.contains_key(&name) {
                            format!("'{name}' is undefined")
                        } else {
                            e.to_string()
                        };
                        r.data
                            .insert(name, Value::from(format!("<< error 1 - {why} >>")));
                        r.data.insert(
                            "warnings".into(),
                            Value::from(vec![format!(
                                "Encountered 1 template error.\nerror 1 - {why}"
                            )]),
                        );
                    }
                }
            }
            (Some(msg), None) => {
                r.data.insert("msg".into(), msg);
            }
            (None, None) => {
                r.data.insert("msg".into(), Value::from("Hello world!"));
            }
        }
        Ok(Plan::Done(r))
    }
}
