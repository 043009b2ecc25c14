//! Host images: tightly packed top-down `HostImage`s for callers and files, and the bottom-up, guarded,
//! canary-filled `PixelBuffer`s handed to plugins.

use std::ffi::CStr;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use ofx_abi::*;

/// Pixel component depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Depth {
    U8,
    U16,
    F32,
}

impl Depth {
    pub fn bytes(self) -> usize {
        match self {
            Depth::U8 => 1,
            Depth::U16 => 2,
            Depth::F32 => 4,
        }
    }
    pub fn ofx(self) -> &'static CStr {
        match self {
            Depth::U8 => kOfxBitDepthByte,
            Depth::U16 => kOfxBitDepthShort,
            Depth::F32 => kOfxBitDepthFloat,
        }
    }
    pub fn from_ofx(s: &str) -> Option<Depth> {
        [Depth::U8, Depth::U16, Depth::F32].into_iter().find(|d| d.ofx().to_bytes() == s.as_bytes())
    }
}

impl std::str::FromStr for Depth {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Depth> {
        match s.to_ascii_lowercase().as_str() {
            "u8" | "8" | "byte" => Ok(Depth::U8),
            "u16" | "16" | "short" => Ok(Depth::U16),
            "f32" | "32" | "float" => Ok(Depth::F32),
            _ => bail!("unknown depth '{s}' (expected u8, u16 or f32)"),
        }
    }
}

impl std::fmt::Display for Depth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Depth::U8 => "u8",
            Depth::U16 => "u16",
            Depth::F32 => "f32",
        })
    }
}

/// Pixel components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Components {
    Rgba,
    Rgb,
    Alpha,
}

impl Components {
    pub fn count(self) -> usize {
        match self {
            Components::Rgba => 4,
            Components::Rgb => 3,
            Components::Alpha => 1,
        }
    }
    pub fn ofx(self) -> &'static CStr {
        match self {
            Components::Rgba => kOfxImageComponentRGBA,
            Components::Rgb => kOfxImageComponentRGB,
            Components::Alpha => kOfxImageComponentAlpha,
        }
    }
    pub fn from_ofx(s: &str) -> Option<Components> {
        [Components::Rgba, Components::Rgb, Components::Alpha].into_iter().find(|c| c.ofx().to_bytes() == s.as_bytes())
    }
}

impl std::str::FromStr for Components {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Components> {
        match s.to_ascii_lowercase().as_str() {
            "rgba" => Ok(Components::Rgba),
            "rgb" => Ok(Components::Rgb),
            "alpha" | "a" => Ok(Components::Alpha),
            _ => bail!("unknown components '{s}' (expected rgba, rgb or alpha)"),
        }
    }
}

/// An integer pixel rectangle, x1/y1 inclusive, x2/y2 exclusive (OfxRectI semantics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rect {
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
}

impl Rect {
    pub fn new(x1: i32, y1: i32, x2: i32, y2: i32) -> Rect {
        Rect { x1, y1, x2, y2 }
    }
    /// Width in pixels, 0 when empty or inverted (in i64: no overflow at i32 extremes).
    pub fn width(&self) -> usize {
        (i64::from(self.x2) - i64::from(self.x1)).max(0) as usize
    }
    pub fn height(&self) -> usize {
        (i64::from(self.y2) - i64::from(self.y1)).max(0) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.width() == 0 || self.height() == 0
    }
    pub fn intersect(&self, o: &Rect) -> Rect {
        Rect { x1: self.x1.max(o.x1), y1: self.y1.max(o.y1), x2: self.x2.min(o.x2), y2: self.y2.min(o.y2) }
    }
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x1 && x < self.x2 && y >= self.y1 && y < self.y2
    }
    pub fn as_array(&self) -> [i32; 4] {
        [self.x1, self.y1, self.x2, self.y2]
    }
}

/// Row layout applied to every image the host hands to the plugin (sources and output), so tests can drive
/// padded and negative strides through a real plugin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowLayout {
    /// Extra bytes at the end of each row.
    pub padding_bytes: usize,
    /// Rows stored top-down in memory with a negative rowBytes (the data pointer is the bottom row).
    pub negative_row_bytes: bool,
}

