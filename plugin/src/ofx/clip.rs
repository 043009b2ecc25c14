//! Clips and the images fetched from them. [`Image`] releases its host image on drop, so every
//! path out of an action (errors included) gives the image back.

use std::ffi::CStr;

use ofx_abi::*;

use super::props::PropertySet;
use super::raw;
use super::status::{OfxError, OfxResult};
use crate::effects::FrameRange;
use crate::frame_io::{Components, ImageView, ImageViewMut, PixelDepth, Rect};

/// A clip instance of an effect.
#[derive(Clone, Copy, Debug)]
pub struct Clip {
    handle: OfxImageClipHandle,
    props: PropertySet,
    name: &'static CStr,
}

impl Clip {
    /// # Safety
    /// Both handles must come from clipGetHandle during the current action.
    pub(super) unsafe fn from_raw(handle: OfxImageClipHandle, props: PropertySet, name: &'static CStr) -> Self {
        Self { handle, props, name }
    }

    pub fn name(&self) -> &'static CStr {
        self.name
    }

    pub fn properties(&self) -> PropertySet {
        self.props
    }

    /// Whether an input is attached. A host that cannot say is taken as "not connected".
    pub fn connected(&self) -> bool {
        self.props.int(kOfxImageClipPropConnected).map(|v| v != 0).unwrap_or(false)
    }

    /// The frames the clip has (`kOfxImageEffectPropFrameRange`).
    pub fn frame_range(&self) -> OfxResult<FrameRange> {
        let [first, last] = self.props.doubles::<2>(kOfxImageEffectPropFrameRange)?;
        Ok(FrameRange::new(first, last))
    }

    /// What the input really delivers, before the host maps it to what we asked for.
    pub fn unmapped_format(&self) -> OfxResult<(String, String)> {
        Ok((
            self.props.string(kOfxImageClipPropUnmappedPixelDepth)?,
            self.props.string(kOfxImageClipPropUnmappedComponents)?,
        ))
    }

    pub fn region_of_definition(&self, time: f64) -> OfxResult<OfxRectD> {
        // SAFETY: `self.handle` came from clipGetHandle during the current action (`from_raw`).
        unsafe { raw::clip_region_of_definition(self.handle, time) }
    }

    /// The clip's image at `time`; `None` when the host has none there (Resolve returns none for
    /// unconnected clips that claim to be connected).
    pub fn image(&self, time: f64) -> OfxResult<Option<Image>> {
        // SAFETY: `self.handle` came from clipGetHandle during the current action (`from_raw`); the
        // image it returns is released by `Image`'s drop below.
        let Some(handle) = (unsafe { raw::clip_get_image(self.handle, time)? }) else { return Ok(None) };
        // SAFETY: a fresh image handle; Image owns it from here and releases it on drop.
        let props = unsafe { PropertySet::from_raw(handle, "the image") }?;
        Ok(Some(Image { props }))
    }
}

/// An image fetched with clipGetImage; released with clipReleaseImage on drop.
#[derive(Debug)]
pub struct Image {
    props: PropertySet,
}

impl Drop for Image {
    fn drop(&mut self) {
        // SAFETY: the handle came from clipGetImage and is released exactly once, here.
        let _ = unsafe { raw::clip_release_image(self.props.handle()) };
    }
}

impl Image {
    pub fn properties(&self) -> PropertySet {
        self.props
    }

    /// Pixel bounds (render-scaled), `kOfxImagePropBounds`.
    pub fn bounds(&self) -> OfxResult<Rect> {
        let [x1, y1, x2, y2] = self.props.ints::<4>(kOfxImagePropBounds)?;
        Ok(Rect::new(x1, y1, x2, y2))
    }

    pub fn row_bytes(&self) -> OfxResult<isize> {
        Ok(self.props.int(kOfxImagePropRowBytes)? as isize)
    }

    pub fn depth(&self) -> OfxResult<PixelDepth> {
        parse_depth(&self.props.string(kOfxImageEffectPropPixelDepth)?)
    }

