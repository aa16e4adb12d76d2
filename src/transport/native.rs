//! The native transport: one in-process SSH connection per host (russh),
//! its host key checked against known_hosts, authenticated by ssh-agent or
//! key files, with the common `~/.ssh/config` keys applied.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

use super::error::TransportError;
use super::options::{ConnectOptions, KEEPALIVE_MAX, keepalive_interval};
use super::quick_ack::QuickAck;
use super::shell::Pipe;
use super::{home, local_user, ssh_config};

/// Where and how to connect, once `~/.ssh/config` and the defaults are applied.
#[derive(Debug, Clone)]
struct Target {
    address: String,
    port: u16,
    user: String,
    key_files: Vec<PathBuf>,
    known_hosts: PathBuf,
    accept_new_host_keys: bool,
    connect_timeout: Duration,
}

/// What the host-key check saw, kept for the error message.
#[derive(Debug, Clone)]
enum KeyVerdict {
    Trusted,
    Unknown { fingerprint: String },
    Changed { fingerprint: String, line: usize },
    Revoked { fingerprint: String, line: usize },
    Unreadable { reason: String },
}

struct HostKeyCheck {
    options: Target,
    verdict: Arc<Mutex<Option<KeyVerdict>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key: &PublicKey = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(cert) => {
                // Host certificates are checked by their key, as known_hosts lists keys.
                &PublicKey::from(cert.public_key().clone())
            }
        };
        let verdict = verify_host_key(&self.options, key);
        let trusted = matches!(verdict, KeyVerdict::Trusted);
        *self.verdict.lock().expect("verdict lock") = Some(verdict);
        Ok(trusted)
    }
}

fn verify_host_key(options: &Target, key: &PublicKey) -> KeyVerdict {
    use super::known_hosts::{Verdict, check};
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let text = match fs_err::read_to_string(&options.known_hosts) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return KeyVerdict::Unreadable {
                reason: e.to_string(),
            };
        }
    };
    match check(&text, &options.address, options.port, key) {
        Verdict::Trusted => KeyVerdict::Trusted,
        Verdict::Revoked(line) => KeyVerdict::Revoked { fingerprint, line },
        Verdict::Changed(line) => KeyVerdict::Changed { fingerprint, line },
        Verdict::Unknown if options.accept_new_host_keys => {
            match russh::keys::known_hosts::learn_known_hosts_path(
                &options.address,
                options.port,
                key,
                &options.known_hosts,
            ) {
                Ok(()) => KeyVerdict::Trusted,
                Err(e) => KeyVerdict::Unreadable {
                    reason: format!("cannot record the key: {e}"),
                },
            }
        }
        Verdict::Unknown => KeyVerdict::Unknown { fingerprint },
    }
}

/// An authenticated russh connection to one host.
pub(super) struct Native {
    handle: Handle<HostKeyCheck>,
    /// The `ProxyJump` host's connection, kept open under the tunnel.
    jump: Option<Handle<HostKeyCheck>>,
    host: String,
}

/// Applies `~/.ssh/config` for `alias`, then ssh's defaults, under what
/// the inventory said. Refuses configs that only the system ssh can follow.
fn resolve(
    options: &ConnectOptions,
    alias: &str,
) -> Result<(Target, Option<String>), TransportError> {
    let home = home();
    let config_path = home.join(".ssh/config");
    let config = ssh_config::for_host(&config_path, &home, alias);
    if !config.unsupported.is_empty() {
        return Err(TransportError::NeedsOpenssh {
            host: alias.to_owned(),
            settings: config.unsupported.join(", "),
        });
    }
    let mut key_files: Vec<PathBuf> = options.identity_file.iter().cloned().collect();
    key_files.extend(config.identity_files);
    key_files.extend(["id_ed25519", "id_ecdsa", "id_rsa"].map(|k| home.join(".ssh").join(k)));
    let target = Target {
        address: config.host_name.unwrap_or_else(|| alias.to_owned()),
        port: options.port.or(config.port).unwrap_or(22),
        user: options
            .user
            .clone()
            .or(config.user)
            .unwrap_or_else(local_user),
        key_files,
        known_hosts: options
            .known_hosts
            .clone()
            .or(config.known_hosts)
            .unwrap_or_else(|| home.join(".ssh/known_hosts")),
        accept_new_host_keys: options.accept_new_host_keys,
        connect_timeout: options.connect_timeout,
    };
    Ok((target, config.proxy_jump))
}

