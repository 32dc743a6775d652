//! The playbook keywords olympus reads: where each is valid, what it does, and the Ansible
//! keywords it refuses by name. The parser takes its lists of valid keywords (for "did you
//! mean" and for refusing unknown ones) from here, and docs/keywords.md is written from it
//! (`OLYMPUS_WRITE_DOCS=1 cargo test --lib keywords` rewrites it; a unit test fails when it
//! is stale, and another parses every keyword in every place this table allows it).
//!
//! Owns: the keyword table and the text of docs/keywords.md.
//! Must not: parse anything (the parser in `playbook/mod.rs` does), or describe a keyword
//! the parser does not read.

use std::fmt::Write as _;

/// Where a keyword may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Play,
    Block,
    Task,
    /// Only on handlers (a task in `handlers:`).
    Handler,
    /// An entry of a play's `roles:` list (anything else there is a role parameter).
    Role,
}

impl Place {
    fn label(self) -> &'static str {
        match self {
            Place::Play => "play",
            Place::Block => "block",
            Place::Task => "task",
            Place::Handler => "handler",
            Place::Role => "role entry",
        }
    }
}

pub struct Keyword {
    pub name: &'static str,
    pub places: &'static [Place],
    pub doc: &'static str,
    /// A value the keyword accepts (YAML), used by the test that parses every keyword.
    pub example: &'static str,
}

use Place::{Block, Handler, Play, Role, Task};

/// Keywords of plays, blocks and tasks alike.
const EVERYWHERE: &[Place] = &[Play, Block, Task];

const fn kw(
    name: &'static str,
    places: &'static [Place],
    doc: &'static str,
    example: &'static str,
) -> Keyword {
    Keyword {
        name,
        places,
        doc,
        example,
    }
}

