//! Generated clips on disk: one validated file per key, written atomically, evicted LRU.
//!
//! # File format (`<key hex>.kclip`, all little-endian)
//! ```text
//! magic "KNMCLIP\0" | version u32 | reserved u32 | key u128 | fps f64 bits | frame count u64
//! | count × (channels, height, width) u64 | all samples f32 | xxh3-64 of everything before it
//! ```
//! A file is used only if magic, version, key, shape table, exact length and checksum all agree;
//! anything else is deleted and treated as a miss (a torn write after a power cut, a file from
//! another version). Writes go to a temp file in the same folder and are renamed into place, so
//! no reader ever sees a half-written entry under the final name. Reads bump the file's mtime,
//! which is what least-recently-used eviction sorts by.
//!
//! Only regular files are used: a FIFO, device, socket, folder or symbolic link found under an
//! entry's name is refused (a miss and a disk error) and left alone, never opened in a way that
//! can block, followed, replaced or deleted. Entries are opened with `O_NOFOLLOW | O_NONBLOCK`
//! and checked with `fstat`; temp files are created new (`O_EXCL`), never through a link.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use xxhash_rust::xxh3::Xxh3Default;

use super::{ClipKey, GeneratedClip};
use crate::frame_io::Frame;

const MAGIC: [u8; 8] = *b"KNMCLIP\0";
/// Bump when the layout changes; older files are then deleted on sight.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: u64 = 8 + 4 + 4 + 16 + 8 + 8;
const SHAPE_LEN: u64 = 3 * 8;
const CHECKSUM_LEN: u64 = 8;
const EXTENSION: &str = "kclip";
const TEMP_SUFFIX: &str = ".tmp";
/// A temp file older than this belongs to a writer that died (a live write takes seconds).
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);
/// Samples are converted through a buffer of this many values.
const CHUNK: usize = 64 * 1024;

/// What a disk lookup found.
#[derive(Debug)]
pub enum DiskLookup {
    Hit(GeneratedClip),
    Miss,
    /// The file failed validation (the reason) and was deleted.
    Corrupt(String),
}

/// A folder of clip files bounded to `max_bytes` in total.
#[derive(Debug)]
pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
    swept: AtomicBool,
    lock_patience: Duration,
}

