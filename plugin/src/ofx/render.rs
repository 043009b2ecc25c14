//! The host's side of a render: the source clip, the output image and the host's progress and
//! abort, adapted to the render layer's [`Source`], [`Output`] and [`Host`]. The frame itself is
//! made by [`crate::render`]; nothing here knows what an effect does.

use ofx_abi::*;

use super::clip::{Clip, Image};
use super::effect::ImageEffect;
use super::status::OfxError;
use crate::effects::FrameRange;
use crate::frame_io::{copy_pixels, read_frame, write_frame, Frame, ImageViewMut, Rect};
use crate::render::{frame_label, Host, Output, RenderError, RenderResult, Source, SourceFrame};

/// A host error travels through the render layer unchanged, with its status.
impl From<OfxError> for RenderError {
    fn from(e: OfxError) -> Self {
        RenderError::Host(Box::new(e))
    }
}

/// A render error as the host sees it: a host error with the status it had, anything else a
/// failed render with its reason.
pub fn ofx_error(e: RenderError) -> OfxError {
    match e {
        RenderError::Failed(message) => OfxError::failed(message),
        RenderError::Host(e) => match e.downcast::<OfxError>() {
            Ok(e) => *e,
            Err(e) => OfxError::failed(e.to_string()),
        },
    }
}

/// The effect's source clip.
pub struct HostSource<'a> {
    pub clip: &'a Clip,
}

impl Source for HostSource<'_> {
    fn range(&self) -> Option<FrameRange> {
        self.clip.frame_range().ok()
    }

    fn read(&mut self, t: i64) -> RenderResult<Option<SourceFrame>> {
        let Some(image) = self.clip.image(t as f64)? else { return Ok(None) };
        let view = image.view()?;
        let bounds = view.bounds();
        let frame = read_frame(&view, bounds, view.components().count())
            .map_err(|e| RenderError::failed(format!("Reading source frame {t}: {e}")))?;
        Ok(Some(SourceFrame { frame, bounds }))
    }
}

/// The output image at `time` (fetched from the host once, when first needed), its render
/// window, and the source clip pass-through copies from.
pub struct HostOutput<'a> {
    pub effect: &'a ImageEffect,
    pub source: Option<&'a Clip>,
    pub time: f64,
    pub window: Rect,
    image: Option<Image>,
}

impl<'a> HostOutput<'a> {
    pub fn new(effect: &'a ImageEffect, source: Option<&'a Clip>, time: f64, window: Rect) -> Self {
        Self { effect, source, time, window, image: None }
    }

    fn view(&mut self) -> RenderResult<ImageViewMut<'_>> {
        let image = match &mut self.image {
            Some(image) => image,
            slot => {
                let image = self.effect.clip(kOfxImageEffectOutputClipName)?.image(self.time)?.ok_or_else(|| {
                    RenderError::failed(format!("The host gave no Output image at frame {}.", frame_label(self.time)))
                })?;
                slot.insert(image)
            }
        };
        Ok(image.view_mut()?)
    }
}

impl Output for HostOutput<'_> {
    fn bounds(&mut self) -> RenderResult<Rect> {
        Ok(self.view()?.bounds())
    }

    fn channels(&mut self) -> RenderResult<usize> {
        Ok(self.view()?.components().count())
    }

    fn write(&mut self, frame: &Frame, covers: Rect) -> RenderResult<()> {
        let window = self.window;
        write_window(&mut self.view()?, frame, covers, window)
    }

    fn pass_through(&mut self, source_time: f64) -> RenderResult<()> {
        let source = self.source.ok_or_else(|| RenderError::failed("The Source clip is not connected."))?;
        let src = source.image(source_time)?.ok_or_else(|| {
            RenderError::failed(format!("The host gave no Source image at frame {}.", frame_label(source_time)))
        })?;
        let src_view = src.view()?;
        let window = self.window;
        let mut out_view = self.view()?;
        let Some(window) = window.intersect(&out_view.bounds()) else { return Ok(()) };
        let copied = window.intersect(&src_view.bounds());
        if copied != Some(window) {
            clear_outside(&mut out_view, window, copied);
        }
        if let Some(copied) = copied {
            copy_pixels(&src_view, &mut out_view, copied)
                .map_err(|e| RenderError::failed(format!("Pass-through of frame {}: {e}", frame_label(source_time))))?;
        }
        Ok(())
    }
}

/// Progress, abort and frame rate through the effect's host.
pub struct HostServices<'a>(pub &'a ImageEffect);

impl Host for HostServices<'_> {
    fn frame_rate(&self) -> Option<f64> {
        self.0.frame_rate()
    }

    fn aborted(&self) -> bool {
        self.0.abort()
    }

    fn progress_start(&self, label: &str) {
        let _ = self.0.progress_start(label);
    }

    fn progress(&self, fraction: f64) {
        let _ = self.0.progress_update(fraction);
    }

    fn progress_end(&self) {
        let _ = self.0.progress_end();
    }
}

/// Writes the part of `frame` (covering `bounds`) inside `window` into the output view; output
/// pixels of the window that `bounds` does not cover become black, as OFX expects.
fn write_window(view: &mut ImageViewMut, frame: &Frame, bounds: Rect, window: Rect) -> RenderResult<()> {
    let Some(window) = window.intersect(&view.bounds()) else { return Ok(()) };
    let covered = window.intersect(&bounds);
    if covered != Some(window) {
        clear_outside(view, window, covered);
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
            .ok_or_else(|| RenderError::failed("internal: the made frame does not cover the window"))?;
        write_frame(&part, view, covered)
    };
    written.map_err(|e| RenderError::failed(format!("Writing the output: {e}")))
}

/// Zeroes the pixels of `window` outside `keep` (which lies inside it).
fn clear_outside(out: &mut ImageViewMut, window: Rect, keep: Option<Rect>) {
    let px = out.pixel_bytes();
    let bounds = out.bounds();
    for y in window.y1..window.y2 {
        let Some(row) = out.row_mut(y) else { continue };
        let byte = |x: i32| (x - bounds.x1) as usize * px;
        match keep {
            Some(k) if y >= k.y1 && y < k.y2 => {
                row[byte(window.x1)..byte(k.x1)].fill(0);
                row[byte(k.x2)..byte(window.x2)].fill(0);
            }
            _ => row[byte(window.x1)..byte(window.x2)].fill(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_io::{Components, PixelDepth};

    #[test]
    fn clearing_outside_keeps_the_inside_and_zeroes_the_rest() {
        let bounds = Rect::new(0, 0, 4, 4);
        let mut bytes = vec![7u8; 16 * 4];
        {
            let mut view = ImageViewMut::new(&mut bytes, 0, 16, bounds, PixelDepth::U8, Components::Rgba).unwrap();
            clear_outside(&mut view, Rect::new(0, 0, 4, 4), Some(Rect::new(1, 1, 3, 3)));
        }
        for y in 0..4 {
            for x in 0..4 {
                let inside = (1..3).contains(&x) && (1..3).contains(&y);
                let px = &bytes[y * 16 + x * 4..y * 16 + x * 4 + 4];
                assert_eq!(px, if inside { [7; 4] } else { [0; 4] }, "({x},{y})");
            }
        }
    }

    #[test]
    fn host_errors_keep_their_status_through_the_render_layer() {
        let host = OfxError::new(kOfxStatErrMemory, "no memory for the image");
        assert_eq!(ofx_error(RenderError::from(host.clone())), host);
        let failed = ofx_error(RenderError::failed("Enter a prompt"));
        assert_eq!((failed.status, failed.message.as_str()), (kOfxStatFailed, "Enter a prompt"));
    }
}
