//! YAML loading with source positions, the way Ansible's loader types scalars.
//!
//! Owns: turning YAML text into a [`Node`] tree where every node knows its line and column,
//! and turning nodes into plain [`Value`]s (JSON-shaped data) for variables.
//! Must not: know anything about inventories, playbooks or hosts; do any I/O beyond reading
//! the one file it is asked to read.
//!
//! Scalars are typed like PyYAML's YAML 1.1 loader that Ansible uses: `yes`/`no`/`on`/`off`
//! are booleans and `0644` is the octal integer 420. Duplicate keys in one mapping are
//! refused (Ansible only warns and keeps the last, which hides typos such as two `when:`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::{Options, Spanned, Tagged};

/// Variables as Ansible sees them: an ordered map of names to JSON-shaped values.
pub type Vars = serde_json::Map<String, Value>;

/// A position in a source file, 1-based. `line == 0` means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A YAML node with the position it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub pos: Pos,
}

/// The value of a YAML node; mappings keep their order and key positions.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl NodeValue {
    /// The YAML kind of this value, for error messages ("a mapping", "a string", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a float",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The scalar as a string key, the way Python would spell it (`1`, `true`, `1.5`).
    pub fn as_key(&self) -> Option<String> {
        match &self.value {
            NodeValue::Str(s) => Some(s.clone()),
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            NodeValue::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
            NodeValue::Null => None,
            NodeValue::Seq(_) | NodeValue::Map(_) => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// Converts to a plain JSON-shaped value, dropping positions. Mapping keys that are not
    /// strings are spelled as strings (Ansible variables only have string keys in practice).
    pub fn to_value(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(f.to_string())),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeValue::Map(pairs) => {
                let mut map = Vars::new();
                for (k, v) in pairs {
                    map.insert(k.as_key().unwrap_or_default(), v.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Tagged<NodeValue>>::deserialize(deserializer)?;
        let loc = spanned.referenced;
        let Tagged(mut value, tag) = spanned.value;
        match tag.as_deref() {
            Some("!unsafe") => mark_unsafe(&mut value),
            // A value `ansible-vault encrypt_string` wrote: decrypted now (a string).
            Some("!vault") => {
                let NodeValue::Str(cipher) = &value else {
                    return Err(serde::de::Error::custom(
                        "a !vault value must be the text ansible-vault encrypt_string writes",
                    ));
                };
                let plain = crate::vault::decrypt(cipher)
                    .map_err(|e| serde::de::Error::custom(format!("{VAULT_VALUE}{e}")))?;
                value = NodeValue::Str(String::from_utf8(plain).map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{VAULT_VALUE}the decrypted value is not UTF-8 text"
                    ))
                })?);
            }
            _ => {}
        }
        Ok(Node {
            value,
            pos: Pos {
                line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
                col: u32::try_from(loc.column()).unwrap_or(u32::MAX),
            },
        })
    }
}

/// Ansible's `!unsafe` tag: the value's text is never templated. Each string in it that
/// holds template syntax is replaced by a Jinja expression whose value is exactly that text
/// (a string literal), so wherever it is templated it comes out as written.
fn mark_unsafe(value: &mut NodeValue) {
    match value {
        NodeValue::Str(s) => *s = unsafe_text(s),
        NodeValue::Seq(items) => items.iter_mut().for_each(|n| mark_unsafe(&mut n.value)),
        NodeValue::Map(pairs) => pairs
            .iter_mut()
            .for_each(|(_, v)| mark_unsafe(&mut v.value)),
        _ => {}
    }
}

