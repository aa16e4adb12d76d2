//! `notify_webhook` and `notify_command`: a real local HTTP server and a
//! real command are told when a deploy starts and how it ended; one that
//! cannot be told is a warning that never names its address's path, and
//! never fails the deploy.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::Value;

use crate::support::sandbox;

/// An HTTP server on loopback answering every request with `status`; the
/// JSON bodies it was POSTed arrive on the receiver.
fn webhook(status: u16) -> (String, Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hooks/T0-s3cret-token",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            assert!(request_line.starts_with("POST /hooks/"), "{request_line}");
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

fn next(rx: &Receiver<Value>) -> Value {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the webhook was told")
}

#[test]
fn a_webhook_is_told_the_start_and_the_end_of_a_deploy_and_of_one_that_went_back() {
    let s = crate::support::sandbox_checking_the_app();
    let (url, told) = webhook(200);
    let hook = format!("notify_webhook={url}");
    s.wptdeploy(&["staging", "--commit", "master", "-e", &hook])
        .success();
    let started = next(&told);
    assert_eq!(started["event"], "started");
    assert_eq!(started["env"], "staging");
    assert_eq!(started["commit"], "master");
    assert_eq!(started["sha"], s.sha("master"));
    assert_eq!(started["hosts"], serde_json::json!(["sandbox-host"]));
    assert!(started["by"].as_str().unwrap().contains('@'), "{started}");
    let ended = next(&told);
    assert_eq!(ended["event"], "succeeded", "{ended}");
    assert_eq!(ended["results"][0]["result"], "deployed");
    assert_eq!(ended["results"][0]["release"], s.sha("master"));
    assert!(ended["ms"].as_u64().unwrap() > 0, "{ended}");

    // A release that fails its health check goes back: `rolled_back`, with why.
    s.wptdeploy(&["staging", "--commit", "broken-app", "-e", &hook])
        .failure(1);
    assert_eq!(next(&told)["event"], "started");
    let ended = next(&told);
    assert_eq!(ended["event"], "rolled_back", "{ended}");
    assert_eq!(ended["results"][0]["result"], "rolled_back");
    assert!(!ended["error"].as_str().unwrap().is_empty(), "{ended}");

    // Reading a host, or planning, tells nobody.
    s.wptdeploy(&["status", "staging", "-e", &hook]).success();
    s.wptdeploy(&["staging", "--commit", "master", "--check", "-e", &hook])
        .success();
    assert!(told.recv_timeout(Duration::from_millis(500)).is_err());
}

#[test]
fn a_webhook_that_fails_or_cannot_be_reached_is_a_warning_and_a_command_is_told_too() {
    let s = sandbox();
    let (url, told) = webhook(500);
    let told_file = s.dir.join("told.jsonl");
    let run = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "master",
            "-e",
            &format!("notify_webhook={url}"),
            "-e",
            &serde_json::json!({
                "notify_command": format!("cat >> {0}; echo >> {0}", told_file.display())
            })
            .to_string(),
        ])
        .success();
    assert_eq!(next(&told)["event"], "started");
    let site = url.split("/hooks").next().unwrap();
    assert!(
        run.stderr.contains(&format!(
            "warning: notify_webhook ({site}) was not told the run started: it answered HTTP 500"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
    let lines: Vec<Value> = std::fs::read_to_string(&told_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["started", "succeeded"]);

    // Nothing listens: said, and the deploy still succeeds.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let run = s
        .wptdeploy(&[
            "staging",
            "--commit",
            "master",
            "-e",
            &format!("notify_webhook=http://{address}/hooks/s3cret"),
            "-e",
            "notify_command='exit 4'",
        ])
        .success();
    assert!(
        run.stderr.contains(&format!(
            "warning: notify_webhook (http://{address}) was not told the run succeeded: could not"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "warning: notify_command was not told the run started: it exited with exit status: 4"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
}
