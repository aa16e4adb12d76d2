//! A local package index: a directory of wheels (pip's and uv's
//! `--find-links`), each a real, installable pure-Python wheel made here
//! (its METADATA, WHEEL and RECORD with the files' SHA-256), so that a
//! test can publish version 2 of a package after a build used version 1.

use std::path::Path;
use std::process::Command;

/// Writes `NAME-VERSION-py3-none-any.whl` into `dir` for each
/// `(name, version, requirements)`; the package's module is `name` and
/// holds `VERSION`.
pub fn publish(dir: &Path, wheels: &[(&str, &str, &[&str])]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, version, requires) in wheels {
        let status = Command::new(super::sandbox::SYSTEM_PYTHON)
            .arg("-c")
            .arg(WHEEL_MAKER)
            .arg(dir)
            .arg(name)
            .arg(version)
            .args(*requires)
            .status()
            .expect("run python3");
        assert!(status.success(), "making the wheel {name} {version}");
    }
}

/// Python's zipfile and hashlib make the wheel (no build backend needed).
const WHEEL_MAKER: &str = r#"
import base64, hashlib, os, sys, zipfile
out, name, version, requires = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
module = name.replace("-", "_")
dist = f"{module}-{version}.dist-info"
files = {
    f"{module}/__init__.py": f"VERSION = {version!r}\n",
    f"{dist}/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (name, version, "".join(f"Requires-Dist: {r}\n" for r in requires)),
    f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: wptdeploy-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for path, text in files.items():
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append(f"{dist}/RECORD,,")
files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(os.path.join(out, f"{module}-{version}-py3-none-any.whl"), "w") as wheel:
    for path, text in files.items():
        wheel.writestr(path, text)
"#;
