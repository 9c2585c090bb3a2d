//! Keeping secrets out of screenshots.
//!
//! Masking keeps secret values out of the capture marks, but a screenshot shows
//! what the page showed: a card number in clear, a password's dots. The capture
//! script therefore records, as `tracepipe:sensitive` marks, where every secret
//! field that shows a value is on screen (rectangles in CSS pixels of the
//! window, with the viewport's size), each time that set changes and at least
//! every few seconds (docs/recording.md). A mark holds from its time until the
//! next one.
//!
//! A [`ScreenshotGuard`] decides for each screenshot, by its time, whether it is
//! kept as recorded, painted over ([`redact_jpeg`]) or dropped:
//!
//! - a recording with no such marks was made without the script (or with an
//!   older one): nothing says where secrets are, so its screenshots are dropped
//!   unless the upload declared them safe ([`UnmarkedScreenshots::Keep`]);
//! - a screenshot taken before the first mark is dropped: the script may not
//!   have been running yet;
//! - otherwise every rectangle of every mark that held within
//!   [`LAG_US`] before to [`LEAD_US`] after the screenshot is painted over, with
//!   a margin: a frame can show the page slightly before or after the instant
//!   it is stamped with.
//!
//! Trace events are in no particular order, so the marks are collected in a
//! first pass over the recording ([`scan_screen_privacy`](crate::scan_screen_privacy)),
//! which keeps only them and the screenshots' times: memory grows with the
//! number of marks (capped by [`MAX_SENSITIVE_RECTS`]), never with the images.

use serde::Deserialize;

/// The mark the capture script writes with the sensitive rectangles.
pub const SENSITIVE_MARK: &str = "tracepipe:sensitive";

/// How long before a screenshot's time a rectangle still counts: the frame may
/// show the page as it was a little earlier (a field emptied just before).
pub const LAG_US: i64 = 500_000;
/// How long after a screenshot's time a rectangle already counts: a field may
/// be painted at its new place before the mark that reports it.
pub const LEAD_US: i64 = 150_000;
/// Extra CSS pixels painted around each rectangle (focus rings, shadows,
/// rounding in the scaled frame).
pub const MARGIN_CSS_PX: f64 = 4.0;
/// Rectangles a recording may hold in all its marks (a mark without any counts
/// as one); more is refused rather than kept in memory. A mark every 2 s and on
/// each change stays far below this in a day of recording.
pub const MAX_SENSITIVE_RECTS: usize = 1 << 18;
/// Rectangles that may apply to one screenshot; a frame with more is left out
/// rather than painted rectangle by rectangle, which bounds the work a
/// screenshot costs whatever the marks.
pub const MAX_REGIONS_PER_FRAME: usize = 1024;
/// Largest frame decoded for redaction, in pixels (Chrome's frames are well
/// under a megapixel); larger ones are dropped, not decoded.
pub const MAX_FRAME_PIXELS: usize = 16 << 20;
/// Quality of re-encoded frames, about what Chrome uses for its own.
const JPEG_QUALITY: u8 = 80;
/// JPEG codes 16×16 pixel blocks (with halved chroma): a painted area aligned
/// to them encodes as a flat colour with no ringing from what was under it.
const BLOCK: usize = 16;
/// The colour painted over secrets.
pub const FILL_RGB: [u8; 3] = [0, 0, 0];

/// A rectangle in CSS pixels of the window.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct CssRect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// The window's size in CSS pixels, which a screenshot frame shows scaled.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Viewport {
    pub width: f64,
    pub height: f64,
}

/// One `tracepipe:sensitive` mark: where secret fields showed a value from
/// `t_us` (trace clock) until the next mark.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitiveSnapshot {
    pub t_us: i64,
    pub viewport: Viewport,
    pub fields: Vec<CssRect>,
}

/// The mark's detail as the capture script writes it; other members
/// (`dpr`, `reason`, `url`) are informative.
#[derive(Deserialize)]
struct SensitiveDetail {
    viewport: Viewport,
    #[serde(default)]
    fields: Vec<CssRect>,
}

