//! One long-lived `/bin/sh` per host, fed one command at a time.
//!
//! Every SSH exec channel starts the user's login shell, and on Debian that
//! shell reads `~/.bashrc` (often tens of milliseconds, sometimes far more).
//! Paying that once per host instead of once per step is what makes a step
//! cost one round trip. Each command is followed by a marker line carrying a
//! random token and the exit status, printed on both stdout and stderr, so
//! the end of both streams is known exactly.
//!
//! Commands that only look may be sent ahead, several in one write
//! ([`RemoteShell::send_ahead`]): the shell runs them one after the other,
//! and their results are read in order, so a run of read-only steps costs
//! one round trip instead of one each.

use std::collections::VecDeque;
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::Msg;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

use super::command::{RemoteCommand, SudoAuth};
use super::error::TransportError;
use super::marked::MarkedStream;

/// What the remote shell sent.
pub(crate) enum Chunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The shell or the connection ended; how the shell ended, when the
    /// host said (`killed by signal KILL`, `exited with status 1`).
    Closed(Option<String>),
}

/// The remote shell's standard streams: an SSH channel of our own
/// connection (russh), or the pipes of a local `ssh` process multiplexed
/// over a ControlMaster (openssh).
pub(crate) enum Pipe {
    /// A session channel on which `exec /bin/sh` was requested.
    Channel(russh::Channel<Msg>),
    /// A local `ssh` running `exec /bin/sh` on the host.
    Process(Box<ProcessPipe>),
}

/// The pipes of a local `ssh` process.
pub(crate) struct ProcessPipe {
    /// Kept so that the process lives as long as the shell.
    child: openssh::Child<std::sync::Arc<openssh::Session>>,
    /// Its standard input.
    stdin: openssh::ChildStdin,
    /// Its output, read by two tasks.
    output: mpsc::Receiver<Chunk>,
}

impl Pipe {
    /// Wraps a started `ssh` process, reading its two output streams.
    pub(crate) fn process(
        mut child: openssh::Child<std::sync::Arc<openssh::Session>>,
    ) -> Option<Pipe> {
        let stdin = child.stdin().take()?;
        let stdout = child.stdout().take()?;
        let stderr = child.stderr().take()?;
        let (tx, output) = mpsc::channel(64);
        tokio::spawn(forward(stdout, tx.clone(), Chunk::Stdout));
        tokio::spawn(forward(stderr, tx, Chunk::Stderr));
        Some(Pipe::Process(Box::new(ProcessPipe {
            child,
            stdin,
            output,
        })))
    }

