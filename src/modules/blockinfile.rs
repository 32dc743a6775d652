//! `blockinfile`: a block of lines between marker lines, inserted, updated or removed,
//! following ansible-core's algorithm (where the block goes, blank lines around it).

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{self, Write, py_regex, read_then, write_if_changed};
use super::{Content, Module, ModuleCtx, ModuleResult, Plan};

pub static SPEC: Spec = Spec {
    name: "blockinfile",
    summary: "Insert, update or remove a block of lines between marker lines in a file.",
    params: PARAMS,
    ..Spec::host::<BlockInFile>()
};

const PARAMS: &[Param] = write::file_params![
    param(
        "path",
        &["dest", "destfile", "name"],
        "Required. The file on the host.",
    ),
    param(
        "block",
        &["content"],
        "The lines to put between the markers; empty removes the block.",
    ),
    param("state", &[], "`present` (default) or `absent`."),
    param(
        "marker",
        &[],
        "Marker line template, default `# {mark} ANSIBLE MANAGED BLOCK`; `{mark}` becomes `marker_begin`/`marker_end`.",
    ),
    param("marker_begin", &[], "Default `BEGIN`."),
    param("marker_end", &[], "Default `END`."),
    param(
        "insertafter",
        &[],
        "`EOF` (default) or a regular expression: a new block goes after the last matching line.",
    ),
    param(
        "insertbefore",
        &[],
        "`BOF` or a regular expression: a new block goes before the last matching line.",
    ),
    param(
        "append_newline",
        &[],
        "bool, default no. A blank line after the block unless one is there or the file ends.",
    ),
    param(
        "prepend_newline",
        &[],
        "bool, default no. A blank line before the block unless one is there or the file starts.",
    ),
    param(
        "create",
        &[],
        "bool, default no. Create the file (and its directory) when it does not exist.",
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
    #[serde(default, alias = "content", deserialize_with = "args::opt_text")]
    block: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    marker: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    marker_begin: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    marker_end: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    insertafter: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    insertbefore: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    append_newline: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    prepend_newline: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    create: bool,
}
}

pub struct BlockInFile;

impl Module for BlockInFile {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if a.insertafter.is_some() && a.insertbefore.is_some() {
            return Err("parameters are mutually exclusive: insertbefore|insertafter".into());
        }
        match a.state.as_deref() {
            None | Some("present" | "absent") => Ok(()),
            Some(other) => Err(format!("state '{other}' is not one of present, absent")),
        }
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let pattern = match (&a.insertafter, &a.insertbefore) {
            (Some(x), _) if x != "EOF" => Some(x.clone()),
            (None, Some(x)) if x != "BOF" => Some(x.clone()),
            _ => None,
        };
        // `(?m)` makes Python search the whole text, as one string.
        let insert = pattern
            .as_deref()
            .map(|p| Ok::<_, String>((py_regex(p, false)?, p.starts_with("(?m)"))))
            .transpose()?;
        let marker = a
            .marker
            .clone()
            .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".into());
        let edit = Edit {
            begin: format!(
                "{}\n",
                marker.replace("{mark}", a.marker_begin.as_deref().unwrap_or("BEGIN"))
            ),
            end: format!(
                "{}\n",
                marker.replace("{mark}", a.marker_end.as_deref().unwrap_or("END"))
            ),
            block: a.block.clone().unwrap_or_default(),
            present: a.state.as_deref() != Some("absent"),
            after: a.insertafter.is_some() || a.insertbefore.is_none(),
            insert,
            append_newline: a.append_newline,
            prepend_newline: a.prepend_newline,
        };
        let write = Write {
            make_dirs: a.create,
            ..Write::editing(&a.path, a.attrs(), a.backup, a.validate, ctx)
        };
        let (path, create) = (a.path, a.create);
        Ok(read_then(&path.clone(), move |old| {
            let existed = old.is_some();
            let old = match old {
                Some(o) => o,
                None if !edit.present => {
                    let mut r = ModuleResult::ok();
                    r.msg = Some(format!("File {path} not present"));
                    return Plan::Done(r);
                }
                None if create => Vec::new(),
                None => {
                    return Plan::Done(ModuleResult::failed(format!(
                        "Path {path} does not exist !"
                    )));
                }
            };
            let text = String::from_utf8_lossy(&old).into_owned();
            let (new, removed) = edit.apply(&text);
            let msg = if !existed {
                "File created"
            } else if removed {
                "Block removed"
            } else {
                "Block inserted"
            };
            let w = Write {
                content: Content::new(new.into_bytes()),
                ..write
            };
            write_if_changed(w, existed.then_some(old), msg)
        }))
    }
}

