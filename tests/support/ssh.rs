//! The system ssh under test: a wrapper that logs its calls and can add
//! arguments (`-F CONFIG`: the system ssh reads the passwd home's config,
//! not $HOME's), and the sandbox's own `~/.ssh/config`.

use crate::support::{Run, Sandbox, bin};

/// Puts an `ssh` first on PATH that logs its arguments to `ssh-calls`
/// and runs the real one with `extra` arguments first; returns the PATH.
pub fn ssh_wrapper(s: &Sandbox, extra: &str) -> String {
    let bin_dir = s.dir.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let wrapper = bin_dir.join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> {log}\nexec /usr/bin/ssh {extra} \"$@\"\n",
            log = s.dir.join("ssh-calls").display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&wrapper)
        .status()
        .unwrap();
    format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

pub fn run_with_path(s: &Sandbox, path: &str, args: &[&str]) -> Run {
    Run::from_command(
        s.command(bin())
            .env("PATH", path)
            .args(args)
            .arg("--no-progress"),
    )
}

pub fn ssh_calls(s: &Sandbox) -> String {
    std::fs::read_to_string(s.dir.join("ssh-calls")).unwrap_or_default()
}

/// Writes `$HOME/.ssh/config` (HOME is the sandbox); returns its path.
pub fn write_ssh_config(s: &Sandbox, text: &str) -> std::path::PathBuf {
    let path = s.dir.join(".ssh/config");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}