impl DiskCache {
    /// The folder is created on the first write.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        DiskCache { dir: dir.into(), max_bytes, swept: AtomicBool::new(false), lock_patience: super::LOCK_PATIENCE }
    }

    /// How long a key's lock may be held without its holder showing progress before a waiting
    /// process stops waiting and generates itself (default [`super::LOCK_PATIENCE`]).
    pub fn with_lock_patience(mut self, patience: Duration) -> Self {
        self.lock_patience = patience;
        self
    }

    pub fn lock_patience(&self) -> Duration {
        self.lock_patience
    }

    /// `KINEMA_DISK_CACHE=0` → `None`; else `<cache dir>/clips` bounded by
    /// `KINEMA_DISK_CACHE_MB` (default 8192).
    pub fn from_env() -> Option<Self> {
        if std::env::var("KINEMA_DISK_CACHE").is_ok_and(|v| v.trim() == "0") {
            return None;
        }
        let bytes = crate::settings::env_mib("KINEMA_DISK_CACHE_MB", super::DEFAULT_DISK_MB);
        Some(DiskCache::new(crate::runtime::cache_dir().join("clips"), bytes))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn path_for(&self, key: ClipKey) -> PathBuf {
        self.dir.join(format!("{key}.{EXTENSION}"))
    }

    /// Reads and validates the entry for `key`; a valid hit counts as a use (mtime bumped).
    pub fn load(&self, key: ClipKey) -> io::Result<DiskLookup> {
        self.sweep_once();
        let path = self.path_for(key);
        let file = match open_regular(&path, false) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DiskLookup::Miss),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let mut reader = HashingReader { inner: BufReader::with_capacity(1 << 20, file), hasher: Xxh3Default::new() };
        match read_clip(&mut reader, key, len) {
            Ok(clip) => {
                // Best effort: a read-only cache folder still serves hits, just without LRU order.
                let _ = reader.inner.get_ref().set_modified(SystemTime::now());
                Ok(DiskLookup::Hit(clip))
            }
            Err(ReadError::Io(e)) => Err(e),
            Err(ReadError::Corrupt(reason)) => {
                // Only the file we read is deleted, not one put under its name meanwhile.
                let ours = same_file(reader.inner.get_ref(), &path);
                drop(reader);
                if !ours {
                    return Ok(DiskLookup::Miss);
                }
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                Ok(DiskLookup::Corrupt(reason))
            }
        }
    }

    /// Writes the entry atomically (temp file + rename), then evicts least recently used
    /// entries past the bound. Returns `false` when the clip alone exceeds the bound (not kept).
    pub fn store(&self, key: ClipKey, clip: &GeneratedClip) -> io::Result<bool> {
        for (i, f) in clip.frames.iter().enumerate() {
            let expected = f.channels.checked_mul(f.height).and_then(|n| n.checked_mul(f.width));
            if expected != Some(f.data.len()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "frame {i} holds {} samples but its shape is {}x{}x{}",
                        f.data.len(),
                        f.channels,
                        f.height,
                        f.width
                    ),
                ));
            }
        }
        if encoded_len(clip) > self.max_bytes {
            return Ok(false);
        }
        fs::create_dir_all(&self.dir)?;
        self.sweep_once();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let temp = self.dir.join(format!(
            ".{key}.{}.{}{TEMP_SUFFIX}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let created = OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).open(&temp);
        let written = created.and_then(|file| {
            let mut w = HashingWriter { inner: BufWriter::with_capacity(1 << 20, file), hasher: Xxh3Default::new() };
            write_clip(&mut w, key, clip)?;
            let sum = w.hasher.digest();
            w.inner.write_all(&sum.to_le_bytes())?;
            let file = w.inner.into_inner().map_err(io::IntoInnerError::into_error)?;
            // Durable before it becomes visible: a power cut must not leave garbage under the
            // final name (it would be caught by validation, but costs a regeneration).
            file.sync_data()
        });
        // Something that is not a regular file under the entry's name is not ours to replace.
        let place = written.and_then(|()| match fs::symlink_metadata(self.path_for(key)) {
            Ok(m) if !m.file_type().is_file() => Err(not_regular(&self.path_for(key), m.file_type())),
            _ => Ok(()),
        });
        let renamed = place.and_then(|()| fs::rename(&temp, self.path_for(key)));
        if let Err(e) = renamed {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        self.evict(Some(&self.path_for(key)))?;
        Ok(true)
    }

    /// Removes stale temp files and lock files nobody holds, and evicts least recently used
    /// entries past the bound, never `keep` (the entry just written). Only regular files with
    /// our names are touched.
    pub fn evict(&self, keep: Option<&Path>) -> io::Result<()> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let now = SystemTime::now();
        let mut clips = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(meta) = entry.metadata() else { continue };
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if !meta.is_file() {
                continue;
            }
            if name.ends_with(super::lock::LOCK_SUFFIX) {
                super::lock::remove_if_free(&entry.path());
            } else if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
                if now.duration_since(mtime).is_ok_and(|age| age > STALE_TEMP_AGE) {
                    let _ = fs::remove_file(entry.path());
                }
            } else if name.ends_with(&format!(".{EXTENSION}")) {
                clips.push((mtime, meta.len(), entry.path()));
            }
        }
        let mut total: u64 = clips.iter().map(|c| c.1).sum();
        clips.sort();
        for (_, len, path) in clips {
            if total <= self.max_bytes {
                break;
            }
            if keep == Some(path.as_path()) {
                continue;
            }
            // Its provenance record goes with it (best effort: the record is a few hundred bytes).
            let _ = fs::remove_file(path.with_extension("provenance.json"));
            match fs::remove_file(&path) {
                Ok(()) => total -= len,
                // Another process evicted it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => total -= len,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Total size of the entries now on disk.
    pub fn bytes(&self) -> u64 {
        let Ok(entries) = fs::read_dir(&self.dir) else { return 0 };
        entries
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(&format!(".{EXTENSION}"))))
            .filter_map(|e| e.metadata().ok())
            .filter(fs::Metadata::is_file)
            .map(|m| m.len())
            .sum()
    }

    /// Stale temp files are cleaned once per process on first use, and again on every write.
    fn sweep_once(&self) {
        if !self.swept.swap(true, Ordering::Relaxed) {
            let _ = self.evict(None);
        }
    }
}

/// Opens `path` only if it is a regular file: for reading, or with `write` for reading and
/// writing (created when missing). Anything else under that name is an error and left alone.
pub(super) fn open_regular(path: &Path, write: bool) -> io::Result<File> {
    // A look before opening: opening a device can do things (a tape drive rewinds).
    match fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => return Err(not_regular(path, m.file_type())),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound && write => {}
        Err(e) => return Err(e),
    }
    open_checked(path, write)
}

/// The open itself, safe against a swap after the look: `O_NOFOLLOW` fails on a symbolic link,
/// `O_NONBLOCK` keeps a FIFO or device from blocking the open, and `fstat` checks what was opened.
pub(super) fn open_checked(path: &Path, write: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(write).create(write).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is a symbolic link, not a regular file: left alone", path.display()),
        ),
        _ => e,
    })?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(not_regular(path, kind));
    }
    Ok(file)
}

fn not_regular(path: &Path, kind: fs::FileType) -> io::Error {
    let what = if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "something else"
    };
    io::Error::new(io::ErrorKind::InvalidInput, format!("{} is {what}, not a regular file: left alone", path.display()))
}

/// Whether `path` still names the file `file` has open (not removed or replaced since).
pub(super) fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Size of the file `store` writes for `clip`.
pub fn encoded_len(clip: &GeneratedClip) -> u64 {
    let samples: u64 = clip.frames.iter().map(|f| f.data.len() as u64).sum();
    HEADER_LEN + SHAPE_LEN * clip.frames.len() as u64 + samples * 4 + CHECKSUM_LEN
}

