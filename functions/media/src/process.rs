//! What an upload becomes: [`process`] takes its bytes and its declared
//! type and gives the file to keep and its thumbnail, or why it is refused.
//!
//! Images (JPEG, PNG, WebP, GIF) are decoded and encoded again. The new
//! file holds pixels only: no Exif (GPS, camera, time), no XMP, no ICC
//! profile, no comment. The Exif orientation is applied to the pixels
//! first, so the picture stays upright once the tag is gone. JPEG stays
//! JPEG (quality 90), PNG stays PNG, WebP becomes lossless WebP (the
//! encoder this crate has), and a GIF keeps its frames.
//!
//! Memory is bounded before decoding: the header's width and height are
//! read first, and an image over [`limits::MAX_IMAGE_SIDE`] on a side or
//! [`limits::MAX_IMAGE_PIXELS`] in all (a decompression bomb: a few
//! kilobytes that claim gigapixels) is refused without decoding a pixel.
//! The decoder also runs under `image::Limits`, so a header that lies is
//! caught by the allocation cap.

use std::io::Cursor;

use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{AnimationDecoder, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use chat_domain::attachments::FileType;
use chat_domain::limits;

/// Largest single allocation a decode may make: an RGBA image of
/// [`limits::MAX_IMAGE_PIXELS`], and a little over.
const MAX_ALLOC: u64 = limits::MAX_IMAGE_PIXELS * 4 + 16 * 1024 * 1024;

/// A thumbnail's JPEG quality.
const THUMBNAIL_QUALITY: u8 = 80;
/// A re-encoded JPEG's quality.
const JPEG_QUALITY: u8 = 90;

/// What an upload becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// The file to keep, of the declared type.
    pub file: Vec<u8>,
    /// A JPEG at most [`limits::THUMBNAIL_SIDE`] on its longer side.
    pub thumbnail: Option<Vec<u8>>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Why an upload is refused: said to its sender on the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the file's bytes are not {0}")]
    NotItsType(&'static str),
    #[error("the image is {width} x {height} pixels; at most {max_side} on a side and {max_pixels} in all are taken")]
    TooManyPixels {
        width: u32,
        height: u32,
        max_side: u32,
        max_pixels: u64,
    },
    #[error("the animation has too many frames for its size")]
    TooManyFrames,
    #[error("the file is damaged: {0}")]
    Corrupt(String),
}

fn corrupt(err: impl std::fmt::Display) -> Refusal {
    Refusal::Corrupt(err.to_string())
}

fn format_of(mime: &str) -> Option<ImageFormat> {
    match mime {
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/png" => Some(ImageFormat::Png),
        "image/webp" => Some(ImageFormat::WebP),
        "image/gif" => Some(ImageFormat::Gif),
        _ => None,
    }
}

fn decode_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(limits::MAX_IMAGE_SIDE);
    limits.max_image_height = Some(limits::MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

/// Checks `bytes` against the declared type and processes them (see the
/// module's documentation). CPU-bound: run it off the async runtime.
pub fn process(declared: &FileType, bytes: &[u8]) -> Result<Processed, Refusal> {
    if !declared.matches(bytes) {
        return Err(Refusal::NotItsType(declared.mime));
    }
    match format_of(declared.mime) {
        Some(format) => image(format, bytes),
        None if declared.mime == "image/heic" => {
            let (file, size) = crate::heic::strip(bytes).map_err(corrupt)?;
            Ok(Processed {
                file,
                thumbnail: None,
                width: size.map(|s| s.0),
                height: size.map(|s| s.1),
            })
        }
        None => Ok(Processed {
            file: bytes.to_vec(),
            thumbnail: None,
            width: None,
            height: None,
        }),
    }
}

/// The header's size, refused when over the limits.
fn bounded(format: ImageFormat, bytes: &[u8]) -> Result<(u32, u32), Refusal> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decode_limits());
    let (width, height) = reader.into_dimensions().map_err(|e| match e {
        image::ImageError::Limits(_) => Refusal::TooManyPixels {
            width: 0,
            height: 0,
            max_side: limits::MAX_IMAGE_SIDE,
            max_pixels: limits::MAX_IMAGE_PIXELS,
        },
        other => corrupt(other),
    })?;
    if width > limits::MAX_IMAGE_SIDE
        || height > limits::MAX_IMAGE_SIDE
        || u64::from(width) * u64::from(height) > limits::MAX_IMAGE_PIXELS
    {
        return Err(Refusal::TooManyPixels {
            width,
            height,
            max_side: limits::MAX_IMAGE_SIDE,
            max_pixels: limits::MAX_IMAGE_PIXELS,
        });
    }
    Ok((width, height))
}

