//! `template`: a Jinja template on the controller, rendered with the host's variables and
//! written on the host.

use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::{Source, Spec};
use super::write::{self, Write, write_plan};
use super::{Content, Module, ModuleCtx, Plan};
use crate::template::Whitespace;

pub static SPEC: Spec = Spec {
    name: "template",
    summary: "Render a Jinja template from the controller with the host's variables and write it on hosts.",
    params: PARAMS,
    source: Some(Source {
        dir: "templates",
        is_template: true,
    }),
    supports_async: false,
    ..Spec::host::<Template>()
};

const PARAMS: &[Param] = write::file_params![
    param(
        "src",
        &[],
        "Required. Controller path of the template, looked up in the role's and the playbook's `templates/`.",
    ),
    param(
        "dest",
        &[],
        "Required. Path on the host; a directory receives the file under the template's name without `.j2`.",
    ),
    param(
        "force",
        &["thirsty"],
        "bool, default yes. With no, an existing file is left as it is.",
    ),
    param(
        "trim_blocks",
        &[],
        "bool, default yes. The first newline after a block tag is removed. A `#jinja2: trim_blocks: False` first line in the template does the same.",
    ),
    param(
        "lstrip_blocks",
        &[],
        "bool, default no. Spaces and tabs before a block tag on its line are removed. Also `#jinja2: lstrip_blocks: True`.",
    ),
    param(
        "newline_sequence",
        &[],
        "Only `\\n` (the default) is supported; others are refused before the run.",
    ),
];

/// What `ansible_managed` renders to (ansible-core's default string).
pub const ANSIBLE_MANAGED: &str = "Ansible managed";

write::file_args! {
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    src: String,
    #[serde(deserialize_with = "args::text")]
    dest: String,
    #[serde(
        default = "args::yes",
        alias = "thirsty",
        deserialize_with = "args::boolean"
    )]
    force: bool,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    trim_blocks: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    lstrip_blocks: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_text")]
    newline_sequence: Option<String>,
}
}

pub struct Template;

impl Module for Template {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.newline_sequence.as_deref() {
            None | Some("\n") => Ok(()),
            Some(other) => Err(format!(
                "newline_sequence {other:?} is not supported by olympus yet (only \"\\n\")"
            )),
        }
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let path = write::local_file(ctx, &a.src, "templates")?;
        let source = ctx
            .files
            .get(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let text = std::str::from_utf8(&source.bytes)
            .map_err(|e| format!("{}: not UTF-8 text: {e}", path.display()))?;
        let mut ws = Whitespace {
            trim_blocks: a.trim_blocks.unwrap_or(true),
            lstrip_blocks: a.lstrip_blocks.unwrap_or(false),
        };
        let body =
            header_overrides(text, &mut ws).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut vars = (**ctx.vars).clone();
        let full = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        for (k, v) in [
            ("template_path", path.to_string_lossy().into_owned()),
            ("template_fullpath", full.to_string_lossy().into_owned()),
            ("template_destpath", a.dest.clone()),
            ("template_host", controller_hostname()),
        ] {
            vars.insert_data(k.into(), Value::from(v));
        }
        if !vars.contains_key("ansible_managed") {
            vars.insert_data("ansible_managed".into(), Value::from(ANSIBLE_MANAGED));
        }
        let rendered = ctx
            .templar
            .render_text_with(body, &std::sync::Arc::new(vars), ws)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let attrs = a.attrs();
        Ok(write_plan(Write {
            dest: a.dest,
            basename_if_dir: path
                .file_name()
                .map(|n| n.to_string_lossy().trim_end_matches(".j2").to_string()),
            content: Content::new(rendered.into_bytes()),
            attrs,
            check: ctx.check_mode,
            diff: ctx.diff,
            backup: a.backup,
            validate: a.validate,
            keep_existing: !a.force,
            make_dirs: false,
            known_sha1: None,
        }))
    }
}

/// A first line `#jinja2: trim_blocks: False, lstrip_blocks: True` sets those options for
/// this template, as in Ansible; the rest of the text is the template.
pub fn header_overrides<'t>(text: &'t str, ws: &mut Whitespace) -> Result<&'t str, String> {
    let Some(rest) = text.strip_prefix("#jinja2:") else {
        return Ok(text);
    };
    let (line, body) = rest.split_once('\n').unwrap_or((rest, ""));
    for pair in line.split(',') {
        let Some((k, v)) = pair.split_once(':') else {
            return Err(format!(
                "#jinja2 header: '{}' is not 'option: value'",
                pair.trim()
            ));
        };
        let value = match v.trim() {
            "True" | "true" => true,
            "False" | "false" => false,
            other => {
                return Err(format!(
                    "#jinja2 header: {} must be True or False, got '{other}'",
                    k.trim()
                ));
            }
        };
        match k.trim() {
            "trim_blocks" => ws.trim_blocks = value,
            "lstrip_blocks" => ws.lstrip_blocks = value,
            // Olympus always keeps the final newline, as Ansible does by default.
            "keep_trailing_newline" if value => {}
            other => {
                return Err(format!(
                    "#jinja2 header: '{other}: {}' is not supported by olympus yet (trim_blocks, lstrip_blocks)",
                    v.trim()
                ));
            }
        }
    }
    Ok(body)
}

/// The controller's host name (Ansible's `template_host`), read once per process rather
/// than once per host and template.
fn controller_hostname() -> String {
    static NAME: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into())
    });
    NAME.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jinja2_header_sets_whitespace() {
        let mut ws = Whitespace::ANSIBLE;
        let body = header_overrides(
            "#jinja2: trim_blocks: False, lstrip_blocks: True\nx\n",
            &mut ws,
        )
        .unwrap();
        assert_eq!(body, "x\n");
        assert!(!ws.trim_blocks && ws.lstrip_blocks);
        let mut ws = Whitespace::ANSIBLE;
        assert_eq!(
            header_overrides("no header\n", &mut ws).unwrap(),
            "no header\n"
        );
        assert!(header_overrides("#jinja2: variable_start_string: '[['\n", &mut ws).is_err());
    }
}
