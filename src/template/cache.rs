//! Compiled templates and expressions, kept so that each distinct source text is compiled
//! once per run and then only rendered, host after host.
//!
//! Owns: the one minijinja environment of the process (filters, tests, syntax — the same for
//! every run) and the per-run maps from source text to compiled form.
//! Must not: hold variables or results; compiled code is independent of any host.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use minijinja::{Environment, Error, Expression, Template};

/// More distinct sources than this in one run (a long-lived process templating generated
/// text) and the maps start over, so memory stays bounded.
const MAX_ENTRIES: usize = 4096;

/// One environment per whitespace setting (Ansible's default first).
static ENVS: [LazyLock<Environment<'static>>; 4] = [
    LazyLock::new(|| super::environment(Whitespace::ANSIBLE)),
    LazyLock::new(|| super::environment(Whitespace::index(1))),
    LazyLock::new(|| super::environment(Whitespace::index(2))),
    LazyLock::new(|| super::environment(Whitespace::index(3))),
];

/// The environment every [`super::Templar`] renders with.
fn env() -> &'static Environment<'static> {
    &ENVS[0]
}

/// How a template's block tags treat the whitespace around them (Jinja's `trim_blocks` and
/// `lstrip_blocks`; Ansible trims and does not strip unless a template says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whitespace {
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
}

impl Whitespace {
    pub const ANSIBLE: Whitespace = Whitespace {
        trim_blocks: true,
        lstrip_blocks: false,
    };

    const fn index(i: usize) -> Whitespace {
        // 0 is Ansible's default; the other three follow.
        match i {
            0 => Whitespace::ANSIBLE,
            1 => Whitespace {
                trim_blocks: true,
                lstrip_blocks: true,
            },
            2 => Whitespace {
                trim_blocks: false,
                lstrip_blocks: false,
            },
            _ => Whitespace {
                trim_blocks: false,
                lstrip_blocks: true,
            },
        }
    }

    fn slot(self) -> usize {
        match (self.trim_blocks, self.lstrip_blocks) {
            (true, false) => 0,
            (true, true) => 1,
            (false, false) => 2,
            (false, true) => 3,
        }
    }
}

impl Default for Whitespace {
    fn default() -> Whitespace {
        Whitespace::ANSIBLE
    }
}

type BorrowedTemplate<'a> = Template<'a, 'a>;

self_cell::self_cell!(
    /// A template compiled from a source it owns.
    struct OwnedTemplate {
        owner: Box<str>,
        #[covariant]
        dependent: BorrowedTemplate,
    }
);

/// The render-local names `__olympus_out` records in: how many expressions printed, and the
/// last one's value.
pub(super) const OUT_COUNT: &str = "__olympus_out_count";
pub(super) const OUT_VALUE: &str = "__olympus_out_value";

/// What a recording template calls for each `{{ }}` (see `Templar`'s native rendering).
pub(super) fn record_out(state: &mut minijinja::State, v: minijinja::Value) -> minijinja::Value {
    let n = state
        .get_temp(OUT_COUNT)
        .and_then(|n| n.as_i64())
        .unwrap_or(0);
    state.set_temp(OUT_COUNT, minijinja::Value::from(n + 1));
    state.set_temp(OUT_VALUE, v.clone());
    v
}

/// A compiled template, ready to render with any context.
pub(super) struct CompiledTemplate(OwnedTemplate);

impl CompiledTemplate {
    /// The first filter or test it uses that the environment does not have.
    pub(super) fn unknown_callable(&self) -> Option<String> {
        unknown_in(self.0.borrow_dependent())
    }

    pub(super) fn render(&self, ctx: minijinja::Value) -> Result<String, Error> {
        self.0.borrow_dependent().render(ctx)
    }

    /// Renders a template whose expressions go through `__olympus_out`: its text, and the
    /// value printed when exactly one expression printed.
    pub(super) fn render_recorded(
        &self,
        ctx: minijinja::Value,
    ) -> Result<(String, Option<minijinja::Value>), Error> {
        let captured = self.0.borrow_dependent().render_captured(ctx)?;
        let state = captured.state();
        let one = (state.get_temp(OUT_COUNT).and_then(|n| n.as_i64()) == Some(1))
            .then(|| state.get_temp(OUT_VALUE))
            .flatten();
        Ok((captured.output().to_string(), one))
    }
}

/// A source compiled with other whitespace settings: the settings' slot and the text.
type SlotKey = (usize, Box<str>);

/// Compiled forms of the sources seen so far in a run; shared by the clones of a templar.
#[derive(Default)]
pub(super) struct Cache {
    expressions: RwLock<HashMap<Box<str>, Arc<Expression<'static, 'static>>>>,
    templates: RwLock<HashMap<Box<str>, Arc<CompiledTemplate>>>,
    /// Templates compiled with other whitespace settings (template files that ask for them).
    other_templates: RwLock<HashMap<SlotKey, Arc<CompiledTemplate>>>,
}

