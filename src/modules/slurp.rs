//! `slurp`: a file on the host, returned base64-encoded.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "slurp",
    summary: "Read a file on the host; its content is returned base64-encoded.",
    params: PARAMS,
    ..Spec::host::<Slurp>()
};

const PARAMS: &[Param] = &[param("src", &["path"], "Required. The file on the host.")];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "path", deserialize_with = "args::text")]
    src: String,
}

pub struct Slurp;

impl Module for Slurp {
    type Args = Args;

    fn plan(a: Args, _ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let script = format!(
            "p={}\nif [ ! -f \"$p\" ]; then echo \"file not found: $p\" >&2; exit 1; fi\nbase64 -w0 < \"$p\"",
            quote(&a.src)
        );
        let src = a.src;
        Ok(Plan::remote(script, None, move |out| {
            if out.rc != Some(0) {
                return ModuleResult::failed(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                );
            }
            let mut r = ModuleResult::ok();
            r.data.insert(
                "content".into(),
                Value::from(String::from_utf8_lossy(&out.stdout).trim().to_string()),
            );
            r.data.insert("encoding".into(), Value::from("base64"));
            r.data.insert("source".into(), Value::from(src));
            r
        }))
    }
}
