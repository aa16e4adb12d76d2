//! A command run on this machine with the terminal attached (a `local:`
//! step), so an editor or git can talk to the person. Its standard output goes to
//! standard error, keeping standard output for data (`--output json`).

use std::os::fd::AsFd as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;

use crate::transport::{Output, RemoteCommand};

/// Runs `command` (script, directory, environment, timeout) locally with
/// `sh -c`. The exit code is the shell's; 124 after a timeout.
pub async fn run(command: &RemoteCommand) -> Output {
    let failed = |message: String| Output {
        exit_code: 127,
        stdout: String::new(),
        stderr: message,
    };
    let stdout = match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(e) => return failed(format!("cannot pass the terminal on: {e}")),
    };
    let mut shell = tokio::process::Command::new("sh");
    shell
        .arg("-c")
        .arg(&command.script)
        .envs(command.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::inherit())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(dir) = &command.cwd {
        shell.current_dir(dir);
    }
    let mut child = match shell.spawn() {
        Ok(child) => child,
        Err(e) => return failed(format!("cannot start sh: {e}")),
    };
    let waited = match command.timeout {
        Some(limit) => tokio::time::timeout(limit, child.wait()).await,
        None => Ok(child.wait().await),
    };
    let exit_code = match waited {
        Ok(Ok(status)) => status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        Ok(Err(e)) => return failed(format!("lost the command: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            124
        }
    };
    Output {
        exit_code,
        stdout: String::new(),
        stderr: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_in_its_directory_with_its_environment_and_reports_the_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = RemoteCommand::new("printf %s \"$GREETING\" > said; exit 3");
        command.cwd = Some(dir.path().display().to_string());
        command.env = vec![("GREETING".into(), "hello".into())];
        assert_eq!(run(&command).await.exit_code, 3);
        assert_eq!(
            fs_err::read_to_string(dir.path().join("said")).unwrap(),
            "hello"
        );
    }

    #[tokio::test]
    async fn a_timeout_stops_it_with_124() {
        let mut command = RemoteCommand::new("sleep 5");
        command.timeout = Some(std::time::Duration::from_millis(100));
        assert_eq!(run(&command).await.exit_code, 124);
    }
}
