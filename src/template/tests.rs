//! Unit tests of Ansible-style templating.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;

fn vars(v: Value) -> Arc<TemplateVars> {
    Arc::new(TemplateVars::new(
        v.as_object().cloned().unwrap_or_default(),
    ))
}

fn r(t: &str, v: Value) -> Value {
    Templar::new()
        .render(&json!(t), &vars(v))
        .unwrap_or_else(|e| panic!("{t}: {e}"))
}

fn err(t: &str, v: Value) -> String {
    Templar::new()
        .render(&json!(t), &vars(v))
        .expect_err("must fail")
        .to_string()
}

#[test]
fn whole_value_templates_keep_native_types() {
    assert_eq!(
        r("{{ ports }}", json!({"ports": [80, 443]})),
        json!([80, 443])
    );
    assert_eq!(r("{{ n + 1 }}", json!({"n": 41})), json!(42));
    assert_eq!(r("{{ flag }}", json!({"flag": true})), json!(true));
    assert_eq!(r("port {{ n }}", json!({"n": 80})), json!("port 80"));
    assert_eq!(r("plain", json!({})), json!("plain"));
}

#[test]
fn python_style_printing() {
    assert_eq!(
        r(
            "x={{ b }} {{ n }} {{ l }}",
            json!({"b": true, "n": null, "l": ["a", 1]})
        ),
        // ansible-core 2.19 writes nothing for None in a larger template.
        json!("x=True  ['a', 1]")
    );
}

#[test]
fn variables_are_templated_lazily_and_loops_are_caught() {
    let v =
        json!({"a": "{{ b }}-x", "b": "{{ c }}", "c": 7, "self": "{{ self }}", "l": ["{{ c }}"]});
    assert_eq!(r("{{ a }}", v.clone()), json!("7-x"));
    assert_eq!(r("{{ l }}", v.clone()), json!([7]));
    assert!(err("{{ self }}", v).contains("recursive"));
}

#[test]
fn undefined_variables_are_errors_unless_defaulted() {
    assert!(err("{{ nope }}", json!({})).contains("undefined"));
    assert_eq!(r("{{ nope | default('d') }}", json!({})), json!("d"));
    assert_eq!(r("{{ nope | d(5) }}", json!({})), json!(5));
    assert_eq!(r("{{ x is defined }}", json!({"x": 1})), json!(true));
}

#[test]
fn conditions_follow_ansible() {
    let t = Templar::new();
    let v = vars(
        json!({"n": 3, "s": "yes", "word": "maybe", "res": {"changed": true, "failed": false}}),
    );
    assert!(t.condition(&json!("n > 2"), &v).unwrap());
    assert!(t.condition(&json!("{{ n > 2 }}"), &v).unwrap());
    assert!(t.condition(&json!(true), &v).unwrap());
    assert!(
        t.condition(&json!(["n > 2", "res is changed"]), &v)
            .unwrap()
    );
    assert!(!t.condition(&json!(["n > 2", "res is failed"]), &v).unwrap());
    assert!(t.condition(&json!("s"), &v).unwrap());
    assert!(t.condition(&json!("s | bool"), &v).unwrap());
    assert!(t.condition(&json!("'no' | bool"), &v).map(|b| !b).unwrap());
    assert!(t.condition(&json!("word"), &v).is_err());
    assert!(t.condition(&json!("undefined_thing"), &v).is_err());
    assert!(
        !t.condition(&json!("undefined_thing is defined"), &v)
            .unwrap()
    );
}

