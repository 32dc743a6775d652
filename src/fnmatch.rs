//! Python's `fnmatch.translate`, which Ansible uses for shell-style name patterns (inventory
//! host patterns, `find`'s `patterns`): `*`, `?`, `[seq]` and `[!seq]`, the whole name
//! matched. Owns only the translation to a regular expression.

/// The regular expression (for the `regex` crate) a shell pattern means.
pub fn translate(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut re = String::from("^(?s:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '[' => {
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    re.push_str("\\[");
                } else {
                    let mut class: String = chars[i..j].iter().collect();
                    i = j + 1;
                    class = class.replace('\\', "\\\\").replace('[', "\\[");
                    if let Some(rest) = class.strip_prefix('!') {
                        class = format!("^{rest}");
                    } else if class.starts_with('^') {
                        class = format!("\\{class}");
                    }
                    re.push('[');
                    re.push_str(&class);
                    re.push(']');
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push_str(")$");
    re
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn as_python_translates() {
        let m = |g: &str, s: &str| regex::Regex::new(&translate(g)).unwrap().is_match(s);
        assert!(m("web*", "web1"));
        assert!(!m("web*", "db1"));
        assert!(m("h0?", "h01"));
        assert!(m("[ab]*", "beta"));
        assert!(!m("[!ab]*", "beta"));
        assert!(m("[^x]", "^"));
        assert!(m("[", "["));
        assert!(!m("a.c", "abc"));
    }
}
