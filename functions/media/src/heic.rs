//! HEIC (HEIF, ISO/IEC 23008-12, over the ISO base media file format).
//!
//! Nothing here decodes HEVC, so a HEIC file is kept as sent but for its
//! metadata: the bytes of every `Exif` item and every XMP item (`mime`,
//! `application/rdf+xml`) are overwritten with zeros in place. Offsets stay
//! valid, so the picture still decodes, and GPS, camera and time are gone.
//! The picture's size comes from its largest `ispe` property.
//!
//! Boxes read: `meta` > `iinf` > `infe` (item types), `meta` > `iloc`
//! (where each item's bytes are), `meta` > `idat` (items stored in the box
//! itself), `meta` > `iprp` > `ipco` > `ispe`.

/// A HEIC file this reader cannot follow.
#[derive(Debug, thiserror::Error)]
#[error("not a readable HEIF file: {0}")]
pub struct HeicError(&'static str);

fn err(why: &'static str) -> HeicError {
    HeicError(why)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], HeicError> {
        let end = self.at.checked_add(n).ok_or(err("length overflows"))?;
        let s = self.b.get(self.at..end).ok_or(err("truncated"))?;
        self.at = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, HeicError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |v, b| (v << 8) | u64::from(*b)))
    }

    fn u8(&mut self) -> Result<u8, HeicError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u64, HeicError> {
        self.uint(2)
    }

    fn u32(&mut self) -> Result<u64, HeicError> {
        self.uint(4)
    }

    fn cstr(&mut self) -> Result<&'a [u8], HeicError> {
        let rest = &self.b[self.at..];
        let n = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        let s = &rest[..n];
        self.at += (n + 1).min(rest.len());
        Ok(s)
    }
}

/// The boxes in `b[start..end]`: (type, payload start, payload end).
fn boxes(b: &[u8], start: usize, end: usize) -> Result<Vec<([u8; 4], usize, usize)>, HeicError> {
    let mut out = Vec::new();
    let mut at = start;
    while at + 8 <= end {
        let mut r = Reader::new(b);
        r.at = at;
        let mut size = r.u32()?;
        let kind: [u8; 4] = r.take(4)?.try_into().map_err(|_| err("box type"))?;
        let mut header = 8;
        if size == 1 {
            size = r.uint(8)?;
            header = 16;
        } else if size == 0 {
            size = (end - at) as u64;
        }
        let size = usize::try_from(size).map_err(|_| err("box size"))?;
        if size < header || at + size > end {
            return Err(err("box size out of bounds"));
        }
        out.push((kind, at + header, at + size));
        at += size;
    }
    Ok(out)
}

/// A picture's width and height.
pub type Size = (u32, u32);

