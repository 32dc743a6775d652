//! `lineinfile`: one line present (added, or a matching line replaced) or absent, following
//! ansible-core's algorithm step by step (which line a regexp replaces, where a line is
//! inserted, `firstmatch`, `backrefs`).

use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{self, Write, py_regex, read_then, write_if_changed};
use super::{Content, Module, ModuleCtx, ModuleResult, Plan};

pub static SPEC: Spec = Spec {
    name: "lineinfile",
    summary: "Make sure one line is in a file (added, or a matching line replaced), or not.",
    params: PARAMS,
    ..Spec::host::<LineInFile>()
};

const PARAMS: &[Param] = write::file_params![
    param(
        "path",
        &["dest", "destfile", "name"],
        "Required. The file on the host.",
    ),
    param(
        "line",
        &["value"],
        "The line to insert or replace with; required with `state: present`.",
    ),
    param(
        "regexp",
        &["regex"],
        "Python regular expression: the last matching line (the first with `firstmatch`) is replaced; with `state: absent`, every matching line is removed.",
    ),
    param("search_string", &[], "Literal text instead of `regexp`."),
    param("state", &[], "`present` (default) or `absent`."),
    param(
        "insertafter",
        &[],
        "`EOF` (default) or a regular expression: a new line goes after the last matching line (the first with `firstmatch`), else at the end.",
    ),
    param(
        "insertbefore",
        &[],
        "`BOF` or a regular expression: a new line goes before the last matching line (the first with `firstmatch`).",
    ),
    param(
        "firstmatch",
        &[],
        "bool, default no. `regexp`, `search_string`, `insertafter` and `insertbefore` use the first matching line instead of the last.",
    ),
    param(
        "backrefs",
        &[],
        "bool, default no. `line` may use `\\1` and `\\g<name>` from `regexp`; nothing changes when `regexp` matches no line.",
    ),
    param(
        "create",
        &[],
        "bool, default no. Create the file when it does not exist.",
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
    #[serde(default, alias = "value", deserialize_with = "args::opt_text")]
    line: Option<String>,
    #[serde(default, alias = "regex", deserialize_with = "args::opt_text")]
    regexp: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    search_string: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    insertafter: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    insertbefore: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    firstmatch: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    backrefs: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    create: bool,
}
}

impl Args {
    fn absent(&self) -> bool {
        self.state.as_deref() == Some("absent")
    }
}

pub struct LineInFile;

impl Module for LineInFile {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        let both = |x: &Option<String>, y: &Option<String>, names: &str| {
            if x.is_some() && y.is_some() {
                Err(format!("parameters are mutually exclusive: {names}"))
            } else {
                Ok(())
            }
        };
        both(&a.insertbefore, &a.insertafter, "insertbefore|insertafter")?;
        both(&a.regexp, &a.search_string, "regexp|search_string")?;
        if a.backrefs && a.search_string.is_some() {
            return Err("parameters are mutually exclusive: backrefs|search_string".into());
        }
        match a.state.as_deref() {
            None | Some("present") => {
                if a.backrefs && a.regexp.is_none() {
                    return Err("regexp is required with backrefs=true".into());
                }
                if a.line.is_none() {
                    return Err("line is required with state=present".into());
                }
            }
            Some("absent") => {
                if a.regexp.is_none() && a.search_string.is_none() && a.line.is_none() {
                    return Err(
                        "one of line, search_string, or regexp is required with state=absent"
                            .into(),
                    );
                }
            }
            Some(other) => return Err(format!("state '{other}' is not one of present, absent")),
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let regexp = a
            .regexp
            .as_deref()
            .map(|r| py_regex(r, false))
            .transpose()?;
        let ins = match (&a.insertafter, &a.insertbefore) {
            (Some(x), _) | (None, Some(x)) if x != "EOF" && x != "BOF" => Some(py_regex(x, false)?),
            _ => None,
        };
        let absent = a.absent();
        let write = Write::editing(&a.path, a.attrs(), a.backup, a.validate.clone(), ctx);
        // Created files get their directories, as in Ansible.
        let write = Write {
            make_dirs: a.create,
            ..write
        };
        let path = a.path.clone();
        Ok(read_then(&path.clone(), move |old| {
            let Some(old) = old.or_else(|| a.create.then(Vec::new)) else {
                if absent {
                    let mut r = ModuleResult::ok();
                    r.msg = Some("file not present".into());
                    return Plan::Done(r);
                }
                let mut r = ModuleResult::failed(format!("Destination {path} does not exist !"));
                r.data.insert("rc".into(), Value::from(257));
                return Plan::Done(r);
            };
            let text = String::from_utf8_lossy(&old).into_owned();
            let edit = Edit {
                line: a.line.as_deref().unwrap_or(""),
                regexp: regexp.as_ref(),
                search: a.search_string.as_deref(),
                insertafter: a.insertafter.as_deref().or(if a.insertbefore.is_none() {
                    Some("EOF")
                } else {
                    None
                }),
                insertbefore: a.insertbefore.as_deref(),
                ins: ins.as_ref(),
                backrefs: a.backrefs,
                firstmatch: a.firstmatch,
            };
            let (new, msg, found) = if absent {
                let (new, msg, n) = edit.absent(&text);
                (new, msg, Some(n))
            } else {
                let (new, msg) = edit.present(&text);
                (new, msg, None)
            };
            let w = Write {
                content: Content::new(new.into_bytes()),
                ..write
            };
            // Ansible's lineinfile: `backup` is the backup's path, or empty.
            write_if_changed(w, Some(old), &msg).map(move |mut r| {
                let backup = r
                    .data
                    .shift_remove("backup_file")
                    .unwrap_or_else(|| Value::from(""));
                r.data.insert("backup".into(), backup);
                if let Some(n) = found {
                    r.data.insert("found".into(), Value::from(n));
                }
                r
            })
        }))
    }
}

