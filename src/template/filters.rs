//! Ansible's filters, tests and lookups, on top of minijinja's builtins and pycompat.

use std::path::Path;

use minijinja::value::{Kwargs, Rest, Value as JValue};
use minijinja::{Environment, Error, ErrorKind, State};
use serde_json::Value;

use super::{ansible_bool, from_json, to_json};

fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// A pattern with the `ignorecase` and `multiline` keyword arguments Ansible's regex filters
/// and tests take.
fn regex_kw(pattern: &str, kw: &Kwargs) -> Result<regex::Regex, Error> {
    regex(
        pattern,
        kw_bool(kw, "ignorecase")?,
        kw_bool(kw, "multiline")?,
    )
}

fn regex(pattern: &str, ignorecase: bool, multiline: bool) -> Result<regex::Regex, Error> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| fail(format!("invalid regular expression '{pattern}': {e}")))
}

/// Python replacement syntax (`\1`, `\g<name>`) to the regex crate's (`${1}`, `${name}`).
pub(crate) fn python_replacement(repl: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = repl.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            out.push_str("$$");
        } else if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if n.is_ascii_digit() {
                out.push_str(&format!("${{{n}}}"));
                i += 2;
                continue;
            }
            if n == 'g'
                && chars.get(i + 2) == Some(&'<')
                && let Some(end) = chars[i + 3..].iter().position(|c| *c == '>')
            {
                let name: String = chars[i + 3..i + 3 + end].iter().collect();
                out.push_str(&format!("${{{name}}}"));
                i += 4 + end;
                continue;
            }
            match n {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                '\\' => out.push('\\'),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
            i += 2;
            continue;
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn kw_bool(kw: &Kwargs, name: &str) -> Result<bool, Error> {
    Ok(kw.get::<Option<bool>>(name)?.unwrap_or(false))
}

pub(super) fn json_of(v: &JValue) -> Value {
    to_json(v)
}

/// Deep merge for `combine(recursive=true)`.
fn merge(a: &mut Value, b: &Value, recursive: bool, list_merge: &str) {
    match (a, b) {
        (Value::Object(am), Value::Object(bm)) if recursive => {
            for (k, bv) in bm {
                match am.get_mut(k) {
                    Some(av) if av.is_object() && bv.is_object() => merge(av, bv, true, list_merge),
                    Some(Value::Array(al)) if bv.is_array() && list_merge != "replace" => {
                        let bl = bv.as_array().cloned().unwrap_or_default();
                        match list_merge {
                            "append" => al.extend(bl),
                            "prepend" => {
                                let mut n = bl;
                                n.append(al);
                                *al = n;
                            }
                            "append_rp" => {
                                al.retain(|x| !bl.contains(x));
                                al.extend(bl);
                            }
                            "prepend_rp" => {
                                let mut n = bl.clone();
                                n.extend(al.drain(..).filter(|x| !bl.contains(x)));
                                *al = n;
                            }
                            _ => *al = bl,
                        }
                    }
                    _ => {
                        am.insert(k.clone(), bv.clone());
                    }
                }
            }
        }
        (Value::Object(am), Value::Object(bm)) => {
            for (k, bv) in bm {
                am.insert(k.clone(), bv.clone());
            }
        }
        (a, b) => *a = b.clone(),
    }
}

fn flatten_into(items: &[Value], levels: Option<usize>, out: &mut Vec<Value>) {
    for i in items {
        match i {
            Value::Array(sub) if levels != Some(0) => flatten_into(sub, levels.map(|l| l - 1), out),
            Value::Null => {}
            other => out.push(other.clone()),
        }
    }
}

fn list_of(v: &JValue) -> Vec<Value> {
    match json_of(v) {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn unique(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Compares dotted versions the way `LooseVersion` mostly does: numbers numerically,
/// other parts as text.
fn cmp_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| -> Vec<String> {
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut digit = None;
        for c in s.chars() {
            if c == '.' || c == '-' || c == '_' || c == '+' {
                if !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                }
                digit = None;
                continue;
            }
            let d = c.is_ascii_digit();
            if digit.is_some_and(|p| p != d) && !cur.is_empty() {
                parts.push(std::mem::take(&mut cur));
            }
            digit = Some(d);
            cur.push(c);
        }
        if !cur.is_empty() {
            parts.push(cur);
        }
        parts
    };
    let (pa, pb) = (split(a), split(b));
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (pa.get(i), pb.get(i));
        let ord = match (x, y) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(n), Ok(m)) => n.cmp(&m),
                _ => x.cmp(y),
            },
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    std::cmp::Ordering::Equal
}

fn result_flag(v: &JValue, key: &str) -> bool {
    match json_of(v) {
        Value::Object(m) => m.get(key).is_some_and(ansible_bool),
        _ => false,
    }
}

/// Ansible's `comment` filter: `text` as a comment block in one of its styles, with its
/// `decoration`, `prefix`, `postfix`, `beginning`, `end` and `newline` options.
fn comment(text: String, style: Option<String>, kw: Kwargs) -> Result<String, Error> {
    let style = style.unwrap_or_else(|| "plain".into());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => {
            return Err(fail(format!(
                "Invalid style '{other}'. Available styles: plain, erlang, c, cblock, xml"
            )));
        }
    };
    let text_kw = |k: &str| kw.get::<Option<String>>(k);
    let count_kw = |k: &str| kw.get::<Option<usize>>(k).map(|c| c.unwrap_or(1));
    let decoration = text_kw("decoration")?.unwrap_or_else(|| decoration.to_string());
    let prepost = decoration.trim_end().to_string();
    let newline = text_kw("newline")?.unwrap_or_else(|| "\n".into());
    let beginning = text_kw("beginning")?.unwrap_or_else(|| beginning.to_string());
    let end = text_kw("end")?.unwrap_or_else(|| end.to_string());
    let prefix = text_kw("prefix")?.unwrap_or_else(|| prepost.clone());
    let postfix = text_kw("postfix")?.unwrap_or(prepost);
    let (prefix_count, postfix_count) = (count_kw("prefix_count")?, count_kw("postfix_count")?);
    kw.assert_all_used()?;
    if prefix_count > 1000 || postfix_count > 1000 {
        return Err(fail(
            "comment: prefix_count and postfix_count go up to 1000",
        ));
    }
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        let one = if prefix == newline {
            newline.clone()
        } else {
            format!("{prefix}{newline}")
        };
        out.push_str(&one.repeat(prefix_count));
    }
    let body = format!(
        "{decoration}{}",
        text.replace(&newline, &format!("{newline}{decoration}"))
    )
    .replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    );
    out.push_str(&body);
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(out)
}

