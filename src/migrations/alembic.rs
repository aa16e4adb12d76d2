//! Reading what the app's migrate command prints: `db current` (after an
//! upgrade or downgrade: `<rev> (head)`, nothing for a database without an
//! `alembic_version` table) and `db migrate` (the file it generated).

/// The first word of each line that looks like a revision id.
pub fn revision_ids(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.len() >= 4 && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .map(str::to_owned)
        .collect()
}

/// The path in `Generating /abs/path/versions/<rev>_<slug>.py ...  done`.
pub fn generated_file(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("Generating ")?;
        let path = rest.split(" ...").next()?.trim();
        path.ends_with(".py").then(|| path.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_generated_files() {
        assert_eq!(revision_ids("4dafe3eac60e (head)\n"), ["4dafe3eac60e"]);
        assert!(revision_ids("").is_empty());
        assert_eq!(
            generated_file(
                "Generating /srv/x/migrations/versions/4dafe3eac60e_add_comment_url.py ...  done\n"
            )
            .as_deref(),
            Some("/srv/x/migrations/versions/4dafe3eac60e_add_comment_url.py")
        );
        assert_eq!(generated_file("No changes in schema detected.\n"), None);
    }
}