/// A tightly packed image, rows top-down like an image file. Samples are native-endian.
#[derive(Clone, Debug, PartialEq)]
pub struct HostImage {
    pub width: u32,
    pub height: u32,
    pub depth: Depth,
    pub components: Components,
    pub data: Vec<u8>,
}

fn f32_to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}
fn f32_to_u16(v: f32) -> u16 {
    (v.clamp(0.0, 1.0) * 65535.0).round() as u16
}

impl HostImage {
    /// A zero-filled image.
    pub fn new(width: u32, height: u32, depth: Depth, components: Components) -> HostImage {
        let len = width as usize * height as usize * components.count() * depth.bytes();
        HostImage { width, height, depth, components, data: vec![0; len] }
    }

    /// Builds an f32 image from top-down samples.
    pub fn from_f32(width: u32, height: u32, components: Components, samples: &[f32]) -> Result<HostImage> {
        let n = width as usize * height as usize * components.count();
        if samples.len() != n {
            bail!("expected {n} samples for a {width}x{height} image, got {}", samples.len());
        }
        let data = samples.iter().flat_map(|v| v.to_ne_bytes()).collect();
        Ok(HostImage { width, height, depth: Depth::F32, components, data })
    }

    pub fn bytes_per_pixel(&self) -> usize {
        self.components.count() * self.depth.bytes()
    }
    pub fn row_len(&self) -> usize {
        self.width as usize * self.bytes_per_pixel()
    }

    /// Every sample as f32 in [0,1] for integer depths.
    pub fn samples_f32(&self) -> Vec<f32> {
        match self.depth {
            Depth::U8 => self.data.iter().map(|&b| b as f32 / 255.0).collect(),
            Depth::U16 => {
                self.data.chunks_exact(2).map(|c| u16::from_ne_bytes([c[0], c[1]]) as f32 / 65535.0).collect()
            }
            Depth::F32 => self.data.chunks_exact(4).map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect(),
        }
    }

    fn from_samples(width: u32, height: u32, depth: Depth, components: Components, s: &[f32]) -> HostImage {
        let data = match depth {
            Depth::U8 => s.iter().map(|&v| f32_to_u8(v)).collect(),
            Depth::U16 => s.iter().flat_map(|&v| f32_to_u16(v).to_ne_bytes()).collect(),
            Depth::F32 => s.iter().flat_map(|v| v.to_ne_bytes()).collect(),
        };
        HostImage { width, height, depth, components, data }
    }

    /// Converts depth and components. Identity conversions are exact copies; RGB gains alpha 1.
    pub fn convert(&self, depth: Depth, components: Components) -> HostImage {
        if depth == self.depth && components == self.components {
            return self.clone();
        }
        let s = self.samples_f32();
        let (nin, nout) = (self.components.count(), components.count());
        let pixels = self.width as usize * self.height as usize;
        let mut out = Vec::with_capacity(pixels * nout);
        for p in 0..pixels {
            let px = &s[p * nin..(p + 1) * nin];
            let (r, g, b, a) = match self.components {
                Components::Rgba => (px[0], px[1], px[2], px[3]),
                Components::Rgb => (px[0], px[1], px[2], 1.0),
                Components::Alpha => (px[0], px[0], px[0], px[0]),
            };
            match components {
                Components::Rgba => out.extend([r, g, b, a]),
                Components::Rgb => out.extend([r, g, b]),
                Components::Alpha => out.push(a),
            }
        }
        if depth == self.depth {
            // Same depth, different components: copy samples bit-exactly where they exist.
            let bpc = depth.bytes();
            let mut data = Vec::with_capacity(pixels * nout * bpc);
            let a_one: Vec<u8> = match depth {
                Depth::U8 => vec![255],
                Depth::U16 => 65535u16.to_ne_bytes().to_vec(),
                Depth::F32 => 1f32.to_ne_bytes().to_vec(),
            };
            for p in 0..pixels {
                let px = &self.data[p * nin * bpc..(p + 1) * nin * bpc];
                let ch = |i: usize| &px[i * bpc..(i + 1) * bpc];
                match (self.components, components) {
                    (Components::Rgb, Components::Rgba) => {
                        data.extend_from_slice(px);
                        data.extend_from_slice(&a_one);
                    }
                    (Components::Rgba, Components::Rgb) => data.extend_from_slice(&px[..3 * bpc]),
                    (Components::Rgba, Components::Alpha) => data.extend_from_slice(ch(3)),
                    (Components::Alpha, Components::Rgba) => (0..4).for_each(|_| data.extend_from_slice(ch(0))),
                    (Components::Alpha, Components::Rgb) => (0..3).for_each(|_| data.extend_from_slice(ch(0))),
                    (Components::Rgb, Components::Alpha) => data.extend_from_slice(&a_one),
                    _ => unreachable!("identity handled above"),
                }
            }
            return HostImage { width: self.width, height: self.height, depth, components, data };
        }
        HostImage::from_samples(self.width, self.height, depth, components, &out)
    }

