//! Module arguments: from a task's argument map to a module's typed argument struct.
//!
//! Owns: the one way every module reads its arguments — unknown parameters refused by name
//! with a did-you-mean, Ansible's aliases (serde `alias`), and Ansible's conversions of
//! argument types: booleans written `yes`/`on`/`1`/`"True"`, strings from numbers, lists from
//! comma-separated strings, file modes from `0644`, `"0644"` or `u=rw,g=r`.
//! Must not: know any module; a module's file declares its struct and its [`Param`] table.

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde_json::Value;

use crate::yaml::Vars;

/// One parameter of a module, as the docs show it. The module's argument struct must accept
/// exactly these names and aliases (a test checks every module).
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// What it does, for docs/modules.md: type and default first, as Ansible's docs put it.
    pub doc: &'static str,
}

/// A [`Param`] in one line of a table.
pub const fn param(
    name: &'static str,
    aliases: &'static [&'static str],
    doc: &'static str,
) -> Param {
    Param { name, aliases, doc }
}

/// Reads `args` into `T`. Parameters `T` does not know are refused by name, with the
/// closest known one; a value of the wrong type names its parameter.
pub fn parse<T: DeserializeOwned>(params: &[Param], args: &Vars) -> Result<T, String> {
    let mut unknown: Vec<String> = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(args, &mut note);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(de);
    // An unknown name explains a failure better than what followed from it.
    if let Some(u) = unknown.first() {
        return Err(unknown_param(params, u));
    }
    parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            inner
        } else {
            format!("{path}: {inner}")
        }
    })
}

pub(crate) fn unknown_param(params: &[Param], name: &str) -> String {
    if name == "_raw_params" {
        return "free-form text is not accepted here; write the arguments as key=value or a mapping"
            .into();
    }
    let names = params
        .iter()
        .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()));
    let hint = crate::suggest::did_you_mean(name, names);
    if hint.is_empty() {
        format!("unsupported parameter '{name}'")
    } else {
        format!("unsupported parameter '{name}'; {hint}")
    }
}

/// The field names (with aliases) a struct's `Deserialize` accepts, asked of serde itself.
pub fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe(Option<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for &mut Probe {
        type Error = de::value::Error;
        fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("probe"))
        }
        fn deserialize_struct<V: de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("probe"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut p = Probe(None);
    let _ = T::deserialize(&mut p);
    p.0.unwrap_or(&[])
}

/// Ansible's reading of a boolean: `true`/`false`, `yes`/`no`, `on`/`off`, `y`/`n`, `t`/`f`,
/// `1`/`0` in any case, and the numbers 1 and 0.
pub fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "y" | "t" | "1.0" => Some(true),
            "false" | "no" | "off" | "0" | "n" | "f" | "0.0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// For `#[serde(deserialize_with = "args::boolean")]` on a `bool` field (with a default).
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Value::deserialize(d)?;
    bool_of(&v).ok_or_else(|| {
        de::Error::custom(format!(
            "{} is not a boolean (true/false, yes/no, on/off, 1/0)",
            shown(&v)
        ))
    })
}

/// An optional boolean; `null` is "not given".
pub fn opt_boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    bool_of(&v).map(Some).ok_or_else(|| {
        de::Error::custom(format!(
            "{} is not a boolean (true/false, yes/no, on/off, 1/0)",
            shown(&v)
        ))
    })
}

/// Text of a scalar, as Ansible's `str` type takes numbers and booleans.
pub fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

/// An optional string that also takes numbers and booleans; `null` is "not given".
pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    text_of(&v)
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("{} is not a string", shown(&v))))
}

/// A required string that also takes numbers and booleans.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    text_of(&v).ok_or_else(|| de::Error::custom(format!("{} is not a string", shown(&v))))
}

/// A list of strings: a YAML list, or one string split at commas (Ansible's `list` type).
pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                text_of(i).ok_or_else(|| de::Error::custom(format!("{} is not a string", shown(i))))
            })
            .collect(),
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()),
        other => text_of(other)
            .map(|t| vec![t])
            .ok_or_else(|| de::Error::custom(format!("{} is not a list", shown(other)))),
    }
}

