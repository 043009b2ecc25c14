//! Host images: tightly packed top-down [`HostImage`]s for callers and files ([`host_image`], file I/O in
//! [`file`]), and the bottom-up, guarded, canary-filled [`PixelBuffer`]s handed to plugins ([`buffer`]).
//! This module holds the pixel formats and geometry they share.

use std::ffi::CStr;

use anyhow::{bail, Result};
use ofx_abi::*;

mod buffer;
mod file;
mod host_image;
mod kept;

pub use buffer::{CanaryReport, PixelBuffer};
pub use file::OUTPUT_FORMATS;
pub use host_image::HostImage;

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

/// A test image of `w`x`h` whose samples ramp through [0, 1].
#[cfg(test)]
fn gradient(w: u32, h: u32, depth: Depth, comps: Components) -> HostImage {
    let n = (w * h) as usize * comps.count();
    let s: Vec<f32> = (0..n).map(|i| (i % 97) as f32 / 96.0).collect();
    HostImage::from_f32(w, h, comps, &s).unwrap().convert(depth, comps)
}
