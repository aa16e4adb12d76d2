//! `backup:` a database backup that fails closed before a migration.

use std::collections::BTreeMap;

use minijinja::Value;

use super::{Outcome, StepFailure, markers};
use crate::transport::{Output, quote};

/// The script: dump to a partial file, check it is non-empty and that
/// pg_restore reads it, then make it 0600 and give it its name.
pub fn script(dump: &str, restore: &str, database: &str, dir: &str, release: &str) -> String {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!("{database}-{release}-{stamp}.dump");
    format!(
        "set -e\numask 077\ndir={} file={}\nmkdir -p -- \"$dir\"\npart=\"$file.partial\"\n\
         fail() {{ rm -f -- \"$part\"; echo \"wptdeploy: $1; no backup, so no migration\" >&2; exit 3; }}\n\
         {dump} -Fc -d {} > \"$part\" || fail 'pg_dump failed'\n\
         [ -s \"$part\" ] || fail 'pg_dump wrote an empty file'\n\
         {restore} --list < \"$part\" > /dev/null || fail 'pg_restore cannot read the backup back'\n\
         chmod 600 -- \"$part\"\nmv -- \"$part\" \"$file\"\n\
         printf 'wptdeploy.backup=%s\\nwptdeploy.size=%s\\n' \"$file\" \"$(wc -c < \"$file\")\"\n",
        quote(dir),
        quote(&format!("{}/{name}", dir.trim_end_matches('/'))),
        quote(database),
    )
}

/// Reads the backup's path and size; says how to restore it.
pub fn outcome(output: &Output, restore: &str, database: &str) -> Result<Outcome, StepFailure> {
    let marks = markers(&output.stdout);
    let Some(file) = marks.get("backup") else {
        return Err(StepFailure {
            message: "the backup step did not report its file".into(),
            hints: vec![],
        });
    };
    let size = marks.get("size").map_or("?", |s| s.trim());
    let register = BTreeMap::from([("file", file.clone())]);
    Ok(Outcome {
        changed: true,
        register: Some(Value::from_serialize(&register)),
        note: Some(format!(
            "{file} ({size} bytes, mode 0600); to restore: {restore} --clean --if-exists -d {} < {}",
            quote(database),
            quote(file)
        )),
        ..Outcome::default()
    })
}
