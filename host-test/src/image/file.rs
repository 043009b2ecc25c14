//! Reading and writing image files (PNG, EXR, TIFF, JPEG) through the `image` crate.

use std::path::Path;

use anyhow::{bail, Context as _, Result};

use super::{Components, Depth, HostImage};

/// The extensions [`HostImage::save`] writes.
pub const OUTPUT_FORMATS: [&str; 6] = ["png", "exr", "tif", "tiff", "jpg", "jpeg"];

impl HostImage {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::gradient;

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
