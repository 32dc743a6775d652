//! `group`: a group present (with a given gid, or a system gid) or absent, with
//! `groupadd`/`groupmod`/`groupdel` on the host, as ansible-core's `group` module reports it.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{report, script_failure};
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "group",
    summary: "Make sure a group exists (with a given gid) or does not.",
    params: PARAMS,
    ..Spec::host::<Group>()
};

const PARAMS: &[Param] = &[
    param("name", &[], "Required. The group."),
    param("state", &[], "`present` (default) or `absent`."),
    param(
        "gid",
        &[],
        "The group id; an existing group is changed to it.",
    ),
    param(
        "system",
        &[],
        "bool, default no. A new group gets a system gid.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    name: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "id")]
    gid: Option<u32>,
    #[serde(default, deserialize_with = "args::boolean")]
    system: bool,
}

/// A uid or gid: a whole number from 0 to 2^32 - 2.
pub(super) fn id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match args::opt_number(d)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && (0.0..4_294_967_295.0).contains(&n) => Ok(Some(n as u32)),
        Some(n) => Err(serde::de::Error::custom(format!("{n} is not a valid id"))),
    }
}

pub struct Group;

impl Module for Group {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.state.as_deref() {
            None | Some("present" | "absent") => Ok(()),
            Some(s) => Err(format!(
                "value of state must be one of: absent, present, got: {s}"
            )),
        }
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let absent = a.state.as_deref() == Some("absent");
        let script = format!(
            "n={}\nwant_gid={}\nsystem={}\nabsent={}\ncheck={}\n{SCRIPT}",
            quote(&a.name),
            a.gid.map(|g| g.to_string()).unwrap_or_default(),
            u8::from(a.system),
            u8::from(absent),
            u8::from(ctx.check_mode),
        );
        let (name, system) = (a.name, a.system);
        Ok(Plan::remote(script, None, move |out| {
            let rep = report(&out);
            if out.rc != Some(0) || rep.contains_key("error") {
                return script_failure(&out, &rep);
            }
            let mut r = ModuleResult::ok();
            r.changed = rep.get("changed").map(String::as_str) == Some("1");
            if rep.contains_key("check_exit") {
                return r;
            }
            r.data.insert("name".into(), Value::from(name));
            r.data.insert(
                "state".into(),
                Value::from(if absent { "absent" } else { "present" }),
            );
            if !absent {
                let gid = rep.get("gid").and_then(|g| g.parse::<u64>().ok());
                r.data
                    .insert("gid".into(), gid.map_or(Value::Null, Value::from));
                r.data.insert("system".into(), Value::Bool(system));
            }
            r
        }))
    }
}

const SCRIPT: &str = r#"line=$(getent group "$n")
if [ "$absent" = 1 ]; then
  if [ -n "$line" ]; then
    echo changed=1
    if [ "$check" = 0 ]; then out=$(groupdel "$n" 2>&1) || { printf 'error=%s\n' "$out"; exit 3; }; fi
  fi
  exit 0
fi
if [ -z "$line" ]; then
  echo changed=1
  if [ "$check" = 1 ]; then echo check_exit=1; exit 0; fi
  set --; [ -n "$want_gid" ] && set -- -g "$want_gid"; [ "$system" = 1 ] && set -- "$@" -r
  out=$(groupadd "$@" "$n" 2>&1) || { printf 'error=%s\n' "$out"; exit 3; }
else
  cur=$(printf '%s' "$line" | cut -d: -f3)
  if [ -n "$want_gid" ] && [ "$cur" != "$want_gid" ]; then
    echo changed=1
    if [ "$check" = 0 ]; then out=$(groupmod -g "$want_gid" "$n" 2>&1) || { printf 'error=%s\n' "$out"; exit 3; }; fi
  fi
fi
echo "gid=$(getent group "$n" | cut -d: -f3)"
"#;
