//! printf-style image sequence patterns: `in/%04d.png`, `shot.%d.exr`, `%%` for a literal percent.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// A parsed pattern: `prefix`, one frame field of minimum `width` (zero padded or not), `suffix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    prefix: String,
    suffix: String,
    width: usize,
    zero_pad: bool,
}

impl Pattern {
    pub fn parse(pattern: &str) -> Result<Pattern> {
        let mut prefix = String::new();
        let mut suffix = String::new();
        let mut field: Option<(usize, bool)> = None;
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let out = if field.is_some() { &mut suffix } else { &mut prefix };
            if c != '%' {
                out.push(c);
                continue;
            }
            if chars.peek() == Some(&'%') {
                chars.next();
                out.push('%');
                continue;
            }
            let mut spec = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() {
                    spec.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.next() {
                Some('d') | Some('i') => {}
                Some(other) => bail!("unsupported conversion '%{spec}{other}' in pattern '{pattern}' (use %d or %04d)"),
                None => bail!("pattern '{pattern}' ends inside a '%' field"),
            }
            if field.is_some() {
                bail!("pattern '{pattern}' has more than one frame field");
            }
            let zero_pad = spec.starts_with('0');
            let width = if spec.is_empty() { 0 } else { spec.parse().unwrap_or(0) };
            if width > 32 {
                bail!("frame field width {width} in pattern '{pattern}' is too large");
            }
            field = Some((width, zero_pad));
        }
        let Some((width, zero_pad)) = field else {
            bail!("pattern '{pattern}' has no frame field (e.g. 'in/%04d.png')");
        };
        Ok(Pattern { prefix, suffix, width, zero_pad })
    }

    /// Formats like C's printf (`%04d` of -5 is `-005`).
    pub fn format(&self, frame: i64) -> String {
        let digits = frame.unsigned_abs().to_string();
        let sign = if frame < 0 { "-" } else { "" };
        let len = sign.len() + digits.len();
        let pad = self.width.saturating_sub(len);
        let number = if self.zero_pad {
            format!("{sign}{}{digits}", "0".repeat(pad))
        } else {
            format!("{}{sign}{digits}", " ".repeat(pad))
        };
        format!("{}{number}{}", self.prefix, self.suffix)
    }

    pub fn path(&self, frame: i64) -> PathBuf {
        PathBuf::from(self.format(frame))
    }

    /// The frame a file name stands for, if it matches.
    fn match_name(&self, path: &str) -> Option<i64> {
        let mid = path.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        let frame: i64 = mid.trim_start().parse().ok()?;
        (self.format(frame) == path).then_some(frame)
    }

    /// The folder of the frames ("" for the current one) and the file name before the frame number.
    fn dir_and_name(&self) -> (PathBuf, &str) {
        match self.prefix.rfind('/') {
            Some(i) => (PathBuf::from(&self.prefix[..i.max(1)]), &self.prefix[i + 1..]),
            None => (PathBuf::new(), self.prefix.as_str()),
        }
    }

    /// The folder the frames go in ("." for the current one).
    pub fn dir(&self) -> PathBuf {
        let (dir, _) = self.dir_and_name();
        if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        }
    }

    /// Whether both patterns name the same files: the same folder (after resolving links) and the same
    /// names for every frame.
    pub fn same_files_as(&self, other: &Pattern) -> bool {
        let ((dir_a, name_a), (dir_b, name_b)) = (self.dir_and_name(), other.dir_and_name());
        let same_names =
            (name_a, &self.suffix, self.width, self.zero_pad) == (name_b, &other.suffix, other.width, other.zero_pad);
        let resolve = |d: PathBuf| {
            let d = if d.as_os_str().is_empty() { PathBuf::from(".") } else { d };
            std::fs::canonicalize(&d).unwrap_or_else(|_| std::path::absolute(&d).unwrap_or(d))
        };
        same_names && resolve(dir_a) == resolve(dir_b)
    }

    /// The frames whose files exist, sorted.
    pub fn scan(&self) -> Result<Vec<i64>> {
        let (dir, _) = self.dir_and_name();
        let read_dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir.as_path() };
        let entries = std::fs::read_dir(read_dir)
            .map_err(|e| anyhow::anyhow!("cannot list directory '{}': {e}", read_dir.display()))?;
        let mut frames = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let full = if dir.as_os_str().is_empty() {
                name.to_owned()
            } else {
                dir.join(name).to_string_lossy().into_owned()
            };
            if let Some(f) = self.match_name(&full) {
                frames.push(f);
            }
        }
        frames.sort_unstable();
        Ok(frames)
    }
}

