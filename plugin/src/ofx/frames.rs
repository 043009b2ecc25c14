//! Frames between the host and the engines: source frames fetched through the host (each read
//! once per render into a tensor) and made frames written into the output's render window.

use std::collections::HashMap;
use std::sync::Arc;

use ofx_abi::*;

use super::clip::{Clip, Image};
use super::effect::ImageEffect;
use super::status::{OfxError, OfxResult};
use crate::frame_io::{read_frame, write_frame, Frame, ImageViewMut, Rect};

/// A source frame read into a tensor, with the pixel rectangle it covers.
pub struct SourceFrame {
    pub frame: Frame,
    pub bounds: Rect,
}

/// Source frames fetched during one render, each read once however often the render needs it.
pub struct SourceFrames<'a> {
    clip: &'a Clip,
    fetched: HashMap<i64, Option<Arc<SourceFrame>>>,
}

impl<'a> SourceFrames<'a> {
    pub fn new(clip: &'a Clip) -> Self {
        Self { clip, fetched: HashMap::new() }
    }

    /// The frame at `t`, `None` when the host has no image there.
    pub fn get(&mut self, t: i64) -> OfxResult<Option<Arc<SourceFrame>>> {
        if let Some(found) = self.fetched.get(&t) {
            return Ok(found.clone());
        }
        let read = match self.clip.image(t as f64)? {
            None => None,
            Some(image) => {
                let view = image.view()?;
                let bounds = view.bounds();
                let frame = read_frame(&view, bounds, view.components().count())
                    .map_err(|e| OfxError::failed(format!("Reading source frame {t}: {e}")))?;
                Some(Arc::new(SourceFrame { frame, bounds }))
            }
        };
        self.fetched.insert(t, read.clone());
        Ok(read)
    }
}

/// The host's output image at `time`.
pub(super) fn output_image(effect: &ImageEffect, time: f64) -> OfxResult<Image> {
    effect
        .clip(kOfxImageEffectOutputClipName)?
        .image(time)?
        .ok_or_else(|| OfxError::failed(format!("The host gave no Output image at frame {time}.")))
}

/// Writes the part of `frame` (covering `bounds`) inside `window` into the output view; output
/// pixels of the window that `bounds` does not cover become black, as OFX expects.
pub(super) fn write_window(view: &mut ImageViewMut, frame: &Frame, bounds: Rect, window: Rect) -> OfxResult<()> {
    let Some(window) = window.intersect(&view.bounds()) else { return Ok(()) };
    let covered = window.intersect(&bounds);
    if covered != Some(window) {
        super::actions::clear_outside(view, window, covered);
    }
    let Some(covered) = covered else { return Ok(()) };
    let written = if covered == bounds {
        // The usual case (tiles off): the whole frame, no copy.
        write_frame(frame, view, covered)
    } else {
        // Frame rows are top-down; OFX rows count up from bounds.y1.
        let part = frame
            .crop(
                (covered.x1 - bounds.x1) as usize,
                (bounds.y2 - covered.y2) as usize,
                covered.width(),
                covered.height(),
            )
            .ok_or_else(|| OfxError::failed("internal: the made frame does not cover the window"))?;
        write_frame(&part, view, covered)
    };
    written.map_err(|e| OfxError::failed(format!("Writing the output: {e}")))
}
