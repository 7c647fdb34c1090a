//! The synthetic benchmark's photographs: a small rasteriser that draws a table, the vessel, the
//! dish's main shape (category) tinted by its ingredients, the visible ingredients as toppings,
//! sometimes a utensil, under a random viewpoint, light and sensor noise.
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Images"). Every shape is defined in "dish
//! space" (the plate is the unit disc) and drawn by mapping each pixel back into that space, so
//! viewpoint (offset, scale, rotation, tilt) applies to everything at once.

use std::f32::consts::TAU;

use image::RgbImage;
use rand::seq::SliceRandom;
use rand::Rng;

use super::canvas::{hash, jitter, mix, rgb, scale, texture, Canvas, Rgb, View};
use super::recipes::{visible, RecipeText};
use super::world::{Arrangement, Form, Shape, Vessel, World};

const TABLES: &[[u8; 3]] = &[
    [150, 105, 65],
    [228, 226, 220],
    [62, 66, 72],
    [214, 204, 184],
    [180, 50, 45],
    [96, 70, 50],
];
const PLATES: &[[u8; 3]] = &[
    [246, 246, 244],
    [240, 232, 214],
    [190, 210, 228],
    [70, 74, 80],
    [226, 226, 226],
];

/// Renders one photograph of `text`'s dish, `width` × `height` pixels. Two calls with the same RNG
/// state give the same image; different calls for the same recipe differ in viewpoint, light,
/// noise and where the toppings fall, never in what is on the plate.
pub fn render<R: Rng>(
    world: &World,
    text: &RecipeText,
    width: u32,
    height: u32,
    rng: &mut R,
) -> RgbImage {
    render_zoomed(world, text, width, height, 1.0, rng)
}

