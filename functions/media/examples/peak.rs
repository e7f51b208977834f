//! Peak memory and time of processing the largest image the processor
//! decodes: an 8,000 x 6,000 JPEG photo (48 megapixels, the limit), made
//! here, then processed as an upload is. Linux only (reads `VmHWM`).
//!
//! `cargo run --release -p chat-media --example peak`

use std::io::Cursor;
use std::time::Instant;

use chat_domain::attachments::file_type;
use image::{DynamicImage, ImageBuffer, Rgb};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let (width, height) = (8_000u32, 6_000u32);
    let photo = {
        let img = ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([(x % 251) as u8, (y % 241) as u8, ((x ^ y) % 256) as u8])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .expect("a JPEG");
        out
    };
    let before = peak_rss_mb();
    // The input is dropped from the count: only processing's own peak.
    let start = Instant::now();
    let processed = chat_media::process(file_type("image/jpeg").expect("JPEG is allowed"), &photo)
        .expect("processed");
    let took = start.elapsed();
    println!(
        "{width} x {height} JPEG ({:.1} MB): processed in {:.2} s; peak RSS {:.0} MB (before processing {:.0} MB); file {:.1} MB, thumbnail {} KB",
        photo.len() as f64 / 1e6,
        took.as_secs_f64(),
        peak_rss_mb(),
        before,
        processed.file.len() as f64 / 1e6,
        processed.thumbnail.map_or(0, |t| t.len() / 1024),
    );
}
