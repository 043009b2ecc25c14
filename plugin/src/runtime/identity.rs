//! Which version of a model's files is loaded. A model re-exported in place keeps its path, so
//! loaded models and sessions are keyed by the files' identity (size, modification time, inode)
//! and reloaded when any of them changes, instead of serving the old graph forever.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// One file as it is on disk now; a file rewritten or replaced differs in at least one field
/// (a copy with the old size lands with a new mtime, a rename keeps the mtime but not the inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub len: u64,
    /// Nanoseconds since the Unix epoch (0 where the file system keeps no time).
    pub modified_ns: u64,
    /// (device, inode) on Unix; zeros elsewhere.
    pub inode: (u64, u64),
}

impl FileStamp {
    /// The stamp of `path` (following symlinks), `None` when it cannot be read.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t: SystemTime| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let inode = (0, 0);
        Some(FileStamp { len: meta.len(), modified_ns, inode })
    }
}

/// The identity of a set of files: each path with its stamp (`None`: missing or unreadable).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FilesIdentity(Vec<(PathBuf, Option<FileStamp>)>);

impl FilesIdentity {
    /// Stamps `files` now, in the given order.
    pub fn of<P: AsRef<Path>>(files: &[P]) -> FilesIdentity {
        FilesIdentity(files.iter().map(|p| (p.as_ref().to_path_buf(), FileStamp::of(p.as_ref()))).collect())
    }

    /// Whether every file still has the stamp it had.
    pub fn is_current(&self) -> bool {
        self.0.iter().all(|(path, stamp)| FileStamp::of(path) == *stamp)
    }

    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.0.iter().map(|(p, _)| p.as_path())
    }

    /// A hash of the file names, sizes and modification times, the same in every process and on
    /// every machine that sees the same files (no inode or device: render nodes sharing a cache
    /// folder mount the model folder with their own device numbers). For cache keys that must
    /// change when a model is re-exported.
    pub fn portable_hash(&self) -> u64 {
        let mut bytes = Vec::new();
        for (path, stamp) in &self.0 {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            bytes.extend_from_slice(&(name.len() as u64).to_le_bytes());
            bytes.extend_from_slice(name.as_bytes());
            let (len, modified) = stamp.map_or((u64::MAX, u64::MAX), |s| (s.len, s.modified_ns));
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(&modified.to_le_bytes());
        }
        xxhash_rust::xxh3::xxh3_64(&bytes)
    }
}

/// A loaded model and the identity of the files it was loaded from.
type Loaded<T> = (FilesIdentity, Arc<T>);

/// Loaded models (parsed manifest, tokenizer…) by folder, each kept while the files it was made
/// from are unchanged. Loading is single-flight: one lock covers lookup and load, which only
/// reads small files (sessions are created later, and cached by [`super::session`]).
pub struct ModelCache<T> {
    entries: Mutex<Option<HashMap<PathBuf, Loaded<T>>>>,
    loads: AtomicU64,
}

impl<T> Default for ModelCache<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> ModelCache<T> {
    pub const fn new() -> Self {
        ModelCache { entries: Mutex::new(None), loads: AtomicU64::new(0) }
    }

    /// The model in `root`, loaded again when any file it was loaded from changed. `files` lists
    /// those files (read afresh at each load: a new manifest may name new files); they are
    /// stamped before `load` runs (and `load` is given the stamps, for keys of what the model
    /// makes), so a file that changes while it loads is reloaded next time.
    pub fn get_or_load<E>(
        &self,
        root: &Path,
        files: impl FnOnce() -> Vec<PathBuf>,
        load: impl FnOnce(&FilesIdentity) -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        let mut entries = self.entries.lock();
        let map = entries.get_or_insert_with(HashMap::new);
        if let Some((identity, loaded)) = map.get(root) {
            if identity.is_current() {
                return Ok(loaded.clone());
            }
        }
        // A stale entry goes first, so a model that no longer loads is not served either.
        map.remove(root);
        let identity = FilesIdentity::of(&files());
        let loaded = Arc::new(load(&identity)?);
        self.loads.fetch_add(1, Ordering::Relaxed);
        map.insert(root.to_path_buf(), (identity, loaded.clone()));
        Ok(loaded)
    }

    /// Forgets every loaded model (OFX PurgeCaches); renders holding one keep it until they end.
    pub fn purge(&self) {
        *self.entries.lock() = None;
    }

    /// Models held now.
    pub fn len(&self) -> usize {
        self.entries.lock().as_ref().map_or(0, HashMap::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads done since the process started (a reload after a change counts again).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets a file's mtime explicitly: two writes within the file system's time granularity must
    /// still differ, and the test must not sleep.
    fn set_mtime(path: &Path, secs: u64) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(secs)).unwrap();
    }

    #[test]
    fn a_changed_file_reloads_the_model_and_purge_empties_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (manifest, graph) = (dir.path().join("manifest.json"), dir.path().join("g.onnx"));
        std::fs::write(&manifest, "{}").unwrap();
        std::fs::write(&graph, "one").unwrap();
        set_mtime(&graph, 1_000);
        let cache: ModelCache<String> = ModelCache::new();
        let files = || vec![manifest.clone(), graph.clone()];
        let load = |_: &FilesIdentity| Ok::<_, ()>(std::fs::read_to_string(&graph).unwrap());
        let first = cache.get_or_load(dir.path(), files, load).unwrap();
        assert_eq!(*first, "one");
        let again = cache.get_or_load(dir.path(), files, |_| -> Result<String, ()> { panic!("no reload") }).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "unchanged files: the same loaded model");

        // Rewritten in place, same size; only the mtime tells.
        std::fs::write(&graph, "two").unwrap();
        set_mtime(&graph, 2_000);
        assert_eq!(*cache.get_or_load(dir.path(), files, load).unwrap(), "two");
        // Touched only (same bytes): a new identity too.
        set_mtime(&graph, 3_000);
        let touched = cache.get_or_load(dir.path(), files, load).unwrap();
        assert_eq!((cache.loads(), cache.len()), (3, 1));

        // A failed reload leaves nothing stale behind.
        set_mtime(&graph, 4_000);
        assert!(cache.get_or_load(dir.path(), files, |_| Err(())).is_err());
        assert!(cache.is_empty());
        let reloaded = cache.get_or_load(dir.path(), files, load).unwrap();
        assert!(!Arc::ptr_eq(&touched, &reloaded));

        cache.purge();
        assert!(cache.is_empty());
        assert_eq!(*reloaded, "two", "a purged model stays usable by whoever holds it");
    }

    #[test]
    fn the_portable_hash_follows_size_and_time_but_not_the_folder() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [&a, &b] {
            std::fs::write(dir.path().join("m.onnx"), "graph").unwrap();
            set_mtime(&dir.path().join("m.onnx"), 5_000);
        }
        let id = |dir: &tempfile::TempDir| FilesIdentity::of(&[dir.path().join("m.onnx")]);
        assert_eq!(id(&a).portable_hash(), id(&b).portable_hash(), "same files in another folder");
        assert_ne!(id(&a), id(&b), "but not the same files");
        set_mtime(&b.path().join("m.onnx"), 5_001);
        assert_ne!(id(&a).portable_hash(), id(&b).portable_hash());
        let before = id(&b);
        assert!(before.is_current());
        std::fs::remove_file(b.path().join("m.onnx")).unwrap();
        assert!(!before.is_current(), "a removed file is a change");
        assert_eq!(id(&b).0[0].1, None, "a missing file is stamped as missing");
    }
}