impl Native {
    /// Connects (through the `ProxyJump` host if the config names one),
    /// verifies the host key and logs in.
    pub(super) async fn open(options: &ConnectOptions) -> Result<Native, TransportError> {
        let (target, proxy_jump) = resolve(options, &options.address)?;
        let Some(jump_spec) = proxy_jump else {
            let tcp = tcp_connect(&target).await?;
            let handle = handshake(&target, tcp).await?;
            return Ok(Native {
                handle,
                jump: None,
                host: options.address.clone(),
            });
        };
        let (jump_user, jump_alias, jump_port) = ssh_config::jump_target(&jump_spec);
        let jump_options = ConnectOptions {
            address: jump_alias.clone(),
            port: jump_port,
            user: jump_user,
            identity_file: None,
            ..options.clone()
        };
        let (jump_target, further) = resolve(&jump_options, &jump_alias)?;
        if further.is_some() {
            return Err(TransportError::NeedsOpenssh {
                host: options.address.clone(),
                settings: format!(
                    "ProxyJump through {jump_alias}, which has a ProxyJump of its own"
                ),
            });
        }
        let jump = handshake(&jump_target, tcp_connect(&jump_target).await?).await?;
        let channel = jump
            .channel_open_direct_tcpip(
                target.address.clone(),
                u32::from(target.port),
                "127.0.0.1",
                0,
            )
            .await
            .map_err(|source| TransportError::Ssh {
                host: jump_alias.clone(),
                source,
            })?;
        let handle = handshake(&target, channel.into_stream()).await?;
        Ok(Native {
            handle,
            jump: Some(jump),
            host: options.address.clone(),
        })
    }

    /// Opens a session channel and starts `/bin/sh` on it.
    pub(super) async fn shell_pipe(&self) -> Result<Pipe, TransportError> {
        let channel = self.open_channel().await?;
        channel
            .exec(true, "exec /bin/sh")
            .await
            .map_err(|source| TransportError::Ssh {
                host: self.host.clone(),
                source,
            })?;
        Ok(Pipe::Channel(channel))
    }

    /// Runs `script` on a pty on a new channel, this terminal attached.
    pub(super) async fn interactive(&self, script: &str) -> Result<i32, TransportError> {
        let channel = self.open_channel().await?;
        super::terminal::on_channel(channel, script)
            .await
            .map_err(|source| TransportError::Ssh {
                host: self.host.clone(),
                source,
            })
    }

    async fn open_channel(&self) -> Result<russh::Channel<client::Msg>, TransportError> {
        self.handle
            .channel_open_session()
            .await
            .map_err(|source| TransportError::Ssh {
                host: self.host.clone(),
                source,
            })
    }

    /// Closes the connection (and the jump host's).
    pub(super) async fn close(self) {
        for handle in std::iter::once(self.handle).chain(self.jump) {
            let _ = handle
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }
}

async fn tcp_connect(target: &Target) -> Result<QuickAck, TransportError> {
    let timed_out = || TransportError::ConnectTimeout {
        host: target.address.clone(),
        port: target.port,
        timeout: target.connect_timeout,
    };
    // The name first: one that does not resolve is said as that, not as
    // a host that refused.
    let started = std::time::Instant::now();
    let addresses: Vec<std::net::SocketAddr> = tokio::time::timeout(
        target.connect_timeout,
        tokio::net::lookup_host((target.address.as_str(), target.port)),
    )
    .await
    .map_err(|_| timed_out())?
    .map_err(|e| TransportError::Unresolved {
        host: target.address.clone(),
        reason: resolver_reason(&e),
    })?
    .collect();
    let tcp = tokio::time::timeout(
        target.connect_timeout.saturating_sub(started.elapsed()),
        tokio::net::TcpStream::connect(addresses.as_slice()),
    )
    .await
    .map_err(|_| timed_out())?
    .map_err(|source| TransportError::Connect {
        host: target.address.clone(),
        port: target.port,
        source,
    })?;
    let _ = tcp.set_nodelay(true);
    Ok(QuickAck(tcp))
}

/// The resolver's words without the standard library's preamble
/// ("failed to lookup address information: Name or service not known").
fn resolver_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    text.strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text)
        .to_owned()
}

