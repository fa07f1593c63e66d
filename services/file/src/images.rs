//! Images: EXIF metadata (GPS, time, size, camera) read from the first bytes of an upload only,
//! through `kamadak-exif`, and thumbnails (at most the configured box, aspect kept) through
//! `image`, made after the upload by a bounded number of workers, as upstream.

use std::collections::BTreeMap;
use std::io::Cursor;

/// What an image's first bytes say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    /// Degrees east (negative: west).
    pub longitude: f64,
    /// Degrees north (negative: south).
    pub latitude: f64,
    /// Metres above sea level (negative: below).
    pub altitude: f64,
    /// When it was taken, `yyyy-MM-dd HH:mm:ss` (the camera's clock).
    pub time: String,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// The camera's model.
    pub camera_model: String,
    /// The camera body's serial number.
    pub body_serial_number: String,
    /// Other tags, by name.
    pub extra: BTreeMap<String, String>,
}

/// Whether a content type is an image this service reads.
pub fn is_image(content_type: &str) -> bool {
    matches!(content_type, "image/jpeg" | "image/png" | "image/gif" | "image/webp")
}

fn degrees(f: Option<&exif::Field>) -> Option<f64> {
    match &f?.value {
        exif::Value::Rational(v) if v.len() >= 3 => Some(v[0].to_f64() + v[1].to_f64() / 60.0 + v[2].to_f64() / 3600.0),
        _ => None,
    }
}

fn text(f: Option<&exif::Field>) -> String {
    match f.map(|f| &f.value) {
        Some(exif::Value::Ascii(v)) => v
            .iter()
            .map(|s| String::from_utf8_lossy(s).trim_matches(char::from(0)).trim().to_owned())
            .collect::<Vec<_>>()
            .join(" "),
        Some(_) => f.map(|f| f.display_value().to_string()).unwrap_or_default(),
        None => String::new(),
    }
}

/// The metadata in `head` (the first bytes of the file): EXIF where present, the size from the
/// image header otherwise. `None` when `head` holds neither.
pub fn meta(head: &[u8]) -> Option<Meta> {
    let mut m = Meta::default();
    let mut any = false;
    if let Ok(r) = exif::Reader::new().read_from_container(&mut Cursor::new(head)) {
        any = true;
        let get = |t| r.get_field(t, exif::In::PRIMARY);
        let sign = |t, neg: &str| if text(get(t)).starts_with(neg) { -1.0 } else { 1.0 };
        if let Some(lat) = degrees(get(exif::Tag::GPSLatitude)) {
            m.latitude = lat * sign(exif::Tag::GPSLatitudeRef, "S");
        }
        if let Some(lon) = degrees(get(exif::Tag::GPSLongitude)) {
            m.longitude = lon * sign(exif::Tag::GPSLongitudeRef, "W");
        }
        if let Some(exif::Value::Rational(v)) = get(exif::Tag::GPSAltitude).map(|f| &f.value) {
            let below = matches!(get(exif::Tag::GPSAltitudeRef).map(|f| &f.value), Some(exif::Value::Byte(b)) if b.first() == Some(&1));
            m.altitude = v.first().map(|r| r.to_f64()).unwrap_or(0.0) * if below { -1.0 } else { 1.0 };
        }
        let t = text(get(exif::Tag::DateTimeOriginal).or(get(exif::Tag::DateTime)));
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&t, "%Y:%m:%d %H:%M:%S") {
            m.time = t.format("%Y-%m-%d %H:%M:%S").to_string();
        }
        m.camera_model = text(get(exif::Tag::Model));
        m.body_serial_number = text(get(exif::Tag::BodySerialNumber));
        let dim = |t| get(t).and_then(|f| f.value.get_uint(0));
        m.width = dim(exif::Tag::PixelXDimension).unwrap_or(0);
        m.height = dim(exif::Tag::PixelYDimension).unwrap_or(0);
        for t in [exif::Tag::Make, exif::Tag::LensModel, exif::Tag::Software, exif::Tag::Orientation] {
            let v = text(get(t));
            if !v.is_empty() {
                m.extra.insert(t.to_string(), v);
            }
        }
    }
    if m.width == 0 || m.height == 0 {
        if let Ok((w, h)) = image::ImageReader::new(Cursor::new(head))
            .with_guessed_format()
            .map_err(|_| ())
            .and_then(|r| r.into_dimensions().map_err(|_| ()))
        {
            any = true;
            (m.width, m.height) = (w, h);
        }
    }
    any.then_some(m)
}

/// The thumbnail's object key: `<key without its extension>_thumb.<ext>`.
pub fn thumb_key(key: &str) -> String {
    match key.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => format!("{stem}_thumb.{ext}"),
        _ => format!("{key}_thumb"),
    }
}

/// A thumbnail of `image` within `width` x `height` (aspect kept, never enlarged), in the
/// original's format (JPEG for formats without an encoder here).
///
/// # Errors
/// The bytes are not an image this service reads.
pub fn thumbnail(bytes: &[u8], width: u32, height: u32) -> Result<Vec<u8>, image::ImageError> {
    let r = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let format = r.format().unwrap_or(image::ImageFormat::Jpeg);
    let img = r.decode()?;
    let small = if img.width() > width || img.height() > height { img.thumbnail(width, height) } else { img };
    let format = match format {
        image::ImageFormat::Png | image::ImageFormat::Gif => format,
        _ => image::ImageFormat::Jpeg,
    };
    let small =
        if format == image::ImageFormat::Jpeg { image::DynamicImage::ImageRgb8(small.to_rgb8()) } else { small };
    let mut out = Cursor::new(Vec::new());
    small.write_to(&mut out, format)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_keep_the_aspect_within_the_box() {
        let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(1200, 600, image::Rgb([200, 10, 10])));
        let mut jpeg = Cursor::new(Vec::new());
        img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
        let t = thumbnail(jpeg.get_ref(), 300, 300).unwrap();
        let back = image::load_from_memory(&t).unwrap();
        assert_eq!((back.width(), back.height()), (300, 150));
        let m = meta(jpeg.get_ref()).unwrap();
        assert_eq!((m.width, m.height), (1200, 600));
        assert!(meta(b"not an image").is_none());
        assert!(thumbnail(b"not an image", 300, 300).is_err());
        assert_eq!(thumb_key("upload/20261207/abc.jpg"), "upload/20261207/abc_thumb.jpg");
        assert_eq!(thumb_key("a.b/c"), "a.b/c_thumb");
    }
}
