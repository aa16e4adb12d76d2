//! Where playbook and template files come from, first match wins:
//! `--playbooks DIR`, then the project's `./playbooks`, then (for
//! templates) the Ansible tree's roles, then the files built into the
//! binary (the project's own `playbooks/`).

use std::path::{Path, PathBuf};

/// The project's `playbooks/` directory, built into the binary: every
/// file in it is a built-in playbook or template, found by its path
/// relative to `playbooks/` (a new file needs no list to be added to).
static BUILT_IN: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/playbooks");

/// The names of the built-in files (`deploy.yml`, `templates/config.txt.j2`, ...).
pub fn built_in_names() -> Vec<String> {
    fn walk(dir: &include_dir::Dir<'_>, names: &mut Vec<String>) {
        for file in dir.files() {
            names.push(file.path().display().to_string());
        }
        for inner in dir.dirs() {
            walk(inner, names);
        }
    }
    let mut names = Vec::new();
    walk(&BUILT_IN, &mut names);
    names.sort();
    names
}

/// A playbook or template file that could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No such file anywhere it is looked for.
    #[error("playbook file `{name}` not found (looked in {looked})")]
    NotFound {
        /// The relative name.
        name: String,
        /// Where we looked.
        looked: String,
    },
    /// A file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where playbook files are looked up, first match wins.
#[derive(Debug, Clone)]
pub struct PlaybookDirs {
    dirs: Vec<PathBuf>,
    /// The Ansible tree beside the inventory, whose roles' templates are
    /// used before the built-in ones.
    ansible: Option<PathBuf>,
}

impl PlaybookDirs {
    /// Only the built-in files.
    pub fn built_in() -> Self {
        PlaybookDirs {
            dirs: Vec::new(),
            ansible: None,
        }
    }

    /// `explicit` (from `--playbooks`), then `./playbooks`, then built-in.
    pub fn new(explicit: Option<&Path>) -> Self {
        let mut dirs = Vec::new();
        if let Some(dir) = explicit {
            dirs.push(dir.to_owned());
        }
        let local = PathBuf::from("playbooks");
        if local.is_dir() && explicit != Some(local.as_path()) {
            dirs.push(local);
        }
        PlaybookDirs {
            dirs,
            ansible: None,
        }
    }

    /// Also looks for templates in the Ansible tree `dir` (the one holding
    /// the inventory), as Ansible finds them for the role that deploys.
    pub fn with_ansible_tree(mut self, dir: Option<&Path>) -> Self {
        self.ansible = dir.map(Path::to_owned);
        self
    }

    /// A template's text and where it came from: the playbooks directories'
    /// `src`, then the Ansible tree's `roles/deploy/templates/`,
    /// `roles/*/templates/` and `templates/` (for `templates/NAME`, `NAME`),
    /// then the built-in one.
    pub fn read_template(&self, src: &str) -> Result<(String, String), SourceError> {
        if let Some(found) = self.find_in_dirs(src)? {
            return Ok(found);
        }
        if let Some(tree) = &self.ansible {
            let name = src.strip_prefix("templates/").unwrap_or(src);
            let mut roles: Vec<PathBuf> = fs_err::read_dir(tree.join("roles"))
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|e| e.path().join("templates").join(name))
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            let candidates = std::iter::once(tree.join("roles/deploy/templates").join(name))
                .chain(roles)
                .chain(std::iter::once(tree.join("templates").join(name)));
            for path in candidates {
                if path.is_file() {
                    let text = fs_err::read_to_string(&path)?;
                    return Ok((path.display().to_string(), text));
                }
            }
        }
        self.read(src)
    }

    fn find_in_dirs(&self, name: &str) -> Result<Option<(String, String)>, SourceError> {
        for dir in &self.dirs {
            let path = dir.join(name);
            if path.is_file() {
                let text = fs_err::read_to_string(&path)?;
                return Ok(Some((path.display().to_string(), text)));
            }
        }
        Ok(None)
    }

    /// The text of `name` and a label for messages (the path, or `built-in:name`).
    pub fn read(&self, name: &str) -> Result<(String, String), SourceError> {
        if let Some(found) = self.find_in_dirs(name)? {
            return Ok(found);
        }
        BUILT_IN
            .get_file(name)
            .and_then(|file| file.contents_utf8())
            .map(|text| (format!("built-in:playbooks/{name}"), text.to_owned()))
            .ok_or_else(|| SourceError::NotFound {
                name: name.to_owned(),
                looked: self
                    .dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .chain(["the built-in playbooks".to_owned()])
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}