    /// Nearest-neighbour resize (used for render scales other than 1).
    pub fn resize_nearest(&self, width: u32, height: u32) -> HostImage {
        if width == self.width && height == self.height {
            return self.clone();
        }
        let bpp = self.bytes_per_pixel();
        let mut data = Vec::with_capacity(width as usize * height as usize * bpp);
        for y in 0..height as usize {
            let sy = (y * self.height as usize / height.max(1) as usize).min(self.height as usize - 1);
            for x in 0..width as usize {
                let sx = (x * self.width as usize / width.max(1) as usize).min(self.width as usize - 1);
                let o = (sy * self.width as usize + sx) * bpp;
                data.extend_from_slice(&self.data[o..o + bpp]);
            }
        }
        HostImage { width, height, depth: self.depth, components: self.components, data }
    }

    pub fn from_dynamic(img: image::DynamicImage) -> HostImage {
        use image::DynamicImage as D;
        let (w, h) = (img.width(), img.height());
        let (depth, components, data): (Depth, Components, Vec<u8>) = match img {
            D::ImageRgb8(i) => (Depth::U8, Components::Rgb, i.into_raw()),
            D::ImageRgba8(i) => (Depth::U8, Components::Rgba, i.into_raw()),
            D::ImageLuma8(_) => (Depth::U8, Components::Rgb, img.to_rgb8().into_raw()),
            D::ImageLumaA8(_) => (Depth::U8, Components::Rgba, img.to_rgba8().into_raw()),
            D::ImageRgb16(i) => {
                (Depth::U16, Components::Rgb, i.into_raw().iter().flat_map(|v| v.to_ne_bytes()).collect())
            }
            D::ImageRgba16(i) => {
                (Depth::U16, Components::Rgba, i.into_raw().iter().flat_map(|v| v.to_ne_bytes()).collect())
            }
            D::ImageLuma16(_) => {
                (Depth::U16, Components::Rgb, img.to_rgb16().into_raw().iter().flat_map(|v| v.to_ne_bytes()).collect())
            }
            D::ImageLumaA16(_) => (
                Depth::U16,
                Components::Rgba,
                img.to_rgba16().into_raw().iter().flat_map(|v| v.to_ne_bytes()).collect(),
            ),
            D::ImageRgb32F(i) => {
                (Depth::F32, Components::Rgb, i.into_raw().iter().flat_map(|v| v.to_ne_bytes()).collect())
            }
            D::ImageRgba32F(i) => {
                (Depth::F32, Components::Rgba, i.into_raw().iter().flat_map(|v| v.to_ne_bytes()).collect())
            }
            other => (
                Depth::F32,
                Components::Rgba,
                other.to_rgba32f().into_raw().iter().flat_map(|v| v.to_ne_bytes()).collect(),
            ),
        };
        HostImage { width: w, height: h, depth, components, data }
    }

