//! Where the `kinema` CLI writes its frames. The output is checked before any work (a format it can
//! write, a folder it can write in, a frame field when there are several frames, and never a file the
//! render reads); the previous run's files of the frames about to be written are removed first, so a
//! failed or killed run never leaves older frames that look like this run's; and each frame is written
//! as soon as it is rendered, to a temporary file in the same folder renamed into place.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use parking_lot::Mutex;

use crate::image::OUTPUT_FORMATS;
use crate::sequence::Pattern;
use crate::HostImage;

/// What a render reads: image sequences (with the frames found) and single files.
#[derive(Default, Debug)]
pub struct Inputs {
    pub sequences: Vec<(Pattern, Vec<i64>)>,
    pub files: Vec<PathBuf>,
}

/// The output sequence of one render and what has been written to it.
#[derive(Debug)]
pub struct Output {
    text: String,
    /// None: a single file (one frame, no frame field).
    pattern: Option<Pattern>,
    written: Mutex<BTreeSet<i64>>,
    errors: Mutex<Vec<String>>,
    /// The effect's source frames, to tell a frame it passed through from one it made.
    sources: Option<SourceFrames>,
    /// Written frames bit-identical to the source frame of the same number: never claimed as
    /// created (C2PA).
    passed_through: Mutex<BTreeSet<i64>>,
}

/// The source frames of a render, by frame number.
#[derive(Debug)]
pub enum SourceFrames {
    Frames(BTreeMap<i64, HostImage>),
    Sequence(Pattern),
}

impl SourceFrames {
    /// Whether `image` is source frame `frame` unchanged (compared in the output's pixel format,
    /// which is the source's unless --depth changed it).
    fn passes_through(&self, frame: i64, image: &HostImage) -> bool {
        let same = |source: &HostImage| {
            (source.width, source.height) == (image.width, image.height)
                && source.convert(image.depth, image.components).data == image.data
        };
        match self {
            SourceFrames::Frames(frames) => frames.get(&frame).is_some_and(same),
            SourceFrames::Sequence(pattern) => {
                let path = pattern.path(frame);
                path.is_file() && HostImage::load(&path).is_ok_and(|s| same(&s))
            }
        }
    }
}

impl Output {
    /// Checks `out` for writing `frames` of a render that reads `inputs`; nothing is written or removed.
    pub fn check(out: &str, frames: &[i64], inputs: &Inputs) -> Result<Output> {
        let pattern = match Pattern::parse(out) {
            Ok(p) => Some(p),
            Err(_) if frames.len() == 1 && !out.contains('%') => None,
            Err(e) if frames.len() > 1 && !out.contains('%') => {
                bail!(
                    "--out '{out}' names one file, but {} frames are rendered: add a frame field ({e:#})",
                    frames.len()
                )
            }
            Err(e) => return Err(e).context("--out"),
        };
        let output = Output {
            text: out.to_owned(),
            pattern,
            written: Mutex::default(),
            errors: Mutex::default(),
            sources: None,
            passed_through: Mutex::default(),
        };
        let sample = output.path(frames.first().copied().unwrap_or(0));
        let ext = sample.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if !OUTPUT_FORMATS.contains(&ext.as_str()) {
            bail!("--out '{out}': unknown image format '.{ext}' (use .{})", OUTPUT_FORMATS.join(", ."));
        }
        if let Some(p) = &output.pattern {
            for (input, _) in &inputs.sequences {
                if p.same_files_as(input) {
                    bail!(
                        "--out '{out}' is the input sequence: the render would overwrite or add to the source frames"
                    );
                }
            }
        }
        let read: Vec<(PathBuf, Identity)> = inputs
            .sequences
            .iter()
            .flat_map(|(p, found)| found.iter().map(|&f| p.path(f)))
            .chain(inputs.files.iter().cloned())
            .filter_map(|path| Identity::of(&path).map(|id| (path, id)))
            .collect();
        for &f in frames {
            let path = output.path(f);
            if let Some(id) = Identity::of(&path) {
                if let Some((input, _)) = read.iter().find(|(_, i)| i.same(&id)) {
                    bail!(
                        "--out '{out}' would overwrite {} (frame {f}), which the render reads as {}",
                        path.display(),
                        input.display()
                    );
                }
            }
        }
        writable_folder(&output.dir())?;
        Ok(output)
    }