fn image(format: ImageFormat, bytes: &[u8]) -> Result<Processed, Refusal> {
    let (width, height) = bounded(format, bytes)?;
    if format == ImageFormat::Gif {
        return gif(bytes, width, height);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decode_limits());
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().map_err(corrupt)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    let mut file = Vec::new();
    match format {
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(img.to_rgb8())
            .write_with_encoder(JpegEncoder::new_with_quality(&mut file, JPEG_QUALITY)),
        ImageFormat::Png => img.write_with_encoder(PngEncoder::new(&mut file)),
        _ => {
            let rgba = if img.color().has_alpha() {
                DynamicImage::ImageRgba8(img.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(img.to_rgb8())
            };
            rgba.write_with_encoder(WebPEncoder::new_lossless(&mut file))
        }
    }
    .map_err(corrupt)?;
    Ok(Processed {
        file,
        thumbnail: Some(thumbnail(&img)?),
        width: Some(img.width()),
        height: Some(img.height()),
    })
}

/// A GIF: every frame decoded (within [`limits::MAX_ANIMATION_PIXELS`]) and
/// encoded again, which drops its comments and application extensions.
fn gif(bytes: &[u8], width: u32, height: u32) -> Result<Processed, Refusal> {
    let frame_pixels = u64::from(width) * u64::from(height);
    let most_frames = (limits::MAX_ANIMATION_PIXELS / frame_pixels.max(1)).max(1);
    let decoder = GifDecoder::new(Cursor::new(bytes)).map_err(corrupt)?;
    let mut frames = Vec::new();
    for frame in decoder.into_frames() {
        if frames.len() as u64 >= most_frames {
            return Err(Refusal::TooManyFrames);
        }
        frames.push(frame.map_err(corrupt)?);
    }
    let first = frames
        .first()
        .map(|f| DynamicImage::ImageRgba8(f.buffer().clone()))
        .ok_or_else(|| corrupt("no frame"))?;
    let mut file = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut file);
        encoder.set_repeat(Repeat::Infinite).map_err(corrupt)?;
        encoder.encode_frames(frames).map_err(corrupt)?;
    }
    Ok(Processed {
        file,
        thumbnail: Some(thumbnail(&first)?),
        width: Some(width),
        height: Some(height),
    })
}

