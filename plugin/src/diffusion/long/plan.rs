//! What a long request settles before any window runs: every number checked (sizes become
//! allocations), the shot cut into windows, the schedule and the decode tiles.

use super::decode::{tile_grid, Tile};
use super::steps::Steps;
use super::LongRequest;
use crate::diffusion::limits::{MAX_GENERATION_SIDE, MAX_LATENT_VALUES};
use crate::diffusion::manifest::Pipeline;
use crate::diffusion::model::VideoModel;
use crate::engine::EngineError;

/// `[start, end)` latent-frame windows of a shot of `latent_frames`: windows of `tile` frames
/// (at least 1) starting every `tile − overlap` frames (at least 1); the last one ends at the
/// shot's end and may be shorter (diffusers' `split_into_temporal_windows`).
pub fn window_plan(latent_frames: usize, tile: usize, overlap: usize) -> Vec<(usize, usize)> {
    let tile = tile.max(1);
    let stride = tile.saturating_sub(overlap).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < latent_frames {
        let end = (start + tile).min(latent_frames);
        out.push((start, end));
        if end == latent_frames {
            break;
        }
        start += stride;
    }
    out
}

/// The windows of a shot, in order of start: [`window_plan`], or for a shot made from its end
/// (an extension backward) [`window_plan`] mirrored, so the last window is whole and the first
/// may be shorter.
pub fn shot_window_plan(latent_frames: usize, tile: usize, overlap: usize, from_end: bool) -> Vec<(usize, usize)> {
    let plan = window_plan(latent_frames, tile, overlap);
    match from_end {
        true => plan.iter().rev().map(|&(start, end)| (latent_frames - end, latent_frames - start)).collect(),
        false => plan,
    }
}

/// The order `windows` windows are made in: first to last, or last to first from the end.
pub fn made_order(windows: usize, from_end: bool) -> Vec<usize> {
    match from_end {
        true => (0..windows).rev().collect(),
        false => (0..windows).collect(),
    }
}

/// A checked long request.
pub(super) struct LongPlan {
    /// The shot's latent grid: frames, height, width.
    pub(super) grid: (usize, usize, usize),
    /// Window overlap in latent frames.
    pub(super) overlap: usize,
    pub(super) windows: Vec<(usize, usize)>,
    pub(super) steps: Steps,
    /// Tokens per prompt.
    pub(super) max_len: usize,
    /// Whether the first image conditions the shot (given, with a strength above 0).
    pub(super) image: bool,
    pub(super) tiles: Vec<Tile>,
}

