//! `package`: packages present, latest or absent with whatever manager the host has. Today
//! that is apt (Debian, Ubuntu); other managers are refused on the host by name.

use serde::Deserialize;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::{Module, ModuleCtx, Plan};

pub static SPEC: Spec = Spec {
    name: "package",
    summary: "Install, upgrade or remove packages with the host's package manager (apt today).",
    params: PARAMS,
    ..Spec::host::<Package>()
};

const PARAMS: &[Param] = &[
    param(
        "name",
        &["pkg"],
        "Required. Package names (a list, or comma-separated).",
    ),
    param(
        "state",
        &[],
        "Required by Ansible's docs, default `present`: `present`, `latest` or `absent`.",
    ),
    param("use", &[], "`auto` (default) or `apt`."),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "pkg", deserialize_with = "args::list")]
    name: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, rename = "use", deserialize_with = "args::opt_text")]
    use_: Option<String>,
}

pub struct Package;

impl Module for Package {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.use_.as_deref() {
            None | Some("auto" | "apt") => {}
            Some(other) => {
                return Err(format!(
                    "use '{other}' is not supported by olympus yet (auto, apt)"
                ));
            }
        }
        super::apt::Apt::check(&super::apt::Args::packages(a.name.clone(), a.state.clone()))
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let apt = super::apt::plan(super::apt::Args::packages(a.name, a.state), ctx.check_mode);
        // The same script, refused up front on a host without apt-get.
        Ok(match apt {
            Plan::Remote {
                script,
                stdin,
                then,
            } => Plan::Remote {
                script: format!(
                    "if ! command -v apt-get >/dev/null 2>&1; then echo 'error=package: olympus manages packages with apt only so far; this host has no apt-get'; exit 3; fi\n{script}"
                ),
                stdin,
                then,
            },
            other => other,
        })
    }
}
