//! The common keys of `~/.ssh/config`, for the native transport: `Host`
//! blocks (globs, `!negation`), `HostName`, `User`, `Port`,
//! `IdentityFile`, `UserKnownHostsFile` and a one-hop `ProxyJump`. As in
//! ssh, the first value found for a key wins. Keys that change how to
//! connect but that only the system ssh understands are reported, so the
//! user is told to pick the openssh transport instead of connecting wrongly.

use std::path::{Path, PathBuf};

use crate::glob::glob;

/// What `~/.ssh/config` says about one host.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// `HostName`.
    pub host_name: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Port`.
    pub port: Option<u16>,
    /// `IdentityFile`, in order (`~` expanded).
    pub identity_files: Vec<PathBuf>,
    /// `UserKnownHostsFile` (the first file).
    pub known_hosts: Option<PathBuf>,
    /// `ProxyJump` (`none` is left out).
    pub proxy_jump: Option<String>,
    /// `file:line: Key` of settings only the openssh transport honours.
    pub unsupported: Vec<String>,
}

/// Keys that change how the connection is made and that this parser does not apply.
const ONLY_OPENSSH: &[&str] = &[
    "proxycommand",
    "match",
    "include",
    "certificatefile",
    "identityagent",
    "pkcs11provider",
    "securitykeyprovider",
    "hostkeyalias",
    "canonicalizehostname",
    "localcommand",
    "remotecommand",
    "requesttty",
];

/// Reads `path` (if it exists) for `host`.
pub fn for_host(path: &Path, home: &Path, host: &str) -> HostConfig {
    match fs_err::read_to_string(path) {
        Ok(text) => parse(&text, &path.display().to_string(), home, host),
        Err(_) => HostConfig::default(),
    }
}

/// What `text` says for `host`.
pub fn parse(text: &str, origin: &str, home: &Path, host: &str) -> HostConfig {
    let mut config = HostConfig::default();
    let mut applies = true;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = split(line);
        let key = key.to_ascii_lowercase();
        if key == "host" {
            applies = host_matches(&value, host);
            continue;
        }
        if !applies {
            continue;
        }
        if ONLY_OPENSSH.contains(&key.as_str()) {
            let name = line.split_whitespace().next().unwrap_or_default();
            config
                .unsupported
                .push(format!("{origin}:{}: {name}", index + 1));
            if key == "match" {
                // What follows depends on the condition: nothing after it is applied.
                applies = false;
            }
            continue;
        }
        let value = value.trim_matches('"').to_owned();
        let expand = |v: &str| super::expand_home_in(home, v);
        match key.as_str() {
            "hostname" => {
                config
                    .host_name
                    .get_or_insert_with(|| value.replace("%h", host));
            }
            "user" => {
                config.user.get_or_insert(value);
            }
            "port" if config.port.is_none() => config.port = value.parse().ok(),
            "identityfile" => config.identity_files.push(expand(&value)),
            "userknownhostsfile" if config.known_hosts.is_none() => {
                config.known_hosts = value.split_whitespace().next().map(expand);
            }
            "proxyjump" if config.proxy_jump.is_none() && !value.eq_ignore_ascii_case("none") => {
                if value.contains(',') {
                    config.unsupported.push(format!(
                        "{origin}:{}: ProxyJump with more than one hop",
                        index + 1
                    ));
                }
                config.proxy_jump = Some(value);
            }
            _ => {}
        }
    }
    config
}

/// `Key value`, `Key=value` or `Key = value`.
fn split(line: &str) -> (&str, String) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    (&line[..end], rest.to_owned())
}

/// Whether a `Host` line's patterns select `host`: one matches and no `!` one does.
fn host_matches(patterns: &str, host: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split_whitespace() {
        match pattern.strip_prefix('!') {
            Some(negated) if glob(negated, host) => return false,
            Some(_) => {}
            None => matched |= glob(pattern, host),
        }
    }
    matched
}

/// `[user@]host[:port]` of a ProxyJump.
pub fn jump_target(spec: &str) -> (Option<String>, String, Option<u16>) {
    let (user, rest) = match spec.rsplit_once('@') {
        Some((user, rest)) => (Some(user.to_owned()), rest),
        None => (None, spec),
    };
    match rest.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            (user, host.to_owned(), port.parse().ok())
        }
        _ => (user, rest.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# comment
Host web-* !web-old
    HostName %h.internal.example.org
    User deploy
    Port 2222
    IdentityFile ~/.ssh/deploy_key
    ProxyJump bastion@gate.example.org:22

Host *
    User fallback
    IdentityFile=~/.ssh/id_ed25519
    ServerAliveInterval 30

Host legacy
    ProxyCommand nc %h %p
";

    fn read(host: &str) -> HostConfig {
        parse(CONFIG, "config", Path::new("/home/me"), host)
    }

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let web = read("web-1");
        assert_eq!(web.host_name.as_deref(), Some("web-1.internal.example.org"));
        assert_eq!(web.user.as_deref(), Some("deploy"));
        assert_eq!(web.port, Some(2222));
        assert_eq!(
            web.identity_files,
            [
                PathBuf::from("/home/me/.ssh/deploy_key"),
                PathBuf::from("/home/me/.ssh/id_ed25519")
            ]
        );
        assert_eq!(
            web.proxy_jump.as_deref(),
            Some("bastion@gate.example.org:22")
        );
        assert!(web.unsupported.is_empty());
    }

    #[test]
    fn negated_patterns_exclude() {
        let old = read("web-old");
        assert_eq!(old.host_name, None);
        assert_eq!(old.user.as_deref(), Some("fallback"));
    }

    #[test]
    fn keys_only_openssh_honours_are_reported_with_their_line() {
        assert!(read("web-1").unsupported.is_empty());
        assert_eq!(read("legacy").unsupported, ["config:15: ProxyCommand"]);
        let two_hops = parse("ProxyJump a,b\n", "c", Path::new("/"), "x");
        assert_eq!(
            two_hops.unsupported,
            ["c:1: ProxyJump with more than one hop"]
        );
    }

    #[test]
    fn jump_targets() {
        assert_eq!(
            jump_target("me@gate:2200"),
            (Some("me".into()), "gate".into(), Some(2200))
        );
        assert_eq!(jump_target("gate"), (None, "gate".into(), None));
    }
}
