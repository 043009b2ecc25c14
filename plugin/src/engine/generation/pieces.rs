//! A shot's frames, served one at a time: a shot made in one window is one cached clip; a long
//! shot is its latents (small) plus its frames decoded piece by piece, one piece per window,
//! each decoded on first use and kept in the clip cache (memory and disk) under its own key. So
//! a long shot's decode never holds more than one piece, and serving frame 900 of a 1441-frame
//! shot decodes or reads that frame's piece only.

use std::ops::{Deref, Range};
use std::sync::Arc;

use crate::clip_cache::{clip_cache, ClipKey, GeneratedClip, KeyBuilder};
use crate::diffusion::{window_plan, LongNoise, LongRequest, NoiseStream, SeededStreams, VideoModel};
use crate::engine::review::{ReviewPolicy, Reviewer};
use crate::engine::EngineError;
use crate::frame_io::Frame;

/// One frame of a cached clip, kept alive while it is used.
#[derive(Clone)]
pub struct FrameRef {
    clip: Arc<GeneratedClip>,
    index: usize,
}

impl Deref for FrameRef {
    type Target = Frame;
    fn deref(&self) -> &Frame {
        &self.clip.frames[self.index]
    }
}

/// Where a shot's frames come from.
#[derive(Clone)]
pub enum ShotFrames {
    /// The whole clip, as generated.
    Whole(Arc<GeneratedClip>),
    /// A long shot decoded in pieces.
    Pieces(Arc<LongShot>),
}

