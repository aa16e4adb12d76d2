//! Driving the real binary through a pseudo-terminal (`script`), as a
//! person at a terminal would: wait for a prompt, type an answer.

use std::io::{Read as _, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// A program running on a pseudo-terminal.
pub struct Terminal {
    child: Child,
    stdin: ChildStdin,
    screen: Vec<u8>,
    chunks: Receiver<Vec<u8>>,
    /// How far [`Terminal::next_of`] has read the screen.
    read: usize,
}

impl Terminal {
    /// Starts `command` (program, arguments, environment, directory) on a terminal.
    pub fn start(command: &Command) -> Terminal {
        let line: Vec<String> = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|a| wptdeploy::transport::quote(&a.to_string_lossy()))
            .collect();
        let mut script = Command::new("script");
        script
            .args(["-qec", &line.join(" "), "/dev/null"])
            .envs(command.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(dir) = command.get_current_dir() {
            script.current_dir(dir);
        }
        let mut child = script.spawn().expect("start script");
        let mut stdout = child.stdout.take().unwrap();
        let (tx, chunks) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().unwrap();
        Terminal {
            child,
            stdin,
            screen: Vec::new(),
            chunks,
            read: 0,
        }
    }

    /// Everything shown so far.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen).into_owned()
    }

    /// Reads the screen until `found` finds something in it; panics,
    /// naming `waiting_for`, after 60 s.
    fn read_until<T>(&mut self, waiting_for: &str, found: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if let Some(result) = found(&screen) {
                return result;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.screen.extend(chunk),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("waited for {waiting_for}:\n{screen}");
                }
            }
        }
    }

    /// Waits until `text` has appeared `count` times; panics after 60 s.
    pub fn wait_for(&mut self, text: &str, count: usize) {
        self.read_until(&format!("{text:?} (x{count})"), |screen| {
            (screen.matches(text).count() >= count).then_some(())
        });
    }

    /// Waits until one of `texts` appears after what was already read;
    /// returns which, and its line up to it (prompts are answered with
    /// [`Terminal::answer`]). Panics after 60 s.
    pub fn next_of(&mut self, texts: &[&str]) -> (usize, String) {
        let read = self.read;
        let (at, which, line) = self.read_until(&format!("one of {texts:?}"), |screen| {
            let (at, which) = texts
                .iter()
                .enumerate()
                .filter_map(|(i, t)| screen[read..].find(t).map(|at| (at + read, i)))
                .min()?;
            let start = screen[..at].rfind(['\n', '\r']).map_or(0, |i| i + 1);
            Some((at, which, screen[start..at].to_owned()))
        });
        self.read = at + texts[which].len();
        (which, line)
    }

    /// Types `text` and Enter at the prompt `prompt` just read by
    /// [`Terminal::next_of`], and reads past the prompt shown again with the answer.
    pub fn answer(&mut self, prompt: &str, text: &str) {
        self.type_line(text);
        self.next_of(&[prompt]);
    }

    /// Presses one key (a menu's answer: no Enter).
    pub fn press(&mut self, key: char) {
        self.type_raw(&key.to_string());
    }

    /// Types `text` and Enter.
    pub fn type_line(&mut self, text: &str) {
        self.type_raw(&format!("{text}\r"));
    }

    fn type_raw(&mut self, text: &str) {
        if let Err(e) = self.stdin.write_all(text.as_bytes()) {
            while let Ok(chunk) = self.chunks.recv_timeout(Duration::from_secs(1)) {
                self.screen.extend(chunk);
            }
            panic!("could not type {text:?} ({e}):\n{}", self.screen());
        }
    }

    /// The process ID of `script`.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the program has turned the terminal's echo off: a
    /// password prompt discards what was typed before it reads
    /// (TCSAFLUSH), so a password is typed only once it is reading.
    pub fn wait_until_echo_is_off(&self) {
        let tty = terminal_of_child(self.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !echo_is_off(&tty) {
            assert!(Instant::now() < deadline, "echo never went off on {tty}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the program to end; returns whether it succeeded and the screen.
    pub fn finish(mut self) -> (bool, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while let Ok(chunk) = self
            .chunks
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.screen.extend(chunk);
        }
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        (status.success(), self.screen())
    }
}

/// The terminal (`/dev/pts/N`) of the process `script` (pid `parent`) started.
fn terminal_of_child(parent: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next()
            && let Ok(tty) = std::fs::read_link(format!("/proc/{pid}/fd/0"))
            && tty.starts_with("/dev/pts")
        {
            return tty.display().to_string();
        }
        assert!(Instant::now() < deadline, "script started no child");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn echo_is_off(tty: &str) -> bool {
    let out = std::process::Command::new("stty")
        .args(["-F", tty])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .any(|w| w == "-echo")
}
