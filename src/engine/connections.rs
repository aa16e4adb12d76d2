//! Connections kept open between the plays of one command: `rollback`
//! reads every host, then relinks; `--step` plans, then runs. A play takes
//! a host's connection if the play before left it one, and leaves it one
//! when the host ended well, so a command logs in once per host.

use std::collections::HashMap;

use tokio::sync::Mutex;

use crate::plan::HostPlan;
use crate::transport::Connection;

/// Open connections, by host and target.
#[derive(Default)]
pub struct Connections {
    open: Mutex<HashMap<String, Connection>>,
}

/// A connection is reused only for the same host reached the same way.
fn key(host: &HostPlan) -> String {
    format!("{} {}", host.name, host.connect.target())
}

impl Connections {
    /// The connection a play before left for `host`, if any.
    pub async fn take(&self, host: &HostPlan) -> Option<Connection> {
        self.open.lock().await.remove(&key(host))
    }

    /// Keeps `conn` for the next play on `host`.
    pub async fn keep(&self, host: &HostPlan, conn: Connection) {
        if let Some(older) = self.open.lock().await.insert(key(host), conn) {
            older.close().await;
        }
    }

    /// Closes every connection kept: the command is done.
    pub async fn close_all(&self) {
        let open: Vec<Connection> = self.open.lock().await.drain().map(|(_, c)| c).collect();
        for conn in open {
            conn.close().await;
        }
    }
}