/// A JPEG of `img` at most [`limits::THUMBNAIL_SIDE`] on its longer side,
/// transparency laid on white.
fn thumbnail(img: &DynamicImage) -> Result<Vec<u8>, Refusal> {
    let side = limits::THUMBNAIL_SIDE;
    // Never larger than the image itself.
    let small = if img.width() <= side && img.height() <= side {
        img.clone()
    } else {
        img.thumbnail(side, side)
    };
    let mut rgba = small.to_rgba8();
    for pixel in rgba.pixels_mut() {
        let [r, g, b, a] = pixel.0;
        let over_white =
            |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        pixel.0 = [over_white(r), over_white(g), over_white(b), 255];
    }
    let rgb = DynamicImage::ImageRgba8(rgba).to_rgb8();
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(rgb)
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, THUMBNAIL_QUALITY))
        .map_err(corrupt)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_domain::attachments::file_type;
    use image::{ImageBuffer, Rgb, RgbImage};

    fn png_of(width: u32, height: u32) -> Vec<u8> {
        let img: RgbImage = ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_with_encoder(PngEncoder::new(&mut out))
            .unwrap();
        out
    }

    /// A JPEG with an Exif segment holding a GPS tag and orientation 6
    /// (rotate 90° clockwise to view), as a phone writes it.
    fn jpeg_with_gps(width: u32, height: u32) -> Vec<u8> {
        let img: RgbImage = ImageBuffer::from_pixel(width, height, Rgb([200, 10, 10]));
        let mut plain = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_with_encoder(JpegEncoder::new_with_quality(&mut plain, 90))
            .unwrap();
        // TIFF, little-endian: IFD0 with Orientation (0x0112) = 6 and a
        // GPS IFD pointer (0x8825) to an IFD with GPSLatitude's ref "N".
        let mut tiff: Vec<u8> = b"II*\0\x08\0\0\0".to_vec();
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
        tiff.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0, 38, 0, 0, 0]);
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&[0x01, 0x00, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
        tiff.extend_from_slice(&0u32.to_le_bytes());
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&plain[2..]);
        out
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_photo_loses_its_exif_and_gps_and_stays_upright() {
        let photo = jpeg_with_gps(40, 20);
        assert!(contains(&photo, b"Exif\0\0"));
        let out = process(file_type("image/jpeg").unwrap(), &photo).unwrap();
        assert!(!contains(&out.file, b"Exif"), "no Exif segment is left");
        assert!(
            !contains(&out.file, &[0x25, 0x88]),
            "no GPS pointer is left"
        );
        // Orientation 6: the 40 x 20 pixels are shown 20 x 40.
        assert_eq!((out.width, out.height), (Some(20), Some(40)));
        let decoded = image::load_from_memory(&out.file).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (20, 40));
        let thumb = image::load_from_memory(out.thumbnail.as_deref().unwrap()).unwrap();
        assert!(
            thumb.width() <= limits::THUMBNAIL_SIDE && thumb.height() <= limits::THUMBNAIL_SIDE
        );
    }

    #[test]
    fn a_large_image_gets_a_small_thumbnail_of_its_shape() {
        let out = process(file_type("image/png").unwrap(), &png_of(1000, 500)).unwrap();
        let thumb = image::load_from_memory(out.thumbnail.as_deref().unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 160));
        assert_eq!(image::guess_format(&out.file).unwrap(), ImageFormat::Png);
        // A small image's thumbnail is its own size, never blown up.
        let out = process(file_type("image/png").unwrap(), &png_of(120, 40)).unwrap();
        let thumb = image::load_from_memory(out.thumbnail.as_deref().unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (120, 40));
    }

    #[test]
    fn an_executable_named_png_and_a_broken_png_are_refused() {
        let png = file_type("image/png").unwrap();
        let exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0 this program cannot be run";
        assert_eq!(process(png, exe), Err(Refusal::NotItsType("image/png")));
        let mut broken = png_of(50, 50);
        broken.truncate(60);
        assert!(matches!(process(png, &broken), Err(Refusal::Corrupt(_))));
    }

    /// A PNG chunk's CRC (ISO 3309, as PNG uses it).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A 1 x 1 PNG whose header claims `width` x `height`, its CRC fixed.
    fn claiming(width: u32, height: u32) -> Vec<u8> {
        let mut png = png_of(1, 1);
        png[16..20].copy_from_slice(&width.to_be_bytes());
        png[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    /// A PNG whose header claims 40,000 x 40,000 pixels (6.4 GB as RGBA):
    /// refused from the header, before any pixel is decoded.
    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        let bomb = claiming(40_000, 40_000);
        let refused = process(file_type("image/png").unwrap(), &bomb).unwrap_err();
        assert!(
            matches!(refused, Refusal::TooManyPixels { .. }),
            "{refused:?}"
        );
        // At the edge: as many pixels as are taken, on a side the limit
        // allows, is over the pixel count only when one more row is added.
        let side = limits::MAX_IMAGE_SIDE;
        let rows = (limits::MAX_IMAGE_PIXELS / u64::from(side)) as u32;
        assert!(matches!(
            process(file_type("image/png").unwrap(), &claiming(side, rows + 1)),
            Err(Refusal::TooManyPixels { .. })
        ));
        // One pixel more on a side than allowed, however few in all.
        assert!(matches!(
            process(file_type("image/png").unwrap(), &claiming(side + 1, 1)),
            Err(Refusal::TooManyPixels { .. })
        ));
        // At the limit the header passes; the lie then shows in the data.
        assert!(matches!(
            process(file_type("image/png").unwrap(), &claiming(side, rows)),
            Err(Refusal::Corrupt(_))
        ));
    }

    #[test]
    fn a_pdf_is_kept_as_sent() {
        let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n";
        let out = process(file_type("application/pdf").unwrap(), pdf).unwrap();
        assert_eq!(out.file, pdf.to_vec());
        assert_eq!(out.thumbnail, None);
    }
}
