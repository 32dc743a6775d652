//! `wait_for_connection`: the engine tries the host's connection (a new one each time) and
//! one command on it until both work, or the timeout passes — after a reboot, or for a
//! host that is still being provisioned. This file owns the arguments.

use std::time::Duration;

use serde::Deserialize;

use super::ModuleError;
use super::args::{self, Param, param};
use super::registry::{EngineArgs, Kind, Spec, Step};
use crate::yaml::Vars;

pub static SPEC: Spec = Spec {
    name: "wait_for_connection",
    summary: "Wait until the host can be reached and runs a command (a new connection each try).",
    params: PARAMS,
    ..Spec::engine::<Args>(Kind::Engine(Step::WaitForConnection))
};

const PARAMS: &[Param] = &[
    param(
        "connect_timeout",
        &[],
        "Seconds one try may take, default 5.",
    ),
    param(
        "delay",
        &[],
        "Seconds to wait before the first try, default 0.",
    ),
    param("sleep", &[], "Seconds between tries, default 1."),
    param(
        "timeout",
        &[],
        "Seconds to keep trying, default 600; then the task fails.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default, deserialize_with = "args::opt_seconds")]
    connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    delay: Option<Duration>,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    sleep: Option<Duration>,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    timeout: Option<Duration>,
}

impl EngineArgs for Args {}

/// How to wait: (connect_timeout, delay, sleep, timeout).
pub struct Waiting {
    pub connect_timeout: Duration,
    pub delay: Duration,
    pub sleep: Duration,
    pub timeout: Duration,
}

/// The rendered arguments.
pub fn waiting(args: &Vars) -> Result<Waiting, ModuleError> {
    let a = args::parse::<Args>(SPEC.params, args).map_err(|message| ModuleError::Args {
        module: SPEC.name,
        message,
    })?;
    Ok(Waiting {
        connect_timeout: a.connect_timeout.unwrap_or(Duration::from_secs(5)),
        delay: a.delay.unwrap_or(Duration::ZERO),
        sleep: a.sleep.unwrap_or(Duration::from_secs(1)),
        timeout: a.timeout.unwrap_or(Duration::from_secs(600)),
    })
}
