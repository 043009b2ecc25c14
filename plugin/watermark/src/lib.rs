//! Kinema's provenance watermark: an invisible mark in every generated frame saying it was made by
//! Kinema, with which model, seed and shot.
//!
//! How: the frame's luma is cut into a 16x16 grid of tiles in relative coordinates, and each tile
//! carries two smooth sine patterns that vanish on its border. Each pattern's amplitude is quantised
//! onto one of two interleaved lattices (dithered quantisation index modulation), one per coded
//! bit. Unlike additive spread spectrum, the picture itself does not interfere with the mark, so a
//! faint mark survives JPEG and H.264; and since the grid is relative to the frame, a resized frame
//! reads the same. The coded bits are the payload and a CRC-32 over the "Kinema" magic,
//! convolutionally coded and spread over the whole frame. Frames of one shot can be voted together
//! ([`detect_combined`]).
//!
//! The mark is shaped by local texture (more in detail, less in flat areas) and scaled to a PSNR
//! floor ([`DEFAULT_PSNR_DB`]).
//!
//! ```
//! use kinema_watermark::{detect, embed, Payload, DEFAULT_PSNR_DB};
//! let (w, h) = (128, 96);
//! let mut planes: Vec<f32> = (0..3 * w * h).map(|i| ((i * 37) % 251) as f32 / 250.0).collect();
//! let payload = Payload { model: 0x1234_5678, seed: 7, shot: 0xABCD };
//! let psnr = embed(&mut planes, 3, w, h, &payload, DEFAULT_PSNR_DB).unwrap();
//! assert!(psnr >= DEFAULT_PSNR_DB - 0.01);
//! assert_eq!(detect(&planes, 3, w, h).unwrap().unwrap().payload, payload);
//! ```

mod code;
mod grid;
#[cfg(test)]
mod tests;

use std::fmt;

use grid::{Grid, SLOTS, TILES_MAX};

/// The quality floor generated frames are marked at: PSNR of marked against unmarked, in dB.
pub const DEFAULT_PSNR_DB: f32 = 43.0;
/// The smallest frame side that can carry the mark (4 pixels per tile).
pub const MIN_SIDE: usize = 4 * TILES_MAX;
/// The smallest side a mark can still be read from (a 0.5x resize of a MIN_SIDE frame).
pub const MIN_DETECT_SIDE: usize = 2 * TILES_MAX;
/// The quantiser step in luma (0..1); fixed, since the detector must know it. A larger step resists
/// more damage but makes the PSNR floor scale the embedding down further.
const STEP: f32 = 11.0 / 255.0;
/// Contrast changes a detector tries (JPEG, H.264 and resampling soften the patterns a little).
const GAINS: [f32; 6] = [1.0, 0.97, 0.94, 1.03, 0.91, 0.88];
/// Agreement between the decoded codeword and the received soft bits below which a CRC match is
/// not believed: the best path through pure noise agrees 0.56 to 0.69 (measured on unmarked
/// fixtures), frames that decode agreed 0.89 or more; so a false read needs this and the CRC.
const MIN_CONFIDENCE: f32 = 0.75;

/// What a mark says. The "Kinema" magic is implicit: only marks made by this crate decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Payload {
    /// A hash of the model (e.g. [`Payload::fold`] of its file hash).
    pub model: u32,
    pub seed: u32,
    /// A hash of the shot's cache key ([`Payload::fold`]).
    pub shot: u32,
}

impl Payload {
    /// Folds a longer identifier (a model file's hash, a shot's cache key) into a payload field.
    pub fn fold(id: &[u8]) -> u32 {
        crc32fast::hash(id)
    }
}

/// A mark that was found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub payload: Payload,
    /// How well the received bits agree with the decoded codeword, up to 1 (undamaged); noise
    /// decodes to about 0.6, a read needs 0.75.
    pub confidence: f32,
    /// Coded bits the error-correcting code had to correct, of [`Detection::coded_bits`].
    pub corrections: usize,
    pub coded_bits: usize,
    /// Frames voted together.
    pub frames: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// The frame is too small to carry (or hold) a mark.
    TooSmall { width: usize, height: usize, min_side: usize },
    /// Channels must be 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA).
    BadChannels(usize),
    /// The buffer does not hold channels x width x height samples.
    BadLength { expected: Option<usize>, got: usize },
    /// The PSNR floor must be finite and between 20 and 80 dB.
    BadPsnr(f32),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooSmall { width, height, min_side } => {
                write!(f, "{width}x{height} is too small for a watermark (each side needs at least {min_side} pixels)")
            }
            Error::BadChannels(c) => write!(f, "{c} channels: expected 1 to 4"),
            Error::BadLength { expected: Some(e), got } => write!(f, "buffer holds {got} samples, expected {e}"),
            Error::BadLength { expected: None, got } => write!(f, "frame size overflows (buffer holds {got} samples)"),
            Error::BadPsnr(p) => write!(f, "PSNR floor {p} dB is out of range (20 to 80)"),
        }
    }
}