impl VideoModel {
    /// Checks `req` against the model and the limits of one generation, and opens the graphs it
    /// runs.
    pub(super) fn plan_long(&self, req: &LongRequest) -> Result<LongPlan, EngineError> {
        let m = &self.manifest;
        let lat = &m.latent;
        let (t, c) = (lat.temporal_ratio, lat.channels);
        let input = |why: String| Err(EngineError::Input(why));
        let rule = lat.frame_rule;
        if req.frames < rule.plus || !(req.frames - rule.plus).is_multiple_of(rule.mult) {
            return input(format!("{} frames: this model makes {}k+{} frames", req.frames, rule.mult, rule.plus));
        }
        let (width, height) = (req.width, req.height);
        if width == 0
            || height == 0
            || !width.is_multiple_of(lat.hw_multiple)
            || !height.is_multiple_of(lat.hw_multiple)
        {
            return input(format!(
                "{width}x{height}: width and height must be positive multiples of {}",
                lat.hw_multiple
            ));
        }
        if width > MAX_GENERATION_SIDE || height > MAX_GENERATION_SIDE {
            return input(format!(
                "{width}x{height}: a generated frame is at most {MAX_GENERATION_SIDE} pixels a side"
            ));
        }
        if !(req.fps.is_finite() && req.fps > 0.0) {
            return input(format!("{} fps: the frame rate must be positive", req.fps));
        }
        if !req.guidance.is_finite() {
            return input(format!("guidance {} must be a finite number", req.guidance));
        }
        if !req.decode_timestep.is_finite() {
            return input(format!("decode timestep {} must be a finite number", req.decode_timestep));
        }
        if let Some(s) = req.decode_noise_scale.filter(|s| !(0.0..=1.0).contains(s)) {
            return input(format!("decode noise scale {s} is outside 0..1"));
        }
        let w = &req.windows;
        for (name, v) in [
            ("image strength", req.image_strength),
            ("window overlap strength", w.overlap_strength),
            ("AdaIN factor", w.adain_factor),
            ("loop strength", req.loop_strength.unwrap_or(0.0)),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return input(format!("{name} {v} is outside 0..1"));
            }
        }
        let grid = ((req.frames - 1) / t + 1, height / lat.spatial_ratio, width / lat.spatial_ratio);
        let hw = grid.1 * grid.2;
        let tile = (w.tile_frames / t).max(1);
        let overlap = w.overlap_frames / t;
        let backward = req.made_from_end();
        let windows = shot_window_plan(grid.0, tile, overlap, backward);
        if windows.len() > 1 {
            check_overlap(w.tile_frames, w.overlap_frames, tile, overlap, t)?;
        }
        let looped = req.loop_strength.is_some_and(|s| s > 0.0);
        if looped && windows.len() < 2 {
            return input(format!(
                "a loop's last window leads back into the shot's first frames, so a looped shot must be longer \
                 than one window ({} frames; this one has {}): lengthen it",
                w.tile_frames, req.frames
            ));
        }
        // The largest window: its own frames, the tail, a loop's first frames, and the first
        // image's frame with the end keyframe's, or a backward extension's prefix.
        let ahead = if looped { overlap.max(1).min(tile) } else { 0 };
        let conditions = m.conditioning.condition.as_ref().map_or(0, |c| c.num_prefix_latent_frames).max(2);
        let window_frames = tile.min(grid.0) + overlap.min(tile) + ahead + conditions;
        let fits = |frames: usize| {
            frames.checked_mul(hw).and_then(|s| s.checked_mul(c)).is_some_and(|v| v <= MAX_LATENT_VALUES)
        };
        if !fits(window_frames) || !fits(grid.0) {
            return input(format!(
                "a {width}x{height} shot of {} frames in windows of {} frames is more latent values than one \
                 generation holds ({MAX_LATENT_VALUES}): make it smaller or shorter",
                req.frames, w.tile_frames
            ));
        }
        let image = match &req.image {
            Some(frame) if req.image_strength > 0.0 => {
                if (frame.width, frame.height) != (width, height) || frame.channels < 3 {
                    return input(format!(
                        "the first image is {}x{} with {} channels; it must be RGB at the shot's size, {width}x{height}",
                        frame.width, frame.height, frame.channels
                    ));
                }
                true
            }
            _ => false,
        };
        if let Some(end) = &req.end_image {
            if !image || looped {
                return input(
                    "an end keyframe needs a first image (with a strength above 0) and no loop: a looped shot ends on \
                     its own first frames"
                        .into(),
                );
            }
            let image = &end.image;
            if (image.width, image.height) != (width, height) || image.channels < 3 {
                return input(format!(
                    "the end keyframe is {}x{} with {} channels; it must be RGB at the shot's size, {width}x{height}",
                    image.width, image.height, image.channels
                ));
            }
            if end.frame >= req.frames || end.frame + t < req.frames {
                return input(format!(
                    "the end keyframe is at frame {} of a shot of {} frames; it must be in the last {t}",
                    end.frame, req.frames
                ));
            }
        }
        if let Some(first) = req.context.first() {
            let n = req.context.len();
            if image || looped {
                return input("an extension's context starts the shot: it takes no first image and no loop".into());
            }
            if !(n - 1).is_multiple_of(t) || (n - 1) / t + 1 >= grid.0 {
                return input(format!(
                    "{n} context frames: an extension's context is {t}k+1 frames, fewer than the shot's {}",
                    req.frames
                ));
            }
            if backward && (n - 1) / t + 1 > tile {
                return input(format!(
                    "{n} context frames: an extension backward holds at most one window's worth of context ({} frames)",
                    (tile - 1) * t + 1
                ));
            }
            if req.context.iter().any(|f| (f.width, f.height) != (width, height) || f.channels < 3) {
                return input(format!(
                    "the context frames are {}x{}; they must be RGB at the shot's size, {width}x{height}",
                    first.width, first.height
                ));
            }
        }
        let tiles = tile_grid(grid.1, grid.2, &req.tiling)?;
        let steps = Steps::build(self, &req.schedule, &req.scheduler, tile.min(grid.0) * hw)?;
        let max_len = req.max_sequence_length.unwrap_or(*m.components.tokenizer.max_length.get(Pipeline::T2v));
        self.check(image)?;
        Ok(LongPlan { grid, overlap, windows, steps, max_len, image, tiles })
    }
}

