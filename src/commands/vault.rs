//! `wptdeploy vault ...`: ansible-vault files without Ansible, in the
//! formats `ansible-vault` reads and writes (1.1, and 1.2 with a vault id
//! label), with the password options every command takes. A plaintext
//! never reaches argv or a file others can read: `edit` and `create` work
//! on a 0600 file in a private (0700) temporary directory, removed however
//! the command ends, a signal included; files are replaced by a rename.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use fs_err::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use tokio::signal::unix::{SignalKind, signal};

use super::Context;
use crate::cli::{VaultArgs, VaultCommand};
use crate::error::{CommandError, Error};
use crate::vault::{Vault, VaultPassword, is_vault, label_of, seal};

/// Runs the vault subcommand.
pub async fn run(args: VaultArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let vault = &cx.settings.vault;
    match args.command {
        VaultCommand::View(a) => {
            let plain = open(vault, &a.file)?;
            crate::printer::data(plain.lines().map(str::to_owned));
        }
        VaultCommand::Encrypt(a) => {
            let password = encrypting(vault, a.encrypt_vault_id.as_deref())?;
            for file in &a.files {
                let text = read(file)?;
                if is_vault(&text) {
                    return Err(failed(format!("{} is already a vault", file.display()), None));
                }
                replace(file, &seal(text.as_bytes(), password))?;
                crate::report::tell(&format!("encrypted {}", file.display()));
            }
        }
        VaultCommand::Decrypt(a) => {
            for file in &a.files {
                let plain = open(vault, file)?;
                replace(file, &plain)?;
                crate::report::tell(&format!("decrypted {}", file.display()));
            }
        }
        VaultCommand::EncryptString(a) => {
            let password = encrypting(vault, a.encrypt_vault_id.as_deref())?;
            let mut value = String::new();
            std::io::stdin()
                .read_to_string(&mut value)
                .map_err(|e| failed(format!("cannot read the value on standard input: {e}"), None))?;
            let value = value.strip_suffix('\n').unwrap_or(&value);
            let sealed = seal(value.as_bytes(), password);
            let mut lines = vec![format!("{}: !vault |", a.name)];
            lines.extend(sealed.lines().map(|l| format!("          {l}")));
            crate::printer::data(lines);
        }
        VaultCommand::Rekey(a) => {
            let new = crate::vault::password_from_file(a.new_vault_id.clone(), &a.new_vault_password_file)
                .map_err(|e| CommandError::VaultPassword(e.message))?;
            for file in &a.files {
                let plain = open(vault, file)?;
                replace(file, &seal(plain.as_bytes(), &new))?;
                crate::report::tell(&format!("rekeyed {}", file.display()));
            }
        }
        VaultCommand::Create(a) => {
            if a.file.exists() {
                return Err(failed(
                    format!("{} exists", a.file.display()),
                    Some(format!("`wptdeploy vault edit {}` edits it", a.file.display())),
                ));
            }
            let password = encrypting(vault, a.encrypt_vault_id.as_deref())?;
            match edited("").await? {
                Some(text) => {
                    replace(&a.file, &seal(text.as_bytes(), password))?;
                    crate::report::tell(&format!("created {}", a.file.display()));
                }
                None => crate::report::tell("nothing written: the file was left empty"),
            }
        }
        VaultCommand::Edit(a) => {
            let text = read(&a.file)?;
            let plain = opened(vault, &text, &a.file)?;
            // The same label (and so format), unless another is asked for.
            let label = a.encrypt_vault_id.clone().or_else(|| label_of(&text));
            let password = encrypting(vault, label.as_deref())?;
            let kept = VaultPassword {
                label,
                ..password.clone()
            };
            match edited(&plain).await? {
                Some(new) if new != plain => {
                    replace(&a.file, &seal(new.as_bytes(), &kept))?;
                    crate::report::tell(&format!("saved {}", a.file.display()));
                }
                _ => crate::report::tell(&format!("{} unchanged", a.file.display())),
            }
        }
    }
    Ok(())
}

fn failed(message: String, hint: Option<String>) -> Error {
    CommandError::VaultFile { message, hint }.into()
}

fn read(file: &Path) -> Result<String, Error> {
    fs_err::read_to_string(file).map_err(|e| failed(e.to_string(), None))
}

/// What the vault `file` holds.
fn open(vault: &Vault, file: &Path) -> Result<String, Error> {
    opened(vault, &read(file)?, file)
}

/// What `text`, read from the vault `file`, holds.
fn opened(vault: &Vault, text: &str, file: &Path) -> Result<String, Error> {
    if !is_vault(text) {
        return Err(failed(format!("{} is not a vault", file.display()), None));
    }
    vault
        .decrypt(text, &file.display().to_string())
        .map_err(|e| failed(e.to_string(), e.hints().into_iter().next()))
}

/// The password new text is encrypted with.
fn encrypting<'v>(vault: &'v Vault, label: Option<&str>) -> Result<&'v VaultPassword, Error> {
    vault.encrypting(label).ok_or_else(|| {
        failed(
            "no vault password was given to encrypt with".into(),
            Some("`--vault-password-file FILE`, `--ask-vault-pass` or `--vault-id LABEL@SOURCE` (or ANSIBLE_VAULT_PASSWORD_FILE, or ansible.cfg)".into()),
        )
    })
}

/// Replaces `file` with `text` by a rename, keeping its mode (0600 for a
/// new file).
fn replace(file: &Path, text: &str) -> Result<(), Error> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mode = fs_err::metadata(file).map_or(0o600, |m| m.permissions().mode() & 0o777);
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| failed(format!("cannot write in {}: {e}", dir.display()), None))?;
    temp.write_all(text.as_bytes())
        .and_then(|()| temp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)))
        .map_err(|e| failed(format!("cannot write {}: {e}", file.display()), None))?;
    temp.persist(file)
        .map_err(|e| failed(format!("cannot write {}: {}", file.display(), e.error), None))?;
    Ok(())
}

/// `text` edited in the person's editor (`$VISUAL`, `$EDITOR`, else
/// `vi`), on a 0600 file in a 0700 directory removed when this returns,
/// however it returns; `None` when left empty. A signal while the editor
/// runs ends the editor, and the file is removed before the command ends.
async fn edited(text: &str) -> Result<Option<String>, Error> {
    let private = tempfile::Builder::new()
        .prefix("wptdeploy-vault-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(|e| failed(format!("cannot make a private directory: {e}"), None))?;
    let path: PathBuf = private.path().join("vault.yml");
    fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| failed(e.to_string(), None))?;
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot start the editor `{editor}`: {e}"), None))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| failed(e.to_string(), None))?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| failed(e.to_string(), None))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| failed(e.to_string(), None))?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(|e| failed(e.to_string(), None))?,
            // Ctrl-C is the editor's: it runs on.
            _ = int.recv() => {}
            _ = term.recv() => return Err(interrupted(child)),
            _ = hup.recv() => return Err(interrupted(child)),
        }
    };
    if !status.success() {
        return Err(failed(
            format!("the editor `{editor}` ended with {status}: the vault was left as it was"),
            None,
        ));
    }
    let new = fs_err::read_to_string(&path).map_err(|e| failed(e.to_string(), None))?;
    Ok(Some(new).filter(|t| !t.trim().is_empty()))
}

/// A signal during the edit: the editor is ended (its file removed with
/// the private directory), and the vault is left as it was.
fn interrupted(mut child: tokio::process::Child) -> Error {
    let _ = child.start_kill();
    failed(
        "stopped by a signal while the editor ran: the vault was left as it was, and the temporary file removed".into(),
        None,
    )
}