/// Python's `json.dumps` text: `", "` and `": "` separators, non-ASCII escaped as `\uXXXX`
/// (ansible-core's `to_json`), keys in their order.
pub(crate) fn python_json(v: &Value) -> String {
    fn string(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&crate::pyrepr::str_of(&Value::Number(n.clone()))),
            Value::String(s) => string(s, out),
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    walk(x, out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push('{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    string(k, out);
                    out.push_str(": ");
                    walk(x, out);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    walk(v, &mut out);
    out
}

/// A value as text, for URL encoding.
fn text_value(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// Python's `urllib.parse.quote` with `safe` left as it is.
fn percent_encode(s: &str, safe: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let c = b as char;
        if c.is_ascii_alphanumeric() || "_.-~".contains(c) || safe.contains(c) {
            out.push(c);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Python's `urllib.parse.unquote` (`+` stays `+`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                (b[i + 1] as char).to_digit(16),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Python's `urllib.parse.urlsplit`, as ansible-core's `urlsplit` filter returns it.
fn url_split(url: &str) -> Value {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r))
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (s.to_ascii_lowercase(), r)
        }
        _ => (String::new(), url),
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (netloc, path) = if scheme.is_empty() {
        ("", rest)
    } else {
        match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        }
    };
    let (userinfo, hostport) = match netloc.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (Value::from(n), Value::from(p)),
            None => (Value::from(u), Value::Null),
        },
        None => (Value::Null, Value::Null),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
            (h, p.parse::<u16>().map_or(Value::Null, Value::from))
        }
        _ => (hostport, Value::Null),
    };
    let hostname = if host.is_empty() {
        Value::Null
    } else {
        Value::from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
        )
    };
    serde_json::json!({
        "fragment": fragment, "hostname": hostname, "netloc": netloc, "password": password,
        "path": path, "port": port, "query": query, "scheme": scheme, "username": username,
    })
}

/// Python's `shlex.quote`.
fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Sets of numbers as ansible-core's set filters return them: Python's set of small
/// non-negative integers iterates in ascending order; anything else keeps first-seen order.
fn set_order(mut items: Vec<Value>) -> Vec<Value> {
    if !items.is_empty() && items.iter().all(|v| v.as_u64().is_some()) {
        items.sort_by_key(|v| v.as_u64().unwrap_or(0));
    }
    items
}

/// Jinja's `truncate`: `length`, `killwords`, `end`, `leeway` (5).
fn truncate(
    s: String,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
    leeway: Option<usize>,
) -> String {
    let length = length.unwrap_or(255);
    let end = end.unwrap_or_else(|| "...".into());
    let leeway = leeway.unwrap_or(5);
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= length + leeway {
        return s;
    }
    let keep: String = chars[..length.saturating_sub(end.chars().count())]
        .iter()
        .collect();
    if killwords.unwrap_or(false) {
        return keep + &end;
    }
    match keep.rsplit_once(' ') {
        Some((head, _)) => format!("{head}{end}"),
        None => keep + &end,
    }
}