/// Parses a frame list: `0-47`, `5`, `1,3,9-12`, `-3--1`.
pub fn parse_frames(s: &str) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // Find a '-' that separates two numbers (not a leading minus sign).
        let split =
            part.char_indices().skip(1).find(|&(i, c)| c == '-' && part[..i].parse::<i64>().is_ok()).map(|(i, _)| i);
        match split {
            Some(i) => {
                let (a, b) = (&part[..i], &part[i + 1..]);
                let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) else {
                    bail!("bad frame range '{part}' (expected e.g. 0-47)");
                };
                if b < a {
                    bail!("frame range '{part}' is reversed");
                }
                if b - a > 10_000_000 {
                    bail!("frame range '{part}' is too long");
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse::<i64>().map_err(|_| anyhow::anyhow!("bad frame number '{part}'"))?),
        }
    }
    if out.is_empty() {
        bail!("empty frame list '{s}'");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_printf() {
        let p = Pattern::parse("in/%04d.png").unwrap();
        assert_eq!(p.format(7), "in/0007.png");
        assert_eq!(p.format(12345), "in/12345.png");
        assert_eq!(p.format(-5), "in/-005.png");
        assert_eq!(Pattern::parse("a%d.exr").unwrap().format(42), "a42.exr");
        assert_eq!(Pattern::parse("a%3d.exr").unwrap().format(4), "a  4.exr");
        assert_eq!(Pattern::parse("100%%_%02d.png").unwrap().format(3), "100%_03.png");
    }

    #[test]
    fn rejects_bad_patterns() {
        assert!(Pattern::parse("in/frame.png").is_err());
        assert!(Pattern::parse("in/%s.png").is_err());
        assert!(Pattern::parse("in/%d_%d.png").is_err());
        assert!(Pattern::parse("in/%04").is_err());
    }

    #[test]
    fn scans_existing_frames() {
        let dir = std::env::temp_dir().join(format!("kinema-seq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [3, 4, 10] {
            std::fs::write(dir.join(format!("{f:04}.png")), b"x").unwrap();
        }
        std::fs::write(dir.join("12.png"), b"x").unwrap(); // wrong width: not part of the sequence
        let p = Pattern::parse(&format!("{}/%04d.png", dir.display())).unwrap();
        assert_eq!(p.scan().unwrap(), vec![3, 4, 10]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn patterns_naming_the_same_files_are_recognised() {
        let dir = std::env::temp_dir().join(format!("kinema-seq-same-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let p = |s: String| Pattern::parse(&s).unwrap();
        let a = p(format!("{}/%04d.png", dir.display()));
        assert!(a.same_files_as(&p(format!("{}/sub/../%04d.png", dir.display()))));
        assert!(a.same_files_as(&p(format!("{}//%04d.png", dir.display()))));
        assert!(!a.same_files_as(&p(format!("{}/sub/%04d.png", dir.display()))));
        assert!(!a.same_files_as(&p(format!("{}/%05d.png", dir.display()))));
        assert!(!a.same_files_as(&p(format!("{}/%04d.exr", dir.display()))));
        assert!(!a.same_files_as(&p(format!("{}/x%04d.png", dir.display()))));
        assert_eq!(p("%04d.png".into()).dir(), PathBuf::from("."));
        assert_eq!(p("/%04d.png".into()).dir(), PathBuf::from("/"));
        assert_eq!(a.dir(), dir);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn frame_lists() {
        assert_eq!(parse_frames("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_frames("1,5,7-8").unwrap(), vec![1, 5, 7, 8]);
        assert_eq!(parse_frames("-2-0").unwrap(), vec![-2, -1, 0]);
        assert_eq!(parse_frames("-3").unwrap(), vec![-3]);
        assert!(parse_frames("5-1").is_err());
        assert!(parse_frames("a-b").is_err());
        assert!(parse_frames("").is_err());
    }
}
