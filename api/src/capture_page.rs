//! The capture extension for download and the page explaining how to record:
//! `GET /capture` (how-to, plain HTML) and
//! `GET /downloads/tracepipe-capture-extension.zip` (the extension, ready to
//! load unpacked). Both are built from the sources in `capture/extension/`
//! compiled into the binary, so serving them needs no Node step and no files
//! beside the binary. Served by `tracepipe serve` and `tracepipe gateway`,
//! without an API key: neither says anything about a user.

use std::io::Write;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};

pub const ZIP_ROUTE: &str = "/downloads/tracepipe-capture-extension.zip";
/// The folder the zip unpacks into.
const ZIP_FOLDER: &str = "tracepipe-capture-extension";

/// Every file of the unpacked extension. `capture.js` is the repository's one
/// capture script (the extension folder only holds a symlink to it, which
/// Chrome does not follow out of an unpacked extension's folder).
const EXTENSION_FILES: &[(&str, &[u8])] = &[
    (
        "manifest.json",
        include_bytes!("../../capture/extension/manifest.json"),
    ),
    (
        "managed_schema.json",
        include_bytes!("../../capture/extension/managed_schema.json"),
    ),
    (
        "background.js",
        include_bytes!("../../capture/extension/background.js"),
    ),
    (
        "settings.js",
        include_bytes!("../../capture/extension/settings.js"),
    ),
    (
        "queue.js",
        include_bytes!("../../capture/extension/queue.js"),
    ),
    (
        "offscreen.html",
        include_bytes!("../../capture/extension/offscreen.html"),
    ),
    (
        "offscreen.js",
        include_bytes!("../../capture/extension/offscreen.js"),
    ),
    (
        "popup.html",
        include_bytes!("../../capture/extension/popup.html"),
    ),
    (
        "popup.js",
        include_bytes!("../../capture/extension/popup.js"),
    ),
    (
        "popup.css",
        include_bytes!("../../capture/extension/popup.css"),
    ),
    (
        "README.md",
        include_bytes!("../../capture/extension/README.md"),
    ),
    ("capture.js", include_bytes!("../../capture/capture.js")),
];

const HOWTO_PAGE: &str = include_str!("capture_page.html");

pub fn routes() -> Router {
    Router::new()
        .route("/capture", get(howto))
        .route(ZIP_ROUTE, get(extension_zip))
}

async fn howto() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        HOWTO_PAGE,
    )
}

async fn extension_zip() -> impl IntoResponse {
    static ZIP: OnceLock<Vec<u8>> = OnceLock::new();
    let zip = ZIP.get_or_init(|| build_zip(EXTENSION_FILES));
    (
        [
            (header::CONTENT_TYPE, "application/zip"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tracepipe-capture-extension.zip\"",
            ),
        ],
        zip.as_slice(),
    )
}

/// A zip archive (deflated entries, all under [`ZIP_FOLDER`]) with a fixed
/// timestamp, so the same sources always give the same bytes.
fn build_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    // 1980-01-01 00:00 in MS-DOS form: the earliest date zip can hold.
    const DOS_TIME: u16 = 0;
    const DOS_DATE: u16 = (1 << 5) | 1;
    const DEFLATE: u16 = 8;
    const VERSION: u16 = 20;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let name = format!("{ZIP_FOLDER}/{name}");
        let mut crc = Crc::new();
        crc.update(data);
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
        // Writing to a Vec cannot fail.
        let compressed = encoder
            .write_all(data)
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        let offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let sizes = [
            crc.sum(),
            u32::try_from(compressed.len()).unwrap_or(u32::MAX),
            u32::try_from(data.len()).unwrap_or(u32::MAX),
        ];
        let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);

        out.extend_from_slice(&0x0403_4b50_u32.to_le_bytes());
        for field in [VERSION, 0, DEFLATE, DOS_TIME, DOS_DATE] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        for field in sizes {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0_u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&compressed);

        central.extend_from_slice(&0x0201_4b50_u32.to_le_bytes());
        // Made by Unix (3), so the permissions below apply.
        for field in [(3 << 8) | VERSION, VERSION, 0, DEFLATE, DOS_TIME, DOS_DATE] {
            central.extend_from_slice(&field.to_le_bytes());
        }
        for field in sizes {
            central.extend_from_slice(&field.to_le_bytes());
        }
        for field in [name_len, 0, 0, 0, 0] {
            central.extend_from_slice(&field.to_le_bytes());
        }
        central.extend_from_slice(&(0o100_644_u32 << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
    let central_len = u32::try_from(central.len()).unwrap_or(u32::MAX);
    let entries = u16::try_from(files.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50_u32.to_le_bytes());
    for field in [0, 0, entries, entries] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend_from_slice(&central_len.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0_u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_zip_holds_every_file_of_the_extension_folder() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../capture/extension");
        let mut on_disk: Vec<String> = std::fs::read_dir(&folder)
            .expect("capture/extension is readable")
            .map(|entry| {
                entry
                    .expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        on_disk.sort();
        let mut zipped: Vec<String> = EXTENSION_FILES
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect();
        zipped.sort();
        assert_eq!(
            zipped, on_disk,
            "list a new extension file in EXTENSION_FILES"
        );
    }

    #[test]
    fn the_zip_is_well_formed() {
        let zip = build_zip(&[("a.txt", b"hello hello hello"), ("b/c.js", b"")]);
        // Local header, then the end-of-central-directory record naming both entries.
        assert_eq!(&zip[..4], b"PK\x03\x04");
        let end = zip.len() - 22;
        assert_eq!(&zip[end..end + 4], b"PK\x05\x06");
        assert_eq!(u16::from_le_bytes([zip[end + 10], zip[end + 11]]), 2);
        let central =
            u32::from_le_bytes([zip[end + 16], zip[end + 17], zip[end + 18], zip[end + 19]]);
        assert_eq!(&zip[central as usize..central as usize + 4], b"PK\x01\x02");
        let mut crc = Crc::new();
        crc.update(b"hello hello hello");
        assert_eq!(
            u32::from_le_bytes([zip[14], zip[15], zip[16], zip[17]]),
            crc.sum()
        );
        assert_eq!(build_zip(&[("a.txt", b"x")]), build_zip(&[("a.txt", b"x")]));
    }
}