/// Every keyword olympus reads, in the order the page lists them.
pub const KEYWORDS: &[Keyword] = &[
    // Plays, blocks and tasks.
    kw(
        "name",
        EVERYWHERE,
        "What it is called in the output (templated with the play's variables for a play).",
        "thing",
    ),
    kw("vars", EVERYWHERE, "Variables of this scope.", "{a: 1}"),
    kw(
        "tags",
        EVERYWHERE,
        "Tags for `--tags`/`--skip-tags`; `always` and `never` as in Ansible.",
        "[web]",
    ),
    kw(
        "when",
        EVERYWHERE,
        "A condition (or list of conditions, all of which must hold) evaluated per host; with a loop, per item.",
        "x is defined",
    ),
    kw(
        "become",
        EVERYWHERE,
        "Run as another user (`become_user`, root by default) through `become_method`.",
        "true",
    ),
    kw(
        "become_user",
        EVERYWHERE,
        "The user `become` switches to.",
        "postgres",
    ),
    kw("become_method", EVERYWHERE, "`sudo` or `su`.", "sudo"),
    kw(
        "remote_user",
        EVERYWHERE,
        "The user to log in as.",
        "deploy",
    ),
    kw(
        "environment",
        EVERYWHERE,
        "Environment variables for the commands the modules run on the host.",
        "{LANG: C}",
    ),
    kw(
        "no_log",
        EVERYWHERE,
        "Hide results and arguments from output, logs and reports.",
        "true",
    ),
    kw(
        "check_mode",
        EVERYWHERE,
        "`true`: always in check mode; `false`: changes even under `--check`.",
        "false",
    ),
    kw(
        "diff",
        EVERYWHERE,
        "Show or hide the differences a task makes, whatever `--diff` says.",
        "true",
    ),
    kw(
        "ignore_errors",
        EVERYWHERE,
        "A failure is reported and counted as ignored; the host goes on.",
        "true",
    ),
    kw(
        "ignore_unreachable",
        EVERYWHERE,
        "An unreachable host is counted and goes on to the next task.",
        "true",
    ),
    kw(
        "any_errors_fatal",
        EVERYWHERE,
        "Any host failing stops the play for all hosts (after the failing block's `rescue`/`always`).",
        "true",
    ),
    kw(
        "run_once",
        EVERYWHERE,
        "Run on the first host of the batch only; its result is given to every host.",
        "true",
    ),
    kw(
        "delegate_to",
        EVERYWHERE,
        "Run on another inventory host (or `localhost`), with this host's variables.",
        "localhost",
    ),
    kw(
        "timeout",
        EVERYWHERE,
        "Seconds a task may run before it fails.",
        "30",
    ),
    kw(
        "connection",
        EVERYWHERE,
        "`ssh` (also `smart`, `paramiko`) or `local`.",
        "local",
    ),
    kw(
        "module_defaults",
        EVERYWHERE,
        "Default arguments per module name (or `group/...`).",
        "{file: {mode: '0644'}}",
    ),
    // Plays.
    kw(
        "hosts",
        &[Play],
        "A host pattern (`web:&prod:!web3`, `web[0:2]`, `~regex`), templated with extra vars.",
        "all",
    ),
    kw(
        "vars_files",
        &[Play],
        "Files of variables; an entry that is a list takes its first file that exists.",
        "[]",
    ),
    kw(
        "vars_prompt",
        &[Play],
        "Variables asked for on the terminal (refused without one, unless given with `-e`).",
        "[]",
    ),
    kw(
        "gather_facts",
        &[Play],
        "Gather facts first (default `true`; `--gather` and ansible.cfg's `gathering` as in Ansible).",
        "false",
    ),
    kw(
        "serial",
        &[Play],
        "Batches: a number, a percentage or a list of them (the last repeats).",
        "[1, '25%']",
    ),
    kw(
        "max_fail_percentage",
        &[Play],
        "Stop the play when more than this percentage of a batch failed.",
        "0",
    ),
    kw(
        "strategy",
        &[Play],
        "`linear` (every host finishes a task before the next) or `free`; may be templated.",
        "linear",
    ),
    kw(
        "order",
        &[Play],
        "`inventory`, `reverse_inventory`, `sorted`, `reverse_sorted` or `shuffle`.",
        "sorted",
    ),
    kw(
        "force_handlers",
        &[Play],
        "Run notified handlers even on hosts that failed.",
        "true",
    ),
    kw(
        "roles",
        &[Play],
        "Roles to run before `tasks` (see the role entry keywords).",
        "[]",
    ),
    kw(
        "pre_tasks",
        &[Play],
        "Tasks before the roles (their handlers flushed after them).",
        "[]",
    ),
    kw("tasks", &[Play], "The play's tasks.", "[]"),
    kw(
        "post_tasks",
        &[Play],
        "Tasks after `tasks` (their handlers flushed after them).",
        "[]",
    ),
    kw(
        "handlers",
        &[Play],
        "Tasks run once at the end of each section for the hosts that notified them.",
        "[]",
    ),
    // Blocks.
    kw(
        "block",
        &[Block],
        "Tasks run in order; the block's keywords apply to each.",
        "[{debug: {msg: hi}}]",
    ),
    kw(
        "rescue",
        &[Block],
        "Tasks run when a task of `block` failed; the failure is then rescued.",
        "[]",
    ),
    kw(
        "always",
        &[Block],
        "Tasks run after `block` (and `rescue`), whatever happened.",
        "[]",
    ),
    // Tasks.
    kw(
        "action",
        &[Task],
        "The module as a value: `action: copy src=a dest=b` or `{module: copy, ...}`.",
        "ping",
    ),
    kw(
        "local_action",
        &[Task],
        "`action` delegated to `localhost`.",
        "ping",
    ),
    kw(
        "args",
        &[Task],
        "More arguments for the module (merged under the inline ones).",
        "{}",
    ),
    kw(
        "loop",
        &[Task],
        "Run once per item of a list (`item`, or `loop_control.loop_var`).",
        "[1, 2]",
    ),
    kw(
        "loop_control",
        &[Task],
        "`loop_var`, `index_var`, `label`, `pause`, `extended` (`ansible_loop`).",
        "{label: x}",
    ),
    kw(
        "with_items",
        &[Task],
        "A loop over a list, flattened one level.",
        "[1, 2]",
    ),
    kw(
        "with_list",
        &[Task],
        "A loop over a list as it is.",
        "[1, 2]",
    ),
    kw(
        "with_dict",
        &[Task],
        "A loop over a mapping: `item.key`, `item.value`.",
        "{a: 1}",
    ),
    kw(
        "with_fileglob",
        &[Task],
        "A loop over the controller's files matching patterns.",
        "['*.conf']",
    ),
    kw(
        "with_sequence",
        &[Task],
        "A loop over numbers: `start=1 end=5 format=web%02d`.",
        "count=2",
    ),
    kw(
        "with_first_found",
        &[Task],
        "The first file of a list that exists, looked for as Ansible does (the role first).",
        "[a.yml]",
    ),
    kw(
        "with_<lookup>",
        &[Task],
        "A loop over a lookup: `nested`, `cartesian`, `together`, `subelements`, `indexed_items`, `random_choice`, `flattened`, `file`, `env`, `lines`, `password`, `inventory_hostnames`, `ini`, `csvfile`.",
        "[[1], [2]]",
    ),
    kw(
        "register",
        &[Task],
        "Keep the result in a variable of the host (with a loop: `results`).",
        "out",
    ),
    kw(
        "notify",
        &[Task, Block],
        "Handlers (by name or `listen` topic) to run if the task changed something; on a block, for each of its tasks that names none of its own.",
        "[h]",
    ),
    kw(
        "changed_when",
        &[Task],
        "A condition (or list) deciding whether the task changed something.",
        "false",
    ),
    kw(
        "failed_when",
        &[Task],
        "A condition (or list) deciding whether the task failed.",
        "false",
    ),
    kw(
        "until",
        &[Task],
        "Retry the task until this condition holds (`retries`, `delay`).",
        "out is succeeded",
    ),
    kw(
        "retries",
        &[Task],
        "How many times `until` retries (default 3).",
        "3",
    ),
    kw(
        "delay",
        &[Task],
        "Seconds between retries (default 5).",
        "1",
    ),
    kw(
        "async",
        &[Task],
        "Seconds a long task may run in the background on the host.",
        "60",
    ),
    kw(
        "poll",
        &[Task],
        "Seconds between checks on an `async` task (0: start it and go on; `async_status` checks it).",
        "5",
    ),
    // Handlers.
    kw(
        "listen",
        &[Handler],
        "Topics the handler also answers to: notifying a topic runs every handler listening to it.",
        "[restart web]",
    ),
    // Role entries.
    kw(
        "role",
        &[Role],
        "The role's name or path (also written as the entry itself, or `name:`).",
        "r",
    ),
];