/// An optional number (seconds, counts): numbers or numeric strings; `null` is "not given".
pub fn opt_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("'{s}' is not a number"))),
        other => Err(de::Error::custom(format!(
            "{} is not a number",
            shown(other)
        ))),
    }
}

/// An optional number of seconds (a wait or a timeout), 0 to 7 days; `null` is "not given".
pub fn opt_seconds<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    crate::bounds::seconds("the value", &v)
        .map(Some)
        .map_err(de::Error::custom)
}

/// A file mode as `chmod` takes it. YAML's `0644` arrives as the integer 420, which is the
/// octal number meant (Ansible reads it the same way); `"0644"` and `"644"` are octal text;
/// `u=rw,g=r` is symbolic. `null` or an empty string is "not given".
pub fn mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    mode_of(&v).map_err(de::Error::custom)
}

pub fn mode_of(v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(m) if m <= 0o7777 => Ok(Some(format!("{m:o}"))),
            _ => Err(format!("{n} is not a valid mode")),
        },
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            if s.chars().all(|c| c.is_digit(8)) {
                return match u32::from_str_radix(s, 8) {
                    Ok(m) if m <= 0o7777 => Ok(Some(format!("{m:o}"))),
                    _ => Err(format!("'{s}' is not a valid mode")),
                };
            }
            if s.chars().all(|c| "ugoa+-=rwxXst,".contains(c)) {
                return Ok(Some(s.to_string()));
            }
            Err(format!(
                "'{s}' is not a mode (octal like 0644, or symbolic like u=rw,g=r)"
            ))
        }
        other => Err(format!("{} is not a mode", shown(other))),
    }
}

/// A value as an error message shows it.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// `true`, for `#[serde(default = "args::yes")]`.
pub fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Demo {
        #[serde(alias = "name", deserialize_with = "text")]
        path: String,
        #[serde(default, deserialize_with = "boolean")]
        force: bool,
        #[serde(default, deserialize_with = "mode")]
        mode: Option<String>,
        #[serde(default, deserialize_with = "list")]
        groups: Vec<String>,
    }

    const DEMO: &[Param] = &[
        param("path", &["name"], ""),
        param("force", &[], ""),
        param("mode", &[], ""),
        param("groups", &[], ""),
    ];

    fn demo(v: Value) -> Result<Demo, String> {
        let Value::Object(m) = v else { unreachable!() };
        parse::<Demo>(DEMO, &m)
    }

    #[test]
    fn coerces_as_ansible_does() {
        let d = demo(json!({"name": 12, "force": "yes", "mode": 420, "groups": "a, b,c"})).unwrap();
        assert_eq!(d.path, "12");
        assert!(d.force);
        assert_eq!(d.mode.as_deref(), Some("644"));
        assert_eq!(d.groups, ["a", "b", "c"]);
        let d = demo(json!({"path": "/x", "force": "Off", "mode": "0755"})).unwrap();
        assert!(!d.force);
        assert_eq!(d.mode.as_deref(), Some("755"));
        assert_eq!(
            demo(json!({"path": "/x", "mode": "u=rw,g=r"}))
                .unwrap()
                .mode
                .as_deref(),
            Some("u=rw,g=r")
        );
    }

    #[test]
    fn refuses_with_names() {
        let e = demo(json!({"path": "/x", "forse": true})).unwrap_err();
        assert_eq!(e, "unsupported parameter 'forse'; did you mean 'force'?");
        let e = demo(json!({"path": "/x", "force": "maybe"})).unwrap_err();
        assert!(e.starts_with("force: 'maybe' is not a boolean"), "{e}");
        let e = demo(json!({"force": true})).unwrap_err();
        assert!(e.contains("missing field `path`"), "{e}");
        let e = demo(json!({"path": "/x", "mode": "rwx; rm -rf /"})).unwrap_err();
        assert!(e.starts_with("mode: 'rwx; rm -rf /' is not a mode"), "{e}");
        let e = demo(json!({"path": "/x", "_raw_params": "a b"})).unwrap_err();
        assert!(e.starts_with("free-form text is not accepted"), "{e}");
    }

    #[test]
    fn fields_come_from_serde() {
        let mut f = fields_of::<Demo>().to_vec();
        f.sort_unstable();
        assert_eq!(f, ["force", "groups", "mode", "name", "path"]);
    }
}
