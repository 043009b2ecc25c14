//! The render layer: what one output frame of an effect is, made from the effect's settings, a
//! [`Source`] that delivers frames and an [`Output`] that takes the result. No OFX here (the glue
//! in [`crate::ofx`] adapts host handles to these traits and reports status) and no ONNX (the
//! engines own it), so every effect renders the same way under any host, and in tests.
//!
//! One render: plan the frame ([`crate::effects`]); then either pass a source frame through
//! bit-exact, or make it: [`generate`] (prompt policy, model, the shot's clip, seam matching,
//! assembly), [`interpolate`] (guards, the interpolator, alpha, assembly) or [`gap`] (Fill
//! Frames: one of the two, by Gap Method). A new render stage
//! (frame review, watermark) is one module here, called from the effect's function.

mod assemble;
pub mod gap;
pub mod generate;
pub mod interpolate;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use assemble::{assemble, Alpha};

use crate::effects::{EffectKind, EffectSpec, FramePlan, FrameRange, ModelWork, ParamValues};
use crate::frame_io::{Frame, Rect};

/// Why a frame could not be rendered.
#[derive(Debug)]
pub enum RenderError {
    /// The frame cannot be made; the text says why, for the user.
    Failed(String),
    /// A call into the host failed; its error goes back to the glue as it was (with its status).
    Host(Box<dyn std::error::Error + Send + Sync>),
}

pub type RenderResult<T> = Result<T, RenderError>;

impl RenderError {
    pub fn failed(message: impl Into<String>) -> Self {
        RenderError::Failed(message.into())
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Failed(message) => f.write_str(message),
            RenderError::Host(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RenderError {}

/// Any error that is not the host's becomes a failed frame with its text.
fn failed(e: impl fmt::Display) -> RenderError {
    RenderError::Failed(e.to_string())
}

/// A source frame read into a tensor, with the pixel rectangle it covers.
pub struct SourceFrame {
    pub frame: Frame,
    pub bounds: Rect,
}

/// The effect's source clip as the host delivers it.
pub trait Source {
    /// The source's frames; `None` when it has none.
    fn range(&self) -> Option<FrameRange>;
    /// Reads frame `t`; `None` when the host has no image there.
    fn read(&mut self, t: i64) -> RenderResult<Option<SourceFrame>>;
}

/// The output image of the frame being rendered, with its render window.
pub trait Output {
    /// The output image's pixel bounds.
    fn bounds(&mut self) -> RenderResult<Rect>;
    /// Its channels: 3 (RGB) or 4 (RGBA).
    fn channels(&mut self) -> RenderResult<usize>;
    /// Writes the part of `frame` (which covers `covers`) inside the render window; window pixels
    /// outside `covers` become black, as OFX expects.
    fn write(&mut self, frame: &Frame, covers: Rect) -> RenderResult<()>;
    /// Copies source frame `source_time` into the render window as it is (bit-exact), black
    /// where the source frame does not reach.
    fn pass_through(&mut self, source_time: f64) -> RenderResult<()>;
}

/// What the host offers a render besides frames.
pub trait Host {
    fn frame_rate(&self) -> Option<f64>;
    /// Whether the host asked the render to stop.
    fn aborted(&self) -> bool;
    fn progress_start(&self, label: &str);
    fn progress(&self, fraction: f64);
    fn progress_end(&self);
}

/// Source frames read during one render, each read once however often the render needs it.
pub struct SourceFrames<'a> {
    source: &'a mut dyn Source,
    fetched: HashMap<i64, Option<Arc<SourceFrame>>>,
}

impl<'a> SourceFrames<'a> {
    pub fn new(source: &'a mut dyn Source) -> Self {
        Self { source, fetched: HashMap::new() }
    }

    /// The frame at `t`, `None` when the host has no image there.
    pub fn get(&mut self, t: i64) -> RenderResult<Option<Arc<SourceFrame>>> {
        if let Some(found) = self.fetched.get(&t) {
            return Ok(found.clone());
        }
        let read = self.source.read(t)?.map(Arc::new);
        self.fetched.insert(t, read.clone());
        Ok(read)
    }
}

/// Renders the frame of `spec` at `time` with `values` (read fresh for this time). Pass-through
/// frames are copied bit-exact; frames that need a model are made or fail with the reason,
/// leaving the output untouched. Ok carries the short status text.
pub fn render_frame(
    spec: &EffectSpec,
    values: &ParamValues,
    time: f64,
    render_scale: (f64, f64),
    source: Option<&mut dyn Source>,
    out: &mut dyn Output,
    host: &dyn Host,
) -> RenderResult<String> {
    let range = source.as_ref().and_then(|s| s.range()).filter(|r| !r.is_empty());
    let connected = source.is_some();
    let not_connected = || RenderError::failed("The Source clip is not connected.");
    let mut frames = source.map(SourceFrames::new);
    let mut plan = spec.plan(values, time, range).map_err(|e| RenderError::Failed(capitalize(&e.to_string())))?;
    if let (FramePlan::Inspect { frame, .. }, Some(frames), Some(range)) = (&plan, frames.as_mut(), range) {
        plan = interpolate::plan_repair(values, *frame, range, frames)?;
    }
    match plan {
        FramePlan::PassThrough { source_time } => {
            if !connected {
                return Err(not_connected());
            }
            match (spec.kind, frames.as_mut()) {
                // Interpolate's confidence matte marks whole frames too.
                (EffectKind::Interpolate, Some(frames)) => interpolate::pass_through(values, frames, source_time, out)?,
                _ => out.pass_through(source_time)?,
            }
            Ok(format!("Pass-through of source frame {}", frame_label(source_time)))
        }
        FramePlan::Model(ModelWork::Interpolate { before, after, fraction }) => {
            let frames = frames.as_mut().ok_or_else(not_connected)?;
            interpolate::render(values, frames, before, after, fraction, out)
        }
        FramePlan::Model(ModelWork::Gap { before, after, frame, context }) => {
            let frames = frames.as_mut().ok_or_else(not_connected)?;
            gap::render(values, frames, (before, after, context), frame, render_scale, out, host)
        }
        FramePlan::Model(ModelWork::Blur { samples, .. }) => {
            let frames = frames.as_mut().ok_or_else(not_connected)?;
            interpolate::render_blur(values, frames, &samples, out)
        }
        FramePlan::Model(work) => {
            let params = generate::ShotParams::read(values).map_err(failed)?;
            let label = spec.label.to_string_lossy();
            generate::render(spec.kind, &label, &params, &work, frames.as_mut(), render_scale, out, host)
        }
        FramePlan::Inspect { .. } => Err(not_connected()),
    }
}

/// Drops everything kept between renders (ONNX sessions, opened models, made frames and shots
/// in memory) for the host's PurgeCaches and Unload; nothing loads again until a render needs it.
pub fn purge_caches() {
    crate::runtime::purge_sessions();
    crate::diffusion::purge_models();
    crate::engine::interpolation::purge_models();
    crate::engine::interpolation::purge_cache();
    crate::engine::generation::purge_cache();
    crate::clip_cache::clip_cache().purge_memory();
    crate::frame_io::pool::global().purge();
}

/// A frame time as people write it: whole frames without a fraction.
pub fn frame_label(t: f64) -> String {
    if t.fract() == 0.0 {
        format!("{t:.0}")
    } else {
        format!("{t}")
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
