//! Files on the controller that modules send to hosts (`copy` sources, directory trees,
//! `template` and `script` sources): read and hashed once per run, not once per host.
//!
//! Owns: the per-run map from path to content and SHA-1, revalidated by size and
//! modification time so a file changed during the run (by a local task) is read again.
//! Contents are shared buffers: a thousand hosts receiving the same file hold one copy.
//! Must not: know about hosts or connections.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use rayon::prelude::*;

/// File content with its SHA-1 (lowercase hex), computed once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Content {
    pub bytes: Bytes,
    pub sha1: String,
}

impl Content {
    pub fn new(bytes: impl Into<Bytes>) -> Content {
        let bytes = bytes.into();
        let sha1 = sha1_hex(&bytes);
        Content { bytes, sha1 }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

pub fn sha1_hex(data: &[u8]) -> String {
    data_encoding::HEXLOWER
        .encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref())
}

struct Entry {
    len: u64,
    modified: Option<SystemTime>,
    content: Content,
}

/// The controller files read so far in a run.
#[derive(Default)]
pub struct ControllerFiles {
    files: RwLock<HashMap<PathBuf, Arc<Entry>>>,
}

impl ControllerFiles {
    /// A file's content and checksum, read the first time it is asked for (or again when it
    /// changed since); decrypted when it is a vault.
    pub fn get(&self, path: &Path) -> std::io::Result<Content> {
        let meta = std::fs::metadata(path)?;
        let (len, modified) = (meta.len(), meta.modified().ok());
        if let Ok(map) = self.files.read()
            && let Some(e) = map.get(path)
            && e.len == len
            && e.modified == modified
        {
            return Ok(e.content.clone());
        }
        let bytes = std::fs::read(path)?;
        // A file `ansible-vault encrypt` wrote is sent decrypted, as ansible-core does.
        let bytes = if crate::vault::is_vault(&bytes) {
            crate::vault::decrypt(&String::from_utf8_lossy(&bytes))
                .map_err(std::io::Error::other)?
        } else {
            bytes
        };
        let content = Content::new(bytes);
        if let Ok(mut map) = self.files.write() {
            map.insert(
                path.to_path_buf(),
                Arc::new(Entry {
                    len,
                    modified,
                    content: content.clone(),
                }),
            );
        }
        Ok(content)
    }

    /// Several files at once, read and hashed in parallel on rayon's threads; the first
    /// error names its file.
    pub fn get_many(&self, paths: &[PathBuf]) -> Result<Vec<Content>, (PathBuf, std::io::Error)> {
        paths
            .par_iter()
            .map(|p| self.get(p).map_err(|e| (p.clone(), e)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_once_shared_and_read_again_when_changed() {
        let dir = tempfile::tempdir().expect("tmp");
        let paths: Vec<PathBuf> = (0..20)
            .map(|i| {
                let p = dir.path().join(format!("f{i}"));
                std::fs::write(&p, format!("file {i}\n")).expect("write");
                p
            })
            .collect();
        let files = ControllerFiles::default();
        let all = files.get_many(&paths).expect("read");
        assert_eq!(all.len(), 20);
        assert_eq!(all[3].bytes, Bytes::from_static(b"file 3\n"));
        assert_eq!(all[3].sha1, sha1_hex(b"file 3\n"));
        // The same buffer is handed out again: no second read, no copy.
        let again = files.get(&paths[3]).expect("read");
        assert_eq!(again.bytes.as_ptr(), all[3].bytes.as_ptr());
        // A changed file (other size) is read again.
        std::fs::write(&paths[3], "changed content\n").expect("write");
        let changed = files.get(&paths[3]).expect("read");
        assert_eq!(changed.bytes, Bytes::from_static(b"changed content\n"));
        assert_eq!(changed.sha1, sha1_hex(b"changed content\n"));
        // A missing file is an error naming it.
        let missing = dir.path().join("nope");
        let err = files
            .get_many(&[paths[0].clone(), missing.clone()])
            .expect_err("missing");
        assert_eq!(err.0, missing);
    }
}