impl ShotFrames {
    /// Frames in the shot's clip.
    pub fn len(&self) -> usize {
        match self {
            ShotFrames::Whole(clip) => clip.frames.len(),
            ShotFrames::Pieces(shot) => shot.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached clip that names the shot (its frames, or a long shot's latents): kept as long
    /// as anything derived from the shot may be reused.
    pub fn identity(&self) -> &Arc<GeneratedClip> {
        match self {
            ShotFrames::Whole(clip) => clip,
            ShotFrames::Pieces(shot) => &shot.latents,
        }
    }

    /// Clip frame `index`; `None` past the end. A long shot's piece may be decoded here first
    /// (`abort` is polled while another thread or process decodes it).
    pub fn frame(&self, index: usize, abort: &dyn Fn() -> bool) -> Result<Option<FrameRef>, EngineError> {
        match self {
            ShotFrames::Whole(clip) => Ok((index < clip.frames.len()).then(|| FrameRef { clip: clip.clone(), index })),
            ShotFrames::Pieces(shot) => shot.frame(index, abort),
        }
    }
}

/// A long shot whose frames are decoded piece by piece.
pub struct LongShot {
    pub(super) model: Arc<VideoModel>,
    pub(super) request: LongRequest,
    /// The stitched latents, one `1 × 1 × n` frame (as cached).
    pub(super) latents: Arc<GeneratedClip>,
    /// The shot's key: the pieces' keys follow from it.
    pub(super) key: ClipKey,
    pub(super) seed: u64,
    /// Latent frames decoded each side of a piece (the manifest's `decode_context`).
    pub(super) context: usize,
    /// Pixel frames of each piece, in order, covering the shot.
    pub(super) pieces: Vec<Range<usize>>,
    pub(super) len: usize,
    /// Frame review each piece passes before it is cached (None: not reviewed).
    pub(super) review: Option<ReviewPolicy>,
}

impl LongShot {
    /// Decodes and reviews every piece (each cached once it passes), so no frame of the shot is
    /// served before all of it was reviewed; the verdict is cached under the shot's key, so this
    /// runs once per shot. A flagged piece fails the shot, remembered like any failure.
    pub(super) fn review_all(
        &self,
        progress: &mut dyn FnMut(usize, usize),
        abort: &dyn Fn() -> bool,
    ) -> Result<(), EngineError> {
        let verdict = KeyBuilder::new("kinema.shot.reviewed.v1").str("shot", &self.key.hex()).finish();
        clip_cache().get_or_generate(verdict, progress, abort, |progress| {
            for (i, piece) in self.pieces.iter().enumerate() {
                progress(i, self.pieces.len());
                self.frame(piece.start, abort)?;
            }
            Ok::<_, EngineError>(GeneratedClip { frames: Vec::new(), fps: self.request.fps })
        })?;
        Ok(())
    }

    fn frame(&self, index: usize, abort: &dyn Fn() -> bool) -> Result<Option<FrameRef>, EngineError> {
        let Some(piece) = self.pieces.iter().find(|p| p.contains(&index)) else { return Ok(None) };
        let key = KeyBuilder::new("kinema.shot.piece.v1")
            .str("shot", &self.key.hex())
            .uint("context", self.context as u64)
            .uint("start", piece.start as u64)
            .uint("end", piece.end as u64)
            .finish();
        let clip = clip_cache().get_or_generate(key, &mut |_, _| {}, abort, |_| {
            let [latents] = self.latents.frames.as_slice() else {
                return Err(EngineError::Input("the long shot's cached latents are not one block".into()));
            };
            let mut noise = SeededStreams::new(self.seed);
            let frames = self.model.decode_long_frames(
                &self.request,
                &latents.data,
                noise.stream(NoiseStream::Decode),
                piece.clone(),
                self.context,
            )?;
            if frames.len() != piece.len() {
                return Err(EngineError::Input(format!(
                    "decoding frames {}..{} made {} frames",
                    piece.start,
                    piece.end,
                    frames.len()
                )));
            }
            if let Some(policy) = &self.review {
                if let Some(reviewer) = Reviewer::new(&self.model, policy)? {
                    reviewer.review(&frames, piece.start, abort)?;
                }
            }
            Ok(GeneratedClip { frames, fps: self.request.fps })
        })?;
        Ok(Some(FrameRef { clip, index: index - piece.start }))
    }
}

/// The pixel frames of each window's piece of a shot of `frames` frames (temporal ratio `t`):
/// window k's piece runs from its first latent frame to the next window's, the last to the end.
pub(super) fn window_pieces(frames: usize, t: usize, tile: usize, overlap: usize) -> Vec<Range<usize>> {
    let latent = (frames - 1) / t + 1;
    let pixel = |l: usize| if l == 0 { 0 } else { (l - 1) * t + 1 };
    let starts: Vec<usize> = window_plan(latent, tile, overlap).iter().map(|&(start, _)| pixel(start)).collect();
    starts.iter().enumerate().map(|(k, &start)| start..starts.get(k + 1).copied().unwrap_or(frames)).collect()
}

/// The latents as the clip cache keeps them: one `1 × 1 × n` frame.
pub(super) fn latents_clip(latents: Vec<f32>, fps: f64) -> Result<GeneratedClip, EngineError> {
    let n = latents.len();
    let frame =
        Frame::from_vec(1, 1, n, latents).map_err(|e| EngineError::Input(format!("the shot's latents: {e}")))?;
    Ok(GeneratedClip { frames: vec![frame], fps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_window_is_one_piece_and_the_pieces_cover_the_shot() {
        // Kinema-tiny: T=2, windows of 9 latent frames overlapping by 3; 41 frames = 21 latent.
        let pieces = window_pieces(41, 2, 9, 3);
        assert_eq!(pieces, [0..11, 11..23, 23..41]);
        for frames in [17, 19, 41, 241, 1441] {
            let pieces = window_pieces(frames, 2, 9, 3);
            assert_eq!(pieces.first().unwrap().start, 0);
            assert_eq!(pieces.last().unwrap().end, frames);
            assert!(pieces.windows(2).all(|p| p[0].end == p[1].start && !p[0].is_empty()), "{frames}: {pieces:?}");
        }
    }

    #[test]
    fn a_whole_clip_serves_its_frames_and_nothing_past_them() {
        let clip = Arc::new(GeneratedClip { frames: (0..3).map(|i| Frame::new(3, 1, 1 + i)).collect(), fps: 24.0 });
        let frames = ShotFrames::Whole(clip.clone());
        assert_eq!(frames.len(), 3);
        assert_eq!(frames.frame(2, &|| false).unwrap().unwrap().width, 3);
        assert!(frames.frame(3, &|| false).unwrap().is_none());
        assert!(Arc::ptr_eq(frames.identity(), &clip));
    }
}