/// Python methods minijinja's pycompat lacks (`str.index`, `str.rjust`, `list.index`, ...),
/// then pycompat's own.
pub(super) fn python_methods(
    state: &mut minijinja::State<'_, '_>,
    value: &JValue,
    method: &str,
    args: &[JValue],
) -> Result<JValue, Error> {
    let text = |i: usize| args.get(i).and_then(|a| a.as_str().map(str::to_string));
    let width = |i: usize| args.get(i).and_then(|a| usize::try_from(a.clone()).ok());
    if let Some(s) = value.as_str() {
        let pad = |w: usize, right: bool| -> Result<JValue, Error> {
            let fill = text(1).and_then(|f| f.chars().next()).unwrap_or(' ');
            let n = w.saturating_sub(s.chars().count()).min(1 << 20);
            let p: String = std::iter::repeat_n(fill, n).collect();
            Ok(JValue::from(if right {
                format!("{p}{s}")
            } else {
                format!("{s}{p}")
            }))
        };
        match (method, args.len()) {
            ("index" | "find" | "rindex" | "rfind", 1) => {
                let needle = text(0).ok_or_else(|| fail("index needs a string"))?;
                let at = if method.starts_with('r') {
                    s.rfind(&needle)
                } else {
                    s.find(&needle)
                };
                return match at {
                    Some(b) => Ok(JValue::from(s[..b].chars().count())),
                    None if method.ends_with("find") => Ok(JValue::from(-1)),
                    None => Err(fail("substring not found")),
                };
            }
            ("rjust", 1 | 2) => return pad(width(0).unwrap_or(0), true),
            ("ljust", 1 | 2) => return pad(width(0).unwrap_or(0), false),
            ("zfill", 1) => {
                let w = width(0).unwrap_or(0);
                let n = w.saturating_sub(s.chars().count()).min(1 << 20);
                let (sign, digits) = match s.strip_prefix(['-', '+']) {
                    Some(rest) => (&s[..1], rest),
                    None => ("", s),
                };
                return Ok(JValue::from(format!("{sign}{}{digits}", "0".repeat(n))));
            }
            _ => {}
        }
    }
    if method == "index"
        && args.len() == 1
        && let Value::Array(items) = json_of(value)
    {
        let want = json_of(&args[0]);
        return items
            .iter()
            .position(|x| *x == want)
            .map(JValue::from)
            .ok_or_else(|| fail("value is not in list"));
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// Registers a filter under its name and under ansible-core's FQCN for it
/// (`ansible.builtin.to_json`), as Ansible content writes either.
macro_rules! ansible_filter {
    ($env:expr, $name:literal, $f:expr $(,)?) => {{
        let f = $f;
        $env.add_filter(concat!("ansible.builtin.", $name), f.clone());
        $env.add_filter($name, f);
    }};
}

/// Registers a test under its name and its FQCN (`ansible.builtin.version`).
macro_rules! ansible_test {
    ($env:expr, $name:literal, $f:expr $(,)?) => {{
        let f = $f;
        $env.add_test(concat!("ansible.builtin.", $name), f.clone());
        $env.add_test($name, f);
    }};
}

pub(super) fn register(env: &mut Environment<'static>) {
    // Python's `%` on strings, which percent.rs rewrites templates to call.
    env.add_filter("__pymod", super::percent::pymod);
    env.add_filter("__pymod1", super::percent::pymod1);
    // Records what each `{{ }}` of a template with statements printed (native rendering).
    env.add_function("__olympus_out", super::cache::record_out);
    // Python's dict(): a mapping, or a list of key/value pairs, plus keyword arguments.
    env.add_function(
        "dict",
        |args: Rest<JValue>, kw: Kwargs| -> Result<JValue, Error> {
            let mut out = serde_json::Map::new();
            if args.len() > 1 {
                return Err(fail("dict expected at most 1 argument"));
            }
            if let Some(a) = args.first() {
                match json_of(a) {
                    Value::Object(m) => out.extend(m),
                    Value::Array(pairs) => {
                        for p in pairs {
                            let Value::Array(kv) = p else {
                                return Err(fail("dict: each item must be a [key, value] pair"));
                            };
                            let [k, v] = kv.as_slice() else {
                                return Err(fail("dict: each item must be a [key, value] pair"));
                            };
                            let key = k
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| k.to_string());
                            out.insert(key, v.clone());
                        }
                    }
                    Value::Null => {}
                    other => {
                        return Err(fail(format!("dict: cannot make a dictionary of {other}")));
                    }
                }
            }
            for k in kw.args() {
                let v: JValue = kw.get(k)?;
                out.insert(k.to_string(), json_of(&v));
            }
            Ok(from_json(&Value::Object(out)))
        },
    );
    ansible_filter!(env, "comment", comment);
    // Jinja's int/float as ansible-core has them: a value that is not a number gives the
    // default (0), `base` for text.
    ansible_filter!(env, "int", |v: JValue,
                                 default: Option<JValue>,
                                 kw: Kwargs|
     -> Result<JValue, Error> {
        let base: Option<u32> = kw.get("base")?;
        let default_kw: Option<JValue> = kw.get("default")?;
        kw.assert_all_used()?;
        let dflt = default.or(default_kw).unwrap_or(JValue::from(0));
        let j = json_of(&v);
        Ok(match &j {
            Value::Number(n) => n
                .as_i64()
                .map(JValue::from)
                .or_else(|| n.as_f64().map(|f| JValue::from(f.trunc() as i64)))
                .unwrap_or(dflt),
            Value::Bool(b) => JValue::from(i64::from(*b)),
            Value::String(t) => {
                let t = t.trim();
                let parsed = match base {
                    Some(b) if (2..=36).contains(&b) => {
                        let digits = match b {
                            16 => t.trim_start_matches("0x").trim_start_matches("0X"),
                            8 => t.trim_start_matches("0o"),
                            2 => t.trim_start_matches("0b"),
                            _ => t,
                        };
                        i64::from_str_radix(digits, b).ok()
                    }
                    _ => t.parse::<i64>().ok().or_else(|| {
                        t.parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite())
                            .map(|f| f.trunc() as i64)
                    }),
                };
                parsed.map(JValue::from).unwrap_or(dflt)
            }
            _ => dflt,
        })
    },);
    ansible_filter!(env, "float", |v: JValue,
                                   default: Option<JValue>|
     -> JValue {
        let dflt = default.unwrap_or(JValue::from(0.0));
        match json_of(&v) {
            Value::Number(n) => n.as_f64().map(JValue::from).unwrap_or(dflt),
            Value::Bool(b) => JValue::from(if b { 1.0 } else { 0.0 }),
            Value::String(t) => t.trim().parse::<f64>().map(JValue::from).unwrap_or(dflt),
            _ => dflt,
        }
    });
    ansible_filter!(env, "round", |v: JValue,
                                   precision: Option<i32>,
                                   method: Option<String>|
     -> Result<f64, Error> {
        let x = json_of(&v)
            .as_f64()
            .ok_or_else(|| fail("round needs a number"))?;
        let p = precision.unwrap_or(0).clamp(-15, 15);
        let scale = 10f64.powi(p);
        let y = x * scale;
        let r = match method.as_deref().unwrap_or("common") {
            "common" => {
                // Python's round-half-even at the last digit, as Jinja's `round` uses.
                let f = y.floor();
                let diff = y - f;
                if (diff - 0.5).abs() < 1e-9 {
                    if f % 2.0 == 0.0 { f } else { f + 1.0 }
                } else {
                    y.round()
                }
            }
            "floor" => y.floor(),
            "ceil" => y.ceil(),
            other => {
                return Err(fail(format!(
                    "round: method must be common, ceil or floor, not '{other}'"
                )));
            }
        };
        Ok(r / scale)
    },);
    ansible_filter!(env, "wordcount", |s: String| s.split_whitespace().count());
    ansible_filter!(env, "urlsplit", |s: String,
                                      part: Option<String>|
     -> Result<JValue, Error> {
        let parts = url_split(&s);
        match part {
            None => Ok(from_json(&parts)),
            Some(p) => parts
                .get(&p)
                .map(from_json)
                .ok_or_else(|| fail(format!("urlsplit: unknown URL component '{p}'"))),
        }
    },);
    ansible_filter!(env, "urldecode", |s: String| percent_decode(&s));
    ansible_filter!(env, "urlencode", |v: JValue| match json_of(&v) {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    percent_encode(k, ""),
                    percent_encode(&text_value(v), "")
                )
            })
            .collect::<Vec<_>>()
            .join("&"),
        other => percent_encode(&text_value(&other), "/"),
    });
    ansible_filter!(env, "expanduser", |s: String| match s.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!(
            "{}{rest}",
            crate::connection::ssh_config::home_dir().display()
        ),
        _ => s,
    });
    // `random` and `shuffle` draw as Python's random.Random(seed) does, so a seeded
    // result (`59 | random(seed=inventory_hostname)`) is the one ansible-core gives.
    ansible_filter!(env, "random", |v: JValue,
                                    start: Option<i64>,
                                    step: Option<i64>,
                                    kw: Kwargs|
     -> Result<JValue, Error> {
        let seed: Option<JValue> = kw.get("seed")?;
        let start = kw.get::<Option<i64>>("start")?.or(start).unwrap_or(0);
        let step = kw.get::<Option<i64>>("step")?.or(step).unwrap_or(1);
        kw.assert_all_used()?;
        let mut r = match &seed {
            Some(s) if !s.is_none() => super::pyrandom::PyRandom::seeded(&json_of(s)),
            _ => super::pyrandom::PyRandom::unseeded(),
        };
        match json_of(&v) {
            Value::Number(n) => {
                let end = n.as_i64().ok_or_else(|| fail("random needs an integer"))?;
                if step <= 0 {
                    return Err(fail("random: step must be positive"));
                }
                // randrange(start, end, step)
                let width = end - start;
                let count = (width + step - 1) / step;
                if count <= 0 {
                    return Err(fail(format!(
                        "random: empty range ({start}, {end}, {step})"
                    )));
                }
                let pick = if step == 1 {
                    r.below(width as u64) as i64
                } else {
                    step * r.below(count as u64) as i64
                };
                Ok(JValue::from(start + pick))
            }
            Value::Array(a) if !a.is_empty() => Ok(from_json(&a[r.below(a.len() as u64) as usize])),
            Value::String(s) if !s.is_empty() => {
                let chars: Vec<char> = s.chars().collect();
                Ok(JValue::from(
                    chars[r.below(chars.len() as u64) as usize].to_string(),
                ))
            }
            _ => Err(fail("random needs a list or a number")),
        }
    },);
    ansible_filter!(env, "shuffle", |v: JValue,
                                     kw: Kwargs|
     -> Result<JValue, Error> {
        let seed: Option<JValue> = kw.get("seed")?;
        kw.assert_all_used()?;
        let mut items = match json_of(&v) {
            Value::Array(a) => a,
            Value::String(s) => s.chars().map(|c| Value::from(c.to_string())).collect(),
            other => return Ok(from_json(&other)),
        };
        let mut r = match &seed {
            Some(s) if !s.is_none() && s.is_true() => {
                super::pyrandom::PyRandom::seeded(&json_of(s))
            }
            _ => super::pyrandom::PyRandom::unseeded(),
        };
        r.shuffle(&mut items);
        Ok(from_json(&Value::Array(items)))
    },);
    ansible_filter!(env, "center", |s: String, width: Option<usize>| {
        let width = width.unwrap_or(80);
        let len = s.chars().count();
        if len >= width {
            return s;
        }
        // Python's str.center: the odd space goes to the right when the text is even.
        let total = width - len;
        let left = total / 2 + (total & len & 1);
        format!("{}{s}{}", " ".repeat(left), " ".repeat(total - left))
    });
    ansible_filter!(env, "truncate", truncate);
    ansible_filter!(env, "splitext", |s: String| {
        let name_start = s.rfind('/').map_or(0, |i| i + 1);
        let name = &s[name_start..];
        let dot = name
            .rfind('.')
            .filter(|&i| name[..i].chars().any(|c| c != '.'));
        match dot {
            Some(i) => vec![s[..name_start + i].to_string(), name[i..].to_string()],
            None => vec![s.clone(), String::new()],
        }
    });
    ansible_filter!(env, "bool", |v: JValue| ansible_bool(&json_of(&v)));
    ansible_filter!(env, "d", minijinja::filters::default);
    ansible_filter!(env, "to_json", |v: JValue| python_json(&json_of(&v)));
    ansible_filter!(env, "to_nice_json", |v: JValue,
                                          kw: Kwargs|
     -> Result<String, Error> {
        let indent: usize = kw.get::<Option<usize>>("indent")?.unwrap_or(4);
        kw.assert_all_used()?;
        let sorted = crate::inventory::render::to_python_json(&json_of(&v));
        Ok(if indent == 4 {
            sorted
        } else {
            sorted.replace("    ", &" ".repeat(indent))
        })
    },);
    ansible_filter!(env, "from_json", |s: String| -> Result<JValue, Error> {
        serde_json::from_str::<Value>(&s)
            .map(|v| from_json(&v))
            .map_err(|e| fail(format!("from_json: {e}")))
    });
    ansible_filter!(env, "from_yaml", |s: String| -> Result<JValue, Error> {
        crate::yaml::parse_str(&s, Path::new("<from_yaml>"))
            .map(|n| from_json(&n.to_value()))
            .map_err(|e| fail(e.to_string()))
    });
    let to_yaml = |v: JValue| -> Result<String, Error> {
        serde_saphyr::to_string(&json_of(&v)).map_err(|e| fail(format!("to_yaml: {e}")))
    };
    ansible_filter!(env, "to_yaml", to_yaml);
    ansible_filter!(env, "to_nice_yaml", to_yaml);
    ansible_filter!(env, "mandatory", |v: JValue,
                                       msg: Option<String>|
     -> Result<JValue, Error> {
        if v.is_undefined() {
            return Err(fail(
                msg.unwrap_or_else(|| "mandatory variable is not defined".into()),
            ));
        }
        Ok(v)
    },);
    ansible_filter!(
        env,
        "ternary",
        |v: JValue, t: JValue, f: JValue, none: Option<JValue>| {
            if v.is_none()
                && let Some(n) = none
            {
                return n;
            }
            if v.is_true() { t } else { f }
        },
    );
    ansible_filter!(env, "regex_replace", |s: String,
                                           pat: String,
                                           repl: Option<String>,
                                           kw: Kwargs|
     -> Result<String, Error> {
        let re = regex_kw(&pat, &kw)?;
        let count: usize = kw.get::<Option<usize>>("count")?.unwrap_or(0);
        kw.assert_all_used()?;
        let r = python_replacement(&repl.unwrap_or_default());
        Ok(re.replacen(&s, count, r.as_str()).into_owned())
    },);
    ansible_filter!(env, "regex_search", |s: String,
                                          pat: String,
                                          kw: Kwargs|
     -> Result<JValue, Error> {
        let re = regex_kw(&pat, &kw)?;
        kw.assert_all_used()?;
        Ok(re
            .find(&s)
            .map(|m| JValue::from(m.as_str()))
            .unwrap_or(JValue::from(())))
    },);
    ansible_filter!(env, "regex_findall", |s: String,
                                           pat: String,
                                           kw: Kwargs|
     -> Result<JValue, Error> {
        let re = regex_kw(&pat, &kw)?;
        kw.assert_all_used()?;
        let found: Vec<String> = re
            .captures_iter(&s)
            .map(|c| {
                c.get(1)
                    .or_else(|| c.get(0))
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default()
            })
            .collect();
        Ok(JValue::from(found))
    },);
    ansible_filter!(env, "regex_escape", |s: String| regex::escape(&s));
    ansible_filter!(env, "combine", |base: JValue,
                                     others: Rest<JValue>,
                                     kw: Kwargs|
     -> Result<JValue, Error> {
        let recursive = kw_bool(&kw, "recursive")?;
        let list_merge: String = kw
            .get::<Option<String>>("list_merge")?
            .unwrap_or_else(|| "replace".into());
        kw.assert_all_used()?;
        let mut acc = json_of(&base);
        let mut layers = Vec::new();
        for o in others.iter() {
            match json_of(o) {
                Value::Array(items) => layers.extend(items),
                other => layers.push(other),
            }
        }
        for l in layers {
            if !l.is_object() {
                return Err(fail("combine expects dictionaries"));
            }
            merge(&mut acc, &l, recursive, &list_merge);
        }
        Ok(from_json(&acc))
    },);
    ansible_filter!(env, "dict2items", |v: JValue,
                                        kw: Kwargs|
     -> Result<JValue, Error> {
        let kn: String = kw
            .get::<Option<String>>("key_name")?
            .unwrap_or_else(|| "key".into());
        let vn: String = kw
            .get::<Option<String>>("value_name")?
            .unwrap_or_else(|| "value".into());
        kw.assert_all_used()?;
        let Value::Object(m) = json_of(&v) else {
            return Err(fail("dict2items requires a dictionary"));
        };
        let items: Vec<Value> = m
            .into_iter()
            .map(|(k, v)| {
                let mut o = serde_json::Map::new();
                o.insert(kn.clone(), Value::String(k));
                o.insert(vn.clone(), v);
                Value::Object(o)
            })
            .collect();
        Ok(from_json(&Value::Array(items)))
    },);
    // ansible-core's `subelements` filter: each element with each item of the list at the
    // dotted path; unlike the lookup, the element keeps that key.
    ansible_filter!(env, "subelements", |obj: JValue,
                                         path: JValue,
                                         skip: Option<bool>,
                                         kw: Kwargs|
     -> Result<JValue, Error> {
        let skip_missing = match kw.get::<Option<bool>>("skip_missing")? {
            Some(b) => b,
            None => skip.unwrap_or(false),
        };
        kw.assert_all_used()?;
        let elements = match json_of(&obj) {
            Value::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
            Value::Array(a) => a,
            _ => return Err(fail("obj must be a list of dicts or a nested dict")),
        };
        let keys: Vec<String> = match json_of(&path) {
            Value::String(s) => s.split('.').map(str::to_string).collect(),
            Value::Array(a) => a.iter().map(crate::pyrepr::str_of).collect(),
            _ => return Err(fail("subelements must be a list or a string")),
        };
        let repr = |v: &Value| {
            let mut s = String::new();
            crate::pyrepr::repr_into(&mut s, v);
            s
        };
        let mut out = Vec::new();
        for element in elements {
            let mut values = element.clone();
            let mut last = String::new();
            for k in &keys {
                last = k.clone();
                values = match &values {
                    Value::Object(m) => match m.get(k) {
                        Some(v) => v.clone(),
                        None if skip_missing => {
                            values = Value::Array(Vec::new());
                            break;
                        }
                        None => {
                            return Err(fail(format!(
                                "could not find {} key in iterated item {}",
                                repr(&Value::String(k.clone())),
                                repr(&values)
                            )));
                        }
                    },
                    other => {
                        return Err(fail(format!(
                            "the key {k} should point to a dictionary, got '{}'",
                            crate::pyrepr::str_of(other)
                        )));
                    }
                };
            }
            let Value::Array(items) = values else {
                return Err(fail(format!(
                    "the key {} should point to a list, got {}",
                    repr(&Value::String(last)),
                    repr(&values)
                )));
            };
            for v in items {
                out.push(Value::Array(vec![element.clone(), v]));
            }
        }
        Ok(from_json(&Value::Array(out)))
    },);
    ansible_filter!(env, "items2dict", |v: JValue,
                                        kw: Kwargs|
     -> Result<JValue, Error> {
        // Names, or indexes into list items (`key_name=0, value_name=1`).
        let name = |k: &str, dflt: &str| -> Result<Value, Error> {
            Ok(kw
                .get::<Option<JValue>>(k)?
                .map(|v| json_of(&v))
                .unwrap_or_else(|| Value::from(dflt)))
        };
        let (kn, vn) = (name("key_name", "key")?, name("value_name", "value")?);
        kw.assert_all_used()?;
        let field = |item: &Value, key: &Value| -> Option<Value> {
            match (item, key) {
                (Value::Object(m), Value::String(k)) => m.get(k).cloned(),
                (Value::Array(a), Value::Number(i)) => {
                    i.as_u64().and_then(|i| a.get(i as usize)).cloned()
                }
                _ => None,
            }
        };
        let mut out = serde_json::Map::new();
        for item in list_of(&v) {
            let (Some(k), Some(val)) = (field(&item, &kn), field(&item, &vn)) else {
                return Err(fail(format!(
                    "items2dict: each item needs '{kn}' and '{vn}'"
                )));
            };
            let key = k
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| k.to_string());
            out.insert(key, val.clone());
        }
        Ok(from_json(&Value::Object(out)))
    },);
    ansible_filter!(env, "flatten", |v: JValue,
                                     levels: Option<usize>,
                                     kw: Kwargs|
     -> Result<JValue, Error> {
        let levels = match kw.get::<Option<usize>>("levels")? {
            Some(l) => Some(l),
            None => levels,
        };
        kw.assert_all_used()?;
        let mut out = Vec::new();
        match json_of(&v) {
            Value::Array(items) => flatten_into(&items, levels, &mut out),
            other => out.push(other),
        }
        Ok(from_json(&Value::Array(out)))
    },);
    ansible_filter!(env, "b64encode", |s: String| {
        data_encoding::BASE64.encode(s.as_bytes())
    });
    ansible_filter!(env, "b64decode", |s: String| -> Result<String, Error> {
        let bytes = data_encoding::BASE64
            .decode(s.trim().as_bytes())
            .map_err(|e| fail(format!("b64decode: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    });
    ansible_filter!(env, "password_hash", super::password::password_hash);
    ansible_filter!(env, "hash", |s: String,
                                  alg: Option<String>|
     -> Result<String, Error> {
        let alg = match alg.as_deref().unwrap_or("sha1") {
            "md5" => {
                use md5::Digest as _;
                return Ok(data_encoding::HEXLOWER.encode(&md5::Md5::digest(s.as_bytes())));
            }
            "sha1" => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            "sha256" => &ring::digest::SHA256,
            "sha384" => &ring::digest::SHA384,
            "sha512" => &ring::digest::SHA512,
            other => {
                return Err(fail(format!(
                    "hash: unsupported algorithm '{other}' (md5, sha1, sha256, sha384, sha512)"
                )));
            }
        };
        Ok(data_encoding::HEXLOWER.encode(ring::digest::digest(alg, s.as_bytes()).as_ref()))
    },);
    ansible_filter!(env, "checksum", |s: String| {
        data_encoding::HEXLOWER.encode(
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, s.as_bytes()).as_ref(),
        )
    });
    ansible_filter!(env, "quote", |s: JValue| shell_quote(&s.to_string()));
    ansible_filter!(env, "basename", |s: String| {
        Path::new(&s)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    ansible_filter!(env, "dirname", |s: String| match s.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => s[..i].to_string(),
        None => String::new(),
    });
    ansible_filter!(env, "union", |a: JValue, b: JValue| {
        let mut v = list_of(&a);
        v.extend(list_of(&b));
        from_json(&Value::Array(set_order(unique(v))))
    });
    ansible_filter!(env, "intersect", |a: JValue, b: JValue| {
        let bl = list_of(&b);
        from_json(&Value::Array(set_order(unique(
            list_of(&a).into_iter().filter(|x| bl.contains(x)).collect(),
        ))))
    });
    ansible_filter!(env, "difference", |a: JValue, b: JValue| {
        let bl = list_of(&b);
        from_json(&Value::Array(set_order(unique(
            list_of(&a)
                .into_iter()
                .filter(|x| !bl.contains(x))
                .collect(),
        ))))
    });
    ansible_filter!(env, "symmetric_difference", |a: JValue, b: JValue| {
        let (al, bl) = (list_of(&a), list_of(&b));
        let mut out: Vec<Value> = al.iter().filter(|x| !bl.contains(x)).cloned().collect();
        out.extend(bl.iter().filter(|x| !al.contains(x)).cloned());
        from_json(&Value::Array(set_order(unique(out))))
    });
    ansible_filter!(env, "type_debug", |v: JValue| {
        match json_of(&v) {
            Value::Null => "NoneType",
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_f64() => "float",
            Value::Number(_) => "int",
            Value::String(_) => "str",
            Value::Array(_) => "list",
            Value::Object(_) => "dict",
        }
        .to_string()
    });

    // Tests.
    ansible_test!(env, "version", |a: String,
                                   b: String,
                                   op: Option<String>|
     -> Result<bool, Error> {
        use std::cmp::Ordering::*;
        let o = cmp_versions(&a, &b);
        Ok(match op.as_deref().unwrap_or("eq") {
            "eq" | "==" | "=" => o == Equal,
            "ne" | "!=" | "<>" => o != Equal,
            "lt" | "<" => o == Less,
            "le" | "<=" => o != Greater,
            "gt" | ">" => o == Greater,
            "ge" | ">=" => o != Less,
            other => return Err(fail(format!("version test: unknown operator '{other}'"))),
        })
    },);
    ansible_test!(
        env,
        "version_compare",
        |a: String, b: String, op: Option<String>| {
            use std::cmp::Ordering::*;
            let o = cmp_versions(&a, &b);
            match op.as_deref().unwrap_or("eq") {
                "lt" | "<" => o == Less,
                "le" | "<=" => o != Greater,
                "gt" | ">" => o == Greater,
                "ge" | ">=" => o != Less,
                "ne" | "!=" => o != Equal,
                _ => o == Equal,
            }
        },
    );
    ansible_test!(env, "match", |s: String,
                                 pat: String,
                                 kw: Kwargs|
     -> Result<bool, Error> {
        let re = regex_kw(&format!("^(?:{pat})"), &kw)?;
        kw.assert_all_used()?;
        Ok(re.is_match(&s))
    },);
    ansible_test!(env, "search", |s: String,
                                  pat: String,
                                  kw: Kwargs|
     -> Result<bool, Error> {
        let re = regex_kw(&pat, &kw)?;
        kw.assert_all_used()?;
        Ok(re.is_match(&s))
    },);
    ansible_test!(env, "regex", |s: String,
                                 pat: String|
     -> Result<bool, Error> {
        Ok(regex(&pat, false, false)?.is_match(&s))
    });
    ansible_test!(env, "failed", |v: JValue| result_flag(&v, "failed"));
    ansible_test!(env, "failure", |v: JValue| result_flag(&v, "failed"));
    ansible_test!(env, "succeeded", |v: JValue| !result_flag(&v, "failed"));
    ansible_test!(env, "success", |v: JValue| !result_flag(&v, "failed"));
    ansible_test!(env, "successful", |v: JValue| !result_flag(&v, "failed"));
    ansible_test!(env, "changed", |v: JValue| result_flag(&v, "changed"));
    ansible_test!(env, "change", |v: JValue| result_flag(&v, "changed"));
    ansible_test!(env, "skipped", |v: JValue| result_flag(&v, "skipped"));
    ansible_test!(env, "skip", |v: JValue| result_flag(&v, "skipped"));
    ansible_test!(env, "unreachable", |v: JValue| result_flag(
        &v,
        "unreachable"
    ));
    ansible_test!(env, "subset", |a: JValue, b: JValue| {
        let bl = list_of(&b);
        list_of(&a).iter().all(|x| bl.contains(x))
    });
    ansible_test!(env, "superset", |a: JValue, b: JValue| {
        let al = list_of(&a);
        list_of(&b).iter().all(|x| al.contains(x))
    });
    ansible_test!(env, "issubset", |a: JValue, b: JValue| {
        let bl = list_of(&b);
        list_of(&a).iter().all(|x| bl.contains(x))
    });
    ansible_test!(env, "issuperset", |a: JValue, b: JValue| {
        let al = list_of(&a);
        list_of(&b).iter().all(|x| al.contains(x))
    });
    ansible_test!(env, "contains", |a: JValue, b: JValue| {
        list_of(&a).contains(&json_of(&b))
    });
    ansible_test!(env, "truthy", |v: JValue| v.is_true());
    ansible_test!(env, "falsy", |v: JValue| !v.is_true());
    ansible_test!(env, "exists", |p: String| Path::new(&p).exists());
    ansible_test!(env, "file", |p: String| Path::new(&p).is_file());
    ansible_test!(env, "directory", |p: String| Path::new(&p).is_dir());
    ansible_test!(env, "link", |p: String| Path::new(&p).is_symlink());
    ansible_test!(env, "abs", |p: String| Path::new(&p).is_absolute());
    // The `is_*` spellings ansible-core keeps for these tests.
    ansible_test!(env, "is_file", |p: String| Path::new(&p).is_file());
    ansible_test!(env, "is_dir", |p: String| Path::new(&p).is_dir());
    ansible_test!(env, "is_link", |p: String| Path::new(&p).is_symlink());
    ansible_test!(env, "is_abs", |p: String| Path::new(&p).is_absolute());
    ansible_test!(env, "is_exists", |p: String| Path::new(&p).exists());

    // Lookups run on the controller, like Ansible's.
    env.add_function("lookup", lookup);
    env.add_function(
        "query",
        |state: &State, name: String, args: Rest<JValue>| -> Result<JValue, Error> {
            let v = lookup(
                state,
                name,
                args,
                Kwargs::from_iter(std::iter::once(("wantlist", JValue::from(true)))),
            )?;
            Ok(v)
        },
    );
    env.add_function(
        "q",
        |state: &State, name: String, args: Rest<JValue>| -> Result<JValue, Error> {
            lookup(
                state,
                name,
                args,
                Kwargs::from_iter(std::iter::once(("wantlist", JValue::from(true)))),
            )
        },
    );
}

/// The most bytes a `file`, `template` or `pipe` lookup reads: a lookup of `/dev/zero` or of
/// a runaway command fails instead of filling the controller's memory.
pub const LOOKUP_CAP: u64 = 16 * 1024 * 1024;

fn over_cap() -> std::io::Error {
    std::io::Error::other(format!(
        "more than {} MiB: lookups read at most that much",
        LOOKUP_CAP >> 20
    ))
}

/// A regular file's text, refused when it is larger than [`LOOKUP_CAP`].
/// A file a lookup names, found as ansible-core finds it: absolute as it is; else in the
/// role's `subdir` and the role, then the playbook's `subdir` and the playbook's directory,
/// then the current directory.
/// `key=value` words of an old-style lookup term (`'key file=x.csv delimiter=,'`): the
/// words without `=` joined as the key, the options over `opts`.
fn term_options(
    term: &str,
    opts: &serde_json::Map<String, Value>,
) -> (String, serde_json::Map<String, Value>) {
    let mut opts = opts.clone();
    let mut key = Vec::new();
    // Quotes group words, as ansible-core's parse_kv reads them.
    let words =
        shlex::split(term).unwrap_or_else(|| term.split_whitespace().map(str::to_string).collect());
    for w in words {
        match w.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                opts.insert(k.to_string(), Value::from(v));
            }
            _ => key.push(w),
        }
    }
    (key.join(" "), opts)
}

fn opt_text(opts: &serde_json::Map<String, Value>, k: &str, dflt: &str) -> String {
    match opts.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => dflt.to_string(),
        Some(v) => v.to_string(),
    }
}

/// ansible-core's `csvfile` lookup: the `col` column of the row whose `keycol` column is
/// the key, in a CSV file (excel dialect) found under `files/`.
fn csvfile(
    state: &State,
    term: &str,
    opts: &serde_json::Map<String, Value>,
) -> Result<Option<String>, Error> {
    let (key, opts) = term_options(term, opts);
    for k in opts.keys() {
        if !["col", "keycol", "default", "delimiter", "file", "encoding"].contains(&k.as_str()) {
            return Err(fail(format!("'{k}' is not a valid option")));
        }
    }
    if key.is_empty() {
        return Err(fail("Search key is required but was not found"));
    }
    let num = |k: &str, d: usize| -> Result<usize, Error> {
        let t = opt_text(&opts, k, &d.to_string());
        t.trim()
            .parse()
            .map_err(|_| fail(format!("csvfile: {k} must be a number, got {t}")))
    };
    let (col, keycol) = (num("col", 1)?, num("keycol", 0)?);
    let delim = match opt_text(&opts, "delimiter", "TAB").as_str() {
        "TAB" | "\\t" | "\t" => b'\t',
        d if d.len() == 1 => d.as_bytes()[0],
        d => {
            return Err(fail(format!(
                "csvfile: the delimiter must be one character, got '{d}'"
            )));
        }
    };
    let file = opt_text(&opts, "file", "ansible.csv");
    let path = search_path(state, "files", &file);
    let text = read_capped(&path).map_err(|e| fail(format!("csvfile: {path}: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delim)
        .from_reader(text.as_bytes());
    for row in reader.records() {
        let row = row.map_err(|e| fail(format!("csvfile: {path}: {e}")))?;
        if !row.is_empty() && row.get(keycol) == Some(key.as_str()) {
            return row
                .get(col)
                .map(|v| Some(v.to_string()))
                .ok_or_else(|| fail("list index out of range"));
        }
    }
    Ok(opts
        .get("default")
        .filter(|d| !d.is_null())
        .map(|d| match d {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }))
}

/// ansible-core's `ini` lookup: a key's value (or with `re`, every matching key's) in a
/// section of an INI file (or a Java properties file) found under `files/`.
fn ini_lookup(
    state: &State,
    term: &str,
    opts: &serde_json::Map<String, Value>,
) -> Result<Vec<Option<String>>, Error> {
    const VALID: &[&str] = &[
        "type",
        "file",
        "section",
        "re",
        "encoding",
        "default",
        "case_sensitive",
        "allow_no_value",
        "allow_none",
        "interpolation",
    ];
    let (key, opts) = if term.contains('=') || term.trim().contains(' ') {
        let (k, o) = term_options(term, opts);
        (k.split_whitespace().next().unwrap_or("").to_string(), o)
    } else {
        (term.to_string(), opts.clone())
    };
    for k in opts.keys() {
        if !VALID.contains(&k.as_str()) {
            return Err(fail(format!("'{k}' is not a valid option.")));
        }
    }
    if key.is_empty() {
        return Err(fail(format!(
            "No key to look up was provided as first term within string inline options: {term}"
        )));
    }
    let truthy = |k: &str| opts.get(k).is_some_and(super::ansible_bool);
    if truthy("interpolation") {
        return Err(fail("ini: interpolation is not supported by olympus yet"));
    }
    let properties = opt_text(&opts, "type", "ini") == "properties";
    let file = opt_text(&opts, "file", "ansible.ini");
    let section = if properties {
        "java_properties".to_string()
    } else {
        opt_text(&opts, "section", "global")
    };
    let path = search_path(state, "files", &file);
    let mut text = read_capped(&path).map_err(|e| fail(format!("ini: {path}: {e}")))?;
    if properties {
        text = format!("[java_properties]\n{text}");
    }
    let case = truthy("case_sensitive");
    let ini = super::ini::Ini::parse(
        &text,
        case,
        truthy("allow_no_value") || truthy("allow_none"),
    )
    .map_err(|e| fail(format!("Duplicate option in '{file}' or not INI: {e}")))?;
    let no_section = || fail(format!("No section '{section}' in '{file}'."));
    if truthy("re") {
        let re = regex::Regex::new(&key).map_err(|e| fail(format!("ini: {e}")))?;
        return ini.matching(&section, &re).map_err(|()| no_section());
    }
    match ini.get(&section, &key, case).map_err(|()| no_section())? {
        Some(v) => Ok(vec![v]),
        None => Ok(match opts.get("default") {
            Some(Value::Null) => vec![],
            Some(d) => vec![Some(match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })],
            None => vec![Some(String::new())],
        }),
    }
}

fn search_path(state: &State, subdir: &str, term: &str) -> String {
    if Path::new(term).is_absolute() {
        return term.to_string();
    }
    let dir = |k: &str| {
        state
            .lookup(k)
            .and_then(|v| v.as_str().map(std::path::PathBuf::from))
    };
    let mut candidates = Vec::new();
    for base in [dir("role_path"), dir("playbook_dir")]
        .into_iter()
        .flatten()
    {
        candidates.push(base.join(subdir).join(term));
        candidates.push(base.join(term));
    }
    candidates
        .into_iter()
        .find(|c| c.is_file())
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|| term.to_string())
}

fn read_capped(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    f.take(LOOKUP_CAP + 1).read_to_string(&mut text)?;
    if text.len() as u64 > LOOKUP_CAP {
        return Err(over_cap());
    }
    // A vaulted file reads decrypted, as ansible-core's file lookup gives it.
    if crate::vault::is_vault(text.as_bytes()) {
        let plain = crate::vault::decrypt(&text).map_err(std::io::Error::other)?;
        return String::from_utf8(plain)
            .map_err(|_| std::io::Error::other("the decrypted vault is not UTF-8 text"));
    }
    Ok(text)
}

/// A command's stdout, read up to [`LOOKUP_CAP`]; a command that prints more is killed.
fn pipe_capped(cmd: &str) -> std::io::Result<(Vec<u8>, std::process::ExitStatus)> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout.take(LOOKUP_CAP + 1).read_to_end(&mut out)?;
    }
    if out.len() as u64 > LOOKUP_CAP {
        let _ = child.kill();
        let _ = child.wait();
        return Err(over_cap());
    }
    let status = child.wait()?;
    Ok((out, status))
}

