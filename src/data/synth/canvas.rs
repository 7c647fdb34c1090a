//! The synthetic benchmark's drawing surface: the pixel ↔ dish-space view, a canvas that fills a
//! shape given as a per-point colour function, colour helpers, a cheap hash for noise, and the
//! surface textures of the food.
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Images"). Used by `render.rs`.

use rand::Rng;

use super::world::Texture;

pub(crate) type Rgb = [f32; 3];

/// Pixel ↔ dish-space mapping: a rotation, a uniform scale, a vertical squash (camera tilt) and an
/// offset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View {
    pub(crate) cx: f32,
    pub(crate) cy: f32,
    pub(crate) scale: f32,
    pub(crate) squash: f32,
    pub(crate) cos: f32,
    pub(crate) sin: f32,
}

impl View {
    pub(crate) fn to_pixel(self, u: f32, v: f32) -> (f32, f32) {
        let x = u * self.cos - v * self.sin;
        let y = u * self.sin + v * self.cos;
        (
            self.cx + x * self.scale,
            self.cy + y * self.scale * self.squash,
        )
    }

    pub(crate) fn to_dish(self, px: f32, py: f32) -> (f32, f32) {
        let x = (px - self.cx) / self.scale;
        let y = (py - self.cy) / (self.scale * self.squash);
        (x * self.cos + y * self.sin, -x * self.sin + y * self.cos)
    }
}

pub(crate) struct Canvas {
    pub(crate) w: usize,
    pub(crate) h: usize,
    pub(crate) px: Vec<Rgb>,
}

impl Canvas {
    /// Paints every pixel whose centre maps into dish space within `radius` of `(u, v)` and for
    /// which `shade(u, v)` returns a colour.
    pub(crate) fn fill(
        &mut self,
        view: View,
        u: f32,
        v: f32,
        radius: f32,
        shade: impl Fn(f32, f32) -> Option<Rgb>,
    ) {
        let (x, y) = view.to_pixel(u, v);
        let rx = radius * view.scale + 1.0;
        let ry = radius * view.scale * view.squash.max(0.01) + 1.0;
        let (x0, x1) = (
            (x - rx).floor().max(0.0),
            (x + rx).ceil().min(self.w as f32),
        );
        let (y0, y1) = (
            (y - ry).floor().max(0.0),
            (y + ry).ceil().min(self.h as f32),
        );
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        for py in y0 as usize..y1 as usize {
            for px in x0 as usize..x1 as usize {
                let (du, dv) = view.to_dish(px as f32 + 0.5, py as f32 + 0.5);
                if let Some(c) = shade(du, dv) {
                    self.px[py * self.w + px] = c;
                }
            }
        }
    }
}

/// A cheap integer hash to [0, 1), for textures and noise.
pub(crate) fn hash(a: i32, b: i32, seed: u32) -> f32 {
    let mut h = (a as u32).wrapping_mul(0x9E37_79B1) ^ (b as u32).wrapping_mul(0x85EB_CA77) ^ seed;
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297A_2D39);
    h ^= h >> 15;
    (h >> 8) as f32 / (1u32 << 24) as f32
}

pub(crate) fn rgb(c: [u8; 3]) -> Rgb {
    [f32::from(c[0]), f32::from(c[1]), f32::from(c[2])]
}

pub(crate) fn scale(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

pub(crate) fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

pub(crate) fn jitter<R: Rng>(c: Rgb, amount: f32, rng: &mut R) -> Rgb {
    let k = 1.0 + rng.gen_range(-amount..=amount);
    scale(c, k)
}

/// The multiplier a surface pattern applies at dish position `(u, v)`.
pub(crate) fn texture(t: Texture, u: f32, v: f32, seed: u32, angle: f32) -> f32 {
    match t {
        Texture::Smooth => 1.0,
        Texture::Speckled => {
            if hash((u * 40.0).floor() as i32, (v * 40.0).floor() as i32, seed) < 0.15 {
                0.72
            } else {
                1.0
            }
        }
        Texture::Striped => {
            let s = (u * angle.cos() + v * angle.sin()) * 7.0;
            if s - s.floor() < 0.22 {
                0.68
            } else {
                1.0
            }
        }
        Texture::Crumbly => {
            0.82 + 0.3 * hash((u * 28.0).floor() as i32, (v * 28.0).floor() as i32, seed)
        }
        Texture::Glossy => {
            let d = ((u + 0.2).powi(2) + (v + 0.2).powi(2)).sqrt();
            1.0 + 0.35 * (1.0 - d / 0.28).max(0.0)
        }
        Texture::Grid => {
            let (a, b) = (u * 6.0, v * 6.0);
            if a - a.floor() < 0.2 || b - b.floor() < 0.2 {
                1.12
            } else {
                0.84
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_round_trips() {
        let v = View {
            cx: 40.0,
            cy: 30.0,
            scale: 25.0,
            squash: 0.7,
            cos: 0.6,
            sin: 0.8,
        };
        let (x, y) = v.to_pixel(0.3, -0.2);
        let (u, w) = v.to_dish(x, y);
        assert!((u - 0.3).abs() < 1e-5 && (w + 0.2).abs() < 1e-5);
    }

    #[test]
    fn hash_is_in_unit_interval() {
        for i in -50..50 {
            let x = hash(i, i * 7, 3);
            assert!((0.0..1.0).contains(&x));
        }
    }
}
