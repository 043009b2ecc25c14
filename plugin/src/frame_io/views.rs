//! Checked views of host pixel buffers, and the row bands the conversions walk.
//!
//! Every view validates its geometry once, on construction, so the conversion kernels can index
//! rows without re-checking them.

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::{Components, FrameIoError, PixelDepth, Rect, Result};

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

pub(super) fn check_window(window: Rect, bounds: Rect) -> Result<()> {
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

    pub(super) fn rows(&self, window: Rect) -> Result<Rows<'a>> {
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

    pub(super) fn rows_mut(&mut self, window: Rect) -> Result<RowsMut<'_>> {
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
pub(super) struct Rows<'a> {
    /// From the lowest-address row start to the highest-address row end.
    base: &'a [u8],
    span: Span,
}

impl<'a> Rows<'a> {
    pub(super) fn h(&self) -> usize {
        self.span.h
    }

    /// Row `i` counted from the top of the window.
    #[inline]
    pub(super) fn row(&self, i: usize) -> &'a [u8] {
        let s = &self.span;
        let a = if s.top_down { i } else { s.h - 1 - i };
        &self.base[a * s.stride..a * s.stride + s.len]
    }

    /// The top `k` rows (0 < k < h) and the rest.
    pub(super) fn split_top(self, k: usize) -> (Self, Self) {
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
pub(super) struct RowsMut<'a> {
    /// Start of the lowest-address row.
    ptr: *mut u8,
    span: Span,
    _bytes: PhantomData<&'a mut [u8]>,
}

// SAFETY: a band of rows is an exclusive borrow of disjoint plain bytes.
unsafe impl Send for RowsMut<'_> {}

impl RowsMut<'_> {
    pub(super) fn h(&self) -> usize {
        self.span.h
    }

    #[inline]
    pub(super) fn row_mut(&mut self, i: usize) -> &mut [u8] {
        let s = &self.span;
        assert!(i < s.h, "row {i} outside a band of {} rows", s.h);
        let a = if s.top_down { i } else { s.h - 1 - i };
        // SAFETY: rows `0..h` of the span lie inside the validated buffer and, since
        // stride >= len, never overlap; `&mut self` keeps the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(a * s.stride), s.len) }
    }

    pub(super) fn split_top(self, k: usize) -> (Self, Self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_geometry_is_rejected() {
        use Components::Rgba;
        use PixelDepth::{F32, U8};
        let bytes = vec![0u8; 64];
        let b = Rect::new(0, 0, 2, 2);
        // Row bytes smaller than a row, in either direction.
        let err = ImageView::new(&bytes, 0, 7, b, U8, Rgba).unwrap_err();
        assert_eq!(err.to_string(), "row bytes 7 are smaller than one row of 2 RGBA 8-bit pixels (8 bytes)");
        assert!(matches!(ImageView::new(&bytes, 40, -7, b, U8, Rgba), Err(FrameIoError::RowBytesTooSmall { .. })));
        // Rows past either end of the buffer.
        assert!(matches!(ImageView::new(&bytes, 0, 40, b, F32, Rgba), Err(FrameIoError::RowsOutsideBuffer { .. })));
        assert!(matches!(ImageView::new(&bytes, 8, -16, b, U8, Rgba), Err(FrameIoError::RowsOutsideBuffer { .. })));
        assert!(ImageView::new(&bytes, 16, -16, b, U8, Rgba).is_ok());
        assert!(ImageView::new(&bytes, 56, 0x7fff_ffff, Rect::new(0, 0, 2, 1), U8, Rgba).is_ok());
        assert!(matches!(ImageView::new(&bytes, 65, 8, b, U8, Rgba), Err(FrameIoError::OriginOutOfRange { .. })));
        assert!(matches!(
            ImageView::new(&bytes, 0, 8, Rect::new(0, 2, 2, 1), U8, Rgba),
            Err(FrameIoError::InvertedBounds(_))
        ));
        let mut bytes = bytes;
        assert!(ImageViewMut::new(&mut bytes, 0, 8, b, U8, Rgba).is_ok());
        assert!(matches!(
            ImageViewMut::new(&mut bytes, 0, 64, b, U8, Rgba),
            Err(FrameIoError::RowsOutsideBuffer { .. })
        ));

        // Null and address-space overflow from raw pointers.
        // SAFETY: a null pointer is refused before anything is read.
        let null = unsafe { ImageView::from_raw(std::ptr::null(), 8, b, U8, Rgba) };
        assert_eq!(null.unwrap_err(), FrameIoError::NullData);
        // SAFETY: a null pointer is refused before anything is read or written.
        let null = unsafe { ImageViewMut::from_raw(std::ptr::null_mut(), 8, b, U8, Rgba) };
        assert_eq!(null.unwrap_err(), FrameIoError::NullData);
        let huge = Rect::new(0, 0, 1, i32::MAX);
        // SAFETY: a span larger than the address space is refused before anything is read.
        let r = unsafe { ImageView::from_raw(bytes.as_ptr(), isize::MAX / 4, huge, U8, Rgba) };
        assert!(matches!(r, Err(FrameIoError::TooLarge { .. })));
        // A negative stride that would start below address 0.
        // SAFETY: a span that would start below address 0 is refused before anything is read.
        let r = unsafe { ImageView::from_raw(16 as *const u8, -(1 << 20), Rect::new(0, 0, 1, 3), U8, Rgba) };
        assert!(matches!(r, Err(FrameIoError::TooLarge { .. })));
    }

    #[test]
    fn from_raw_spans_negative_strides() {
        // Bottom row last in memory; the pointer is at the bottom row, rows go down in memory.
        let bytes: Vec<u8> = vec![9, 9, 9, 0, /**/ 1, 2, 3, 0];
        // SAFETY: both rows (bytes 0..3 and 4..7) lie in `bytes`, which outlives the view.
        let view = unsafe {
            ImageView::from_raw(bytes.as_ptr().add(4), -4, Rect::new(0, 0, 1, 2), PixelDepth::U8, Components::Rgb)
        }
        .unwrap();
        assert_eq!(view.row(0), Some(&[1u8, 2, 3][..]));
        assert_eq!(view.row(1), Some(&[9u8, 9, 9][..]));
        assert_eq!(view.row(2), None);
    }
}
