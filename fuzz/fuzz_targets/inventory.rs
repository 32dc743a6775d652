//! Any bytes as an INI or a YAML inventory: parse, select, merge variables; never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use olympus::inventory::Inventory;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, text)) = data.split_first() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir
        .path()
        .join(if kind % 2 == 0 { "inv.ini" } else { "inv.yml" });
    if std::fs::write(&path, text).is_err() {
        return;
    }
    if let Ok(inv) = Inventory::load(&[path.to_string_lossy()]) {
        let _ = inv.select("all:!web:&db", None);
        let names: Vec<String> = inv.hosts().map(|h| h.name.clone()).collect();
        for h in names {
            let _ = inv.host_vars(&h);
        }
    }
});
