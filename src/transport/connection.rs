//! One SSH connection per host (russh), its host key checked against
//! known_hosts, authenticated by ssh-agent or key files.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

use super::command::{RemoteCommand, SudoAuth};
use super::error::TransportError;
use super::shell::{Output, RemoteShell, Stream};

/// Where and how to connect to one host.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Address or name to connect to.
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Private keys to try after the agent, in order.
    pub key_files: Vec<PathBuf>,
    /// The known_hosts file to check (and, with `accept_new_host_keys`, to add to).
    pub known_hosts: PathBuf,
    /// Record keys of hosts not yet known (like `StrictHostKeyChecking=accept-new`).
    pub accept_new_host_keys: bool,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
}

/// What the host-key check saw, kept for the error message.
#[derive(Debug, Clone)]
enum KeyVerdict {
    Trusted,
    Unknown { fingerprint: String },
    Changed { fingerprint: String, line: usize },
    Unreadable { reason: String },
}

struct HostKeyCheck {
    options: ConnectOptions,
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

fn verify_host_key(options: &ConnectOptions, key: &PublicKey) -> KeyVerdict {
    use russh::keys::known_hosts::{check_known_hosts_path, learn_known_hosts_path};
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    match check_known_hosts_path(&options.address, options.port, key, &options.known_hosts) {
        Ok(true) => KeyVerdict::Trusted,
        Ok(false) if options.accept_new_host_keys => {
            match learn_known_hosts_path(&options.address, options.port, key, &options.known_hosts)
            {
                Ok(()) => KeyVerdict::Trusted,
                Err(e) => KeyVerdict::Unreadable {
                    reason: format!("cannot record the key: {e}"),
                },
            }
        }
        Ok(false) => KeyVerdict::Unknown { fingerprint },
        Err(russh::keys::Error::KeyChanged { line }) => KeyVerdict::Changed { fingerprint, line },
        Err(e) => KeyVerdict::Unreadable {
            reason: e.to_string(),
        },
    }
}

/// An authenticated connection to one host, with its command shell.
pub struct Connection {
    handle: Handle<HostKeyCheck>,
    shell: Option<RemoteShell>,
    host: String,
}

impl Connection {
    /// Connects, verifies the host key and logs in.
    pub async fn open(options: &ConnectOptions) -> Result<Connection, TransportError> {
        let host = options.address.clone();
        let config = Arc::new(client::Config {
            nodelay: true,
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 4,
            ..client::Config::default()
        });
        let verdict = Arc::new(Mutex::new(None));
        let handler = HostKeyCheck {
            options: options.clone(),
            verdict: verdict.clone(),
        };
        let tcp = tokio::time::timeout(
            options.connect_timeout,
            tokio::net::TcpStream::connect((options.address.as_str(), options.port)),
        )
        .await
        .map_err(|_| TransportError::ConnectTimeout {
            host: host.clone(),
            port: options.port,
            timeout: options.connect_timeout,
        })?
        .map_err(|source| TransportError::Connect {
            host: host.clone(),
            port: options.port,
            source,
        })?;
        let _ = tcp.set_nodelay(true);
        let handshake = tokio::time::timeout(
            options.connect_timeout,
            client::connect_stream(config, tcp, handler),
        )
        .await
        .map_err(|_| TransportError::ConnectTimeout {
            host: host.clone(),
            port: options.port,
            timeout: options.connect_timeout,
        })?;
        let mut handle = match handshake {
            Ok(handle) => handle,
            Err(source) => {
                let seen = verdict.lock().expect("verdict lock").clone();
                return Err(
                    host_key_error(options, seen).unwrap_or(TransportError::Ssh {
                        host: host.clone(),
                        source,
                    }),
                );
            }
        };
        authenticate(&mut handle, options).await?;
        Ok(Connection {
            handle,
            shell: None,
            host,
        })
    }

    /// Runs a command in the host's long-lived shell (started on first use,
    /// and again if a previous command left it broken).
    pub async fn run(
        &mut self,
        command: &RemoteCommand,
        auth: SudoAuth<'_>,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<Output, TransportError> {
        if self.shell.as_ref().is_none_or(RemoteShell::is_broken) {
            if let Some(old) = self.shell.take() {
                old.close().await;
            }
            let channel = self.open_channel().await?;
            self.shell = Some(RemoteShell::start(channel, &self.host).await?);
        }
        let shell = self.shell.as_mut().expect("shell just started");
        shell.run(command, auth, &self.host, on_line).await
    }

    /// Reads a whole remote file over SFTP, on its own channel of this connection.
    pub async fn download(&self, path: &str) -> Result<Vec<u8>, TransportError> {
        let sftp_error = |message: String| TransportError::Sftp {
            host: self.host.clone(),
            path: path.to_owned(),
            message,
        };
        let channel = self.open_channel().await?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| sftp_error(e.to_string()))?;
        let sftp = russh_sftp::client::SftpSession::new(channel.into_stream())
            .await
            .map_err(|e| sftp_error(e.to_string()))?;
        let bytes = sftp.read(path).await.map_err(|e| sftp_error(e.to_string()));
        let _ = sftp.close().await;
        bytes
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

    /// Closes the shell and the connection.
    pub async fn close(mut self) {
        if let Some(shell) = self.shell.take() {
            shell.close().await;
        }
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

fn host_key_error(options: &ConnectOptions, seen: Option<KeyVerdict>) -> Option<TransportError> {
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
        KeyVerdict::Unreadable { reason } => Some(TransportError::KeyFile {
            path: known_hosts,
            reason,
        }),
    }
}

async fn authenticate(
    handle: &mut Handle<HostKeyCheck>,
    options: &ConnectOptions,
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
