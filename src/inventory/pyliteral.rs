//! Typing of INI inventory values the way Ansible does it: Python's `ast.literal_eval`,
//! falling back to the plain string when the text is not a Python literal.
//!
//! Owns: a small, panic-free parser for Python literals (numbers, strings, `True`/`False`/
//! `None`, lists, tuples, sets and dicts). Must not: evaluate anything else.
//!
//! So `a=1` is the integer 1, `b=yes` the string "yes", `c=True` a boolean, `d=[1,2]` a list,
//! `e="{'k': 1}"` a dict and `port=0022` the string "0022" (a leading zero is not a Python int).

use serde_json::{Map, Number, Value};

/// Types `text` like Ansible's INI plugin: a Python literal when it is one, else the text.
pub fn parse_value(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::String(text.to_string()))
}

/// `ast.literal_eval`, or `None` where Python would raise.
pub fn literal_eval(text: &str) -> Option<Value> {
    // literal_eval strips leading spaces and tabs before parsing.
    let mut p = Parser {
        s: text.trim_start_matches([' ', '\t']).as_bytes(),
        i: 0,
        depth: 0,
    };
    let v = p.expr_or_tuple()?;
    p.skip_ws_and_comments();
    if p.i == p.s.len() { Some(v) } else { None }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' || c == 0x0c {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn skip_ws_and_comments(&mut self) {
        self.skip_ws();
        if self.peek() == Some(b'#') {
            while let Some(c) = self.peek() {
                if c == b'\n' {
                    break;
                }
                self.i += 1;
            }
            self.skip_ws();
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws_and_comments();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A top-level expression, where `1, 2` is a tuple.
    fn expr_or_tuple(&mut self) -> Option<Value> {
        let first = self.expr()?;
        self.skip_ws_and_comments();
        if self.peek() != Some(b',') {
            return Some(first);
        }
        let mut items = vec![first];
        while self.eat(b',') {
            self.skip_ws_and_comments();
            if self.i == self.s.len() {
                break;
            }
            items.push(self.expr()?);
        }
        Some(Value::Array(items))
    }

    fn expr(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let v = self.expr_inner();
        self.depth -= 1;
        v
    }

    fn expr_inner(&mut self) -> Option<Value> {
        self.skip_ws_and_comments();
        let c = self.peek()?;
        match c {
            b'[' => {
                self.i += 1;
                self.sequence(b']').map(Value::Array)
            }
            b'(' => {
                self.i += 1;
                self.skip_ws_and_comments();
                if self.peek() == Some(b')') {
                    self.i += 1;
                    return Some(Value::Array(vec![]));
                }
                let first = self.expr()?;
                if self.eat(b')') {
                    // A parenthesised expression, not a tuple.
                    return Some(first);
                }
                if !self.eat(b',') {
                    return None;
                }
                let mut rest = self.sequence(b')')?;
                rest.insert(0, first);
                Some(Value::Array(rest))
            }
            b'{' => {
                self.i += 1;
                self.dict_or_set()
            }
            b'+' | b'-' => {
                self.i += 1;
                let v = self.expr()?;
                match v {
                    Value::Number(n) if c == b'+' => Some(Value::Number(n)),
                    Value::Number(n) => negate(&n),
                    _ => None,
                }
            }
            b'.' if self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit) => self.number(),
            b'.' if self.s[self.i..].starts_with(b"...") => {
                self.i += 3;
                Some(Value::String("...".into()))
            }
            b'0'..=b'9' => self.number(),
            b'\'' | b'"' => self.strings(),
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.i += 1;
                }
                let word = &self.s[start..self.i];
                if matches!(self.peek(), Some(b'\'' | b'"')) && is_string_prefix(word) {
                    self.i = start;
                    return self.strings();
                }
                match word {
                    b"True" => Some(Value::Bool(true)),
                    b"False" => Some(Value::Bool(false)),
                    b"None" => Some(Value::Null),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn sequence(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.expr()?);
            if self.eat(close) {
                return Some(items);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn dict_or_set(&mut self) -> Option<Value> {
        if self.eat(b'}') {
            return Some(Value::Object(Map::new()));
        }
        let first = self.expr()?;
        if self.eat(b':') {
            let mut map = Map::new();
            let v = self.expr()?;
            map.insert(key_string(&first)?, v);
            loop {
                if self.eat(b'}') {
                    return Some(Value::Object(map));
                }
                if !self.eat(b',') {
                    return None;
                }
                if self.eat(b'}') {
                    return Some(Value::Object(map));
                }
                let k = self.expr()?;
                if !self.eat(b':') {
                    return None;
                }
                let v = self.expr()?;
                map.insert(key_string(&k)?, v);
            }
        }
        // A set: Ansible turns it into a list.
        let mut items = vec![first];
        if self.eat(b'}') {
            return Some(Value::Array(items));
        }
        if !self.eat(b',') {
            return None;
        }
        items.extend(self.sequence(b'}')?);
        Some(Value::Array(items))
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            // Exponent signs: 1e-3, 1E+3.
            let c = self.s[self.i];
            self.i += 1;
            if (c == b'e' || c == b'E')
                && matches!(self.peek(), Some(b'+' | b'-'))
                && !self.s[start..].starts_with(b"0x")
                && !self.s[start..].starts_with(b"0X")
            {
                self.i += 1;
            }
        }
        let raw = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        parse_number(raw)
    }

    /// One or more adjacent string literals, concatenated like Python does.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        let mut any = false;
        loop {
            self.skip_ws_and_comments();
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            let prefix = self.s[start..self.i].to_ascii_lowercase();
            if !matches!(self.peek(), Some(b'\'' | b'"')) || !is_string_prefix(&prefix) {
                self.i = start;
                break;
            }
            if prefix.contains(&b'f') {
                return None; // f-strings are not literals
            }
            let raw = prefix.contains(&b'r');
            out.push_str(&self.one_string(raw)?);
            any = true;
        }
        any.then_some(Value::String(out))
    }

    fn one_string(&mut self, raw: bool) -> Option<String> {
        let q = self.peek()?;
        let triple = self.s[self.i..].starts_with(&[q, q, q]);
        self.i += if triple { 3 } else { 1 };
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let c = self.peek()?;
            if c == q {
                if !triple {
                    self.i += 1;
                    break;
                }
                if self.s[self.i..].starts_with(&[q, q, q]) {
                    self.i += 3;
                    break;
                }
                bytes.push(c);
                self.i += 1;
                continue;
            }
            if c == b'\n' && !triple {
                return None;
            }
            if c == b'\\' {
                let n = *self.s.get(self.i + 1)?;
                if raw {
                    bytes.push(b'\\');
                    bytes.push(n);
                    self.i += 2;
                    continue;
                }
                self.i += 2;
                let mut push = |s: &str| bytes.extend_from_slice(s.as_bytes());
                match n {
                    b'\n' => {}
                    b'\\' => push("\\"),
                    b'\'' => push("'"),
                    b'"' => push("\""),
                    b'a' => push("\x07"),
                    b'b' => push("\x08"),
                    b'f' => push("\x0c"),
                    b'n' => push("\n"),
                    b'r' => push("\r"),
                    b't' => push("\t"),
                    b'v' => push("\x0b"),
                    b'x' => {
                        let ch = self.hex_char(2)?;
                        push(ch.encode_utf8(&mut [0; 4]));
                    }
                    b'u' => {
                        let ch = self.hex_char(4)?;
                        push(ch.encode_utf8(&mut [0; 4]));
                    }
                    b'U' => {
                        let ch = self.hex_char(8)?;
                        push(ch.encode_utf8(&mut [0; 4]));
                    }
                    b'0'..=b'7' => {
                        let mut v = u32::from(n - b'0');
                        for _ in 0..2 {
                            match self.peek() {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    self.i += 1;
                                }
                                _ => break,
                            }
                        }
                        let ch = char::from_u32(v)?;
                        push(ch.encode_utf8(&mut [0; 4]));
                    }
                    other => {
                        // Unknown escapes keep their backslash in Python.
                        bytes.push(b'\\');
                        bytes.push(other);
                    }
                }
                continue;
            }
            bytes.push(c);
            self.i += 1;
        }
        String::from_utf8(bytes).ok()
    }

    fn hex_char(&mut self, n: usize) -> Option<char> {
        let digits = self.s.get(self.i..self.i + n)?;
        let v = u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
        self.i += n;
        char::from_u32(v)
    }
}