/// Ansible keywords olympus does not implement yet: refused by name, with the file and line,
/// before any host is touched.
pub const UNSUPPORTED: &[&str] = &[
    "throttle",
    "debugger",
    "collections",
    "delegate_facts",
    "port",
    "become_exe",
    "become_flags",
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "with_fileglobs",
];

/// The `with_<name>` loops computed from a lookup ([`super::Loop::Lookup`]).
pub const LOOKUP_LOOPS: &[&str] = &[
    "nested",
    "cartesian",
    "together",
    "subelements",
    "indexed_items",
    "random_choice",
    "flattened",
    "file",
    "env",
    "lines",
    "password",
    "inventory_hostnames",
    "ini",
    "csvfile",
];

/// The keywords of plays, blocks and tasks alike (those `apply:` takes).
pub fn common() -> Vec<&'static str> {
    KEYWORDS
        .iter()
        .filter(|k| k.places == EVERYWHERE)
        .map(|k| k.name)
        .collect()
}

/// The keywords valid in `place` (the `with_<lookup>` family spelled out).
pub fn valid_in(place: Place) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = KEYWORDS
        .iter()
        .filter(|k| {
            (k.places.contains(&place) || (place == Handler && k.places.contains(&Task)))
                && k.name != "with_<lookup>"
        })
        .map(|k| k.name)
        .collect();
    if matches!(place, Task | Handler) {
        v.extend(LOOKUP_LOOPS_KEYS);
    }
    v
}

/// `with_` + each of [`LOOKUP_LOOPS`].
const LOOKUP_LOOPS_KEYS: &[&str] = &[
    "with_nested",
    "with_cartesian",
    "with_together",
    "with_subelements",
    "with_indexed_items",
    "with_random_choice",
    "with_flattened",
    "with_file",
    "with_env",
    "with_lines",
    "with_password",
    "with_inventory_hostnames",
    "with_ini",
    "with_csvfile",
];

