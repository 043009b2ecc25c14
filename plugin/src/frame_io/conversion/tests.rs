//! Tests of the conversions: property round trips over every format and layout, plus
//! hand-checked numbers and every error path.

use super::*;
use crate::frame_io::{Components, PixelDepth};
use proptest::prelude::*;

/// A host-like buffer: `slack` bytes around the rows, `pad` bytes after each row, rows stored
/// bottom-up (`row_bytes > 0`) or top-down (`row_bytes < 0`).
#[derive(Clone, Debug)]
struct Buf {
    bytes: Vec<u8>,
    origin: usize,
    row_bytes: isize,
    bounds: Rect,
    depth: PixelDepth,
    components: Components,
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    pad: usize,
    negative: bool,
    before: usize,
    after: usize,
}

const CANARY: u8 = 0xA5;

impl Buf {
    fn new(bounds: Rect, depth: PixelDepth, components: Components, shape: Shape) -> Self {
        let pb = depth.bytes_per_component() * components.count();
        let row_len = bounds.width() * pb;
        let stride = row_len + shape.pad;
        let h = bounds.height();
        let rows = (h - 1) * stride + row_len;
        let origin = shape.before + if shape.negative { (h - 1) * stride } else { 0 };
        let row_bytes = if shape.negative { -(stride as isize) } else { stride as isize };
        Buf { bytes: vec![CANARY; shape.before + rows + shape.after], origin, row_bytes, bounds, depth, components }
    }

    fn pb(&self) -> usize {
        self.depth.bytes_per_component() * self.components.count()
    }

    /// Byte offset of component `c` of pixel (x, y), computed independently of the module.
    fn offset(&self, x: i32, y: i32, c: usize) -> usize {
        let row = self.origin as isize + (y - self.bounds.y1) as isize * self.row_bytes;
        row as usize + (x - self.bounds.x1) as usize * self.pb() + c * self.depth.bytes_per_component()
    }

    fn component(&self, x: i32, y: i32, c: usize) -> &[u8] {
        let o = self.offset(x, y, c);
        &self.bytes[o..o + self.depth.bytes_per_component()]
    }

    /// Reference decode of one component.
    fn value(&self, x: i32, y: i32, c: usize) -> f32 {
        let b = self.component(x, y, c);
        match self.depth {
            PixelDepth::U8 => b[0] as f32 / 255.0,
            PixelDepth::U16 => u16::from_ne_bytes([b[0], b[1]]) as f32 / 65535.0,
            PixelDepth::F32 => f32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        }
    }

    /// Fills every pixel of the bounds (not the padding) with pseudo-random samples; floats
    /// include negatives, values above 1, subnormals, infinities, NaNs and raw bit patterns.
    fn fill(&mut self, seed: u64) {
        let mut rng = seed | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        const SPECIAL: [f32; 12] =
            [0.0, -0.0, 1.0, -1.0, 2.5, 1.0e30, -3.75, 1.0e-40, -1.0e-42, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        let (b, n) = (self.bounds, self.components.count());
        for y in b.y1..b.y2 {
            for x in b.x1..b.x2 {
                for c in 0..n {
                    let r = next();
                    let o = self.offset(x, y, c);
                    match self.depth {
                        PixelDepth::U8 => self.bytes[o] = r as u8,
                        PixelDepth::U16 => self.bytes[o..o + 2].copy_from_slice(&(r as u16).to_ne_bytes()),
                        PixelDepth::F32 => {
                            let v = match r % 4 {
                                0 => f32::from_bits((r >> 32) as u32),
                                1 => (r >> 40) as f32 / (1u64 << 22) as f32 - 2.0,
                                _ => SPECIAL[(r >> 8) as usize % SPECIAL.len()],
                            };
                            self.bytes[o..o + 4].copy_from_slice(&v.to_ne_bytes());
                        }
                    }
                }
            }
        }
    }

    fn view(&self) -> ImageView<'_> {
        ImageView::new(&self.bytes, self.origin, self.row_bytes, self.bounds, self.depth, self.components).unwrap()
    }

    fn view_mut(&mut self) -> ImageViewMut<'_> {
        ImageViewMut::new(&mut self.bytes, self.origin, self.row_bytes, self.bounds, self.depth, self.components)
            .unwrap()
    }

    /// The same views built the way the OFX glue does, from the bottom-left pixel pointer.
    fn raw_view(&self) -> ImageView<'_> {
        // SAFETY: `origin` and `row_bytes` describe rows inside `bytes`, borrowed for the view's life.
        unsafe {
            ImageView::from_raw(
                self.bytes.as_ptr().add(self.origin),
                self.row_bytes,
                self.bounds,
                self.depth,
                self.components,
            )
        }
        .unwrap()
    }

    fn raw_view_mut(&mut self) -> ImageViewMut<'_> {
        // SAFETY: `origin` and `row_bytes` describe rows inside `bytes`, borrowed mutably for the
        // view's life.
        unsafe {
            let data = self.bytes.as_mut_ptr().add(self.origin);
            ImageViewMut::from_raw(data, self.row_bytes, self.bounds, self.depth, self.components)
        }
        .unwrap()
    }
}

