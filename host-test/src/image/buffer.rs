//! [`PixelBuffer`]: the image memory handed to plugins, bottom-up at the requested row layout, with guard bytes
//! and a canary pattern so writes outside the render window or the allocation are found.

use anyhow::{bail, Result};

use super::{Components, Depth, HostImage, Rect, RowLayout};

/// Bytes written around every host allocation and into every pixel the plugin must not touch.
const CANARY: [u8; 4] = [0xC7, 0x3A, 0x5E, 0xB1];
/// Guard bytes before and after each image allocation.
pub const GUARD_BYTES: usize = 256;

fn canary_at(offset: usize) -> u8 {
    CANARY[offset % CANARY.len()]
}

/// A plugin-visible image buffer: bottom-up rows at a given stride, surrounded by guard bytes.
/// The plugin writes through raw pointers, so the allocation is owned as raw parts and only read back
/// through it after the plugin has returned.
pub struct PixelBuffer {
    ptr: *mut u8,
    len: usize,
    cap: usize,
    pub bounds: Rect,
    pub depth: Depth,
    pub components: Components,
    /// |rowBytes|.
    pub stride: usize,
    pub negative: bool,
}

// SAFETY: the buffer is plain bytes; concurrent access is the plugin's business, as in any host.
unsafe impl Send for PixelBuffer {}
// SAFETY: shared access only reads (`raw`) or hands out the pointer; writes through it are the plugin's, made
// while the host does not read (the host reads back only after the action returns).
unsafe impl Sync for PixelBuffer {}

impl Drop for PixelBuffer {
    fn drop(&mut self) {
        // SAFETY: ptr/len/cap are those of the Vec taken apart in `new`, not freed since.
        let data = unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) };
        super::kept::keep(data);
    }
}

/// `len` bytes of the canary pattern, in a kept allocation when one fits (see `kept`).
fn canary_buffer(len: usize) -> Vec<u8> {
    let mut data = super::kept::with_capacity(len);
    // The pattern doubled by block copies: a byte-by-byte fill of a 4K float buffer took a large
    // share of each clipGetImage.
    data.extend_from_slice(&CANARY[..CANARY.len().min(len)]);
    while data.len() < len {
        let n = data.len().min(len - data.len());
        data.extend_from_within(..n);
    }
    data
}

/// What a canary check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CanaryReport {
    /// Pixels outside the render window whose bytes changed.
    pub pixels_outside_window: usize,
    /// The first such pixel (x, y), in image coordinates.
    pub first_pixel: Option<(i32, i32)>,
    /// Row padding bytes that changed.
    pub padding_bytes: usize,
    pub guard_before: bool,
    pub guard_after: bool,
}

impl CanaryReport {
    pub fn is_clean(&self) -> bool {
        *self == CanaryReport::default()
    }
}

impl PixelBuffer {
    /// A buffer filled entirely with the canary pattern.
    pub fn new(bounds: Rect, depth: Depth, components: Components, layout: RowLayout) -> PixelBuffer {
        let stride = bounds.width() * depth.bytes() * components.count() + layout.padding_bytes;
        let len = GUARD_BYTES * 2 + stride * bounds.height();
        let mut data = std::mem::ManuallyDrop::new(canary_buffer(len));
        let (ptr, cap) = (data.as_mut_ptr(), data.capacity());
        PixelBuffer { ptr, len, cap, bounds, depth, components, stride, negative: layout.negative_row_bytes }
    }

