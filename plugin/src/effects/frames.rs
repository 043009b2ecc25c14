//! Parsing frame lists such as `"12, 40-42"` (the Interpolate effect's Fill Frames).
//!
//! A list is kept as merged ranges, never expanded frame by frame: the text comes from the host,
//! and a list of many long ranges must cost memory and time in its length, not in its frames.

/// Why a frame list could not be read; positions are 1-based item numbers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameListError {
    #[error("'{item}' (item {index}) is not a frame number or a range like 40-42")]
    NotAFrame { item: String, index: usize },
    #[error("range '{item}' (item {index}) runs backwards; write it as {last}-{first}")]
    Backwards { item: String, index: usize, first: i64, last: i64 },
    #[error("range '{item}' (item {index}) is longer than {max} frames")]
    TooLong { item: String, index: usize, max: i64 },
}

/// Longest single range accepted, so a typo like `1-9999999` is caught rather than taken.
const MAX_RANGE: i64 = 100_000;

/// A set of frames as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameList {
    ranges: Vec<(i64, i64)>,
}

impl FrameList {
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The range holding `frame`, if any.
    fn range_of(&self, frame: i64) -> Option<(i64, i64)> {
        let i = self.ranges.partition_point(|&(_, last)| last < frame);
        self.ranges.get(i).copied().filter(|&(first, _)| first <= frame)
    }

    pub fn contains(&self, frame: i64) -> bool {
        self.range_of(frame).is_some()
    }

    /// The nearest frame before `frame` that is not listed (None below `i64::MIN`).
    pub fn unlisted_before(&self, frame: i64) -> Option<i64> {
        let prev = frame.checked_sub(1)?;
        match self.range_of(prev) {
            Some((first, _)) => first.checked_sub(1),
            None => Some(prev),
        }
    }

    /// The nearest frame after `frame` that is not listed (None above `i64::MAX`).
    pub fn unlisted_after(&self, frame: i64) -> Option<i64> {
        let next = frame.checked_add(1)?;
        match self.range_of(next) {
            Some((_, last)) => last.checked_add(1),
            None => Some(next),
        }
    }

    /// Every listed frame, in order (for small lists: tests and messages).
    pub fn frames(&self) -> impl Iterator<Item = i64> + '_ {
        self.ranges.iter().flat_map(|&(first, last)| first..=last)
    }
}