/// The file with its Exif and XMP items zeroed, and the picture's size.
pub fn strip(bytes: &[u8]) -> Result<(Vec<u8>, Option<Size>), HeicError> {
    let top = boxes(bytes, 0, bytes.len())?;
    let (_, meta_start, meta_end) = *top
        .iter()
        .find(|(k, ..)| k == b"meta")
        .ok_or(err("no meta box"))?;
    // `meta` is a full box: version and flags first.
    let children = boxes(bytes, meta_start + 4, meta_end)?;
    let find = |kind: &[u8; 4]| children.iter().find(|(k, ..)| k == kind).copied();

    let mut hidden: Vec<u64> = Vec::new();
    if let Some((_, s, e)) = find(b"iinf") {
        let mut r = Reader::new(&bytes[..e]);
        r.at = s;
        let version = r.u8()?;
        r.take(3)?;
        let _count = if version == 0 { r.u16()? } else { r.u32()? };
        for (kind, s, e) in boxes(bytes, r.at, e)? {
            if &kind != b"infe" {
                continue;
            }
            let mut r = Reader::new(&bytes[..e]);
            r.at = s;
            let version = r.u8()?;
            r.take(3)?;
            if version < 2 {
                continue;
            }
            let id = if version == 2 { r.u16()? } else { r.u32()? };
            r.u16()?;
            let item_type = r.take(4)?;
            let _name = r.cstr()?;
            let xmp = item_type == b"mime" && r.cstr()?.starts_with(b"application/rdf+xml");
            if item_type == b"Exif" || xmp {
                hidden.push(id);
            }
        }
    }

    let mut out = bytes.to_vec();
    if !hidden.is_empty() {
        let (_, s, e) = find(b"iloc").ok_or(err("no iloc box"))?;
        let idat = find(b"idat").map(|(_, s, _)| s);
        let mut r = Reader::new(&bytes[..e]);
        r.at = s;
        let version = r.u8()?;
        r.take(3)?;
        let sizes = r.u8()?;
        let (offset_size, length_size) = (usize::from(sizes >> 4), usize::from(sizes & 15));
        let sizes = r.u8()?;
        let base_offset_size = usize::from(sizes >> 4);
        let index_size = if version == 1 || version == 2 {
            usize::from(sizes & 15)
        } else {
            0
        };
        let count = if version < 2 { r.u16()? } else { r.u32()? };
        for _ in 0..count {
            let id = if version < 2 { r.u16()? } else { r.u32()? };
            let method = if version == 1 || version == 2 {
                r.u16()? & 15
            } else {
                0
            };
            r.u16()?;
            let base = r.uint(base_offset_size)?;
            let extents = r.u16()?;
            for _ in 0..extents {
                if index_size > 0 {
                    r.uint(index_size)?;
                }
                let offset = r.uint(offset_size)?;
                let length = r.uint(length_size)?;
                if !hidden.contains(&id) {
                    continue;
                }
                let origin = match method {
                    0 => 0,
                    1 => idat.ok_or(err("item in a missing idat"))? as u64,
                    _ => return Err(err("item stored by reference")),
                };
                let from = usize::try_from(origin + base + offset).map_err(|_| err("offset"))?;
                let to = from
                    .checked_add(usize::try_from(length).map_err(|_| err("length"))?)
                    .ok_or(err("length"))?;
                out.get_mut(from..to)
                    .ok_or(err("item outside the file"))?
                    .fill(0);
            }
        }
    }

    let mut size = None;
    if let Some((_, s, e)) = find(b"iprp") {
        for (kind, s, e) in boxes(bytes, s, e)? {
            if &kind != b"ipco" {
                continue;
            }
            for (kind, s, e) in boxes(bytes, s, e)? {
                if &kind == b"ispe" {
                    let mut r = Reader::new(&bytes[..e]);
                    r.at = s + 4;
                    let (w, h) = (r.u32()? as u32, r.u32()? as u32);
                    if size.is_none_or(|(sw, sh): Size| {
                        u64::from(w) * u64::from(h) > u64::from(sw) * u64::from(sh)
                    }) {
                        size = Some((w, h));
                    }
                }
            }
        }
    }
    Ok((out, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    fn full(kind: &[u8; 4], version: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![version, 0, 0, 0];
        p.extend_from_slice(payload);
        bx(kind, &p)
    }

    /// A HEIF with an image item (1) and an Exif item (2) holding a GPS
    /// marker, both in `mdat`, located by a version 1 `iloc`.
    fn sample() -> (Vec<u8>, std::ops::Range<usize>) {
        let exif = b"\0\0\0\x06Exif\0\0MM\0*GPS-51.5N";
        let picture = b"HEVC-PICTURE-BYTES";
        let ftyp = bx(b"ftyp", b"heic\0\0\0\0mif1heic");
        let hdlr = full(b"hdlr", 0, b"\0\0\0\0pict\0\0\0\0\0\0\0\0\0\0\0\0\0");
        let mut infe1 = vec![0, 1, 0, 0];
        infe1.extend_from_slice(b"hvc1\0");
        let mut infe2 = vec![0, 2, 0, 0];
        infe2.extend_from_slice(b"Exif\0");
        let mut iinf_payload = 2u16.to_be_bytes().to_vec();
        iinf_payload.extend(full(b"infe", 2, &infe1));
        iinf_payload.extend(full(b"infe", 2, &infe2));
        let iinf = full(b"iinf", 0, &iinf_payload);
        let ispe = full(b"ispe", 0, &[0, 0, 0x0F, 0xC0, 0, 0, 0x0B, 0xD0]);
        let iprp = bx(b"iprp", &bx(b"ipco", &ispe));
        // Offsets are filled in once the layout is known.
        let iloc_len = 8 + 4 + 2 + 2 + 2 * (2 + 2 + 2 + 2 + 4 + 4);
        let meta_len = 8 + 4 + hdlr.len() + iinf.len() + iprp.len() + iloc_len;
        let mdat_start = ftyp.len() + meta_len + 8;
        let pic_at = mdat_start as u32;
        let exif_at = pic_at + picture.len() as u32;
        let mut iloc_payload = vec![0x44, 0x00];
        iloc_payload.extend_from_slice(&2u16.to_be_bytes());
        for (id, at, len) in [(1u16, pic_at, picture.len()), (2, exif_at, exif.len())] {
            iloc_payload.extend_from_slice(&id.to_be_bytes());
            iloc_payload.extend_from_slice(&0u16.to_be_bytes());
            iloc_payload.extend_from_slice(&0u16.to_be_bytes());
            iloc_payload.extend_from_slice(&1u16.to_be_bytes());
            iloc_payload.extend_from_slice(&at.to_be_bytes());
            iloc_payload.extend_from_slice(&(len as u32).to_be_bytes());
        }
        let iloc = full(b"iloc", 1, &iloc_payload);
        assert_eq!(iloc.len(), iloc_len);
        let mut meta_payload = hdlr;
        meta_payload.extend(iinf);
        meta_payload.extend(iprp);
        meta_payload.extend(iloc);
        let meta = full(b"meta", 0, &meta_payload);
        assert_eq!(meta.len(), meta_len);
        let mut mdat_payload = picture.to_vec();
        mdat_payload.extend_from_slice(exif);
        let mut file = ftyp;
        file.extend(meta);
        file.extend(bx(b"mdat", &mdat_payload));
        let exif_range = exif_at as usize..exif_at as usize + exif.len();
        (file, exif_range)
    }

    #[test]
    fn exif_items_are_zeroed_and_the_picture_is_kept() {
        let (file, exif) = sample();
        assert!(file.windows(3).any(|w| w == b"GPS"));
        let (out, size) = strip(&file).unwrap();
        assert_eq!(out.len(), file.len());
        assert!(out[exif.clone()].iter().all(|b| *b == 0));
        assert!(!out.windows(3).any(|w| w == b"GPS"));
        assert!(out.windows(18).any(|w| w == b"HEVC-PICTURE-BYTES"));
        assert_eq!(&out[..exif.start], &file[..exif.start]);
        assert_eq!(size, Some((4032, 3024)));
    }

    #[test]
    fn a_truncated_file_is_an_error_not_a_panic() {
        let (file, _) = sample();
        for cut in [10, 40, 100, file.len() - 5] {
            let _ = strip(&file[..cut]);
        }
        assert!(strip(b"\0\0\0\x18ftypheic\0\0\0\0").is_err());
    }
}
