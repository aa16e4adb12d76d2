//! The checks every run makes before any host is contacted: the plan
//! loads (inventory, playbook, every host's variables), a one-host command
//! has one host, `--start-at` names a step, the cut-over's settings are
//! whole, a branch or tag exists in the repository, and a run that asks
//! has a terminal, production its name typed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Asking, Session};
use crate::commands::Context;
use crate::error::{CommandError, Error};
use crate::gitref::{self, Lookup};
use crate::inventory;
use crate::plan::{self, Plan};
use crate::playbook::{Playbook, PlaybookDirs};
use crate::template::Templates;
use crate::transport::quote;

/// A `git_repo` that names no repository yet (empty, or still a template).
fn repo_is_unset(repo: &str) -> bool {
    repo.trim().is_empty() || repo.contains("{{")
}

impl Session {
    /// The inventory and playbook, every host's variables resolved.
    pub(super) fn load_plan(
        &self,
        cx: &Context<'_>,
        templates: &Templates,
    ) -> Result<(Plan, Vec<String>), Error> {
        let settings = cx.settings;
        let mut inventory =
            inventory::load(&self.env, settings.inventory.as_deref(), &settings.vault)?;
        if let Some(pattern) = self.limit.as_ref().or(settings.limit.as_ref()) {
            inventory = inventory.limit(pattern)?;
        }
        let mut playbook = Playbook::load(
            &PlaybookDirs::new(settings.playbooks.as_deref())
                .with_ansible_tree(inventory.ansible_dir.as_deref()),
            &self.playbook,
            templates,
        )?;
        if let Some(reshape) = self.reshape {
            playbook.steps = reshape(&playbook)?;
        }
        let typos = crate::typos::check(&inventory, &self.extra, &playbook, templates)
            .map_err(CommandError::UnknownConnectionVariable)?;
        let plan = plan::build(
            &inventory,
            playbook,
            &self.extra,
            &settings.connect,
            templates,
        )?;
        let mut warnings = inventory.warnings;
        warnings.extend(typos);
        Ok((plan, warnings))
    }

    /// A one-host command refuses an environment of several.
    pub(super) fn check_hosts(&self, plan: &Plan) -> Result<(), Error> {
        if !self.one_host || plan.hosts.len() == 1 {
            return Ok(());
        }
        Err(CommandError::NotOneHost {
            command: self.name,
            env: plan.env.clone(),
            hosts: plan.hosts.iter().map(|h| h.name.clone()).collect(),
        }
        .into())
    }

    /// A deploy's ref, if it is a branch or tag name and the playbook
    /// checks it out, is asked of its repository from here (`git
    /// ls-remote`) before any host is touched:
    /// one the repository lacks is an input error naming the close ones. A
    /// repository this machine cannot read is left to the hosts. Returns
    /// the commit each ref names now, where the repository said.
    pub(super) async fn check_refs(
        &self,
        plan: &Plan,
        templates: &Templates,
    ) -> Result<BTreeMap<String, String>, Error> {
        let mut resolved = BTreeMap::new();
        // A playbook that checks nothing out (ten `run:` steps) asks
        // nothing of the repository.
        let checks_out = plan.playbook.steps.iter().any(|step| {
            step.action.key() == <crate::steps::CheckoutKind as crate::steps::StepKind>::KEY
        });
        if !self.checks_ref || !checks_out {
            return Ok(resolved);
        }
        let mut asked: Vec<(String, String)> = Vec::new();
        for host in &plan.hosts {
            let scope = host.scope(templates, std::collections::BTreeMap::new());
            let Ok(repo) = templates.render("{{ git_repo }}", &scope) else {
                continue;
            };
            let pair = (repo, host.commit.clone());
            if repo_is_unset(&pair.0) || asked.contains(&pair) {
                continue;
            }
            match gitref::lookup(&pair.0, &pair.1, Duration::from_secs(10)).await {
                Lookup::Missing { close } => {
                    return Err(CommandError::UnknownRef {
                        reference: pair.1,
                        repo: pair.0,
                        close,
                    }
                    .into());
                }
                Lookup::Found(Some(sha)) => {
                    resolved.insert(pair.1.clone(), sha);
                }
                Lookup::Found(None) | Lookup::Unknown => {}
            }
            asked.push(pair);
        }
        Ok(resolved)
    }

    /// Asking needs a terminal; production needs its name typed (or
    /// `--yes`), after it is told what will change.
    pub(super) fn check_attended(
        &self,
        plan: &Plan,
        cx: &Context<'_>,
        templates: &Templates,
        resolved: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let attended = cx.settings.attended;
        let asker = match self.asking {
            Asking::EachStep => Some("`--step`"),
            Asking::Checklist => Some("the checklist"),
            Asking::Never | Asking::Confirm => None,
        };
        if let Some(asker) = asker.filter(|_| !attended) {
            let hint = if self.asking == Asking::Checklist {
                format!(
                    "`wptdeploy migration new {} --commit BRANCH -m MESSAGE` runs its steps without asking",
                    quote(&self.env)
                )
            } else {
                "drop `--step` to run without asking".into()
            };
            return Err(CommandError::NoTerminalToAsk {
                asker,
                instead: hint,
            }
            .into());
        }
        if self.changes && !self.check && plan.env == "production" && !cx.settings.yes {
            if !attended {
                return Err(CommandError::ProductionUnconfirmed.into());
            }
            let said = self.what_changes(plan, templates, resolved);
            if !crate::report::confirm_environment(&plan.env, &said) {
                return Err(CommandError::NotConfirmed(plan.env.clone()).into());
            }
        }
        Ok(())
    }

