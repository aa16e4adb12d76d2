//! A command a person ends with Ctrl-C (`logs -f`): the hosts Ctrl-C
//! stopped are reported as done (`ok`), not as interrupted, and the play
//! as a success when nothing else failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cancel::Cancel;
use crate::engine::events::{Event, HostResult, Reporter};

/// Passes events on to `inner`, ending the hosts Ctrl-C stopped well.
pub(super) struct EndedByCtrlC {
    inner: Arc<dyn Reporter>,
    cancel: Cancel,
    other_failure: AtomicBool,
}

impl EndedByCtrlC {
    pub(super) fn new(inner: Arc<dyn Reporter>, cancel: &Cancel) -> EndedByCtrlC {
        EndedByCtrlC {
            inner,
            cancel: cancel.clone(),
            other_failure: AtomicBool::new(false),
        }
    }
}

impl Reporter for EndedByCtrlC {
    fn report(&self, event: &Event) {
        let stopped = self.cancel.stopped_by_ctrl_c();
        match event {
            Event::HostFinished { host, summary }
                if stopped && summary.result == HostResult::Interrupted =>
            {
                let mut summary = summary.clone();
                summary.result = HostResult::Done;
                summary.error = None;
                summary.hints = Vec::new();
                self.inner.report(&Event::HostFinished {
                    host: host.clone(),
                    summary,
                });
            }
            Event::HostFinished { summary, .. } => {
                if !summary.succeeded() {
                    self.other_failure.store(true, Ordering::SeqCst);
                }
                self.inner.report(event);
            }
            Event::PlayFinished { ms, .. } if stopped => self.inner.report(&Event::PlayFinished {
                ok: !self.other_failure.load(Ordering::SeqCst),
                ms: *ms,
            }),
            _ => self.inner.report(event),
        }
    }
}