    fn dir(&self) -> PathBuf {
        match &self.pattern {
            Some(p) => p.dir(),
            None => {
                Path::new(&self.text).parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).into()
            }
        }
    }

    pub fn path(&self, frame: i64) -> PathBuf {
        match &self.pattern {
            Some(p) => p.path(frame),
            None => PathBuf::from(&self.text),
        }
    }

    /// Removes the files an earlier render left at the paths of `frames`, so that after this run the
    /// folder holds this run's frames or none at all (never older ones that look current).
    pub fn remove_previous(&self, frames: &[i64]) -> Result<usize> {
        let mut removed = 0;
        for &f in frames {
            let path = self.path(f);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => bail!("--out: {} is a folder, not a frame", path.display()),
                Ok(_) => {
                    std::fs::remove_file(&path)
                        .with_context(|| format!("cannot remove the previous run's {}", path.display()))?;
                    removed += 1;
                }
                Err(_) => {}
            }
        }
        Ok(removed)
    }

    /// Compares each written frame with these source frames (see [`Output::made`]).
    pub fn with_sources(mut self, sources: SourceFrames) -> Self {
        self.sources = Some(sources);
        self
    }

    /// Writes one frame now (temporary file + rename); a failure is kept for the summary.
    pub fn write(&self, frame: i64, image: &HostImage) {
        match image.save(&self.path(frame)) {
            Ok(()) => {
                if self.sources.as_ref().is_some_and(|s| s.passes_through(frame, image)) {
                    self.passed_through.lock().insert(frame);
                }
                self.written.lock().insert(frame);
            }
            Err(e) => self.errors.lock().push(format!("frame {frame}: {e:#}")),
        }
    }

    pub fn written(&self) -> Vec<i64> {
        self.written.lock().iter().copied().collect()
    }

    /// Written frames that are not a source frame passed through unchanged.
    pub fn made(&self) -> Vec<i64> {
        let passed = self.passed_through.lock();
        self.written.lock().iter().copied().filter(|f| !passed.contains(f)).collect()
    }

    /// Written frames that are a source frame passed through unchanged.
    pub fn passed_through(&self) -> Vec<i64> {
        self.passed_through.lock().iter().copied().collect()
    }

    /// Replaces this run's frame `frame` with `bytes` (temporary file + rename, so the frame is
    /// whole either way). Only frames this run wrote are replaced: never anyone else's file.
    pub fn rewrite(&self, frame: i64, bytes: &[u8]) -> Result<()> {
        if !self.written.lock().contains(&frame) {
            bail!("frame {frame} was not written by this render");
        }
        let path = self.path(frame);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = path.with_file_name(format!(".{name}.{}.c2pa.partial", std::process::id()));
        let written = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn write_errors(&self) -> Vec<String> {
        self.errors.lock().clone()
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A file's identity: its resolved path and, when it exists, its device and inode (hard links).
struct Identity {
    path: PathBuf,
    inode: Option<(u64, u64)>,
}

impl Identity {
    fn of(path: &Path) -> Option<Identity> {
        let resolved = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(_) => {
                let parent = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                std::fs::canonicalize(parent).ok()?.join(path.file_name()?)
            }
        };
        let inode = std::fs::metadata(&resolved).ok().map(|m| (m.dev(), m.ino()));
        Some(Identity { path: resolved, inode })
    }

    fn same(&self, other: &Identity) -> bool {
        self.path == other.path || (self.inode.is_some() && self.inode == other.inode)
    }
}

/// Creates `dir` if needed and proves a file can be created in it.
fn writable_folder(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("--out: cannot create the folder {}", dir.display()))?;
    let probe = dir.join(format!(".kinema-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| format!("--out: cannot write in the folder {}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Frames as short ranges: "0-4, 7, 9-10".
pub fn ranges(frames: &[i64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = frames.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Components, Depth};

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kinema-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn image() -> HostImage {
        HostImage::new(2, 2, Depth::U8, Components::Rgba)
    }

    #[test]
    fn outputs_that_would_touch_an_input_are_refused() {
        let dir = temp("clash");
        let input = Pattern::parse(&format!("{}/in/%04d.png", dir.display())).unwrap();
        std::fs::create_dir_all(dir.join("in")).unwrap();
        for f in 1..=3 {
            image().save(&input.path(f)).unwrap();
        }
        let inputs = Inputs { sequences: vec![(input, vec![1, 2, 3])], files: vec![dir.join("still.png")] };
        image().save(&dir.join("still.png")).unwrap();
        let check =
            |out: String, frames: &[i64]| Output::check(&out, frames, &inputs).map(|_| ()).map_err(|e| e.to_string());
        let d = dir.display();
        // The same pattern, even for frames the input does not have (it would add to the source).
        assert!(check(format!("{d}/in/%04d.png"), &[7, 8]).unwrap_err().contains("is the input sequence"));
        assert!(check(format!("{d}/in/../in/%04d.png"), &[0]).unwrap_err().contains("is the input sequence"));
        // Another pattern that resolves to input files.
        let err = check(format!("{d}/in/%03d1.png"), &[5, 0]).unwrap_err();
        assert!(err.contains("would overwrite") && err.contains("0001.png (frame 0)"), "{err}");
        assert!(check(format!("{d}/in/%d.png"), &[1, 2]).is_ok(), "in/1.png is not an input");
        std::os::unix::fs::symlink(dir.join("in"), dir.join("link")).unwrap();
        assert!(check(format!("{d}/link/%04d.png"), &[2]).unwrap_err().contains("is the input sequence"));
        std::fs::hard_link(dir.join("in/0002.png"), dir.join("hard_0002.png")).unwrap();
        let err = check(format!("{d}/hard_%04d.png"), &[2]).unwrap_err();
        assert!(err.contains("would overwrite") && err.contains("frame 2"), "{err}");
        // A single file the render reads.
        assert!(check(format!("{d}/still.png"), &[0]).unwrap_err().contains("would overwrite"));
        assert!(check(format!("{d}/out/%04d.png"), &[1, 2, 3]).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_pattern_format_and_folder_are_checked_before_any_work() {
        let dir = temp("pattern");
        let none = Inputs::default();
        let check = |out: String, frames: &[i64]| Output::check(&out, frames, &none).map_err(|e| format!("{e:#}"));
        let d = dir.display();
        assert!(check(format!("{d}/o/%04d.gif"), &[0, 1]).unwrap_err().contains("unknown image format '.gif'"));
        assert!(check(format!("{d}/o/%04d"), &[0, 1]).unwrap_err().contains("unknown image format"));
        let err = check(format!("{d}/o/shot.png"), &[0, 1]).unwrap_err();
        assert!(err.contains("names one file, but 2 frames"), "{err}");
        // One frame may go to one file.
        let single = check(format!("{d}/o/still.png"), &[5]).unwrap();
        assert_eq!(single.path(5), dir.join("o/still.png"));
        assert!(dir.join("o").is_dir(), "the folder is created up front");
        std::fs::write(dir.join("file"), b"x").unwrap();
        let err = check(format!("{d}/file/%04d.png"), &[0]).unwrap_err();
        assert!(err.contains("cannot create the folder"), "{err}");
        let ro = dir.join("ro");
        std::fs::create_dir_all(&ro).unwrap();
        std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        // Root may write anywhere; the check is only meaningful for other users.
        let writable = std::fs::write(ro.join("probe"), b"x").is_ok();
        if !writable {
            let err = check(format!("{}/%04d.png", ro.display()), &[0]).unwrap_err();
            assert!(err.contains("cannot write in the folder"), "{err}");
        }
        std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn previous_frames_are_removed_and_frames_are_written_whole() {
        let dir = temp("previous");
        let out = Output::check(&format!("{}/%04d.png", dir.display()), &[0, 1, 2], &Inputs::default()).unwrap();
        for f in 0..5 {
            image().save(&out.path(f)).unwrap();
        }
        assert_eq!(out.remove_previous(&[0, 1, 2]).unwrap(), 3);
        let present: Vec<bool> = (0..5).map(|f| out.path(f).exists()).collect();
        assert_eq!(present, [false, false, false, true, true], "only this run's frames are removed");
        out.write(1, &image());
        assert_eq!(out.written(), [1]);
        assert!(HostImage::load(&out.path(1)).is_ok());
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn frames_passed_through_from_the_source_are_told_from_made_ones() {
        let dir = temp("made");
        let mut source = image();
        source.data.iter_mut().enumerate().for_each(|(i, v)| *v = (i * 13) as u8);
        let input = Pattern::parse(&format!("{}/in/%04d.png", dir.display())).unwrap();
        source.save(&input.path(0)).unwrap();
        let out = Output::check(&format!("{}/out/%04d.png", dir.display()), &[0, 1], &Inputs::default())
            .unwrap()
            .with_sources(SourceFrames::Sequence(input));
        out.write(0, &source);
        out.write(1, &source);
        assert_eq!((out.made(), out.passed_through()), (vec![1], vec![0]), "frame 1 has no source frame");
        // In memory, compared in the output's pixel format; one changed sample is a made frame.
        let out = Output::check(&format!("{}/mem/%04d.png", dir.display()), &[0, 1], &Inputs::default())
            .unwrap()
            .with_sources(SourceFrames::Frames([(0, source.clone()), (1, source.clone())].into()));
        out.write(0, &source.convert(Depth::F32, Components::Rgba));
        let mut changed = source.clone();
        changed.data[5] ^= 1;
        out.write(1, &changed);
        assert_eq!((out.made(), out.passed_through()), (vec![1], vec![0]));
        // Only this run's frames are rewritten.
        assert!(out.rewrite(7, b"x").is_err());
        out.rewrite(1, b"bytes").unwrap();
        assert_eq!(std::fs::read(out.path(1)).unwrap(), b"bytes");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn frame_ranges_read_compactly() {
        assert_eq!(ranges(&[0, 1, 2, 3, 4, 7, 9, 10]), "0-4, 7, 9-10");
        assert_eq!(ranges(&[-2, -1, 5]), "-2--1, 5");
        assert_eq!(ranges(&[]), "none");
    }
}
