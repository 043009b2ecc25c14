//! Frame I/O throughput at 1080p against `memcpy` of the same bytes, measured side by side.
//!
//! `cargo bench -p kinema-plugin --bench frame_io` prints, per format and thread setting, the best
//! and median time of `read_frame_into` (host image → 4-channel tensor) and `write_frame` (back),
//! as GB/s of host-image bytes and as a ratio to `copy_from_slice` of those bytes (1.0 = memcpy).

use std::hint::black_box;
use std::time::{Duration, Instant};

use kinema::frame_io::{
    read_frame_into, resize_bilinear, set_max_threads, write_frame, Components, Frame, ImageView, ImageViewMut,
    PixelDepth, Rect, PARALLEL_MIN_PIXELS,
};

const W: usize = 1920;
const H: usize = 1080;
const ITERS: usize = 40;

struct Stats {
    best: Duration,
    median: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Stats { best: samples[0], median: samples[samples.len() / 2] }
    }
}

fn gbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Host image bytes with plausible content (floats in [0, 1], integers spread over the range).
fn image(depth: PixelDepth, components: Components) -> Vec<u8> {
    let n = W * H * components.count();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut out = Vec::with_capacity(n * depth.bytes_per_component());
    for _ in 0..n {
        let r = next();
        match depth {
            PixelDepth::U8 => out.push(r as u8),
            PixelDepth::U16 => out.extend_from_slice(&(r as u16).to_ne_bytes()),
            PixelDepth::F32 => out.extend_from_slice(&((r >> 40) as f32 / (1u64 << 24) as f32).to_ne_bytes()),
        }
    }
    out
}

fn ratio(base: Duration, d: Duration) -> f64 {
    base.as_secs_f64() / d.as_secs_f64()
}

fn bench_format(depth: PixelDepth, components: Components) {
    let src_bytes = image(depth, components);
    let n = src_bytes.len();
    let tensor = W * H * 4 * std::mem::size_of::<f32>();
    let row_bytes = (W * depth.bytes_per_component() * components.count()) as isize;
    let bounds = Rect::new(0, 0, W as i32, H as i32);
    // Non-zero fills so every page is mapped before timing starts.
    let mut copy = vec![1u8; n];
    let (big_src, mut big_copy) = (vec![2u8; tensor], vec![1u8; tensor]);
    let mut dst_bytes = vec![1u8; n];
    let mut frame = Frame::new(4, H, W);
    frame.data.fill(0.5);
    let src = ImageView::new(&src_bytes, 0, row_bytes, bounds, depth, components).unwrap();

    for (label, threads) in [("1 thread", 1), ("auto", 0)] {
        set_max_threads(threads);
        let (mut mem, mut mem_t, mut read, mut write) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ITERS {
            // Interleaved so that all of them see the same machine state.
            mem.push(timed(|| copy.copy_from_slice(black_box(&src_bytes))));
            black_box(&copy);
            if tensor != n {
                mem_t.push(timed(|| big_copy.copy_from_slice(black_box(&big_src))));
                black_box(&big_copy);
            }
            read.push(timed(|| read_frame_into(black_box(&src), bounds, &mut frame).unwrap()));
            black_box(&frame);
            let mut dst = ImageViewMut::new(&mut dst_bytes, 0, row_bytes, bounds, depth, components).unwrap();
            write.push(timed(|| write_frame(black_box(&frame), &mut dst, bounds).unwrap()));
            black_box(&dst_bytes);
        }
        assert!(dst_bytes == src_bytes, "round trip changed the image");
        let (mem, read, write) = (Stats::of(mem), Stats::of(read), Stats::of(write));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{components} {depth}, {label}: memcpy {:.2} ms ({:.1} GB/s) | read {:.2} ms {:.1} GB/s = {:.2}x memcpy (median {:.2}x) | write {:.2} ms {:.1} GB/s = {:.2}x memcpy (median {:.2}x)",
            ms(mem.best),
            gbps(n, mem.best),
            ms(read.best),
            gbps(n, read.best),
            ratio(mem.best, read.best),
            ratio(mem.median, read.median),
            ms(write.best),
            gbps(n, write.best),
            ratio(mem.best, write.best),
            ratio(mem.median, write.median),
        );
        if tensor != n {
            // The tensor side moves 4 bytes per sample: compare with a memcpy of that many bytes too.
            let mem_t = Stats::of(mem_t);
            println!(
                "    vs memcpy of the {:.1} MB tensor ({:.2} ms): read {:.2}x, write {:.2}x",
                tensor as f64 / 1e6,
                ms(mem_t.best),
                ratio(mem_t.best, read.best),
                ratio(mem_t.best, write.best),
            );
        }
    }
    set_max_threads(0);
}

/// At the threading threshold (512x512 = PARALLEL_MIN_PIXELS), do threads still pay for their
/// start-up? Float RGBA, read + write, best of 200.
fn threshold_check() {
    let side = 512usize;
    let bytes: Vec<u8> = (0..side * side * 4).flat_map(|i| ((i % 1000) as f32 / 999.0).to_ne_bytes()).collect();
    let bounds = Rect::new(0, 0, side as i32, side as i32);
    let row_bytes = (side * 16) as isize;
    let src = ImageView::new(&bytes, 0, row_bytes, bounds, PixelDepth::F32, Components::Rgba).unwrap();
    let mut out = vec![0u8; bytes.len()];
    let mut frame = Frame::new(4, side, side);
    let mut line = format!("threshold {side}x{side} ({PARALLEL_MIN_PIXELS} px) float RGBA read+write:");
    for (label, threads) in [("1 thread", 1), ("auto", 0)] {
        set_max_threads(threads);
        let best = (0..200)
            .map(|_| {
                timed(|| {
                    read_frame_into(&src, bounds, &mut frame).unwrap();
                    let mut dst =
                        ImageViewMut::new(&mut out, 0, row_bytes, bounds, PixelDepth::F32, Components::Rgba).unwrap();
                    write_frame(black_box(&frame), &mut dst, bounds).unwrap();
                })
            })
            .min()
            .unwrap();
        line += &format!(" {label} {:.3} ms", best.as_secs_f64() * 1e3);
    }
    set_max_threads(0);
    println!("{line}");
}

fn main() {
    println!(
        "frame_io {W}x{H} -> 4-channel f32 tensor and back; {} cores; best of {ITERS} (median ratio in brackets);\n\
         GB/s of host-image bytes; Nx = memcpy time of the same bytes / conversion time (1.0 = as fast as memcpy)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (depth, components) in [
        (PixelDepth::F32, Components::Rgba),
        (PixelDepth::U8, Components::Rgba),
        (PixelDepth::U16, Components::Rgba),
        (PixelDepth::F32, Components::Rgb),
        (PixelDepth::U8, Components::Rgb),
    ] {
        bench_format(depth, components);
    }

    threshold_check();

    let mut frame = Frame::new(4, H, W);
    frame.data.iter_mut().enumerate().for_each(|(i, v)| *v = (i % 251) as f32 / 250.0);
    for (w, h) in [(W / 2, H / 2), (1024, 576)] {
        let best = (0..10).map(|_| timed(|| drop(black_box(resize_bilinear(black_box(&frame), w, h))))).min().unwrap();
        println!("resize_bilinear 4x{W}x{H} -> {w}x{h}: {:.2} ms", best.as_secs_f64() * 1e3);
    }
}
