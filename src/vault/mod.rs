//! ansible-vault: what `ansible-vault encrypt` and `encrypt_string` make,
//! opened with the same passwords Ansible would use.
//!
//! A vault is `$ANSIBLE_VAULT;1.1;AES256` (or `1.2;AES256;LABEL`) and hex
//! lines: PBKDF2-SHA256 (10 000 rounds) of the password and a salt gives an
//! AES-256-CTR key, an HMAC-SHA256 key and the counter's start; the HMAC
//! over the ciphertext is checked before anything is decrypted.

mod passwords;

pub use passwords::{PasswordSources, VaultPassword, from_file as password_from_file};

use aes::cipher::{KeyIvInit as _, StreamCipher as _};
use hmac::{KeyInit as _, Mac as _};

/// Whether `text` is an encrypted vault (a file's text, or an inline value).
pub fn is_vault(text: &str) -> bool {
    text.trim_start().starts_with("$ANSIBLE_VAULT;")
}

/// Why a vault could not be opened. `origin` names the file (and the
/// variable, for an inline value) in every message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// Encrypted, and no password was given.
    #[error("{origin} is encrypted with ansible-vault, and no vault password was given")]
    NoPassword {
        /// The file, or `file: variable`.
        origin: String,
    },
    /// None of the passwords given opens it.
    #[error("the vault password does not open {origin}")]
    WrongPassword {
        /// The file, or `file: variable`.
        origin: String,
        /// The vault id label in its header, if any.
        label: Option<String>,
    },
    /// Not a vault this understands.
    #[error("{origin} is not a readable ansible-vault: {why}")]
    Malformed {
        /// The file, or `file: variable`.
        origin: String,
        /// What is wrong.
        why: String,
    },
    /// It opened, but what it holds is not text.
    #[error("{origin} decrypts to something that is not UTF-8 text")]
    NotText {
        /// The file, or `file: variable`.
        origin: String,
    },
}

impl VaultError {
    /// Lines telling the user what to do.
    pub fn hints(&self) -> Vec<String> {
        match self {
            VaultError::NoPassword { .. } => vec![
                "give the vault password: `--ask-vault-pass`, `--vault-password-file FILE` (or ANSIBLE_VAULT_PASSWORD_FILE), or `--vault-id LABEL@SOURCE`".into(),
            ],
            VaultError::WrongPassword { label, .. } => {
                let mut hints =
                    vec!["check the password; `ansible-vault view FILE` with it should show the file".into()];
                if let Some(label) = label {
                    hints.push(format!(
                        "it was encrypted with vault id `{label}`: `--vault-id {label}@SOURCE` gives that one"
                    ));
                }
                hints
            }
            VaultError::Malformed { .. } | VaultError::NotText { .. } => Vec::new(),
        }
    }
}

/// The passwords of a run, tried on every vault met.
#[derive(Debug, Clone, Default)]
pub struct Vault {
    passwords: Vec<VaultPassword>,
}

/// What the header line says.
struct Envelope {
    label: Option<String>,
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// PBKDF2 rounds, as Ansible's VaultAES256.
const ROUNDS: u32 = 10_000;

impl Vault {
    /// A vault opened with `passwords`.
    pub fn new(passwords: Vec<VaultPassword>) -> Self {
        Vault { passwords }
    }

    /// Whether any password was given.
    pub fn has_passwords(&self) -> bool {
        !self.passwords.is_empty()
    }

    /// The passwords, to be kept out of every output.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.passwords.iter().map(|p| p.password.as_str())
    }

    /// Decrypts `text` (a whole vault); `origin` names it in errors.
    pub fn decrypt(&self, text: &str, origin: &str) -> Result<String, VaultError> {
        if self.passwords.is_empty() {
            return Err(VaultError::NoPassword {
                origin: origin.to_owned(),
            });
        }
        let envelope = parse(text).map_err(|why| VaultError::Malformed {
            origin: origin.to_owned(),
            why,
        })?;
        // The password whose label matches first, then the others, as Ansible tries them.
        let mut order: Vec<&VaultPassword> = self.passwords.iter().collect();
        order.sort_by_key(|p| envelope.label.is_none() || p.label != envelope.label);
        for password in order {
            if let Some(plain) = open(&envelope, password.password.as_bytes()) {
                return String::from_utf8(plain).map_err(|_| VaultError::NotText {
                    origin: origin.to_owned(),
                });
            }
        }
        Err(VaultError::WrongPassword {
            origin: origin.to_owned(),
            label: envelope.label,
        })
    }
}

