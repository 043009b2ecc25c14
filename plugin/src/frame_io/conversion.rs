//! Host pixels ⇄ frames: [`read_frame`], [`read_frame_into`], [`write_frame`] and
//! [`copy_pixels`], each dispatched once to a row kernel and run over row bands.

use super::kernels;
use super::threading::{run_split, threads_for};
use super::views::{check_window, Rows, RowsMut};
use super::{Frame, FrameIoError, ImageView, ImageViewMut, Rect, Result};

#[cfg(test)]
mod tests;

fn check_channels(channels: usize) -> Result<()> {
    match channels {
        3 | 4 => Ok(()),
        n => Err(FrameIoError::UnsupportedChannels(n)),
    }
}

/// Reads `window` of `src` into a new top-down frame with `channels` (3 or 4) channels.
pub fn read_frame(src: &ImageView, window: Rect, channels: usize) -> Result<Frame> {
    check_channels(channels)?;
    let mut frame = Frame::default();
    frame.channels = channels;
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
    // Memory a dropped frame left (see `pool`), else a fresh allocation; a failed one is an error
    // for the host to report, not an abort inside the host.
    if frame.data.capacity() < n {
        if let Some(kept) = super::pool::global().take_zeroed(n) {
            super::pool::global().give(std::mem::replace(&mut frame.data, kept));
        }
    }
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
