//! Ansible's free-form `key=value` module arguments (`copy: src=a dest="b c"`), split the
//! way `ansible.parsing.splitter.parse_kv` does: words separated by spaces, quotes group,
//! `{{ }}` and `{% %}` stay whole, and for `command`/`shell`/`raw`/`script` everything that
//! is not one of their few `key=value` options is the command line (`_raw_params`).

use serde_json::Value;

use crate::yaml::Vars;

/// Splits on spaces outside quotes and outside `{{ }}`, `{% %}`, `{# #}`; quotes are kept.
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if quote.is_none() && c == '{' && matches!(next, Some('{' | '%' | '#')) {
            depth += 1;
            cur.push(c);
            cur.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if quote.is_none() && depth > 0 && matches!(c, '}' | '%' | '#') && next == Some('}') {
            depth -= 1;
            cur.push(c);
            cur.push('}');
            i += 2;
            continue;
        }
        match (c, quote) {
            ('\\', Some(_)) if next.is_some() => {
                cur.push(c);
                if let Some(n) = next {
                    cur.push(n);
                }
                i += 2;
                continue;
            }
            ('"' | '\'', None) if depth == 0 => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        cur.push(c);
        i += 1;
    }
    if quote.is_some() {
        return Err(format!("unbalanced quotes in '{s}'"));
    }
    if depth > 0 {
        return Err(format!("unbalanced jinja2 block or variable in '{s}'"));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Removes one level of matching surrounding quotes and the backslashes that escaped them.
fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        let q = b[0] as char;
        return s[1..s.len() - 1].replace(&format!("\\{q}"), &q.to_string());
    }
    s.to_string()
}

/// Keys that command-like modules take as `key=value` inside their free-form line.
const COMMAND_OPTIONS: [&str; 8] = [
    "creates",
    "removes",
    "chdir",
    "executable",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
    "expand_argument_vars",
];

/// Parses a free-form argument string. With `raw_params` (command-like modules), words that
/// are not one of their options form `_raw_params`; otherwise every word must be `k=v`.
pub fn parse_kv(s: &str, raw_params: bool) -> Result<Vars, String> {
    let mut vars = Vars::new();
    let mut raw: Vec<String> = Vec::new();
    for word in split_args(s)? {
        let kv = word.split_once('=').filter(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        match kv {
            Some((k, v)) if !raw_params || COMMAND_OPTIONS.contains(&k) => {
                vars.insert(k.to_string(), Value::String(unquote(v)));
            }
            _ if raw_params => raw.push(word),
            _ => {
                return Err(format!(
                    "expected key=value, got '{word}' (free-form arguments are only for command-like modules)"
                ));
            }
        }
    }
    if raw_params && !raw.is_empty() {
        vars.insert("_raw_params".into(), Value::String(raw.join(" ")));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splitting_keeps_quotes_and_jinja_whole() {
        assert_eq!(
            split_args("a=1 b='x y' c=\"p q\"").unwrap(),
            ["a=1", "b='x y'", "c=\"p q\""]
        );
        assert_eq!(
            split_args("msg={{ a | default('x y') }} z=1").unwrap(),
            ["msg={{ a | default('x y') }}", "z=1"]
        );
        assert!(split_args("a='x").is_err());
        assert!(split_args("a={{ x").is_err());
    }

    #[test]
    fn key_values() {
        let v = parse_kv("src=a.txt dest='/tmp/b c' mode=0644", false).unwrap();
        assert_eq!(
            Value::Object(v),
            json!({"src": "a.txt", "dest": "/tmp/b c", "mode": "0644"})
        );
        assert!(parse_kv("src=a oops", false).is_err());
    }

    #[test]
    fn command_lines() {
        let v = parse_kv("chdir=/tmp echo 'a b' > out creates=/tmp/out", true).unwrap();
        assert_eq!(
            Value::Object(v),
            json!({"chdir": "/tmp", "creates": "/tmp/out", "_raw_params": "echo 'a b' > out"})
        );
        let v = parse_kv("echo x=1", true).unwrap();
        assert_eq!(Value::Object(v), json!({"_raw_params": "echo x=1"}));
    }
}