/// [`render`] with the camera `zoom` times closer (the same random draws, so `zoom = 1` is
/// [`render`]): a close-up of the middle of the dish, its toppings `zoom` times larger, as the
/// object-centred photographs of the pretraining set.
pub fn render_zoomed<R: Rng>(
    world: &World,
    text: &RecipeText,
    width: u32,
    height: u32,
    zoom: f32,
    rng: &mut R,
) -> RgbImage {
    let (w, h) = (width as usize, height as usize);
    let cat = &world.categories[text.category];
    let short = w.min(h) as f32;
    let angle = rng.gen_range(0.0..TAU);
    let view = View {
        cx: w as f32 * (0.5 + rng.gen_range(-0.08..0.08)),
        cy: h as f32 * (0.5 + rng.gen_range(-0.08..0.08)),
        scale: short * 0.5 * rng.gen_range(0.7..0.95) * zoom,
        squash: rng.gen_range(0.62..1.0),
        cos: angle.cos(),
        sin: angle.sin(),
    };
    let seed: u32 = rng.gen();

    // The table.
    let table = jitter(rgb(*TABLES.choose(rng).unwrap_or(&TABLES[0])), 0.1, rng);
    let grain = rng.gen_range(0.0..1.0f32) < 0.5;
    let mut canvas = Canvas {
        w,
        h,
        px: vec![table; w * h],
    };
    if grain {
        for (i, p) in canvas.px.iter_mut().enumerate() {
            let y = (i / w) as f32 / short;
            *p = scale(*p, 0.92 + 0.08 * (y * 40.0 + (i % w) as f32 * 0.02).sin());
        }
    }

    // A utensil next to the vessel, sometimes.
    if rng.gen_bool(0.4) {
        let side = if rng.gen_bool(0.5) { 1.2 } else { -1.2 };
        let metal = jitter([185.0, 188.0, 192.0], 0.08, rng);
        canvas.fill(view, side, 0.0, 1.0, |u, v| {
            ((u - side).abs() < 0.05 && v.abs() < 0.85).then_some(metal)
        });
    }

    // The vessel.
    let plate = jitter(rgb(*PLATES.choose(rng).unwrap_or(&PLATES[0])), 0.06, rng);
    match cat.vessel {
        Vessel::Plate => {
            let rim = scale(plate, 0.9);
            canvas.fill(view, 0.0, 0.0, 1.0, |u, v| {
                let r = (u * u + v * v).sqrt();
                (r <= 1.0).then_some(if r > 0.82 { rim } else { plate })
            });
        }
        Vessel::Bowl => {
            let inside = scale(plate, 0.78);
            canvas.fill(view, 0.0, 0.0, 0.92, |u, v| {
                let r = (u * u + v * v).sqrt();
                (r <= 0.92).then_some(if r > 0.78 { plate } else { inside })
            });
        }
        Vessel::Board => {
            let wood = jitter([176.0, 128.0, 80.0], 0.1, rng);
            canvas.fill(view, 0.0, 0.0, 1.3, |u, v| {
                (u.abs() < 1.05 && v.abs() < 0.75)
                    .then(|| scale(wood, 0.93 + 0.07 * (v * 30.0).sin()))
            });
        }
        Vessel::Tray => {
            let edge = scale(plate, 0.7);
            canvas.fill(view, 0.0, 0.0, 1.3, |u, v| {
                (u.abs() < 1.0 && v.abs() < 0.72).then(|| {
                    if u.abs() > 0.9 || v.abs() > 0.62 {
                        edge
                    } else {
                        plate
                    }
                })
            });
        }
    }

    // The food: the category's base colour, tinted by the mean colour of all ingredients.
    let ents = text.entities();
    let tint = if ents.is_empty() {
        rgb(cat.base)
    } else {
        let mut acc = [0.0f32; 3];
        for &e in &ents {
            let c = rgb(world.ingredients[e].colour);
            acc = [acc[0] + c[0], acc[1] + c[1], acc[2] + c[2]];
        }
        scale(acc, 1.0 / ents.len() as f32)
    };
    let base = jitter(mix(rgb(cat.base), tint, 0.3), 0.05, rng);
    let tex = cat.texture;
    let tex_angle = rng.gen_range(0.0..TAU);
    let surface = move |u: f32, v: f32| scale(base, texture(tex, u, v, seed, tex_angle));
    draw_shape(&mut canvas, view, cat.shape, base, &surface, seed, rng);

    // Toppings: every visible ingredient, placed by the category's arrangement.
    for e in visible(world, text) {
        let g = &world.ingredients[e];
        let colour = rgb(g.colour);
        let (count, size) = match g.form {
            Form::Pieces => (rng.gen_range(5..=9), 0.06),
            Form::Slices => (rng.gen_range(3..=6), 0.11),
            Form::Leaves => (rng.gen_range(3..=6), 0.1),
            Form::Sauce => (rng.gen_range(1..=2), 0.2),
            Form::Crumbs => (rng.gen_range(14..=26), 0.018),
            Form::Hidden => (0, 0.0),
        };
        for k in 0..count {
            let (u, v) = place(cat.arrangement, k, count, rng);
            let c = jitter(colour, 0.1, rng);
            let a = rng.gen_range(0.0..TAU);
            let (ca, sa) = (a.cos(), a.sin());
            match g.form {
                Form::Pieces | Form::Crumbs => {
                    let r = size * rng.gen_range(0.7..1.3);
                    canvas.fill(view, u, v, r, |x, y| {
                        ((x - u).powi(2) + (y - v).powi(2) <= r * r).then_some(c)
                    });
                }
                Form::Slices | Form::Leaves => {
                    let (len, wid) = if g.form == Form::Slices {
                        (size, size * 0.45)
                    } else {
                        (size, size * 0.35)
                    };
                    canvas.fill(view, u, v, len, |x, y| {
                        let (dx, dy) = (x - u, y - v);
                        let (p, q) = (dx * ca + dy * sa, -dx * sa + dy * ca);
                        ((p / len).powi(2) + (q / wid).powi(2) <= 1.0).then_some(c)
                    });
                }
                Form::Sauce => {
                    // A wavy drizzle across the food.
                    let width = 0.035;
                    canvas.fill(view, u, v, size + width, |x, y| {
                        let (dx, dy) = (x - u, y - v);
                        let (p, q) = (dx * ca + dy * sa, -dx * sa + dy * ca);
                        (p.abs() <= size && (q - 0.05 * (p * 30.0).sin()).abs() <= width)
                            .then_some(c)
                    });
                }
                Form::Hidden => {}
            }
        }
    }

    finish(canvas, view, rng)
}