/// Parses a comma- or whitespace-separated list of frames and inclusive ranges. Negative frames
/// are allowed (`-5`, `-5--2`); an empty list is valid and means no frames.
pub fn parse_frame_list(text: &str) -> Result<FrameList, FrameListError> {
    let mut ranges = Vec::new();
    let items = text.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|s| !s.is_empty());
    for (i, item) in items.enumerate() {
        let index = i + 1;
        let bad = || FrameListError::NotAFrame { item: item.to_string(), index };
        // The range dash is a '-' that follows a digit, so "-5" and "-5--2" parse.
        let dash = item
            .char_indices()
            .skip(1)
            .find(|&(p, c)| c == '-' && item.as_bytes()[p - 1].is_ascii_digit())
            .map(|(p, _)| p);
        let (first, last) = match dash {
            Some(p) => (item[..p].parse::<i64>().map_err(|_| bad())?, item[p + 1..].parse::<i64>().map_err(|_| bad())?),
            None => {
                let f = item.parse::<i64>().map_err(|_| bad())?;
                (f, f)
            }
        };
        if last < first {
            return Err(FrameListError::Backwards { item: item.to_string(), index, first, last });
        }
        // In u64: the span of i64::MIN..=i64::MAX does not fit an i64.
        if last.abs_diff(first) >= MAX_RANGE as u64 {
            return Err(FrameListError::TooLong { item: item.to_string(), index, max: MAX_RANGE });
        }
        ranges.push((first, last));
    }
    ranges.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (first, last) in ranges {
        match merged.last_mut() {
            // Overlapping or adjacent (12-14, 15) ranges become one.
            Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
            _ => merged.push((first, last)),
        }
    }
    Ok(FrameList { ranges: merged })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> Vec<i64> {
        parse_frame_list(text).unwrap().frames().collect()
    }

    #[test]
    fn parses_single_frames_ranges_and_mixed_separators() {
        assert_eq!(list("12, 40-42"), [12, 40, 41, 42]);
        assert_eq!(list(" 3;1  2,,7-7 "), [1, 2, 3, 7]);
        assert_eq!(list("-5--3, -1"), [-5, -4, -3, -1]);
        assert_eq!(list("40-42, 41, 43-44, 12"), [12, 40, 41, 42, 43, 44]);
        assert!(parse_frame_list("").unwrap().is_empty());
        assert!(parse_frame_list(" , ").unwrap().is_empty());
    }

    #[test]
    fn bad_lists_name_the_item() {
        assert_eq!(parse_frame_list("12, x").unwrap_err(), FrameListError::NotAFrame { item: "x".into(), index: 2 });
        assert_eq!(parse_frame_list("4-").unwrap_err(), FrameListError::NotAFrame { item: "4-".into(), index: 1 });
        assert_eq!(parse_frame_list("1.5").unwrap_err(), FrameListError::NotAFrame { item: "1.5".into(), index: 1 });
        let err = parse_frame_list("42-40").unwrap_err();
        assert_eq!(err, FrameListError::Backwards { item: "42-40".into(), index: 1, first: 42, last: 40 });
        assert!(err.to_string().contains("write it as 40-42"), "{err}");
        assert!(matches!(parse_frame_list("0-99999999"), Err(FrameListError::TooLong { .. })));
    }

    /// Found by tests/fuzz.rs: the span of the widest range overflowed (a panic in debug builds,
    /// and in release a wrapped length that let an endless range through).
    #[test]
    fn the_widest_range_is_too_long_not_an_overflow() {
        let err = parse_frame_list("-9223372036854775808-9223372036854775807").unwrap_err();
        assert!(matches!(err, FrameListError::TooLong { .. }), "{err}");
        let edges = parse_frame_list("-9223372036854775808, 9223372036854775807").unwrap();
        assert!(edges.contains(i64::MIN) && edges.contains(i64::MAX) && !edges.contains(0));
        assert_eq!(edges.unlisted_before(i64::MIN), None);
        assert_eq!(edges.unlisted_after(i64::MAX), None);
    }

    /// Found by tests/fuzz.rs: thousands of long ranges were expanded frame by frame (hundreds of
    /// millions of entries: minutes per render and gigabytes of memory, from one parameter).
    #[test]
    fn many_long_ranges_stay_ranges() {
        let text: Vec<String> = (0..3000i64).map(|i| format!("{}-{}", i * 100_000, i * 100_000 + 99_998)).collect();
        let started = std::time::Instant::now();
        let bad = parse_frame_list(&text.join(",")).unwrap();
        assert!(bad.contains(150_000_000) && !bad.contains(99_999) && !bad.contains(299_999_999));
        assert_eq!(bad.unlisted_after(0), Some(99_999));
        assert_eq!(bad.unlisted_before(100_000), Some(99_999));
        // Adjacent ranges merge, so the nearest unlisted frame skips all of them at once.
        let joined = parse_frame_list("0-99999, 100000-199999, 200000-299999").unwrap();
        assert_eq!((joined.unlisted_before(250_000), joined.unlisted_after(5)), (Some(-1), Some(300_000)));
        assert!(started.elapsed().as_secs_f64() < 1.0, "{:?}", started.elapsed());
    }

    #[test]
    fn unlisted_neighbours_skip_listed_runs() {
        let bad = parse_frame_list("12, 40-42").unwrap();
        assert_eq!((bad.unlisted_before(12), bad.unlisted_after(12)), (Some(11), Some(13)));
        assert_eq!((bad.unlisted_before(41), bad.unlisted_after(41)), (Some(39), Some(43)));
        assert_eq!((bad.unlisted_before(43), bad.unlisted_after(39)), (Some(39), Some(43)));
    }
}
