//! `template:` render a file locally and write it on the host, atomically.
//!
//! ```yaml
//! - name: write the app's config
//!   template:
//!     src: config.txt.j2
//!     dest: "{{ release.build_path }}/config.txt"
//!     mode: "0640"
//! ```
//!
//! `src` is found in the project's playbooks/, then the Ansible tree beside
//! the inventory (`roles/*/templates/`, `templates/`), then the built-in
//! ones; or `content` gives the text itself. A file that holds a secret is
//! never written readable by others or writable by its group. `--check`
//! shows a diff against `current` (default `dest`).
//!
//! `items:` writes several files in one step, each `{src, dest}` (or
//! Ansible's `{file, dest}`), found and rendered the same way: Ansible's
//! `template: src={{item.file}} dest={{item.dest}}` over a list, as
//! wptdash's nginx role writes its `confs` and `shared`.
//!
//! ```yaml
//! - name: write nginx's files
//!   template:
//!     items: "{{ nginx_files }}"
//!     mode: "0644"
//! ```

use base64::Engine as _;
use serde::Deserialize;

use super::effect::SecretLine;
use super::kind::{Effect, FileWrite, Prepared, Render, StepKind, Tmpl, check_literal};
use super::outcome::markers;
use super::upload::{check_mode, encode, script};
use crate::sources::PlaybookDirs;
use crate::template::TemplateError;
use crate::transport::{Output, RemoteCommand, quote};

/// The `template:` kind.
pub struct TemplateKind;

/// `template:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateArgs {
    /// A template file, relative to the playbooks directory.
    #[serde(default)]
    pub src: Option<String>,
    /// Or the template text itself.
    #[serde(default)]
    pub content: Option<String>,
    /// Or a list of files, each `{src, dest}` (or `{file, dest}`).
    #[serde(default)]
    pub items: Option<Tmpl>,
    /// Destination path on the host (with `src` or `content`).
    #[serde(default)]
    pub dest: Option<Tmpl>,
    /// Octal file mode (default `0644`); a file that holds a secret is
    /// never written readable by others or writable by its group.
    #[serde(default)]
    pub mode: Option<Tmpl>,
    /// The file this one replaces, which `--check` shows the diff against
    /// (default: `dest`).
    #[serde(default)]
    pub current: Option<Tmpl>,
    /// The template text, read when the playbook is loaded.
    #[serde(skip)]
    pub body: TemplateBody,
    /// Where `items`' templates are found, kept from when the playbook was
    /// loaded (their names are known only when the step runs).
    #[serde(skip)]
    pub dirs: Option<PlaybookDirs>,
}

/// The text of a `template:` step and where it came from.
#[derive(Debug, Clone, Default)]
pub struct TemplateBody {
    /// For messages: the file, or `inline`.
    pub origin: String,
    /// The template source.
    pub text: String,
}

impl StepKind for TemplateKind {
    const KEY: &'static str = "template";
    const SUMMARY: &'static str = "render a template (a file, `content`, or a list of `items`) and write it on the host, atomically";
    type Args = TemplateArgs;

    fn check(a: &TemplateArgs) -> Result<(), String> {
        let given = [a.src.is_some(), a.content.is_some(), a.items.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err("template needs exactly one of `src`, `content` or `items`".into());
        }
        match (&a.items, &a.dest) {
            (None, None) => return Err("template needs `dest` (where the file goes)".into()),
            (Some(_), Some(_)) => {
                return Err("template: `items` gives each file's `dest`; leave out `dest`".into());
            }
            _ => {}
        }
        check_literal(a.mode.as_ref(), |m| {
            check_mode(m).map_err(|e| format!("template: {e}"))
        })
    }

    fn load(a: &mut TemplateArgs, dirs: &PlaybookDirs) -> Result<(), String> {
        if a.items.is_some() {
            a.dirs = Some(dirs.clone());
            return Ok(());
        }
        a.body = match (&a.src, &a.content) {
            (Some(src), _) => {
                let (origin, text) = dirs.read_template(src).map_err(|e| e.to_string())?;
                TemplateBody { origin, text }
            }
            (None, content) => TemplateBody {
                origin: "inline".into(),
                text: content.clone().unwrap_or_default(),
            },
        };
        Ok(())
    }

    fn templates(a: &TemplateArgs) -> Vec<&str> {
        a.dest
            .iter()
            .chain(&a.items)
            .chain(&a.mode)
            .chain(&a.current)
            .map(|t| t.0.as_str())
            .chain([a.body.text.as_str()])
            .collect()
    }