/// A topping position in dish space for the `k`-th of `n` items.
fn place<R: Rng>(arrangement: Arrangement, k: usize, n: usize, rng: &mut R) -> (f32, f32) {
    match arrangement {
        Arrangement::Scatter => {
            let r = 0.5 * rng.gen_range(0.0f32..1.0).sqrt();
            let a = rng.gen_range(0.0..TAU);
            (r * a.cos(), r * a.sin())
        }
        Arrangement::Ring => {
            let a = TAU * (k as f32 + rng.gen_range(0.0..0.5)) / n.max(1) as f32;
            let r = rng.gen_range(0.38..0.5);
            (r * a.cos(), r * a.sin())
        }
        Arrangement::Centre => {
            let r = 0.18 * rng.gen_range(0.0f32..1.0).sqrt();
            let a = rng.gen_range(0.0..TAU);
            (r * a.cos(), r * a.sin())
        }
        Arrangement::Rows => {
            let row = (k % 3) as f32 - 1.0;
            (
                rng.gen_range(-0.5..0.5),
                row * 0.22 + rng.gen_range(-0.03..0.03),
            )
        }
    }
}

/// The category's main shape, filled with `surface`.
fn draw_shape<R: Rng>(
    canvas: &mut Canvas,
    view: View,
    shape: Shape,
    base: Rgb,
    surface: &impl Fn(f32, f32) -> Rgb,
    seed: u32,
    rng: &mut R,
) {
    match shape {
        Shape::Mound => {
            let wobble = rng.gen_range(0.03..0.08);
            let lobes = rng.gen_range(3..7) as f32;
            canvas.fill(view, 0.0, 0.0, 0.7, |u, v| {
                let r = (u * u + v * v).sqrt();
                let edge = 0.6 + wobble * (v.atan2(u) * lobes).sin();
                (r <= edge).then(|| surface(u, v))
            });
        }
        Shape::Wedge => {
            let dir = rng.gen_range(0.0..TAU);
            let half = rng.gen_range(0.35..0.55f32);
            let (ax, ay) = (-0.35 * dir.cos(), -0.35 * dir.sin());
            let crust = scale(base, 0.75);
            canvas.fill(view, ax, ay, 0.8, |u, v| {
                let (dx, dy) = (u - ax, v - ay);
                let r = (dx * dx + dy * dy).sqrt();
                let mut d = dy.atan2(dx) - dir;
                d = (d + std::f32::consts::PI).rem_euclid(TAU) - std::f32::consts::PI;
                (r <= 0.78 && d.abs() <= half).then(|| if r > 0.68 { crust } else { surface(u, v) })
            });
        }
        Shape::Disc => {
            let crust = scale(base, 0.78);
            canvas.fill(view, 0.0, 0.0, 0.72, |u, v| {
                let r = (u * u + v * v).sqrt();
                (r <= 0.72).then(|| if r > 0.64 { crust } else { surface(u, v) })
            });
        }
        Shape::Slab => {
            let a = rng.gen_range(-0.6..0.6f32);
            let (ca, sa) = (a.cos(), a.sin());
            let (len, wid) = (rng.gen_range(0.5..0.62), rng.gen_range(0.26..0.34));
            canvas.fill(view, 0.0, 0.0, 0.75, |u, v| {
                let (p, q) = (u * ca + v * sa, -u * sa + v * ca);
                (p.abs() <= len && q.abs() <= wid).then(|| surface(u, v))
            });
        }
        Shape::Strands => {
            canvas.fill(view, 0.0, 0.0, 0.62, |u, v| {
                (u * u + v * v <= 0.36).then(|| scale(surface(u, v), 0.85))
            });
            let strand = scale(base, 1.08);
            canvas.fill(view, 0.0, 0.0, 0.62, |u, v| {
                let r = (u * u + v * v).sqrt();
                let s = (u * 9.0 + (v * 11.0).sin() * 1.7 + (seed % 7) as f32).sin();
                (r <= 0.6 && s.abs() < 0.35).then_some(strand)
            });
        }
        Shape::Liquid => {
            canvas.fill(view, 0.0, 0.0, 0.76, |u, v| {
                (u * u + v * v <= 0.76 * 0.76).then(|| surface(u, v))
            });
        }
        Shape::Rounds => {
            let n = rng.gen_range(3..=6);
            let r = rng.gen_range(0.16..0.22f32);
            let rot = rng.gen_range(0.0..TAU);
            for k in 0..n {
                let a = rot + TAU * k as f32 / n as f32;
                let (cu, cv) = (0.42 * a.cos(), 0.42 * a.sin());
                canvas.fill(view, cu, cv, r, |u, v| {
                    let d2 = (u - cu).powi(2) + (v - cv).powi(2);
                    (d2 <= r * r).then(|| {
                        let edge = if d2 > 0.7 * r * r { 0.85 } else { 1.0 };
                        scale(surface(u - cu, v - cv), edge)
                    })
                });
            }
        }
        Shape::Stack => {
            for k in 0..3 {
                let (cu, cv) = (0.06 * k as f32, -0.05 * k as f32);
                canvas.fill(view, cu, cv, 0.56, |u, v| {
                    let r = ((u - cu).powi(2) + (v - cv).powi(2)).sqrt();
                    (r <= 0.55).then(|| {
                        if r > 0.5 {
                            scale(base, 0.8)
                        } else {
                            surface(u, v)
                        }
                    })
                });
            }
        }
        Shape::Sticks => {
            let n = rng.gen_range(8..=16);
            for _ in 0..n {
                let (cu, cv) = (rng.gen_range(-0.4..0.4f32), rng.gen_range(-0.35..0.35f32));
                let a = rng.gen_range(0.0..TAU);
                let (ca, sa) = (a.cos(), a.sin());
                let shade = rng.gen_range(0.85..1.1f32);
                canvas.fill(view, cu, cv, 0.3, |u, v| {
                    let (dx, dy) = (u - cu, v - cv);
                    let (p, q) = (dx * ca + dy * sa, -dx * sa + dy * ca);
                    (p.abs() <= 0.28 && q.abs() <= 0.05).then(|| scale(surface(u, v), shade))
                });
            }
        }
    }
}