/// The block to put in, its markers (with their newline) and where it goes.
pub(crate) struct Edit {
    pub begin: String,
    pub end: String,
    pub block: String,
    pub present: bool,
    /// Inserted after the `insert` match (else before it).
    pub after: bool,
    /// The insertafter/insertbefore pattern, and whether it searches the whole text.
    pub insert: Option<(regex::Regex, bool)>,
    pub append_newline: bool,
    pub prepend_newline: bool,
}

impl Edit {
    /// The new text, and whether the block is gone from it (removed or absent).
    pub fn apply(&self, old: &str) -> (String, bool) {
        let mut lines: Vec<String> = old.split_inclusive('\n').map(str::to_string).collect();
        let mut block_lines: Vec<String> = Vec::new();
        if self.present && !self.block.is_empty() {
            let mut b = self.block.clone();
            if !b.ends_with('\n') {
                b.push('\n');
            }
            block_lines.push(self.begin.clone());
            block_lines.extend(b.split_inclusive('\n').map(str::to_string));
            block_lines.push(self.end.clone());
        }
        let (mut n0, mut n1) = (None, None);
        for (i, l) in lines.iter().enumerate() {
            if *l == self.begin {
                n0 = Some(i);
            }
            if *l == self.end {
                n1 = Some(i);
            }
        }
        let mut at = match (n0, n1) {
            (Some(b), Some(e)) if b < e => {
                lines.drain(b..=e);
                b
            }
            (Some(b), Some(e)) => {
                lines.drain(e..=b);
                e
            }
            _ => match &self.insert {
                Some((re, whole)) => {
                    let found = if *whole {
                        re.find(old).map(|m| {
                            let upto = if self.after { m.end() } else { m.start() };
                            old[..upto].matches('\n').count()
                        })
                    } else {
                        lines
                            .iter()
                            .rposition(|l| re.is_match(l.trim_end_matches('\n')))
                    };
                    match found {
                        None => lines.len(),
                        Some(i) if self.after => i + 1,
                        Some(i) => i,
                    }
                }
                None if !self.after => 0,
                None => lines.len(),
            },
        };
        if at > 0 && !lines[at - 1].ends_with('\n') {
            lines[at - 1].push('\n');
        }
        if self.prepend_newline && self.present && at != 0 && lines[at - 1] != "\n" {
            lines.insert(at, "\n".into());
            at += 1;
        }
        let after_block = at + block_lines.len();
        let gone = block_lines.is_empty();
        lines.splice(at..at, block_lines);
        if self.append_newline
            && self.present
            && after_block < lines.len()
            && lines[after_block] != "\n"
        {
            lines.insert(after_block, "\n".into());
        }
        (lines.concat(), gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(block: &str, insert: Option<(&str, bool)>) -> Edit {
        Edit {
            begin: "# BEGIN\n".into(),
            end: "# END\n".into(),
            block: block.into(),
            present: true,
            after: insert.is_none_or(|(_, after)| after),
            insert: insert.map(|(p, _)| (regex::Regex::new(p).expect("re"), false)),
            append_newline: false,
            prepend_newline: false,
        }
    }

    #[test]
    fn follows_ansible() {
        let e = edit("x\ny", None);
        assert_eq!(e.apply("a\n").0, "a\n# BEGIN\nx\ny\n# END\n");
        // Updating in place, idempotent.
        let once = e.apply("a\n# BEGIN\nold\n# END\nb\n").0;
        assert_eq!(once, "a\n# BEGIN\nx\ny\n# END\nb\n");
        assert_eq!(e.apply(&once).0, once);
        // After the last line matching insertafter; before the one matching insertbefore.
        assert_eq!(
            edit("x", Some(("^k", true))).apply("k1\nk2\nz\n").0,
            "k1\nk2\n# BEGIN\nx\n# END\nz\n"
        );
        assert_eq!(
            edit("x", Some(("^k", false))).apply("k1\nk2\nz\n").0,
            "k1\n# BEGIN\nx\n# END\nk2\nz\n"
        );
        // A file without a final newline gets one before the block.
        assert_eq!(e.apply("a").0, "a\n# BEGIN\nx\ny\n# END\n");
        // Blank lines around, only where none is.
        let mut nl = edit("x", Some(("^a", true)));
        nl.prepend_newline = true;
        nl.append_newline = true;
        assert_eq!(nl.apply("a\nb\n").0, "a\n\n# BEGIN\nx\n# END\n\nb\n");
        // Empty block or absent: removed.
        let (t, gone) = edit("", None).apply("a\n# BEGIN\nx\n# END\n");
        assert_eq!((t.as_str(), gone), ("a\n", true));
    }
}
