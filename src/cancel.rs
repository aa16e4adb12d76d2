//! Stopping a run from outside the engine: a signal (Ctrl-C, `kill`, a
//! closed terminal) or output that can no longer be written (`| head`).
//!
//! Either way the engine sees the same thing, a [`Cancel`] turned on, and
//! ends as Ctrl-C always did: every host switches back what it switched and
//! is not known healthy, and releases its lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::sync::watch;

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGPIPE: i32 = 13;
const SIGTERM: i32 = 15;

/// A switch that stops every host of a run; cheap to clone.
#[derive(Clone)]
pub struct Cancel {
    switch: Arc<watch::Sender<bool>>,
    /// Why the run was stopped, as a signal number (0: not stopped). A
    /// closed output counts as SIGPIPE, the signal a shell pipeline would
    /// have sent.
    stopped_by: Arc<AtomicI32>,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel {
            switch: Arc::new(watch::channel(false).0),
            stopped_by: Arc::new(AtomicI32::new(0)),
        }
    }
}

impl Cancel {
    /// What the engine watches: turns true when the run is to stop.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.switch.subscribe()
    }

    /// Stops the run because standard output or error was closed. The first
    /// cause to arrive is the one the exit code reports.
    pub fn output_lost(&self) {
        self.stop(SIGPIPE);
    }

    fn stop(&self, signal: i32) {
        let _ = self
            .stopped_by
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        self.switch.send_replace(true);
    }

    /// The exit code of a stopped run: 128 + the signal's number (130 for
    /// Ctrl-C, 143 for SIGTERM, 129 for SIGHUP, 141 for a closed output);
    /// 130 when a person aborted at a prompt.
    pub fn exit_code(&self) -> i32 {
        match self.stopped_by.load(Ordering::SeqCst) {
            0 => 128 + SIGINT,
            signal => 128 + signal,
        }
    }

    /// Whether a person stopped the run at the terminal (Ctrl-C: SIGINT).
    pub fn stopped_by_ctrl_c(&self) -> bool {
        self.stopped_by.load(Ordering::SeqCst) == SIGINT
    }

    /// Whether the run was stopped because its output was closed: there is
    /// no one left to tell, so the end is quiet.
    pub fn output_closed(&self) -> bool {
        self.stopped_by.load(Ordering::SeqCst) == SIGPIPE
    }

    /// Listens for SIGINT, SIGTERM and SIGHUP: the first stops the run; a
    /// second has `tell` say that the cleanup is still running; a third has
    /// it say `abandoned` (what may be left and how to fix it) and exits at
    /// once.
    pub fn on_signals(&self, tell: fn(&str), abandoned: String) {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        );
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = streams else {
            return;
        };
        let cancel = self.clone();
        tokio::spawn(async move {
            let mut received = 0;
            loop {
                let number = tokio::select! {
                    _ = int.recv() => SIGINT,
                    _ = term.recv() => SIGTERM,
                    _ = hup.recv() => SIGHUP,
                };
                received += 1;
                match received {
                    1 => cancel.stop(number),
                    2 => tell(
                        "still cleaning up: switching back what was switched and releasing the deploy locks; a third signal abandons that",
                    ),
                    _ => {
                        tell(&abandoned);
                        std::process::exit(cancel.exit_code());
                    }
                }
            }
        });
    }
}