    pub fn components(&self) -> OfxResult<Components> {
        parse_components(&self.props.string(kOfxImageEffectPropComponents)?)
    }

    fn data(&self) -> OfxResult<*mut u8> {
        let p = self.props.pointer(kOfxImagePropData)?;
        if p.is_null() {
            return Err(OfxError::new(kOfxStatErrImageFormat, "the host gave an image without pixel data"));
        }
        Ok(p.cast())
    }

    /// A read-only view of the pixels.
    pub fn view(&self) -> OfxResult<ImageView<'_>> {
        let (data, row_bytes, bounds, depth, components) =
            (self.data()?, self.row_bytes()?, self.bounds()?, self.depth()?, self.components()?);
        // SAFETY: the host keeps the image's rows (bounds × rowBytes from data) readable until we
        // release it, which cannot happen while this borrow of `self` lives.
        unsafe { ImageView::from_raw(data, row_bytes, bounds, depth, components) }.map_err(image_error)
    }

    /// A writable view of the pixels (output images only).
    pub fn view_mut(&mut self) -> OfxResult<ImageViewMut<'_>> {
        let (data, row_bytes, bounds, depth, components) =
            (self.data()?, self.row_bytes()?, self.bounds()?, self.depth()?, self.components()?);
        // SAFETY: as in `view`; `&mut self` makes this the only view of this image we hand out,
        // and the host does not touch an output image while the render action runs.
        unsafe { ImageViewMut::from_raw(data, row_bytes, bounds, depth, components) }.map_err(image_error)
    }
}

fn image_error(e: crate::frame_io::FrameIoError) -> OfxError {
    OfxError::new(kOfxStatErrImageFormat, format!("host image: {e}"))
}

/// Maps `kOfxBitDepth*` to a frame_io depth; half and others are not supported.
pub fn parse_depth(s: &str) -> OfxResult<PixelDepth> {
    let c = s.as_bytes();
    if c == kOfxBitDepthByte.to_bytes() {
        Ok(PixelDepth::U8)
    } else if c == kOfxBitDepthShort.to_bytes() {
        Ok(PixelDepth::U16)
    } else if c == kOfxBitDepthFloat.to_bytes() {
        Ok(PixelDepth::F32)
    } else {
        Err(OfxError::new(
            kOfxStatErrImageFormat,
            format!("unsupported pixel depth '{s}' (Kinema handles 8-bit, 16-bit and float)"),
        ))
    }
}

pub fn parse_components(s: &str) -> OfxResult<Components> {
    let c = s.as_bytes();
    if c == kOfxImageComponentRGBA.to_bytes() {
        Ok(Components::Rgba)
    } else if c == kOfxImageComponentRGB.to_bytes() {
        Ok(Components::Rgb)
    } else {
        Err(OfxError::new(
            kOfxStatErrImageFormat,
            format!("unsupported components '{s}' (Kinema handles RGBA and RGB)"),
        ))
    }
}

pub fn depth_name(depth: PixelDepth) -> &'static CStr {
    match depth {
        PixelDepth::U8 => kOfxBitDepthByte,
        PixelDepth::U16 => kOfxBitDepthShort,
        PixelDepth::F32 => kOfxBitDepthFloat,
    }
}

pub fn components_name(components: Components) -> &'static CStr {
    match components {
        Components::Rgba => kOfxImageComponentRGBA,
        Components::Rgb => kOfxImageComponentRGB,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_and_components_round_trip_and_others_are_image_format_errors() {
        for d in [PixelDepth::U8, PixelDepth::U16, PixelDepth::F32] {
            assert_eq!(parse_depth(depth_name(d).to_str().unwrap()).unwrap(), d);
        }
        for c in [Components::Rgba, Components::Rgb] {
            assert_eq!(parse_components(components_name(c).to_str().unwrap()).unwrap(), c);
        }
        assert_eq!(parse_depth("OfxBitDepthHalf").unwrap_err().status, kOfxStatErrImageFormat);
        assert_eq!(parse_components("OfxImageComponentAlpha").unwrap_err().status, kOfxStatErrImageFormat);
    }
}
