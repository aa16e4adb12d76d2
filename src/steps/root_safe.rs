//! Shell functions for the steps that run as root next to what the app
//! user owns (docs/security.md): root acts only on paths no one else can
//! change, and reads or writes what the app user owns only *as* that user.

/// `as_user USER CMD...`: runs CMD as USER (as itself when USER is empty
/// or the current user): `runuser` as root, `sudo -n` otherwise.
pub const AS_USER: &str = r#"as_user() {
  as_user_name=$1; shift
  if [ -z "$as_user_name" ] || [ "$(id -un)" = "$as_user_name" ]; then "$@"
  elif [ "$(id -u)" = 0 ] && command -v runuser >/dev/null; then runuser -u "$as_user_name" -- "$@"
  else sudo -n -u "$as_user_name" -- "$@"; fi
}
"#;

/// `untrusted PATH`: prints the first existing component of PATH, from
/// `/` down, that someone other than root could change (a symbolic link,
/// or a directory not root's, or writable by its group or others without
/// the sticky bit), and nothing when root alone controls the whole path.
/// What OpenSSH's `StrictModes` asks of a home directory.
pub const UNTRUSTED: &str = r#"untrusted() {
  untrusted_rest=${1#/}; untrusted_at=
  while :; do
    [ -n "$untrusted_at" ] || untrusted_at=/
    if [ -L "$untrusted_at" ]; then printf '%s\n' "$untrusted_at"; return; fi
    if [ -e "$untrusted_at" ]; then
      set -- $(stat -c '%u %a' -- "$untrusted_at")
      if [ "$1" != 0 ] || { [ $((0$2 & 022)) != 0 ] && [ $((0$2 & 01000)) = 0 ]; }; then
        printf '%s\n' "$untrusted_at"; return
      fi
    fi
    [ -n "$untrusted_rest" ] || return 0
    untrusted_at="${untrusted_at%/}/${untrusted_rest%%/*}"
    case $untrusted_rest in */*) untrusted_rest=${untrusted_rest#*/} ;; *) untrusted_rest= ;; esac
  done
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn untrusted(path: &std::path::Path) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{UNTRUSTED}untrusted \"$1\""))
            .arg("sh")
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    #[test]
    fn a_link_or_a_directory_others_can_write_is_named() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = nix_is_root();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a");
        fs_err::create_dir(&dir).unwrap();
        fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let inner = dir.join("b/c");
        if root {
            // Root's own 0755 directories under a sticky /tmp: trusted.
            assert_eq!(untrusted(&inner), "", "{}", inner.display());
        } else {
            assert_eq!(untrusted(&inner), tmp.path().display().to_string());
        }
        fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        if root {
            assert_eq!(untrusted(&inner), dir.display().to_string());
        }
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink("/", &link).unwrap();
        if root {
            assert_eq!(untrusted(&link.join("etc")), link.display().to_string());
        }
    }

    fn nix_is_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n")
    }
}
