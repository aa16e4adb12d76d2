//! The text of remote commands. The SSH protocol has no argument vector, so
//! every value that reaches a remote shell is quoted here, and nowhere else.

use std::fmt::Write as _;
use std::time::Duration;

/// Quotes `value` as one POSIX shell word.
///
/// Words made only of characters that no shell treats specially are left
/// bare so that `--check` output stays readable; everything else is wrapped
/// in single quotes, with embedded single quotes written as `'\''`.
pub fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Joins words into a command line, quoting each one.
pub fn quote_words<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks that `name` can be used as an environment variable name.
pub fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The script as the host runs it: in a session of its own, so that when
/// it ends, whatever it started and left running (`cmd &`) is ended too and
/// cannot print into the next step. A signal to the envelope (the step's
/// timeout, sudo relaying one) ends the whole session as well. Programs
/// that daemonize properly (a new session of their own: `systemctl`,
/// `pg_ctl`, `uwsgi --daemonize`) are not touched.
///
/// With `background_log`, the script is started detached instead, its
/// output appended to that file, and the envelope returns at once.
fn envelope(script: &str, background_log: Option<&str>) -> String {
    if let Some(log) = background_log {
        return format!(
            "log={log}; mkdir -p -- \"$(dirname -- \"$log\")\" && \
             printf '%s started %s\\n' \"$(date '+%F %T')\" {shown} >>\"$log\" && \
             setsid sh -c {script} >>\"$log\" 2>&1 </dev/null & \
             echo \"started in the background (pid $!); its output goes to $log\"",
            log = match log.strip_prefix("~/") {
                Some(rest) => format!("\"$HOME\"/{}", quote(rest)),
                None => quote(log),
            },
            shown = quote(&script.replace('\n', " ")),
            script = quote(script),
        );
    }
    // Background jobs read /dev/null unless told otherwise: fd 3 carries
    // the real standard input (a here-document) to the script.
    format!(
        "exec 3<&0; setsid sh -c {} <&3 3<&- & p=$!; exec 3<&-; \
         trap 'kill -TERM -$p 2>/dev/null' HUP INT TERM; \
         wait $p; rc=$?; kill -KILL -$p 2>/dev/null; exit $rc",
        quote(script)
    )
}

/// The loop that reads the environment block (`NAME=BASE64` lines, up to
/// its marker) from standard input and exports it.
fn read_env(marker: &str) -> String {
    format!(
        "while IFS= read -r l && [ \"$l\" != {m} ]; do export \"${{l%%=*}}=$(printf %s \"${{l#*=}}\" | base64 -d)\"; done",
        m = quote(&env_marker(marker)),
    )
}

/// The line that ends the environment block in a command's input.
fn env_marker(marker: &str) -> String {
    format!("{marker}_ENV")
}

/// One command to run on a host: a shell script plus how to run it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteCommand {
    /// The script, already built with every value quoted.
    pub script: String,
    /// Run as this user through `sudo` (`None`: the login user).
    pub become_user: Option<String>,
    /// Working directory, entered before the script runs.
    pub cwd: Option<String>,
    /// Environment variables set for the script.
    pub env: Vec<(String, String)>,
    /// Killed on the host after this long.
    pub timeout: Option<Duration>,
    /// Text fed to the script's standard input (never shown in plans).
    pub stdin: Option<String>,
    /// Start the script detached, its output appended to this file (`~/`:
    /// the home directory), and return at once (`background:`); otherwise
    /// whatever the script leaves running is ended with it.
    pub background_log: Option<String>,
    /// Run by the reading shell itself, in a subshell (one fork, no exec),
    /// not in a session of its own: only for a short command of wptdeploy's
    /// own that reads no input, starts nothing that outlives it, and cannot
    /// wait on anything (a `readlink`, a rename). As the login user only,
    /// without environment or timeout; otherwise this is ignored.
    pub in_place: bool,
}

/// How `sudo` gets its password, if it needs one.
#[derive(Debug, Clone, Copy)]
pub enum SudoAuth<'a> {
    /// `sudo -n`: fail at once rather than prompt.
    NonInteractive,
    /// `sudo -S`: the password arrives on standard input.
    Password(&'a str),
}

