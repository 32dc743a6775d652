//! `pause`: waits on the controller. Prompts are refused: olympus runs unattended.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};

pub static SPEC: Spec = Spec {
    name: "pause",
    summary: "Wait a number of seconds or minutes on the controller (prompts are refused: runs are unattended).",
    params: PARAMS,
    ..Spec::controller::<Pause>()
};

const PARAMS: &[Param] = &[
    param("seconds", &[], "Seconds to wait."),
    param("minutes", &[], "Minutes to wait (added to `seconds`)."),
    param(
        "prompt",
        &[],
        "Refused before the run: a prompt needs a person at a terminal.",
    ),
    param("echo", &[], "Refused with `prompt`."),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default, deserialize_with = "args::opt_seconds")]
    seconds: Option<Duration>,
    #[serde(default, deserialize_with = "args::opt_number")]
    minutes: Option<f64>,
    #[serde(default)]
    prompt: Option<Value>,
    #[serde(default)]
    echo: Option<Value>,
}

pub struct Pause;

impl Module for Pause {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if a.prompt.is_some() || a.echo.is_some() {
            return Err(
                "'prompt' needs a person at a terminal; olympus runs unattended (use seconds/minutes)"
                    .into(),
            );
        }
        if a.seconds.is_none() && a.minutes.is_none() {
            return Err(
                "a pause without seconds or minutes waits for a person to press Enter; olympus runs unattended (give seconds or minutes)"
                    .into(),
            );
        }
        Ok(())
    }

    fn plan(a: Args, _ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let minutes = match a.minutes {
            Some(m) => crate::bounds::seconds("minutes", &Value::from(m * 60.0))?,
            None => Duration::ZERO,
        };
        let wait = a.seconds.unwrap_or_default() + minutes;
        let secs = wait.as_secs_f64();
        let mut r = ModuleResult::ok();
        r.data.insert("delta".into(), Value::from(secs));
        r.data.insert(
            "stdout".into(),
            Value::from(format!("Paused for {secs} seconds")),
        );
        Ok(Plan::Wait(wait, r))
    }
}
