//! INI files read as Python's `configparser` reads them for ansible-core's `ini` lookup:
//! `[section]` headers, `key = value` or `key: value` (the first `=` or `:`), `#` and `;`
//! comment lines, indented lines continuing a value, values taken from `[DEFAULT]` when a
//! section lacks them, keys lowercased unless case-sensitive.
//!
//! Owns: parsing and looking up. Must not: find or read files.

use std::collections::BTreeMap;

/// Sections (lowercase names kept as written) → keys → value (`None`: a key with no value,
/// when allowed).
#[derive(Debug, Default)]
pub struct Ini {
    defaults: Vec<(String, Option<String>)>,
    sections: BTreeMap<String, Vec<(String, Option<String>)>>,
}

impl Ini {
    pub fn parse(text: &str, case_sensitive: bool, allow_no_value: bool) -> Result<Ini, String> {
        let mut ini = Ini::default();
        let mut current: Option<String> = None;
        let mut last_key: Option<usize> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                if trimmed.is_empty() {
                    last_key = None;
                }
                continue;
            }
            let indented = line.len() != trimmed.len();
            if indented && let Some(k) = last_key {
                let entries = match &current {
                    Some(s) => ini.sections.get_mut(s),
                    None => Some(&mut ini.defaults),
                };
                if let Some(entries) = entries
                    && let Some((_, v)) = entries.get_mut(k)
                {
                    let v = v.get_or_insert_with(String::new);
                    v.push('\n');
                    v.push_str(trimmed);
                    continue;
                }
            }
            if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                current = if name == "DEFAULT" {
                    None
                } else {
                    ini.sections.entry(name.to_string()).or_default();
                    Some(name.to_string())
                };
                last_key = None;
                continue;
            }
            let section = current.clone();
            let (key, value) = match trimmed.find(['=', ':']) {
                Some(i) => (
                    trimmed[..i].trim().to_string(),
                    Some(trimmed[i + 1..].trim().to_string()),
                ),
                None if allow_no_value => (trimmed.to_string(), None),
                None => {
                    return Err(format!("line {}: '{trimmed}' is not 'key = value'", n + 1));
                }
            };
            let key = if case_sensitive {
                key
            } else {
                key.to_lowercase()
            };
            let entries = match &section {
                Some(s) => ini.sections.entry(s.clone()).or_default(),
                None => &mut ini.defaults,
            };
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(format!("duplicate option '{key}'"));
            }
            entries.push((key, value));
            last_key = Some(entries.len() - 1);
        }
        Ok(ini)
    }

    fn entries(&self, section: &str) -> Option<Vec<&(String, Option<String>)>> {
        let own = self.sections.get(section)?;
        let mut all: Vec<&(String, Option<String>)> = own.iter().collect();
        for d in &self.defaults {
            if !own.iter().any(|(k, _)| *k == d.0) {
                all.push(d);
            }
        }
        Some(all)
    }

    /// The value of `key` in `section` (`Err` when the section does not exist; `Ok(None)`
    /// when the key does not).
    pub fn get(
        &self,
        section: &str,
        key: &str,
        case_sensitive: bool,
    ) -> Result<Option<Option<String>>, ()> {
        let key = if case_sensitive {
            key.to_string()
        } else {
            key.to_lowercase()
        };
        let entries = self.entries(section).ok_or(())?;
        Ok(entries
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone()))
    }

    /// The values of every key in `section` that `re` matches at its start.
    pub fn matching(&self, section: &str, re: &regex::Regex) -> Result<Vec<Option<String>>, ()> {
        let entries = self.entries(section).ok_or(())?;
        Ok(entries
            .into_iter()
            .filter(|(k, _)| re.find(k).is_some_and(|m| m.start() == 0))
            .map(|(_, v)| v.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::Ini;

    #[test]
    fn reads_as_configparser() {
        let ini = Ini::parse(
            "[DEFAULT]\nshared = yes\n[web]\nPort = 80\nname: front\n  end\n; comment\n[db]\nport=5432\n",
            false,
            false,
        )
        .expect("parse");
        assert_eq!(ini.get("web", "port", false), Ok(Some(Some("80".into()))));
        assert_eq!(
            ini.get("web", "name", false),
            Ok(Some(Some("front\nend".into())))
        );
        assert_eq!(ini.get("db", "shared", false), Ok(Some(Some("yes".into()))));
        assert_eq!(ini.get("db", "nothing", false), Ok(None));
        assert!(ini.get("none", "x", false).is_err());
        assert!(Ini::parse("[a]\nk=1\nk=2\n", false, false).is_err());
        let re = regex::Regex::new("p").expect("re");
        assert_eq!(ini.matching("web", &re), Ok(vec![Some("80".to_string())]));
    }
}
