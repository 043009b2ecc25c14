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

mod alloc;
mod kernels;
mod resize;
#[cfg(test)]
mod tests;

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pub use alloc::{try_filled, try_zeroed, OutOfMemory};
pub use resize::{box_blur, resize_bilinear, resize_cover};

/// Images with at least this many pixels in the window are converted on several threads.
/// Below it, thread start-up (tens of µs) costs more than it saves.
pub const PARALLEL_MIN_PIXELS: usize = 256 * 1024;

/// Sample type of a host image (OFX `OfxBitDepthByte`, `OfxBitDepthShort`, `OfxBitDepthFloat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelDepth {
    U8,
    U16,
    F32,
}

impl PixelDepth {
    pub const fn bytes_per_component(self) -> usize {
        match self {
            PixelDepth::U8 => 1,
            PixelDepth::U16 => 2,
            PixelDepth::F32 => 4,
        }
    }
}

impl fmt::Display for PixelDepth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PixelDepth::U8 => "8-bit",
            PixelDepth::U16 => "16-bit",
            PixelDepth::F32 => "32-bit float",
        })
    }
}

/// Interleaved component layout of a host image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Components {
    Rgba,
    Rgb,
}

impl Components {
    pub const fn count(self) -> usize {
        match self {
            Components::Rgba => 4,
            Components::Rgb => 3,
        }
    }
}

impl fmt::Display for Components {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Components::Rgba => "RGBA",
            Components::Rgb => "RGB",
        })
    }
}

/// Half-open integer rectangle in OFX pixel coordinates (y up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
}

impl Rect {
    pub const fn new(x1: i32, y1: i32, x2: i32, y2: i32) -> Self {
        Rect { x1, y1, x2, y2 }
    }

    /// Width in pixels, 0 when empty or inverted (computed in i64: no overflow at i32 extremes).
    pub fn width(&self) -> usize {
        (i64::from(self.x2) - i64::from(self.x1)).max(0) as usize
    }

    pub fn height(&self) -> usize {
        (i64::from(self.y2) - i64::from(self.y1)).max(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.x2 <= self.x1 || self.y2 <= self.y1
    }

    /// True when `x1 > x2` or `y1 > y2` (a malformed rectangle, not merely an empty one).
    pub fn is_inverted(&self) -> bool {
        self.x2 < self.x1 || self.y2 < self.y1
    }

    /// Whether `other` lies entirely inside `self` (edges may touch).
    pub fn contains(&self, other: &Rect) -> bool {
        self.x1 <= other.x1 && other.x2 <= self.x2 && self.y1 <= other.y1 && other.y2 <= self.y2
    }

    /// The overlap of both rectangles, `None` when it is empty.
    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        let r = Rect {
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
            x2: self.x2.min(other.x2),
            y2: self.y2.min(other.y2),
        };
        (!r.is_empty()).then_some(r)
    }
}

impl fmt::Display for Rect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})-({},{})", self.x1, self.y1, self.x2, self.y2)
    }
}

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

/// Validated geometry of a host buffer, shared by both view types.
#[derive(Clone, Copy, Debug)]
struct Layout {
    origin: usize,
    row_bytes: isize,
    bounds: Rect,
    depth: PixelDepth,
    components: Components,
}

/// Where the rows of one window live: `h` rows of `len` bytes, `stride` apart, the lowest-address
/// row starting at byte `start`. `top_down` says whether the lowest address is the top row.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    stride: usize,
    len: usize,
    h: usize,
    top_down: bool,
}

impl Span {
    fn total(&self) -> usize {
        (self.h - 1) * self.stride + self.len
    }
}

impl Layout {
    fn new(
        len: usize,
        origin: usize,
        row_bytes: isize,
        bounds: Rect,
        depth: PixelDepth,
        components: Components,
    ) -> Result<Self> {
        let row_len = row_len(bounds, row_bytes, depth, components)?;
        if origin > len {
            return Err(FrameIoError::OriginOutOfRange { origin, len });
        }
        let h = bounds.height();
        if h > 0 && row_len > 0 {
            // i128 cannot overflow here: |h * row_bytes| < 2^95.
            let last = (h as i128 - 1) * row_bytes as i128;
            let start = origin as i128 + last.min(0);
            let end = origin as i128 + last.max(0) + row_len as i128;
            if start < 0 || end > len as i128 {
                return Err(FrameIoError::RowsOutsideBuffer { bounds, origin, row_bytes, start, end, len });
            }
        }
        Ok(Layout { origin, row_bytes, bounds, depth, components })
    }