struct HashingWriter<W> {
    inner: W,
    hasher: Xxh3Default,
}

impl<W: Write> HashingWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.inner.write_all(bytes)
    }
}

fn write_clip<W: Write>(w: &mut HashingWriter<W>, key: ClipKey, clip: &GeneratedClip) -> io::Result<()> {
    w.put(&MAGIC)?;
    w.put(&FORMAT_VERSION.to_le_bytes())?;
    w.put(&0u32.to_le_bytes())?;
    w.put(&key.as_u128().to_le_bytes())?;
    w.put(&clip.fps.to_bits().to_le_bytes())?;
    w.put(&(clip.frames.len() as u64).to_le_bytes())?;
    for f in &clip.frames {
        for d in [f.channels, f.height, f.width] {
            w.put(&(d as u64).to_le_bytes())?;
        }
    }
    let mut buf = vec![0u8; CHUNK * 4];
    for f in &clip.frames {
        for chunk in f.data.chunks(CHUNK) {
            for (dst, v) in buf.chunks_exact_mut(4).zip(chunk) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
            w.put(&buf[..chunk.len() * 4])?;
        }
    }
    Ok(())
}

enum ReadError {
    Io(io::Error),
    Corrupt(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        // The length was checked up front, so running short means the file changed under us.
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ReadError::Corrupt("file ends early".into())
        } else {
            ReadError::Io(e)
        }
    }
}

struct HashingReader<R> {
    inner: R,
    hasher: Xxh3Default,
}

impl<R: Read> HashingReader<R> {
    fn take(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf)?;
        self.hasher.update(buf);
        Ok(())
    }

    fn u32(&mut self) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.take(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.take(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

fn read_clip<R: Read>(r: &mut HashingReader<R>, key: ClipKey, file_len: u64) -> Result<GeneratedClip, ReadError> {
    let corrupt = |msg: String| Err(ReadError::Corrupt(msg));
    if file_len < HEADER_LEN + CHECKSUM_LEN {
        return corrupt(format!("{file_len} bytes is shorter than the header"));
    }
    let mut magic = [0u8; 8];
    r.take(&mut magic)?;
    if magic != MAGIC {
        return corrupt("not a Kinema clip file (bad magic)".into());
    }
    let version = r.u32()?;
    if version != FORMAT_VERSION {
        return corrupt(format!("format version {version}, expected {FORMAT_VERSION}"));
    }
    let _reserved = r.u32()?;
    let mut key_bytes = [0u8; 16];
    r.take(&mut key_bytes)?;
    if u128::from_le_bytes(key_bytes) != key.as_u128() {
        return corrupt("file holds a different key".into());
    }
    let fps = f64::from_bits(r.u64()?);
    let count = r.u64()?;
    // Bound every size by the real file length before allocating anything.
    let shapes_end = count.checked_mul(SHAPE_LEN).and_then(|n| n.checked_add(HEADER_LEN + CHECKSUM_LEN));
    let Some(shapes_end) = shapes_end.filter(|&end| end <= file_len) else {
        return corrupt(format!("frame count {count} does not fit in {file_len} bytes"));
    };
    let mut shapes = Vec::with_capacity(count as usize);
    let mut samples: u64 = 0;
    for i in 0..count {
        let (c, h, w) = (r.u64()?, r.u64()?, r.u64()?);
        let n = c.checked_mul(h).and_then(|n| n.checked_mul(w));
        let total = n.and_then(|n| samples.checked_add(n));
        let (Some(n), Some(total)) = (n, total) else {
            return corrupt(format!("frame {i} has an impossible shape {c}x{h}x{w}"));
        };
        samples = total;
        shapes.push((c, h, w, n));
    }
    let expected = samples.checked_mul(4).and_then(|b| b.checked_add(shapes_end));
    if expected != Some(file_len) {
        return corrupt(format!(
            "length {file_len} does not match the {count} frame shapes ({} expected)",
            expected.map_or("overflow".to_string(), |e| e.to_string())
        ));
    }
    let mut frames = Vec::with_capacity(shapes.len());
    let mut buf = vec![0u8; CHUNK * 4];
    for (c, h, w, n) in shapes {
        let mut data = Vec::with_capacity(n as usize);
        let mut left = n as usize;
        while left > 0 {
            let take = left.min(CHUNK);
            r.take(&mut buf[..take * 4])?;
            data.extend(buf[..take * 4].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            left -= take;
        }
        frames.push(Frame { channels: c as usize, height: h as usize, width: w as usize, data });
    }
    let computed = r.hasher.digest();
    let mut sum = [0u8; 8];
    r.inner.read_exact(&mut sum)?;
    if u64::from_le_bytes(sum) != computed {
        return corrupt("checksum mismatch".into());
    }
    Ok(GeneratedClip { frames, fps })
}
