//! What a host image is made of: sample depth, component layout, and rectangles in OFX pixel
//! coordinates.

use std::fmt;

/// Sample type of a host image (OFX `OfxBitDepthByte`, `OfxBitDepthShort`, `OfxBitDepthFloat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelDepth {
    U8,
    U16,
    F32,
}

impl PixelDepth {
    pub const fn bytes_per_component(self) -> usize {
        match self {
            PixelDepth::U8 => 1,
            PixelDepth::U16 => 2,
            PixelDepth::F32 => 4,
        }
    }
}

impl fmt::Display for PixelDepth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PixelDepth::U8 => "8-bit",
            PixelDepth::U16 => "16-bit",
            PixelDepth::F32 => "32-bit float",
        })
    }
}

/// Interleaved component layout of a host image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Components {
    Rgba,
    Rgb,
}

impl Components {
    pub const fn count(self) -> usize {
        match self {
            Components::Rgba => 4,
            Components::Rgb => 3,
        }
    }
}

impl fmt::Display for Components {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Components::Rgba => "RGBA",
            Components::Rgb => "RGB",
        })
    }
}

/// Half-open integer rectangle in OFX pixel coordinates (y up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
}

impl Rect {
    pub const fn new(x1: i32, y1: i32, x2: i32, y2: i32) -> Self {
        Rect { x1, y1, x2, y2 }
    }

    /// Width in pixels, 0 when empty or inverted (computed in i64: no overflow at i32 extremes).
    pub fn width(&self) -> usize {
        (i64::from(self.x2) - i64::from(self.x1)).max(0) as usize
    }

    pub fn height(&self) -> usize {
        (i64::from(self.y2) - i64::from(self.y1)).max(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.x2 <= self.x1 || self.y2 <= self.y1
    }

    /// True when `x1 > x2` or `y1 > y2` (a malformed rectangle, not merely an empty one).
    pub fn is_inverted(&self) -> bool {
        self.x2 < self.x1 || self.y2 < self.y1
    }

    /// Whether `other` lies entirely inside `self` (edges may touch).
    pub fn contains(&self, other: &Rect) -> bool {
        self.x1 <= other.x1 && other.x2 <= self.x2 && self.y1 <= other.y1 && other.y2 <= self.y2
    }

    /// The overlap of both rectangles, `None` when it is empty.
    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        let r = Rect {
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
            x2: self.x2.min(other.x2),
            y2: self.y2.min(other.y2),
        };
        (!r.is_empty()).then_some(r)
    }
}

impl fmt::Display for Rect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})-({},{})", self.x1, self.y1, self.x2, self.y2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rect_helpers() {
        let r = Rect::new(-5, 3, 10, 7);
        assert_eq!((r.width(), r.height()), (15, 4));
        assert_eq!(Rect::new(i32::MIN, 0, i32::MAX, 1).width(), u32::MAX as usize);
        assert_eq!(Rect::new(3, 0, 1, 1).width(), 0);
        assert!(r.contains(&Rect::new(-5, 3, 10, 7)));
        assert!(r.contains(&Rect::new(0, 4, 1, 5)));
        assert!(!r.contains(&Rect::new(0, 4, 11, 5)));
        assert_eq!(r.intersect(&Rect::new(0, 0, 20, 5)), Some(Rect::new(0, 3, 10, 5)));
        assert_eq!(r.intersect(&Rect::new(10, 0, 20, 5)), None);
        assert_eq!(r.to_string(), "(-5,3)-(10,7)");
    }
}
