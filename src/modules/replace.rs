//! `replace`: every match of a regular expression in a file replaced, optionally only in
//! the part of the file after one pattern and/or before another, as ansible-core does it.

use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{self, Write, read_then, write_if_changed};
use super::{Content, Module, ModuleCtx, ModuleResult, Plan};

pub static SPEC: Spec = Spec {
    name: "replace",
    summary: "Replace every match of a regular expression in a file.",
    params: PARAMS,
    ..Spec::host::<Replace>()
};

const PARAMS: &[Param] = write::file_params![
    param(
        "path",
        &["dest", "destfile", "name"],
        "Required. The file on the host.",
    ),
    param(
        "regexp",
        &[],
        "Required. Python regular expression, multiline (`^` and `$` match at every line).",
    ),
    param(
        "replace",
        &[],
        "Replacement; `\\1` and `\\g<name>` refer to groups. Default: empty (matches are removed).",
    ),
    param(
        "after",
        &[],
        "Only text after the first match of this pattern is replaced (`.` matches newlines).",
    ),
    param(
        "before",
        &[],
        "Only text before the last match of this pattern is replaced (`.` matches newlines).",
    ),
];

write::file_args! {
pub struct Args {
    #[serde(
        alias = "dest",
        alias = "destfile",
        alias = "name",
        deserialize_with = "args::text"
    )]
    path: String,
    #[serde(deserialize_with = "args::text")]
    regexp: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    replace: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    after: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    before: Option<String>,
}
}

pub struct Replace;

impl Module for Replace {
    type Args = Args;

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let re = write::py_regex(&a.regexp, true)?;
        let section = section_pattern(a.after.as_deref(), a.before.as_deref())?;
        let repl = crate::template::python_to_rust_replacement(a.replace.as_deref().unwrap_or(""));
        let write = Write::editing(&a.path, a.attrs(), a.backup, a.validate, ctx);
        let path = a.path;
        Ok(read_then(&path.clone(), move |old| {
            let Some(old) = old else {
                return Plan::Done(ModuleResult::failed(format!(
                    "Path {path} does not exist !"
                )));
            };
            let text = String::from_utf8_lossy(&old).into_owned();
            let (start, end) = match &section {
                None => (0, text.len()),
                Some(s) => match s.captures(&text).and_then(|c| c.name("subsection")) {
                    Some(m) => (m.start(), m.end()),
                    None => {
                        let mut r = ModuleResult::ok();
                        r.msg = Some(format!(
                            "Pattern for before/after params did not match the given file: {}",
                            s.as_str().trim_start_matches("(?s)")
                        ));
                        return Plan::Done(r);
                    }
                },
            };
            let part = &text[start..end];
            let count = re.find_iter(part).count();
            let replaced = re.replace_all(part, repl.as_str());
            if count == 0 || replaced == part {
                let mut r = ModuleResult::ok();
                r.msg = Some(String::new());
                r.data.insert("rc".into(), Value::from(0));
                return Plan::Done(r);
            }
            let new = format!("{}{replaced}{}", &text[..start], &text[end..]);
            let w = Write {
                content: Content::new(new.into_bytes()),
                ..write
            };
            write_if_changed(w, Some(old), &format!("{count} replacements made")).map(|mut r| {
                r.data.insert("rc".into(), Value::from(0));
                r
            })
        }))
    }
}

/// The part of the file `after`/`before` select, as Ansible builds it: one pattern with a
/// `subsection` group, `.` matching newlines.
fn section_pattern(
    after: Option<&str>,
    before: Option<&str>,
) -> Result<Option<regex::Regex>, String> {
    let p = match (after, before) {
        (Some(a), Some(b)) => format!("{a}(?P<subsection>.*?){b}"),
        (Some(a), None) => format!("{a}(?P<subsection>.*)"),
        (None, Some(b)) => format!("(?P<subsection>.*){b}"),
        (None, None) => return Ok(None),
    };
    regex::Regex::new(&format!("(?s){p}"))
        .map(Some)
        .map_err(|e| format!("invalid after/before pattern: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_as_ansible_builds_them() {
        let s = section_pattern(Some("<a>"), Some("</a>")).unwrap().unwrap();
        let t = "x <a>1 2</a> 3";
        let m = s.captures(t).unwrap().name("subsection").unwrap();
        assert_eq!(m.as_str(), "1 2");
        let s = section_pattern(None, Some("END")).unwrap().unwrap();
        assert_eq!(
            s.captures("a\nb END c")
                .unwrap()
                .name("subsection")
                .unwrap()
                .as_str(),
            "a\nb "
        );
        assert!(section_pattern(None, None).unwrap().is_none());
    }
}