    /// Converts to an `image` crate image (alpha-only images become 8/16-bit luma or f32 RGB).
    pub fn to_dynamic(&self) -> Result<image::DynamicImage> {
        use image::{DynamicImage as D, ImageBuffer};
        let (w, h) = (self.width, self.height);
        let bad = || anyhow::anyhow!("image buffer has the wrong size for {w}x{h}");
        let u16s = || self.data.chunks_exact(2).map(|c| u16::from_ne_bytes([c[0], c[1]])).collect::<Vec<u16>>();
        let f32s = || self.samples_f32();
        Ok(match (self.depth, self.components) {
            (Depth::U8, Components::Rgba) => {
                D::ImageRgba8(ImageBuffer::from_raw(w, h, self.data.clone()).ok_or_else(bad)?)
            }
            (Depth::U8, Components::Rgb) => {
                D::ImageRgb8(ImageBuffer::from_raw(w, h, self.data.clone()).ok_or_else(bad)?)
            }
            (Depth::U8, Components::Alpha) => {
                D::ImageLuma8(ImageBuffer::from_raw(w, h, self.data.clone()).ok_or_else(bad)?)
            }
            (Depth::U16, Components::Rgba) => D::ImageRgba16(ImageBuffer::from_raw(w, h, u16s()).ok_or_else(bad)?),
            (Depth::U16, Components::Rgb) => D::ImageRgb16(ImageBuffer::from_raw(w, h, u16s()).ok_or_else(bad)?),
            (Depth::U16, Components::Alpha) => D::ImageLuma16(ImageBuffer::from_raw(w, h, u16s()).ok_or_else(bad)?),
            (Depth::F32, Components::Rgba) => D::ImageRgba32F(ImageBuffer::from_raw(w, h, f32s()).ok_or_else(bad)?),
            (Depth::F32, Components::Rgb) => D::ImageRgb32F(ImageBuffer::from_raw(w, h, f32s()).ok_or_else(bad)?),
            (Depth::F32, Components::Alpha) => {
                let rgb: Vec<f32> = f32s().into_iter().flat_map(|a| [a, a, a]).collect();
                D::ImageRgb32F(ImageBuffer::from_raw(w, h, rgb).ok_or_else(bad)?)
            }
        })
    }

    /// Reads PNG/EXR/TIFF/JPEG.
    pub fn load(path: &Path) -> Result<HostImage> {
        let img = image::ImageReader::open(path)
            .with_context(|| format!("cannot open image {}", path.display()))?
            .with_guessed_format()
            .with_context(|| format!("cannot read image {}", path.display()))?
            .decode()
            .with_context(|| format!("cannot decode image {}", path.display()))?;
        Ok(HostImage::from_dynamic(img))
    }

    /// Writes by extension: EXR keeps f32; PNG/TIFF store f32 as u16; JPEG stores 8-bit RGB. The file
    /// appears whole or not at all: it is written under a temporary name in the same folder, then renamed.
    pub fn save(&self, path: &Path) -> Result<()> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let img = match ext.as_str() {
            "exr" => self.convert(
                Depth::F32,
                if self.components == Components::Rgb { Components::Rgb } else { Components::Rgba },
            ),
            "png" | "tif" | "tiff" if self.depth == Depth::F32 => self.convert(Depth::U16, self.components),
            "jpg" | "jpeg" => self.convert(Depth::U8, Components::Rgb),
            "png" | "tif" | "tiff" => self.clone(),
            _ => bail!("unsupported output format '{}' (use .png, .exr, .tif or .jpg)", path.display()),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        let format = image::ImageFormat::from_extension(&ext)
            .ok_or_else(|| anyhow::anyhow!("unsupported output format '{}'", path.display()))?;
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temp = path.with_file_name(format!(".{name}.{}-{serial}.partial", std::process::id()));
        let written = img
            .to_dynamic()
            .and_then(|d| d.save_with_format(&temp, format).map_err(anyhow::Error::from))
            .and_then(|()| std::fs::rename(&temp, path).map_err(anyhow::Error::from));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.with_context(|| format!("cannot write image {}", path.display()))
    }
}

/// The extensions [`HostImage::save`] writes.
pub const OUTPUT_FORMATS: [&str; 6] = ["png", "exr", "tif", "tiff", "jpg", "jpeg"];

/// Bytes written around every host allocation and into every pixel the plugin must not touch.
const CANARY: [u8; 4] = [0xC7, 0x3A, 0x5E, 0xB1];
/// Guard bytes before and after each image allocation.
pub const GUARD_BYTES: usize = 256;

fn canary_at(offset: usize) -> u8 {
    CANARY[offset % CANARY.len()]
}

