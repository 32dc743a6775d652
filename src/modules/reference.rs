//! docs/modules.md, written from the registry: every module, its kind, how a free-form
//! string is read, its parameters and aliases, and Ansible's builtin modules olympus does
//! not implement yet.
//!
//! Owns: the text of that page. A unit test fails when the committed page differs from
//! what the registry says (`OLYMPUS_WRITE_DOCS=1 cargo test --lib reference` rewrites it).
//! Must not: describe anything the registry does not hold.

use std::fmt::Write as _;

use super::registry::{FreeForm, Kind, MODULES, NOT_IMPLEMENTED, Spec};

/// The page, in Markdown.
pub fn markdown() -> String {
    let mut s = String::new();
    s.push_str(
        "# Modules\n\n\
         <!-- Written by `src/modules/reference.rs` from the module registry; do not edit.\n     \
         `OLYMPUS_WRITE_DOCS=1 cargo test --lib reference` rewrites it. -->\n\n\
         Every module olympus runs, with the parameters it accepts. A task may name a module \
         short (`copy`) or fully qualified (`ansible.builtin.copy`, `ansible.legacy.copy`). \
         A parameter that is not listed is refused before the run starts, with the task's \
         file and line and the nearest valid name; none is accepted and ignored. Values are \
         read as Ansible reads them: booleans as `yes`/`no`/`true`/`1`..., numbers where text \
         is expected become text, modes as `0644`, `'0644'` or `u=rw,g=r`.\n\n\
         Kinds: **host** modules run one shell script per round trip on the host (query and \
         change together, so `--check` and `--diff` come from the same script); \
         **controller** modules are decided on the controller; **engine** modules change what \
         runs; **parser** modules are resolved when the playbook is read.\n\n",
    );
    s.push_str("| module | kind | what it does |\n| --- | --- | --- |\n");
    for m in MODULES {
        let _ = writeln!(
            s,
            "| [`{n}`](#{n}) | {} | {} |",
            kind(m),
            m.summary,
            n = m.name
        );
    }
    for m in MODULES {
        let _ = write!(s, "\n## {}\n\n{}\n\n", m.name, m.summary);
        let _ = writeln!(s, "Kind: {}. {}", kind(m), free_form(m));
        if m.namespace != "ansible.builtin" {
            let _ = writeln!(
                s,
                "From Ansible's `{ns}` collection: also named `{ns}.{}`.",
                m.name,
                ns = m.namespace
            );
        }
        if !m.routed_from.is_empty() {
            let names: Vec<String> = m.routed_from.iter().map(|r| format!("`{r}`")).collect();
            let _ = writeln!(
                s,
                "Also reached as {} (Ansible routes those names here).",
                names.join(", ")
            );
        }
        s.push('\n');
        if m.params.is_empty() {
            s.push_str("No fixed parameters.\n");
            continue;
        }
        s.push_str("| parameter | aliases | |\n| --- | --- | --- |\n");
        for p in m.params {
            let name = if p.name == "_raw_params" {
                "(free form)".to_string()
            } else {
                format!("`{}`", p.name)
            };
            let aliases: Vec<String> = p.aliases.iter().map(|a| format!("`{a}`")).collect();
            let _ = writeln!(
                s,
                "| {name} | {} | {} |",
                aliases.join(", "),
                p.doc.replace('|', "\\|")
            );
        }
    }
    s.push_str(
        "\n## Not implemented yet\n\nThese `ansible.builtin` modules are refused by name, with the \
         task's file and line, before anything runs:\n\n",
    );
    let names: Vec<String> = NOT_IMPLEMENTED.iter().map(|n| format!("`{n}`")).collect();
    s.push_str(&names.join(", "));
    s.push_str(
        ".\n\nModules from collections (`community.general.x`, ...) are refused the same way.\n",
    );
    s
}

fn kind(m: &Spec) -> &'static str {
    match m.kind {
        Kind::Host => "host",
        Kind::Controller => "controller",
        Kind::Engine(_) => "engine",
        Kind::Parser => "parser",
    }
}

fn free_form(m: &Spec) -> &'static str {
    match m.free_form {
        FreeForm::KeyValue => "A string argument is read as `key=value` pairs.",
        FreeForm::Raw => "A string argument is the whole free-form value.",
        FreeForm::RawUnlessKeyValue => {
            "A string argument is the free-form value, or `key=value` pairs when it holds `=`."
        }
        FreeForm::CommandLine => {
            "A string argument is a command line, kept exactly (multi-line scripts included); `creates=`, `chdir=` and the other option words are taken from its start or end only."
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reference_page_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/modules.md");
        let want = super::markdown();
        if std::env::var_os("OLYMPUS_WRITE_DOCS").is_some() {
            std::fs::write(&path, &want).expect("write docs/modules.md");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/modules.md is stale: run OLYMPUS_WRITE_DOCS=1 cargo test --lib reference"
        );
    }
}
