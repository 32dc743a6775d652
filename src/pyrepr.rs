//! Python's way of showing values (`str()` and `repr()`), which Ansible users see in
//! `--graph --vars` lines and in templates that print lists, dicts, booleans and None.

use std::fmt::Write as _;

use serde_json::Value;

/// How Python's `str()` shows a value: strings bare at the top, `repr()` inside containers
/// (`{'cpu': 2, 'ok': True, 'x': None}`).
pub fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            repr_into(&mut out, other);
            out
        }
    }
}

pub fn repr_into(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => crate::inventory::render::write_number(out, n),
        Value::String(s) => {
            // Python picks double quotes only when the text has ' and no ".
            let q = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            out.push(q);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == q => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        let _ = write!(out, "\\x{:02x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            out.push(q);
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_into(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_into(out, &Value::String(k.clone()));
                out.push_str(": ");
                repr_into(out, item);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_repr_of_nested_values() {
        let v = json!({"cpu": 2, "mem": "4G", "l": [true, null, 1.5, "it's"]});
        assert_eq!(
            str_of(&v),
            "{'cpu': 2, 'mem': '4G', 'l': [True, None, 1.5, \"it's\"]}"
        );
        assert_eq!(str_of(&json!("plain")), "plain");
        assert_eq!(str_of(&json!(false)), "False");
    }
}
