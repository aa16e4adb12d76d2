//! Shell functions done with the shell's own means: no `grep`, `dirname`
//! or command substitution (a fork, often an exec: about a millisecond of
//! a host's CPU each) for what pattern matching and parameter expansion
//! can tell.

/// `dir_of PATH`: sets `$dir` to the directory PATH is in, as `dirname`
/// says it for a path that does not end in `/`.
pub const DIR_OF: &str = r#"dir_of() {
  case $1 in */*) dir=${1%/*}; [ -n "$dir" ] || dir=/ ;; *) dir=. ;; esac
}
"#;

/// `is_hex LENGTH WORD`: whether WORD is LENGTH lowercase hex digits (a
/// commit's full SHA is 40).
pub const IS_HEX: &str = r#"is_hex() {
  case $2 in ''|*[!0-9a-f]*) return 1 ;; esac
  [ "${#2}" -eq "$1" ]
}
"#;

/// `is_venv_name WORD`: whether WORD names an environment in the store:
/// 16 hex digits, optionally followed by `-YYYYMMDDTHHMMSSZ` (a rebuild).
/// Needs [`IS_HEX`].
pub const IS_VENV_NAME: &str = r#"is_venv_name() {
  is_hex 16 "${1%%-*}" || return 1
  [ "${1%%-*}" = "$1" ] && return 0
  case ${1#*-} in [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z) return 0 ;; esac
  return 1
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `call` after the functions in a real `sh`: whether it succeeded.
    fn holds(call: &str) -> bool {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{DIR_OF}{IS_HEX}{IS_VENV_NAME}{call}"))
            .status()
            .unwrap()
            .success()
    }

    #[test]
    fn the_directory_of_a_path_is_what_dirname_says() {
        for (path, dir) in [
            ("/srv/app/.wptdeploy/history.jsonl", "/srv/app/.wptdeploy"),
            ("/history.jsonl", "/"),
            ("history.jsonl", "."),
            ("a/b", "a"),
            ("/srv/with space/f", "/srv/with space"),
        ] {
            assert!(
                holds(&format!("dir_of '{path}'; [ \"$dir\" = '{dir}' ]")),
                "{path}"
            );
        }
    }

    #[test]
    fn full_shas_are_forty_lowercase_hex_digits() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert!(holds(&format!("is_hex 40 {sha}")));
        assert!(!holds(&format!("is_hex 40 {}", &sha[..39])));
        assert!(!holds(&format!("is_hex 40 {sha}8")));
        assert!(!holds(&format!("is_hex 40 {}", sha.to_uppercase())));
        assert!(!holds("is_hex 40 ''"));
        assert!(!holds(&format!("is_hex 40 '{} '", &sha[..39])));
        assert!(!holds("is_hex 4 'a*b?'"));
        assert!(holds("is_hex 4 beef"));
    }

    #[test]
    fn environment_names_are_a_hash_and_maybe_a_rebuild_time() {
        assert!(holds("is_venv_name 0123456789abcdef"));
        assert!(holds("is_venv_name 0123456789abcdef-20261208T021500Z"));
        assert!(!holds("is_venv_name 0123456789abcde"));
        assert!(!holds("is_venv_name 0123456789abcdef-20261208T0215Z"));
        assert!(!holds("is_venv_name 0123456789abcdef-20261208T021500Z-x"));
        assert!(!holds("is_venv_name 0123456789abcdef-"));
        assert!(!holds("is_venv_name adopted-1"));
        assert!(!holds("is_venv_name ''"));
    }
}