    async fn send(&mut self, text: String) -> Result<(), String> {
        match self {
            Pipe::Channel(channel) => channel
                .data_bytes(text.into_bytes())
                .await
                .map_err(|e| e.to_string()),
            Pipe::Process(process) => {
                let written = process.stdin.write_all(text.as_bytes()).await;
                written
                    .and(process.stdin.flush().await)
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn recv(&mut self) -> Chunk {
        match self {
            Pipe::Channel(channel) => loop {
                match channel.wait().await {
                    Some(ChannelMsg::Data { data }) => return Chunk::Stdout(data.to_vec()),
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                        return Chunk::Stderr(data.to_vec());
                    }
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        return Chunk::Closed(Some(format!("killed by signal {signal_name:?}")));
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        return Chunk::Closed(Some(format!("exited with status {exit_status}")));
                    }
                    Some(ChannelMsg::Close) | None => return Chunk::Closed(None),
                    // The end of data (`Eof`) is usually followed by the exit status.
                    Some(_) => {}
                }
            },
            Pipe::Process(process) => process.output.recv().await.unwrap_or(Chunk::Closed(None)),
        }
    }

    async fn close(self) {
        match self {
            Pipe::Channel(channel) => {
                let _ = channel.eof().await;
                let _ = channel.close().await;
            }
            Pipe::Process(process) => {
                let ProcessPipe {
                    child, mut stdin, ..
                } = *process;
                let _ = stdin.shutdown().await;
                drop(stdin);
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            }
        }
    }
}

/// Sends what `stream` yields, as `wrap`ped chunks, until it ends.
async fn forward(
    mut stream: impl tokio::io::AsyncRead + Unpin,
    tx: mpsc::Sender<Chunk>,
    wrap: fn(Vec<u8>) -> Chunk,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = tx.send(Chunk::Closed(None)).await;
                return;
            }
            Ok(n) => {
                if tx.send(wrap(buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Which stream a line of remote output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What a finished remote command left behind.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The exit status of the command.
    pub exit_code: i32,
    /// Everything it printed on standard output.
    pub stdout: String,
    /// Everything it printed on standard error.
    pub stderr: String,
}

/// A shell running on the host, waiting for commands on its standard input.
pub struct RemoteShell {
    pipe: Pipe,
    token: String,
    broken: bool,
    /// The login user, as the host says (`id -un`).
    user: String,
    /// Commands sent ahead whose results are not read yet, in order.
    ahead: VecDeque<Sent>,
    /// What each stream had after the last marker read: the start of a
    /// command sent ahead.
    carry: [Vec<u8>; 2],
}

/// A command written to the shell, as written.
struct Sent {
    text: String,
    wait: Duration,
}

/// Extra time, beyond a command's own timeout (which the host enforces with
/// `timeout`), before the host is considered unresponsive.
const GRACE: Duration = Duration::from_secs(30);
/// Timeout applied when a command has none of its own.
const DEFAULT_WAIT: Duration = Duration::from_secs(3600);

impl RemoteShell {
    /// Takes a started `/bin/sh` and waits until it answers with the login user's name.
    pub(crate) async fn start(pipe: Pipe, host: &str) -> Result<Self, TransportError> {
        let mut shell = RemoteShell {
            pipe,
            token: super::random_token(),
            broken: false,
            user: String::new(),
            ahead: VecDeque::new(),
            carry: [Vec::new(), Vec::new()],
        };
        // Asked of the shell itself: `id` needs no session of its own.
        // Anything the login shell printed before `exec` is discarded here.
        let text = format!("id -un </dev/null\n{}", shell.end_marker());
        shell.send(text, host).await?;
        let output = shell.read(GRACE, host, &mut |_, _| {}).await?;
        output.stdout.trim().clone_into(&mut shell.user);
        Ok(shell)
    }

    /// The user the shell runs as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether an earlier command left the shell in an unknown state.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The text that runs `command` and then prints the marker.
    fn text(&self, command: &RemoteCommand, auth: SudoAuth<'_>) -> Sent {
        let mut text = command.with_input(auth, &format!("__WPTD_IN_{}", self.token));
        text.push_str(&self.end_marker());
        let wait = command.timeout.map_or(DEFAULT_WAIT, |t| t + GRACE);
        Sent { text, wait }
    }

    /// The line that prints the marker, with the exit status of what ran
    /// before it, on both streams.
    fn end_marker(&self) -> String {
        let marker = format!("__WPTD_{}", self.token);
        format!(
            "__wptd_rc=$?; printf '\\n{marker} %s\\n' \"$__wptd_rc\"; printf '\\n{marker} %s\\n' \"$__wptd_rc\" >&2\n"
        )
    }

    /// Writes `commands` to the shell in one write, to be run one after
    /// the other; [`RemoteShell::run`] then reads each one's result instead
    /// of sending it again. Only for commands that change nothing: any the
    /// caller does not ask for in turn are still run by the shell, and
    /// their output is read and dropped.
    pub async fn send_ahead(
        &mut self,
        commands: &[&RemoteCommand],
        auth: SudoAuth<'_>,
        host: &str,
    ) -> Result<(), TransportError> {
        let sent: Vec<Sent> = commands.iter().map(|c| self.text(c, auth)).collect();
        let text: String = sent.iter().map(|s| s.text.as_str()).collect();
        self.send(text, host).await?;
        // Known to be in flight: no longer an unknown state.
        self.ahead.extend(sent);
        self.broken = false;
        Ok(())
    }

    /// Writes to the shell; until what was written is accounted for, the
    /// shell is in an unknown state.
    async fn send(&mut self, text: String, host: &str) -> Result<(), TransportError> {
        self.broken = true;
        self.pipe
            .send(text)
            .await
            .map_err(|message| TransportError::Lost {
                host: host.to_owned(),
                message,
            })
    }

    /// Runs one command, calling `on_line` for each line of output as it
    /// arrives, and returns when both output streams have ended.
    pub async fn run(
        &mut self,
        command: &RemoteCommand,
        auth: SudoAuth<'_>,
        host: &str,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<Output, TransportError> {
        let sent = self.text(command, auth);
        // Sent ahead and next in line: only its result is read. Any other
        // command sent ahead before it has its result read and dropped.
        while let Some(ahead) = self.ahead.pop_front() {
            if ahead.text == sent.text {
                return self.read(ahead.wait, host, on_line).await;
            }
            self.read(ahead.wait, host, &mut |_, _| {}).await?;
        }
        self.send(sent.text, host).await?;
        self.read(sent.wait, host, on_line).await
    }

    /// Reads the next command's result: its output up to the marker on
    /// both streams.
    async fn read(
        &mut self,
        wait: Duration,
        host: &str,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<Output, TransportError> {
        let marker = format!("__WPTD_{}", self.token);
        self.broken = true;
        let mut stdout = MarkedStream::new(&marker);
        let mut stderr = MarkedStream::new(&marker);
        let [carried_out, carried_err] = std::mem::take(&mut self.carry);
        stdout.push(&carried_out, &mut |line| on_line(Stream::Stdout, line));
        stderr.push(&carried_err, &mut |line| on_line(Stream::Stderr, line));
        let read = async {
            while stdout.exit_code.is_none() || stderr.exit_code.is_none() {
                match self.pipe.recv().await {
                    Chunk::Stdout(data) => {
                        stdout.push(&data, &mut |line| on_line(Stream::Stdout, line));
                    }
                    Chunk::Stderr(data) => {
                        stderr.push(&data, &mut |line| on_line(Stream::Stderr, line));
                    }
                    Chunk::Closed(end) => {
                        return Err(TransportError::ShellClosed {
                            host: host.to_owned(),
                            end,
                        });
                    }
                }
            }
            Ok(())
        };
        match tokio::time::timeout(wait, read).await {
            Err(_) => {
                return Err(TransportError::Unresponsive {
                    host: host.to_owned(),
                    waited: wait,
                });
            }
            Ok(result) => result?,
        }
        self.carry = [stdout.take_rest(), stderr.take_rest()];
        self.broken = false;
        Ok(Output {
            exit_code: stdout.exit_code.unwrap_or(-1),
            stdout: stdout.into_text(),
            stderr: stderr.into_text(),
        })
    }

    /// Ends the shell.
    pub async fn close(self) {
        self.pipe.close().await;
    }
}
