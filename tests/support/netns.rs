//! A host in its own network namespace (root only): an sshd reachable over
//! a veth pair that a test can cut (`ip link set ... down`) mid-step, the
//! way a host drops off the network.

use std::path::Path;
use std::process::{Child, Command};

use super::sandbox::{self, Sandbox};

/// One host behind a veth pair.
pub struct NetnsHost {
    /// Inventory name.
    pub name: String,
    /// Its address inside the namespace.
    pub address: String,
    /// Its sshd's port.
    pub port: u16,
    namespace: String,
    link: String,
    sshd: Child,
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?} failed");
}

impl NetnsHost {
    /// Starts the host `name` in a new namespace. Fails loudly unless root
    /// with `ip` (iproute2): CI runs as root.
    pub fn start(s: &Sandbox, name: &str) -> NetnsHost {
        assert!(
            sandbox::is_root()
                && (Path::new("/usr/sbin/ip").exists() || Path::new("/sbin/ip").exists()),
            "this test puts a host in a network namespace, so it needs root and iproute2 (CI runs as root; `scripts/test` installs iproute2)"
        );
        // Tests run as threads of one process: each host of this process
        // gets its own link names and subnet.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let tag = (pid % 10_000) * 100 + n % 100;
        let namespace = format!("wptd-{tag}-{name}");
        let link = format!("wh{tag}");
        let peer = format!("wn{tag}");
        let subnet = 64 + ((pid + n) % 128);
        let (outside, address) = (format!("10.213.{subnet}.1"), format!("10.213.{subnet}.2"));
        ip(&["netns", "add", &namespace]);
        ip(&["link", "add", &link, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", &namespace]);
        ip(&["addr", "add", &format!("{outside}/30"), "dev", &link]);
        ip(&["link", "set", &link, "up"]);
        for args in [
            vec!["addr", "add", &format!("{address}/30"), "dev", &peer],
            vec!["link", "set", &peer, "up"],
            vec!["link", "set", "lo", "up"],
        ] {
            let mut full = vec!["netns", "exec", &namespace, "ip"];
            full.extend(args.iter().copied());
            ip(&full);
        }
        let dir = s.dir.join("hosts").join(name);
        let port = 2222;
        let sshd = sandbox::start_sshd_with(
            &dir,
            &address,
            port,
            &s.dir,
            &["ip", "netns", "exec", &namespace],
        );
        let mut known = std::fs::read_to_string(&s.known_hosts).unwrap();
        known.push_str(&sandbox::known_hosts_line(&s.dir, &address, port));
        std::fs::write(&s.known_hosts, known).unwrap();
        NetnsHost {
            name: name.to_owned(),
            address,
            port,
            namespace,
            link,
            sshd,
        }
    }

    /// Takes the host off the network: its link goes down.
    pub fn cut(&self) {
        ip(&["link", "set", &self.link, "down"]);
    }

    /// Puts the host back on the network.
    pub fn restore(&self) {
        ip(&["link", "set", &self.link, "up"]);
    }
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        sandbox::stop(&mut self.sshd);
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.namespace])
            .status();
    }
}