    fn prepare(a: &TemplateArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        if let Some(items) = &a.items {
            return prepare_items(a, items, render);
        }
        let content = render.body(&a.body.text, &a.body.origin)?;
        let dest = render.text(a.dest.as_ref().expect("checked: dest with src or content"))?;
        let current = render
            .given(a.current.as_ref())?
            .unwrap_or_else(|| dest.clone());
        let asked = a.mode.as_ref().map(|m| render.text(m)).transpose()?;
        let mode = strict_mode(asked, &content, render.secrets());
        let mut command = render.command(script(&dest, mode.as_deref())?);
        command.stdin = Some(encode(content.as_bytes()));
        let write = FileWrite {
            secret_lines: secret_lines(&content, render.secrets()),
            content,
            source: a.body.origin.clone(),
            current,
        };
        Ok(Prepared::new(
            command,
            // A closure: `Ran::changed` as a path is not general over the lifetime.
            #[allow(clippy::redundant_closure_for_method_calls)]
            |ran| ran.changed(),
        )
        .with_effect(Effect::WritesFile(write)))
    }
}

/// `items:`: each file rendered from its template and written by one
/// command, which reads their contents from its standard input one after
/// the other (never from its script: they may hold secrets).
fn prepare_items(
    a: &TemplateArgs,
    items: &Tmpl,
    render: &Render<'_>,
) -> Result<Prepared, TemplateError> {
    let dirs = a
        .dirs
        .as_ref()
        .expect("loaded: items keep the playbook's dirs");
    let list = render.value(items)?;
    let asked = a.mode.as_ref().map(|m| render.text(m)).transpose()?;
    let field = |item: &minijinja::Value, names: &[&str]| -> Result<String, TemplateError> {
        let found = names
            .iter()
            .filter_map(|n| item.get_attr(n).ok())
            .find(|v| !v.is_undefined() && !v.is_none())
            .ok_or_else(|| {
                TemplateError::new(format!(
                    "template: each of `items` needs `{}` (and `dest`), not {item}",
                    names[0]
                ))
            })?;
        render.body(&found.to_string(), "template: items")
    };
    let mut script = String::from("set -e\nspool=$(mktemp)\ntrap 'rm -f -- \"$spool\"' EXIT\n");
    let mut stdin = String::new();
    let mut writes = Vec::new();
    let entries = if list.is_undefined() || list.is_none() {
        Vec::new()
    } else {
        list.try_iter()
            .map_err(|e| TemplateError::new(format!("template: items must be a list: {e}")))?
            .collect()
    };
    for item in &entries {
        let src = field(item, &["src", "file"])?;
        let dest = field(item, &["dest"])?;
        let (origin, text) = dirs
            .read_template(&src)
            .map_err(|e| TemplateError::new(e.to_string()))?;
        let content = render.body(&text, &origin)?;
        let mode = strict_mode(asked.clone(), &content, render.secrets());
        let encoded = encode(content.as_bytes());
        script.push_str(&format!(
            "head -c {} > \"$spool\"\n(\n{}) < \"$spool\"\n",
            encoded.len(),
            super::upload::script(&dest, mode.as_deref())?
        ));
        stdin.push_str(&encoded);
        writes.push(FileWrite {
            secret_lines: secret_lines(&content, render.secrets()),
            content,
            source: origin,
            current: dest,
        });
    }
    let mut command = render.command(script);
    command.stdin = Some(stdin);
    Ok(Prepared::new(command, |ran| {
        ran.succeeded()?;
        Ok(super::outcome::Outcome {
            changed: ran.output.stdout.contains("wptdeploy.changed=true"),
            ..super::outcome::Outcome::default()
        })
    })
    .with_effect(Effect::WritesFiles(writes)))
}

/// The mode to write with: `asked`, made 0640 or stricter when `content`
/// holds one of `secrets`.
fn strict_mode(asked: Option<String>, content: &str, secrets: &[String]) -> Option<String> {
    let holds_secret = secrets
        .iter()
        .any(|s| s.len() >= 3 && content.contains(s.as_str()));
    let bits = asked
        .as_deref()
        .and_then(|m| u32::from_str_radix(m, 8).ok())
        .unwrap_or(0o644);
    if holds_secret && bits & !0o740 != 0 {
        Some(format!("0{:o}", bits & 0o740))
    } else {
        asked
    }
}

impl FileWrite {
    /// Prints the current content of the file it replaces, base64-encoded
    /// (for `--check`'s diff; read quietly, never streamed, as it may hold
    /// secrets), as `become_user`.
    pub fn read_current(&self, become_user: Option<String>) -> RemoteCommand {
        let mut command = RemoteCommand::new(format!(
            "f={}\nif [ -f \"$f\" ]; then echo wptdeploy.exists=true; base64 < \"$f\"; else echo wptdeploy.exists=false; fi\n",
            quote(&self.current)
        ));
        command.become_user = become_user;
        command
    }

