//! Spec operations of data-images.md: image paths, resizing and cropping, pixel normalisation, the loader's order.
//!
//! Spec: spec/data-images.md.

use seje::data::{loader, resample, transforms};
use toml::{Table, Value};

use crate::inputs::{float, get, int, string};

fn uint(ex: &Table, key: &str) -> Result<u32, String> {
    u32::try_from(int(ex, key)?)
        .map_err(|_| format!("input `{key}` must be a small non-negative integer"))
}

fn pair_of(ex: &Table, key: &str) -> Result<(u32, u32), String> {
    let a = get(ex, key)?
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| format!("input `{key}` must be [a, b]"))?;
    let f = |v: &Value| {
        v.as_integer()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| format!("input `{key}` must hold integers"))
    };
    Ok((f(&a[0])?, f(&a[1])?))
}

fn ints(v: impl IntoIterator<Item = u32>) -> Value {
    Value::Array(
        v.into_iter()
            .map(|x| Value::Integer(i64::from(x)))
            .collect(),
    )
}

pub fn image_path(ex: &Table) -> Result<Value, String> {
    let p: seje::data::splits::Partition = string(ex, "partition")?.parse()?;
    let path = seje::data::images::tree_path(p, string(ex, "image")?);
    Ok(Value::String(seje::data::images::slash(&path)))
}

/// `size = [w, h]`, `resize` → `[w', h']`.
pub fn resized_size(ex: &Table) -> Result<Value, String> {
    let (w, h) = pair_of(ex, "size")?;
    let (a, b) = transforms::resized_size(w, h, uint(ex, "resize")?);
    Ok(ints([a, b]))
}

/// `size = [w, h]`, `crop` → `[left, top]`.
pub fn center_crop_origin(ex: &Table) -> Result<Value, String> {
    let (w, h) = pair_of(ex, "size")?;
    let c = uint(ex, "crop")?;
    let (l, t) = transforms::center_crop_origin(w, h, c, c);
    Ok(ints([l, t]))
}

/// `gray = [[v, …], …]` (rows of grey levels), `size = [w, h]` → the resized grey rows.
pub fn resize(ex: &Table) -> Result<Value, String> {
    let rows = get(ex, "gray")?.as_array().ok_or("`gray` must be rows")?;
    let h = rows.len() as u32;
    let mut flat = Vec::new();
    for r in rows {
        for v in r.as_array().ok_or("`gray` must be rows of numbers")? {
            flat.push(float(v, "gray")? as u8);
        }
    }
    let w = flat.len() as u32 / h.max(1);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = flat[(y * w + x) as usize];
        image::Rgb([v, v, v])
    });
    let (ow, oh) = pair_of(ex, "size")?;
    let out = resample::resize_bilinear(&img, ow, oh);
    Ok(Value::Array(
        (0..oh)
            .map(|y| ints((0..ow).map(|x| u32::from(out.get_pixel(x, y).0[0]))))
            .collect(),
    ))
}

/// `rgb = [r, g, b]` (bytes) → the three normalised channel values.
pub fn normalize_pixel(ex: &Table) -> Result<Value, String> {
    let v = get(ex, "rgb")?
        .as_array()
        .ok_or("`rgb` must be [r, g, b]")?;
    let px: Vec<u8> = v
        .iter()
        .map(|x| float(x, "rgb").map(|f| f as u8))
        .collect::<Result<_, _>>()?;
    let img = image::RgbImage::from_raw(1, 1, px).ok_or("`rgb` must hold three bytes")?;
    let mut out = [0f32; 3];
    transforms::normalize_into(&img, &transforms::TransformConfig::paper(), &mut out);
    Ok(Value::Array(
        out.iter().map(|&x| Value::Float(f64::from(x))).collect(),
    ))
}

/// `n`, `seed`, `epoch`, `shuffle` → the visiting order.
pub fn epoch_order(ex: &Table) -> Result<Value, String> {
    let shuffle = get(ex, "shuffle")?
        .as_bool()
        .ok_or("`shuffle` must be a boolean")?;
    let order = loader::epoch_order(
        int(ex, "n")? as usize,
        int(ex, "seed")? as u64,
        int(ex, "epoch")? as u64,
        shuffle,
    );
    Ok(Value::Array(
        order
            .into_iter()
            .map(|i| Value::Integer(i as i64))
            .collect(),
    ))
}
