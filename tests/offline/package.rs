//! `scripts/package`: the release archive a user installs without a Rust
//! toolchain, unpacked as its INSTALL says and run with nothing of the
//! build on PATH.

use std::path::Path;
use std::process::Command;

use super::command_line::{completed_by, project_to_complete};
use crate::support::bin;
use crate::support::sandbox::run;

/// The archive of the suite's binary: checksum, layout, the binary run
/// on a clean PATH, its man page, and its completions found where the
/// shells look, completing an environment with only the archive's
/// wptdeploy on PATH.
#[test]
fn the_release_archive_unpacks_as_a_prefix_and_runs_on_a_clean_path() {
    let out = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let printed = run(Command::new("scripts/package")
        .arg("--binary")
        .arg(bin())
        .arg("--out")
        .arg(out.path())
        .current_dir(repo));
    let version = env!("CARGO_PKG_VERSION");
    let name = format!("wptdeploy-{version}-x86_64-linux-gnu");
    let archive = format!("{name}.tar.gz");
    assert!(printed.contains(&archive), "{printed}");
    assert!(printed.contains("glibc 2."), "{printed}");

    // The SHA-256 file checks the archive, and fails on a changed one.
    run(Command::new("sha256sum")
        .args(["--check", &format!("{archive}.sha256")])
        .current_dir(out.path()));
    let listing = run(Command::new("tar")
        .args(["-tzvf", &archive])
        .current_dir(out.path()));
    assert!(
        listing.lines().all(|l| l.contains("0/0")),
        "owned by root:root in the archive, not by whoever built it:\n{listing}"
    );

    let prefix = out.path().join("prefix");
    std::fs::create_dir(&prefix).unwrap();
    run(Command::new("tar")
        .args(["-xzf", &archive, "--strip-components=1", "-C"])
        .arg(&prefix)
        .current_dir(out.path()));
    for file in [
        "bin/wptdeploy",
        "share/man/man1/wptdeploy.1",
        "share/bash-completion/completions/wptdeploy",
        "share/zsh/site-functions/_wptdeploy",
        "share/fish/vendor_completions.d/wptdeploy.fish",
        "share/doc/wptdeploy/README.md",
        "INSTALL",
    ] {
        assert!(prefix.join(file).is_file(), "{file} is not in the archive");
    }
    let install = std::fs::read_to_string(prefix.join("INSTALL")).unwrap();
    assert!(install.contains(&format!("tar -xzf {archive} --strip-components=1")));

    // Nothing of the build on PATH: the unpacked binary runs by itself.
    let clean_path = format!("{}:/usr/bin:/bin", prefix.join("bin").display());
    let version_out = Command::new("wptdeploy")
        .arg("--version")
        .env_clear()
        .env("PATH", &clean_path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version_out.stdout).trim(),
        format!("wptdeploy {version}")
    );
    let page = std::fs::read_to_string(prefix.join("share/man/man1/wptdeploy.1")).unwrap();
    assert!(page.contains(".TH wptdeploy 1"), "{}", &page[..200]);

    // The archive's bash script, with the archive's wptdeploy alone on PATH.
    let project = project_to_complete();
    let completed = completed_by(
        "bash",
        project.path(),
        "wptdeploy stag",
        &prefix.join("share/bash-completion/completions/wptdeploy"),
        &clean_path,
    );
    assert_eq!(completed.trim(), "staging");
    // zsh: compinit finds `_wptdeploy` on fpath, and the first Tab of an
    // interactive zsh (on a pty, zsh's own zpty) completes.
    let session = out.path().join("tab.zsh");
    std::fs::write(
        &session,
        format!(
            r#"zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'fpath=({functions} $fpath); autoload -Uz compinit; compinit -u -d {dump}; PATH={path}; cd {project}'
sleep 1
zpty -w -n z $'wptdeploy stagi\t'
sleep 1
zpty -w -n z $'\n'
sleep 1
all=
while zpty -r -t z chunk; do all+=$chunk; done
print -r -- "$all"
zpty -d z
"#,
            functions = prefix.join("share/zsh/site-functions").display(),
            dump = out.path().join("zcompdump").display(),
            path = clean_path,
            project = project.path().display(),
        ),
    )
    .unwrap();
    let typed = run(Command::new("zsh")
        .arg("-f")
        .arg(&session)
        .current_dir(out.path()));
    assert!(
        typed.contains("wptdeploy staging"),
        "zsh did not complete `stagi` at the first Tab:\n{typed}"
    );

    // A changed archive fails its checksum.
    std::fs::write(out.path().join(&archive), b"changed").unwrap();
    let check = Command::new("sha256sum")
        .args(["--check", &format!("{archive}.sha256")])
        .current_dir(out.path())
        .output()
        .unwrap();
    assert!(!check.status.success());
}
