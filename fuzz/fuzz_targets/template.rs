//! Any text as a template, a value and a condition, with variables that are templates and
//! data; never panic, and (the template fuel) never run forever.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use olympus::template::{Templar, TemplateVars};

fuzz_target!(|text: &str| {
    let templar = Templar::new();
    let mut vars = TemplateVars::default();
    vars.insert_authored("x".into(), serde_json::json!("{{ y }}"));
    vars.insert_authored("y".into(), serde_json::json!([1, "two", {"k": null}]));
    vars.insert_data("z".into(), serde_json::json!("{{ x }}"));
    let vars = Arc::new(vars);
    let _ = templar.check_template(text);
    let _ = templar.render(&serde_json::Value::from(text), &vars);
    let _ = templar.condition(&serde_json::Value::from(text), &vars);
});