fn lookup(state: &State, name: String, args: Rest<JValue>, kw: Kwargs) -> Result<JValue, Error> {
    // Every lookup olympus has is one of ansible-core's: its FQCN names the same plugin.
    let name = match name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
    {
        Some(short) => short.to_string(),
        None => name,
    };
    let wantlist = kw.get::<Option<bool>>("wantlist")?.unwrap_or(false);
    // `errors=ignore|warn`: a failing lookup gives nothing instead of failing the task.
    let errors: Option<String> = kw.get("errors")?;
    match errors.as_deref() {
        None | Some("strict") => {}
        Some("ignore" | "warn") => {
            return match lookup_strict(state, &name, &args, &kw, wantlist) {
                Ok(v) => Ok(v),
                Err(e) => {
                    if errors.as_deref() == Some("warn") {
                        tracing::warn!("lookup('{name}') failed: {e}");
                    }
                    Ok(if wantlist {
                        JValue::from(Vec::<JValue>::new())
                    } else {
                        JValue::from(())
                    })
                }
            };
        }
        Some(o) => {
            return Err(fail(format!(
                "errors must be one of strict, warn or ignore, got {o}"
            )));
        }
    }
    // A plugin's failure is worded as ansible-core words it.
    lookup_strict(state, &name, &args, &kw, wantlist).map_err(|e| {
        if !LOOKUPS.contains(&name.as_str()) || e.kind() == ErrorKind::UndefinedError {
            return e;
        }
        let detail = e
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string());
        fail(format!("The lookup plugin '{name}' failed: {detail}"))
    })
}

