//! An interactive session on a host: a pty over either transport, this
//! terminal in raw mode while it lasts (`wptdeploy shell`).

use std::io::IsTerminal as _;

use russh::ChannelMsg;
use rustix::termios::{OptionalActions, Termios, tcgetattr, tcgetwinsize, tcsetattr};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::signal::unix::{SignalKind, signal};

/// This terminal in raw mode until dropped (keys go to the host as typed;
/// the host's pty echoes and interprets them).
struct RawMode(Option<Termios>);

impl RawMode {
    fn enable() -> RawMode {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawMode(None);
        }
        let Ok(saved) = tcgetattr(&stdin) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        raw.make_raw();
        match tcsetattr(&stdin, OptionalActions::Now, &raw) {
            Ok(()) => RawMode(Some(saved)),
            Err(_) => RawMode(None),
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, saved);
        }
    }
}

/// This terminal's size, columns and rows (80x24 when it has none).
fn size() -> (u32, u32) {
    tcgetwinsize(std::io::stdout())
        .ok()
        .filter(|w| w.ws_col > 0 && w.ws_row > 0)
        .map_or((80, 24), |w| (u32::from(w.ws_col), u32::from(w.ws_row)))
}

/// Runs `script` on a pty on `channel`, this terminal attached, until the
/// host closes it; its exit status.
pub(super) async fn on_channel(
    mut channel: russh::Channel<russh::client::Msg>,
    script: &str,
) -> Result<i32, russh::Error> {
    let (cols, rows) = size();
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
    channel
        .request_pty(true, &term, cols, rows, 0, 0, &[])
        .await?;
    channel.exec(true, script).await?;
    let _raw = RawMode::enable();
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let mut resized = signal(SignalKind::window_change()).ok();
    let mut buf = vec![0u8; 8192];
    let mut typing = true;
    let mut status = -1;
    loop {
        tokio::select! {
            read = stdin.read(&mut buf), if typing => match read {
                Ok(0) | Err(_) => {
                    typing = false;
                    let _ = channel.eof().await;
                }
                Ok(n) => channel.data(&buf[..n]).await?,
            },
            Some(()) = async { resized.as_mut()?.recv().await } => {
                let (cols, rows) = size();
                let _ = channel.window_change(cols, rows, 0, 0).await;
            }
            message = channel.wait() => match message {
                Some(ChannelMsg::Data { data }) => {
                    let _ = stdout.write_all(&data).await;
                    let _ = stdout.flush().await;
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    let _ = stderr.write_all(&data).await;
                    let _ = stderr.flush().await;
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    status = i32::try_from(exit_status).unwrap_or(-1);
                }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            },
        }
    }
    Ok(status)
}