#[test]
fn ansible_filters() {
    let v = json!({"d": {"a": 1, "b": {"x": 1}}, "o": {"b": {"y": 2}}, "l": [[1, 2], [3, [4]]], "s": "web-01.example.com"});
    assert_eq!(
        r("{{ d | combine(o) }}", v.clone()),
        json!({"a": 1, "b": {"y": 2}})
    );
    assert_eq!(
        r("{{ d | combine(o, recursive=true) }}", v.clone()),
        json!({"a": 1, "b": {"x": 1, "y": 2}})
    );
    assert_eq!(r("{{ l | flatten }}", v.clone()), json!([1, 2, 3, 4]));
    assert_eq!(r("{{ l | flatten(1) }}", v.clone()), json!([1, 2, 3, [4]]));
    assert_eq!(
        r("{{ {'a': 1} | dict2items }}", json!({})),
        json!([{"key": "a", "value": 1}])
    );
    assert_eq!(
        r("{{ [{'key': 'a', 'value': 1}] | items2dict }}", json!({})),
        json!({"a": 1})
    );
    assert_eq!(
        r(
            // As written in YAML (one backslash): ansible-core keeps string constants' backslashes.
            "{{ s | regex_replace('^web-(\\d+).*$', 'node\\1') }}",
            v.clone()
        ),
        json!("node01")
    );
    assert_eq!(r("{{ s | regex_search('\\d+') }}", v.clone()), json!("01"));
    assert_eq!(
        r("{{ 'yes' | bool }} {{ 'off' | bool }}", json!({})),
        json!("True False")
    );
    assert_eq!(r("{{ true | ternary('a', 'b') }}", json!({})), json!("a"));
    assert_eq!(r("{{ 'hi' | b64encode }}", json!({})), json!("aGk="));
    assert_eq!(r("{{ 'aGk=' | b64decode }}", json!({})), json!("hi"));
    assert_eq!(
        r("{{ 'abc' | hash('sha1') }}", json!({})),
        json!("a9993e364706816aba3e25717850c26c9cd0d89d")
    );
    // Python's shlex.quote, as ansible-core's quote filter.
    assert_eq!(
        r("{{ \"it's\" | quote }}", json!({})),
        json!("'it'\"'\"'s'")
    );
    assert_eq!(
        r(
            "{{ '/etc/app/x.conf' | basename }} {{ '/etc/app/x.conf' | dirname }}",
            json!({})
        ),
        json!("x.conf /etc/app")
    );
    assert_eq!(
        r("{{ [1,2,3] | union([3,4]) }}", json!({})),
        json!([1, 2, 3, 4])
    );
    assert_eq!(
        r("{{ [1,2,3] | intersect([3,2,9]) }}", json!({})),
        json!([2, 3])
    );
    assert_eq!(
        r("{{ [1,2,3] | difference([2]) }}", json!({})),
        json!([1, 3])
    );
    assert_eq!(
        r("{{ {'b': 1, 'a': [1]} | to_json }}", json!({})),
        json!("{\"b\": 1, \"a\": [1]}"),
        "Python's json.dumps separators, as ansible-core's to_json"
    );
    assert_eq!(
        r("{{ '{\"k\": [1]}' | from_json }}", json!({})),
        json!({"k": [1]})
    );
    assert_eq!(
        r("{{ 'k: [1, yes]' | from_yaml }}", json!({})),
        json!({"k": [1, true]})
    );
    assert!(err("{{ nope | mandatory('set nope!') }}", json!({})).contains("set nope!"));
    assert_eq!(r("{{ 'a,b' .split(',') }}", json!({})), json!(["a", "b"]));
}

#[test]
fn ansible_tests() {
    assert_eq!(
        r("{{ '2.10.1' is version('2.9', '>') }}", json!({})),
        json!(true)
    );
    assert_eq!(
        r("{{ '1.0' is version('1.0.0', 'lt') }}", json!({})),
        json!(true)
    );
    assert_eq!(r("{{ 'web01' is match('web') }}", json!({})), json!(true));
    assert_eq!(r("{{ 'aweb01' is match('web') }}", json!({})), json!(false));
    assert_eq!(r("{{ 'aweb01' is search('web') }}", json!({})), json!(true));
    assert_eq!(
        r(
            "{{ [1] is subset([1,2]) }} {{ [1,2] is superset([2]) }}",
            json!({})
        ),
        json!("True True")
    );
    let v = json!({"res": {"changed": true, "failed": false, "skipped": false}});
    assert_eq!(
        r(
            "{{ res is changed }} {{ res is succeeded }} {{ res is skipped }} {{ res is failed }}",
            v
        ),
        json!("True True False False")
    );
}

