//! Why an inventory could not be used.

use std::path::PathBuf;

/// A problem with inventory files or the environment asked for.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A file is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// No inventory where we looked.
    #[error("no inventory found (looked for {looked})")]
    NotFound {
        /// The places searched.
        looked: String,
    },
    /// The environment is neither a file nor a group.
    #[error("environment `{env}` is not an inventory file or group in {}", inventory.display())]
    UnknownEnvironment {
        /// What the user typed.
        env: String,
        /// Where we looked.
        inventory: PathBuf,
        /// Environments that do exist.
        known: Vec<String>,
    },
    /// A `--limit` pattern cannot be read.
    #[error("--limit `{pattern}`: {message}")]
    Limit {
        /// The pattern given.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A `--limit` pattern leaves no host.
    #[error("--limit `{pattern}` selects no host of {env}")]
    LimitMatchesNothing {
        /// The pattern given.
        pattern: String,
        /// The environment.
        env: String,
        /// The environment's hosts.
        hosts: Vec<String>,
    },
    /// A vault could not be opened.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// An `-e` argument cannot be read.
    #[error("`-e {arg}`: {message}")]
    ExtraVars {
        /// The argument.
        arg: String,
        /// What is wrong.
        message: String,
    },
    /// The environment has no hosts.
    #[error("environment `{env}` has no hosts")]
    NoHosts {
        /// What the user typed.
        env: String,
    },
}

/// serde_yaml's message without the " at line N column M" of the problem
/// itself (shown up front as `file:line:`); other locations stay.
pub fn without_location(message: &str, location: Option<serde_yaml::Location>) -> String {
    match location {
        Some(l) => {
            let mark = format!(" at line {} column {}", l.line(), l.column());
            message.replacen(&mark, "", 1)
        }
        None => message.to_owned(),
    }
}

impl InventoryError {
    /// A YAML error, located at its file and line.
    pub fn from_yaml(path: &std::path::Path, error: &serde_yaml::Error) -> Self {
        let line = error.location().map_or(1, |l| l.line());
        let message = without_location(&error.to_string(), error.location());
        InventoryError::Syntax {
            path: path.to_owned(),
            line,
            message,
        }
    }

    /// Lines telling the user what to do.
    pub fn hints(&self) -> Vec<String> {
        match self {
            InventoryError::NotFound { .. } => vec![
                "create `inventory/ENV` (an Ansible INI or YAML inventory), or pass `--inventory PATH`".into(),
            ],
            InventoryError::UnknownEnvironment { env, known, .. } if !known.is_empty() => {
                let mut hints = Vec::new();
                if let Some(near) = crate::suggest::closest(env, known.iter().map(String::as_str)) {
                    hints.push(format!("did you mean `{near}`?"));
                }
                hints.push(format!("known environments: {}", known.join(", ")));
                hints
            }
            InventoryError::LimitMatchesNothing { hosts, .. } => vec![
                format!("its hosts: {}", hosts.join(", ")),
                "a pattern is hosts, groups or globs separated by `,`; `!x` excludes, `&x` intersects".into(),
            ],
            InventoryError::Vault(e) => e.hints(),
            InventoryError::ExtraVars { .. } => vec![
                "`-e key=value` (a string; several pairs separated by spaces), `-e '{\"key\": false}'` (typed), or `-e @vars.yml`".into(),
            ],
            _ => Vec::new(),
        }
    }
}
