//! Python's `%` string formatting, which Ansible templates use (`'%s:%d' % (host, port)`)
//! and minijinja lacks: a string constant followed by `%` is rewritten, before compiling,
//! into a call of the `__pymod` filter (`('%s:%d' | __pymod(host, port))`), which formats
//! as Python does — `%s` of a list or a mapping is its Python text, `%(name)s` reads a
//! mapping, `%r` is the repr.
//!
//! Jinja binds `%` tighter than `+`, `-` and `~` and looser than filters and attribute
//! access; the rewrite takes as the right-hand side exactly what Jinja would: one primary
//! (a name with its `.attr`, `[index]` and call suffixes, a literal, or a parenthesized
//! tuple) and the filters after it. A left-hand side other than a string constant is left
//! as it is (minijinja then reports the operation as unsupported).
//!
//! Owns: the source rewrite and the formatting. Must not: change anything else.

use std::borrow::Cow;

use minijinja::value::{Rest, Value as JValue};
use minijinja::{Error, ErrorKind, State};
use serde_json::Value;

/// `src` (a template) with `'...' % x` rewritten inside `{{ }}` and `{% %}`.
pub fn rewrite_template(src: &str) -> Cow<'_, str> {
    if !maybe(src) {
        return Cow::Borrowed(src);
    }
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 16);
    let mut i = 0;
    let mut last = 0;
    let mut changed = false;
    while i + 1 < b.len() {
        if b[i] != b'{' {
            i += 1;
            continue;
        }
        let close = match b[i + 1] {
            b'{' => "}}",
            b'%' => "%}",
            b'#' => {
                i = src[i + 2..].find("#}").map_or(src.len(), |k| i + 2 + k + 2);
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i + 2;
        let end = region_end(src, start, close);
        let inner = &src[start..end];
        if close == "%}" {
            let body = inner
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            if body == "raw" {
                i = src[end..]
                    .find("endraw")
                    .and_then(|k| src[end + k..].find("%}").map(|m| end + k + m + 2))
                    .unwrap_or(src.len());
                continue;
            }
        }
        if let Some(rewritten) = rewrite(inner) {
            out.push_str(&src[last..start]);
            out.push_str(&rewritten);
            last = end;
            changed = true;
        }
        i = (end + close.len()).min(src.len());
    }
    if !changed {
        return Cow::Borrowed(src);
    }
    out.push_str(&src[last..]);
    Cow::Owned(out)
}

/// A bare expression (the inside of one `{{ }}`, a condition) with `'...' % x` rewritten.
pub fn rewrite_expression(expr: &str) -> Cow<'_, str> {
    if !maybe(expr) {
        return Cow::Borrowed(expr);
    }
    match rewrite(expr) {
        Some(r) => Cow::Owned(r),
        None => Cow::Borrowed(expr),
    }
}

/// A quick look: is there a quote followed (after spaces) by `%`?
fn maybe(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, c)| {
        (*c == b'\'' || *c == b'"')
            && b[i + 1..]
                .iter()
                .find(|c| !c.is_ascii_whitespace())
                .is_some_and(|c| *c == b'%')
    })
}

/// Where the region from `start` ends (at `close`, outside string constants).
fn region_end(src: &str, start: usize, close: &str) -> usize {
    let b = src.as_bytes();
    let mut j = start;
    while j < b.len() {
        if b[j] == b'\'' || b[j] == b'"' {
            j = string_end(b, j);
            continue;
        }
        if src[j..].starts_with(close) {
            return j;
        }
        j += 1;
    }
    src.len()
}

