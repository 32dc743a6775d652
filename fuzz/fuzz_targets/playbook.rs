//! Any bytes as a playbook: load it (imports of itself included) and run the preflight
//! checks; never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("play.yml");
    if std::fs::write(&path, data).is_err()
        || std::fs::write(dir.path().join("self.yml"), data).is_err()
    {
        return;
    }
    if let Ok(pb) = olympus::playbook::load(&path) {
        let _ = olympus::engine::preflight::check(&pb);
    }
});
