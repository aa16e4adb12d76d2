//! Many hosts on one machine: one real sshd per host, each on its own
//! loopback address (127.0.0.2, 127.0.0.3, ...), each host deploying into
//! its own directory. They share the sandbox's keys, git daemon and
//! virtualenv, so a test of twenty hosts costs twenty small deploys.

use std::path::PathBuf;
use std::process::Child;

use super::sandbox::{self, Sandbox};

/// One host of the fleet.
pub struct FleetHost {
    /// Inventory name: `host01`, `host02`, ...
    pub name: String,
    /// Its loopback address.
    pub address: String,
    /// Its sshd's port.
    pub port: u16,
    /// Where its releases go.
    pub base_path: PathBuf,
    /// Its own environment store, if the sandbox has one.
    environments: Option<PathBuf>,
    sshd: Child,
}

/// A sandbox with `n` more hosts, and an inventory listing them.
pub struct Fleet {
    /// The sandbox whose keys, origin and inventory the hosts use.
    pub sandbox: Sandbox,
    /// The hosts, in inventory order.
    pub hosts: Vec<FleetHost>,
}

impl FleetHost {
    /// Where its releases' environments are.
    pub fn environment_store(&self) -> PathBuf {
        self.environments
            .clone()
            .unwrap_or_else(|| self.base_path.join("venvs"))
    }
}

impl Fleet {
    /// Starts `n` hosts and writes `inventory/staging`: every host in group
    /// `web`, the first two also in `canary`, `staging` = `web`.
    pub fn start(n: usize) -> Fleet {
        assert!(n <= 200, "one loopback address per host: at most 200");
        let sandbox = super::sandbox();
        let mut known_hosts = std::fs::read_to_string(&sandbox.known_hosts).unwrap();
        let hosts: Vec<FleetHost> = (0..n)
            .map(|i| {
                let name = format!("host{:02}", i + 1);
                let address = format!("127.0.0.{}", i + 2);
                let dir = sandbox.dir.join("hosts").join(&name);
                let (sshd, port) = sandbox::start_sshd(&dir, &address, &sandbox.dir);
                known_hosts.push_str(&sandbox::known_hosts_line(&sandbox.dir, &address, port));
                // Each host's own store, linking the shared environment as
                // the sandbox's does.
                let environments = sandbox.dir.join("environments").exists().then(|| {
                    let own = dir.join("environments");
                    super::link_shared_environment(&own);
                    own
                });
                FleetHost {
                    name,
                    address,
                    port,
                    base_path: dir.join("srv/wptdash"),
                    environments,
                    sshd,
                }
            })
            .collect();
        std::fs::write(&sandbox.known_hosts, known_hosts).unwrap();
        let fleet = Fleet { sandbox, hosts };
        fleet.write_inventory(&|_| String::new());
        fleet
    }

    /// Rewrites `inventory/staging`, adding `extra(host)` to each host's line.
    pub fn write_inventory(&self, extra: &dyn Fn(&FleetHost) -> String) {
        let line = |h: &FleetHost| {
            let environments = h
                .environments
                .as_ref()
                .map(|e| format!("venvs_path={} ", e.display()))
                .unwrap_or_default();
            format!(
                "{} ansible_host={} ansible_port={} ansible_user={} ansible_ssh_private_key_file={} base_path={} {environments}{}\n",
                h.name,
                h.address,
                h.port,
                self.sandbox.user,
                self.sandbox.key.display(),
                h.base_path.display(),
                extra(h)
            )
        };
        let mut text = String::from("[canary]\n");
        text.extend(self.hosts.iter().take(2).map(line));
        text.push_str("[web]\n");
        text.extend(self.hosts.iter().map(line));
        text.push_str("[staging:children]\nweb\n");
        std::fs::write(self.sandbox.inventory.join("staging"), text).unwrap();
    }

    /// The release host `index` has live, if any.
    pub fn live(&self, index: usize) -> Option<String> {
        sandbox::live_release_in(&self.hosts[index].base_path)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for host in &mut self.hosts {
            sandbox::stop(&mut host.sshd);
        }
    }
}
