//! Mirrors `ofxPixels.h`: the pixel structs for each bit depth and component layout.

macro_rules! pixel_struct {
    ($(#[$m:meta])* $name:ident, $t:ty, $($f:ident),+) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name {
            $(pub $f: $t,)+
        }
    };
}

pixel_struct!(/// 8 bit per component RGBA pixel.
    OfxRGBAColourB, u8, r, g, b, a);
pixel_struct!(/// 16 bit per component RGBA pixel.
    OfxRGBAColourS, u16, r, g, b, a);
pixel_struct!(/// Float per component RGBA pixel.
    OfxRGBAColourF, f32, r, g, b, a);
pixel_struct!(/// Double per component RGBA pixel.
    OfxRGBAColourD, f64, r, g, b, a);
pixel_struct!(/// 8 bit per component RGB pixel.
    OfxRGBColourB, u8, r, g, b);
pixel_struct!(/// 16 bit per component RGB pixel.
    OfxRGBColourS, u16, r, g, b);
pixel_struct!(/// Float per component RGB pixel.
    OfxRGBColourF, f32, r, g, b);
pixel_struct!(/// Double per component RGB pixel.
    OfxRGBColourD, f64, r, g, b);
pixel_struct!(/// 8 bit per component YUVA pixel.
    OfxYUVAColourB, u8, y, u, v, a);
pixel_struct!(/// 16 bit per component YUVA pixel.
    OfxYUVAColourS, u16, y, u, v, a);
pixel_struct!(/// Float per component YUVA pixel.
    OfxYUVAColourF, f32, y, u, v, a);
