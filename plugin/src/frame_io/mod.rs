//! Host pixel buffers ⇄ planar `f32` frame tensors.
//!
//! This module knows nothing of OFX or ONNX: the OFX glue turns the host's image properties into an
//! [`ImageView`] / [`ImageViewMut`] and calls [`read_frame`], [`write_frame`] or [`copy_pixels`].
//!
//! # Conventions
//! - **Coordinates** are OFX pixel coordinates: y points up, rectangles are half-open
//!   (`x1 <= x < x2`, `y1 <= y < y2`), and images may start anywhere (negative bounds are normal).
//! - **Rows in memory are bottom-up**: the view's `origin` is pixel `(bounds.x1, bounds.y1)`, the
//!   *bottom* row, and row `y` starts at `origin + (y - bounds.y1) * row_bytes`. `row_bytes` may be
//!   padded or negative (a top-down buffer described bottom-up).
//! - **Frames are top-down and planar**: shape `(1, C, H, W)`, row 0 is the top of the picture, as
//!   ONNX image models expect. `u8`/`u16` samples map to `[0, 1]`; `f32` samples pass through
//!   untouched (scene-linear values may be negative or exceed 1, and must survive a round trip).
//! - **Render scale**: frames carry no scale. The OFX glue passes bounds and windows already in
//!   render-scaled pixel coordinates (what the host gives for a proxy render), so a half-res
//!   render simply yields a half-size frame; models that need a fixed size use [`resize_bilinear`].
//! - **Alpha**: an RGB source read as 4 channels gets alpha 1.0; an RGBA source read as 3 channels
//!   drops alpha. Writing 3 channels into an RGBA image writes opaque alpha; writing 4 channels into
//!   an RGB image drops alpha.
//!
//! # Speed
//! Depth, component layout and channel count are dispatched once per call to a monomorphised row
//! kernel (no per-pixel branches or bounds checks), and images of at least
//! [`PARALLEL_MIN_PIXELS`] pixels are split into row bands over scoped threads (see
//! [`set_max_threads`]; hosts that already render on many threads may want 1).
//!
//! # Host threads writing one image
//! OFX hosts may render disjoint windows of the *same* output image on several threads at once.
//! [`ImageViewMut`] therefore never holds a `&mut` over the whole buffer: it materialises mutable
//! slices only for the window rows a call writes, so concurrent calls on disjoint windows are sound.
//!
//! # Parts
//! `geometry` (depth, components, rectangles), `views` (checked host buffers and their row
//! bands), `frame` (the tensor), `conversion` (read, write, copy), `kernels` (the per-format row
//! loops), `threading` (row bands over threads), `resize`, `alloc` and `pool` (frame memory kept for the
//! next frame).

mod alloc;
mod conversion;
mod frame;
mod geometry;
mod kernels;
pub mod pool;
mod resize;
mod threading;
mod views;

pub use alloc::{try_filled, try_zeroed, OutOfMemory};
pub use conversion::{copy_pixels, read_frame, read_frame_into, write_frame};
pub use frame::Frame;
pub use geometry::{Components, PixelDepth, Rect};
pub use resize::{box_blur, resize_bilinear, resize_cover};
pub use threading::{set_max_threads, PARALLEL_MIN_PIXELS};
pub use views::{ImageView, ImageViewMut};

/// Everything that can go wrong converting pixels; every message names the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameIoError {
    #[error("image data pointer is null")]
    NullData,
    #[error("image bounds {0} are inverted (x2 < x1 or y2 < y1)")]
    InvertedBounds(Rect),
    #[error("row bytes {row_bytes} are smaller than one row of {width} {components} {depth} pixels ({min} bytes)")]
    RowBytesTooSmall { row_bytes: isize, min: usize, width: usize, depth: PixelDepth, components: Components },
    #[error("image origin offset {origin} is past the end of the {len}-byte buffer")]
    OriginOutOfRange { origin: usize, len: usize },
    #[error(
        "image rows of bounds {bounds} (origin {origin}, row bytes {row_bytes}) span bytes {start}..{end}, outside the {len}-byte buffer"
    )]
    RowsOutsideBuffer { bounds: Rect, origin: usize, row_bytes: isize, start: i128, end: i128, len: usize },
    #[error("image of bounds {bounds} with row bytes {row_bytes} does not fit in the address space")]
    TooLarge { bounds: Rect, row_bytes: isize },
    #[error("render window {0} is empty")]
    EmptyWindow(Rect),
    #[error("render window {window} is outside the image bounds {bounds}")]
    WindowOutsideBounds { window: Rect, bounds: Rect },
    #[error("cannot allocate a {channels}x{height}x{width} f32 frame")]
    OutOfMemory { channels: usize, height: usize, width: usize },
    #[error("frame has {0} channels; only 3 (RGB) or 4 (RGBA) are supported")]
    UnsupportedChannels(usize),
    #[error("frame is {frame_w}x{frame_h} but the render window {window} is {window_w}x{window_h}")]
    FrameSizeMismatch { frame_w: usize, frame_h: usize, window: Rect, window_w: usize, window_h: usize },
    #[error("frame data holds {actual} values but its shape (1,{channels},{height},{width}) needs {expected}")]
    FrameDataLength { channels: usize, height: usize, width: usize, expected: usize, actual: usize },
    #[error(
        "pass-through needs identical pixel formats, but the source is {src_components} {src_depth} and the destination is {dst_components} {dst_depth}"
    )]
    FormatMismatch {
        src_depth: PixelDepth,
        src_components: Components,
        dst_depth: PixelDepth,
        dst_components: Components,
    },
}

pub type Result<T, E = FrameIoError> = std::result::Result<T, E>;