impl std::error::Error for Error {}

/// Checks the buffer and returns the grid for it.
fn check(len: usize, channels: usize, width: usize, height: usize, min_side: usize) -> Result<Grid, Error> {
    if !(1..=4).contains(&channels) {
        return Err(Error::BadChannels(channels));
    }
    let expected = width.checked_mul(height).and_then(|n| n.checked_mul(channels));
    if expected != Some(len) {
        return Err(Error::BadLength { expected, got: len });
    }
    let too_small = Error::TooSmall { width, height, min_side };
    if width < min_side || height < min_side {
        return Err(too_small);
    }
    Grid::new(width, height, min_side / TILES_MAX).ok_or(too_small)
}

/// Rec. 601 luma of planar float RGB(A) (grey: plane 0); non-finite samples read as 0. Adding the
/// same value to R, G and B adds it to the luma under any weights summing to 1, so the embedder's
/// luma change survives whichever matrix an encoder uses.
fn luma_planar(planes: &[f32], channels: usize, n: usize) -> Vec<f32> {
    let at = |c: usize, i: usize| {
        let v = planes[c * n + i];
        if v.is_finite() {
            v
        } else {
            0.0
        }
    };
    (0..n)
        .map(|i| if channels >= 3 { 0.299 * at(0, i) + 0.587 * at(1, i) + 0.114 * at(2, i) } else { at(0, i) })
        .collect()
}

/// Embeds `payload` in a planar float frame (0..1; plane order R, G, B, A; 1 or 2 channels: grey),
/// changing R, G and B equally and never alpha. The mark is scaled so the PSNR of the result against
/// the input is at least `psnr_db` (it is lower still only if the full-strength mark already is).
/// Returns the PSNR achieved over the colour planes.
pub fn embed(
    planes: &mut [f32],
    channels: usize,
    width: usize,
    height: usize,
    payload: &Payload,
    psnr_db: f32,
) -> Result<f32, Error> {
    if !psnr_db.is_finite() || !(20.0..=80.0).contains(&psnr_db) {
        return Err(Error::BadPsnr(psnr_db));
    }
    let grid = check(planes.len(), channels, width, height, MIN_SIDE)?;
    let n = width * height;
    let luma = luma_planar(planes, channels, n);
    let amplitude = grid.project(&luma);
    let coded = code::encode(payload);
    let layout = layout();

    // Masking: within a tile the change follows local texture; across tiles, flat tiles get less.
    let act = grid::activity(&luma, width, height);
    let tile_act = grid.tile_means(&act);
    let mut sorted = tile_act.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    let tile_weight: Vec<f32> =
        tile_act.iter().map(|&a| if median > 1e-6 { (a / median).clamp(0.6, 1.0) } else { 1.0 }).collect();
    let mask: Vec<f32> =
        act.iter().enumerate().map(|(i, &a)| (a / (tile_act[grid.tile_at(i)] + 1e-5)).clamp(0.5, 2.0)).collect();

    let change: Vec<f32> = (0..SLOTS)
        .map(|k| {
            let Some(bit) = layout.bit[k] else { return 0.0 };
            let offset = layout.dither[k] + 0.5 * f32::from(coded[bit]);
            let phase = amplitude[k] / STEP - offset;
            (phase.round() - phase) * STEP * tile_weight[k / grid::PATTERNS]
        })
        .collect();
    let delta = grid.shaped_delta(&mask, &change);

    // Scale to the PSNR floor; the same delta goes on each colour plane, so this is its MSE.
    let mse_full = delta.iter().map(|d| f64::from(d * d)).sum::<f64>() / n as f64;
    let mse_floor = 10f64.powf(-f64::from(psnr_db) / 10.0);
    let alpha = if mse_full > mse_floor { (mse_floor / mse_full).sqrt() as f32 } else { 1.0 };

    let colour = if channels >= 3 { 3 } else { 1 };
    let mut sq = 0f64;
    for c in 0..colour {
        for (v, d) in planes[c * n..(c + 1) * n].iter_mut().zip(&delta) {
            if v.is_finite() {
                let new = (*v + alpha * d).clamp(v.min(0.0), v.max(1.0));
                sq += f64::from((new - *v) * (new - *v));
                *v = new;
            }
        }
    }
    let mse = sq / (colour * n) as f64;
    Ok(if mse > 0.0 { (-10.0 * mse.log10()) as f32 } else { f32::INFINITY })
}