impl Vault {
    /// The password new vaults are encrypted with: the one labelled
    /// `label` if given, else the first (as `ansible-vault` uses the
    /// first `--vault-id` unless `--encrypt-vault-id` says).
    pub fn encrypting(&self, label: Option<&str>) -> Option<&VaultPassword> {
        label
            .and_then(|l| {
                self.passwords
                    .iter()
                    .find(|p| p.label.as_deref() == Some(l))
            })
            .or_else(|| self.passwords.first())
    }
}

/// The vault id label in a vault's header (`$ANSIBLE_VAULT;1.2;AES256;LABEL`).
pub fn label_of(text: &str) -> Option<String> {
    parse(text).ok().and_then(|e| e.label)
}

/// `plain` encrypted as `ansible-vault encrypt` does: format 1.1, or 1.2
/// with the password's label; a random 32-byte salt; PBKDF2-SHA256 keys;
/// AES-256-CTR over the PKCS#7-padded text; HMAC-SHA256 over the
/// ciphertext; hex lines of 80 characters.
pub fn seal(plain: &[u8], password: &VaultPassword) -> String {
    use rand::RngCore as _;
    let mut salt = [0u8; 32];
    rand::rng().fill_bytes(&mut salt);
    let keys: [u8; 80] =
        pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 80>(password.password.as_bytes(), &salt, ROUNDS);
    let (cipher_key, rest) = keys.split_at(32);
    let (hmac_key, iv) = rest.split_at(32);
    let pad = 16 - plain.len() % 16;
    let mut ciphertext = plain.to_vec();
    ciphertext.extend(std::iter::repeat_n(pad as u8, pad));
    let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new_from_slices(cipher_key, iv)
        .expect("32-byte key, 16-byte counter");
    cipher.apply_keystream(&mut ciphertext);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(hmac_key).expect("any key length");
    mac.update(&ciphertext);
    let hmac = mac.finalize().into_bytes();
    let inner = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(hmac),
        hex::encode(&ciphertext)
    );
    let body = hex::encode(inner);
    let header = match &password.label {
        Some(label) => format!("$ANSIBLE_VAULT;1.2;AES256;{label}"),
        None => "$ANSIBLE_VAULT;1.1;AES256".to_owned(),
    };
    let mut out = header;
    for chunk in body.as_bytes().chunks(80) {
        out.push('\n');
        out.push_str(std::str::from_utf8(chunk).expect("hex is ASCII"));
    }
    out.push('\n');
    out
}

fn parse(text: &str) -> Result<Envelope, String> {
    let mut lines = text.trim().lines();
    let header = lines.next().unwrap_or_default().trim();
    let fields: Vec<&str> = header.split(';').collect();
    let label = match fields.as_slice() {
        ["$ANSIBLE_VAULT", "1.1", "AES256"] => None,
        ["$ANSIBLE_VAULT", "1.2", "AES256", label] => Some((*label).to_owned()),
        ["$ANSIBLE_VAULT", version, cipher, ..] => {
            return Err(format!(
                "format {version} with cipher {cipher} (only 1.1 and 1.2 with AES256, what ansible-vault has written since Ansible 2.0)"
            ));
        }
        _ => {
            return Err(format!(
                "the header `{header}` is not `$ANSIBLE_VAULT;1.1;AES256`"
            ));
        }
    };
    let body: String = lines.flat_map(|l| l.split_whitespace()).collect();
    let inner = hex::decode(&body).map_err(|e| format!("the body is not hex ({e})"))?;
    let inner = String::from_utf8(inner).map_err(|_| "the body is not hex lines".to_owned())?;
    let parts: Vec<&str> = inner.split('\n').collect();
    let [salt, hmac, ciphertext] = parts.as_slice() else {
        return Err(format!(
            "the body has {} parts, not salt, HMAC and ciphertext",
            parts.len()
        ));
    };
    let unhex = |part: &str, what: &str| {
        hex::decode(part).map_err(|e| format!("its {what} is not hex ({e})"))
    };
    Ok(Envelope {
        label,
        salt: unhex(salt, "salt")?,
        hmac: unhex(hmac, "HMAC")?,
        ciphertext: unhex(ciphertext, "ciphertext")?,
    })
}

