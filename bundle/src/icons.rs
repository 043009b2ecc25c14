//! Effect icons (128×128 RGBA PNG, the OFX minimum), drawn procedurally so the bundle needs no
//! binary art in the repository: a rounded tile in the effect's colour with a white glyph.

use std::path::Path;

use anyhow::{Context, Result};
use image::{Rgba, RgbaImage};

const SIZE: u32 = 128;

pub fn write_icon(plugin_id: &str, path: &Path) -> Result<()> {
    let (hue, glyph): ([f32; 3], fn(f32, f32) -> bool) = match plugin_id.rsplit('.').next().unwrap_or_default() {
        "Generate" => ([0.55, 0.30, 0.95], sparkle),
        "Animate" => ([0.95, 0.45, 0.25], play),
        "Extend" => ([0.20, 0.70, 0.55], arrow),
        _ => ([0.25, 0.50, 0.95], dots),
    };
    let mut img = RgbaImage::new(SIZE, SIZE);
    for (x, y, px) in img.enumerate_pixels_mut() {
        // Pixel centre in [-1, 1], y up.
        let u = (x as f32 + 0.5) / SIZE as f32 * 2.0 - 1.0;
        let v = 1.0 - (y as f32 + 0.5) / SIZE as f32 * 2.0;
        let corner = ((u.abs() - 0.75).max(0.0).powi(2) + (v.abs() - 0.75).max(0.0).powi(2)).sqrt();
        if corner > 0.2 {
            *px = Rgba([0, 0, 0, 0]);
            continue;
        }
        let shade = 0.65 + 0.35 * (v + 1.0) / 2.0;
        let [r, g, b] = if glyph(u, v) { [1.0; 3] } else { hue.map(|c| c * shade) };
        *px = Rgba([(r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8, 255]);
    }
    img.save(path).with_context(|| format!("writing icon {}", path.display()))
}

/// A four-pointed star: something appears from nothing.
fn sparkle(u: f32, v: f32) -> bool {
    u.abs().sqrt() + v.abs().sqrt() < 0.75
}

/// A play triangle: a still starts moving.
fn play(u: f32, v: f32) -> bool {
    u > -0.35 && u < 0.5 && v.abs() < (0.5 - u) * 0.7
}

/// A bar with an arrow: the clip grows at its end.
fn arrow(u: f32, v: f32) -> bool {
    let bar = u > -0.6 && u < 0.05 && v.abs() < 0.12;
    let head = (0.05..0.55).contains(&u) && v.abs() < (0.55 - u) * 0.8;
    bar || head
}

/// Three frames, the middle one made up between the others.
fn dots(u: f32, v: f32) -> bool {
    [-0.45f32, 0.0, 0.45].iter().enumerate().any(|(i, &cx)| {
        let r = if i == 1 { 0.14 } else { 0.2 };
        (u - cx).powi(2) + v.powi(2) < r * r
    })
}