    fn pixel_bytes(&self) -> usize {
        self.depth.bytes_per_component() * self.components.count()
    }

    /// Byte layout of `window`'s rows; fails unless the window is non-empty and inside the bounds.
    fn span(&self, window: Rect) -> Result<Span> {
        check_window(window, self.bounds)?;
        let pb = self.pixel_bytes();
        let h = window.height();
        // All offsets below lie inside the buffer validated by `Layout::new`.
        let x_off = (i64::from(window.x1) - i64::from(self.bounds.x1)) as usize * pb;
        let low_y = if self.row_bytes >= 0 { window.y1 } else { window.y2 - 1 };
        let dy = i64::from(low_y) - i64::from(self.bounds.y1);
        let row_start = self.origin as i128 + dy as i128 * self.row_bytes as i128;
        Ok(Span {
            start: row_start as usize + x_off,
            stride: self.row_bytes.unsigned_abs(),
            len: window.width() * pb,
            h,
            top_down: self.row_bytes < 0,
        })
    }

    /// Byte range `[start, end)` of row `y` inside the buffer, `None` outside the bounds.
    fn row_range(&self, y: i32) -> Option<(usize, usize)> {
        if y < self.bounds.y1 || y >= self.bounds.y2 {
            return None;
        }
        let dy = i64::from(y) - i64::from(self.bounds.y1);
        let start = (self.origin as i128 + dy as i128 * self.row_bytes as i128) as usize;
        Some((start, start + self.bounds.width() * self.pixel_bytes()))
    }
}

/// Bytes in one row of `bounds`, after checking the bounds and `row_bytes` make sense.
fn row_len(bounds: Rect, row_bytes: isize, depth: PixelDepth, components: Components) -> Result<usize> {
    if bounds.is_inverted() {
        return Err(FrameIoError::InvertedBounds(bounds));
    }
    let width = bounds.width();
    let pb = depth.bytes_per_component() * components.count();
    let min = width
        .checked_mul(pb)
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or(FrameIoError::TooLarge { bounds, row_bytes })?;
    if row_bytes.unsigned_abs() < min {
        return Err(FrameIoError::RowBytesTooSmall { row_bytes, min, width, depth, components });
    }
    Ok(min)
}

fn check_window(window: Rect, bounds: Rect) -> Result<()> {
    if window.is_empty() {
        return Err(FrameIoError::EmptyWindow(window));
    }
    if !bounds.contains(&window) {
        return Err(FrameIoError::WindowOutsideBounds { window, bounds });
    }
    Ok(())
}

/// For a buffer described by a pointer to its bottom row: `(offset of the lowest row, total span)`.
fn raw_span(bounds: Rect, row_bytes: isize, depth: PixelDepth, components: Components) -> Result<(usize, usize)> {
    let row_len = row_len(bounds, row_bytes, depth, components)?;
    let h = bounds.height();
    if h == 0 || row_len == 0 {
        return Ok((0, 0));
    }
    let too_large = FrameIoError::TooLarge { bounds, row_bytes };
    let rows = (h - 1).checked_mul(row_bytes.unsigned_abs()).ok_or(too_large.clone())?;
    let total = rows.checked_add(row_len).filter(|&n| n <= isize::MAX as usize).ok_or(too_large)?;
    Ok((if row_bytes < 0 { rows } else { 0 }, total))
}

/// Start address of a raw buffer whose bottom row is at `data`, checking the span does not wrap.
fn raw_start(data: usize, below: usize, total: usize, bounds: Rect, row_bytes: isize) -> Result<usize> {
    let start = data.checked_sub(below).ok_or(FrameIoError::TooLarge { bounds, row_bytes })?;
    start.checked_add(total).ok_or(FrameIoError::TooLarge { bounds, row_bytes })?;
    Ok(start)
}

/// Read-only view of a host image.
///
/// `bytes` covers the whole buffer; `origin` is the byte offset of pixel `(bounds.x1, bounds.y1)`,
/// the bottom row. Row `y` starts at `origin + (y - bounds.y1) * row_bytes`.
#[derive(Clone, Copy, Debug)]
pub struct ImageView<'a> {
    bytes: &'a [u8],
    layout: Layout,
}