impl RemoteCommand {
    /// A command that runs `script` as the login user.
    pub fn new(script: impl Into<String>) -> Self {
        RemoteCommand {
            script: script.into(),
            ..RemoteCommand::default()
        }
    }

    /// The command line exactly as the host runs it, as shown in plans.
    /// Standard input (a file's content, a sudo password) is not part of it.
    pub fn command_line(&self) -> String {
        self.line(SudoAuth::NonInteractive, "", false)
    }

    /// The command line for `auth`, followed by the here-document that
    /// carries standard input. `delimiter` must not occur as a line in the
    /// input: callers pass a random token.
    ///
    /// With a sudo password, the input starts with the password and a marker
    /// line. sudo reads the password only when it needs one (not when its
    /// credentials are cached, nor for a `NOPASSWD` rule), so a wrapper
    /// under sudo discards lines up to the marker: the command's input is
    /// right either way, and the password never reaches the command.
    pub fn with_input(&self, auth: SudoAuth<'_>, delimiter: &str) -> String {
        let marker = format!("{delimiter}_DATA");
        let mut input = String::new();
        if let (SudoAuth::Password(password), Some(_)) = (auth, &self.become_user) {
            input.push_str(password);
            input.push('\n');
            input.push_str(&marker);
            input.push('\n');
        }
        if !self.env.is_empty() {
            input.push_str(&self.env_block());
            input.push_str(&env_marker(&marker));
            input.push('\n');
        }
        if let Some(stdin) = &self.stdin {
            input.push_str(stdin);
            if !stdin.ends_with('\n') {
                input.push('\n');
            }
        }
        if self.become_user.is_none() && self.background_log.is_none() {
            if self.in_place && input.is_empty() && self.timeout.is_none() {
                return format!("( {}\n) </dev/null\n", self.script_with_cwd());
            }
            return self.in_own_session(&marker, &input, delimiter);
        }
        let line = self.line(auth, &marker, true);
        if input.is_empty() {
            format!("{line} </dev/null\n")
        } else {
            format!("{line} <<'{delimiter}'\n{input}{delimiter}\n")
        }
    }

    /// The login user's command, started by the shell that reads it with
    /// no wrapper shell in between (one `fork` and two `exec`s: `setsid`,
    /// then `sh`): in a session of its own, the session's processes ended
    /// when it ends, a signal to the reading shell passed on to them, and
    /// its exit status left in `$?`. What the same guarantees cost under
    /// `sudo` is [`envelope`]'s.
    fn in_own_session(&self, marker: &str, input: &str, delimiter: &str) -> String {
        let script = self.script_with_cwd();
        let script = if self.env.is_empty() {
            script
        } else {
            format!("{}\n{script}", read_env(marker))
        };
        let stdin = if input.is_empty() {
            "3</dev/null".to_owned()
        } else {
            format!("3<<'{delimiter}'")
        };
        let line = format!(
            "{{ setsid {timeout}sh -c {script} <&3 3<&- & }} {stdin}; __wptd_p=$!; \
             trap 'kill -TERM -$__wptd_p 2>/dev/null' HUP INT TERM; \
             wait $__wptd_p; __wptd_s=$?; kill -KILL -$__wptd_p 2>/dev/null; \
             trap - HUP INT TERM; __wptd_status() {{ return \"$1\"; }}; __wptd_status $__wptd_s\n",
            timeout = self.timeout_prefix(),
            script = quote(&script),
        );
        if input.is_empty() {
            line
        } else {
            format!("{line}{input}{delimiter}\n")
        }
    }

    /// For plans: a one-line script as its exact command line; a longer
    /// script as the wrapper line followed by the script itself, verbatim.
    pub fn plan_text(&self) -> String {
        let text = self.plan_lines();
        match &self.background_log {
            Some(log) => {
                format!("{text}\n(started in the background, its output appended to {log})")
            }
            None => text,
        }
    }