    /// What `--check` says of a template: the file it comes from, and how the
    /// host's current file would change (a unified diff; secrets are masked on
    /// the way out like everything else).
    pub fn plan_note(&self, output: &Output) -> (String, Option<String>) {
        let (content, source, current) = (&self.content, &self.source, &self.current);
        let exists = markers(&output.stdout).get("exists").map(String::as_str) == Some("true");
        let old = if exists && output.exit_code == 0 {
            let encoded: String = output
                .stdout
                .lines()
                .filter(|l| !l.starts_with("wptdeploy."))
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        } else {
            None
        };
        let Some(old) = old else {
            if output.exit_code != 0 {
                return (format!("from {source}; {current} is unreadable now"), None);
            }
            // A new file's diff is all of it (secrets masked).
            let (_, content) = masked_sides("", content, &self.secret_lines);
            let diff = similar::TextDiff::from_lines("", content.as_str())
                .unified_diff()
                .context_radius(2)
                .header("/dev/null", &format!("{current} (rendered)"))
                .to_string();
            return (format!("from {source}; {current} is new"), Some(diff));
        };
        if old == *content {
            return (format!("from {source}; {current} unchanged"), None);
        }
        let (old, content) = masked_sides(&old, content, &self.secret_lines);
        if old == content {
            return (
                format!("from {source}; {current} unchanged but for what secrets fill"),
                None,
            );
        }
        let diff = similar::TextDiff::from_lines(old.as_str(), content.as_str())
            .unified_diff()
            .context_radius(2)
            .header(current, &format!("{current} (rendered)"))
            .to_string();
        (format!("from {source}; {current} changes"), Some(diff))
    }
}

/// The lines of `content` that hold one of `secrets`, with their keys.
fn secret_lines(content: &str, secrets: &[String]) -> Vec<SecretLine> {
    // A multi-line secret (a key) fills several lines: each of its lines.
    let pieces: Vec<&str> = secrets
        .iter()
        .flat_map(|s| s.lines())
        .map(str::trim)
        .filter(|p| p.len() >= 3)
        .collect();
    content
        .lines()
        .enumerate()
        .filter(|(_, line)| pieces.iter().any(|p| line.contains(p)))
        .map(|(index, line)| SecretLine {
            index,
            key: key_of(line).map(|(key, _)| key.to_owned()),
        })
        .collect()
}

/// `KEY` and where its value starts, in `KEY = value`, `KEY: value` or
/// `KEY=value` (an INI, YAML or environment file's line).
fn key_of(line: &str) -> Option<(&str, usize)> {
    let at = line.find(['=', ':'])?;
    let key = line[..at].trim();
    let plain = !key.is_empty()
        && key.len() <= 80
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || "_-. \"'".contains(c));
    plain.then_some((key, at + 1))
}

/// `line` with everything after its key's separator masked.
fn mask_value(line: &str, from: usize) -> String {
    let space = if line[from..].starts_with(' ') {
        " "
    } else {
        ""
    };
    format!("{}{space}{}", &line[..from], crate::redact::MASK)
}

