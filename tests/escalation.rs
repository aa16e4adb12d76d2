//! The app user is compromised (www-data, which owns the releases and the
//! backups): nothing it can write becomes root's action at the next deploy
//! (docs/security.md). Each test plants what an attacker holding www-data
//! would, then runs the routine command a maintainer runs, as root through
//! a password sudo, against the server Ansible left. These need root.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::ansible_tree::{Setup, WWW_DATA, setup};
use crate::support::ansible_tree::{PRODUCTION, base_path};
use crate::support::sandbox::live_release_in;

/// A file only root may read or change, with its bytes, owner and mode.
struct RootFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl RootFile {
    fn plant(dir: &Path, name: &str) -> RootFile {
        let path = dir.join(name);
        let bytes = b"root's own, 0600\n".to_vec();
        std::fs::write(&path, &bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        RootFile { path, bytes }
    }

    /// Still root's, 0600, with the same bytes.
    fn assert_untouched(&self) {
        let meta = std::fs::symlink_metadata(&self.path).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o7777),
            (0, 0o600),
            "{} changed hands",
            self.path.display()
        );
        assert_eq!(std::fs::read(&self.path).unwrap(), self.bytes);
    }
}

/// Runs `f` as www-data would have: whatever it makes is www-data's.
fn as_www_data(path: &Path) {
    let status = std::process::Command::new("chown")
        .args(["-h", "-R", "www-data:www-data"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Production, deployed and migrated at `reference` with a backup.
fn production_at(t: &Setup, reference: &str) {
    t.run(&["prod", "--migrate", "--yes", "--commit", reference])
        .success();
}

fn backups(t: &Setup) -> PathBuf {
    base_path(&t.s, PRODUCTION).join("backups")
}

/// The newest backup in production's backup directory.
fn newest_backup(t: &Setup) -> PathBuf {
    let mut dumps: Vec<PathBuf> = std::fs::read_dir(backups(t))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dump"))
        .collect();
    dumps.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
    dumps.pop().expect("a backup")
}

#[test]
fn the_backup_is_never_written_through_a_link_the_app_user_planted() {
    let t = setup();
    production_at(&t, "master");
    let secret = RootFile::plant(&t.s.dir, "root-only");
    let sha = t.s.sha("feature/with-migration");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Every name the next backup could have in the next minute, final and
    // partial, a link to root's file.
    for stamp in now..now + 60 {
        for suffix in [".dump", ".dump.partial"] {
            let link = backups(&t).join(format!("wptdash-{sha}-{stamp}{suffix}"));
            std::os::unix::fs::symlink(&secret.path, &link).unwrap();
        }
    }
    as_www_data(&backups(&t));
    production_at(&t, "feature/with-migration");
    secret.assert_untouched();
    assert_eq!(t.pg.revision().as_deref(), Some("4dafe3eac60e"));
    let backup = newest_backup(&t);
    let meta = std::fs::symlink_metadata(&backup).unwrap();
    assert!(meta.file_type().is_file(), "{}", backup.display());
    assert_eq!((meta.uid(), meta.mode() & 0o777), (WWW_DATA, 0o600));
}

#[test]
fn root_restores_only_an_archive_it_recorded() {
    let t = setup();
    production_at(&t, "master");
    production_at(&t, "feature/with-migration");
    let backup = newest_backup(&t);
    let name = backup.file_name().unwrap().to_str().unwrap().to_owned();
    let good = std::fs::read(&backup).unwrap();
    let live = live_release_in(&base_path(&t.s, PRODUCTION));

    // The app user changes the archive (a crafted one would run `COPY ...
    // TO PROGRAM` as the superuser): refused before pg_restore reads it.
    let mut changed = good.clone();
    changed.extend_from_slice(b"\n-- changed by www-data\n");
    std::fs::write(&backup, &changed).unwrap();
    let refused = t
        .run(&["rollback", "prod", "--yes", "--restore", &name])
        .failure(1);
    assert!(
        refused
            .stderr
            .contains("is not a backup wptdeploy recorded: its SHA-256 is not in"),
        "{}",
        refused.stderr
    );
    assert_eq!(t.pg.revision().as_deref(), Some("4dafe3eac60e"));
    assert_eq!(live_release_in(&base_path(&t.s, PRODUCTION)), live);

    // The archive as the backup step made it is restored.
    std::fs::write(&backup, &good).unwrap();
    let restored = t
        .run(&["rollback", "prod", "--yes", "--restore", &name])
        .success();
    assert!(
        restored
            .stderr
            .contains("its checksum is one wptdeploy recorded"),
        "{}",
        restored.stderr
    );
    assert_eq!(t.pg.revision().as_deref(), Some("735093c03092"));
}

/// A process of root's that must outlive the deploy.
struct RootProcess(std::process::Child);

impl RootProcess {
    fn start() -> RootProcess {
        RootProcess(
            std::process::Command::new("sleep")
                .arg("600")
                .spawn()
                .unwrap(),
        )
    }

    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for RootProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_pid_file_the_app_user_wrote_never_makes_root_signal_another_process() {
    let t = setup();
    let mut victim = RootProcess::start();
    let run_dir = t.s.dir.join("run-gunicorn");
    std::fs::create_dir_all(&run_dir).unwrap();
    let pid_file = run_dir.join("gunicorn.pid");
    std::fs::write(&pid_file, format!("{}\n", victim.0.id())).unwrap();
    as_www_data(&run_dir);
    let pid_file = pid_file.display().to_string();
    let run = t
        .run(&[
            "prod",
            "--migrate",
            "--yes",
            "--commit",
            "master",
            "-e",
            "app_server=gunicorn",
            "-e",
            &format!("gunicorn_pid_file={pid_file}"),
        ])
        .failure(1);
    assert!(
        run.stderr.contains(&format!(
            "gunicorn's pid file {pid_file}, which www-data can write, names process {}, which is not www-data's gunicorn (it runs as root): no signal sent",
            victim.0.id()
        )),
        "{}",
        run.stderr
    );
    assert!(victim.alive(), "root's process was signalled");
}

#[test]
fn the_handover_never_follows_a_base_path_the_app_user_replaced() {
    let t = setup();
    let parent = t.s.dir.join("www");
    std::fs::create_dir_all(&parent).unwrap();
    let roots = t.s.dir.join("root-only");
    std::fs::create_dir_all(roots.join("backups")).unwrap();
    let secret = RootFile::plant(&roots.join("backups"), "secret.dump");
    let base = parent.join("production");
    std::os::unix::fs::symlink(&roots, &base).unwrap();
    as_www_data(&parent);
    let deploy_to_base = || {
        t.run(&[
            "prod",
            "--yes",
            "--commit",
            "master",
            "--no-migrate",
            "-e",
            &format!("base_path={}", base.display()),
        ])
        .failure(1)
    };
    let run = deploy_to_base();
    assert!(
        run.stderr.contains(&format!(
            "{} is a symbolic link: root does not act on a path www-data or anyone but root can change",
            base.display()
        )),
        "{}",
        run.stderr
    );
    secret.assert_untouched();
    assert_eq!(crate::ansible_tree::owner(&roots.join("backups")), 0);

    // A real directory there is refused too: www-data could swap it.
    std::fs::remove_file(&base).unwrap();
    std::fs::create_dir(&base).unwrap();
    let run = deploy_to_base();
    assert!(
        run.stderr.contains(&format!(
            "{}, above {}, is not root's alone",
            parent.display(),
            base.display()
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_generated_migration_that_links_to_a_root_file_is_never_pulled() {
    let t = setup();
    let secret = RootFile::plant(&t.s.dir, "root-only.py");
    // The app's migrate command, as a compromised app would run it: its
    // "generated" file is a link to root's.
    let fake = t.s.dir.join("fake-migrate");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" migrate -m \"*)\n  f=\"$PWD/migrations/versions/ffff00000001_stolen.py\"\n  ln -s {} \"$f\"\n  echo \"  Generating $f ...  done\"\n  exit 0 ;;\nesac\nexec \"$@\"\n",
            secret.path.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let into = t.s.dir.join("checkout/migrations/versions");
    std::fs::create_dir_all(&into).unwrap();
    let run = t
        .run(&[
            "migration",
            "new",
            "staging",
            "--commit",
            "master",
            "-m",
            "stolen",
            "--into",
            &into.display().to_string(),
            "-e",
            &serde_json::json!({
                "migrate_command": format!("{} {{{{ venv_path }}}}/bin/python manage.py db", fake.display())
            })
            .to_string(),
        ])
        .failure(1);
    assert!(
        run.stderr.contains(
            "ffff00000001_stolen.py is a symbolic link, and only a file itself is pulled"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_dir(&into).unwrap().count(),
        0,
        "nothing landed"
    );
    secret.assert_untouched();
}

/// Deploys `branch` to production, keeping one old release.
fn deploy(t: &Setup, branch: &str) -> crate::support::Run {
    t.run(&[
        "prod",
        "--yes",
        "--no-migrate",
        "--commit",
        branch,
        "-e",
        "keep_n_most_recent=1",
    ])
    .success()
}

/// Deploys `branches` to production in turn, keeping one old release.
fn deploy_each(t: &Setup, branches: &[&str]) {
    for branch in branches {
        deploy(t, branch);
    }
}

/// A file system mounted on a directory inside a release: `rm -rf`
/// cannot remove it (as a mount a container runtime left behind). When
/// dropped, every such mount under `within` is unmounted, wherever the
/// release was renamed to.
struct Mounted {
    within: PathBuf,
}

const TEST_MOUNT: &str = "wptdeploy-test-mount";

impl Mounted {
    fn on(dir: &Path, within: &Path) -> Mounted {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", TEST_MOUNT])
            .arg(dir)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a tmpfs needs root with CAP_SYS_ADMIN, as CI has"
        );
        Mounted {
            within: within.to_owned(),
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        for line in mounts.lines() {
            let mut fields = line.split(' ');
            if let (Some(TEST_MOUNT), Some(point)) = (fields.next(), fields.next())
                && Path::new(point).starts_with(&self.within)
            {
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(point)
                    .status();
            }
        }
    }
}

#[test]
fn a_release_prune_cannot_remove_is_a_warning_set_aside_and_retried() {
    let t = setup();
    let base = base_path(&t.s, PRODUCTION);
    let shas: Vec<String> = ["one", "two", "three", "four"]
        .iter()
        .map(|b| t.s.new_branch(b))
        .collect();
    deploy_each(&t, &["one", "two"]);
    // A read-only cache inside `one` (as Go and npm leave them): made
    // writable and removed. A mount inside `two`: it cannot be removed.
    let cache = base.join(&shas[0]).join("cache/go");
    std::fs::create_dir_all(cache.join("mod")).unwrap();
    std::fs::write(cache.join("mod/file"), "x").unwrap();
    as_www_data(&base.join(&shas[0]).join("cache"));
    for dir in [cache.join("mod"), cache.clone()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let mount = Mounted::on(&base.join(&shas[1]).join("busy"), &base);
    deploy_each(&t, &["three"]);
    assert!(!base.join(&shas[0]).exists(), "the read-only cache went");
    deploy_each(&t, &["four"]);
    assert_eq!(live_release_in(&base).as_deref(), Some(shas[3].as_str()));
    let aside = base.join(format!(".removing-{}", shas[1]));
    assert!(aside.exists(), "set aside under a name no release has");
    assert!(!base.join(&shas[1]).exists());

    // Set aside, it is never `already built`: deploying it builds it anew,
    // and the prune says again what it could not remove.
    let again = deploy(&t, "two");
    assert!(
        again.stderr.contains(&format!("new release {}", shas[1])),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains(&format!(
            "could not remove the old release {} (set aside as .removing-{}, tried again at the next prune)",
            shas[1], shas[1]
        )),
        "{}",
        again.stderr
    );
    // Once it can go, the next prune takes it.
    drop(mount);
    deploy_each(&t, &["three"]);
    assert!(!aside.exists(), "retried and removed");
}

#[test]
fn escape_sequences_the_app_user_writes_in_the_history_are_shown_not_obeyed() {
    let t = setup();
    deploy_each(&t, &["master"]);
    let history = base_path(&t.s, PRODUCTION).join(".wptdeploy/history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    let mut records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hostile = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31mfake";
    for field in ["ref", "by", "command"] {
        records.last_mut().unwrap()[field] = hostile.into();
    }
    let lines: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    std::fs::write(&history, lines.join("\n") + "\n").unwrap();
    for command in ["history", "status", "releases"] {
        for output in [&[][..], &["--output", "json"][..]] {
            let mut args = vec![command, "prod"];
            args.extend_from_slice(output);
            let run = t.run(&args).success();
            for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                assert!(
                    !text
                        .chars()
                        .any(|c| c.is_control() && c != '\n' && c != '\t'),
                    "`{command}` {output:?} {name} has a raw control character: {text:?}"
                );
            }
            if command == "history" {
                assert!(run.stdout.contains("owned"), "{}", run.stdout);
            }
        }
    }
}

/// A step's environment (`app_env`) reaches the command on the host, run
/// as www-data through sudo, and no process on the host (where any user can read `/proc/*/cmdline`)
/// ever has it in its command line.
#[test]
fn the_environment_of_a_step_is_never_in_a_command_line_on_the_host() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let t = setup();
    deploy_each(&t, &["master"]);
    let secret = "EnvSecret-5f1a9";
    // Through a file: wptdeploy's own command line holds only its name.
    let vars = t.s.dir.join("app-env.yml");
    std::fs::write(&vars, format!("app_env:\n  APP_TOKEN: {secret}\n")).unwrap();
    let vars = format!("@{}", vars.display());
    let done = AtomicBool::new(false);
    let seen = std::sync::Mutex::new(Vec::new());
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                    let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                    if text.contains(secret) {
                        seen.lock().unwrap().push(text);
                    }
                }
            }
        });
        let run = t
            .run(&[
                "exec",
                "prod",
                "-e",
                &vars,
                "--",
                "sh",
                "-c",
                "test \"${#APP_TOKEN}\" = 15 && sleep 1 && echo has-the-token",
            ])
            .success();
        done.store(true, Ordering::Relaxed);
        run
    });
    assert!(run.stdout.contains("has-the-token"), "{}", run.stdout);
    let seen = seen.into_inner().unwrap();
    assert!(seen.is_empty(), "in a command line: {seen:?}");
}
