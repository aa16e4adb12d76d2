//! `switch:` and `prune:`: the live symlink and the releases beside it.

use crate::transport::quote;

/// Prints what `link` points at (nothing if it is not a link).
pub fn read_link_script(link: &str) -> String {
    format!("readlink -- {} || true\n", quote(link))
}

/// Points `link` at `target` by renaming a temporary symlink over it, so
/// the link is never missing; prints the previous target.
pub fn switch_script(link: &str, target: &str) -> String {
    format!("link={} target={}\n", quote(link), quote(target))
        + r#"set -e
previous=$(readlink -- "$link" 2>/dev/null || true)
printf 'wptdeploy.previous=%s\n' "$previous"
[ -d "$target" ] || { echo "wptdeploy: $target is not a directory" >&2; exit 3; }
if [ "$previous" = "$target" ]; then touch -- "$target"; echo wptdeploy.changed=false; exit 0; fi
tmp="$link.wptdeploy-$$"
ln -sfn -- "$target" "$tmp"
mv -Tf -- "$tmp" "$link"
touch -- "$target"
echo wptdeploy.changed=true
"#
}

/// Removes all but the `keep` most recently used release directories,
/// never the live one nor any of `protect`; and, with `backups`, the
/// database backups named after a removed release.
pub(super) fn prune_script(
    releases: &str,
    keep: usize,
    link: &str,
    protect: &[String],
    backups: Option<&str>,
) -> String {
    let mut protected: Vec<String> = protect
        .iter()
        .filter_map(|p| p.trim_end_matches('/').rsplit('/').next())
        .filter(|name| !name.is_empty())
        .map(quote)
        .collect();
    protected.push("\"$live\"".into());
    format!(
        "releases={} keep={keep} link={} backups={}\n",
        quote(releases),
        quote(link),
        quote(backups.unwrap_or_default())
    ) + &format!(
        r#"set -e
live=$(readlink -- "$link" 2>/dev/null || true); live=${{live%/}}; live=${{live##*/}}
cd -- "$releases"
n=0
for d in $(ls -1t); do
  printf %s "$d" | grep -Eqx '[0-9a-f]{{40}}' || continue
  [ -d "$d" ] || continue
  n=$((n + 1))
  [ "$n" -le "$keep" ] && continue
  case "$d" in {}) continue ;; esac
  rm -rf -- "$d"
  if [ -n "$backups" ]; then rm -f -- "$backups"/*-"$d"-*.dump; fi
  echo "wptdeploy.removed=$d"
done
"#,
        protected.join(" | ")
    )
}