/// docs/keywords.md, in Markdown.
pub fn markdown() -> String {
    let mut s = String::new();
    s.push_str(
        "# Playbook keywords\n\n\
         <!-- Written by `src/playbook/keywords.rs` from the keyword table; do not edit.\n     \
         `OLYMPUS_WRITE_DOCS=1 cargo test --lib keywords` rewrites it. -->\n\n\
         Every keyword olympus reads in a playbook, and where. A keyword it does not know is \
         refused before the run starts with its file, line and column and the nearest valid \
         name; one of Ansible's it does not implement yet is refused by name (below). Modules \
         and their parameters are in [modules.md](modules.md).\n\n",
    );
    s.push_str(
        "| keyword | play | block | task | what it does |\n| --- | --- | --- | --- | --- |\n",
    );
    for k in KEYWORDS {
        let mark = |p: Place| if k.places.contains(&p) { "✓" } else { "" };
        let mut doc = k.doc.to_string();
        for p in [Handler, Role] {
            if k.places == [p] {
                doc = format!("Only in a {}. {doc}", p.label());
            }
        }
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} |",
            k.name,
            mark(Play),
            mark(Block),
            mark(Task),
            doc
        );
    }
    s.push_str(
        "\nA role entry also takes `name`, `tags`, `when` and `vars`; any other key is a role \
         parameter. `include_role`/`import_role`, `include_tasks`/`import_tasks`, \
         `include_vars`, `set_fact`, `meta` and the other engine actions are modules \
         ([modules.md](modules.md)); `import_playbook` takes `when` and `vars`.\n\n\
         ## Refused: Ansible keywords not implemented yet\n\n",
    );
    let _ = writeln!(
        s,
        "{}.",
        UNSUPPORTED
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_page_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/keywords.md");
        let want = markdown();
        if std::env::var_os("OLYMPUS_WRITE_DOCS").is_some() {
            std::fs::write(&path, &want).expect("write docs/keywords.md");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/keywords.md is stale: run OLYMPUS_WRITE_DOCS=1 cargo test --lib keywords"
        );
    }

    #[test]
    fn lookup_loop_keys_are_the_lookup_loops() {
        let want: Vec<String> = LOOKUP_LOOPS.iter().map(|l| format!("with_{l}")).collect();
        assert_eq!(LOOKUP_LOOPS_KEYS, want);
    }

    /// A playbook using `k` in `place`, with the example value.
    fn playbook(k: &str, example: &str, place: Place) -> String {
        let dbg = "{debug: {msg: hi}}";
        match place {
            Play if k == "hosts" => format!("- hosts: {example}\n  tasks: [{dbg}]\n"),
            Play if k == "tasks" => format!("- hosts: all\n  tasks: {example}\n"),
            Play => format!("- hosts: all\n  {k}: {example}\n  tasks: [{dbg}]\n"),
            Block if k == "block" => format!("- hosts: all\n  tasks:\n    - block: {example}\n"),
            Block => {
                format!("- hosts: all\n  tasks:\n    - block: [{dbg}]\n      {k}: {example}\n")
            }
            Task if matches!(k, "action" | "local_action") => {
                format!("- hosts: all\n  tasks:\n    - {k}: {example}\n")
            }
            Task => {
                format!("- hosts: all\n  tasks:\n    - debug: {{msg: hi}}\n      {k}: {example}\n")
            }
            Handler if k == "name" => format!(
                "- hosts: all\n  tasks: []\n  handlers:\n    - name: {example}\n      debug: {{msg: hi}}\n"
            ),
            Handler if matches!(k, "action" | "local_action") => format!(
                "- hosts: all\n  tasks: []\n  handlers:\n    - name: h\n      {k}: {example}\n"
            ),
            Handler => format!(
                "- hosts: all\n  tasks: []\n  handlers:\n    - name: h\n      debug: {{msg: hi}}\n      {k}: {example}\n"
            ),
            Role if matches!(k, "role" | "name") => {
                format!("- hosts: all\n  roles:\n    - {k}: r\n")
            }
            Role => format!("- hosts: all\n  roles:\n    - role: r\n      {k}: {example}\n"),
        }
    }

    /// Every keyword parses in every place the table gives it, and is refused as "not a
    /// valid ... keyword" where it gives none (so the page says what the parser does).
    #[test]
    fn every_keyword_parses_where_the_table_says() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("roles/r/tasks")).expect("role");
        std::fs::write(
            dir.path().join("roles/r/tasks/main.yml"),
            "- debug: {msg: r}\n",
        )
        .expect("role");
        std::fs::write(dir.path().join("a.yml"), "{}\n").expect("vars file");
        let mut problems = Vec::new();
        for k in KEYWORDS {
            let names: Vec<&str> = if k.name == "with_<lookup>" {
                vec!["with_nested"]
            } else {
                vec![k.name]
            };
            for name in names {
                for place in [Play, Block, Task, Handler, Role] {
                    let text = playbook(name, k.example, place);
                    let path = dir.path().join("site.yml");
                    std::fs::write(&path, &text).expect("write");
                    let got = super::super::load(&path);
                    let allowed = k.places.contains(&place)
                        || (place == Handler && k.places.contains(&Task))
                        || (place == Role && matches!(name, "name" | "tags" | "when" | "vars"));
                    match (allowed, got) {
                        (true, Err(e)) => problems.push(format!(
                            "{name} in a {}: refused: {e}\n{text}",
                            place.label()
                        )),
                        (false, Ok(_)) if place != Role => problems.push(format!(
                            "{name} in a {}: accepted, the table says not\n{text}",
                            place.label()
                        )),
                        _ => {}
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    }

    #[test]
    fn unsupported_keywords_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("site.yml");
        for k in UNSUPPORTED {
            std::fs::write(
                &path,
                format!("- hosts: all\n  tasks:\n    - debug: {{msg: hi}}\n      {k}: 1\n"),
            )
            .expect("write");
            let e = super::super::load(&path).expect_err("refused").to_string();
            assert!(
                e.contains(&format!("keyword '{k}' is not supported")),
                "{k}: {e}"
            );
        }
    }
}
