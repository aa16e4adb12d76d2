//! Where vault passwords come from, as `ansible-playbook` takes them:
//! `--vault-password-file FILE` (run, if executable, and its output used),
//! `--vault-id LABEL@SOURCE` (a file, or `prompt`), `--ask-vault-pass`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// One vault password and where it came from.
#[derive(Clone)]
pub struct VaultPassword {
    /// The vault id label (`--vault-id LABEL@...`).
    pub label: Option<String>,
    /// The password.
    pub password: String,
    /// Where it came from, for messages: a file, a script, or the prompt.
    pub source: String,
}

impl std::fmt::Debug for VaultPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultPassword")
            .field("label", &self.label)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The password options of the command line.
#[derive(Debug, Clone, Default)]
pub struct PasswordSources {
    /// `--vault-password-file` (and `ANSIBLE_VAULT_PASSWORD_FILE`).
    pub files: Vec<PathBuf>,
    /// `--vault-id`.
    pub ids: Vec<String>,
    /// `--ask-vault-pass`.
    pub ask: bool,
}

/// A password could not be had.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PasswordError {
    /// What went wrong.
    pub message: String,
}

fn error(message: String) -> PasswordError {
    PasswordError { message }
}

impl PasswordSources {
    /// When the command line gives no password source, the ones Ansible
    /// would use: `ANSIBLE_VAULT_IDENTITY_LIST`, then `vault_password_file`
    /// and `vault_identity_list` of the first `ansible.cfg` Ansible reads
    /// (`ANSIBLE_CONFIG`, `./ansible.cfg`, `~/.ansible.cfg`,
    /// `/etc/ansible/ansible.cfg`), paths relative to that file.
    pub fn or_ansible_defaults(mut self) -> Self {
        if !self.is_empty() {
            return self;
        }
        if let Ok(list) = std::env::var("ANSIBLE_VAULT_IDENTITY_LIST") {
            self.ids = split_list(&list);
            if !self.ids.is_empty() {
                return self;
            }
        }
        let Some((config, text)) = ansible_cfg() else {
            return self;
        };
        let dir = config.parent().map(Path::to_owned).unwrap_or_default();
        let resolve = |value: &str| -> String {
            let path = crate::transport::expand_home_in(&crate::transport::home(), value);
            dir.join(path).display().to_string()
        };
        if let Some(file) = cfg_value(&text, "vault_password_file") {
            self.files.push(PathBuf::from(resolve(&file)));
        }
        if let Some(list) = cfg_value(&text, "vault_identity_list") {
            for id in split_list(&list) {
                self.ids.push(match id.split_once('@') {
                    Some((label, "prompt")) => format!("{label}@prompt"),
                    Some((label, source)) => format!("{label}@{}", resolve(source)),
                    None => resolve(&id),
                });
            }
        }
        self
    }

    /// Whether any source was given.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.ids.is_empty() && !self.ask
    }

    /// Reads every password; `prompt(label)` asks on the terminal (for
    /// `--ask-vault-pass` and `--vault-id LABEL@prompt`).
    pub fn read(
        &self,
        prompt: &dyn Fn(Option<&str>) -> Result<String, String>,
    ) -> Result<Vec<VaultPassword>, PasswordError> {
        let mut passwords = Vec::new();
        if self.ask {
            passwords.push(asked(None, prompt)?);
        }
        for file in &self.files {
            passwords.push(from_file(None, file)?);
        }
        for id in &self.ids {
            let (label, source) = match id.split_once('@') {
                Some((label, source)) => (Some(label.to_owned()), source),
                None => (None, id.as_str()),
            };
            if label.as_deref() == Some("") || source.is_empty() {
                return Err(error(format!(
                    "`--vault-id {id}` is not `LABEL@FILE`, `LABEL@prompt` or `FILE`"
                )));
            }
            passwords.push(if source == "prompt" {
                asked(label, prompt)?
            } else {
                from_file(label, Path::new(source))?
            });
        }
        Ok(passwords)
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The first ansible.cfg Ansible would read, and its text.
fn ansible_cfg() -> Option<(PathBuf, String)> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(env) = std::env::var_os("ANSIBLE_CONFIG") {
        candidates.push(PathBuf::from(env));
    }
    candidates.push(PathBuf::from("ansible.cfg"));
    candidates.push(crate::transport::home().join(".ansible.cfg"));
    candidates.push(PathBuf::from("/etc/ansible/ansible.cfg"));
    candidates
        .into_iter()
        .find_map(|path| fs_err::read_to_string(&path).ok().map(|text| (path, text)))
}