/// The index after the string constant starting at `i`.
fn string_end(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() && b[j] != q {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    (j + 1).min(b.len())
}

/// The index after the bracket opened at `i` (`(`, `[` or `{`), string constants skipped.
fn bracket_end(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'\'' | b'"' => {
                j = string_end(b, j);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// A top-level comma inside the brackets `b[i..end]`: the text is a tuple.
fn has_top_level_comma(b: &[u8], i: usize, end: usize) -> bool {
    let mut depth = 0usize;
    let mut j = i + 1;
    while j + 1 < end {
        match b[j] {
            b'\'' | b'"' => {
                j = string_end(b, j);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => return true,
            _ => {}
        }
        j += 1;
    }
    false
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn ident_end(b: &[u8], mut i: usize, dots: bool) -> usize {
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || (dots && b[i] == b'.')) {
        i += 1;
    }
    i
}

/// The right-hand side of `%` from `i`: where it ends, and whether it is a tuple (whose
/// parentheses the call can take over).
fn operand(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let i = skip_ws(b, i);
    let c = *b.get(i)?;
    let (mut end, mut tuple) = match c {
        b'(' => {
            let e = bracket_end(b, i)?;
            (e, has_top_level_comma(b, i, e))
        }
        b'[' | b'{' => (bracket_end(b, i)?, false),
        b'\'' | b'"' => (string_end(b, i), false),
        b'0'..=b'9' => {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.' || b[j] == b'_') {
                j += 1;
            }
            (j, false)
        }
        c if c.is_ascii_alphabetic() || c == b'_' => {
            let mut j = ident_end(b, i, false);
            loop {
                match b.get(j) {
                    Some(b'.') => j = ident_end(b, j + 1, false),
                    Some(b'[') | Some(b'(') => j = bracket_end(b, j)?,
                    _ => break,
                }
            }
            (j, false)
        }
        _ => return None,
    };
    // Filters bind tighter than `%`.
    loop {
        let k = skip_ws(b, end);
        if b.get(k) == Some(&b'|') && b.get(k + 1) != Some(&b'|') {
            let f = skip_ws(b, k + 1);
            let fe = ident_end(b, f, true);
            if fe == f {
                break;
            }
            end = fe;
            let a = skip_ws(b, fe);
            if b.get(a) == Some(&b'(') {
                end = bracket_end(b, a)?;
            }
            tuple = false;
        } else {
            break;
        }
    }
    Some((end, tuple))
}

/// The expression text with each `'...' % x` rewritten; `None` when there is none.
fn rewrite(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    let mut last = 0;
    let mut changed = false;
    while i < b.len() {
        if b[i] != b'\'' && b[i] != b'"' {
            i += 1;
            continue;
        }
        let lit_end = string_end(b, i);
        let k = skip_ws(b, lit_end);
        let is_mod = b.get(k) == Some(&b'%') && !matches!(b.get(k + 1), Some(b'}'));
        if !is_mod {
            i = lit_end;
            continue;
        }
        let Some((op_end, tuple)) = operand(b, k + 1) else {
            i = lit_end;
            continue;
        };
        let op_start = skip_ws(b, k + 1);
        let op = &text[op_start..op_end];
        // The operand may itself hold `'...' % y`.
        let op = rewrite(op).unwrap_or_else(|| op.to_string());
        out.push_str(&text[last..i]);
        out.push('(');
        out.push_str(&text[i..lit_end]);
        if tuple {
            let inner = op.trim();
            let inner = &inner[1..inner.len() - 1];
            out.push_str(&format!(" | __pymod({inner}))"));
        } else {
            out.push_str(&format!(" | __pymod1({op}))"));
        }
        last = op_end;
        i = op_end;
        changed = true;
    }
    if !changed {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// `fmt % (a, b, ...)`.
pub fn pymod(state: &mut State, fmt: String, args: Rest<JValue>) -> Result<String, Error> {
    format(
        state,
        &fmt,
        args.iter().map(super::filters::json_of).collect(),
        None,
    )
}

/// `fmt % x`: a mapping for `%(name)s`, else one value.
pub fn pymod1(state: &mut State, fmt: String, arg: JValue) -> Result<String, Error> {
    let v = super::filters::json_of(&arg);
    if fmt.contains("%(") {
        return format(state, &fmt, Vec::new(), Some(v));
    }
    format(state, &fmt, vec![v], None)
}

/// Python's `%` with positional `args` or a `mapping`: the format rewritten for minijinja's
/// `format` filter (mapping keys and `%r` resolved, `%s` of anything but text given as its
/// Python text), then formatted by it.
fn format(
    state: &mut State,
    fmt: &str,
    args: Vec<Value>,
    mapping: Option<Value>,
) -> Result<String, Error> {
    let b = fmt.as_bytes();
    let mut out_fmt = String::with_capacity(fmt.len());
    let mut out_args: Vec<JValue> = Vec::new();
    let mut next = args.into_iter();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        out_fmt.push_str(&fmt[last..i]);
        let mut j = i + 1;
        if b.get(j) == Some(&b'%') {
            out_fmt.push_str("%%");
            i = j + 1;
            last = i;
            continue;
        }
        let mut key: Option<String> = None;
        if b.get(j) == Some(&b'(') {
            let close = fmt[j..]
                .find(')')
                .ok_or_else(|| fail("incomplete format key"))?;
            key = Some(fmt[j + 1..j + close].to_string());
            j += close + 1;
        }
        let spec_start = j;
        while j < b.len() && b"-+ #0".contains(&b[j]) {
            j += 1;
        }
        while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
            j += 1;
        }
        while j < b.len() && b"hlL".contains(&b[j]) {
            j += 1;
        }
        let Some(&conv) = b.get(j) else {
            return Err(fail("incomplete format"));
        };
        let spec = &fmt[spec_start..j];
        let value = match &key {
            Some(k) => match &mapping {
                Some(Value::Object(m)) => m
                    .get(k)
                    .cloned()
                    .ok_or_else(|| fail(format!("KeyError: '{k}'")))?,
                _ => return Err(fail("format requires a mapping")),
            },
            None => next
                .next()
                .ok_or_else(|| fail("not enough arguments for format string"))?,
        };
        let (conv, value) = match conv {
            b'r' | b'a' => {
                let mut s = String::new();
                crate::pyrepr::repr_into(&mut s, &value);
                (b's', JValue::from(s))
            }
            b's' => match &value {
                Value::String(_) => (b's', super::from_json(&value)),
                other => (b's', JValue::from(crate::pyrepr::str_of(other))),
            },
            b'd' | b'i' | b'u' => match &value {
                Value::Number(n) => (
                    b'd',
                    JValue::from(
                        n.as_i64()
                            .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
                    ),
                ),
                Value::Bool(v) => (b'd', JValue::from(i64::from(*v))),
                other => {
                    return Err(fail(format!(
                        "%d format: a real number is required, not {}",
                        py_type(other)
                    )));
                }
            },
            c @ (b'f' | b'F' | b'e' | b'E' | b'g' | b'G' | b'x' | b'X' | b'o' | b'c') => {
                (c, super::from_json(&value))
            }
            c => {
                return Err(fail(format!(
                    "unsupported format character '{}'",
                    c as char
                )));
            }
        };
        out_fmt.push('%');
        out_fmt.push_str(spec);
        out_fmt.push(conv as char);
        out_args.push(value);
        i = j + 1;
        last = i;
    }
    out_fmt.push_str(&fmt[last..]);
    if mapping.is_none() && next.next().is_some() {
        return Err(fail("not all arguments converted during string formatting"));
    }
    let mut call = vec![JValue::from(out_fmt)];
    call.extend(out_args);
    let v = state.apply_filter("format", &call)?;
    Ok(v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string()))
}

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(_) => "int",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_what_jinja_binds_to_percent() {
        assert_eq!(
            rewrite_expression("'%s-%d' % (a, 3)"),
            "('%s-%d' | __pymod(a, 3))"
        );
        assert_eq!(rewrite_expression("'%s' % l"), "('%s' | __pymod1(l))");
        assert_eq!(
            rewrite_expression("x ~ '%s' % y.z[0] | upper ~ 'q'"),
            "x ~ ('%s' | __pymod1(y.z[0] | upper)) ~ 'q'"
        );
        assert_eq!(
            rewrite_expression("'%s' % (a | default('b'))"),
            "('%s' | __pymod1((a | default('b'))))"
        );
        assert_eq!(rewrite_expression("n % 5"), "n % 5");
        assert_eq!(
            rewrite_template("a {{ '%02d' % n }} {% set x = '%s' % y %}{{ x }}"),
            "a {{ ('%02d' | __pymod1(n)) }} {% set x = ('%s' | __pymod1(y)) %}{{ x }}"
        );
        assert_eq!(rewrite_template("{{ 'a' }}%"), "{{ 'a' }}%");
        assert_eq!(
            rewrite_template("{% raw %}{{ '%s' % x }}{% endraw %}"),
            "{% raw %}{{ '%s' % x }}{% endraw %}"
        );
    }
}
