//! "Did you mean": the known name closest to a typed one, and lists of
//! choices in words. Close means a Jaro similarity above 0.7 (as clap
//! suggests subcommands: good for prefixes, `prod` for `production`) or a
//! Damerau-Levenshtein similarity of 0.6 or more (good for swapped letters
//! in short words: `fxi` for `fix`).

/// The name among `known` closest to `typed`, if one is close enough to be
/// a typo of it.
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .filter(|k| *k != typed)
        .map(|k| {
            let jaro = strsim::jaro(typed, k);
            let edits = strsim::normalized_damerau_levenshtein(typed, k);
            (jaro > 0.7 || edits >= 0.6, jaro + edits, k)
        })
        .filter(|(close, _, _)| *close)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(_, _, k)| k)
}

/// ` (did you mean `NAME`?)` when a known name is close to `typed`, else nothing.
pub fn did_you_mean<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    closest(typed, known).map_or_else(String::new, |k| format!(" (did you mean `{k}`?)"))
}

/// `` `a`, `b` or `c` ``.
pub fn one_of(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name_and_a_stranger_finds_none() {
        let kinds = ["checkout", "healthcheck", "migrations"];
        assert_eq!(closest("chekout", kinds), Some("checkout"));
        assert_eq!(closest("migration", kinds), Some("migrations"));
        assert_eq!(closest("zzz", kinds), None);
        assert_eq!(closest("fxi", ["check", "fix"]), Some("fix"));
        assert_eq!(
            closest("prod", ["staging", "production"]),
            Some("production")
        );
        assert_eq!(
            did_you_mean("helthcheck", kinds),
            " (did you mean `healthcheck`?)"
        );
    }

    #[test]
    fn choices_read_as_words() {
        assert_eq!(one_of(&["check"]), "`check`");
        assert_eq!(one_of(&["check", "fix"]), "`check` or `fix`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