/// The lookup plugins olympus has.
const LOOKUPS: &[&str] = &[
    "env",
    "file",
    "template",
    "pipe",
    "password",
    "vars",
    "varnames",
    "dict",
    "first_found",
    "csvfile",
    "ini",
];

fn lookup_strict(
    state: &State,
    name: &str,
    args: &[JValue],
    kw: &Kwargs,
    wantlist: bool,
) -> Result<JValue, Error> {
    let name = name.to_string();
    let default: Option<JValue> = kw.get("default")?;
    // The lookup's own options, given as keyword arguments (`file=`, `section=`...).
    let mut opts = serde_json::Map::new();
    for k in kw.args() {
        if !matches!(k, "wantlist" | "default" | "errors") {
            opts.insert(k.to_string(), json_of(&kw.peek::<JValue>(k)?));
        }
    }
    if let Some(d) = &default {
        opts.insert("default".into(), json_of(d));
    }
    let mut results: Vec<JValue> = Vec::new();
    // first_found given only by keywords (`files=`, `paths=`) has one empty term.
    let empty = [from_json(&Value::Object(serde_json::Map::new()))];
    let args: &[JValue] = if args.is_empty() && name == "first_found" {
        &empty
    } else {
        args
    };
    for a in args.iter() {
        let term = a.to_string();
        let v = match name.as_str() {
            "env" => match std::env::var(&term) {
                Ok(v) => JValue::from(v),
                Err(_) => default.clone().unwrap_or(JValue::from("")),
            },
            "file" => {
                let text = read_capped(&search_path(state, "files", &term))
                    .map_err(|e| fail(format!("lookup('file', '{term}'): {e}")))?;
                JValue::from(text.strip_suffix('\n').unwrap_or(&text).to_string())
            }
            "template" => {
                let text = read_capped(&search_path(state, "templates", &term))
                    .map_err(|e| fail(format!("lookup('template', '{term}'): {e}")))?;
                let tmpl = state.env().template_from_str(&text)?;
                JValue::from(tmpl.render(state.lookup("vars").unwrap_or_default())?)
            }
            "pipe" => {
                let (stdout, status) = pipe_capped(&term)
                    .map_err(|e| fail(format!("lookup('pipe', '{term}'): {e}")))?;
                if !status.success() {
                    return Err(fail(format!("lookup('pipe', '{term}') exited {status}")));
                }
                let s = String::from_utf8_lossy(&stdout);
                JValue::from(s.trim_end_matches('\n').to_string())
            }
            "password" => {
                let base = state
                    .lookup("playbook_dir")
                    .and_then(|v| v.as_str().map(std::path::PathBuf::from))
                    .unwrap_or_else(|| std::path::PathBuf::from("."));
                JValue::from(super::lookup_password::password(&term, &base)?)
            }
            "vars" => match state
                .lookup("vars")
                .and_then(|v| v.get_attr(&term).ok())
                .filter(|v| !v.is_undefined())
            {
                Some(v) => v,
                None => match &default {
                    Some(d) => d.clone(),
                    None => {
                        return Err(Error::new(
                            ErrorKind::UndefinedError,
                            format!("lookup('vars', '{term}'): no variable named '{term}'"),
                        ));
                    }
                },
            },
            "varnames" => {
                let re = regex::Regex::new(&term)
                    .map_err(|e| fail(format!("lookup('varnames', '{term}'): {e}")))?;
                let mut names: Vec<String> = Vec::new();
                if let Some(vars) = state.lookup("vars")
                    && let Ok(keys) = vars.try_iter()
                {
                    for k in keys {
                        if let Some(n) = k.as_str()
                            && re.is_match(n)
                        {
                            names.push(n.to_string());
                        }
                    }
                }
                names.sort();
                for n in names {
                    results.push(JValue::from(n));
                }
                continue;
            }
            "dict" => {
                let Value::Object(m) = json_of(a) else {
                    return Err(fail("lookup('dict') needs a dictionary"));
                };
                for (k, v) in m {
                    results.push(from_json(&serde_json::json!({"key": k, "value": v})));
                }
                continue;
            }
            "first_found" => {
                let bases: Vec<std::path::PathBuf> = ["role_path", "playbook_dir"]
                    .iter()
                    .filter_map(|k| state.lookup(k))
                    .filter_map(|v| v.as_str().map(std::path::PathBuf::from))
                    .collect();
                let mut term = json_of(a);
                for k in ["files", "paths", "skip"] {
                    if let Some(v) = opts.get(k) {
                        let mut m = serde_json::Map::new();
                        if let Value::Object(t) = &term {
                            m.extend(t.clone());
                        } else {
                            m.insert("files".into(), term.clone());
                        }
                        m.insert(k.into(), v.clone());
                        term = Value::Object(m);
                    }
                }
                // As a lookup (not a loop), names are looked for in the role's and the
                // playbook's own directory, not in their files/ (ansible-core 2.19).
                match super::first_found(&term, "", &bases).map_err(fail)? {
                    Some(found) => JValue::from(found),
                    None => continue,
                }
            }
            "csvfile" => match csvfile(state, &term, &opts)? {
                Some(v) => JValue::from(v),
                None => continue,
            },
            "ini" => {
                for v in ini_lookup(state, &term, &opts)? {
                    results.push(v.map_or(JValue::from(()), JValue::from));
                }
                continue;
            }
            other => {
                return Err(fail(format!(
                    "lookup plugin '{other}' is not supported by olympus (env, file, template, pipe, password, vars, varnames, dict, first_found, csvfile, ini)"
                )));
            }
        };
        results.push(v);
    }
    if wantlist {
        return Ok(JValue::from(results));
    }
    Ok(match results.len() {
        0 => JValue::from(Vec::<JValue>::new()),
        1 if name != "dict" => results.pop().unwrap_or_default(),
        // Text results are joined with commas, as ansible-core's lookup() does; others
        // stay a list.
        _ if results.iter().all(|r| r.as_str().is_some()) => JValue::from(
            results
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => JValue::from(results),
    })
}
