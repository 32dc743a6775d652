//! `meta`: instructions to the engine (`flush_handlers`, `end_play`, ...). The engine runs
//! them; this file owns their arguments.

use serde::Deserialize;

use super::ModuleError;
use super::args::{self, Param, param};
use super::registry::{EngineArgs, FreeForm, Kind, Spec, Step};
use crate::yaml::Vars;

pub static SPEC: Spec = Spec {
    name: "meta",
    summary: "Tell the engine to do something now: flush handlers, end the play or a host, clear errors or facts, reset the connection.",
    params: PARAMS,
    free_form: FreeForm::Raw,
    ..Spec::engine::<Args>(Kind::Engine(Step::Meta))
};

const PARAMS: &[Param] = &[param(
    "_raw_params",
    &[],
    "Required (free form). One of `flush_handlers`, `end_play`, `end_host`, `clear_host_errors`, `clear_facts`, `reset_connection`, `noop`.",
)];

/// What a `meta` task asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    FlushHandlers,
    EndPlay,
    EndHost,
    ClearHostErrors,
    ClearFacts,
    ResetConnection,
    Noop,
}

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(rename = "_raw_params", deserialize_with = "args::text")]
    raw: String,
}

impl Args {
    pub fn action(&self) -> Result<Action, String> {
        Ok(match self.raw.trim() {
            "flush_handlers" => Action::FlushHandlers,
            "end_play" => Action::EndPlay,
            "end_host" => Action::EndHost,
            "clear_host_errors" => Action::ClearHostErrors,
            "clear_facts" => Action::ClearFacts,
            "reset_connection" => Action::ResetConnection,
            "noop" => Action::Noop,
            other => {
                return Err(format!(
                    "meta action '{other}' is not supported by olympus yet (flush_handlers, end_play, end_host, clear_host_errors, clear_facts, reset_connection, noop)"
                ));
            }
        })
    }
}

impl EngineArgs for Args {
    fn check(&self) -> Result<(), String> {
        self.action().map(drop)
    }
}

/// The action of a `meta` task's (templated) arguments.
pub fn action(args: &Vars) -> Result<Action, ModuleError> {
    let bad = |message| ModuleError::Args {
        module: SPEC.name,
        message,
    };
    args::parse::<Args>(SPEC.params, args)
        .and_then(|a| a.action())
        .map_err(bad)
}