#[test]
fn lookups_and_omit() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("f.txt");
    std::fs::write(&f, "content\n").expect("write");
    let fp = f.to_string_lossy().to_string();
    assert_eq!(
        r(&format!("{{{{ lookup('file', '{fp}') }}}}"), json!({})),
        json!("content")
    );
    assert_eq!(r("{{ lookup('pipe', 'echo hi') }}", json!({})), json!("hi"));
    assert_eq!(r("{{ lookup('vars', 'x') }}", json!({"x": 3})), json!(3));
    // FQCNs name the same plugins.
    assert_eq!(
        r("{{ lookup('ansible.builtin.vars', 'x') }}", json!({"x": 3})),
        json!(3)
    );
    assert_eq!(
        r("{{ query('ansible.builtin.pipe', 'echo hi') }}", json!({})),
        json!(["hi"])
    );
    assert_eq!(
        r(
            "{{ lookup('env', 'OLYMPUS_SURELY_UNSET', default='dflt') }}",
            json!({})
        ),
        json!("dflt")
    );
    assert!(err("{{ lookup('redis', 'k') }}", json!({})).contains("not supported"));
    let mut args = r("{{ {'a': 1, 'b': omit} }}", json!({}))
        .as_object()
        .cloned()
        .expect("map");
    strip_omitted(&mut args);
    assert_eq!(Value::Object(args), json!({"a": 1}));
}

#[test]
fn templates_inside_structures_and_keys() {
    let v = json!({"n": "web", "p": 8080});
    let input = json!({"name": "{{ n }}", "ports": ["{{ p }}", 22], "{{ n }}_key": true});
    let out = Templar::new().render(&input, &vars(v)).expect("renders");
    assert_eq!(
        out,
        json!({"name": "web", "ports": [8080, 22], "web_key": true})
    );
}