impl SensitiveSnapshot {
    /// Parses a mark's detail; the error says what is wrong with it.
    pub fn parse(t_us: i64, detail: &str) -> Result<SensitiveSnapshot, String> {
        let d: SensitiveDetail =
            serde_json::from_str(detail).map_err(|e| format!("`{SENSITIVE_MARK}` detail: {e}"))?;
        let finite_positive = |v: f64| v.is_finite() && v > 0.0;
        if !finite_positive(d.viewport.width) || !finite_positive(d.viewport.height) {
            return Err(format!(
                "`{SENSITIVE_MARK}` viewport {}×{} is not a size",
                d.viewport.width, d.viewport.height
            ));
        }
        if let Some(bad) = d.fields.iter().find(|r| {
            ![r.x, r.y].iter().all(|v| v.is_finite())
                || ![r.width, r.height]
                    .iter()
                    .all(|&v| v.is_finite() && v >= 0.0)
        }) {
            return Err(format!(
                "`{SENSITIVE_MARK}` field rectangle {bad:?} is not a rectangle"
            ));
        }
        Ok(SensitiveSnapshot {
            t_us,
            viewport: d.viewport,
            fields: d.fields,
        })
    }
}

/// What the first pass over a recording learns: the sensitive marks and when
/// the embedded screenshots were taken.
#[derive(Debug, Default, Clone)]
pub struct ScreenPrivacy {
    snapshots: Vec<SensitiveSnapshot>,
    screenshot_times: Vec<i64>,
    rects: usize,
}

impl ScreenPrivacy {
    /// Adds a mark; refuses once the recording holds more rectangles than
    /// [`MAX_SENSITIVE_RECTS`].
    pub fn add_snapshot(&mut self, snapshot: SensitiveSnapshot) -> Result<(), String> {
        self.rects += snapshot.fields.len().max(1);
        if self.rects > MAX_SENSITIVE_RECTS {
            return Err(format!(
                "more than {MAX_SENSITIVE_RECTS} sensitive-field rectangles in `{SENSITIVE_MARK}` marks"
            ));
        }
        self.snapshots.push(snapshot);
        Ok(())
    }

    /// Notes a screenshot embedded in the recording.
    pub fn add_screenshot(&mut self, t_us: i64) {
        self.screenshot_times.push(t_us);
    }

    /// The marks, in time order.
    pub fn snapshots(&self) -> &[SensitiveSnapshot] {
        &self.snapshots
    }

    pub(crate) fn sort(&mut self) {
        // Stable: marks at the same instant keep their recorded order.
        self.snapshots.sort_by_key(|s| s.t_us);
    }
}

/// What to do with the screenshots of a recording that has no
/// `tracepipe:sensitive` marks at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnmarkedScreenshots {
    /// Nothing says where secrets are: keep none of them.
    #[default]
    Drop,
    /// The uploader declared them safe (recorded with test accounts only).
    Keep,
}

/// Why a screenshot was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The recording has no `tracepipe:sensitive` marks.
    Unmarked,
    /// Taken before the first mark.
    BeforeFirstMark,
    /// It could not be decoded or re-encoded to paint over it, or more than
    /// [`MAX_REGIONS_PER_FRAME`] rectangles apply to it.
    Unredactable,
}

/// A region to paint over: a rectangle and the viewport it was measured in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    pub viewport: Viewport,
    pub rect: CssRect,
}

/// What becomes of one screenshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep,
    Redact(Vec<Region>),
    Drop(DropReason),
}

/// Decides, by their time, what becomes of a recording's screenshots.
#[derive(Debug, Clone)]
pub struct ScreenshotGuard {
    privacy: ScreenPrivacy,
    unmarked: UnmarkedScreenshots,
    ignore_marks: bool,
}

impl ScreenshotGuard {
    pub fn new(mut privacy: ScreenPrivacy, unmarked: UnmarkedScreenshots) -> ScreenshotGuard {
        privacy.sort();
        ScreenshotGuard {
            privacy,
            unmarked,
            ignore_marks: false,
        }
    }

    /// Keeps every screenshot as recorded: only for readers whose sink keeps no
    /// images (a timeline, a count).
    pub fn keep_all() -> ScreenshotGuard {
        ScreenshotGuard {
            privacy: ScreenPrivacy::default(),
            unmarked: UnmarkedScreenshots::Keep,
            ignore_marks: true,
        }
    }

    pub fn verdict(&self, t_us: i64) -> Verdict {
        match self.marks_at(t_us) {
            Err(reason) => Verdict::Drop(reason),
            Ok(marks) if marks.iter().all(|s| s.fields.is_empty()) => Verdict::Keep,
            Ok(marks) => Verdict::Redact(
                marks
                    .iter()
                    .flat_map(|s| {
                        s.fields.iter().map(|&rect| Region {
                            viewport: s.viewport,
                            rect,
                        })
                    })
                    .collect(),
            ),
        }
    }

