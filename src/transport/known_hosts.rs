//! `known_hosts` read as OpenSSH reads it, for the russh transport: any
//! whitespace between fields, comma-separated patterns with `*` and `?`,
//! negations (`!pattern`: a line whose negation matches does not apply),
//! `[host]:port`, hashed names (`|1|salt|hash`, HMAC-SHA1), several keys
//! for one host (a key rotation: any of them is accepted), and `@revoked`
//! (that key is refused, whatever else the file says). Lines it cannot
//! read are skipped, as OpenSSH skips them. `@cert-authority` lines are
//! not host keys and are left out.

use hmac::{KeyInit as _, Mac as _};
use russh::keys::PublicKey;
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};

/// What known_hosts says of the key a host offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this host holds this key.
    Trusted,
    /// A `@revoked` line holds this key (its line number).
    Revoked(usize),
    /// Lines for this host hold other keys of the same type, not this one
    /// (the first such line's number).
    Changed(usize),
    /// No line for this host holds a key of this type.
    Unknown,
}

/// The verdict of `text` (a known_hosts file) on `key`, offered by `host`
/// on `port`.
pub fn check(text: &str, host: &str, port: u16, key: &PublicKey) -> Verdict {
    let name = if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    };
    let mut changed = None;
    let mut trusted = false;
    for (number, entry) in entries(text) {
        if !applies(entry.host_patterns(), &name) {
            continue;
        }
        let same_key = entry.public_key().key_data() == key.key_data();
        match entry.marker() {
            Some(Marker::Revoked) if same_key => return Verdict::Revoked(number),
            None if same_key => trusted = true,
            None if entry.public_key().algorithm() == key.algorithm() => {
                changed.get_or_insert(number);
            }
            // Other revoked keys, certificate authorities, other key types.
            _ => {}
        }
    }
    match (trusted, changed) {
        (true, _) => Verdict::Trusted,
        (false, Some(line)) => Verdict::Changed(line),
        (false, None) => Verdict::Unknown,
    }
}

/// The lines that parse, with their numbers (from 1), their fields
/// separated by single spaces.
fn entries(text: &str) -> impl Iterator<Item = (usize, Entry)> + '_ {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.join(" ").parse::<Entry>().ok().map(|e| (i + 1, e))
    })
}

/// Whether a line's patterns apply to `name` (`host` or `[host]:port`).
fn applies(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.update(name.as_bytes());
            mac.verify_slice(hash).is_ok()
        }
        HostPatterns::Patterns(list) => {
            let name = name.to_ascii_lowercase();
            let mut matched = false;
            for pattern in list {
                let pattern = pattern.to_ascii_lowercase();
                match pattern.strip_prefix('!') {
                    Some(negated) if crate::glob::glob(negated, &name) => return false,
                    Some(_) => {}
                    None => matched |= crate::glob::glob(&pattern, &name),
                }
            }
            matched
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMrj5Pi6S47wb/qk8uwPTidvdKpdvv//KwpnhEtp2dYp";
    const ED_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFs8MMg0ACmJPuWmKxhNdqPzwF5XhktThPcCCbYKxb/6";

    fn key(text: &str) -> PublicKey {
        text.parse().unwrap()
    }

    fn hashed(name: &str, salt: &[u8]) -> String {
        use base64::Engine as _;
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(name.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            "|1|{}|{}",
            b64.encode(salt),
            b64.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn lines_read_as_openssh_reads_them() {
        let a = key(ED_A);
        let cases: Vec<(String, &str, u16, Verdict)> = vec![
            (format!("web1 {ED_A}"), "web1", 22, Verdict::Trusted),
            (
                format!("web1\t{}", ED_A.replace(' ', "\t")),
                "web1",
                22,
                Verdict::Trusted,
            ),
            (
                format!("[web1]:2222 {ED_A}"),
                "web1",
                2222,
                Verdict::Trusted,
            ),
            (format!("web1 {ED_A}"), "web1", 2222, Verdict::Unknown),
            (
                format!("*.example.org {ED_A}"),
                "db.example.org",
                22,
                Verdict::Trusted,
            ),
            (
                format!("*.example.org,!db.example.org {ED_A}"),
                "db.example.org",
                22,
                Verdict::Unknown,
            ),
            (format!("WEB1 {ED_A}"), "web1", 22, Verdict::Trusted),
            (
                format!("{} {ED_A}", hashed("web1", b"0123456789abcdef0123")),
                "web1",
                22,
                Verdict::Trusted,
            ),
            (
                format!("{} {ED_A}", hashed("web2", b"0123456789abcdef0123")),
                "web1",
                22,
                Verdict::Unknown,
            ),
            // A rotation: two keys of one type, either accepted.
            (
                format!("web1 {ED_B}\nweb1 {ED_A}"),
                "web1",
                22,
                Verdict::Trusted,
            ),
            (format!("web1 {ED_B}"), "web1", 22, Verdict::Changed(1)),
            (
                format!("# comment\nweb1 {ED_A}\n@revoked web1 {ED_A}"),
                "web1",
                22,
                Verdict::Revoked(3),
            ),
            (
                format!("@revoked * {ED_A}\nweb1 {ED_A}"),
                "web1",
                22,
                Verdict::Revoked(1),
            ),
            (
                format!("not a line\nweb1 {ED_A}"),
                "web1",
                22,
                Verdict::Trusted,
            ),
            (
                format!("@cert-authority web1 {ED_A}"),
                "web1",
                22,
                Verdict::Unknown,
            ),
        ];
        for (text, host, port, want) in cases {
            assert_eq!(
                check(&text, host, port, &a),
                want,
                "{text:?} for {host}:{port}"
            );
        }
    }
}
