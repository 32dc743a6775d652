//! `group_by` and `add_host`: the run's inventory changed while it runs. Later plays select
//! their hosts from the changed inventory, and `groups`, `group_names` and `hostvars` see it
//! at once.
//!
//! Owns: applying those two modules. Must not: read inventory files.

use super::*;

impl Runner<'_> {
    /// `group_by`: the host joins the group named by its (rendered) `key`.
    pub(super) fn group_by(&self, host: &str, args: &Vars) -> Result<ModuleResult, ItemError> {
        let (group, parents) =
            modules::group_by::group(args).map_err(|e| ItemError::Failed(e.to_string()))?;
        let changed = self
            .inv_vars
            .change(|inv| inv.group_host_at_runtime(host, &group, &parents))
            .map_err(ItemError::Failed)?;
        if changed {
            self.refresh_groups();
        }
        let mut r = ModuleResult::ok();
        r.changed = changed;
        r.data.insert("add_group".into(), Value::from(group));
        r.data.insert(
            "parent_groups".into(),
            Value::Array(parents.into_iter().map(Value::from).collect()),
        );
        Ok(r)
    }

    /// `add_host`: a host (new or known) with variables, in groups.
    pub(super) fn add_host(&self, args: &Vars) -> Result<ModuleResult, ItemError> {
        let (name, groups, vars) =
            modules::group_by::add_host(args).map_err(|e| ItemError::Failed(e.to_string()))?;
        let changed = self
            .inv_vars
            .change(|inv| inv.add_host_at_runtime(&name, &groups, &vars));
        if changed {
            self.refresh_groups();
        }
        let mut r = ModuleResult::ok();
        r.changed = changed;
        r.data.insert(
            "add_host".into(),
            serde_json::json!({"host_name": name, "groups": groups, "host_vars": vars}),
        );
        Ok(r)
    }

    fn refresh_groups(&self) {
        self.templar
            .set_play_global("groups", groups_of(&self.inv_vars.inventory()));
    }
}