impl<'a> ImageView<'a> {
    /// Checks that every row of `bounds` lies inside `bytes` and that `|row_bytes|` holds a row.
    pub fn new(
        bytes: &'a [u8],
        origin: usize,
        row_bytes: isize,
        bounds: Rect,
        depth: PixelDepth,
        components: Components,
    ) -> Result<Self> {
        let layout = Layout::new(bytes.len(), origin, row_bytes, bounds, depth, components)?;
        Ok(ImageView { bytes, layout })
    }

    /// View of host memory given as OFX does: `data` (`kOfxImagePropData`) points at the
    /// bottom-left pixel and row `y` starts at `data + (y - bounds.y1) * row_bytes`.
    ///
    /// # Safety
    /// The bytes from the lowest to the highest row of `bounds` (rows `|row_bytes|` apart, in
    /// the direction of its sign) must be one allocation, readable and unwritten for `'a`.
    pub unsafe fn from_raw(
        data: *const u8,
        row_bytes: isize,
        bounds: Rect,
        depth: PixelDepth,
        components: Components,
    ) -> Result<Self> {
        if data.is_null() {
            return Err(FrameIoError::NullData);
        }
        let (below, total) = raw_span(bounds, row_bytes, depth, components)?;
        raw_start(data as usize, below, total, bounds, row_bytes)?;
        // SAFETY: the caller guarantees the rows are readable; `raw_span` computed exactly the
        // span they cover, `raw_start` checked it does not wrap, and `data` is non-null.
        let bytes = unsafe { std::slice::from_raw_parts(data.wrapping_sub(below), total) };
        Self::new(bytes, below, row_bytes, bounds, depth, components)
    }

    pub fn bounds(&self) -> Rect {
        self.layout.bounds
    }
    pub fn depth(&self) -> PixelDepth {
        self.layout.depth
    }
    pub fn components(&self) -> Components {
        self.layout.components
    }
    pub fn row_bytes(&self) -> isize {
        self.layout.row_bytes
    }
    pub fn pixel_bytes(&self) -> usize {
        self.layout.pixel_bytes()
    }

    /// The pixels of row `y` (OFX coordinates), `None` outside the bounds.
    pub fn row(&self, y: i32) -> Option<&'a [u8]> {
        let (start, end) = self.layout.row_range(y)?;
        Some(&self.bytes[start..end])
    }

    fn rows(&self, window: Rect) -> Result<Rows<'a>> {
        let span = self.layout.span(window)?;
        Ok(Rows { base: &self.bytes[span.start..span.start + span.total()], span })
    }
}

/// Writable view of a host image; same geometry as [`ImageView`].
///
/// Holds a raw pointer rather than `&mut [u8]` so that only the rows of the window being written
/// are ever borrowed mutably (hosts may write other windows of the same image concurrently).
#[derive(Debug)]
pub struct ImageViewMut<'a> {
    ptr: NonNull<u8>,
    len: usize,
    layout: Layout,
    _bytes: PhantomData<&'a mut [u8]>,
}

// SAFETY: the view is an exclusive borrow of plain bytes, like `&mut [u8]`.
unsafe impl Send for ImageViewMut<'_> {}
// SAFETY: `&ImageViewMut` gives no access to the pixels at all.
unsafe impl Sync for ImageViewMut<'_> {}

impl<'a> ImageViewMut<'a> {
    pub fn new(
        bytes: &'a mut [u8],
        origin: usize,
        row_bytes: isize,
        bounds: Rect,
        depth: PixelDepth,
        components: Components,
    ) -> Result<Self> {
        let layout = Layout::new(bytes.len(), origin, row_bytes, bounds, depth, components)?;
        let len = bytes.len();
        Ok(ImageViewMut { ptr: NonNull::from(bytes).cast(), len, layout, _bytes: PhantomData })
    }