/// `s` as a template that renders to exactly `s`: itself when it holds no template syntax,
/// else one expression concatenating single-quoted pieces of `s` (which hold neither quote
/// nor backslash), `"'"` for a quote and `'\\'[0]` for a backslash. It reads the same
/// whether or not string constants' escapes are processed (ansible-core processes them in
/// conditions, not in YAML values; see template/backslash.rs).
pub fn unsafe_text(s: &str) -> String {
    if !(s.contains("{{") || s.contains("{%") || s.contains("{#")) {
        return s.to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut piece = String::new();
    for c in s.chars() {
        match c {
            '\'' | '\\' => {
                if !piece.is_empty() {
                    parts.push(format!("'{}'", std::mem::take(&mut piece)));
                }
                parts.push(if c == '\'' {
                    "\"'\"".into()
                } else {
                    "'\\\\'[0]".into()
                });
            }
            c => piece.push(c),
        }
    }
    if !piece.is_empty() || parts.is_empty() {
        parts.push(format!("'{piece}'"));
    }
    format!("{{{{ {} }}}}", parts.join(" ~ "))
}

/// `v` with every string (keys are never rendered) made [`unsafe_text`]: a value that comes
/// from outside the playbook (monitoring data) renders as exactly itself wherever it is used.
pub fn unsafe_value(v: &mut Value) {
    match v {
        Value::String(s) => *s = unsafe_text(s),
        Value::Array(items) => items.iter_mut().for_each(unsafe_value),
        Value::Object(m) => m.values_mut().for_each(unsafe_value),
        _ => {}
    }
}

struct NodeValueVisitor;

impl<'de> Visitor<'de> for NodeValueVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Int(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<NodeValue, E> {
        Ok(i64::try_from(v)
            .map(NodeValue::Int)
            .unwrap_or(NodeValue::Float(v as f64)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeValue, E> {
        Ok(i64::try_from(v)
            .map(NodeValue::Int)
            .unwrap_or(NodeValue::Float(v as f64)))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<NodeValue, E> {
        Ok(i64::try_from(v)
            .map(NodeValue::Int)
            .unwrap_or(NodeValue::Float(v as f64)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeValue, E> {
        Ok(NodeValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some((k, v)) = map.next_entry::<Node, Node>()? {
            pairs.push((k, v));
        }
        Ok(NodeValue::Map(pairs))
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeValueVisitor)
    }
}

/// A YAML file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{pos}: invalid YAML: {message}")]
    Syntax {
        path: PathBuf,
        pos: Pos,
        message: String,
    },
    /// A vaulted file or `!vault` value that cannot be decrypted.
    #[error("{path}:{pos}: vault: {message}")]
    Vault {
        path: PathBuf,
        pos: Pos,
        message: String,
    },
}

/// Marks a `!vault` failure in the parser's error, to report it as one.
const VAULT_VALUE: &str = "!vault value: ";

impl YamlError {
    pub fn pos(&self) -> Option<Pos> {
        match self {
            YamlError::Read { .. } => None,
            YamlError::Syntax { pos, .. } | YamlError::Vault { pos, .. } => Some(*pos),
        }
    }
}

fn options() -> Options {
    let mut o = Options::default();
    o.legacy_octal_numbers = true;
    o.with_snippet = false;
    o
}

/// Parses YAML text (one document) into a positioned node tree. An empty document is
/// `Null`. `path` is only used to name the file in errors.
pub fn parse_str(text: &str, path: &Path) -> Result<Node, YamlError> {
    if text.trim().is_empty() || only_comments(text) {
        return Ok(Node {
            value: NodeValue::Null,
            pos: Pos { line: 1, col: 1 },
        });
    }
    let mut node = serde_saphyr::from_str_with_options::<Node>(text, options()).map_err(|e| {
        let pos = e
            .location()
            .map(|l| Pos {
                line: u32::try_from(l.line()).unwrap_or(0),
                col: u32::try_from(l.column()).unwrap_or(0),
            })
            .unwrap_or_default();
        let message = first_line(&e.to_string());
        match message.find(VAULT_VALUE) {
            Some(at) => YamlError::Vault {
                path: path.to_path_buf(),
                pos,
                message: message[at + VAULT_VALUE.len()..].to_string(),
            },
            None => YamlError::Syntax {
                path: path.to_path_buf(),
                pos,
                message,
            },
        }
    })?;
    let lines: Vec<&str> = text.lines().collect();
    pyyaml_booleans(&mut node, &lines);
    Ok(node)
}

/// The YAML parser reads YAML 1.1 booleans in any case and with `y`/`n`; PyYAML, which
/// Ansible uses, only reads `yes`/`no`/`true`/`false`/`on`/`off` spelled all lower case,
/// Capitalised or ALL UPPER. A plain scalar spelled otherwise (`y`, `n`, `yEs`) is a string
/// there, so `register: y` names a variable `y`. The spelling is read back from the source.
fn pyyaml_booleans(node: &mut Node, lines: &[&str]) {
    match &mut node.value {
        NodeValue::Bool(_) => {
            if let Some(word) = source_word(lines, node.pos)
                && !is_pyyaml_bool(word)
                && parse_yaml11_word(word)
            {
                node.value = NodeValue::Str(word.to_string());
            }
        }
        NodeValue::Seq(items) => items.iter_mut().for_each(|n| pyyaml_booleans(n, lines)),
        NodeValue::Map(pairs) => pairs.iter_mut().for_each(|(k, v)| {
            pyyaml_booleans(k, lines);
            pyyaml_booleans(v, lines);
        }),
        _ => {}
    }
}

/// The plain scalar that starts at `pos`.
fn source_word<'t>(lines: &[&'t str], pos: Pos) -> Option<&'t str> {
    let line = lines.get(usize::try_from(pos.line).ok()?.checked_sub(1)?)?;
    let start = line
        .char_indices()
        .nth(usize::try_from(pos.col).ok()?.checked_sub(1)?)?
        .0;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}' | '#' | ':'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn is_pyyaml_bool(word: &str) -> bool {
    matches!(
        word,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// A spelling the YAML parser reads as a boolean (so that a word at a wrong position, which
/// would be some other token, is never taken for one).
fn parse_yaml11_word(word: &str) -> bool {
    ["y", "yes", "true", "on", "n", "no", "false", "off"]
        .iter()
        .any(|b| word.eq_ignore_ascii_case(b))
}

/// Reads and parses one YAML (or JSON) file.
pub fn load_file(path: &Path) -> Result<Node, YamlError> {
    let bytes = std::fs::read(path).map_err(|source| YamlError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // A file `ansible-vault encrypt` wrote: decrypted first.
    let bytes = if crate::vault::is_vault(&bytes) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        crate::vault::decrypt(&text).map_err(|e| YamlError::Vault {
            path: path.to_path_buf(),
            pos: Pos { line: 1, col: 1 },
            message: e.to_string(),
        })?
    } else {
        bytes
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // valid_up_to is a char boundary: what precedes is valid text.
        let before = std::str::from_utf8(good).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        let bad = e.as_bytes().get(good.len()).copied().unwrap_or(0);
        YamlError::Syntax {
            path: path.to_path_buf(),
            pos: Pos {
                line: u32::try_from(line).unwrap_or(u32::MAX),
                col: u32::try_from(col).unwrap_or(u32::MAX),
            },
            message: format!("not UTF-8 text (byte 0x{bad:02X}); save the file as UTF-8"),
        }
    })?;
    parse_str(&text, path)
}

fn only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// serde-saphyr messages may carry a rendered snippet or a location suffix; keep one line,
/// since we print the position ourselves.
fn first_line(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or(msg).trim();
    // Drop a trailing " at line X column Y" that repeats our own position.
    match line.find(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Node {
        parse_str(s, Path::new("t.yml")).expect("parses")
    }

    #[test]
    fn booleans_are_read_as_pyyaml_reads_them() {
        let v = parse("a: y\nb: n\nc: yEs\nd: Yes\ne: [y, off, N]\nf: {y: 1}\ng: 'yes'\nh: TRUE\n")
            .to_value();
        assert_eq!(
            v,
            serde_json::json!({"a": "y", "b": "n", "c": "yEs", "d": true, "e": ["y", false, "N"],
                "f": {"y": 1}, "g": "yes", "h": true})
        );
    }

    #[test]
    fn unsafe_tag_marks_every_string_inside() {
        let v = parse("a: !unsafe '{{ x }}'\nb: !unsafe ['{{ y }}', 1]\nc: '{{ z }}'\n").to_value();
        assert_eq!(v["a"], serde_json::json!(unsafe_text("{{ x }}")));
        assert_ne!(v["a"], serde_json::json!("{{ x }}"));
        assert_eq!(v["b"], serde_json::json!([unsafe_text("{{ y }}"), 1]));
        assert_eq!(v["c"], serde_json::json!("{{ z }}"));
    }

    #[test]
    fn positions_of_nested_nodes() {
        let n = parse("a: 1\nb:\n  - x\n  - {c: d}\n");
        let map = n.as_map().expect("map");
        assert_eq!(map[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(map[1].0.pos.line, 2);
        let NodeValue::Seq(items) = &map[1].1.value else {
            panic!("seq")
        };
        assert_eq!(items[0].pos.line, 3);
        assert_eq!(items[1].pos.line, 4);
    }

    #[test]
    fn yaml_1_1_scalars_like_pyyaml() {
        let n = parse("a: yes\nb: off\nc: 0644\nd: 1.5\ne: ~\nf: '0644'\ng: 12\n");
        let v = n.to_value();
        assert_eq!(v["a"], Value::Bool(true));
        assert_eq!(v["b"], Value::Bool(false));
        assert_eq!(v["c"], Value::from(420));
        assert_eq!(v["d"], Value::from(1.5));
        assert_eq!(v["e"], Value::Null);
        assert_eq!(v["f"], Value::from("0644"));
        assert_eq!(v["g"], Value::from(12));
    }

    #[test]
    fn empty_and_comment_only_documents_are_null() {
        assert!(parse("").is_null());
        assert!(parse("# nothing\n---\n").is_null());
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_str("a: [1, 2\nb: 3\n", Path::new("bad.yml")).expect_err("must fail");
        let pos = err.pos().expect("pos");
        assert!(pos.line >= 1, "{err}");
        assert!(err.to_string().starts_with("bad.yml:"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse_str("a: 1\na: 2\n", Path::new("dup.yml")).expect_err("dup");
        assert!(err.to_string().contains("dup.yml:2"), "{err}");
    }

    #[test]
    fn json_is_yaml() {
        let n = parse(r#"{"all": {"hosts": {"h1": {"x": [1, "two"]}}}}"#);
        assert_eq!(
            n.to_value()["all"]["hosts"]["h1"]["x"][1],
            Value::from("two")
        );
    }
}