    /// What a run that changes production will do, said before its name
    /// is asked for: the commit, the hosts, and what happens to the database.
    pub(super) fn what_changes(
        &self,
        plan: &Plan,
        templates: &Templates,
        resolved: &BTreeMap<String, String>,
    ) -> Vec<String> {
        let hosts: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
        let title = match resolved.get(&plan.commit) {
            Some(sha) if !sha.starts_with(&plan.commit) => self.title(plan).replacen(
                &plan.commit,
                &format!("{} ({})", plan.commit, &sha[..12.min(sha.len())]),
                1,
            ),
            _ => self.title(plan),
        };
        let mut said = vec![format!(
            "{title}: {} host{} ({})",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            hosts.join(", ")
        )];
        let Some(host) = plan.hosts.first() else {
            return said;
        };
        let scope = host.scope(templates, BTreeMap::new());
        let value = |expression: &str| templates.render(expression, &scope).unwrap_or_default();
        let yes = |expression: &str| templates.condition(expression, &scope).unwrap_or(false);
        if self.rolls_back {
            let restore = value("{{ rollback_restore }}");
            let downgrade = value("{{ rollback_downgrade_to }}");
            said.push(if !restore.is_empty() {
                format!("database: {restore} restored into it before the switch (what was written since is lost)")
            } else if !downgrade.is_empty() {
                format!("database: downgraded to {downgrade} with the live release's migrations before the switch")
            } else {
                "database: unchanged".to_owned()
            });
            return said;
        }
        said.push(if yes("migrate | bool") {
            let backup = if yes("backup_before_migrate | bool") {
                format!("after a backup of {} to {}", value("{{ db_name }}"), value("{{ backup_dir }}"))
            } else {
                "with no backup first (`backup_before_migrate` is false)".to_owned()
            };
            format!("database: its pending migrations run before the switch, {backup}")
        } else if yes("check_pending_migrations | bool") {
            "database: not migrated; a release whose migrations are pending stops before the switch".to_owned()
        } else {
            "database: not migrated, and the release goes live even if its migrations are pending (`--no-migrate`, or `check_pending_migrations: false`)".to_owned()
        });
        said
    }
}

/// The 0-based index of `--start-at`'s step: a number, or the start of a name.
pub(super) fn find_step(plan: &Plan, wanted: &str) -> Result<usize, Error> {
    let steps = &plan.playbook.steps;
    let found = match wanted.parse::<usize>() {
        Ok(number) if (1..=steps.len()).contains(&number) => Some(number - 1),
        _ => {
            let wanted = wanted.to_lowercase();
            steps
                .iter()
                .position(|s| s.name.0.to_lowercase().starts_with(&wanted))
        }
    };
    found.ok_or_else(|| {
        let names = steps.iter().map(|s| s.name.0.as_str());
        CommandError::NoSuchStep {
            wanted: wanted.to_owned(),
            playbook: plan.playbook.origin.clone(),
            suggestion: crate::suggest::did_you_mean(wanted, names),
        }
        .into()
    })
}

/// The cut-over's settings, checked for every host before any is
/// contacted: an `app_server` there is no such server as, or one without
/// the variable it needs, would otherwise be found only after the switch.
pub(super) fn check_cutover(plan: &Plan, templates: &Templates) -> Result<(), Error> {
    use crate::steps::kind::Typed;
    use crate::steps::reload::Reload;
    let reloads: Vec<&crate::steps::reload::ReloadArgs> = plan
        .playbook
        .steps
        .iter()
        .filter_map(|step| step.action.as_any().downcast_ref::<Typed<Reload>>())
        .map(|typed| &typed.args)
        .collect();
    for host in &plan.hosts {
        let scope = host.scope(templates, BTreeMap::new());
        for args in &reloads {
            args.check_settings(|t| templates.render(&t.0, &scope))
                .map_err(|message| CommandError::CutoverSetting {
                    host: host.name.clone(),
                    message,
                })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(playbook: &str) -> Plan {
        Plan {
            env: "staging".into(),
            commit: "main".into(),
            hosts: Vec::new(),
            playbook: Playbook::load(&PlaybookDirs::built_in(), playbook, &Templates::new())
                .unwrap(),
            secrets: Vec::new(),
        }
    }

    #[test]
    fn start_at_is_a_step_number_or_the_start_of_its_name() {
        let plan = plan_of("deploy.yml");
        assert_eq!(find_step(&plan, "1").unwrap(), 0);
        let lock = plan
            .playbook
            .steps
            .iter()
            .position(|s| s.name.0 == "take the deploy lock")
            .unwrap();
        assert_eq!(find_step(&plan, "Take the deploy").unwrap(), lock);
        let error = find_step(&plan, "tkae the lock").unwrap_err();
        assert!(error.to_string().contains("tkae the lock"), "{error}");
        assert!(find_step(&plan, "0").is_err(), "steps count from 1");
    }

    #[test]
    fn a_repository_not_set_yet_is_left_alone() {
        assert!(repo_is_unset(""));
        assert!(repo_is_unset("{{ git_repo }}"));
        assert!(!repo_is_unset("https://github.com/w3c/wptdash.git"));
    }

    #[test]
    fn a_one_host_command_refuses_an_environment_without_exactly_one() {
        let one = Session {
            name: "shell",
            one_host: true,
            ..Session::default()
        };
        let none = plan_of("verify.yml");
        let error = one.check_hosts(&none).unwrap_err();
        assert!(error.to_string().contains("shell"), "{error}");
        let any = Session::default();
        assert!(any.check_hosts(&none).is_ok());
    }
}