/// What `lineinfile` is asked to do, its patterns compiled.
pub(crate) struct Edit<'a> {
    pub line: &'a str,
    pub regexp: Option<&'a regex::Regex>,
    pub search: Option<&'a str>,
    /// `EOF`, `BOF` or a pattern (compiled in `ins`); `EOF` when neither is given.
    pub insertafter: Option<&'a str>,
    pub insertbefore: Option<&'a str>,
    pub ins: Option<&'a regex::Regex>,
    pub backrefs: bool,
    pub firstmatch: bool,
}

/// A line without its line ending (what patterns are matched against).
fn bare(l: &str) -> &str {
    l.trim_end_matches(['\r', '\n'])
}

impl Edit<'_> {
    /// `state: present`: the new text and the message (empty when nothing changes).
    pub fn present(&self, old: &str) -> (String, String) {
        let mut lines: Vec<String> = old.split_inclusive('\n').map(str::to_string).collect();
        let line = self.line;
        // index[0]: the line that matched; index[1]: where insertafter/before points.
        let (mut found, mut at): (Option<usize>, Option<usize>) = (None, None);
        let mut matched: Option<String> = None;
        if let Some(re) = self.regexp {
            for (i, l) in lines.iter().enumerate() {
                if let Some(c) = re.captures(bare(l)) {
                    found = Some(i);
                    matched = Some(if self.backrefs {
                        let mut out = String::new();
                        c.expand(&crate::template::python_to_rust_replacement(line), &mut out);
                        out
                    } else {
                        line.to_string()
                    });
                    if self.firstmatch {
                        break;
                    }
                }
            }
        }
        if let Some(s) = self.search {
            for (i, l) in lines.iter().enumerate() {
                if l.contains(s) {
                    found = Some(i);
                    matched = Some(line.to_string());
                    if self.firstmatch {
                        break;
                    }
                }
            }
        }
        if matched.is_none() {
            for (i, l) in lines.iter().enumerate() {
                if bare(l) == line {
                    found = Some(i);
                } else if let Some(ins) = self.ins
                    && ins.is_match(bare(l))
                {
                    if self.insertafter.is_some() {
                        at = Some(i + 1);
                        if self.firstmatch {
                            break;
                        }
                    }
                    if self.insertbefore.is_some() {
                        at = Some(i);
                        if self.firstmatch {
                            break;
                        }
                    }
                }
            }
        }
        let with_end = |s: &str| format!("{s}\n");
        let unchanged = (old.to_string(), String::new());
        let added = |lines: Vec<String>| (lines.concat(), "line added".to_string());
        if let Some(i) = found {
            let new_line = with_end(matched.as_deref().unwrap_or(line));
            if lines[i] != new_line {
                lines[i] = new_line;
                return (lines.concat(), "line replaced".into());
            }
            return unchanged;
        }
        if self.backrefs {
            return unchanged;
        }
        if self.insertbefore == Some("BOF") || self.insertafter == Some("BOF") {
            lines.insert(0, with_end(line));
            return added(lines);
        }
        let ends_open = |lines: &mut Vec<String>| {
            if let Some(last) = lines.last_mut()
                && !last.ends_with(['\n', '\r'])
            {
                last.push('\n');
            }
        };
        match at {
            _ if self.insertafter == Some("EOF") || at.is_none() => {
                ends_open(&mut lines);
                lines.push(with_end(line));
                added(lines)
            }
            Some(i) if self.insertafter.is_some() => {
                if i == lines.len() {
                    if bare(&lines[i - 1]) != line {
                        ends_open(&mut lines);
                        lines.push(with_end(line));
                        return added(lines);
                    }
                    unchanged
                } else if bare(&lines[i]) != line {
                    lines.insert(i, with_end(line));
                    added(lines)
                } else {
                    unchanged
                }
            }
            Some(i) => {
                lines.insert(i, with_end(line));
                added(lines)
            }
            None => unchanged,
        }
    }

    /// `state: absent`: every line matching `regexp`, `search_string` or equal to `line`;
    /// also how many lines were removed.
    pub fn absent(&self, old: &str) -> (String, String, usize) {
        let mut removed = 0;
        let kept: String = old
            .split_inclusive('\n')
            .filter(|l| {
                let hit = match (self.regexp, self.search) {
                    (Some(re), _) => re.is_match(bare(l)),
                    (None, Some(s)) => l.contains(s),
                    (None, None) => bare(l) == self.line,
                };
                removed += usize::from(hit);
                !hit
            })
            .collect();
        if removed == 0 {
            (old.to_string(), String::new(), 0)
        } else {
            (kept, format!("{removed} line(s) removed"), removed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T {
        line: &'static str,
        re: Option<&'static str>,
        after: Option<&'static str>,
        before: Option<&'static str>,
        backrefs: bool,
        first: bool,
    }

    const T0: T = T {
        line: "",
        re: None,
        after: None,
        before: None,
        backrefs: false,
        first: false,
    };

    fn run(old: &str, t: T, absent: bool) -> (String, String) {
        let re = t.re.map(|r| regex::Regex::new(r).expect("re"));
        let pat = t.after.or(t.before).filter(|x| *x != "EOF" && *x != "BOF");
        let ins = pat.map(|p| regex::Regex::new(p).expect("ins"));
        let e = Edit {
            line: t.line,
            regexp: re.as_ref(),
            search: None,
            insertafter: t.after.or(if t.before.is_none() {
                Some("EOF")
            } else {
                None
            }),
            insertbefore: t.before,
            ins: ins.as_ref(),
            backrefs: t.backrefs,
            firstmatch: t.first,
        };
        if absent {
            let (text, msg, _) = e.absent(old);
            (text, msg)
        } else {
            e.present(old)
        }
    }

    fn msg(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn follows_ansible() {
        assert_eq!(
            run("a\nb\n", T { line: "c", ..T0 }, false),
            ("a\nb\nc\n".into(), msg("line added"))
        );
        assert_eq!(run("a\nc\n", T { line: "c", ..T0 }, false).1, "");
        assert_eq!(
            run(
                "port=1\nx\n",
                T {
                    line: "port=2",
                    re: Some("^port="),
                    ..T0
                },
                false
            ),
            ("port=2\nx\n".into(), msg("line replaced"))
        );
        // The last match is replaced; with firstmatch, the first.
        let two = "k=1\nk=2\n";
        assert_eq!(
            run(
                two,
                T {
                    line: "k=9",
                    re: Some("^k="),
                    ..T0
                },
                false
            )
            .0,
            "k=1\nk=9\n"
        );
        assert_eq!(
            run(
                two,
                T {
                    line: "k=9",
                    re: Some("^k="),
                    first: true,
                    ..T0
                },
                false
            )
            .0,
            "k=9\nk=2\n"
        );
        // insertafter: after the last matching line; with firstmatch, after the first.
        let t = "# a\nx\n# b\ny\n";
        assert_eq!(
            run(
                t,
                T {
                    line: "new",
                    re: Some("^nomatch"),
                    after: Some("^#"),
                    ..T0
                },
                false
            )
            .0,
            "# a\nx\n# b\nnew\ny\n"
        );
        assert_eq!(
            run(
                t,
                T {
                    line: "new",
                    re: Some("^nomatch"),
                    after: Some("^#"),
                    first: true,
                    ..T0
                },
                false
            )
            .0,
            "# a\nnew\nx\n# b\ny\n"
        );
        assert_eq!(
            run(
                t,
                T {
                    line: "new",
                    before: Some("^#"),
                    first: true,
                    ..T0
                },
                false
            )
            .0,
            "new\n# a\nx\n# b\ny\n"
        );
        assert_eq!(
            run(
                "a\nb\n",
                T {
                    line: "z",
                    before: Some("BOF"),
                    ..T0
                },
                false
            ),
            ("z\na\nb\n".into(), msg("line added"))
        );
        // An exact line already there: no change even when regexp matches nothing.
        assert_eq!(
            run(
                "a\nz\n",
                T {
                    line: "z",
                    re: Some("^nomatch"),
                    ..T0
                },
                false
            )
            .1,
            ""
        );
        assert_eq!(
            run(
                "a\nb\na\n",
                T {
                    re: Some("^a"),
                    ..T0
                },
                true
            ),
            ("b\n".into(), msg("2 line(s) removed"))
        );
        assert_eq!(
            run(
                "v=1\n",
                T {
                    line: "w=\\1",
                    re: Some("^v=(\\d)"),
                    backrefs: true,
                    ..T0
                },
                false
            ),
            ("w=1\n".into(), msg("line replaced"))
        );
        assert_eq!(
            run(
                "x\n",
                T {
                    line: "w=\\1",
                    re: Some("^v=(\\d)"),
                    backrefs: true,
                    ..T0
                },
                false
            )
            .1,
            ""
        );
        assert_eq!(
            run(
                "",
                T {
                    line: "first",
                    ..T0
                },
                false
            ),
            ("first\n".into(), msg("line added"))
        );
        // A file without a final newline gets one before the new line.
        assert_eq!(run("a", T { line: "b", ..T0 }, false).0, "a\nb\n");
        // CRLF lines are kept as they are.
        assert_eq!(
            run("a\r\nb\r\n", T { line: "c", ..T0 }, false).0,
            "a\r\nb\r\nc\n"
        );
    }
}
