//! Shared paths (docs/releases.md, "Shared paths"): directories and files
//! that outlive a release live once in `base_path/shared` and are linked
//! into each release before the switch; a release's own copy is never
//! silently lost; rollback and prune leave them alone.

use crate::support::sandbox_with_migrated_database;

#[test]
fn shared_paths_outlive_releases_and_a_release_s_own_copy_is_never_lost() {
    // A database, so that `rollback` can say what it needs.
    let (s, _pg) = sandbox_with_migrated_database(&[
        ("shared_paths", "[instance, logs]"),
        ("shared_files", "[.env]"),
    ]);
    let shared = s.base_path.join("shared");
    s.branch_with("with-instance", "instance/config.py", "X = 1\n");

    // A shared file that does not exist, and no copy in the release to
    // start it: refused before the switch, naming the file.
    s.wptdeploy(&["staging", "--commit", "with-instance"])
        .failure(1)
        .stderr_has(&format!(
            "the shared file {}/.env does not exist, and the release has none to start it: create it (as the app's user), then deploy again",
            shared.display()
        ));
    assert_eq!(s.live_release(), None);

    // Created: the first release starts the shared `instance/` from its own.
    std::fs::write(shared.join(".env"), "SECRET_KEY=from-the-server\n").unwrap();
    s.wptdeploy(&["staging", "--commit", "with-instance"])
        .success()
        .stderr_has(
            "linked instance, logs, .env; started the shared instance from the release's own",
        );
    let site = s.base_path.join("site");
    assert_eq!(
        std::fs::read_link(site.join("instance")).unwrap(),
        shared.join("instance")
    );
    assert_eq!(
        std::fs::read_to_string(shared.join("instance/config.py")).unwrap(),
        "X = 1\n"
    );
    std::fs::write(site.join("logs/app.log"), "written by the first release\n").unwrap();

    // The next release sees what the first wrote, and the same .env.
    s.wptdeploy(&["staging", "--commit", "master"]).success();
    assert_eq!(s.live_release(), Some(s.sha("master")));
    assert_eq!(
        std::fs::read_to_string(site.join("logs/app.log")).unwrap(),
        "written by the first release\n"
    );
    assert_eq!(
        std::fs::read_to_string(site.join(".env")).unwrap(),
        "SECRET_KEY=from-the-server\n"
    );

    // A release with its own copy of a path shared already: moved aside
    // in the release, said; the shared one is used.
    let own = s.branch_with("own-instance", "instance/config.py", "X = 2\n");
    s.wptdeploy(&["staging", "--commit", "own-instance"])
        .success()
        .stderr_has("the release's own instance moved to .wptdeploy-shared-copies/ in the release: the shared ones are used");
    assert_eq!(
        std::fs::read_to_string(site.join("instance/config.py")).unwrap(),
        "X = 1\n"
    );
    assert_eq!(
        std::fs::read_to_string(
            s.base_path
                .join(&own)
                .join(".wptdeploy-shared-copies/instance/config.py")
        )
        .unwrap(),
        "X = 2\n"
    );

    // A rollback keeps them.
    s.wptdeploy(&["rollback", "staging"]).success();
    assert_eq!(s.live_release(), Some(s.sha("master")));
    assert_eq!(
        std::fs::read_to_string(site.join("logs/app.log")).unwrap(),
        "written by the first release\n"
    );

    // Pruning never touches them, nor does `releases` list them.
    for name in ["third", "fourth", "fifth", "sixth"] {
        s.new_branch(name);
        s.wptdeploy(&["staging", "--commit", name]).success();
    }
    assert!(!s.base_path.join(s.sha("with-instance")).exists(), "pruned");
    assert_eq!(
        std::fs::read_to_string(shared.join("logs/app.log")).unwrap(),
        "written by the first release\n"
    );
    assert_eq!(
        std::fs::read_to_string(shared.join("instance/config.py")).unwrap(),
        "X = 1\n"
    );
    let releases = s.wptdeploy(&["releases", "staging"]).success();
    assert!(!releases.stdout.contains("shared"), "{}", releases.stdout);
}
