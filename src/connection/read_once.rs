//! Controller files every connection needs (known_hosts, private keys), read and decoded once
//! per process rather than once per host, and read again when they change.
//!
//! Owns: the cache keyed by path, and what "changed" means — another size or modification
//! time than when the file was read (so a known_hosts file olympus appends to, or a key a user
//! replaces during a long `heal --watch`, is read afresh). Must not: know what the files hold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// A file's size and modification time when it was read.
type Stamp = (u64, Option<SystemTime>);

pub(crate) struct ReadOnce<T> {
    files: Mutex<HashMap<PathBuf, (Stamp, Arc<T>)>>,
}

impl<T> Default for ReadOnce<T> {
    fn default() -> Self {
        ReadOnce {
            files: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> ReadOnce<T> {
    /// What `read` made of `path`, from the cache while the file is unchanged. Reads are
    /// serialised, so hosts connecting at once read a file once; failures are not cached.
    pub(crate) fn get<E: From<std::io::Error>>(
        &self,
        path: &Path,
        read: impl FnOnce(&Path) -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        let meta = std::fs::metadata(path)?;
        let stamp = (meta.len(), meta.modified().ok());
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, value)) = files.get(path)
            && *seen == stamp
        {
            return Ok(value.clone());
        }
        let value = Arc::new(read(path)?);
        files.insert(path.to_path_buf(), (stamp, value.clone()));
        Ok(value)
    }
}