/// The SSH handshake and login over `stream`.
async fn handshake<S>(target: &Target, stream: S) -> Result<Handle<HostKeyCheck>, TransportError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let config = Arc::new(client::Config {
        nodelay: true,
        keepalive_interval: Some(keepalive_interval(target.connect_timeout)),
        keepalive_max: KEEPALIVE_MAX,
        ..client::Config::default()
    });
    let verdict = Arc::new(Mutex::new(None));
    let handler = HostKeyCheck {
        options: target.clone(),
        verdict: verdict.clone(),
    };
    let handshake = tokio::time::timeout(
        target.connect_timeout,
        client::connect_stream(config, stream, handler),
    )
    .await
    .map_err(|_| TransportError::ConnectTimeout {
        host: target.address.clone(),
        port: target.port,
        timeout: target.connect_timeout,
    })?;
    let mut handle = match handshake {
        Ok(handle) => handle,
        Err(source) => {
            let seen = verdict.lock().expect("verdict lock").clone();
            return Err(host_key_error(target, seen).unwrap_or(TransportError::Ssh {
                host: target.address.clone(),
                source,
            }));
        }
    };
    authenticate(&mut handle, target).await?;
    Ok(handle)
}

fn host_key_error(options: &Target, seen: Option<KeyVerdict>) -> Option<TransportError> {
    let host = options.address.clone();
    let port = options.port;
    let known_hosts = options.known_hosts.clone();
    match seen? {
        KeyVerdict::Trusted => None,
        KeyVerdict::Unknown { fingerprint } => Some(TransportError::UnknownHostKey {
            host,
            port,
            fingerprint,
            known_hosts,
        }),
        KeyVerdict::Changed { fingerprint, line } => Some(TransportError::HostKeyChanged {
            host,
            port,
            fingerprint,
            known_hosts,
            line,
        }),
        KeyVerdict::Revoked { fingerprint, line } => Some(TransportError::HostKeyRevoked {
            host,
            port,
            fingerprint,
            known_hosts,
            line,
        }),
        KeyVerdict::Unreadable { reason } => Some(TransportError::KeyFile {
            path: known_hosts,
            reason,
        }),
    }
}

async fn authenticate(
    handle: &mut Handle<HostKeyCheck>,
    options: &Target,
) -> Result<(), TransportError> {
    let ssh_error = |source| TransportError::Ssh {
        host: options.address.clone(),
        source,
    };
    let mut tried = Vec::new();
    if let Ok(mut agent) = russh::keys::agent::client::AgentClient::connect_env().await
        && let Ok(identities) = agent.request_identities().await
    {
        for identity in identities {
            let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = identity else {
                continue;
            };
            tried.push(format!("agent key {}", key.fingerprint(HashAlg::Sha256)));
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(ssh_error)?
                .flatten();
            let result = handle
                .authenticate_publickey_with(options.user.clone(), key, hash, &mut agent)
                .await;
            if matches!(result, Ok(russh::client::AuthResult::Success)) {
                return Ok(());
            }
        }
    }
    for path in &options.key_files {
        if !path.exists() {
            continue;
        }
        let key =
            russh::keys::load_secret_key(path, None).map_err(|e| TransportError::KeyFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        tried.push(path.display().to_string());
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(ssh_error)?
            .flatten();
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        let result = handle
            .authenticate_publickey(options.user.clone(), key)
            .await
            .map_err(ssh_error)?;
        if result.success() {
            return Ok(());
        }
    }
    Err(TransportError::AuthFailed {
        user: options.user.clone(),
        host: options.address.clone(),
        tried: if tried.is_empty() {
            "no agent and no key file found".into()
        } else {
            tried.join(", ")
        },
    })
}
