//! `olympus inventory` as a library call: the text `ansible-inventory` prints for the same
//! sources (`--list`, `--host`, `--graph`).
//!
//! Owns: choosing the view and its errors. Must not: print (the caller writes the text).

use super::setup::Sources;
use crate::exit::Error;
use crate::inventory::render;

/// Which view.
#[derive(Debug, Clone)]
pub enum View {
    List,
    Host(String),
    Graph { group: String, vars: bool },
}

pub struct InventoryRequest {
    pub sources: Sources,
    pub view: View,
    /// Variables where they are defined, not merged per host.
    pub export: bool,
}

/// The view's text, without a final newline.
pub fn show(req: &InventoryRequest) -> Result<String, Error> {
    let inv = req.sources.load()?;
    let vars = if req.export {
        render::VarsView::Export
    } else {
        render::VarsView::Merged
    };
    match &req.view {
        View::List => {
            let available = req
                .sources
                .limit
                .as_deref()
                .map(|l| inv.limit_names(l))
                .transpose()
                .map_err(|e| Error::BadInput(e.to_string()))?;
            Ok(render::to_python_json(&render::list(
                &inv,
                available.as_ref(),
                vars,
            )))
        }
        View::Host(host) => render::host(&inv, host, vars)
            .map(|v| render::to_python_json(&v))
            .ok_or_else(|| Error::BadInput(format!("no host named '{host}' in the inventory"))),
        View::Graph {
            group,
            vars: with_vars,
        } => match render::graph(&inv, group, *with_vars, vars) {
            Some(g) => Ok(g.trim_end().to_string()),
            None => {
                let hint =
                    crate::suggest::did_you_mean(group, inv.groups().map(|g| g.name.as_str()));
                Err(Error::BadInput(format!(
                    "no group named '{group}' in the inventory{}",
                    if hint.is_empty() {
                        String::new()
                    } else {
                        format!("; {hint}")
                    }
                )))
            }
        },
    }
}
