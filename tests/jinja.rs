//! Jinja as ansible-core renders it: every template in tests/fixtures/jinja/expressions.txt,
//! rendered by olympus with the variables in vars.json, must give what ansible-core 2.19
//! gave (recorded in expected.json by record.py, run with ansible-core from PyPI): the same
//! value — type included — or an error where ansible-core gave one.

use std::path::Path;
use std::sync::Arc;

use olympus::template::{Templar, TemplateVars};
use serde_json::Value;

/// Templates olympus renders differently from ansible-core, each with the reason; the test
/// prints them so that they stay visible, and fails if one starts to agree (then it leaves
/// this list).
const NOT_YET: &[(&str, &str)] = &[];

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jinja")
}

#[test]
fn templates_render_as_ansible_core_renders_them() {
    let vars: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("vars.json")).expect("vars.json"),
    )
    .expect("vars JSON");
    let Value::Object(vars) = vars else {
        panic!("vars.json holds a mapping");
    };
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("expected.json")).expect("expected.json"),
    )
    .expect("expected JSON");
    let cases = expected["cases"].as_array().expect("cases");
    assert!(cases.len() >= 250, "the table has {} cases", cases.len());
    let templar = Templar::new();
    let vars = Arc::new(TemplateVars::new(vars));
    let mut wrong = Vec::new();
    for (t, why) in NOT_YET {
        eprintln!("not yet: {t}: {why}");
    }
    for case in cases {
        let template = case["template"].as_str().expect("template");
        let got = templar.render(&Value::from(template), &vars);
        if NOT_YET.iter().any(|(t, _)| *t == template) {
            let agrees = match (case.get("result"), &got) {
                (Some(want), Ok(got)) => want == got,
                (None, Err(_)) => true,
                _ => false,
            };
            if agrees {
                wrong.push(format!(
                    "{template}\n    now agrees with ansible-core: take it out of NOT_YET"
                ));
            }
            continue;
        }
        match (case.get("result"), got) {
            (Some(want), Ok(got)) if *want == got => {}
            (None, Err(_)) => {}
            (Some(want), Ok(got)) => wrong.push(format!(
                "{template}\n    ansible: {want}\n    olympus: {got}"
            )),
            (Some(want), Err(e)) => wrong.push(format!(
                "{template}\n    ansible: {want}\n    olympus: error: {e}"
            )),
            (None, Ok(got)) => wrong.push(format!(
                "{template}\n    ansible: error ({})\n    olympus: {got}",
                case["error"]
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} templates differ from ansible-core:\n  {}",
        wrong.len(),
        cases.len(),
        wrong.join("\n  ")
    );
}
