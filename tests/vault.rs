//! `wptdeploy vault`: ansible-vault files without Ansible, proven against
//! the real `ansible-vault` (ansible-core in the suite's own environment)
//! both ways, for format 1.1 and for 1.2 with a vault id label.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::bin;
use crate::support::sandbox::ansible_vault;

fn wptdeploy(dir: &Path, args: &[&str], stdin: &str, editor: Option<&Path>) -> Output {
    let mut command = Command::new(bin());
    command
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("VISUAL")
        .args(["--no-progress"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match editor {
        Some(editor) => command.env("EDITOR", editor),
        None => command.env_remove("EDITOR"),
    };
    let mut child = command.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "wptdeploy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn real(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(ansible_vault())
        .current_dir(dir)
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ansible-vault {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "first-Pa55\n").unwrap();
    std::fs::write(dir.path().join("pw2"), "second-Pa55\n").unwrap();
    dir
}

const PLAIN: &str = "vault_db_password: Db-Pa55-SENTINEL-7f3a\nvault_token: ghp_0123456789\n";

#[test]
fn what_one_encrypts_the_other_opens_in_both_formats() {
    let tmp = setup();
    let dir = tmp.path();
    for (ids, header) in [
        (["--vault-password-file", "pw"], "$ANSIBLE_VAULT;1.1;AES256"),
        (["--vault-id", "prod@pw"], "$ANSIBLE_VAULT;1.2;AES256;prod"),
    ] {
        let ids = &ids[..];
        // wptdeploy encrypts; ansible-vault opens; the mode is kept.
        let ours = dir.join("ours.yml");
        std::fs::write(&ours, PLAIN).unwrap();
        std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o640)).unwrap();
        wptdeploy(
            dir,
            &[ids, &["vault", "encrypt", "ours.yml"]].concat(),
            "",
            None,
        );
        let sealed = std::fs::read_to_string(&ours).unwrap();
        assert_eq!(sealed.lines().next(), Some(header));
        assert!(!sealed.contains("Db-Pa55"));
        assert_eq!(
            std::fs::metadata(&ours).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(real(dir, &[&["view"], ids, &["ours.yml"]].concat()), PLAIN);

        // ansible-vault encrypts; wptdeploy views and decrypts.
        let theirs = dir.join("theirs.yml");
        std::fs::write(&theirs, PLAIN).unwrap();
        real(dir, &[&["encrypt"], ids, &["theirs.yml"]].concat());
        let viewed = wptdeploy(
            dir,
            &[ids, &["vault", "view", "theirs.yml"]].concat(),
            "",
            None,
        );
        assert_eq!(String::from_utf8_lossy(&viewed.stdout), PLAIN);
        wptdeploy(
            dir,
            &[ids, &["vault", "decrypt", "theirs.yml"]].concat(),
            "",
            None,
        );
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), PLAIN);

        // A value on standard input, never the command line.
        let string = wptdeploy(
            dir,
            &[ids, &["vault", "encrypt-string", "--name", "db_password"]].concat(),
            "from-stdin-9d2\n",
            None,
        );
        let text = String::from_utf8(string.stdout).unwrap();
        assert!(text.starts_with("db_password: !vault |\n"), "{text}");
        let body: String = text
            .lines()
            .skip(1)
            .map(|l| format!("{}\n", l.trim()))
            .collect();
        std::fs::write(dir.join("string.vault"), body).unwrap();
        assert_eq!(
            real(
                dir,
                &[&["decrypt"], ids, &["--output", "-", "string.vault"]].concat()
            ),
            "from-stdin-9d2",
            "exactly the value, its newline from stdin dropped"
        );

        // Rekeyed: opens with the new password only.
        wptdeploy(
            dir,
            &[
                ids,
                &[
                    "vault",
                    "rekey",
                    "ours.yml",
                    "--new-vault-password-file",
                    "pw2",
                ],
            ]
            .concat(),
            "",
            None,
        );
        assert_eq!(
            real(dir, &["view", "--vault-password-file", "pw2", "ours.yml"]),
            PLAIN
        );
    }
}

#[test]
fn edit_works_on_a_private_file_removed_after_and_keeps_the_label() {
    let tmp = setup();
    let dir = tmp.path();
    let file = dir.join("vault");
    std::fs::write(&file, PLAIN).unwrap();
    real(dir, &["encrypt", "--vault-id", "prod@pw", "vault"]);
    // An editor that notes the file it was given, its mode and its
    // directory's, and adds a line.
    let editor = dir.join("editor.sh");
    let log = dir.join("editor.log");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\nprintf '%s %s %s\\n' \"$1\" \"$(stat -c %a \"$1\")\" \"$(stat -c %a \"$(dirname \"$1\")\")\" > {}\necho 'vault_new: added' >> \"$1\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    wptdeploy(
        dir,
        &["--vault-id", "prod@pw", "vault", "edit", "vault"],
        "",
        Some(&editor),
    );
    let noted = std::fs::read_to_string(&log).unwrap();
    let fields: Vec<&str> = noted.split_whitespace().collect();
    assert_eq!(&fields[1..], ["600", "700"], "{noted}");
    assert!(!Path::new(fields[0]).exists(), "the plaintext was removed");
    let sealed = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        sealed.lines().next(),
        Some("$ANSIBLE_VAULT;1.2;AES256;prod")
    );
    assert_eq!(
        real(dir, &["view", "--vault-id", "prod@pw", "vault"]),
        format!("{PLAIN}vault_new: added\n")
    );
    // An edit that changes nothing leaves the file as it was, byte for byte.
    let untouched = dir.join("untouched.sh");
    std::fs::write(&untouched, "#!/bin/sh\ntrue\n").unwrap();
    std::fs::set_permissions(&untouched, std::fs::Permissions::from_mode(0o755)).unwrap();
    let said = wptdeploy(
        dir,
        &["--vault-id", "prod@pw", "vault", "edit", "vault"],
        "",
        Some(&untouched),
    );
    assert!(String::from_utf8_lossy(&said.stderr).contains("unchanged"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), sealed);
}
