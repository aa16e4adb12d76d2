//! Deploying a git ref as a release, end to end.

use crate::support::sandbox;

#[test]
fn first_deploy_builds_the_release_and_switches_to_it() {
    let s = sandbox();
    let run = s.wptdeploy(&["staging", "--commit", "master"]).success();
    let sha = s.sha("master");
    assert_eq!(
        s.live_release().as_deref(),
        Some(sha.as_str()),
        "{}",
        run.stderr
    );
    let build = std::fs::read_to_string(s.base_path.join("site/wptdash/static/build.txt")).unwrap();
    assert!(build.contains(&sha) && build.contains("staging"), "{build}");
}