/// Both sides of a diff with what secrets fill hidden: on the new side the
/// lines that hold one, on the host's side the lines with the same key (the
/// old value), and where a line has no key, both sides at its place say
/// only whether it changed.
fn masked_sides(old: &str, new: &str, secret_lines: &[SecretLine]) -> (String, String) {
    let keys: Vec<&str> = secret_lines
        .iter()
        .filter_map(|l| l.key.as_deref())
        .collect();
    let old_lines: Vec<&str> = old.lines().collect();
    let mut old_out: Vec<String> = old_lines
        .iter()
        .map(|line| match key_of(line) {
            Some((key, from)) if keys.contains(&key) => mask_value(line, from),
            _ => (*line).to_owned(),
        })
        .collect();
    let mut new_out: Vec<String> = new.lines().map(str::to_owned).collect();
    for secret in secret_lines {
        let Some(line) = new_out.get(secret.index).cloned() else {
            continue;
        };
        match key_of(&line) {
            Some((key, from)) if secret.key.is_some() => {
                // The host's line with that key: whether the value changes.
                let before = old_lines
                    .iter()
                    .find(|l| key_of(l).is_some_and(|(k, _)| k == key));
                let changed = match before {
                    Some(b) if *b == line.as_str() => "",
                    Some(_) => " (changed)",
                    None => " (new)",
                };
                new_out[secret.index] = format!("{}{changed}", mask_value(&line, from));
            }
            _ => {
                let said = format!("(line {} holds a secret)", secret.index + 1);
                new_out[secret.index] = match old_lines.get(secret.index) {
                    Some(old) if *old == line.as_str() => said.clone(),
                    Some(_) => format!("(line {} holds a secret, changed)", secret.index + 1),
                    None => format!("(line {} holds a secret, new)", secret.index + 1),
                };
                if let Some(old_line) = old_out.get_mut(secret.index) {
                    *old_line = said;
                }
            }
        }
    }
    let join = |lines: Vec<String>, ends: bool| {
        let mut text = lines.join("\n");
        if ends {
            text.push('\n');
        }
        text
    };
    (
        join(old_out, old.ends_with('\n')),
        join(new_out, new.ends_with('\n')),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_shows_neither_the_old_nor_the_new_value_of_a_secret() {
        let old = "[db]\nUSER = app\nPASS = old-Pa55-word\nKEY = -----BEGIN\n    old-key-line\n    -----END\n";
        let new = "[db]\nUSER = app2\nPASS = new-Pa55-word\nKEY = -----BEGIN\n    new-key-line\n    -----END\n";
        let secrets = [
            "new-Pa55-word".to_owned(),
            "-----BEGIN\nnew-key-line\n-----END".to_owned(),
        ];
        let lines = secret_lines(new, &secrets);
        assert_eq!(
            lines,
            vec![
                SecretLine {
                    index: 2,
                    key: Some("PASS".into())
                },
                SecretLine {
                    index: 3,
                    key: Some("KEY".into())
                },
                SecretLine {
                    index: 4,
                    key: None
                },
                SecretLine {
                    index: 5,
                    key: None
                },
            ]
        );
        let (old_side, new_side) = masked_sides(old, new, &lines);
        for side in [&old_side, &new_side] {
            for value in [
                "old-Pa55-word",
                "new-Pa55-word",
                "old-key-line",
                "new-key-line",
            ] {
                assert!(!side.contains(value), "{value} in {side}");
            }
        }
        assert!(old_side.contains("PASS = ********\n"), "{old_side}");
        assert!(
            new_side.contains("(line 5 holds a secret, changed)"),
            "{new_side}"
        );
        assert!(old_side.contains("(line 5 holds a secret)\n"), "{old_side}");
        assert!(new_side.contains("USER = app2"), "what is not secret shows");
        assert!(
            new_side.contains("PASS = ******** (changed)\n"),
            "{new_side}"
        );
        let (same_old, same_new) = masked_sides(new, new, &lines);
        assert_eq!(same_old, same_new, "an unchanged secret reads unchanged");
        // A new file: every secret line masked, and said to be new.
        let (_, created) = masked_sides("", new, &lines);
        assert!(
            created.contains("PASS = ******** (new)\n")
                && created.contains("(line 5 holds a secret, new)")
                && !created.contains("new-Pa55-word")
                && !created.contains("new-key-line"),
            "{created}"
        );
    }

    #[test]
    fn check_shows_a_diff_of_what_would_change() {
        let old = "[app]\nA = 1\nB = 2\n";
        let output = crate::transport::Output {
            exit_code: 0,
            stdout: format!(
                "wptdeploy.exists=true\n{}\n",
                base64::engine::general_purpose::STANDARD.encode(old)
            ),
            stderr: String::new(),
        };
        let write = |content: &str| FileWrite {
            content: content.into(),
            source: "t.j2".into(),
            current: "/srv/config.txt".into(),
            secret_lines: vec![],
        };
        let (note, diff) = write("[app]\nA = 1\nB = 3\n").plan_note(&output);
        assert_eq!(note, "from t.j2; /srv/config.txt changes");
        let diff = diff.unwrap();
        assert!(diff.contains("-B = 2\n+B = 3\n"), "{diff}");
        let (unchanged, no_diff) = write(old).plan_note(&output);
        assert_eq!(
            (unchanged.as_str(), no_diff),
            ("from t.j2; /srv/config.txt unchanged", None)
        );
    }

    #[test]
    fn a_file_holding_a_secret_is_never_readable_by_others() {
        let secrets = ["hunter22".to_owned()];
        assert_eq!(
            strict_mode(None, "pw=hunter22", &secrets).as_deref(),
            Some("0640")
        );
        assert_eq!(
            strict_mode(Some("0600".into()), "pw=hunter22", &secrets).as_deref(),
            Some("0600")
        );
        assert_eq!(strict_mode(None, "nothing secret", &secrets), None);
    }
}