    /// The marks that apply to a screenshot taken at `t_us`: the one in force
    /// [`LAG_US`] before it and every later one up to [`LEAD_US`] after it.
    fn marks_at(&self, t_us: i64) -> Result<&[SensitiveSnapshot], DropReason> {
        let snapshots = &self.privacy.snapshots;
        let Some(first) = snapshots.first().filter(|_| !self.ignore_marks) else {
            return match self.unmarked {
                UnmarkedScreenshots::Keep => Ok(&[]),
                UnmarkedScreenshots::Drop => Err(DropReason::Unmarked),
            };
        };
        if t_us < first.t_us {
            return Err(DropReason::BeforeFirstMark);
        }
        let from = t_us.saturating_sub(LAG_US);
        let to = t_us.saturating_add(LEAD_US);
        let start = snapshots
            .partition_point(|s| s.t_us <= from)
            .saturating_sub(1);
        let end = snapshots.partition_point(|s| s.t_us <= to);
        let marks = &snapshots[start..end];
        // Bounded before the rectangles are counted: every mark counts as one.
        if marks.len() > MAX_REGIONS_PER_FRAME
            || marks.iter().map(|s| s.fields.len()).sum::<usize>() > MAX_REGIONS_PER_FRAME
        {
            return Err(DropReason::Unredactable);
        }
        Ok(marks)
    }

    /// Whether any screenshot embedded in the recording would be stored other
    /// than as recorded, so that the recording itself must not be kept.
    pub fn alters_embedded_screenshots(&self) -> bool {
        self.privacy.screenshot_times.iter().any(|&t| {
            self.marks_at(t)
                .map_or(true, |marks| marks.iter().any(|s| !s.fields.is_empty()))
        })
    }
}

