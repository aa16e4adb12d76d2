//! `shell:` an interactive shell on the host, on a pty, this terminal
//! handed to it until it exits: as the step's `become` user (through
//! `sudo`, which may ask for a password on the terminal), in `cwd`, with
//! the virtualenv `venv` active. What the seed's "ssh in, sudo bash, cd,
//! source venv/bin/activate" was, with no root shell.
//!
//! ```yaml
//! - name: a shell in the live release
//!   shell: {cwd: "{{ site_path }}", venv: "{{ venv_path }}", label: "{{ inventory_hostname }}"}
//!   become: "{{ app_user }}"
//! ```

use serde::Deserialize;

use super::kind::{Effect, Prepared, Render, StepKind, Tmpl};
use super::outcome::Outcome;
use crate::template::TemplateError;
use crate::transport::{RemoteCommand, quote};

/// The `shell:` kind.
pub struct ShellKind;

/// `shell:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellArgs {
    /// Where the shell starts.
    pub cwd: Tmpl,
    /// A virtualenv to activate.
    #[serde(default)]
    pub venv: Option<Tmpl>,
    /// Shown in the prompt (the host's name).
    #[serde(default)]
    pub label: Option<Tmpl>,
}

impl StepKind for ShellKind {
    const KEY: &'static str = "shell";
    const SUMMARY: &'static str =
        "an interactive shell on a pty, as the `become` user, in `cwd`, with `venv` active";
    type Args = ShellArgs;

    fn templates(a: &ShellArgs) -> Vec<&str> {
        [&a.cwd]
            .into_iter()
            .chain(&a.venv)
            .chain(&a.label)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &ShellArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let script = script(
            &render.text(&a.cwd)?,
            render.given(a.venv.as_ref())?.as_deref(),
            &render.optional(a.label.as_ref())?,
            render.become_user(),
            &render.base.env,
        );
        let command = RemoteCommand::new(script);
        Ok(Prepared::new(command, |ran| {
            Ok(Outcome {
                data: Some(serde_json::json!({ "exit": ran.output.exit_code })),
                ..Outcome::default()
            })
        })
        .with_effect(Effect::Interactive))
    }
}

/// The command line the pty runs: `sudo` to `user` if given, then `cd`,
/// the virtualenv, a prompt naming the host, and bash (else sh).
fn script(
    cwd: &str,
    venv: Option<&str>,
    label: &str,
    user: Option<&str>,
    env: &[(String, String)],
) -> String {
    let activate = venv.map_or_else(String::new, |v| {
        format!(". {}/bin/activate && ", quote(v.trim_end_matches('/')))
    });
    let prompt = format!("[{label}] \\u:\\w\\$ ");
    let exports = env.iter().fold(String::new(), |mut out, (k, v)| {
        out.push_str(&format!("export {k}={} && ", quote(v)));
        out
    });
    let inner = format!(
        "cd {} && {activate}{exports}export PS1={} && if command -v bash >/dev/null 2>&1; then exec bash --norc -i; else exec sh -i; fi",
        quote(cwd),
        quote(&prompt)
    );
    // With a sudo password given to wptdeploy (`-K`, a password file),
    // SUDO_ASKPASS names a one-time helper that hands it to sudo: it is
    // asked once, by wptdeploy, not again on the host.
    match user {
        Some(user) => format!(
            "exec sudo ${{SUDO_ASKPASS:+-A}} -H -u {} -- sh -c {}",
            quote(user),
            quote(&inner)
        ),
        None => inner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_starts_as_the_user_in_the_release_with_the_venv() {
        let line = script(
            "/srv/app/site",
            Some("/srv/app/venv/"),
            "web1",
            Some("www-data"),
            &[],
        );
        assert!(
            line.starts_with("exec sudo ${SUDO_ASKPASS:+-A} -H -u www-data -- sh -c "),
            "{line}"
        );
        let inner = script(
            "/srv/app/site",
            Some("/srv/app/venv"),
            "web1",
            None,
            &[("APP_MODE".into(), "a b".into())],
        );
        assert_eq!(
            inner,
            "cd /srv/app/site && . /srv/app/venv/bin/activate && export APP_MODE='a b' && export PS1='[web1] \\u:\\w\\$ ' && if command -v bash >/dev/null 2>&1; then exec bash --norc -i; else exec sh -i; fi"
        );
    }
}