impl Cache {
    /// The compiled form of a bare expression, compiling it the first time it is seen.
    pub(super) fn expression(&self, src: &str) -> Result<Arc<Expression<'static, 'static>>, Error> {
        if let Ok(map) = self.expressions.read()
            && let Some(e) = map.get(src)
        {
            return Ok(e.clone());
        }
        // Python's `%` on strings becomes a filter call (see percent.rs).
        let source = super::percent::rewrite_expression(src).into_owned();
        let compiled = Arc::new(env().compile_expression_owned(source)?);
        if let Ok(mut map) = self.expressions.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(src.into(), compiled.clone());
        }
        Ok(compiled)
    }

    /// The compiled form of a template, compiling it the first time it is seen.
    pub(super) fn template(&self, src: &str) -> Result<Arc<CompiledTemplate>, Error> {
        if let Ok(map) = self.templates.read()
            && let Some(t) = map.get(src)
        {
            return Ok(t.clone());
        }
        let source = super::percent::rewrite_template(src);
        let owned =
            OwnedTemplate::try_new(Box::from(source.as_ref()), |s| env().template_from_str(s))?;
        let compiled = Arc::new(CompiledTemplate(owned));
        if let Ok(mut map) = self.templates.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(src.into(), compiled.clone());
        }
        Ok(compiled)
    }

    /// A template compiled with whitespace settings `ws`.
    pub(super) fn template_with(
        &self,
        src: &str,
        ws: Whitespace,
    ) -> Result<Arc<CompiledTemplate>, Error> {
        let slot = ws.slot();
        if slot == 0 {
            return self.template(src);
        }
        let key = (slot, Box::<str>::from(src));
        if let Ok(map) = self.other_templates.read()
            && let Some(t) = map.get(&key)
        {
            return Ok(t.clone());
        }
        let source = super::percent::rewrite_template(src);
        let owned = OwnedTemplate::try_new(Box::from(source.as_ref()), |s| {
            ENVS[slot].template_from_str(s)
        })?;
        let compiled = Arc::new(CompiledTemplate(owned));
        if let Ok(mut map) = self.other_templates.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, compiled.clone());
        }
        Ok(compiled)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> (usize, usize) {
        (
            self.expressions.read().map(|m| m.len()).unwrap_or(0),
            self.templates.read().map(|m| m.len()).unwrap_or(0),
        )
    }
}

/// The first filter or test `source` (a template) uses that the environment does not have,
/// found before anything renders: minijinja looks a filter up only when it applies it, so
/// a project's own Python filter would otherwise fail its task at run time, after earlier
/// tasks changed hosts. (A bare expression's compiled form does not show its instructions,
/// so it is compiled here as a template; a template is scanned as the cache compiled it.)
pub(super) fn unknown_callable(source: &str) -> Option<String> {
    // As it is compiled to render: Python's `%` rewritten (see percent.rs).
    let source = super::percent::rewrite_template(source);
    let tmpl = env().template_from_str(&source).ok()?;
    unknown_in(&tmpl)
}

fn unknown_in(tmpl: &Template<'_, '_>) -> Option<String> {
    use minijinja::machinery::Instruction;
    let compiled = minijinja::machinery::get_compiled_template(tmpl);
    let lists = std::iter::once(&compiled.instructions).chain(compiled.blocks.values());
    for list in lists {
        let mut i = 0;
        while let Some(ins) = list.get(i) {
            i += 1;
            let (kind, name) = match ins {
                Instruction::ApplyFilter(name, ..) => ("filter", *name),
                Instruction::PerformTest(name, ..) => ("test", *name),
                _ => continue,
            };
            if !known(kind, name) {
                return Some(format!("{kind} '{name}' is unknown to olympus"));
            }
        }
    }
    None
}

/// Whether the environment has the filter or test `name`: asked once per name, by applying
/// it to an undefined value and seeing whether minijinja finds it.
fn known(kind: &str, name: &str) -> bool {
    static SEEN: LazyLock<RwLock<HashMap<String, bool>>> = LazyLock::new(Default::default);
    let key = format!("{kind}:{name}");
    if let Some(k) = SEEN.read().ok().and_then(|m| m.get(&key).copied()) {
        return k;
    }
    let probe = match kind {
        "filter" => format!("{{{{ __olympus_probe | {name} }}}}"),
        _ => format!("{{{{ __olympus_probe is {name} }}}}"),
    };
    let unknown = match env().render_str(&probe, minijinja::context! {}) {
        Err(e) => matches!(
            e.kind(),
            minijinja::ErrorKind::UnknownFilter | minijinja::ErrorKind::UnknownTest
        ),
        Ok(_) => false,
    };
    if let Ok(mut m) = SEEN.write() {
        m.insert(key, !unknown);
    }
    !unknown
}
