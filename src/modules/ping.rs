//! `ping`: proves the host runs a shell for us (Ansible's proves Python; olympus needs none).

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "ping",
    summary: "Check that olympus can log in and run a shell on the host.",
    params: PARAMS,
    ..Spec::host::<Ping>()
};

const PARAMS: &[Param] = &[param(
    "data",
    &[],
    "What `ping` returns, default `pong`; `crash` makes the task fail, as in Ansible.",
)];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default, deserialize_with = "args::opt_text")]
    data: Option<String>,
}

pub struct Ping;

impl Module for Ping {
    type Args = Args;

    fn plan(a: Args, _ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let data = a.data.unwrap_or_else(|| "pong".into());
        let script = format!("printf '%s\\n' {}", quote(&data));
        Ok(Plan::remote(script, None, move |out| {
            let want = format!("{data}\n");
            if out.rc != Some(0) || out.stdout != want.as_bytes() {
                return ModuleResult::failed(format!(
                    "unexpected answer: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            if data == "crash" {
                return ModuleResult::failed("boom");
            }
            let mut r = ModuleResult::ok();
            r.data.insert("ping".into(), Value::from(data));
            r
        }))
    }
}