/// `key = value` in the `[defaults]` section of an ansible.cfg.
fn cfg_value(text: &str, key: &str) -> Option<String> {
    let mut in_defaults = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_defaults = line == "[defaults]";
            continue;
        }
        if !in_defaults || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some((k, v)) = line.split_once(['=', ':'])
            && k.trim() == key
        {
            return Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        }
    }
    None
}

fn asked(
    label: Option<String>,
    prompt: &dyn Fn(Option<&str>) -> Result<String, String>,
) -> Result<VaultPassword, PasswordError> {
    let password = prompt(label.as_deref()).map_err(error)?;
    if password.is_empty() {
        return Err(error(
            "the vault password given at the prompt is empty".into(),
        ));
    }
    Ok(VaultPassword {
        label,
        password,
        source: "the prompt".into(),
    })
}

/// A password file, or, when executable, the first line a script prints
/// (a `*-client` script is told the label with `--vault-id`, as Ansible does).
/// The password in `path` (or printed by it, when it is executable), as
/// `--vault-password-file` reads it.
pub fn from_file(label: Option<String>, path: &Path) -> Result<VaultPassword, PasswordError> {
    let path = crate::transport::expand_home_in(&crate::transport::home(), &path.to_string_lossy());
    let meta = fs_err::metadata(&path).map_err(|e| error(format!("vault password file: {e}")))?;
    let executable = meta.is_file() && meta.permissions().mode() & 0o111 != 0;
    let (text, source) = if executable {
        let mut command = std::process::Command::new(&path);
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if let (Some(label), true) = (&label, stem.ends_with("-client")) {
            command.args(["--vault-id", label]);
        }
        let output = command
            .stdin(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::piped())
            .output()
            .map_err(|e| {
                error(format!(
                    "cannot run the vault password script {}: {e}",
                    path.display()
                ))
            })?;
        if !output.status.success() {
            return Err(error(format!(
                "the vault password script {} failed ({}): {}",
                path.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let text = String::from_utf8(output.stdout).map_err(|_| {
            error(format!(
                "the vault password script {} printed something that is not text",
                path.display()
            ))
        })?;
        (text, format!("the script {}", path.display()))
    } else {
        let text = fs_err::read_to_string(&path)
            .map_err(|e| error(format!("vault password file: {e}")))?;
        (text, path.display().to_string())
    };
    let password = text.trim().to_owned();
    if password.is_empty() {
        return Err(error(format!("the vault password from {source} is empty")));
    }
    Ok(VaultPassword {
        label,
        password,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_prompt(_: Option<&str>) -> Result<String, String> {
        Err("no terminal".into())
    }

    #[test]
    fn files_scripts_and_labels() {
        let tmp = tempfile::tempdir().unwrap();
        let plain = tmp.path().join("pass");
        fs_err::write(&plain, "s3cret\n").unwrap();
        let script = tmp.path().join("vault-client");
        fs_err::write(&script, "#!/bin/sh\necho \"from-script $1 $2\"\n").unwrap();
        fs_err::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sources = PasswordSources {
            files: vec![plain.clone()],
            ids: vec![format!("prod@{}", script.display())],
            ask: false,
        };
        let read = sources.read(&no_prompt).unwrap();
        assert_eq!(read[0].password, "s3cret");
        assert_eq!(read[0].label, None);
        assert_eq!(read[1].password, "from-script --vault-id prod");
        assert_eq!(read[1].label.as_deref(), Some("prod"));
    }

    #[test]
    fn ansible_cfg_defaults_section() {
        let cfg = "[defaults]\ninventory = x\nvault_password_file = ~/.vault_pass\n; comment\n[ssh_connection]\nvault_identity_list = nope\n";
        assert_eq!(
            cfg_value(cfg, "vault_password_file").as_deref(),
            Some("~/.vault_pass")
        );
        assert_eq!(cfg_value(cfg, "vault_identity_list"), None);
    }

    #[test]
    fn problems_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty");
        fs_err::write(&empty, "\n").unwrap();
        let read = |sources: PasswordSources| sources.read(&no_prompt).unwrap_err().message;
        assert!(
            read(PasswordSources {
                files: vec![empty],
                ..Default::default()
            })
            .contains("is empty")
        );
        assert!(
            read(PasswordSources {
                files: vec![tmp.path().join("none")],
                ..Default::default()
            })
            .contains("none")
        );
        assert_eq!(
            read(PasswordSources {
                ask: true,
                ..Default::default()
            }),
            "no terminal"
        );
        assert!(
            read(PasswordSources {
                ids: vec!["@x".into()],
                ..Default::default()
            })
            .contains("LABEL@FILE")
        );
    }
}
