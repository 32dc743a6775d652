//! Ansible's free-form `key=value` module arguments (`copy: src=a dest="b c"`), split the
//! way `ansible.parsing.splitter.parse_kv` does: words separated by spaces, quotes group,
//! `{{ }}` and `{% %}` stay whole, and for `command`/`shell`/`raw`/`script` everything that
//! is not one of their few `key=value` options is the command line (`_raw_params`).

use serde_json::Value;

use crate::yaml::Vars;

/// Splits on spaces outside quotes and outside `{{ }}`, `{% %}`, `{# #}`; quotes are kept.
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    Ok(split_spans(s)?
        .into_iter()
        .map(|(a, b)| s[a..b].to_string())
        .collect())
}

/// The words of [`split_args`] as byte ranges of `s`, so a caller can keep the text between
/// words exactly as written.
fn split_spans(s: &str) -> Result<Vec<(usize, usize)>, String> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let next = chars.get(i + 1).map(|&(_, n)| n);
        let opens = quote.is_none() && c == '{' && matches!(next, Some('{' | '%' | '#'));
        let closes =
            quote.is_none() && depth > 0 && matches!(c, '}' | '%' | '#') && next == Some('}');
        if opens || closes {
            start.get_or_insert(at);
            if opens {
                depth += 1;
            } else {
                depth -= 1;
            }
            i += 2;
            continue;
        }
        match (c, quote) {
            ('\\', Some(_)) if next.is_some() => {
                start.get_or_insert(at);
                i += 2;
                continue;
            }
            ('"' | '\'', None) if depth == 0 => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() && depth == 0 => {
                if let Some(a) = start.take() {
                    out.push((a, at));
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        start.get_or_insert(at);
        i += 1;
    }
    if quote.is_some() {
        return Err(format!("unbalanced quotes in '{s}'"));
    }
    if depth > 0 {
        return Err(format!("unbalanced jinja2 block or variable in '{s}'"));
    }
    if let Some(a) = start {
        out.push((a, s.len()));
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

/// `word` as `(key, value)` when it is `key=value` with a plain key.
fn key_value(word: &str) -> Option<(&str, &str)> {
    word.split_once('=')
        .filter(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// Parses a free-form argument string. Without `raw_params` every word must be `k=v`.
/// With `raw_params` (command-like modules) the command line is kept exactly as written —
/// newlines, comments and spacing included — as `_raw_params`; only the module's own
/// `key=value` options standing before it or after it are taken out (`creates=/x` at the end
/// of a line, as Ansible's documentation writes it). An option word in the middle of the
/// command is part of the command.
pub fn parse_kv(s: &str, raw_params: bool) -> Result<Vars, String> {
    let mut vars = Vars::new();
    let spans = split_spans(s)?;
    if !raw_params {
        for (a, b) in spans {
            let word = &s[a..b];
            let Some((k, v)) = key_value(word) else {
                return Err(format!(
                    "expected key=value, got '{word}' (free-form arguments are only for command-like modules)"
                ));
            };
            vars.insert(k.to_string(), Value::String(unquote(v)));
        }
        return Ok(vars);
    }
    let option =
        |&(a, b): &(usize, usize)| key_value(&s[a..b]).filter(|(k, _)| COMMAND_OPTIONS.contains(k));
    let lead = spans.iter().take_while(|w| option(w).is_some()).count();
    let trail = spans[lead..]
        .iter()
        .rev()
        .take_while(|w| option(w).is_some())
        .count();
    let (head, rest) = spans.split_at(lead);
    let (middle, tail) = rest.split_at(rest.len() - trail);
    for w in head.iter().chain(tail) {
        if let Some((k, v)) = option(w) {
            vars.insert(k.to_string(), Value::String(unquote(v)));
        }
    }
    if let (Some(first), Some(last)) = (middle.first(), middle.last()) {
        let mut line = s[first.0..last.1].to_string();
        // A script ending its line keeps that newline (a YAML `|` block), as in Ansible.
        if tail.is_empty() && s[last.1..].contains('\n') {
            line.push('\n');
        }
        vars.insert("_raw_params".into(), Value::String(line));
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

    #[test]
    fn command_lines_keep_their_text_exactly() {
        let script = "# clean up\nrm -rf D/cache\n\nls  D/keep_me   # two spaces kept\n";
        let v = parse_kv(script, true).unwrap();
        assert_eq!(
            v["_raw_params"],
            json!("# clean up\nrm -rf D/cache\n\nls  D/keep_me   # two spaces kept\n"),
            "the final newline of a `|` block stays, as in ansible-core"
        );
        // An option word in the middle of a command belongs to the command.
        let v = parse_kv("chdir=/a echo creates=x\ndone removes=/b", true).unwrap();
        assert_eq!(
            Value::Object(v),
            json!({"chdir": "/a", "removes": "/b", "_raw_params": "echo creates=x\ndone"})
        );
        let v = parse_kv("echo '{{ a }}  b'\n  tab\there", true).unwrap();
        assert_eq!(v["_raw_params"], json!("echo '{{ a }}  b'\n  tab\there"));
    }
}