    /// Writable view of host memory given as OFX does (see [`ImageView::from_raw`]).
    ///
    /// # Safety
    /// The bytes from the lowest to the highest row of `bounds` must be one allocation, valid
    /// for reads and writes for `'a`, and nobody else may access the pixels of the windows this
    /// view writes while a call on it runs. (Other windows of the same image may be written
    /// concurrently through other views: this view only ever borrows the rows it writes.)
    pub unsafe fn from_raw(
        data: *mut u8,
        row_bytes: isize,
        bounds: Rect,
        depth: PixelDepth,
        components: Components,
    ) -> Result<Self> {
        let Some(data) = NonNull::new(data) else {
            return Err(FrameIoError::NullData);
        };
        let (below, total) = raw_span(bounds, row_bytes, depth, components)?;
        raw_start(data.as_ptr() as usize, below, total, bounds, row_bytes)?;
        let layout = Layout::new(total, below, row_bytes, bounds, depth, components)?;
        // `raw_start` checked that `data - below` does not wrap, so the result is non-null.
        let ptr = NonNull::new(data.as_ptr().wrapping_sub(below)).ok_or(FrameIoError::NullData)?;
        Ok(ImageViewMut { ptr, len: total, layout, _bytes: PhantomData })
    }

    pub fn bounds(&self) -> Rect {
        self.layout.bounds
    }
    pub fn depth(&self) -> PixelDepth {
        self.layout.depth
    }
    pub fn components(&self) -> Components {
        self.layout.components
    }
    pub fn row_bytes(&self) -> isize {
        self.layout.row_bytes
    }
    pub fn pixel_bytes(&self) -> usize {
        self.layout.pixel_bytes()
    }

    /// The pixels of row `y` (OFX coordinates), `None` outside the bounds.
    pub fn row_mut(&mut self, y: i32) -> Option<&mut [u8]> {
        let (start, end) = self.layout.row_range(y)?;
        debug_assert!(end <= self.len);
        // SAFETY: `Layout::new` checked that every row of the bounds lies in `ptr[..len]`, and
        // `&mut self` makes this the only borrow made through this view.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(start), end - start) })
    }

    fn rows_mut(&mut self, window: Rect) -> Result<RowsMut<'_>> {
        let span = self.layout.span(window)?;
        debug_assert!(span.start + span.total() <= self.len);
        Ok(RowsMut {
            // SAFETY: `span.start` lies inside the validated buffer.
            ptr: unsafe { self.ptr.as_ptr().add(span.start) },
            span,
            _bytes: PhantomData,
        })
    }
}

/// The rows of one window of a source image, addressed top-down.
#[derive(Clone, Copy)]
struct Rows<'a> {
    /// From the lowest-address row start to the highest-address row end.
    base: &'a [u8],
    span: Span,
}

impl<'a> Rows<'a> {
    fn h(&self) -> usize {
        self.span.h
    }

    /// Row `i` counted from the top of the window.
    #[inline]
    fn row(&self, i: usize) -> &'a [u8] {
        let s = &self.span;
        let a = if s.top_down { i } else { s.h - 1 - i };
        &self.base[a * s.stride..a * s.stride + s.len]
    }

    /// The top `k` rows (0 < k < h) and the rest.
    fn split_top(self, k: usize) -> (Self, Self) {
        let s = self.span;
        let sub = |h| Span { h, ..s };
        let (top, rest) = if s.top_down {
            (&self.base[..(k - 1) * s.stride + s.len], &self.base[k * s.stride..])
        } else {
            (&self.base[(s.h - k) * s.stride..], &self.base[..(s.h - k - 1) * s.stride + s.len])
        };
        (Rows { base: top, span: sub(k) }, Rows { base: rest, span: sub(s.h - k) })
    }
}

/// The rows of one window of a destination image, addressed top-down. Only the `len` bytes of
/// each row are ever borrowed, never the gaps between rows.
struct RowsMut<'a> {
    /// Start of the lowest-address row.
    ptr: *mut u8,
    span: Span,
    _bytes: PhantomData<&'a mut [u8]>,
}

// SAFETY: a band of rows is an exclusive borrow of disjoint plain bytes.
unsafe impl Send for RowsMut<'_> {}