/// A plugin-visible image buffer: bottom-up rows at a given stride, surrounded by guard bytes.
/// The plugin writes through raw pointers, so the allocation is owned as a raw pointer and only read back
/// through it after the plugin has returned.
pub struct PixelBuffer {
    ptr: *mut u8,
    len: usize,
    pub bounds: Rect,
    pub depth: Depth,
    pub components: Components,
    /// |rowBytes|.
    pub stride: usize,
    pub negative: bool,
}

// SAFETY: the buffer is plain bytes; concurrent access is the plugin's business, as in any host.
unsafe impl Send for PixelBuffer {}
unsafe impl Sync for PixelBuffer {}

impl Drop for PixelBuffer {
    fn drop(&mut self) {
        // SAFETY: ptr/len come from Box::into_raw of a boxed slice of exactly len bytes.
        unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len))) }
    }
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
        let data: Box<[u8]> = (0..len).map(canary_at).collect();
        let ptr = Box::into_raw(data) as *mut u8;
        PixelBuffer { ptr, len, bounds, depth, components, stride, negative: layout.negative_row_bytes }
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
            for px in 0..self.bounds.width() {
                let x = self.bounds.x1 + px as i32;
                if window.contains(x, y) {
                    continue;
                }
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

    fn gradient(w: u32, h: u32, depth: Depth, comps: Components) -> HostImage {
        let n = (w * h) as usize * comps.count();
        let s: Vec<f32> = (0..n).map(|i| (i % 97) as f32 / 96.0).collect();
        HostImage::from_f32(w, h, comps, &s).unwrap().convert(depth, comps)
    }

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
            unsafe {
                let p = buf.data_ptr().offset(buf.row_bytes() + 16) as *mut f32;
                *p = 0.5;
            }
            assert!(buf.check_canary(window).is_clean());
            // Pixel (3, 2) is outside.
            unsafe {
                let p = buf.data_ptr().offset(buf.row_bytes() * 2 + 3 * 16) as *mut f32;
                *p = 0.5;
            }
            let rep = buf.check_canary(window);
            assert_eq!(rep.pixels_outside_window, 1);
            assert_eq!(rep.first_pixel, Some((3, 2)));
            // One byte before the first row in memory hits the guard.
            let lowest = if layout.negative_row_bytes {
                unsafe { buf.data_ptr().offset(buf.row_bytes() * 3) }
            } else {
                buf.data_ptr()
            };
            unsafe { *lowest.sub(1) ^= 0xFF };
            assert!(buf.check_canary(window).guard_before);
        }
    }

    #[test]
    fn conversions() {
        let img = gradient(3, 2, Depth::F32, Components::Rgb);
        let rgba = img.convert(Depth::F32, Components::Rgba);
        assert_eq!(rgba.samples_f32()[3], 1.0);
        assert_eq!(rgba.convert(Depth::F32, Components::Rgb), img, "RGB->RGBA->RGB must be exact");
        let u8img = gradient(3, 2, Depth::U8, Components::Rgba);
        assert_eq!(u8img.convert(Depth::F32, Components::Rgba).convert(Depth::U8, Components::Rgba), u8img);
        let u16img = gradient(3, 2, Depth::U16, Components::Rgba);
        assert_eq!(u16img.convert(Depth::F32, Components::Rgba).convert(Depth::U16, Components::Rgba), u16img);
        assert_eq!(img.resize_nearest(6, 4).resize_nearest(3, 2), img);
    }

    #[test]
    fn png_and_exr_round_trip() {
        let dir = std::env::temp_dir().join(format!("kinema-host-img-{}", std::process::id()));
        let u8img = gradient(4, 3, Depth::U8, Components::Rgba);
        u8img.save(&dir.join("a.png")).unwrap();
        assert_eq!(HostImage::load(&dir.join("a.png")).unwrap(), u8img);
        let f = gradient(4, 3, Depth::F32, Components::Rgba);
        f.save(&dir.join("a.exr")).unwrap();
        assert_eq!(HostImage::load(&dir.join("a.exr")).unwrap(), f);
        assert!(HostImage::load(&dir.join("missing.png")).is_err());
        assert!(f.save(&dir.join("a.xyz")).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