/// Why a frame could not be redacted.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("the screenshot is not a JPEG this reader can decode: {0}")]
    Decode(#[from] jpeg_decoder::Error),
    #[error("the screenshot is {width}×{height} pixels, more than {MAX_FRAME_PIXELS}")]
    TooLarge { width: usize, height: usize },
    #[error("the screenshot's pixel format {0:?} is not supported")]
    PixelFormat(jpeg_decoder::PixelFormat),
    #[error("re-encoding the screenshot: {0}")]
    Encode(#[from] jpeg_encoder::EncodingError),
}

/// A rectangle of frame pixels, end-exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelBox {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

/// Where `region` lies in a `width`×`height` frame of its viewport, with the
/// margin, widened to whole JPEG blocks and clipped to the frame; None when
/// nothing of it is inside.
pub fn frame_box(region: &Region, width: usize, height: usize) -> Option<PixelBox> {
    let sx = width as f64 / region.viewport.width;
    let sy = height as f64 / region.viewport.height;
    let r = region.rect;
    let to_px = |v: f64, scale: f64, limit: usize| (v * scale).clamp(0.0, limit as f64);
    let x0 = to_px(r.x - MARGIN_CSS_PX, sx, width).floor() as usize;
    let y0 = to_px(r.y - MARGIN_CSS_PX, sy, height).floor() as usize;
    let x1 = to_px(r.x + r.width + MARGIN_CSS_PX, sx, width).ceil() as usize;
    let y1 = to_px(r.y + r.height + MARGIN_CSS_PX, sy, height).ceil() as usize;
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let down = |v: usize| v / BLOCK * BLOCK;
    let up = |v: usize, limit: usize| v.div_ceil(BLOCK).saturating_mul(BLOCK).min(limit);
    Some(PixelBox {
        x0: down(x0),
        y0: down(y0),
        x1: up(x1, width),
        y1: up(y1, height),
    })
}

/// Paints every region over in a JPEG frame and re-encodes it.
pub fn redact_jpeg(jpeg: &[u8], regions: &[Region]) -> Result<Vec<u8>, RedactError> {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    decoder.set_max_decoding_buffer_size(MAX_FRAME_PIXELS * 3);
    decoder.read_info()?;
    let info = decoder
        .info()
        .ok_or(RedactError::Decode(jpeg_decoder::Error::Format(
            "no frame header".into(),
        )))?;
    let (width, height) = (usize::from(info.width), usize::from(info.height));
    if width * height > MAX_FRAME_PIXELS {
        return Err(RedactError::TooLarge { width, height });
    }
    let (channels, colour, fill): (usize, jpeg_encoder::ColorType, &[u8]) = match info.pixel_format
    {
        jpeg_decoder::PixelFormat::RGB24 => (3, jpeg_encoder::ColorType::Rgb, &FILL_RGB),
        jpeg_decoder::PixelFormat::L8 => (1, jpeg_encoder::ColorType::Luma, &FILL_RGB[..1]),
        other => return Err(RedactError::PixelFormat(other)),
    };
    let mut pixels = decoder.decode()?;
    for b in regions.iter().filter_map(|r| frame_box(r, width, height)) {
        for y in b.y0..b.y1 {
            let row = &mut pixels[(y * width + b.x0) * channels..(y * width + b.x1) * channels];
            for pixel in row.chunks_exact_mut(channels) {
                pixel.copy_from_slice(fill);
            }
        }
    }
    let mut out = Vec::with_capacity(jpeg.len() + jpeg.len() / 4);
    jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY).encode(
        &pixels,
        info.width,
        info.height,
        colour,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(t_us: i64, fields: &[(f64, f64, f64, f64)]) -> SensitiveSnapshot {
        SensitiveSnapshot {
            t_us,
            viewport: Viewport {
                width: 1000.0,
                height: 500.0,
            },
            fields: fields
                .iter()
                .map(|&(x, y, width, height)| CssRect {
                    x,
                    y,
                    width,
                    height,
                })
                .collect(),
        }
    }

    fn guard(snapshots: Vec<SensitiveSnapshot>, unmarked: UnmarkedScreenshots) -> ScreenshotGuard {
        let mut privacy = ScreenPrivacy::default();
        for s in snapshots {
            privacy.add_snapshot(s).unwrap();
        }
        ScreenshotGuard::new(privacy, unmarked)
    }

    #[test]
    fn unmarked_recordings_keep_screenshots_only_when_declared_safe() {
        assert_eq!(
            guard(vec![], UnmarkedScreenshots::Drop).verdict(5),
            Verdict::Drop(DropReason::Unmarked)
        );
        assert_eq!(
            guard(vec![], UnmarkedScreenshots::Keep).verdict(5),
            Verdict::Keep
        );
    }

    #[test]
    fn a_mark_holds_until_the_next_within_the_lag_and_lead() {
        // Given out of order, as a trace may hold them.
        let g = guard(
            vec![
                snapshot(3_000_000, &[]),
                snapshot(1_000_000, &[]),
                snapshot(2_000_000, &[(10.0, 20.0, 30.0, 40.0)]),
            ],
            UnmarkedScreenshots::Keep,
        );
        assert_eq!(
            g.verdict(999_999),
            Verdict::Drop(DropReason::BeforeFirstMark)
        );
        assert_eq!(g.verdict(1_500_000), Verdict::Keep);
        let field = |t| match g.verdict(t) {
            Verdict::Redact(regions) => regions.iter().map(|r| r.rect.x).collect::<Vec<_>>(),
            other => panic!("{t}: {other:?}"),
        };
        // Painted from just before the mark (the frame may lead it) …
        assert_eq!(field(2_000_000 - LEAD_US), vec![10.0]);
        assert_eq!(g.verdict(2_000_000 - LEAD_US - 1), Verdict::Keep);
        assert_eq!(field(2_500_000), vec![10.0]);
        // … to a little after the mark that ended it (the frame may lag).
        assert_eq!(field(3_000_000 + LAG_US - 1), vec![10.0]);
        assert_eq!(g.verdict(3_000_000 + LAG_US), Verdict::Keep);
    }

    #[test]
    fn a_frame_with_too_many_rectangles_is_left_out() {
        let many: Vec<(f64, f64, f64, f64)> = (0..=MAX_REGIONS_PER_FRAME)
            .map(|i| (i as f64, 0.0, 1.0, 1.0))
            .collect();
        let g = guard(vec![snapshot(1_000, &many)], UnmarkedScreenshots::Drop);
        assert_eq!(g.verdict(2_000), Verdict::Drop(DropReason::Unredactable));
        let marks: Vec<SensitiveSnapshot> = (0..=MAX_REGIONS_PER_FRAME as i64)
            .map(|t| snapshot(1_000 + t, &[]))
            .collect();
        let g = guard(marks, UnmarkedScreenshots::Drop);
        assert_eq!(
            g.verdict(1_000 + MAX_REGIONS_PER_FRAME as i64),
            Verdict::Drop(DropReason::Unredactable)
        );
    }

    #[test]
    fn screenshots_are_altered_when_any_is_not_kept() {
        let mut privacy = ScreenPrivacy::default();
        privacy.add_snapshot(snapshot(1_000, &[])).unwrap();
        privacy.add_screenshot(2_000_000);
        assert!(
            !ScreenshotGuard::new(privacy.clone(), UnmarkedScreenshots::Drop)
                .alters_embedded_screenshots()
        );
        privacy.add_screenshot(10);
        assert!(
            ScreenshotGuard::new(privacy, UnmarkedScreenshots::Drop).alters_embedded_screenshots()
        );
    }

    #[test]
    fn malformed_marks_say_what_is_wrong() {
        assert!(
            SensitiveSnapshot::parse(1, r#"{"viewport":{"width":0,"height":5},"fields":[]}"#)
                .unwrap_err()
                .contains("is not a size")
        );
        assert!(SensitiveSnapshot::parse(1, r#"{"fields":[]}"#)
            .unwrap_err()
            .contains("viewport"));
        assert!(SensitiveSnapshot::parse(
            1,
            r#"{"viewport":{"width":9,"height":5},"fields":[{"x":1,"y":1,"width":-3,"height":1}]}"#
        )
        .unwrap_err()
        .contains("not a rectangle"));
        let ok = SensitiveSnapshot::parse(7, r#"{"viewport":{"width":9,"height":5},"dpr":2,"fields":[{"x":1,"y":1,"width":3,"height":1}],"reason":"input"}"#).unwrap();
        assert_eq!(ok.fields.len(), 1);
    }

    #[test]
    fn rectangles_map_to_the_scaled_frame_with_margin_on_whole_blocks() {
        // A 1000×500 viewport shown in a 500×250 frame.
        let region = Region {
            viewport: Viewport {
                width: 1000.0,
                height: 500.0,
            },
            rect: CssRect {
                x: 100.0,
                y: 100.0,
                width: 200.0,
                height: 40.0,
            },
        };
        assert_eq!(
            frame_box(&region, 500, 250),
            Some(PixelBox {
                x0: 48,
                y0: 48,
                x1: 160,
                y1: 80
            })
        );
        let outside = Region {
            rect: CssRect {
                x: 2000.0,
                ..region.rect
            },
            ..region
        };
        assert_eq!(frame_box(&outside, 500, 250), None);
        // Clipped at the frame's edge, not widened past it.
        let edge = Region {
            rect: CssRect {
                x: 990.0,
                y: 490.0,
                width: 50.0,
                height: 50.0,
            },
            ..region
        };
        assert_eq!(
            frame_box(&edge, 500, 250),
            Some(PixelBox {
                x0: 480,
                y0: 240,
                x1: 500,
                y1: 250
            })
        );
    }

    /// A frame with a fine pattern everywhere: what a field's text looks like
    /// to a pixel check.
    fn patterned_jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut pixels = Vec::new();
        for y in 0..height {
            for x in 0..width {
                let v = if (x / 2 + y / 3) % 2 == 0 { 230 } else { 20 };
                pixels.extend_from_slice(&[v, 255 - v, v / 2]);
            }
        }
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    #[test]
    fn redaction_paints_the_regions_flat_and_leaves_the_rest() {
        let jpeg = patterned_jpeg(500, 250);
        let region = Region {
            viewport: Viewport {
                width: 1000.0,
                height: 500.0,
            },
            rect: CssRect {
                x: 100.0,
                y: 100.0,
                width: 200.0,
                height: 40.0,
            },
        };
        let out = redact_jpeg(&jpeg, &[region]).unwrap();
        let mut decoder = jpeg_decoder::Decoder::new(&out[..]);
        let pixels = decoder.decode().unwrap();
        let info = decoder.info().unwrap();
        assert_eq!((info.width, info.height), (500, 250));
        let at = |x: usize, y: usize| &pixels[(y * 500 + x) * 3..(y * 500 + x) * 3 + 3];
        let b = frame_box(&region, 500, 250).unwrap();
        // The outermost pixels may take a tint from the chroma of their
        // neighbours when decoded; the field itself lies well inside.
        for y in b.y0 + 2..b.y1 - 2 {
            for x in b.x0 + 2..b.x1 - 2 {
                assert!(
                    at(x, y).iter().all(|&c| c <= 8),
                    "({x},{y}) is {:?}",
                    at(x, y)
                );
            }
        }
        // Outside, the pattern is still there.
        let outside: Vec<u8> = (0..40).map(|x| at(300 + x, 200)[0]).collect();
        assert!(
            outside.iter().max().unwrap() - outside.iter().min().unwrap() > 50,
            "{outside:?}"
        );
    }

    #[test]
    fn a_frame_that_is_not_a_jpeg_is_an_error() {
        let region = Region {
            viewport: Viewport {
                width: 1.0,
                height: 1.0,
            },
            rect: CssRect {
                x: 0.0,
                y: 0.0,
                width: 1.0,
                height: 1.0,
            },
        };
        assert!(matches!(
            redact_jpeg(b"\xFF\xD8not a jpeg", &[region]),
            Err(RedactError::Decode(_))
        ));
    }
}