/// Light (gain, colour cast, a gradient across the frame) and sensor noise, then 8-bit sRGB.
fn finish<R: Rng>(canvas: Canvas, view: View, rng: &mut R) -> RgbImage {
    let gain = rng.gen_range(0.75..1.2f32);
    let cast = [
        1.0 + rng.gen_range(-0.08..0.08f32),
        1.0 + rng.gen_range(-0.05..0.05f32),
        1.0 + rng.gen_range(-0.08..0.08f32),
    ];
    let ga = rng.gen_range(0.0..TAU);
    let gm = rng.gen_range(0.0..0.35f32);
    let (gx, gy) = (gm * ga.cos(), gm * ga.sin());
    let sigma = rng.gen_range(2.0..9.0f32);
    let nseed: u32 = rng.gen();
    let norm = 1.0 / view.scale.max(1.0);
    let (w, h) = (canvas.w, canvas.h);
    let mut out = RgbImage::new(w as u32, h as u32);
    for (i, (p, o)) in canvas.px.iter().zip(out.pixels_mut()).enumerate() {
        let (x, y) = ((i % w) as f32, (i / w) as f32);
        let light = gain * (1.0 + gx * (x - view.cx) * norm + gy * (y - view.cy) * norm);
        let n = (hash(x as i32, y as i32, nseed) + hash(y as i32, x as i32, nseed ^ 0xA5A5) - 1.0)
            * sigma
            * 1.7;
        for c in 0..3 {
            o.0[c] = (p[c] * light * cast[c] + n).clamp(0.0, 255.0) as u8;
        }
    }
    out
}
