//! Which refs may be deployed: git's `check-ref-format` rules, plus a
//! refusal of characters that only ever appear in refs to attack a shell.
//! Checked before any connection.

/// Characters git allows in ref names but wptdeploy refuses.
const SHELL_CHARS: &str = "$`;&|<>()'\"!#{}";

/// Checks `name` (a branch, tag or SHA); the error says what is wrong.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || *c == ' ') {
        return Err(format!("it contains {}", describe(c)));
    }
    if let Some(c) = name.chars().find(|c| "~^:?*[\\".contains(*c)) {
        return Err(format!("git does not allow `{c}` in ref names"));
    }
    if let Some(c) = name.chars().find(|c| SHELL_CHARS.contains(*c)) {
        return Err(format!("wptdeploy does not accept `{c}` in ref names"));
    }
    if name.starts_with('-') {
        return Err("it starts with `-`".into());
    }
    if name == "@" || name.contains("@{") || name.contains("..") || name.contains("//") {
        return Err("git does not allow `@`, `@{`, `..` or `//` there".into());
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        return Err("it starts or ends with `/`, or ends with `.`".into());
    }
    if name
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        return Err("a part starts with `.` or ends with `.lock`".into());
    }
    Ok(())
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\n' => "a newline".into(),
        c => format!("the control character {c:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn ordinary_refs_pass() {
        for ok in [
            "master",
            "my-branch",
            "feature/add_comment-url",
            "v1.2.3",
            "3f2a9c1d",
            "0123456789abcdef0123456789abcdef01234567",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn hostile_and_malformed_refs_are_refused() {
        for bad in [
            "x; rm -rf /",
            "x;touch /tmp/p",
            "$(id)",
            "`id`",
            "a\nb",
            "it's",
            "\"q\"",
            "-x",
            "a..b",
            "a.lock",
            ".hidden",
            "a//b",
            "",
            "a b",
            "x|y",
            "a@{1}",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_reason_is_specific() {
        assert_eq!(validate("x; rm -rf /"), Err("it contains a space".into()));
        assert_eq!(
            validate("$(id)"),
            Err("wptdeploy does not accept `$` in ref names".into())
        );
        assert_eq!(validate("a\nb"), Err("it contains a newline".into()));
    }
}