#[test]
fn hostvars_are_looked_up_lazily() {
    struct Hv;
    impl HostVars for Hv {
        fn get(&self, host: &str) -> Option<TemplateVars> {
            (host == "web1").then(|| {
                let mut v = TemplateVars::new(
                    json!({"port": 8080, "url": "http://web1:{{ port }}"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                );
                v.insert_data("out".into(), json!("{{ port }}"));
                v
            })
        }
        fn names(&self) -> Vec<String> {
            vec!["web1".into()]
        }
    }
    let t = Templar::new().with_hostvars(Arc::new(Hv));
    let v = vars(json!({}));
    assert_eq!(
        t.render(&json!("{{ hostvars['web1'].port }}"), &v).unwrap(),
        json!(8080)
    );
    assert_eq!(
        t.render(&json!("{{ hostvars.web1.url }}"), &v).unwrap(),
        json!("http://web1:8080")
    );
    assert!(t.render(&json!("{{ hostvars['nope'].port }}"), &v).is_err());
}

#[test]
fn each_source_is_compiled_once_and_rendered_per_host() {
    let t = Templar::new();
    let clone = t.clone();
    for (host, port) in [("a", 1), ("b", 2), ("c", 3)] {
        let v = vars(json!({"host": host, "port": port}));
        assert_eq!(t.render(&json!("{{ port }}"), &v).unwrap(), json!(port));
        assert_eq!(
            clone.render_text("{{ host }}:{{ port }}\n", &v).unwrap(),
            format!("{host}:{port}\n")
        );
        assert!(t.condition(&json!("port > 0"), &v).unwrap());
    }
    // Two expressions (`port`, `port > 0`) and one template, shared by the clone.
    assert_eq!(t.compiled.len(), (2, 1));
    // A source that does not compile is reported each time and never cached.
    let v = vars(json!({}));
    assert!(t.render_text("{{ broken", &v).is_err());
    assert!(t.render_text("{{ broken", &v).is_err());
    assert_eq!(t.compiled.len(), (2, 1));
    // Another templar (another run) starts with nothing compiled.
    assert_eq!(Templar::new().compiled.len(), (0, 0));
}

#[test]
fn data_from_hosts_is_never_rendered_as_a_template() {
    // An attacker on a managed host names a file so that rendering it would run a command
    // on the controller; the registered output that carries the name is data.
    let marker = std::env::temp_dir().join(format!("olympus-unsafe-{}", std::process::id()));
    let evil = format!("{{{{ lookup('pipe', 'touch {}') }}}}.log", marker.display());
    let mut v = TemplateVars::new(
        json!({"authored": "{{ out }}", "n": 1})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    v.insert_data("out".into(), json!(evil));
    v.insert_data("nested".into(), json!({"files": [evil], "n": "{{ n }}"}));
    let v = Arc::new(v);
    let t = Templar::new();
    for (tpl, want) in [
        ("{{ out }}", json!(evil)),
        ("{{ authored }}", json!(evil)),
        ("x {{ out }}", json!(format!("x {evil}"))),
        ("{{ nested.files[0] }}", json!(evil)),
        ("{{ nested.n }}", json!("{{ n }}")),
        ("{{ vars['out'] }}", json!(evil)),
    ] {
        assert_eq!(t.render(&json!(tpl), &v).unwrap(), want, "{tpl}");
    }
    assert!(t.condition(&json!("out is string"), &v).unwrap());
    assert!(!marker.exists(), "host data was rendered as a template");
    // An authored value of the same name is a template again.
    let mut w = (*v).clone();
    w.insert_authored("out".into(), json!("{{ n }}"));
    assert_eq!(
        t.render(&json!("{{ out }}"), &Arc::new(w)).unwrap(),
        json!(1)
    );
}

#[test]
fn hostvars_keep_the_data_mark() {
    struct Hv;
    impl HostVars for Hv {
        fn get(&self, _: &str) -> Option<TemplateVars> {
            let mut v = TemplateVars::new(
                json!({"port": 1, "url": "{{ port }}"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            v.insert_data("out".into(), json!("{{ port }}"));
            Some(v)
        }
        fn names(&self) -> Vec<String> {
            vec!["h".into()]
        }
    }
    let t = Templar::new().with_hostvars(Arc::new(Hv));
    let v = vars(json!({}));
    assert_eq!(
        t.render(&json!("{{ hostvars.h.url }}"), &v).unwrap(),
        json!(1)
    );
    assert_eq!(
        t.render(&json!("{{ hostvars.h.out }}"), &v).unwrap(),
        json!("{{ port }}")
    );
}

#[test]
fn unsafe_yaml_text_renders_as_written() {
    for s in [
        "{{ lookup('pipe','id') }}",
        "a }} b {% c \" ' \\ \n\t {# d",
        "{{ '{{' }}",
        "plain",
        "",
    ] {
        let encoded = crate::yaml::unsafe_text(s);
        assert_eq!(r(&encoded, json!({})), json!(s), "{s:?} as {encoded:?}");
    }
}

#[test]
fn fqcn_filters_and_tests() {
    // Ansible content names filters and tests by their FQCN as often as short.
    for (t, want) in [
        (
            "{{ {'a': 1} | ansible.builtin.to_json }}",
            json!("{\"a\": 1}"),
        ),
        (
            "{{ 'a-b' | ansible.builtin.regex_replace('-', '+') }}",
            json!("a+b"),
        ),
        (
            "{{ {'a': 1} | ansible.builtin.dict2items | length }}",
            json!(1),
        ),
        (
            "{{ {'a': 1} | ansible.builtin.combine({'b': 2}) | length }}",
            json!(2),
        ),
        ("{{ 'x' | ansible.builtin.b64encode }}", json!("eA==")),
        ("{{ '/a/b' | ansible.builtin.basename }}", json!("b")),
        ("{{ 'a' is ansible.builtin.match('a') }}", json!(true)),
        (
            "{{ '1.2' is ansible.builtin.version('1.1', '>') }}",
            json!(true),
        ),
    ] {
        assert_eq!(r(t, json!({})), want, "{t}");
    }
}

#[test]
fn flatten_matching_gives_each_kept_name_its_winning_value() {
    let vars = |v: Value| match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let mut deepest = TemplateVars::new(vars(json!({"ansible_port": 1, "ansible_user": "d"})));
    deepest.insert_data("ansible_host".into(), json!("10.0.0.9"));
    let mut middle = TemplateVars::new(vars(json!({"ansible_port": 2, "other": 1})));
    middle.push_below(Arc::new(deepest));
    let mut top = TemplateVars::new(vars(json!({"ansible_user": "top", "x": 0})));
    top.push_below(Arc::new(middle));
    let flat = top.flatten_matching(|k| k.starts_with("ansible_"));
    for name in ["ansible_user", "ansible_port", "ansible_host"] {
        assert_eq!(flat.get(name), top.get(name), "{name}");
    }
    assert_eq!(flat.len(), 3, "{flat:?}");
    assert_eq!(
        flat.keys().collect::<Vec<_>>(),
        top.names()
            .into_iter()
            .filter(|k| k.starts_with("ansible_"))
            .collect::<Vec<_>>()
    );
}