fn opaque(depth: PixelDepth) -> Vec<u8> {
    match depth {
        PixelDepth::U8 => vec![0xff],
        PixelDepth::U16 => vec![0xff, 0xff],
        PixelDepth::F32 => 1.0f32.to_ne_bytes().to_vec(),
    }
}

fn depth() -> impl Strategy<Value = PixelDepth> {
    prop_oneof![Just(PixelDepth::U8), Just(PixelDepth::U16), Just(PixelDepth::F32)]
}

fn components() -> impl Strategy<Value = Components> {
    prop_oneof![Just(Components::Rgba), Just(Components::Rgb)]
}

fn shape() -> impl Strategy<Value = Shape> {
    (0usize..9, any::<bool>(), 0usize..6, 0usize..6).prop_map(|(pad, negative, before, after)| Shape {
        pad,
        negative,
        before,
        after,
    })
}

fn bounds() -> impl Strategy<Value = Rect> {
    (-20i32..20, -20i32..20, 1i32..11, 1i32..11).prop_map(|(x, y, w, h)| Rect::new(x, y, x + w, y + h))
}

fn window_in(b: Rect) -> impl Strategy<Value = Rect> {
    (b.x1..b.x2, b.y1..b.y2)
        .prop_flat_map(move |(x1, y1)| (Just(x1), Just(y1), x1 + 1..=b.x2, y1 + 1..=b.y2))
        .prop_map(|(x1, y1, x2, y2)| Rect::new(x1, y1, x2, y2))
}

#[derive(Clone, Debug)]
struct Case {
    depth: PixelDepth,
    components: Components,
    channels: usize,
    src_bounds: Rect,
    window: Rect,
    /// Destination bounds: the window grown by a random margin on each side.
    dst_bounds: Rect,
    src_shape: Shape,
    dst_shape: Shape,
    seed: u64,
    threads: usize,
    raw: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let head = (depth(), components(), prop_oneof![Just(3usize), Just(4)], bounds(), shape(), shape());
    let tail = ([0i32..3, 0i32..3, 0i32..3, 0i32..3], any::<u64>(), 1usize..5, any::<bool>());
    (head, tail).prop_flat_map(|(head, tail)| (Just(head), Just(tail), window_in(head.3))).prop_map(
        |((depth, components, channels, src_bounds, src_shape, dst_shape), (m, seed, threads, raw), window)| Case {
            depth,
            components,
            channels,
            src_bounds,
            window,
            dst_bounds: Rect::new(window.x1 - m[0], window.y1 - m[1], window.x2 + m[2], window.y2 + m[3]),
            src_shape,
            dst_shape,
            seed,
            threads,
            raw,
        },
    )
}

impl Case {
    fn src(&self) -> Buf {
        let mut src = Buf::new(self.src_bounds, self.depth, self.components, self.src_shape);
        src.fill(self.seed);
        src
    }

    fn dst(&self) -> Buf {
        Buf::new(self.dst_bounds, self.depth, self.components, self.dst_shape)
    }

    fn read(&self, src: &Buf) -> Frame {
        let view = if self.raw { src.raw_view() } else { src.view() };
        let mut frame = Frame::from_vec(self.channels, 0, 0, Vec::new()).unwrap();
        read_frame_into_threads(&view, self.window, &mut frame, self.threads).unwrap();
        frame
    }
}

