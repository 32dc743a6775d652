//! `debconf`: a package's debconf answer read with `debconf-show` (passwords with
//! `debconf-get-selections`) and set with `debconf-set-selections`, compared as
//! ansible-core compares it (booleans as `true`/`false`, multiselect lists in any order).
//! The answer travels on standard input, never on a command line.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::report;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "debconf",
    summary: "Read or preseed a Debian package's debconf answers.",
    params: PARAMS,
    ..Spec::host::<Debconf>()
};

const PARAMS: &[Param] = &[
    param("name", &["pkg"], "Required. The package."),
    param(
        "question",
        &["selection", "setting"],
        "The question to answer (without it, the package's answers are returned in `current`).",
    ),
    param(
        "vtype",
        &[],
        "The question's type: boolean, error, multiselect, note, password, seen, select, string, text or title.",
    ),
    param("value", &["answer"], "The answer (a list for multiselect)."),
    param(
        "unseen",
        &[],
        "bool, default no. Do not mark the question as seen.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "pkg", deserialize_with = "args::text")]
    name: String,
    #[serde(
        default,
        alias = "selection",
        alias = "setting",
        deserialize_with = "args::opt_text"
    )]
    question: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    vtype: Option<String>,
    #[serde(default, alias = "answer")]
    value: Option<Value>,
    #[serde(default, deserialize_with = "args::boolean")]
    unseen: bool,
}

const VTYPES: [&str; 10] = [
    "boolean",
    "error",
    "multiselect",
    "note",
    "password",
    "seen",
    "select",
    "string",
    "text",
    "title",
];

pub struct Debconf;

impl Module for Debconf {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if let Some(v) = &a.vtype
            && !VTYPES.contains(&v.as_str())
        {
            return Err(format!(
                "vtype must be one of {}; got '{v}'",
                VTYPES.join(", ")
            ));
        }
        let given = [
            a.question.is_some(),
            a.vtype.is_some(),
            a.value.as_ref().is_some_and(|v| !v.is_null()),
        ];
        if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
            return Err("parameters are required together: question, vtype, value".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let script = format!(
            "pkg={}\ncommand -v debconf-show >/dev/null 2>&1 || {{ echo 'error=debconf-show is not installed on the host'; exit 0; }}\nw=$(mktemp -d) || exit 1\ntrap 'rm -rf -- \"$w\"' EXIT\nif ! debconf-show \"$pkg\" > \"$w/o\" 2> \"$w/e\"; then echo \"error=$(cat \"$w/e\")\"; exit 0; fi\necho \"show=$(base64 -w0 < \"$w/o\")\"\n{}",
            quote(&a.name),
            if a.vtype.as_deref() == Some("password") {
                "debconf-get-selections 2>/dev/null | grep -F -- \"$pkg\" > \"$w/g\"; echo \"sel=$(base64 -w0 < \"$w/g\")\"\n"
            } else {
                ""
            }
        );
        let check = ctx.check_mode;
        Ok(Plan::Remote {
            script,
            stdin: None,
            then: Box::new(move |out| decide(a, check, out)),
        })
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        other => crate::pyrepr::str_of(other),
    }
}

fn decide(a: Args, check: bool, out: crate::connection::ExecOutput) -> Plan {
    let rep = report(&out);
    if let Some(e) = rep.get("error") {
        return Plan::Done(ModuleResult::failed(e.clone()));
    }
    let b64 = |k: &str| super::write::report_text(&rep, k);
    // debconf-show's lines: `* question: value` (asked) or `  question: value`.
    let mut prev = Map::new();
    for line in b64("show").lines() {
        if let Some((k, v)) = line.split_once(':') {
            prev.insert(
                k.trim().trim_matches('*').trim().to_string(),
                Value::from(v.trim()),
            );
        }
    }
    let mut r = ModuleResult::ok();
    let Some(question) = a.question.clone() else {
        r.msg = Some(String::new());
        r.data.insert("current".into(), Value::Object(prev));
        return Plan::Done(r);
    };
    let vtype = a.vtype.clone().unwrap_or_default();
    let raw = a.value.clone().unwrap_or(Value::Null);
    let multi_list = vtype == "multiselect" && raw.is_array();
    let mut value: Value = if vtype == "boolean" {
        Value::from(text(&raw).to_lowercase())
    } else {
        raw.clone()
    };
    let changed = match prev.get(&question) {
        None => true,
        Some(existing) => {
            let existing = existing.as_str().unwrap_or_default().to_string();
            if vtype == "password" {
                // The password as debconf-get-selections holds it (tab-separated fields).
                let sel = b64("sel");
                let mut found = String::new();
                for line in sel.lines().filter(|l| l.starts_with(a.name.as_str())) {
                    let f: Vec<&str> = line.split('\t').collect();
                    if f.len() <= 3 {
                        break;
                    }
                    if f[1] == question && f[2] == vtype {
                        found = f[3].to_string();
                        break;
                    }
                }
                text(&value) != found
            } else if multi_list {
                let mut want: Vec<String> = raw
                    .as_array()
                    .map(|l| l.iter().map(text).collect())
                    .unwrap_or_default();
                want.sort();
                value = Value::Array(want.iter().cloned().map(Value::from).collect());
                let mut have: Vec<String> =
                    existing.split(',').map(|s| s.trim().to_string()).collect();
                have.sort();
                want != have
            } else if vtype == "boolean" {
                text(&value) != existing.to_lowercase()
            } else {
                text(&value) != existing
            }
        }
    };
    if !changed {
        r.msg = Some(String::new());
        r.data.insert("current".into(), Value::Object(prev));
        return Plan::Done(r);
    }
    r.changed = true;
    // As ansible-core reports it: the question's old answer, or (a new question) every
    // answer the package had, with the question's as "".
    let previous = Value::Object(match prev.get(&question) {
        Some(v) => Map::from_iter([(question.clone(), v.clone())]),
        None => {
            let mut all = prev.clone();
            all.insert(question.clone(), Value::from(""));
            all
        }
    });
    r.data.insert("previous".into(), previous);
    r.data.insert(
        "current".into(),
        Value::Object(Map::from_iter([(question.clone(), value.clone())])),
    );
    if check {
        r.msg = Some(String::new());
        return Plan::Done(r);
    }
    let answer = match &value {
        Value::Array(items) if multi_list => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => text(other),
    };
    let data = format!("{} {question} {vtype} {answer}", a.name);
    let script = format!(
        "debconf-set-selections{}",
        if a.unseen { " -u" } else { "" }
    );
    Plan::remote(script, Some(data.into_bytes().into()), move |out| {
        if out.rc != Some(0) {
            return ModuleResult::failed(String::from_utf8_lossy(&out.stderr).to_string());
        }
        r.msg = Some(String::from_utf8_lossy(&out.stdout).to_string());
        r
    })
}
