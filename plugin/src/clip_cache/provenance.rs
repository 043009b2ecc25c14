//! What made a generated shot, kept beside its disk entry as `<key>.provenance.json`.
//!
//! The `kinema` CLI embeds a signed C2PA manifest in the frames it writes; a host (Resolve, Nuke)
//! writes its own files, so for its renders the same facts are left next to the cached shot:
//! the action and IPTC digital source type C2PA uses, the model and its files' identity, the
//! seed, a hash of the prompt (never its text: the cache folder may be shared), the shot key,
//! the Kinema version and the time. The last record served is also in the runtime report, which
//! is where the CLI reads it from. Writing is best effort: a failure is counted as a disk error
//! and never fails a render.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use super::{ClipCache, ClipKey};

/// The C2PA action for content made from nothing but the settings.
pub const ACTION_CREATED: &str = "c2pa.created";
/// IPTC's digital source type for media made by a trained model.
pub const TRAINED_ALGORITHMIC_MEDIA: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
/// The file name after the key.
pub const SUFFIX: &str = ".provenance.json";

/// One shot's provenance, as written to disk and reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceRecord {
    pub action: String,
    pub digital_source_type: String,
    /// The model's name (its folder name or the bundle's name for it).
    pub model: String,
    /// The model files' identity (names, sizes, times; the shot key's `model_files`) as hex.
    pub model_hash: String,
    /// The model id the frames' watermark carries (the same for every copy of the model), as
    /// hex: ties this record to what a watermark detector reads from a frame.
    #[serde(default)]
    pub model_id: String,
    pub seed: u64,
    /// xxh3-128 of the prompt and negative prompt, so equal prompts can be matched without
    /// keeping what was asked for.
    pub prompt_hash: String,
    pub shot_key: String,
    pub kinema_version: String,
    /// When the record was made, UTC, RFC 3339.
    pub time: String,
}

impl ProvenanceRecord {
    /// A record made now for a shot of `model` (a name, or a folder path: then only its last
    /// component is kept, so no local path leaves the machine in a manifest) with files stamp
    /// `model_files`.
    pub fn new(model: &str, model_files: u64, seed: u64, prompt: &str, negative: &str, key: ClipKey) -> Self {
        // Length-prefixed, so no prompt/negative split hashes like another.
        let mut text = (prompt.len() as u64).to_le_bytes().to_vec();
        text.extend_from_slice(prompt.as_bytes());
        text.extend_from_slice(negative.as_bytes());
        ProvenanceRecord {
            action: ACTION_CREATED.into(),
            digital_source_type: TRAINED_ALGORITHMIC_MEDIA.into(),
            model: std::path::Path::new(model)
                .file_name()
                .map_or_else(|| model.to_string(), |n| n.to_string_lossy().into_owned()),
            model_hash: format!("{model_files:016x}"),
            model_id: String::new(),
            seed,
            prompt_hash: format!("xxh3-128:{:032x}", xxh3_128(&text)),
            shot_key: key.hex(),
            kinema_version: env!("CARGO_PKG_VERSION").into(),
            time: rfc3339(SystemTime::now()),
        }
    }

    /// With the watermark's model id (`VideoModel::provenance_id`).
    pub fn with_model_id(mut self, id: u32) -> Self {
        self.model_id = format!("{id:08x}");
        self
    }
}

static LAST: Mutex<Option<ProvenanceRecord>> = Mutex::new(None);

/// Remembers the record of the shot served last (for the runtime report).
pub fn remember_provenance(record: ProvenanceRecord) {
    *LAST.lock() = Some(record);
}

/// The record of the shot served last in this process, if any.
pub fn last_provenance() -> Option<ProvenanceRecord> {
    LAST.lock().clone()
}

impl ClipCache {
    /// Where the record of `key` goes; `None` without a disk cache.
    pub fn provenance_path(&self, key: ClipKey) -> Option<PathBuf> {
        self.disk.as_ref().map(|d| d.dir().join(format!("{key}{SUFFIX}")))
    }

    /// Writes `<key>.provenance.json` beside the disk entry (temp file + rename). Without a disk
    /// cache nothing is written; a failure is counted as a disk error and returned, for the
    /// caller to ignore: provenance never fails a render.
    pub fn record_provenance(&self, key: ClipKey, record: &ProvenanceRecord) -> io::Result<()> {
        let Some(path) = self.provenance_path(key) else { return Ok(()) };
        let written = write_atomically(&path, key, record);
        if let Err(e) = &written {
            self.disk_error(format!("provenance record {}: {e}", path.display()));
        }
        written
    }
}

fn write_atomically(path: &std::path::Path, key: ClipKey, record: &ProvenanceRecord) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("no folder"))?;
    fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // A dot name ending in .tmp: the disk cache's sweep removes it if this process dies here.
    let temp =
        dir.join(format!(".{key}.provenance.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)
        .and_then(|mut f| f.write_all(&json))
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// `t` as `YYYY-MM-DDThh:mm:ssZ` (no date crate for one timestamp).
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest / 60 % 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clip_cache::DiskCache;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661)), "2000-02-29T01:01:01Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_796_083_199)), "2026-11-30T23:59:59Z");
    }

    #[test]
    fn the_record_is_written_beside_the_disk_entry_without_the_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let key = ClipKey::from_u128(0xabc);
        let record = ProvenanceRecord::new("Kinema-tiny", 0x1234, 7, "a secret red circle", "", key);
        let cache = ClipCache::new(1 << 20, Some(DiskCache::new(dir.path(), 1 << 20)));
        cache.record_provenance(key, &record).unwrap();
        let path = dir.path().join(format!("{key}.provenance.json"));
        assert_eq!(cache.provenance_path(key).as_deref(), Some(path.as_path()));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("secret"), "the prompt text is not kept: {text}");
        let read: ProvenanceRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(read, record);
        assert_eq!(
            (read.action.as_str(), read.seed, read.model_hash.as_str()),
            ("c2pa.created", 7, "0000000000001234")
        );
        assert_eq!(read.digital_source_type, TRAINED_ALGORITHMIC_MEDIA);
        assert_eq!(read.shot_key, key.hex());
        assert_eq!(record.clone().with_model_id(0xbeef).model_id, "0000beef");
        assert_eq!(ProvenanceRecord::new("/home/me/models/ltx/", 0, 0, "", "", key).model, "ltx", "no local path");
        // Prompt and negative are told apart; equal prompts hash alike.
        let moved = ProvenanceRecord::new("m", 0, 7, "a secret red", " circle", key);
        assert_ne!(moved.prompt_hash, record.prompt_hash);
        assert_eq!(ProvenanceRecord::new("m", 0, 1, "a secret red circle", "", key).prompt_hash, record.prompt_hash);
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, [format!("{key}.provenance.json")], "no temporary file is left");
    }

    #[test]
    fn a_failed_write_is_a_disk_error_not_a_panic_and_no_disk_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The cache "folder" is a file: nothing can be written under it.
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        let cache = ClipCache::new(1 << 20, Some(DiskCache::new(&file, 1 << 20)));
        let key = ClipKey::from_u128(1);
        let record = ProvenanceRecord::new("m", 0, 0, "p", "", key);
        assert!(cache.record_provenance(key, &record).is_err());
        let stats = cache.stats();
        assert_eq!(stats.disk_errors, 1);
        assert!(stats.last_disk_error.unwrap().contains("provenance record"));
        let memory_only = ClipCache::new(1 << 20, None);
        assert!(memory_only.record_provenance(key, &record).is_ok());
        assert_eq!(memory_only.provenance_path(key), None);
    }
}
