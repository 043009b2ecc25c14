//! [`HostImage`]: a tightly packed top-down image, and conversion between depths, components and sizes.

use anyhow::{bail, Result};

use super::{Components, Depth};

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

/// A large image's memory is kept for the next image of its size (see `kept`).
impl Drop for HostImage {
    fn drop(&mut self) {
        super::kept::keep(std::mem::take(&mut self.data));
    }
}

impl HostImage {
    /// A zero-filled image.
    pub fn new(width: u32, height: u32, depth: Depth, components: Components) -> HostImage {
        let len = width as usize * height as usize * components.count() * depth.bytes();
        HostImage { width, height, depth, components, data: super::kept::zeroed(len) }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::gradient;

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
}