impl RowsMut<'_> {
    fn h(&self) -> usize {
        self.span.h
    }

    #[inline]
    fn row_mut(&mut self, i: usize) -> &mut [u8] {
        let s = &self.span;
        assert!(i < s.h, "row {i} outside a band of {} rows", s.h);
        let a = if s.top_down { i } else { s.h - 1 - i };
        // SAFETY: rows `0..h` of the span lie inside the validated buffer and, since
        // stride >= len, never overlap; `&mut self` keeps the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(a * s.stride), s.len) }
    }

    fn split_top(self, k: usize) -> (Self, Self) {
        let s = self.span;
        let sub = |h| Span { h, ..s };
        let (top, rest) = if s.top_down {
            (self.ptr, self.ptr.wrapping_add(k * s.stride))
        } else {
            (self.ptr.wrapping_add((s.h - k) * s.stride), self.ptr)
        };
        (
            RowsMut { ptr: top, span: sub(k), _bytes: PhantomData },
            RowsMut { ptr: rest, span: sub(s.h - k), _bytes: PhantomData },
        )
    }
}

/// A planar frame tensor of shape `(1, C, H, W)`, rows top-down.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl Frame {
    /// A zeroed frame.
    ///
    /// # Panics
    /// If `channels * height * width` overflows `usize` (as `vec!` would).
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        let n = channels.checked_mul(height).and_then(|n| n.checked_mul(width)).expect("frame size overflows usize");
        Frame { channels, height, width, data: vec![0.0; n] }
    }

    /// Wraps existing planar data, checking its length against the shape.
    pub fn from_vec(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Result<Self> {
        let frame = Frame { channels, height, width, data };
        frame.check_len()?;
        Ok(frame)
    }

    pub fn shape(&self) -> [usize; 4] {
        [1, self.channels, self.height, self.width]
    }

    pub fn plane_len(&self) -> usize {
        self.height * self.width
    }

    /// Channel `c` as a top-down `height * width` slice.
    ///
    /// # Panics
    /// If `c >= channels` or `data` is shorter than the shape says.
    pub fn plane(&self, c: usize) -> &[f32] {
        assert!(c < self.channels, "channel {c} of a {}-channel frame", self.channels);
        let n = self.plane_len();
        &self.data[c * n..(c + 1) * n]
    }

    /// # Panics
    /// As [`Frame::plane`].
    pub fn plane_mut(&mut self, c: usize) -> &mut [f32] {
        assert!(c < self.channels, "channel {c} of a {}-channel frame", self.channels);
        let n = self.plane_len();
        &mut self.data[c * n..(c + 1) * n]
    }

    /// Value of channel `c` at column `x`, row `y` (top-down), `None` out of range.
    pub fn get(&self, c: usize, y: usize, x: usize) -> Option<f32> {
        if c >= self.channels || y >= self.height || x >= self.width {
            return None;
        }
        self.data.get((c * self.height + y) * self.width + x).copied()
    }

    /// The `width`×`height` part of the frame whose top-left pixel is (`x`, `y`) (top-down rows),
    /// `None` when it does not fit inside the frame.
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Option<Frame> {
        if x.checked_add(width)? > self.width || y.checked_add(height)? > self.height {
            return None;
        }
        let mut out = Frame::new(self.channels, height, width);
        for c in 0..self.channels {
            let (src, dst) = (self.plane(c), out.plane_mut(c));
            for row in 0..height {
                let from = (y + row) * self.width + x;
                dst[row * width..(row + 1) * width].copy_from_slice(&src[from..from + width]);
            }
        }
        Some(out)
    }

    /// Ok when `data.len()` matches the shape (the fields are public, so it can drift).
    pub fn check_len(&self) -> Result<()> {
        let expected = self.channels.checked_mul(self.height).and_then(|n| n.checked_mul(self.width));
        if expected != Some(self.data.len()) {
            return Err(FrameIoError::FrameDataLength {
                channels: self.channels,
                height: self.height,
                width: self.width,
                expected: expected.unwrap_or(usize::MAX),
                actual: self.data.len(),
            });
        }
        Ok(())
    }

    /// Splits `data` into four plane slices (the fourth is empty for 3 channels).
    fn planes_mut(&mut self) -> [&mut [f32]; 4] {
        let n = self.plane_len();
        let (r, rest) = self.data.split_at_mut(n);
        let (g, rest) = rest.split_at_mut(n);
        let (b, a) = rest.split_at_mut(n);
        [r, g, b, a]
    }

    fn planes(&self) -> [&[f32]; 4] {
        let n = self.plane_len();
        let (r, rest) = self.data.split_at(n);
        let (g, rest) = rest.split_at(n);
        let (b, a) = rest.split_at(n);
        [r, g, b, a]
    }
}