fn is_string_prefix(word: &[u8]) -> bool {
    let w = word.to_ascii_lowercase();
    matches!(
        w.as_slice(),
        b"" | b"r" | b"u" | b"b" | b"br" | b"rb" | b"f" | b"fr" | b"rf"
    )
}

fn negate(n: &Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        return i.checked_neg().map(Value::from);
    }
    if let Some(u) = n.as_u64() {
        return i64::try_from(u).ok().map(|i| Value::from(-i));
    }
    n.as_f64()
        .and_then(|f| Number::from_f64(-f))
        .map(Value::Number)
}

/// Python number literals: 10, 0x1F, 0o17, 0b101, 1_000, 1.5, .5, 1e3. A decimal integer
/// with a leading zero (`0022`) is not valid Python 3, and complex numbers are left as text.
fn parse_number(raw: &str) -> Option<Value> {
    if raw.ends_with(['j', 'J']) {
        return None;
    }
    if raw.starts_with('_') || raw.ends_with('_') || raw.contains("__") {
        return None;
    }
    let clean: String = raw.chars().filter(|c| *c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let radix = |s: &str, r: u32| i64::from_str_radix(s, r).ok().map(Value::from);
    if let Some(h) = lower.strip_prefix("0x") {
        return radix(h, 16);
    }
    if let Some(o) = lower.strip_prefix("0o") {
        return radix(o, 8);
    }
    if let Some(b) = lower.strip_prefix("0b") {
        return radix(b, 2);
    }
    if lower.contains(['.', 'e']) {
        if !lower
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
        {
            return None;
        }
        let f: f64 = lower.parse().ok()?;
        return Number::from_f64(f).map(Value::Number);
    }
    if !lower.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if lower.len() > 1 && lower.starts_with('0') && lower.chars().any(|c| c != '0') {
        return None;
    }
    lower.parse::<i64>().ok().map(Value::from)
}

/// Dict keys as JSON spells them: Python's json turns 1 into "1", True into "true".
fn key_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".into()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars() {
        assert_eq!(parse_value("1"), json!(1));
        assert_eq!(parse_value("-3"), json!(-3));
        assert_eq!(parse_value("1.5"), json!(1.5));
        assert_eq!(parse_value(".5"), json!(0.5));
        assert_eq!(parse_value("1e3"), json!(1000.0));
        assert_eq!(parse_value("0x10"), json!(16));
        assert_eq!(parse_value("0o17"), json!(15));
        assert_eq!(parse_value("1_000"), json!(1000));
        assert_eq!(parse_value("True"), json!(true));
        assert_eq!(parse_value("None"), Value::Null);
        assert_eq!(parse_value("yes"), json!("yes"));
        assert_eq!(parse_value("true"), json!("true"));
        assert_eq!(parse_value("0022"), json!("0022"));
        assert_eq!(parse_value("1j"), json!("1j"));
        assert_eq!(parse_value(""), json!(""));
        assert_eq!(parse_value("..."), json!("..."));
        assert_eq!(parse_value("hello world"), json!("hello world"));
        assert_eq!(parse_value("/usr/bin/python3"), json!("/usr/bin/python3"));
        assert_eq!(parse_value("10.0.0.1"), json!("10.0.0.1"));
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(parse_value(r#""quoted""#), json!("quoted"));
        assert_eq!(parse_value("'a' \"b\""), json!("ab"));
        assert_eq!(parse_value(r"'a\nb'"), json!("a\nb"));
        assert_eq!(parse_value(r"r'a\nb'"), json!("a\\nb"));
        assert_eq!(parse_value(r"'\x41\u00e9\q'"), json!("Aé\\q"));
        assert_eq!(parse_value("'''tri'ple'''"), json!("tri'ple"));
        assert_eq!(parse_value("f'x'"), json!("f'x'"));
        assert_eq!(parse_value("'unterminated"), json!("'unterminated"));
    }

    #[test]
    fn containers() {
        assert_eq!(parse_value("[1, 'a', [True]]"), json!([1, "a", [true]]));
        assert_eq!(parse_value("(1,)"), json!([1]));
        assert_eq!(parse_value("(1)"), json!(1));
        assert_eq!(parse_value("1, 2"), json!([1, 2]));
        assert_eq!(
            parse_value("{'k': 1, 2: None,}"),
            json!({"k": 1, "2": null})
        );
        assert_eq!(parse_value("{1, 2}"), json!([1, 2]));
        assert_eq!(parse_value("{}"), json!({}));
        assert_eq!(parse_value("[1, 2"), json!("[1, 2"));
        assert_eq!(parse_value("a,b"), json!("a,b"));
    }

    #[test]
    fn comments_and_whitespace() {
        assert_eq!(parse_value("  1 # one"), json!(1));
        assert_eq!(parse_value("hello # c"), json!("hello # c"));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = "[".repeat(10_000);
        assert_eq!(parse_value(&deep), json!(deep));
    }
}