/// The plaintext, if `password` is the one: checked by the HMAC first.
fn open(envelope: &Envelope, password: &[u8]) -> Option<Vec<u8>> {
    let keys: [u8; 80] =
        pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 80>(password, &envelope.salt, ROUNDS);
    let (cipher_key, rest) = keys.split_at(32);
    let (hmac_key, iv) = rest.split_at(32);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(hmac_key).ok()?;
    mac.update(&envelope.ciphertext);
    mac.verify_slice(&envelope.hmac).ok()?;
    let mut plain = envelope.ciphertext.clone();
    let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new_from_slices(cipher_key, iv).ok()?;
    cipher.apply_keystream(&mut plain);
    // PKCS#7: the last byte says how many bytes of padding there are.
    let pad = usize::from(*plain.last()?);
    if pad == 0 || pad > 16 || pad > plain.len() {
        return None;
    }
    plain.truncate(plain.len() - pad);
    Some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by ansible-core 2.19's `ansible-vault encrypt_string` with the password `s3cret`.
    const HELLO: &str = "$ANSIBLE_VAULT;1.1;AES256
          63333239363439626435653935393930366631333861663334643965316231373739386235613361
          3130643130633539393435653862353138633038613230330a353637356637363834666366666231
          64393166343066313465646662633732373832343362316238613935373037353665383731363763
          3537363630633232310a623164613731333765326232313663306461653831343161656338333130
          3365";

    /// The same, `--vault-id prod@FILE` with the password `lbl`: format 1.2, labelled.
    const LABELLED: &str = "$ANSIBLE_VAULT;1.2;AES256;prod
          31623365353064333335313562346132366665613461613064666663613539313864646663353862
          3239373632356633376262363631313964303565643832300a343938633730633839346265306432
          38616235393463643533373936313134376231323761393933633866333766333261626561326466
          6537653033626362380a306132323835366666653130643634313364616363623837653165326561
          6265";

    fn password(text: &str, label: Option<&str>) -> VaultPassword {
        VaultPassword {
            label: label.map(str::to_owned),
            password: text.to_owned(),
            source: "test".into(),
        }
    }

    #[test]
    fn opens_what_ansible_vault_made_and_refuses_the_wrong_password() {
        let vault = Vault::new(vec![password("wrong", None), password("s3cret", None)]);
        assert_eq!(vault.decrypt(HELLO, "x").unwrap(), "hello vault");
        let wrong = Vault::new(vec![password("nope", None)]);
        assert_eq!(
            wrong
                .decrypt(HELLO, "vars.yml: token")
                .unwrap_err()
                .to_string(),
            "the vault password does not open vars.yml: token"
        );
        assert!(matches!(
            Vault::default().decrypt(HELLO, "f"),
            Err(VaultError::NoPassword { .. })
        ));
    }

    #[test]
    fn a_labelled_vault_opens_with_its_vault_id_and_names_the_label_when_not() {
        let vault = Vault::new(vec![
            password("s3cret", Some("dev")),
            password("lbl", Some("prod")),
        ]);
        assert_eq!(vault.decrypt(LABELLED, "x").unwrap(), "labelled");
        let err = Vault::new(vec![password("s3cret", Some("dev"))])
            .decrypt(LABELLED, "x")
            .unwrap_err();
        assert!(
            err.hints().iter().any(|h| h.contains("--vault-id prod@")),
            "{:?}",
            err.hints()
        );
    }

    #[test]
    fn what_it_seals_it_opens_with_the_same_label_and_format() {
        for label in [None, Some("prod")] {
            let pw = password("n3w-pass", label);
            for text in ["", "a", "exactly sixteen!", "db_password: x\nmulti\nline\n"] {
                let sealed = seal(text.as_bytes(), &pw);
                assert_eq!(
                    sealed.lines().next().unwrap(),
                    match label {
                        Some(l) => format!("$ANSIBLE_VAULT;1.2;AES256;{l}"),
                        None => "$ANSIBLE_VAULT;1.1;AES256".to_owned(),
                    }
                );
                assert!(sealed.lines().skip(1).all(|l| l.len() <= 80));
                assert_eq!(label_of(&sealed).as_deref(), label);
                let vault = Vault::new(vec![pw.clone()]);
                assert_eq!(vault.decrypt(&sealed, "x").unwrap(), text);
            }
        }
    }

    #[test]
    fn malformed_vaults_say_what_is_wrong() {
        let vault = Vault::new(vec![password("s3cret", None)]);
        let err = vault
            .decrypt("$ANSIBLE_VAULT;1.0;AES\nabcd\n", "f")
            .unwrap_err();
        assert!(err.to_string().contains("format 1.0"), "{err}");
        let err = vault
            .decrypt("$ANSIBLE_VAULT;1.1;AES256\nzz\n", "f")
            .unwrap_err();
        assert!(err.to_string().contains("not hex"), "{err}");
    }
}