    fn plan_lines(&self) -> String {
        let script = self.script_with_cwd();
        if !script.trim_end().contains('\n') {
            return self.command_line();
        }
        let mut text = self.prefix() + &self.env_prefix();
        text.push_str("sh -c \"$SCRIPT\", SCRIPT being:\n");
        for line in script.trim_end().lines() {
            text.push_str("| ");
            text.push_str(line);
            text.push('\n');
        }
        text.trim_end().to_owned()
    }

    fn script_with_cwd(&self) -> String {
        match &self.cwd {
            Some(dir) => format!("cd {} && {}", quote(dir), self.script),
            None => self.script.clone(),
        }
    }

    /// The line that runs the script; `enveloped`, as the host really runs
    /// it (see [`envelope`]), else as plans show it.
    fn line(&self, auth: SudoAuth<'_>, marker: &str, enveloped: bool) -> String {
        let script = match (&self.cwd, &self.become_user) {
            // Another user may not enter the login user's directory (psql
            // says so on every run): from `/`, unless the step names one.
            (None, Some(_)) if enveloped => format!("cd / && {}", self.script),
            _ => self.script_with_cwd(),
        };
        let script = if enveloped {
            envelope(&script, self.background_log.as_deref())
        } else {
            script
        };
        let command = if enveloped && !self.env.is_empty() {
            // The environment arrives on standard input, never in argv
            // (which any user of the host can read in /proc): a line
            // `NAME=BASE64` each, up to the marker.
            let read_env = format!("{}; exec sh -c {}", read_env(marker), quote(&script));
            format!("sh -c {}", quote(&read_env))
        } else {
            format!("{}sh -c {}", self.env_prefix(), quote(&script))
        };
        match (&self.become_user, auth) {
            (Some(user), SudoAuth::Password(_)) => {
                let skip = format!(
                    "read -r l; [ \"$l\" = {m} ] || read -r l; [ \"$l\" = {m} ] || exit 98; exec {command}",
                    m = quote(marker)
                );
                format!(
                    "{}sudo -S -p '' -u {} -- sh -c {}",
                    self.timeout_prefix(),
                    quote(user),
                    quote(&skip)
                )
            }
            _ => format!("{}{command}", self.prefix()),
        }
    }

    /// `timeout` and `sudo -n`, as they precede `env` and `sh -c`.
    fn prefix(&self) -> String {
        let mut line = self.timeout_prefix();
        if let Some(user) = &self.become_user {
            let _ = write!(line, "sudo -n -u {} -- ", quote(user));
        }
        line
    }

    fn timeout_prefix(&self) -> String {
        self.timeout
            .map(|t| format!("timeout -k 5 {} ", t.as_secs().max(1)))
            .unwrap_or_default()
    }

    /// The environment as `NAME=BASE64` lines.
    fn env_block(&self) -> String {
        use base64::Engine as _;
        self.env
            .iter()
            .fold(String::new(), |mut out, (name, value)| {
                let _ = writeln!(
                    out,
                    "{name}={}",
                    base64::engine::general_purpose::STANDARD.encode(value)
                );
                out
            })
    }

    fn env_prefix(&self) -> String {
        if self.env.is_empty() {
            return String::new();
        }
        let mut text = "env ".to_owned();
        for (name, value) in &self.env {
            let _ = write!(text, "{name}={} ", quote(value));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_reaches_the_script_on_stdin_never_in_the_command_line() {
        let value = "s3cret value\nwith 'quotes' $(touch MARK) and\ttabs";
        let command = RemoteCommand {
            script: "printf '%s|' \"$APP_SECRET\" \"$OTHER\"; cat".into(),
            env: vec![
                ("APP_SECRET".into(), value.into()),
                ("OTHER".into(), "two".into()),
            ],
            stdin: Some("the step's own input".into()),
            ..RemoteCommand::default()
        };
        let line = command.with_input(SudoAuth::NonInteractive, "DELIM0123");
        let (command_line, _) = line.split_once('\n').unwrap();
        assert!(!command_line.contains("s3cret"), "{command_line}");
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{value}|two|the step's own input\n"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!dir.path().join("MARK").exists());
    }

    #[test]
    fn plain_words_stay_bare_and_the_rest_is_single_quoted() {
        assert_eq!(quote("/var/www/site"), "/var/www/site");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("x; rm -rf /"), "'x; rm -rf /'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(id)"), "'$(id)'");
    }

