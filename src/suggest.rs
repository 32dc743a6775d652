//! "Did you mean …?" for names a user mistyped.
//!
//! Owns: picking the closest valid name by edit distance. Must not: know which names are valid
//! anywhere; callers pass the candidates.

/// Levenshtein distance between two strings, counted in characters.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `name`, if it is close enough to be a plausible typo
/// (at most a third of the name's length, and at least one edit allowed).
pub fn closest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ", did you mean 'x'?" or an empty string.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    closest(name, candidates)
        .map(|c| format!("did you mean '{c}'?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("hosts", "hosts"), 0);
        assert_eq!(distance("hostz", "hosts"), 1);
        assert_eq!(distance("chidren", "children"), 1);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn closest_only_when_plausible() {
        let c = ["hosts", "vars", "children"];
        assert_eq!(closest("chldren", c), Some("children"));
        assert_eq!(closest("var", c), Some("vars"));
        assert_eq!(closest("something", c), None);
    }
}
