//! `pip:` install requirements into a virtualenv, creating it if missing.
//! A stamp of the requirements file's checksum skips unchanged installs.

use crate::transport::quote;

pub(super) fn script(venv: &str, requirements: &str, python: &str) -> String {
    format!(
        "venv={} req={} python={}\n",
        quote(venv),
        quote(requirements),
        quote(python)
    ) + r#"set -e
[ -f "$req" ] || { echo "wptdeploy: requirements file $req does not exist" >&2; exit 3; }
if [ ! -x "$venv/bin/python" ]; then "$python" -m venv -- "$venv"; fi
stamp="$venv/.wptdeploy-requirements"
want=$(sha256sum < "$req" | cut -d ' ' -f 1)
if [ "$(cat -- "$stamp" 2>/dev/null)" = "$want" ]; then echo wptdeploy.changed=false; exit 0; fi
"$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -r "$req"
printf '%s\n' "$want" > "$stamp"
echo wptdeploy.changed=true
"#
}