fn check_channels(channels: usize) -> Result<()> {
    match channels {
        3 | 4 => Ok(()),
        n => Err(FrameIoError::UnsupportedChannels(n)),
    }
}

static MAX_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Caps the threads one conversion may use; 0 (the default) means the machine's parallelism
/// (at most 8), 1 disables threading.
pub fn set_max_threads(n: usize) {
    MAX_THREADS.store(n, Ordering::Relaxed);
}

fn max_threads() -> usize {
    match MAX_THREADS.load(Ordering::Relaxed) {
        0 => {
            static AUTO: OnceLock<usize> = OnceLock::new();
            // available_parallelism reads cgroup files on Linux: look it up once.
            *AUTO.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)))
        }
        n => n,
    }
}

fn threads_for(width: usize, height: usize) -> usize {
    if width.saturating_mul(height) < PARALLEL_MIN_PIXELS {
        1
    } else {
        max_threads().min(height).max(1)
    }
}

/// Reads `window` of `src` into a new top-down frame with `channels` (3 or 4) channels.
pub fn read_frame(src: &ImageView, window: Rect, channels: usize) -> Result<Frame> {
    check_channels(channels)?;
    let mut frame = Frame { channels, ..Frame::default() };
    read_frame_into(src, window, &mut frame)?;
    Ok(frame)
}

/// Reads `window` of `src` into `frame`, keeping `frame.channels` and reshaping it to the window
/// size; the allocation is reused, so a hot loop allocates only when the window grows.
pub fn read_frame_into(src: &ImageView, window: Rect, frame: &mut Frame) -> Result<()> {
    read_frame_into_threads(src, window, frame, threads_for(window.width(), window.height()))
}

fn read_frame_into_threads(src: &ImageView, window: Rect, frame: &mut Frame, threads: usize) -> Result<()> {
    check_channels(frame.channels)?;
    let rows = src.rows(window)?;
    let (w, h) = (window.width(), window.height());
    let too_large = FrameIoError::OutOfMemory { channels: frame.channels, height: h, width: w };
    let n = (frame.channels * h)
        .checked_mul(w)
        .filter(|&n| n <= isize::MAX as usize / std::mem::size_of::<f32>())
        .ok_or(too_large.clone())?;
    // A failed allocation is an error for the host to report, not an abort inside the host.
    if let Some(more) = n.checked_sub(frame.data.len()) {
        frame.data.try_reserve_exact(more).map_err(|_| too_large)?;
    }
    frame.width = w;
    frame.height = h;
    // Stale values are fine: every element is overwritten below.
    frame.data.resize(n, 0.0);
    let kernel = kernels::reader(src.depth(), src.components(), frame.channels);
    run_read(kernel, rows, frame.planes_mut(), w, threads);
    Ok(())
}

/// Writes `frame` into `window` of `dst`; nothing outside the window is touched.
///
/// `u8`/`u16` destinations clamp to `[0, 1]` and round half up (NaN becomes 0); `f32` is
/// written as is.
pub fn write_frame(frame: &Frame, dst: &mut ImageViewMut, window: Rect) -> Result<()> {
    write_frame_threads(frame, dst, window, threads_for(window.width(), window.height()))
}

fn write_frame_threads(frame: &Frame, dst: &mut ImageViewMut, window: Rect, threads: usize) -> Result<()> {
    check_channels(frame.channels)?;
    frame.check_len()?;
    check_window(window, dst.bounds())?;
    let (w, h) = (window.width(), window.height());
    if (frame.width, frame.height) != (w, h) {
        return Err(FrameIoError::FrameSizeMismatch {
            frame_w: frame.width,
            frame_h: frame.height,
            window,
            window_w: w,
            window_h: h,
        });
    }
    let kernel = kernels::writer(dst.depth(), dst.components(), frame.channels);
    let rows = dst.rows_mut(window)?;
    run_write(kernel, rows, frame.planes(), w, threads);
    Ok(())
}

/// Copies `window` from `src` to `dst` bit for bit (pass-through); formats must match.
pub fn copy_pixels(src: &ImageView, dst: &mut ImageViewMut, window: Rect) -> Result<()> {
    copy_pixels_threads(src, dst, window, threads_for(window.width(), window.height()))
}