/// Asserts `dst` equals a canary-filled buffer with only the window pixels set by `expect`.
fn assert_only_window_written(dst: &Buf, window: Rect, expect: impl Fn(i32, i32, usize) -> Vec<u8>) {
    let mut want = vec![CANARY; dst.bytes.len()];
    for y in window.y1..window.y2 {
        for x in window.x1..window.x2 {
            for c in 0..dst.components.count() {
                let o = dst.offset(x, y, c);
                let bytes = expect(x, y, c);
                want[o..o + bytes.len()].copy_from_slice(&bytes);
            }
        }
    }
    if let Some(i) = (0..want.len()).find(|&i| want[i] != dst.bytes[i]) {
        panic!("byte {i} is {:#04x}, expected {:#04x}", dst.bytes[i], want[i]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every frame value equals an independent decode of the pixel it should come from
    /// (top-down rows, window offset, alpha rules), bit for bit.
    #[test]
    fn read_matches_reference(case in case()) {
        let src = case.src();
        let frame = case.read(&src);
        let w = case.window;
        prop_assert_eq!(frame.shape(), [1, case.channels, w.height(), w.width()]);
        prop_assert_eq!(frame.data.len(), case.channels * w.height() * w.width());
        for y in w.y1..w.y2 {
            for x in w.x1..w.x2 {
                let (row, col) = ((w.y2 - 1 - y) as usize, (x - w.x1) as usize);
                for c in 0..case.channels {
                    let want = if c < case.components.count() { src.value(x, y, c) } else { 1.0 };
                    let got = frame.get(c, row, col).unwrap();
                    prop_assert_eq!(got.to_bits(), want.to_bits(), "channel {} at ({},{})", c, x, y);
                }
            }
        }
    }

    /// read then write restores the window exactly (u8/u16 exact, f32 bit-exact), writes opaque
    /// alpha where the frame had none, and leaves every other byte of the destination alone.
    #[test]
    fn round_trip_is_exact_and_confined_to_window(case in case()) {
        let src = case.src();
        let frame = case.read(&src);
        let mut dst = case.dst();
        {
            let mut view = if case.raw { dst.raw_view_mut() } else { dst.view_mut() };
            write_frame_threads(&frame, &mut view, case.window, case.threads).unwrap();
        }
        let alpha_from_frame = case.channels == 4;
        assert_only_window_written(&dst, case.window, |x, y, c| {
            if c < 3 || alpha_from_frame {
                src.component(x, y, c).to_vec()
            } else {
                opaque(case.depth)
            }
        });
    }

    /// Pass-through is a bit-exact copy of the window and nothing else.
    #[test]
    fn copy_pixels_is_bit_exact(case in case()) {
        let src = case.src();
        let mut dst = case.dst();
        {
            let from = if case.raw { src.raw_view() } else { src.view() };
            let mut to = if case.raw { dst.raw_view_mut() } else { dst.view_mut() };
            copy_pixels_threads(&from, &mut to, case.window, case.threads).unwrap();
        }
        assert_only_window_written(&dst, case.window, |x, y, c| src.component(x, y, c).to_vec());
    }

    /// Windows that stick out of the bounds are rejected, never read past the buffer.
    #[test]
    fn windows_outside_bounds_are_errors(case in case(), dx in -3i32..3, dy in -3i32..3, grow in 1i32..3) {
        let src = case.src();
        let b = case.src_bounds;
        let window = Rect::new(b.x1 + dx, b.y1 + dy, b.x2 + dx + grow, b.y2 + dy);
        let err = read_frame(&src.view(), window, case.channels).unwrap_err();
        prop_assert_eq!(err, FrameIoError::WindowOutsideBounds { window, bounds: b });
    }
}

fn u8_buf(bounds: Rect, components: Components, shape: Shape) -> Buf {
    Buf::new(bounds, PixelDepth::U8, components, shape)
}

const PLAIN: Shape = Shape { pad: 0, negative: false, before: 0, after: 0 };

#[test]
fn two_by_two_u8_bottom_row_lands_last() {
    // Memory order: bottom row (y = 0) first, as OFX stores it.
    let bytes: Vec<u8> = vec![
        10, 20, 30, 40, /**/ 50, 60, 70, 80, // y = 0 (bottom)
        90, 100, 110, 120, /**/ 130, 140, 150, 160, // y = 1 (top)
    ];
    let view = ImageView::new(&bytes, 0, 8, Rect::new(0, 0, 2, 2), PixelDepth::U8, Components::Rgba).unwrap();
    let frame = read_frame(&view, Rect::new(0, 0, 2, 2), 4).unwrap();
    let v = |b: u8| b as f32 / 255.0;
    assert_eq!(frame.shape(), [1, 4, 2, 2]);
    // Tensor row 0 is the top of the picture.
    assert_eq!(frame.plane(0), &[v(90), v(130), v(10), v(50)]);
    assert_eq!(frame.plane(1), &[v(100), v(140), v(20), v(60)]);
    assert_eq!(frame.plane(2), &[v(110), v(150), v(30), v(70)]);
    assert_eq!(frame.plane(3), &[v(120), v(160), v(40), v(80)]);

    let mut out = vec![0u8; 16];
    let mut dst = ImageViewMut::new(&mut out, 0, 8, Rect::new(0, 0, 2, 2), PixelDepth::U8, Components::Rgba).unwrap();
    write_frame(&frame, &mut dst, Rect::new(0, 0, 2, 2)).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn negative_row_bytes_reads_a_top_down_buffer() {
    // A top-down buffer: the top row first in memory; origin points at the bottom row.
    let bytes: Vec<u8> = vec![1, 2, 3, /**/ 4, 5, 6]; // top row (y = 1), then bottom (y = 0)
    let view = ImageView::new(&bytes, 3, -3, Rect::new(0, 0, 1, 2), PixelDepth::U8, Components::Rgb).unwrap();
    assert_eq!(view.row(0), Some(&[4u8, 5, 6][..]));
    assert_eq!(view.row(1), Some(&[1u8, 2, 3][..]));
    let frame = read_frame(&view, Rect::new(0, 0, 1, 2), 4).unwrap();
    assert_eq!(frame.plane(0), &[1.0 / 255.0, 4.0 / 255.0]);
    assert_eq!(frame.plane(3), &[1.0, 1.0], "RGB read as RGBA is opaque");
}

#[test]
fn offset_bounds_and_sub_window() {
    // Bounds start at (-5, 3); read the single pixel (-4, 4) of a 3x3 u16 RGB image.
    let bounds = Rect::new(-5, 3, -2, 6);
    let mut buf =
        Buf::new(bounds, PixelDepth::U16, Components::Rgb, Shape { pad: 2, negative: false, before: 4, after: 0 });
    let o = buf.offset(-4, 4, 0);
    for (c, v) in [0u16, 32768, 65535].iter().enumerate() {
        buf.bytes[o + 2 * c..o + 2 * c + 2].copy_from_slice(&v.to_ne_bytes());
    }
    let frame = read_frame(&buf.view(), Rect::new(-4, 4, -3, 5), 3).unwrap();
    assert_eq!(frame.data, vec![0.0, 32768.0 / 65535.0, 1.0]);
}

#[test]
fn white_is_exactly_one() {
    let bytes = [255u8, 255, 255];
    let view = ImageView::new(&bytes, 0, 3, Rect::new(0, 0, 1, 1), PixelDepth::U8, Components::Rgb).unwrap();
    assert_eq!(read_frame(&view, Rect::new(0, 0, 1, 1), 3).unwrap().data, vec![1.0; 3]);
    let bytes: Vec<u8> = [u16::MAX; 3].iter().flat_map(|v| v.to_ne_bytes()).collect();
    let view = ImageView::new(&bytes, 0, 6, Rect::new(0, 0, 1, 1), PixelDepth::U16, Components::Rgb).unwrap();
    assert_eq!(read_frame(&view, Rect::new(0, 0, 1, 1), 3).unwrap().data, vec![1.0; 3]);
}

#[test]
fn quantisation_rounds_half_up_clamps_and_zeroes_nan() {
    let values = [-1.0, f32::NAN, 0.5, 0.25, 0.75, 2.0, 0.998, f32::INFINITY];
    let n = values.len();
    let mut data = Vec::new();
    for c in 0..3 {
        data.extend(values.iter().map(|v| if c == 0 { *v } else { 0.0 }));
    }
    let frame = Frame::from_vec(3, 1, n, data).unwrap();
    let window = Rect::new(0, 0, n as i32, 1);

    let mut out = vec![7u8; n * 4];
    let mut dst = ImageViewMut::new(&mut out, 0, 4 * n as isize, window, PixelDepth::U8, Components::Rgba).unwrap();
    write_frame(&frame, &mut dst, window).unwrap();
    let red: Vec<u8> = out.chunks(4).map(|p| p[0]).collect();
    assert_eq!(red, vec![0, 0, 128, 64, 191, 255, 254, 255]);
    assert!(out.chunks(4).all(|p| p[3] == 255), "3 channels into RGBA writes opaque alpha");

    let mut out = vec![0u8; n * 6];
    let mut dst = ImageViewMut::new(&mut out, 0, 6 * n as isize, window, PixelDepth::U16, Components::Rgb).unwrap();
    write_frame(&frame, &mut dst, window).unwrap();
    let red: Vec<u16> = out.chunks(6).map(|p| u16::from_ne_bytes([p[0], p[1]])).collect();
    // 0.5 * 65535 = 32767.5 rounds up.
    assert_eq!(red, vec![0, 0, 32768, 16384, 49151, 65535, 65404, 65535]);
}

#[test]
fn float_values_pass_through_unclamped() {
    let frame = Frame::from_vec(3, 1, 1, vec![-0.25, 7.5, 1.0e-40]).unwrap();
    let mut out = vec![0u8; 12];
    let window = Rect::new(0, 0, 1, 1);
    let mut dst = ImageViewMut::new(&mut out, 0, 12, window, PixelDepth::F32, Components::Rgb).unwrap();
    write_frame(&frame, &mut dst, window).unwrap();
    let got: Vec<f32> = out.chunks(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(got, vec![-0.25, 7.5, 1.0e-40]);
}

#[test]
fn read_frame_into_reuses_the_allocation() {
    let mut buf = u8_buf(Rect::new(0, 0, 8, 8), Components::Rgba, PLAIN);
    buf.fill(3);
    let view = buf.view();
    let mut frame = read_frame(&view, Rect::new(0, 0, 8, 8), 4).unwrap();
    let ptr = frame.data.as_ptr();
    read_frame_into(&view, Rect::new(1, 1, 5, 7), &mut frame).unwrap();
    assert_eq!(frame.shape(), [1, 4, 6, 4]);
    assert_eq!(frame.data.len(), 4 * 6 * 4);
    assert_eq!(frame.data.as_ptr(), ptr);
    assert_eq!(frame, read_frame(&view, Rect::new(1, 1, 5, 7), 4).unwrap());
}

#[test]
fn threaded_and_serial_conversions_agree_on_a_large_image() {
    let bounds = Rect::new(-3, -7, 637, 473); // 640x480 >= PARALLEL_MIN_PIXELS
    let shape = Shape { pad: 12, negative: true, before: 5, after: 3 };
    let mut src = Buf::new(bounds, PixelDepth::F32, Components::Rgba, shape);
    src.fill(99);
    let window = Rect::new(0, 0, 600, 401);
    let mut serial = Frame::from_vec(4, 0, 0, Vec::new()).unwrap();
    read_frame_into_threads(&src.view(), window, &mut serial, 1).unwrap();
    let parallel = read_frame(&src.view(), window, 4).unwrap();
    assert!(serial.data.iter().zip(&parallel.data).all(|(a, b)| a.to_bits() == b.to_bits()));

    let mut a = Buf::new(bounds, PixelDepth::U16, Components::Rgb, shape);
    let mut b = a.clone();
    write_frame_threads(&serial, &mut a.view_mut(), window, 1).unwrap();
    write_frame_threads(&serial, &mut b.view_mut(), window, 3).unwrap();
    assert!(a.bytes == b.bytes);
}

#[test]
fn window_outside_bounds_message_names_both() {
    let bytes = vec![0u8; 960 * 540 * 4];
    let view = ImageView::new(&bytes, 0, 960 * 4, Rect::new(0, 0, 960, 540), PixelDepth::U8, Components::Rgba).unwrap();
    let err = read_frame(&view, Rect::new(0, 0, 1920, 1080), 4).unwrap_err();
    assert_eq!(err.to_string(), "render window (0,0)-(1920,1080) is outside the image bounds (0,0)-(960,540)");
}

#[test]
fn bad_requests_are_errors() {
    let mut buf = u8_buf(Rect::new(0, 0, 4, 4), Components::Rgba, PLAIN);
    let view = buf.view();
    let empty = Rect::new(1, 1, 1, 3);
    assert_eq!(read_frame(&view, empty, 4).unwrap_err(), FrameIoError::EmptyWindow(empty));
    assert_eq!(read_frame(&view, Rect::new(0, 0, 2, 2), 2).unwrap_err(), FrameIoError::UnsupportedChannels(2));

    let frame = Frame::new(4, 2, 3);
    let window = Rect::new(0, 0, 2, 2);
    let err = write_frame(&frame, &mut buf.view_mut(), window).unwrap_err();
    assert_eq!(err.to_string(), "frame is 3x2 but the render window (0,0)-(2,2) is 2x2");

    let broken = Frame { channels: 4, height: 2, width: 2, data: vec![0.0; 15] };
    let err = write_frame(&broken, &mut buf.view_mut(), window).unwrap_err();
    assert!(matches!(err, FrameIoError::FrameDataLength { expected: 16, actual: 15, .. }), "{err}");
    assert!(Frame::from_vec(3, 2, 2, vec![0.0; 11]).is_err());
    let five = Frame::new(5, 2, 2);
    assert_eq!(write_frame(&five, &mut buf.view_mut(), window).unwrap_err(), FrameIoError::UnsupportedChannels(5));

    let other = Buf::new(Rect::new(0, 0, 4, 4), PixelDepth::U16, Components::Rgba, PLAIN);
    let err = copy_pixels(&other.view(), &mut buf.view_mut(), window).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pass-through needs identical pixel formats, but the source is RGBA 16-bit and the destination is RGBA 8-bit"
    );
}
