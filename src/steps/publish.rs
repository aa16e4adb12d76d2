//! `publish:` give a built release its name, in one `rename(2)`.
//!
//! ```yaml
//! - name: publish release {{ release.sha }}
//!   publish:
//!     build: "{{ release.build_path }}"
//!     release: "{{ release.path }}"
//! ```
//!
//! A release directory exists under its name only once complete: it is
//! built in `build` and renamed into place. A release of that name already
//! there (`--force`, the live one included) is swapped with the new build
//! in one `renameat2(RENAME_EXCHANGE)` (`mv --exchange`, else through
//! python3's libc), so the path the live link names never lacks a
//! complete release; the old copy is then removed from `build`'s place.
//! `prune:` takes a release out of its name the same way before removing
//! it, so no half-removed directory ever carries a release's name.

use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::{Outcome, markers};
use crate::template::TemplateError;
use crate::transport::quote;

/// The `publish:` kind.
pub struct PublishKind;

/// `publish:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishArgs {
    /// The built release.
    pub build: Tmpl,
    /// Its name: `base_path/SHA`.
    pub release: Tmpl,
}

impl StepKind for PublishKind {
    const KEY: &'static str = "publish";
    const SUMMARY: &'static str =
        "rename a built release into place, swapping atomically with one of that name";
    type Args = PublishArgs;

    fn templates(a: &PublishArgs) -> Vec<&str> {
        vec![&a.build.0, &a.release.0]
    }

    fn prepare(a: &PublishArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let script = format!(
            "build={} release={}\n",
            quote(&render.text(&a.build)?),
            quote(&render.text(&a.release)?)
        ) + SCRIPT;
        Ok(Prepared::new(render.command(script), |ran| {
            let marks = ran.succeeded()?;
            let mut outcome = Outcome {
                changed: true,
                ..Outcome::default()
            };
            if marks.contains_key("swapped") {
                outcome.note = Some("swapped in place of the copy of the same commit".into());
            }
            if let Some(why) = markers(&ran.output.stdout).get("left") {
                outcome.warnings.push(format!(
                    "the copy it replaced could not be removed ({why}); the next deploy's clone removes it"
                ));
            }
            Ok(outcome)
        }))
    }
}

/// The script after the values.
const SCRIPT: &str = r#"set -e
fail() { echo "wptdeploy: $1" >&2; exit 3; }
[ -d "$build" ] && [ ! -L "$build" ] || fail "there is no built release at $build"
if [ ! -e "$release" ] && [ ! -L "$release" ]; then
  mv -T -- "$build" "$release"; exit 0
fi
exchange() {
  mv --exchange -T -- "$1" "$2" 2>/dev/null \
    || python3 -c 'import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
at = -100  # AT_FDCWD
if libc.renameat2(at, os.fsencode(sys.argv[1]), at, os.fsencode(sys.argv[2]), 2) != 0:
    sys.exit(os.strerror(ctypes.get_errno()))' "$1" "$2"
}
why=$(exchange "$build" "$release" 2>&1) || fail "cannot swap the new build with $release in one rename ($why); it was left as it was: deploy another commit, or switch away from it first"
echo "wptdeploy.swapped=yes"
if ! out=$(rm -rf -- "$build" 2>&1); then
  chmod -R u+w -- "$build" 2>/dev/null || true
  out=$(rm -rf -- "$build" 2>&1) || echo "wptdeploy.left=$(printf '%s' "$out" | head -n 1)"
fi
"#;