/// Overlaps diffusers stitches wrongly are refused rather than reproduced: none (a latent frame
/// lost at every seam) and 2 latent frames (one repeated at every seam), and overlaps as long
/// as the window.
fn check_overlap(tile_px: usize, overlap_px: usize, tile: usize, overlap: usize, t: usize) -> Result<(), EngineError> {
    let why = match overlap {
        0 => "without overlap, the stitching loses a latent frame at every seam",
        2 => "an overlap of 2 latent frames repeats a latent frame at every seam",
        _ if overlap >= tile => {
            return Err(EngineError::Input(format!(
                "a window overlap of {overlap_px} frames ({overlap} latent) must be shorter than the window of \
                 {tile_px} frames ({tile} latent): shorten the overlap or lengthen the window"
            )))
        }
        _ => return Ok(()),
    };
    Err(EngineError::Input(format!(
        "a window overlap of {overlap_px} frames is {overlap} latent frames, and {why}: use an overlap of {t} to {} \
         frames (1 latent frame) or of at least {} frames (3 or more)",
        2 * t - 1,
        3 * t
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_specs_examples() {
        // 29 frames at T=4, 20/12 px: f=8, tile 5, overlap 3.
        assert_eq!(window_plan(8, 5, 3), [(0, 5), (2, 7), (4, 8)]);
        // 17 frames, 12/4 px: f=5, tile 3, overlap 1.
        assert_eq!(window_plan(5, 3, 1), [(0, 3), (2, 5)]);
        // Real LTX (T=8), 161 frames, 80/24 px: f=21, tile 10, overlap 3.
        assert_eq!(window_plan(21, 10, 3), [(0, 10), (7, 17), (14, 21)]);
    }

    #[test]
    fn a_shot_within_one_window_is_one_window_and_every_plan_covers_the_shot() {
        assert_eq!(window_plan(4, 5, 3), [(0, 4)]);
        assert_eq!(window_plan(5, 5, 3), [(0, 5)]);
        assert_eq!(window_plan(0, 5, 3), []);
        assert_eq!(window_plan(3, 0, 0), [(0, 1), (1, 2), (2, 3)], "a tile of 0 is 1");
        assert_eq!(window_plan(4, 2, 5), [(0, 2), (1, 3), (2, 4)], "stride at least 1");
        for f in 1..40 {
            for tile in 1..9 {
                for ov in 0..tile {
                    let plan = window_plan(f, tile, ov);
                    assert_eq!(plan[0].0, 0);
                    assert_eq!(plan.last().unwrap().1, f);
                    for pair in plan.windows(2) {
                        assert_eq!(pair[1].0, pair[0].0 + tile - ov, "{f} {tile} {ov}");
                        assert!(pair[1].1 - pair[1].0 > ov, "later windows are longer than the overlap");
                    }
                }
            }
        }
    }

    #[test]
    fn overlaps_diffusers_stitches_wrongly_are_refused_with_the_fix() {
        let err = check_overlap(20, 8, 5, 2, 4).unwrap_err().to_string();
        assert!(err.contains("8 frames is 2 latent frames") && err.contains("repeats"), "{err}");
        assert!(err.contains("4 to 7 frames") && err.contains("at least 12 frames"), "{err}");
        let err = check_overlap(20, 3, 5, 0, 4).unwrap_err().to_string();
        assert!(err.contains("loses a latent frame"), "{err}");
        let err = check_overlap(12, 12, 3, 3, 4).unwrap_err().to_string();
        assert!(err.contains("shorter than the window"), "{err}");
        check_overlap(20, 12, 5, 3, 4).unwrap();
        check_overlap(12, 4, 3, 1, 4).unwrap();
    }
}