fn copy_pixels_threads(src: &ImageView, dst: &mut ImageViewMut, window: Rect, threads: usize) -> Result<()> {
    if (src.depth(), src.components()) != (dst.depth(), dst.components()) {
        return Err(FrameIoError::FormatMismatch {
            src_depth: src.depth(),
            src_components: src.components(),
            dst_depth: dst.depth(),
            dst_components: dst.components(),
        });
    }
    let from = src.rows(window)?;
    let to = dst.rows_mut(window)?;
    run_bands(from, to, threads, &|from: Rows, mut to: RowsMut| {
        for i in 0..from.h() {
            to.row_mut(i).copy_from_slice(from.row(i));
        }
    });
    Ok(())
}

/// Splits four planes after `n` elements each (an empty fourth plane stays empty).
fn split_planes_mut(p: [&mut [f32]; 4], n: usize) -> ([&mut [f32]; 4], [&mut [f32]; 4]) {
    let [r, g, b, a] = p;
    let (r0, r1) = r.split_at_mut(n);
    let (g0, g1) = g.split_at_mut(n);
    let (b0, b1) = b.split_at_mut(n);
    let (a0, a1) = a.split_at_mut(n.min(a.len()));
    ([r0, g0, b0, a0], [r1, g1, b1, a1])
}

fn split_planes(p: [&[f32]; 4], n: usize) -> ([&[f32]; 4], [&[f32]; 4]) {
    let [r, g, b, a] = p;
    let (r0, r1) = r.split_at(n);
    let (g0, g1) = g.split_at(n);
    let (b0, b1) = b.split_at(n);
    let (a0, a1) = a.split_at(n.min(a.len()));
    ([r0, g0, b0, a0], [r1, g1, b1, a1])
}

fn run_read(kernel: kernels::ReadBand, rows: Rows, planes: [&mut [f32]; 4], w: usize, threads: usize) {
    let work = (rows, planes);
    run_split(
        work,
        rows.h(),
        threads,
        &|(rows, planes), k| {
            let (top, rest) = rows.split_top(k);
            let (pt, pr) = split_planes_mut(planes, k * w);
            ((top, pt), (rest, pr))
        },
        &|(rows, planes)| kernel(rows, planes, w),
    );
}

fn run_write(kernel: kernels::WriteBand, rows: RowsMut, planes: [&[f32]; 4], w: usize, threads: usize) {
    let h = rows.h();
    run_split(
        (rows, planes),
        h,
        threads,
        &|(rows, planes), k| {
            let (top, rest) = rows.split_top(k);
            let (pt, pr) = split_planes(planes, k * w);
            ((top, pt), (rest, pr))
        },
        &|(rows, planes)| kernel(rows, planes, w),
    );
}

fn run_bands(from: Rows, to: RowsMut, threads: usize, body: &(dyn Fn(Rows, RowsMut) + Sync)) {
    let h = from.h();
    run_split(
        (from, to),
        h,
        threads,
        &|(from, to), k| {
            let (f0, f1) = from.split_top(k);
            let (t0, t1) = to.split_top(k);
            ((f0, t0), (f1, t1))
        },
        &|(from, to)| body(from, to),
    );
}

/// Cuts `work` (h rows) into `threads` bands of whole rows and runs `body` on each, all but the
/// last on scoped threads. If a thread cannot be started, its band runs on this thread.
fn run_split<W: Send>(
    work: W,
    h: usize,
    threads: usize,
    split: &dyn Fn(W, usize) -> (W, W),
    body: &(dyn Fn(W) + Sync),
) {
    let threads = threads.min(h).max(1);
    if threads == 1 {
        body(work);
        return;
    }
    std::thread::scope(|s| {
        let mut rest = work;
        let mut left = h;
        for t in 0..threads - 1 {
            let k = left / (threads - t);
            let (band, tail) = split(rest, k);
            rest = tail;
            left -= k;
            // Shared so the band survives if the thread cannot be started.
            let band = Arc::new(Mutex::new(Some(band)));
            let theirs = Arc::clone(&band);
            let spawned = std::thread::Builder::new().spawn_scoped(s, move || {
                if let Some(b) = theirs.lock().ok().and_then(|mut g| g.take()) {
                    body(b)
                }
            });
            if spawned.is_err() {
                if let Some(b) = band.lock().ok().and_then(|mut g| g.take()) {
                    body(b);
                }
            }
        }
        body(rest);
    });
}