    #[test]
    fn quoted_values_survive_a_real_shell_unchanged() {
        for hostile in ["x;touch /tmp/p", "$(id)", "a\nb", "'\"`", "  spaced  ", "*"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(hostile)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), hostile);
        }
    }

    fn run_in_sh(command: &RemoteCommand) -> (String, Duration) {
        let started = std::time::Instant::now();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command.with_input(SudoAuth::NonInteractive, "EOF_T"))
            .output()
            .unwrap();
        (String::from_utf8(out.stdout).unwrap(), started.elapsed())
    }

    /// What a step leaves running is ended with it: its output cannot turn
    /// up later (here: `output()` would wait for the pipe to close).
    #[test]
    fn a_step_leaves_nothing_running_and_keeps_its_input_and_status() {
        let command = RemoteCommand {
            script: "(sleep 3; echo late) & read line; echo \"got $line\"; exit 7".into(),
            stdin: Some("input".into()),
            ..RemoteCommand::default()
        };
        let text = command.with_input(SudoAuth::NonInteractive, "EOF_T") + "echo \"status $?\"\n";
        let started = std::time::Instant::now();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(text)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout, "got input\nstatus 7\n");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_background_step_returns_at_once_and_its_output_goes_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/bg.log");
        let command = RemoteCommand {
            script: "sleep 0.3; echo detached".into(),
            background_log: Some(log.display().to_string()),
            ..RemoteCommand::default()
        };
        let (stdout, took) = run_in_sh(&command);
        assert!(
            stdout.starts_with("started in the background (pid "),
            "{stdout}"
        );
        assert!(took < Duration::from_millis(300), "{took:?}");
        std::thread::sleep(Duration::from_millis(800));
        let written = fs_err::read_to_string(&log).unwrap();
        assert!(written.ends_with("detached\n"), "{written}");
        assert!(
            written.contains("started sleep 0.3; echo detached"),
            "{written}"
        );
    }

    #[test]
    fn command_line_wraps_become_cwd_env_and_timeout() {
        let command = RemoteCommand {
            script: "ls".into(),
            become_user: Some("www-data".into()),
            cwd: Some("/srv/my app".into()),
            env: vec![("FLASK_APP".into(), "manage.py".into())],
            timeout: Some(Duration::from_secs(30)),
            ..RemoteCommand::default()
        };
        assert_eq!(
            command.command_line(),
            r"timeout -k 5 30 sudo -n -u www-data -- env FLASK_APP=manage.py sh -c 'cd '\''/srv/my app'\'' && ls'"
        );
    }

    fn cat_as_app_with_data() -> RemoteCommand {
        RemoteCommand {
            script: "cat".into(),
            become_user: Some("app".into()),
            stdin: Some("data".into()),
            ..RemoteCommand::default()
        }
    }

    #[test]
    fn password_and_input_travel_in_a_here_document_not_the_command_line() {
        let text = cat_as_app_with_data().with_input(SudoAuth::Password("s3cret"), "EOF_1");
        let first_line = text.lines().next().unwrap();
        assert!(!first_line.contains("s3cret"));
        assert!(first_line.starts_with("sudo -S -p '' -u app -- sh -c "));
        assert!(text.ends_with("<<'EOF_1'\ns3cret\nEOF_1_DATA\ndata\nEOF_1\n"));
    }

    /// Whether or not sudo reads the password line, the command gets only its data.
    #[test]
    fn the_password_line_never_reaches_the_command() {
        let text = cat_as_app_with_data().with_input(SudoAuth::Password("s3cret"), "EOF_1");
        // Stand in for sudo: one that consumes the password, one that does not.
        for fake_sudo in ["read -r pw; shift 6; \"$@\"", "shift 6; \"$@\""] {
            let script = format!("sudo() {{ {fake_sudo}; }}\n{text}");
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8(out.stdout).unwrap(),
                "data\n",
                "{fake_sudo}"
            );
        }
    }

    #[test]
    fn env_names_are_checked() {
        assert!(is_env_name("FLASK_APP"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("A;B"));
        assert!(!is_env_name(""));
    }
}