/// Which of a tile's patterns carry bits. The diagonal one is left alone: H.264 damages it most,
/// and its share of the PSNR budget does more on the other two.
const CARRIERS: [bool; grid::PATTERNS] = [true, true, false];

fn layout() -> code::Layout {
    code::Layout::new(&(0..SLOTS).map(|k| CARRIERS[k % grid::PATTERNS]).collect::<Vec<_>>())
}

/// What one frame says about the mark: every slot's amplitude. Observations of frames of one shot
/// can be voted together with [`detect_combined`].
#[derive(Clone, Debug)]
pub struct Observation {
    amplitude: Vec<f32>,
}

/// Reads a planar float frame (as [`embed`] takes it).
pub fn observe(planes: &[f32], channels: usize, width: usize, height: usize) -> Result<Observation, Error> {
    let grid = check(planes.len(), channels, width, height, MIN_DETECT_SIDE)?;
    Ok(Observation { amplitude: grid.project(&luma_planar(planes, channels, width * height)) })
}

/// Reads an interleaved 8-bit frame (decoded image files: grey, grey+alpha, RGB or RGBA).
pub fn observe_rgb8(pixels: &[u8], channels: usize, width: usize, height: usize) -> Result<Observation, Error> {
    let grid = check(pixels.len(), channels, width, height, MIN_DETECT_SIDE)?;
    let luma: Vec<f32> = pixels
        .chunks_exact(channels)
        .map(|p| {
            let v = if channels >= 3 {
                0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
            } else {
                f32::from(p[0])
            };
            v / 255.0
        })
        .collect();
    Ok(Observation { amplitude: grid.project(&luma) })
}

/// Looks for a mark in one planar float frame.
pub fn detect(planes: &[f32], channels: usize, width: usize, height: usize) -> Result<Option<Detection>, Error> {
    Ok(detect_combined(&[observe(planes, channels, width, height)?]))
}

/// Looks for a mark in one interleaved 8-bit frame.
pub fn detect_rgb8(pixels: &[u8], channels: usize, width: usize, height: usize) -> Result<Option<Detection>, Error> {
    Ok(detect_combined(&[observe_rgb8(pixels, channels, width, height)?]))
}

/// Votes several frames of one shot (same payload) together: each frame's soft bits are summed
/// before decoding, so damage that no single frame survives can still be read from the shot.
pub fn detect_combined(frames: &[Observation]) -> Option<Detection> {
    if frames.is_empty() {
        return None;
    }
    let layout = layout();
    GAINS.iter().find_map(|&gain| {
        let mut soft = vec![0f32; code::CODED_BITS];
        for f in frames {
            for (k, &a) in f.amplitude.iter().enumerate() {
                if let Some(bit) = layout.bit[k] {
                    let phase = a / (gain * STEP) - layout.dither[k];
                    soft[bit] += (std::f32::consts::TAU * phase).cos();
                }
            }
        }
        let payload = code::decode(&soft)?;
        let coded = code::encode(&payload);
        let (mut agree, mut total, mut corrections) = (0f32, 0f32, 0usize);
        for (s, &b) in soft.iter().zip(&coded) {
            let signed = if b == 0 { *s } else { -*s };
            agree += signed;
            total += s.abs();
            corrections += usize::from(signed < 0.0);
        }
        let confidence = if total > 0.0 { agree / total } else { 0.0 };
        (confidence >= MIN_CONFIDENCE).then_some(Detection {
            payload,
            confidence,
            corrections,
            coded_bits: code::CODED_BITS,
            frames: frames.len(),
        })
    })
}
