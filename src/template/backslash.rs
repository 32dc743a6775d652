//! ansible-core's backslash rule for templates written in YAML values: inside `{{ }}`, a
//! string constant's backslashes are taken literally (YAML already processed escapes once),
//! so `regex_replace('(x)', '\1')` gets the backreference `\1`, not the control character
//! `\x01`. Statements (`{% %}`), comments, `{% raw %}` blocks and conditionals keep Jinja's
//! own escapes, as in ansible-core; so do template files.
//!
//! Owns: rewriting each string constant inside `{{ }}` so that minijinja decodes it to its
//! text exactly as written. Must not: change anything else in the source.

use std::borrow::Cow;

/// `src` with every string constant inside `{{ }}` rewritten to decode to its raw text.
pub fn escape_in_expressions(src: &str) -> Cow<'_, str> {
    if !src.contains('\\') {
        return Cow::Borrowed(src);
    }
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 8);
    let mut i = 0;
    let mut last = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' {
            i += 1;
            continue;
        }
        match b[i + 1] {
            b'{' => {
                let (end, rewritten) = expression(src, i + 2, "}}");
                out.push_str(&src[last..i + 2]);
                out.push_str(&rewritten);
                last = end;
                i = end;
            }
            b'%' => {
                // `{% raw %}` ... `{% endraw %}` is text; other statements are left as they are.
                let stmt_end = skip_block(src, i + 2, "%}");
                let body = src[i + 2..stmt_end.saturating_sub(2).max(i + 2)].trim();
                let body = body.trim_start_matches('-').trim_end_matches('-').trim();
                i = if body == "raw" {
                    src[stmt_end..]
                        .find("endraw")
                        .and_then(|k| src[stmt_end + k..].find("%}").map(|m| stmt_end + k + m + 2))
                        .unwrap_or(src.len())
                } else {
                    stmt_end
                };
            }
            b'#' => {
                i = src[i + 2..].find("#}").map_or(src.len(), |k| i + 2 + k + 2);
            }
            _ => i += 1,
        }
    }
    if last == 0 {
        return Cow::Borrowed(src);
    }
    out.push_str(&src[last..]);
    Cow::Owned(out)
}

/// A bare expression (the inside of one `{{ }}`): its string constants rewritten.
pub fn escape_expression(expr: &str) -> Cow<'_, str> {
    if !expr.contains('\\') {
        return Cow::Borrowed(expr);
    }
    let (_, rewritten) = expression(expr, 0, "");
    Cow::Owned(rewritten)
}

/// The expression from `start` to its `close` (or the end when `close` is empty): where it
/// ends (after `close`), and its text up to `close` with string constants rewritten.
fn expression(src: &str, start: usize, close: &str) -> (usize, String) {
    let mut out = String::new();
    let mut rest = &src[start..];
    let mut at = start;
    loop {
        let next_quote = rest.find(['\'', '"']);
        let next_close = if close.is_empty() {
            None
        } else {
            rest.find(close)
        };
        let quote_first = match (next_quote, next_close) {
            (Some(q), Some(c)) => q < c,
            (Some(_), None) => true,
            (None, _) => false,
        };
        match (next_quote.filter(|_| quote_first), next_close) {
            (Some(q), _) => {
                out.push_str(&rest[..q]);
                let quote = rest.as_bytes()[q] as char;
                let body_start = q + 1;
                let mut j = body_start;
                let bytes = rest.as_bytes();
                while j < bytes.len() && bytes[j] as char != quote {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let j = j.min(bytes.len());
                let raw = &rest[body_start..j];
                out.push(quote);
                for ch in raw.chars() {
                    if ch == '\\' {
                        out.push_str("\\\\");
                    } else if ch == quote {
                        out.push('\\');
                        out.push(ch);
                    } else {
                        out.push(ch);
                    }
                }
                if j < bytes.len() {
                    out.push(quote);
                }
                let used = (j + 1).min(rest.len());
                at += used;
                rest = &rest[used..];
            }
            (_, Some(c)) => {
                out.push_str(&rest[..c]);
                return (at + c, out);
            }
            (None, None) => {
                out.push_str(rest);
                return (src.len(), out);
            }
        }
    }
}

/// Where a `{% %}` (or other) block that starts at `start` ends, after `close`, skipping
/// string constants.
fn skip_block(src: &str, start: usize, close: &str) -> usize {
    let b = src.as_bytes();
    let mut j = start;
    let mut quote: Option<u8> = None;
    while j < b.len() {
        match quote {
            Some(_) if b[j] == b'\\' => j += 1,
            Some(q) if b[j] == q => quote = None,
            Some(_) => {}
            None if b[j] == b'\'' || b[j] == b'"' => quote = Some(b[j]),
            None if src[j..].starts_with(close) => return j + close.len(),
            None => {}
        }
        j += 1;
    }
    src.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_constants_in_expressions_keep_their_backslashes() {
        assert_eq!(
            escape_in_expressions(r"{{ x | regex_replace('(a)', '\1') }}"),
            r"{{ x | regex_replace('(a)', '\\1') }}"
        );
        assert_eq!(escape_in_expressions(r"{{ 'it\'s' }}"), r"{{ 'it\\\'s' }}");
        assert_eq!(
            escape_in_expressions(r#"a\n {{ "x\"y" }} b\t"#),
            r#"a\n {{ "x\\\"y" }} b\t"#
        );
        // Statements, comments and raw blocks are left alone.
        let s = r"{% set a = 'x\n' %}{# '\1' #}{% raw %}{{ '\1' }}{% endraw %}";
        assert_eq!(escape_in_expressions(s), s);
        assert_eq!(escape_expression(r"'\1' ~ x"), r"'\\1' ~ x");
        assert_eq!(escape_in_expressions("no backslash"), "no backslash");
    }
}
