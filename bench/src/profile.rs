//! Where a delivery's time goes on the project: the writer logs one
//! `delivery timing` line per push at debug level (`chat_realtime::fanout`),
//! with the time spent reading the subscribers, shaping the payloads and
//! posting them. The fan-out gateway runs with that line enabled; each case
//! reads the lines its messages added to the gateway's log.

use std::path::Path;

use serde::Serialize;

use crate::stats::Summary;

/// The log filter the fan-out gateway runs with.
pub const GATEWAY_LOG: &str = "warn,chat_realtime::fanout=debug";

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub pushes: usize,
    pub lookup: Summary,
    pub shape: Summary,
    pub post: Summary,
}

/// The log's length now: where the next case's lines start.
pub fn mark(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// The pushes of messages logged after `from`.
pub fn since(log: &Path, from: u64) -> Option<Profile> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(text.get(from as usize..)?);
    let (mut lookup, mut shape, mut post) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines().filter(|l| l.contains("delivery timing")) {
        let plain = strip_ansi(line);
        let field = |name: &str| -> Option<f64> {
            let start = plain.find(&format!("{name}="))? + name.len() + 1;
            let rest = &plain[start..];
            let end = rest.find(' ').unwrap_or(rest.len());
            rest[..end].parse().ok()
        };
        if !plain.contains("topic=message:") {
            continue;
        }
        if let (Some(l), Some(s), Some(p)) =
            (field("lookup_us"), field("shape_us"), field("post_us"))
        {
            lookup.push(l / 1000.0);
            shape.push(s / 1000.0);
            post.push(p / 1000.0);
        }
    }
    (!lookup.is_empty()).then(|| Profile {
        pushes: lookup.len(),
        lookup: Summary::of_ms(&mut lookup),
        shape: Summary::of_ms(&mut shape),
        post: Summary::of_ms(&mut post),
    })
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_timing_lines_of_message_pushes_after_the_mark() {
        let dir = std::env::temp_dir().join(format!("chat-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("gateway.log");
        std::fs::write(&log, "\u{1b}[2mx\u{1b}[0m delivery timing topic=message:a subscribers=1 lookup_us=9000 shape_us=1 post_us=1\n").unwrap();
        let from = mark(&log);
        let more = "DEBUG delivery timing \u{1b}[3mtopic\u{1b}[0m=message:c subscribers=10 lookup_us=1000 shape_us=200 post_us=3000\n\
                    DEBUG delivery timing topic=user subscribers=2 lookup_us=5 shape_us=5 post_us=5\n";
        std::fs::write(
            &log,
            format!("{}{more}", std::fs::read_to_string(&log).unwrap()),
        )
        .unwrap();
        let p = since(&log, from).unwrap();
        assert_eq!(p.pushes, 1);
        assert_eq!(p.lookup.p50_ms, 1.0);
        assert_eq!(p.shape.p50_ms, 0.2);
        assert_eq!(p.post.p50_ms, 3.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
