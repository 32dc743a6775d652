//! `package`: packages present, latest or absent with whatever manager the host has: apt
//! (Debian, Ubuntu) or dnf (Fedora, RHEL 8+ and their family), found on the host in the same
//! round trip; other managers are refused on the host by name.

use serde::Deserialize;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::{Module, ModuleCtx, Plan};

pub static SPEC: Spec = Spec {
    name: "package",
    summary: "Install, upgrade or remove packages with the host's package manager (apt or dnf).",
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
    param(
        "use",
        &[],
        "`auto` (default: found on the host), `apt`, `dnf` or `yum`.",
    ),
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
            None | Some("auto" | "apt" | "dnf" | "yum") => {}
            Some(other) => {
                return Err(format!(
                    "use '{other}' is not supported by olympus yet (auto, apt, dnf, yum)"
                ));
            }
        }
        super::apt::Apt::check(&super::apt::Args::packages(a.name.clone(), a.state.clone()))
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let want = a.use_.as_deref().unwrap_or("auto");
        let apt = super::apt::plan(
            super::apt::Args::packages(a.name.clone(), a.state.clone()),
            ctx.check_mode,
        );
        let dnf =
            <super::dnf::Dnf as Module>::plan(super::dnf::Args::packages(a.name, a.state), ctx)?;
        let (
            Plan::Remote {
                script: apt_script,
                then: apt_then,
                ..
            },
            Plan::Remote {
                script: dnf_script,
                then: dnf_then,
                ..
            },
        ) = (apt, dnf)
        else {
            return Err("package: nothing to run".into());
        };
        // The host's manager picked on the host; each script in a subshell of its own.
        let pick = match want {
            "apt" => "mgr=apt".to_string(),
            "dnf" | "yum" => "mgr=dnf".to_string(),
            _ => "if command -v apt-get >/dev/null 2>&1; then mgr=apt; elif command -v dnf >/dev/null 2>&1; then mgr=dnf; else mgr=; fi".to_string(),
        };
        let script = format!(
            "{pick}\ncase \"$mgr\" in\n  apt) echo __pkg_mgr=apt; ( {apt_script}\n ); exit $? ;;\n  dnf) echo __pkg_mgr=dnf; ( {dnf_script}\n ); exit $? ;;\nesac\necho 'error=package: olympus manages packages with apt or dnf; this host has neither'; exit 3\n"
        );
        Ok(Plan::Remote {
            script,
            stdin: None,
            then: Box::new(move |mut out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
                match first {
                    "__pkg_mgr=dnf" => {
                        out.stdout = rest.as_bytes().to_vec();
                        dnf_then(out)
                    }
                    "__pkg_mgr=apt" => {
                        out.stdout = rest.as_bytes().to_vec();
                        apt_then(out)
                    }
                    _ => Plan::Done(super::write::script_failure(
                        &out,
                        &super::write::report(&out),
                    )),
                }
            }),
        })
    }
}