    pub fn bytes_per_pixel(&self) -> usize {
        self.depth.bytes() * self.components.count()
    }
    /// Offset in the allocation of the row at `y - bounds.y1 == row` (0 = bottom).
    fn row_offset(&self, row: usize) -> usize {
        let h = self.bounds.height();
        let mem_row = if self.negative { h - 1 - row } else { row };
        GUARD_BYTES + mem_row * self.stride
    }
    /// kOfxImagePropData: the bottom row.
    pub fn data_ptr(&self) -> *mut u8 {
        if self.bounds.height() == 0 {
            // SAFETY: GUARD_BYTES < len.
            return unsafe { self.ptr.add(GUARD_BYTES) };
        }
        // SAFETY: the offset is inside the allocation.
        unsafe { self.ptr.add(self.row_offset(0)) }
    }
    pub fn row_bytes(&self) -> isize {
        if self.negative {
            -(self.stride as isize)
        } else {
            self.stride as isize
        }
    }
    /// The whole allocation (guards included).
    pub fn raw(&self) -> &[u8] {
        // SAFETY: ptr/len describe our allocation; callers read it only while no plugin call is writing.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
    fn raw_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self means no outstanding readers.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Copies a top-down image of exactly the bounds' size into the rows (padding keeps the canary).
    pub fn fill_from(&mut self, img: &HostImage) -> Result<()> {
        if img.width as usize != self.bounds.width() || img.height as usize != self.bounds.height() {
            bail!("image is {}x{}, buffer is {}x{}", img.width, img.height, self.bounds.width(), self.bounds.height());
        }
        if img.depth != self.depth || img.components != self.components {
            bail!("image format does not match the buffer");
        }
        let row_len = img.row_len();
        let h = self.bounds.height();
        for r in 0..h {
            let off = self.row_offset(h - 1 - r);
            let src = &img.data[r * row_len..(r + 1) * row_len];
            self.raw_mut()[off..off + row_len].copy_from_slice(src);
        }
        Ok(())
    }

    /// Reads the rows back as a top-down image; pixels outside `window` are zeroed.
    pub fn to_host_image(&self, window: Option<Rect>) -> HostImage {
        let (w, h) = (self.bounds.width(), self.bounds.height());
        let mut out = HostImage::new(w as u32, h as u32, self.depth, self.components);
        let bpp = self.bytes_per_pixel();
        let row_len = w * bpp;
        let win = window.unwrap_or(self.bounds).intersect(&self.bounds);
        if win.is_empty() {
            return out; // a window outside the image (see RenderRequest::unclipped_window)
        }
        let raw = self.raw();
        for row in 0..h {
            let y = self.bounds.y1 + row as i32;
            if y < win.y1 || y >= win.y2 {
                continue;
            }
            let off = self.row_offset(row);
            let dst_row = h - 1 - row;
            let x0 = (win.x1 - self.bounds.x1) as usize * bpp;
            let x1 = (win.x2 - self.bounds.x1) as usize * bpp;
            out.data[dst_row * row_len + x0..dst_row * row_len + x1].copy_from_slice(&raw[off + x0..off + x1]);
        }
        out
    }

    /// Checks that nothing outside `window` (pixels, row padding, guards) changed since `new`.
    pub fn check_canary(&self, window: Rect) -> CanaryReport {
        let raw = self.raw();
        let unchanged = |range: std::ops::Range<usize>| range.clone().all(|i| raw[i] == canary_at(i));
        let mut rep = CanaryReport {
            guard_before: !unchanged(0..GUARD_BYTES),
            guard_after: !unchanged(self.len - GUARD_BYTES..self.len),
            ..Default::default()
        };
        let bpp = self.bytes_per_pixel();
        let row_len = self.bounds.width() * bpp;
        for row in 0..self.bounds.height() {
            let y = self.bounds.y1 + row as i32;
            let off = self.row_offset(row);
            if !unchanged(off + row_len..off + self.stride) {
                rep.padding_bytes += (off + row_len..off + self.stride).filter(|&i| raw[i] != canary_at(i)).count();
            }
            // Only the pixels left and right of the window on a row it crosses (all of a row it misses).
            let width = self.bounds.width();
            let (skip_from, skip_to) = if y >= window.y1 && y < window.y2 {
                let clamp = |x: i32| (x - self.bounds.x1).clamp(0, width as i32) as usize;
                (clamp(window.x1), clamp(window.x2).max(clamp(window.x1)))
            } else {
                (width, width)
            };
            for px in (0..skip_from).chain(skip_to..width) {
                let x = self.bounds.x1 + px as i32;
                let p = off + px * bpp;
                if !unchanged(p..p + bpp) {
                    rep.pixels_outside_window += 1;
                    rep.first_pixel.get_or_insert((x, y));
                }
            }
        }
        rep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::gradient;

    #[test]
    fn buffer_round_trip_all_layouts() {
        for layout in [
            RowLayout::default(),
            RowLayout { padding_bytes: 13, negative_row_bytes: false },
            RowLayout { padding_bytes: 0, negative_row_bytes: true },
            RowLayout { padding_bytes: 7, negative_row_bytes: true },
        ] {
            for depth in [Depth::U8, Depth::U16, Depth::F32] {
                let img = gradient(5, 3, depth, Components::Rgba);
                let mut buf = PixelBuffer::new(Rect::new(10, 20, 15, 23), depth, Components::Rgba, layout);
                buf.fill_from(&img).unwrap();
                assert_eq!(buf.to_host_image(None), img, "{layout:?} {depth:?}");
                assert!(buf.check_canary(buf.bounds).is_clean());
                assert_eq!(buf.row_bytes().unsigned_abs(), 5 * 4 * depth.bytes() + layout.padding_bytes);
            }
        }
    }

    #[test]
    fn bottom_row_is_at_the_data_pointer() {
        let img = gradient(2, 2, Depth::U8, Components::Rgba);
        for neg in [false, true] {
            let mut buf = PixelBuffer::new(
                Rect::new(0, 0, 2, 2),
                Depth::U8,
                Components::Rgba,
                RowLayout { padding_bytes: 0, negative_row_bytes: neg },
            );
            buf.fill_from(&img).unwrap();
            // SAFETY: the data pointer starts a row of 2 RGBA u8 pixels, 8 bytes inside the allocation.
            let bottom = unsafe { std::slice::from_raw_parts(buf.data_ptr(), 8) };
            assert_eq!(bottom, &img.data[8..16], "data pointer must be the bottom (last top-down) row");
        }
    }

    #[test]
    fn canary_detects_writes_outside_the_window() {
        for layout in [RowLayout::default(), RowLayout { padding_bytes: 8, negative_row_bytes: true }] {
            let buf = PixelBuffer::new(Rect::new(0, 0, 4, 4), Depth::F32, Components::Rgba, layout);
            let window = Rect::new(1, 1, 3, 3);
            // Writing inside the window is fine.
            // SAFETY: pixel (1, 1) of the 4x4 f32 RGBA image, inside the allocation.
            unsafe {
                let p = buf.data_ptr().offset(buf.row_bytes() + 16) as *mut f32;
                *p = 0.5;
            }
            assert!(buf.check_canary(window).is_clean());
            // Pixel (3, 2) is outside.
            // SAFETY: pixel (3, 2) of the 4x4 image, inside the allocation.
            unsafe {
                let p = buf.data_ptr().offset(buf.row_bytes() * 2 + 3 * 16) as *mut f32;
                *p = 0.5;
            }
            let rep = buf.check_canary(window);
            assert_eq!(rep.pixels_outside_window, 1);
            assert_eq!(rep.first_pixel, Some((3, 2)));
            // One byte before the first row in memory hits the guard.
            let lowest = if layout.negative_row_bytes {
                // SAFETY: row 3 of 4 (the lowest in memory with negative row bytes), inside the allocation.
                unsafe { buf.data_ptr().offset(buf.row_bytes() * 3) }
            } else {
                buf.data_ptr()
            };
            // SAFETY: the byte before the lowest row is a guard byte, inside the allocation.
            unsafe { *lowest.sub(1) ^= 0xFF };
            assert!(buf.check_canary(window).guard_before);
        }
    }
    #[test]
    fn canary_counts_every_written_pixel_outside_a_window_that_overhangs_the_bounds() {
        let bounds = Rect::new(10, 20, 16, 26);
        for window in [Rect::new(8, 22, 13, 30), Rect::new(12, 18, 20, 23), Rect::new(0, 0, 5, 5), bounds] {
            let mut buf = PixelBuffer::new(bounds, Depth::F32, Components::Rgba, RowLayout::default());
            buf.fill_from(&gradient(6, 6, Depth::F32, Components::Rgba)).unwrap();
            let outside = (20..26).flat_map(|y| (10..16).map(move |x| (x, y))).filter(|&(x, y)| !window.contains(x, y));
            assert_eq!(buf.check_canary(window).pixels_outside_window, outside.count(), "{window:?}");
        }
    }
    #[test]
    fn a_reused_allocation_is_all_canary_again() {
        // 1024x512 RGBA f32 (8 MiB): large enough to be kept when released.
        let bounds = Rect::new(0, 0, 1024, 512);
        let mut first = PixelBuffer::new(bounds, Depth::F32, Components::Rgba, RowLayout::default());
        first.fill_from(&gradient(1024, 512, Depth::F32, Components::Rgba)).unwrap();
        drop(first);
        let again = PixelBuffer::new(bounds, Depth::F32, Components::Rgba, RowLayout::default());
        let rep = again.check_canary(Rect::new(0, 0, 0, 0));
        assert!(rep.is_clean() && rep.pixels_outside_window == 0, "{rep:?}");
    }
}
